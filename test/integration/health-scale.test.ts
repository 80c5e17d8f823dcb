/**
 * The health findings' call budget against the fake, under the stack's own policies: a healthy pass
 * over 500 external key stores reads their metrics in one GetMetricData and stays within 30 calls.
 * Its own file, so that it runs beside the rest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOfOnePass, type ReconcilerEnv, startHealthyXksFleet } from '../helpers/reconciler.js';

let env: ReconcilerEnv;

beforeAll(async () => {
  env = await startHealthyXksFleet(500);
}, 300_000);

afterAll(async () => {
  // Every call ran under the stack's own policies, and none of them was refused.
  expect(await env.denials(), 'calls the stack’s policies refused').toEqual([]);
  await env.close();
});

describe('health findings at scale', () => {
  it('sweeps 500 healthy stores within 30 AWS calls, their metrics read in one GetMetricData', async () => {
    const { delta, unchanged } = await callsOfOnePass(env);

    expect(unchanged).toBe(500);
    expect(delta['CloudWatch.GetMetricData']).toBe(1);
    expect(Object.values(delta).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(30);
    expect((await env.events()).filter((e) => e.DetailType === 'Store At Risk')).toEqual([]);
  });
});
