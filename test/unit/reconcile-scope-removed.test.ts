/**
 * A store removed from the desired state (`cks delete`, `cks apply --prune`): the next sweep closes
 * its status (once no run holds it, after the events it still owes went out) and writes a last
 * history line; it is neither reported nor reconciled again.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { EventsNotPublishedError, reconcileScope } from '../../shared/reconcile/reconcile-scope.js';
import { type InMemoryWorld, inMemoryWorld } from '../helpers/in-memory.js';
import { CLUSTER, cloudHsmDesired, cloudHsmObserved, cluster, PASSWORD_ARN } from '../helpers/world.js';

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

  it('has a status item it cannot read closed too (it used to stay for ever)', async () => {
    // Prepare: the status item is corrupt, as the table adapter reads it.
    const read = await world.state.loadAll();
    vi.spyOn(world.state, 'loadAll').mockResolvedValueOnce({
      ...read,
      records: read.records.map((r) => (r.name === 'old-hsm' ? { ...r, status: null, statusError: 'phase: invalid value' } : r)),
    });

    // Act
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Assess
    expect(world.state.statuses.has('old-hsm')).toBe(false);
  });

  it('a stream run naming it closes it too', async () => {
    // Act
    await reconcileScope(world.deps(), { trigger: 'stream', only: { names: ['old-hsm'] } });

    // Assess
    expect(world.state.statuses.has('old-hsm')).toBe(false);
  });
});

describe('a store removed while its escalation is still unsent', () => {
  const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser';
  let world: InMemoryWorld;
  const escalations = () => world.events.published.filter((e) => e.detailType === 'Repair Escalated');

  beforeEach(async () => {
    // Prepare: a locked-out store escalates while EventBridge is down, so the page waits in its outbox; then it is removed.
    world = inMemoryWorld();
    world.cloudHsm.clusters.set(CLUSTER, cluster({ availabilityZones: ['us-east-1a', 'us-east-1b'] }));
    world.secrets.put(SECRET, 'v1', 'initial-Passw0rd');
    world.kms.put(cloudHsmObserved({ name: 'payments', connectionState: 'FAILED', connectionErrorCode: 'USER_LOCKED_OUT' }));
    world.state.desired.set('payments', { ...cloudHsmDesired({ name: 'payments', keyStorePasswordSecretArn: SECRET }) });
    world.events.down = true;
    await expect(reconcileScope(world.deps('run-r'), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    world.events.down = false;
    expect(world.state.outboxes.get('payments')?.map((e) => e.detailType)).toEqual(['Repair Escalated']);
    expect(await world.state.deleteDesired('payments')).toBe(true);
  });

  it('publishes the escalation a run recorded after the pass read the store, once, then closes it (it used to delete the item unsent)', async () => {
    // Prepare: the pass read the store before the run wrote its outbox (the snapshot's outbox is empty).
    const read = await world.state.loadAll();
    vi.spyOn(world.state, 'loadAll').mockResolvedValueOnce({ ...read, records: read.records.map((r) => ({ ...r, outbox: [] })) });

    // Act
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Assess
    expect(escalations()).toHaveLength(1);
    expect(world.state.statuses.has('payments')).toBe(false);
    expect(world.state.outboxes.has('payments')).toBe(false);
  });

  it('keeps the status and its outbox while the escalation cannot be published, and closes it once it went out', async () => {
    // Act
    world.events.down = true;
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const kept = { status: world.state.statuses.has('payments'), outbox: world.state.outboxes.get('payments')?.map((e) => e.detailType) };
    world.events.down = false;
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Assess
    expect(kept).toEqual({ status: true, outbox: ['Repair Escalated'] });
    expect(escalations()).toHaveLength(1);
    expect(world.state.statuses.has('payments')).toBe(false);
  });

  it('leaves a status another run holds the lease of, outbox and all', async () => {
    // Prepare
    await world.state.acquireLease('payments', 'another-run', world.clock.now(), 60_000);

    // Act
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Assess
    expect(escalations()).toEqual([]);
    expect(world.state.outboxes.get('payments')?.map((e) => e.detailType)).toEqual(['Repair Escalated']);
  });
});

describe('closing a removed store: its last history line and what goes wrong', () => {
  let world: InMemoryWorld;
  const warnings = () =>
    world.logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.message === 'could not close the status of a store removed from the desired state; the next pass tries again');

  beforeEach(async () => {
    // Prepare: a locked-out store escalated (an incident open), then removed from the desired state.
    world = inMemoryWorld();
    world.cloudHsm.clusters.set(CLUSTER, cluster({ availabilityZones: ['us-east-1a', 'us-east-1b'] }));
    world.secrets.put(PASSWORD_ARN, 'v1', 'initial-Passw0rd');
    world.kms.put(cloudHsmObserved({ name: 'payments', connectionState: 'FAILED', connectionErrorCode: 'USER_LOCKED_OUT' }));
    world.state.desired.set('payments', { ...cloudHsmDesired({ name: 'payments' }) });
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    expect(await world.state.deleteDesired('payments')).toBe(true);
  });

  it('records the pass, the store as last recorded and the incident that ends with it, with no status write', async () => {
    const incidentId = world.state.statuses.get('payments')?.incidentId;
    const writes = world.state.writes;

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(incidentId).toEqual(expect.any(String));
    expect(world.state.writes).toBe(writes);
    expect(world.state.historyEntries.at(-1)).toStrictEqual({
      name: 'payments',
      at: world.clock.now(),
      reconcileId: result.reconcileId,
      trigger: 'schedule',
      action: 'none',
      dryRun: false,
      reason: `removed from the desired state: its status (phase ESCALATED) is closed and it is no longer reconciled; incident ${incidentId} ends with it`,
      connectionState: 'FAILED',
      connectionErrorCode: 'USER_LOCKED_OUT',
      incidentId,
      events: [],
    });
  });

  it('closes a status item it cannot read under its lease, publishing what it owes first', async () => {
    const owed = world.events.published.find((e) => e.detailType === 'Repair Escalated')!;
    world.state.outboxes.set('payments', [owed]);
    const acquire = world.state.acquireLease.bind(world.state);
    vi.spyOn(world.state, 'acquireLease').mockImplementation(async (...args) => {
      const lease = await acquire(...args);
      return lease && { ...lease, status: null, statusError: 'phase: invalid value' };
    });
    const before = world.events.published.length;

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.events.published.slice(before).map((e) => e.detail.eventId)).toContain(owed.detail.eventId);
    expect(world.state.statuses.has('payments')).toBe(false);
    expect(world.state.historyEntries.at(-1)).toMatchObject({
      reason: 'removed from the desired state: its status (phase unreadable) is closed and it is no longer reconciled',
      connectionState: null,
      connectionErrorCode: null,
      incidentId: null,
    });
  });

  it('keeps the status as it was when its delete fails after the owed events went out, and logs it', async () => {
    const status = world.state.statuses.get('payments');
    world.state.outboxes.set('payments', [world.events.published.find((e) => e.detailType === 'Repair Escalated')!]);
    world.state.faults.fail('deleteStatus', 'ThrottlingException');

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.state.statuses.get('payments')).toEqual(status);
    expect(world.state.outboxes.get('payments')).toEqual([]);
    expect(world.state.leases.size).toBe(0);
    expect(warnings()).toEqual([
      expect.objectContaining({ level: 'WARN', storeName: 'payments', error: 'DynamoDB.DeleteItem failed: ThrottlingException' }),
    ]);
  });

  it('leaves a store declared again while the pass took its lease, and releases the lease', async () => {
    const spec = cloudHsmDesired({ name: 'payments' });
    world.state.onLease = (name) => world.state.desired.set(name, { ...spec });

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.state.statuses.has('payments')).toBe(true);
    expect(world.state.historyEntries.filter((entry) => entry.reason.startsWith('removed from'))).toEqual([]);
    expect(world.state.leases.size).toBe(0);
  });

  it('leaves a store another run holds the lease of without a warning, and closes nothing in a dry run', async () => {
    await world.state.acquireLease('payments', 'another-run', world.clock.now(), 60_000);
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    await world.state.releaseLease('payments', 'another-run');

    await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });

    expect(world.state.statuses.has('payments')).toBe(true);
    expect(warnings()).toEqual([]);
  });

  it('is closed only by an event run that names it, and not by one naming stores by id alone', async () => {
    await reconcileScope(world.deps(), { trigger: 'stream', only: { names: ['another'] } });
    await reconcileScope(world.deps(), { trigger: 'cloudtrail', only: { ids: ['cks-9234567890abcdef0'] } });

    expect(world.state.statuses.has('payments')).toBe(true);
  });
});
