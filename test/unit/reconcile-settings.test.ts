import { beforeEach, describe, expect, it } from 'vitest';
import { settingsChange } from '../../shared/domain/settings.js';
import { operatorPartitionKey } from '../../shared/domain/table-keys.js';
import { EventsNotPublishedError, reconcileScope } from '../../shared/reconcile/reconcile-scope.js';
import { type InMemoryWorld, inMemoryWorld } from '../helpers/in-memory.js';
import { CLUSTER, cloudHsmDesired, cloudHsmObserved, cluster, STORE_ID } from '../helpers/world.js';

const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser-AbCdEf';

/** Four declared stores on a healthy cluster, three of them FAILED: a regional incident by the default limit. */
function threeOfFourFailed(): InMemoryWorld {
  const world = inMemoryWorld();
  world.cloudHsm.clusters.set(CLUSTER, cluster({ availabilityZones: ['us-east-1a', 'us-east-1b'] }));
  world.secrets.put(SECRET, 'v1', 'initial-Passw0rd');
  for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) {
    const failed = i < 3;
    world.kms.put(
      cloudHsmObserved({
        name,
        id: `cks-${i}234567890abcdef0`,
        connectionState: failed ? 'FAILED' : 'CONNECTED',
        connectionErrorCode: failed ? 'NETWORK_ERRORS' : null,
      }),
    );
    world.state.desired.set(name, { ...cloudHsmDesired({ name, keyStorePasswordSecretArn: SECRET }) });
  }
  return world;
}

