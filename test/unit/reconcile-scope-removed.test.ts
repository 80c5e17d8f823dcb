/**
 * A store removed from the desired state (`cks delete`, `cks apply --prune`): the next sweep closes
 * its status (once no run holds it, after the events it still owes went out) and writes a last
 * history line; it is neither reported nor reconciled again.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcileScope } from '../../shared/reconcile/reconcile-scope.js';
import { type InMemoryWorld, inMemoryWorld } from '../helpers/in-memory.js';
import { cloudHsmDesired } from '../helpers/world.js';

describe('a store removed from the desired state', () => {
  let world: InMemoryWorld;

  beforeEach(async () => {
    // Prepare: a declared store the reconciler has recorded (missing from KMS, so reported once), then removed.
    world = inMemoryWorld();
    const { generation: _g, paused: _p, retryRequestedAt: _r, changedBy: _c, ...spec } = cloudHsmDesired({ name: 'old-hsm', mode: 'observe' });
    await world.state.putDesired([spec], world.clock.now());
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    expect(world.state.statuses.has('old-hsm')).toBe(true);
    expect(await world.state.deleteDesired('old-hsm')).toBe(true);
  });

  it('has its status closed by the next sweep, with a last history line, and is not reconciled', async () => {
    // Act
    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });
    const again = await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Assess
    expect(world.state.statuses.has('old-hsm')).toBe(false);
    expect(result.outcomes).toEqual([]);
    expect(again.outcomes).toEqual([]);
    const last = world.state.historyEntries.filter((entry) => entry.name === 'old-hsm').at(-1);
    expect(last).toMatchObject({
      action: 'none',
      reason: expect.stringMatching(/^removed from the desired state: its status \(phase IDLE\) is closed/),
      events: [],
    });
    expect(world.state.historyEntries.filter((entry) => entry.reason.startsWith('removed from'))).toHaveLength(1);
  });

  it('keeps a status a run holds the lease of, and a dry run closes nothing', async () => {
    // Prepare
    await world.state.acquireLease('old-hsm', 'another-run', world.clock.now(), 60_000);

    // Act
    await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const leased = world.state.statuses.has('old-hsm');
    world.clock.advance(61);
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Assess
    expect(leased).toBe(true);
    expect(world.state.statuses.has('old-hsm')).toBe(false);
  });

  it('publishes the events its status still owes before closing it', async () => {
    // Prepare
    const owed = world.events.published.find((event) => event.detailType === 'Store Missing')!;
    world.state.outboxes.set('old-hsm', [owed]);
    const before = world.events.published.length;

    // Act
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Assess
    expect(world.events.published.slice(before).map((e) => e.detailType)).toEqual([owed.detailType, 'Sweep Summary']);
    expect(world.state.statuses.has('old-hsm')).toBe(false);
  });

  it('a stream run naming it closes it too', async () => {
    // Act
    await reconcileScope(world.deps(), { trigger: 'stream', only: { names: ['old-hsm'] } });

    // Assess
    expect(world.state.statuses.has('old-hsm')).toBe(false);
  });
});
