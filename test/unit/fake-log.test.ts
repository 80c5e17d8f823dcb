import { describe, expect, it } from 'vitest';
import { BoundedLog } from '../../shared/dev/fake/log.js';

/** A string whose JSON text is exactly `bytes` long (its two quotes included). */
const entryOf = (bytes: number, mark: string): string => mark.padEnd(bytes - 2, '.');

describe('BoundedLog', () => {
  it('keeps every entry while they fit in the byte budget, with stable sequence numbers', () => {
    const log = new BoundedLog<string>(100);
    expect([log.push(entryOf(40, 'a')), log.push(entryOf(60, 'b'))]).toEqual([0, 1]);
    expect(log.bytes).toBe(100);
    expect(log.since().map(({ seq, entry }) => [seq, entry[0]])).toEqual([
      [0, 'a'],
      [1, 'b'],
    ]);
  });

  it('drops the oldest entries until the rest fit, counting multi-byte characters as UTF-8 bytes', () => {
    const log = new BoundedLog<string>(100);
    log.push(entryOf(40, 'a'));
    log.push(entryOf(40, 'b'));
    log.push(`c${'é'.repeat(19)}`); // 2 quotes + 1 + 19 × 2 bytes = 41
    expect(log.bytes).toBe(81);
    expect(log.since().map(({ seq, entry }) => [seq, entry[0]])).toEqual([
      [1, 'b'],
      [2, 'c'],
    ]);
    expect(log.next).toBe(3);
  });

  it('reads from a cursor; a cursor older than the oldest entry kept starts there', () => {
    const log = new BoundedLog<string>(100);
    for (const mark of 'abcdef') log.push(entryOf(30, mark));
    expect(log.since(0).map(({ seq }) => seq)).toEqual([3, 4, 5]);
    expect(log.since(4).map(({ seq }) => seq)).toEqual([4, 5]);
    expect(log.since(log.next)).toEqual([]);
  });

  it('keeps no entry larger than the whole budget, yet gives it a sequence number', () => {
    const log = new BoundedLog<string>(100);
    log.push(entryOf(50, 'a'));
    expect(log.push(entryOf(101, 'b'))).toBe(1);
    expect(log.since()).toEqual([]);
    expect(log.bytes).toBe(0);
    expect(log.push(entryOf(10, 'c'))).toBe(2);
    expect(log.since().map(({ seq }) => seq)).toEqual([2]);
  });

  it('stays within the budget over many appends', () => {
    const log = new BoundedLog<{ n: number; pad: string }>(10_000);
    for (let n = 0; n < 50_000; n++) log.push({ n, pad: 'x'.repeat(n % 200) });
    const kept = log.since();
    expect(log.bytes).toBeLessThanOrEqual(10_000);
    expect(kept.reduce((sum, { entry }) => sum + Buffer.byteLength(JSON.stringify(entry)), 0)).toBe(log.bytes);
    expect(kept.at(-1)).toMatchObject({ seq: 49_999, entry: { n: 49_999 } });
    expect(kept.every(({ seq, entry }) => seq === entry.n)).toBe(true);
  });

  it('forgets every entry on clear, and keeps counting sequence numbers', () => {
    const log = new BoundedLog<string>(100);
    log.push(entryOf(10, 'a'));
    log.clear();
    expect([log.since(), log.bytes, log.next]).toEqual([[], 0, 1]);
    expect(log.push(entryOf(10, 'b'))).toBe(1);
  });
});