describe('the settings a pass acts on (core with in-memory ports)', () => {
  let world: InMemoryWorld;
  /** The settings' Approval Required events, as published. */
  const approvals = () => world.events.published.flatMap((e) => (e.detailType === 'Approval Required' && 'subject' in e.detail ? [e.detail] : []));
  const regionalPages = () => world.events.published.filter((e) => e.detailType === 'Sweep Summary' && e.detail.regionalIncidentStarted);

  beforeEach(() => {
    world = threeOfFourFailed();
  });

  it('keeps the blast-radius limit in force when one operator raises it: the regional incident still pages, and Approval Required goes out once', async () => {
    await world.state.putSettings({ ...world.state.settings, blastRadiusMaxFailedShare: 1 });

    const first = await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.clock.advance(120);
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(first.regionalIncident).toBe(true);
    expect(regionalPages()).toHaveLength(1);
    expect(world.kms.mutating()).toEqual([]);
    expect(approvals()).toEqual([
      expect.objectContaining({
        subject: 'SETTINGS',
        generation: 1,
        proposedBy: [],
        changes: [{ field: 'blastRadiusMaxFailedShare', from: 0.5, to: 1 }],
        command: 'cks approve --settings --scope 111122223333/us-east-1',
      }),
    ]);
    expect(world.state.settingsInForce).toMatchObject({ values: { blastRadiusMaxFailedShare: 0.5 }, outbox: [] });
  });

  it('brings a raised limit into force once two persons signed it: the stores are repaired, the incident ends, and the record says so', async () => {
    await world.state.putSettings({ ...world.state.settings, blastRadiusMaxFailedShare: 1 });
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    for (const signer of ['source/alice', 'source/bob']) {
      await world.state.sign({ signer, scopePk: operatorPartitionKey(world.state.scope), ...settingsChange(world.state.settings), signedAt: 0 });
    }
    world.clock.advance(120);

    const signed = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(signed.regionalIncident).toBe(false);
    expect(world.kms.mutating().length).toBeGreaterThan(0);
    expect(world.state.regionalIncident).toBeNull();
    expect(world.state.settingsInForce).toMatchObject({ values: { blastRadiusMaxFailedShare: 1 }, revision: 2 });
    expect(approvals()).toHaveLength(1);
  });

  it("keeps the change waiting with one person's signature, and names that person in the Approval Required", async () => {
    await world.state.putSettings({ ...world.state.settings, blastRadiusMinFailed: 4 });
    await world.state.sign({
      signer: 'principal/AIDAWRITER',
      scopePk: operatorPartitionKey(world.state.scope),
      ...settingsChange(world.state.settings),
      signedAt: 0,
    });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.regionalIncident).toBe(true);
    expect(approvals()).toEqual([expect.objectContaining({ proposedBy: ['principal/AIDAWRITER'] })]);
  });

  it('announces a new change again: a further edit of the waiting settings is a new Approval Required', async () => {
    await world.state.putSettings({ ...world.state.settings, blastRadiusMinFailed: 5 });
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    await world.state.putSettings({ ...world.state.settings, blastRadiusMinFailed: 6 });

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(approvals().map((d) => [d.generation, JSON.stringify(d.changes)])).toEqual([
      [1, JSON.stringify([{ field: 'blastRadiusMinFailed', from: 3, to: 5 }])],
      [2, JSON.stringify([{ field: 'blastRadiusMinFailed', from: 3, to: 6 }])],
    ]);
  });

  it('brings a lower limit into force at once with one person, and records it', async () => {
    world.kms.put(cloudHsmObserved({ name: 'c', id: 'cks-2234567890abcdef0' }));
    await world.state.putSettings({ ...world.state.settings, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2 });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Two of four FAILED: within the default limit, a regional incident by the lower one.
    expect(result.regionalIncident).toBe(true);
    expect(approvals()).toEqual([]);
    expect(world.state.settingsInForce).toEqual({
      values: { approvalForCloudHsm: false, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2 },
      revision: 1,
      announced: null,
      outbox: [],
    });
  });

  it('keeps the Approval Required owed while PutEvents fails, and sends that same event once it works', async () => {
    await world.state.putSettings({ ...world.state.settings, approvalForCloudHsm: true });
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    await world.state.putSettings({ ...world.state.settings, approvalForCloudHsm: false });

    world.events.down = true;
    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    const owed = world.state.settingsInForce?.outbox.map((e) => e.detail.eventId);
    world.events.down = false;
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(owed).toHaveLength(1);
    expect(approvals().map((d) => d.eventId)).toEqual(owed);
    expect(world.state.settingsInForce?.values.approvalForCloudHsm).toBe(true);
  });

  it('records one settings change and one Approval Required when two passes find it at once', async () => {
    await world.state.putSettings({ ...world.state.settings, blastRadiusMinFailed: 4 });

    await Promise.all([reconcileScope(world.deps('pass-1'), { trigger: 'schedule' }), reconcileScope(world.deps('pass-2'), { trigger: 'schedule' })]);

    expect(approvals()).toHaveLength(1);
    expect(world.state.settingsInForce).toMatchObject({ revision: 1, values: { blastRadiusMinFailed: 3 }, outbox: [] });
  });

  it('holds a weakening written after the pass read the settings: the store judged under its lease still needs approval for a rename', async () => {
    const renaming = inMemoryWorld();
    renaming.cloudHsm.clusters.set(CLUSTER, cluster({ availabilityZones: ['us-east-1a', 'us-east-1b'] }));
    renaming.kms.put(cloudHsmObserved({ name: 'old-name', id: STORE_ID, connectionState: 'DISCONNECTED', connectionErrorCode: null }));
    renaming.state.desired.set('new-name', { ...cloudHsmDesired({ name: 'new-name', id: STORE_ID, desiredState: 'DISCONNECTED' }) });
    await renaming.state.putSettings({ ...renaming.state.settings, approvalForCloudHsm: true });
    renaming.state.onLease = () => {
      renaming.state.settings = { ...renaming.state.settings, approvalForCloudHsm: false };
    };

    await reconcileScope(renaming.deps(), { trigger: 'schedule' });

    expect(renaming.kms.mutating()).toEqual([]);
    expect(renaming.events.types()).toContain('Approval Required');
  });

  it('still judges the stores by the settings when recording them fails, and records and announces them at the next pass', async () => {
    await world.state.putSettings({ ...world.state.settings, blastRadiusMaxFailedShare: 1 });
    world.state.faults.fail('recordSettingsInForce', 'ThrottlingException');

    const failed = reconcileScope(world.deps(), { trigger: 'schedule' });
    await expect(failed).rejects.toThrow(EventsNotPublishedError);
    const pagedWhileFailing = regionalPages().length;
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(pagedWhileFailing).toBe(1);
    expect(world.kms.mutating()).toEqual([]);
    expect(approvals()).toHaveLength(1);
    expect(world.state.settingsInForce).toMatchObject({ values: { blastRadiusMaxFailedShare: 0.5 }, outbox: [] });
  });

  it('records nothing and publishes nothing in a dry run (cks plan), acting on the values in force', async () => {
    await world.state.putSettings({ ...world.state.settings, blastRadiusMaxFailedShare: 1 });

    const plan = await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });

    expect(plan.regionalIncident).toBe(true);
    expect(world.state.settingsInForce).toBeNull();
    expect(world.events.published).toEqual([]);
  });
});
