/**
 * `npm start` stopped by Ctrl-C: the demo exits 0 within seconds and leaves no process behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { descendants, stillRunning } from '../helpers/child-process.js';
import { cleanUpDemos, startDemo } from '../helpers/demo.js';

afterEach(cleanUpDemos);

describe('npm start (the demo)', () => {
  it('stops on SIGINT within seconds, exits 0 and leaves no process behind', async () => {
    // Arrange
    const demo = startDemo(['--port', '0']);
    const output = await demo.waitFor(/Repair Succeeded orders-hsm/, 45_000);
    const demoPid = Number(/ pid (\d+)/.exec(output)?.[1]);
    const tree = [demo.child.pid!, ...descendants(demo.child.pid!)];
    expect(tree).toContain(demoPid);

    // Act: SIGINT to the demo process, as Ctrl-C delivers it.
    const sentAt = Date.now();
    process.kill(demoPid, 'SIGINT');
    const { code } = await demo.exited;

    // Assess
    expect(code, demo.output()).toBe(0);
    expect(Date.now() - sentAt).toBeLessThan(5_000);
    expect(demo.output()).toMatch(/cks demo stopped \(SIGINT\): 7 stores/);
    await expect.poll(() => stillRunning(tree), { timeout: 2_000 }).toEqual([]);
  }, 60_000);
});
