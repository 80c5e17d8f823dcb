import { describe, expect, it } from 'vitest';
import { sameData } from '../../shared/domain/same-data.js';

describe('sameData', () => {
  it.each([
    ['objects with keys in another order', { a: 1, b: { c: 2, d: [1, { e: 3, f: 4 }] } }, { b: { d: [1, { f: 4, e: 3 }], c: 2 }, a: 1 }, true],
    ['an undefined member and a missing one', { a: 1, b: undefined }, { a: 1 }, true],
    ['null and a missing member', { a: 1, b: null }, { a: 1 }, false],
    ['arrays in another order', [1, 2], [2, 1], false],
    ['a changed nested value', { a: { b: 1 } }, { a: { b: 2 } }, false],
  ])('compares %s', (_name, a, b, expected) => {
    expect(sameData(a, b)).toBe(expected);
  });
});
