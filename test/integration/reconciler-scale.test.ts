/**
 * The reconciler at scale against the fake, under the stack's own policies: a healthy pass over a
 * thousand stores costs calls per page, never per store. Its own file, so that it runs beside the rest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOfOnePass, type ReconcilerEnv, startHealthyXksFleet } from '../helpers/reconciler.js';

let env: ReconcilerEnv;

beforeAll(async () => {
  env = await startHealthyXksFleet(1000);
}, 300_000);

afterAll(async () => {
  // Every call ran under the stack's own policies, and none of them was refused.
  expect(await env.denials(), 'calls the stack’s policies refused').toEqual([]);
  await env.close();
});

describe('reconciler at scale', () => {
  it('sweeps 1000 healthy stores with O(pages) calls and no per-store call', async () => {
    const { delta, unchanged } = await callsOfOnePass(env);

    expect(unchanged).toBe(1000);
    expect(delta['KMS.DescribeCustomKeyStores']).toBe(1);
    expect(delta['DynamoDB.Query'] ?? 0).toBeLessThanOrEqual(3);
    // One GetMetricData per scope and pass, for the health findings of its external key stores.
    expect(delta['CloudWatch.GetMetricData']).toBe(1);
    expect(Object.keys(delta).sort()).toEqual(['CloudWatch.GetMetricData', 'DynamoDB.Query', 'EventBridge.PutEvents', 'KMS.DescribeCustomKeyStores']);
    expect(Object.values(delta).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(7);
  });
});
