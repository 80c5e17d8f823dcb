/**
 * The simulator with IAM enforced: the reconciler calls as the sweep's role under the stack's own
 * policies. Enforcement costs the simulator about a quarter of its speed, so `npm run simulate` runs
 * without it and this test samples seeds with it on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../shared/dev/sim/harness.js';
import { runSeed } from '../../shared/dev/sim/simulate.js';

const SAMPLED_SEEDS = [1, 7, 42, 1000];

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness({ iam: true });
}, 180_000);
afterAll(() => harness.close());

describe('the simulator under the stack’s policies', () => {
  it.each(SAMPLED_SEEDS)('runs seed %i with no invariant violated and no call refused', async (seed) => {
    const result = await runSeed(harness, seed);
    expect(result.violations).toEqual([]);
    const { calls } = JSON.parse(await harness.admin.callLog()) as { calls: Array<{ denied?: boolean }> };
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((call) => call.denied)).toEqual([]);
  });
});
