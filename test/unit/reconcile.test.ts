import { beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDesiredItem } from '../../shared/domain/desired-schema.js';
import { invalidDesiredEvent } from '../../shared/domain/events.js';
import { SITUATION_RUNBOOKS } from '../../shared/domain/playbooks.js';
import type { ConnectionState, DesiredStore } from '../../shared/domain/types.js';
import { AwsCallError } from '../../shared/errors.js';
import { makeMetrics } from '../../shared/metrics.js';
import { EventsNotPublishedError, reconcileScope } from '../../shared/reconcile/reconcile-scope.js';
import { type InMemoryWorld, inMemoryWorld } from '../helpers/in-memory.js';
import { CLUSTER, CREDENTIAL_ARN, cloudHsmDesired, cloudHsmObserved, cluster, OTHER_CLUSTER, xksDesired, xksObserved } from '../helpers/world.js';
import { signaturesOf } from './domain-fixtures.js';

const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser-AbCdEf';
const PASSWORD_V2 = 'n3w-Passw0rd-from-a-human';

/** `name` declared CONNECTED in enforce mode on the healthy cluster, its password in {@link SECRET}. */
function declare(world: InMemoryWorld, name: string, extra: Partial<DesiredStore> = {}): void {
  const desired = cloudHsmDesired({ name, keyStorePasswordSecretArn: SECRET, ...extra });
  world.state.desired.set(name, { ...desired });
  // What needs a second person (onManualDisconnect: reconnect, a higher login budget) is signed by two.
  for (const signature of signaturesOf(desired)) void world.state.sign(signature);
}

/** An in-memory world with one healthy cluster and a password secret with one version. */
function healthyWorld(): InMemoryWorld {
  const world = inMemoryWorld();
  world.cloudHsm.clusters.set(CLUSTER, cluster({ availabilityZones: ['us-east-1a', 'us-east-1b'] }));
  world.secrets.put(SECRET, 'v1', 'initial-Passw0rd');
  return world;
}

/** Four declared stores, three of them FAILED at once: a regional incident by the default settings. */
function failThreeOfFour(world: InMemoryWorld): void {
  for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) {
    world.kms.put(
      cloudHsmObserved({
        name,
        id: `cks-${i}234567890abcdef0`,
        connectionState: i < 3 ? 'FAILED' : 'CONNECTED',
        connectionErrorCode: i < 3 ? 'NETWORK_ERRORS' : null,
      }),
    );
    declare(world, name);
  }
}

describe('reconcile (core with in-memory ports)', () => {
  let world: InMemoryWorld;

  beforeEach(() => {
    // Prepare: one healthy cluster and a password secret with one version.
    world = healthyWorld();
  });

  it('records a baseline for a store it sees for the first time, then leaves a healthy store alone with no write', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0' }));
    declare(world, 'payments');

    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const writesAfterFirst = world.state.writes;
    const second = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(writesAfterFirst).toBe(1);
    expect(world.state.statuses.get('payments')?.appliedPasswordVersion).toBe('v1');
    expect(world.state.writes).toBe(1);
    expect(second.outcomes[0]?.skipped).toBe('unchanged');
    expect(world.kms.mutating()).toEqual([]);
  });

  it('asks for a follow-up of a store waiting on a transition once per change, and again on each follow-up while it waits', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'CONNECTING' }));
    world.kms.put(cloudHsmObserved({ name: 'healthy', id: 'cks-2234567890abcdef0' }));
    declare(world, 'payments');
    declare(world, 'healthy');

    const first = await reconcileScope(world.deps(), { trigger: 'schedule' });
    const scheduled = await reconcileScope(world.deps(), { trigger: 'schedule' });
    const followed = await reconcileScope(world.deps(), { trigger: 'followup', only: { names: ['payments'] } });

    // The first pass recorded the CONNECTING it saw; the next scheduled one changed nothing and starts no second chain.
    expect(first.followUps).toEqual([{ store: 'payments', afterSeconds: 10 }]);
    expect(scheduled.followUps).toEqual([]);
    expect(followed.followUps).toEqual([{ store: 'payments', afterSeconds: 10 }]);
  });

  it('disconnects a FAILED store with NETWORK_ERRORS after re-describing it under the lease', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]?.taken).toBe('disconnect');
    expect(world.kms.calls.map((c) => c.op)).toEqual(['listStores', 'describeStore', 'disconnect']);
    expect(world.state.statuses.get('payments')?.phase).toBe('DISCONNECTING');
    expect(world.events.types()).toContain('Repair Started');
    expect(world.state.leases.size).toBe(0);
  });

  it('issues each mutating call once when two runs reconcile the same store at the same time', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');

    await Promise.all([
      reconcileScope(world.deps('run-a'), { trigger: 'schedule' }),
      reconcileScope(world.deps('run-b'), { trigger: 'cloudtrail', only: { names: ['payments'] } }),
    ]);

    expect(world.kms.mutating()).toEqual(['disconnect cks-1234567890abcdef0']);
  });

  it('skips a store whose lease another run holds', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');
    world.state.leases.set('payments', { owner: 'someone-else', until: world.clock.now() + 30_000 });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]?.skipped).toBe('leased');
    expect(world.kms.mutating()).toEqual([]);
  });

  it('makes no mutating call, writes nothing and emits nothing in a dry run', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');

    const result = await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });

    expect(result.outcomes[0]?.decision?.action.kind).toBe('disconnect');
    expect(world.kms.mutating()).toEqual([]);
    expect(world.state.writes).toBe(0);
    expect(world.events.published).toEqual([]);
  });

  it('sends a new password version read just before UpdateCustomKeyStore, and never logs or records it', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0' }));
    // Found DISCONNECTED later: reconnected rather than held as a manual disconnect.
    declare(world, 'payments', { onManualDisconnect: 'reconnect' });
    await reconcileScope(world.deps(), { trigger: 'schedule' }); // baseline v1
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'DISCONNECTED' }));
    world.secrets.put(SECRET, 'v2', PASSWORD_V2);

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]?.taken).toBe('update');
    expect(world.secrets.reads).toEqual([`${SECRET}@v2`]);
    expect(world.kms.calls.find((c) => c.op === 'update')?.update?.keyStorePassword).toBe(PASSWORD_V2);
    expect(world.state.statuses.get('payments')?.appliedPasswordVersion).toBe('v2');
    const everything = JSON.stringify([
      world.logLines,
      world.events.published,
      [...world.state.statuses.values()],
      world.state.historyEntries,
      result,
    ]);
    expect(everything).not.toContain(PASSWORD_V2);
  });

  it('records a failed mutating call and goes on with the other stores', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'DISCONNECTED' }));
    world.kms.put(
      cloudHsmObserved({ name: 'ledger', id: 'cks-2234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');
    declare(world, 'ledger');
    world.kms.failNext = { op: 'connect', code: 'CloudHsmClusterInvalidConfigurationException' };

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    const payments = result.outcomes.find((o) => o.name === 'payments');
    expect(payments?.taken).toBeNull();
    expect(payments?.error).toContain('CloudHsmClusterInvalidConfigurationException');
    expect(world.state.statuses.get('payments')?.lastReason).toContain('CloudHsmClusterInvalidConfigurationException');
    expect(result.outcomes.find((o) => o.name === 'ledger')?.taken).toBe('disconnect');
  });

  it('pages on the store as it is when the lease is taken, not as the pass saw it (it used to escalate a store fixed meanwhile)', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments', connectionState: 'FAILED', connectionErrorCode: 'USER_LOCKED_OUT' }));
    declare(world, 'payments');
    // The pass saw the store locked out; a human reconnected it before the store's run took its lease.
    const seen = await world.kms.listStores();
    world.kms.put(cloudHsmObserved({ name: 'payments' }));
    vi.spyOn(world.kms, 'listStores').mockResolvedValueOnce(seen);

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.events.types()).not.toContain('Repair Escalated');
    expect(world.state.statuses.get('payments')?.phase).not.toBe('ESCALATED');
  });

  it('reports an invalid desired item reached late in a long pass once, under a lease taken when it is reached', async () => {
    declare(world, 'broken', { cloudHsmClusterId: 'not-a-cluster' });
    // The pass's reads take longer than a lease.
    const listStores = world.kms.listStores.bind(world.kms);
    vi.spyOn(world.kms, 'listStores').mockImplementationOnce(async () => {
      world.clock.advance(61);
      return listStores();
    });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.outcomes.find((o) => o.name === 'broken')).toMatchObject({ skipped: 'invalid', error: null });
    expect(world.events.types().filter((type) => type === 'Desired State Invalid')).toHaveLength(1);
    expect(world.state.leases.has('broken')).toBe(false);
  });

  it('reports an invalid desired item once, with the field, and reconciles the other stores', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'ledger', id: 'cks-2234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'ledger');
    declare(world, 'broken', { cloudHsmClusterId: 'not-a-cluster' });

    const first = await reconcileScope(world.deps(), { trigger: 'schedule' });
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    const invalid = world.events.published.filter((e) => e.detailType === 'Desired State Invalid');
    expect(invalid).toHaveLength(1);
    expect(JSON.stringify(invalid[0]?.detail)).toContain('cloudHsmClusterId');
    expect(first.outcomes.find((o) => o.name === 'broken')?.skipped).toBe('invalid');
    expect(first.outcomes.find((o) => o.name === 'ledger')?.taken).toBe('disconnect');
    expect(world.logLines.some((l) => l.includes('desired state invalid'))).toBe(true);
  });

  it('pages instead of repairing when more than the blast-radius share of stores fails at once', async () => {
    failThreeOfFour(world);

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.regionalIncident).toBe(true);
    expect(world.kms.mutating()).toEqual([]);
    const summaries = world.events.published.filter((e) => e.detailType === 'Sweep Summary').map((e) => e.detail);
    expect(summaries).toEqual([
      expect.objectContaining({ regionalIncident: true, regionalIncidentStarted: true }),
      expect.objectContaining({ regionalIncident: true, regionalIncidentStarted: false }),
    ]);
  });

  it('records the end of a regional incident and pages again only when a new one begins', async () => {
    failThreeOfFour(world);
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    for (const [i, name] of ['a', 'b', 'c'].entries()) world.kms.put(cloudHsmObserved({ name, id: `cks-${i}234567890abcdef0` })); // healed by a human

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.state.regionalIncident).toBeNull();
    const last = world.events.published.filter((e) => e.detailType === 'Sweep Summary').at(-1);
    expect(last?.detail).toMatchObject({ regionalIncident: false, regionalIncidentSince: null, regionalIncidentStarted: false });
  });

  describe('the regional incident page', () => {
    beforeEach(() => {
      failThreeOfFour(world);
    });

    const pages = () => world.events.published.filter((e) => e.detailType === 'Sweep Summary' && e.detail.regionalIncidentStarted);

    it('pages once, under one eventId, when the write that marks it sent fails (it used to page again under a new eventId)', async () => {
      // Act
      world.state.faults.fail('announceRegionalIncident', 'ThrottlingException');
      await reconcileScope(world.deps(), { trigger: 'schedule' }).catch(() => undefined);
      world.clock.advance(120);
      await reconcileScope(world.deps(), { trigger: 'schedule' });
      world.clock.advance(120);
      await reconcileScope(world.deps(), { trigger: 'schedule' });

      // Assess
      expect(new Set(pages().map((e) => e.detail.eventId)).size).toBe(1);
      expect(world.state.regionalIncident?.outbox).toEqual([]);
    });

    it('keeps the page owed while PutEvents fails, and sends that same page once it works', async () => {
      // Act
      world.events.down = true;
      await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
      const owed = world.state.regionalIncident?.outbox.map((e) => e.detail.eventId);
      world.events.down = false;
      world.clock.advance(120);
      await reconcileScope(world.deps(), { trigger: 'schedule' });
      world.clock.advance(120);
      await reconcileScope(world.deps(), { trigger: 'schedule' });

      // Assess
      expect(pages().map((e) => e.detail.eventId)).toEqual(owed);
      expect(owed).toHaveLength(1);
    });

    it('opens one incident with one page when two full passes find it at once (each used to open and page it)', async () => {
      // Act: both passes read the scope before either writes.
      await Promise.all([
        reconcileScope(world.deps('pass-1'), { trigger: 'schedule' }),
        reconcileScope(world.deps('pass-2'), { trigger: 'schedule' }),
      ]);

      // Assess
      expect(pages()).toHaveLength(1);
      expect(world.events.published.filter((e) => e.detailType === 'Sweep Summary')).toHaveLength(2);
      expect(world.state.regionalIncident).toEqual({ since: world.clock.now(), outbox: [] });
    });
  });

  it('reconciles only the stores an event names, by name, store id or cluster id', async () => {
    world.kms.put(cloudHsmObserved({ name: 'a', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }));
    world.kms.put(
      cloudHsmObserved({
        name: 'b',
        id: 'cks-2234567890abcdef0',
        connectionState: 'FAILED',
        connectionErrorCode: 'NETWORK_ERRORS',
        cloudHsmClusterId: 'cluster-bbbbbbbbbbb',
      }),
    );
    declare(world, 'a');
    declare(world, 'b', { cloudHsmClusterId: 'cluster-bbbbbbbbbbb' });

    const byId = await reconcileScope(world.deps(), { trigger: 'cloudtrail', only: { ids: ['cks-1234567890abcdef0'] } });
    const byCluster = await reconcileScope(world.deps(), { trigger: 'cloudtrail', only: { clusterIds: ['cluster-bbbbbbbbbbb'] } });

    expect(byId.outcomes.map((o) => o.name)).toEqual(['a']);
    expect(byCluster.outcomes.map((o) => o.name)).toEqual(['b']);
  });

  it('resumes a repair whose run died between disconnect and recording it, once the lease expires', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');
    await reconcileScope(world.deps(), { trigger: 'schedule' }); // baseline + disconnect recorded
    // A second run disconnects nothing more; simulate a run that died holding the lease after the store went DISCONNECTED.
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'DISCONNECTED' }));
    world.state.leases.set('payments', { owner: 'dead-run', until: world.clock.now() + 60_000 });

    const blocked = await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.clock.advance(61);
    const resumed = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(blocked.outcomes[0]?.skipped).toBe('leased');
    expect(resumed.outcomes[0]?.taken).toBe('connect');
    expect(world.kms.mutating()).toEqual(['disconnect cks-1234567890abcdef0', 'connect cks-1234567890abcdef0']);
  });

  it('creates one HSM for two stores sharing a cluster that lost its HSMs, re-reading the cluster under each lease', async () => {
    world.cloudHsm.clusters.set(CLUSTER, cluster({ activeHsms: 0, availabilityZones: ['us-east-1a', 'us-east-1b'], hsmAvailabilityZones: [] }));
    world.kms.put(
      cloudHsmObserved({ name: 'a', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'INSUFFICIENT_CLOUDHSM_HSMS' }),
    );
    world.kms.put(
      cloudHsmObserved({ name: 'b', id: 'cks-2234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'INSUFFICIENT_CLOUDHSM_HSMS' }),
    );
    declare(world, 'a', { allowCreateHsm: true });
    declare(world, 'b', { allowCreateHsm: true });

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.cloudHsm.calls.filter((c) => c.startsWith('createHsm'))).toEqual([`createHsm ${CLUSTER} us-east-1a`]);
  });

  it('acts on nothing when the desired item was broken between the sweep read and the lease', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');
    world.state.onLease = (name) => world.state.desired.set(name, { ...world.state.desired.get(name), desiredState: 'CONECTED' });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]?.skipped).toBe('changed');
    expect(world.kms.mutating()).toEqual([]);
    expect(world.state.leases.size).toBe(0);
  });

  it('honours a kill switch turned on while the sweep was running', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');
    world.state.onLease = () => (world.state.settings = { ...world.state.settings, killSwitch: true });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.kms.mutating()).toEqual([]);
    expect(result.outcomes[0]?.decision).toMatchObject({ dryRun: true, intended: 'disconnect' });
  });

  it('records the status of a call it made even when its events cannot be published, then fails the run loudly', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');
    world.events.down = true;

    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);

    expect(world.kms.mutating()).toEqual(['disconnect cks-1234567890abcdef0']);
    expect(world.state.statuses.get('payments')?.phase).toBe('DISCONNECTING');
    expect(world.logLines.some((l) => l.includes('events not published') && l.includes('Repair Started'))).toBe(true);
  });

  it('goes on with the other stores when one secret cannot be read, and waits on that one (no verdict on an unread input)', async () => {
    const other = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:other-kmsuser-AbCdEf';
    world.secrets.put(other, 'v1', 'other-Passw0rd');
    world.secrets.denied.add(other);
    world.kms.put(cloudHsmObserved({ name: 'a', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }));
    world.kms.put(cloudHsmObserved({ name: 'b', id: 'cks-2234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }));
    declare(world, 'a');
    declare(world, 'b', { keyStorePasswordSecretArn: other });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.outcomes.map((o) => [o.name, o.taken])).toEqual([
      ['a', 'disconnect'],
      ['b', null],
    ]);
    expect(result.outcomes[1]?.decision?.reason).toContain(`could not read the version of secret ${other}`);
    expect(world.events.types()).not.toContain('Repair Escalated');
    expect(world.logLines.some((l) => l.includes('cannot read the secret version'))).toBe(true);
  });
});

describe('reconcile: a password secret that does not exist', () => {
  const MISSING = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser-typo-AbCdEf';
  const DENIED = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:other-kmsuser-AbCdEf';
  let world: InMemoryWorld;

  beforeEach(() => {
    world = healthyWorld();
    world.secrets.put(DENIED, 'v1', 'other-Passw0rd');
    world.secrets.denied.add(DENIED);
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS' }),
    );
    world.kms.put(
      cloudHsmObserved({ name: 'orders', id: 'cks-2234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS' }),
    );
    declare(world, 'payments', { keyStorePasswordSecretArn: MISSING });
    declare(world, 'orders', { keyStorePasswordSecretArn: DENIED });
  });

  const pages = () => world.events.published.filter((e) => e.detailType === 'Repair Escalated');

  it('pages once, as its own finding with its runbook, while a secret it cannot read (AccessDenied) only waits', async () => {
    for (let sweep = 0; sweep < 3; sweep++) {
      await reconcileScope(world.deps(), { trigger: 'schedule' });
      world.clock.advance(120);
    }

    expect(pages().map((e) => e.detail.storeName)).toEqual(['payments']);
    const page = pages()[0]?.detail;
    expect(page?.reason).toContain(`keyStorePasswordSecretArn ${MISSING} names no secret in Secrets Manager`);
    expect(page?.reason).not.toContain('no version newer');
    expect(page?.runbook).toBe(SITUATION_RUNBOOKS.secretMissing);
    expect(world.state.statuses.get('payments')?.phase).toBe('ESCALATED');
    expect(world.state.statuses.get('orders')?.phase).not.toBe('ESCALATED');
    expect(world.state.statuses.get('orders')?.lastReason).toContain(`could not read the version of secret ${DENIED}`);
    expect(world.kms.mutating()).toEqual([]);
  });

  it('repairs the store once the secret exists, in a new incident, without paging again', async () => {
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.clock.advance(120);
    world.secrets.put(MISSING, 'v1', 'the-kmsuser-Passw0rd');

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(pages()).toHaveLength(1);
    expect(world.kms.mutating()).toEqual(['disconnect cks-1234567890abcdef0']);
    const started = world.events.published.filter((e) => e.detailType === 'Repair Started').map((e) => e.detail);
    expect(started.map((e) => e.storeName)).toEqual(['payments']);
    expect(world.state.statuses.get('payments')?.incidentId).not.toBe(world.state.statuses.get('payments')?.escalatedIncidentId);
    expect(world.state.statuses.get('payments')?.escalatedIncidentId).toBe(pages()[0]?.detail.incidentId);
  });
});

describe('exactly-once effects (status, incident id and events recorded together)', () => {
  let world: InMemoryWorld;

  beforeEach(() => {
    world = healthyWorld();
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'USER_LOCKED_OUT' }),
    );
    declare(world, 'payments');
  });

  const escalations = () => world.events.published.filter((e) => e.detailType === 'Repair Escalated');

  it('pages once with one incident id when the status write after a successful PutEvents fails (it used to page again under a new id)', async () => {
    // The escalation's write-ahead (save 1) succeeds, PutEvents succeeds, the write that clears the outbox (save 2) fails.
    world.state.faults.fail('saveStatus', 'ThrottlingException', { after: 1 });
    const first = await reconcileScope(world.deps(), { trigger: 'schedule' });
    expect(first.outcomes[0]?.error).toMatch(/ThrottlingException/);
    world.clock.advance(120);
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.clock.advance(120);
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    const ids = new Set(escalations().map((e) => e.detail.eventId));
    const incidents = new Set(escalations().map((e) => e.detail.incidentId));
    expect(ids.size).toBe(1);
    expect(incidents.size).toBe(1);
    expect(world.state.statuses.get('payments')?.incidentId).toBe([...incidents][0]);
    expect(world.state.outboxes.get('payments')).toEqual([]);
  });

  it('keeps only the events PutEvents refused, so the next run re-sends none it took (it used to re-send the whole outbox)', async () => {
    // Prepare: the first sweep's escalation and a report of its invalid twin go out together; EventBridge refuses the report.
    world.events.down = true;
    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    world.events.down = false;
    const [escalation] = world.state.outboxes.get('payments') ?? [];
    const report = invalidDesiredEvent({
      scope: world.state.scope,
      storeName: 'payments',
      generation: 1,
      errors: [{ path: 'mode', message: 'bad' }],
    });
    world.state.outboxes.set('payments', [escalation!, report]);
    world.events.refused.add(report.detail.eventId);

    // Act
    world.clock.advance(120);
    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    const owed = world.state.outboxes.get('payments')?.map((e) => e.detail.eventId);
    world.events.refused.clear();
    world.clock.advance(120);
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    // Assess
    expect(owed).toEqual([report.detail.eventId]);
    expect(world.events.published.map((e) => e.detail.eventId).filter((id) => id === escalation!.detail.eventId)).toHaveLength(1);
    expect(world.events.published.map((e) => e.detail.eventId).filter((id) => id === report.detail.eventId)).toHaveLength(1);
    expect(world.state.outboxes.get('payments')).toEqual([]);
  });

  it('does not lose a page when PutEvents fails: the status keeps it and the next run publishes it, once', async () => {
    world.events.down = true;
    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    expect(escalations()).toEqual([]);
    expect(world.state.statuses.get('payments')?.phase).toBe('ESCALATED');
    expect(world.state.outboxes.get('payments')?.map((e) => e.detailType)).toEqual(['Repair Escalated']);

    world.events.down = false;
    world.clock.advance(120);
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.clock.advance(120);
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(escalations()).toHaveLength(1);
    expect(world.state.outboxes.get('payments')).toEqual([]);
  });

  it('does not lose a Repair Step either: the events of a mutating decision go out with the next run', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    world.events.down = true;
    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    expect(world.kms.mutating()).toEqual(['disconnect cks-1234567890abcdef0']);
    world.events.down = false;
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'DISCONNECTED' }));
    world.clock.advance(120);
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const repair = world.events.published.filter((e) => e.detailType.startsWith('Repair '));
    expect(repair.map((e) => e.detailType)).toEqual(['Repair Started', 'Repair Step']);
    expect(new Set(repair.map((e) => e.detail.eventId)).size).toBe(2);
  });

  it('records the decision before the mutating call: a run that dies after its disconnect leaves a status a later run continues from', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    const kms = world.kms;
    const dying = world.deps('dying');
    let disconnected!: () => void;
    const disconnecting = new Promise<void>((resolve) => (disconnected = resolve));
    dying.kms = {
      listStores: () => kms.listStores(),
      describeStore: (ref) => kms.describeStore(ref),
      connect: (id) => kms.connect(id),
      update: (id, update) => kms.update(id, update),
      probe: (target) => kms.probe(target),
      disconnect: async (id) => {
        await kms.disconnect(id);
        disconnected();
        return new Promise<void>(() => undefined);
      },
    };
    const run = reconcileScope(dying, { trigger: 'schedule' }).then(() => {
      throw new Error('the run ended instead of dying in its disconnect');
    });
    await Promise.race([disconnecting, run]);
    expect(world.state.statuses.get('payments')).toMatchObject({ phase: 'DISCONNECTING' });
    expect(world.state.outboxes.get('payments')?.map((e) => e.detailType)).toEqual(['Repair Started']);

    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'DISCONNECTED' }));
    world.clock.advance(120);
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    expect(world.kms.mutating()).toEqual(['disconnect cks-1234567890abcdef0', 'connect cks-1234567890abcdef0']);
    expect(world.events.published.filter((e) => e.detailType.startsWith('Repair ')).map((e) => e.detailType)).toEqual([
      'Repair Started',
      'Repair Step',
    ]);
  });
});

describe('one store never stops the others', () => {
  let world: InMemoryWorld;

  beforeEach(() => {
    world = healthyWorld();
    for (const [name, id] of [
      ['a', 'cks-1234567890abcdef0'],
      ['b', 'cks-2234567890abcdef0'],
      ['c', 'cks-3234567890abcdef0'],
    ] as const) {
      world.kms.put(cloudHsmObserved({ name, id: id, connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }));
      declare(world, name);
    }
    // Three of three FAILED would be a regional incident: raise the bar so each store is repaired on its own.
    world.state.settings = { ...world.state.settings, blastRadiusMinFailed: 10 };
    world.state.settingsInForce = {
      values: { approvalForCloudHsm: false, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 10 },
      revision: 1,
      announced: null,
      outbox: [],
    };
  });

  it("goes on with later stores and the summary when one store's lease write is throttled", async () => {
    world.state.faults.fail('acquireLease', 'ThrottlingException', { store: 'a', count: Infinity });
    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });
    expect(result.outcomes.map((o) => [o.name, o.taken, o.error === null])).toEqual([
      ['a', null, false],
      ['b', 'disconnect', true],
      ['c', 'disconnect', true],
    ]);
    expect(result.outcomes[0]?.error).toMatch(/ThrottlingException/);
    expect(world.events.types()).toContain('Sweep Summary');
  });

  it("goes on when one store's status is corrupt (a time no clock will reach makes its plan throw)", async () => {
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const status = world.state.statuses.get('a')!;
    world.state.statuses.set('a', { ...status, phaseSince: 1e20 });
    world.clock.advance(120);
    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });
    expect(result.outcomes.find((o) => o.name === 'a')?.error).toMatch(/Invalid time value/);
    expect(result.outcomes.filter((o) => o.name !== 'a').every((o) => o.error === null)).toBe(true);
    expect(world.events.types().filter((t) => t === 'Sweep Summary')).toHaveLength(2);
  });
});

describe('XKS credentials are sensitive', () => {
  it('rejects an XKS credential secret of the wrong shape before anything is sent, and never echoes it', async () => {
    const world = inMemoryWorld();
    const credentialArn = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:partner-xks-AbCdEf';
    const badValue = JSON.stringify({ accessKeyId: 'not-a-key-id', secretAccessKey: 'short' });
    world.secrets.put(credentialArn, 'c1', JSON.stringify({ accessKeyId: 'ABCDEFGHIJKLMNOPQRST', secretAccessKey: 'a'.repeat(43) }));
    world.kms.put({
      id: 'cks-0fedcba0987654321',
      name: 'partner-xks',
      type: 'EXTERNAL_KEY_STORE',
      connectionState: 'DISCONNECTED',
      connectionErrorCode: null,
      xksProxy: { uriEndpoint: 'https://xks.example.com', uriPath: '/kms/xks/v1', connectivity: 'PUBLIC_ENDPOINT' },
    });
    world.state.desired.set('partner-xks', {
      name: 'partner-xks',
      type: 'EXTERNAL_KEY_STORE',
      desiredState: 'CONNECTED',
      xksProxy: {
        uriEndpoint: 'https://xks.example.com',
        uriPath: '/kms/xks/v1',
        connectivity: 'PUBLIC_ENDPOINT',
        credentialSecretArn: credentialArn,
      },
      mode: 'enforce',
      onManualDisconnect: 'reconnect',
      generation: 1,
      paused: false,
    });
    const parsed = parseDesiredItem(world.state.desired.get('partner-xks'));
    if (parsed.ok) for (const signature of signaturesOf(parsed.desired)) await world.state.sign(signature);
    await reconcileScope(world.deps(), { trigger: 'schedule' }); // baseline c1, then a new version of the wrong shape
    world.secrets.put(credentialArn, 'c2', badValue);
    world.kms.put({ ...world.kms.stores.get('cks-0fedcba0987654321')!, connectionState: 'DISCONNECTED' });
    world.clock.advance(600);

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.kms.calls.filter((c) => c.op === 'update')).toEqual([]);
    expect(result.outcomes[0]?.error).toBe('SecretsManager.GetSecretValue failed: InvalidXksCredentialSecret');
    expect(world.events.types()).toContain('Repair Failed');
    const everything = JSON.stringify([
      world.logLines,
      world.events.published,
      [...world.state.statuses.values()],
      world.state.historyEntries,
      result,
    ]);
    expect(everything).not.toContain('not-a-key-id');
  });
});

describe('one store, one entry', () => {
  it('reports two desired entries naming one KMS store (one by name, one by id) and acts on neither', async () => {
    const world = healthyWorld();
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');
    declare(world, 'payments-renamed', { id: 'cks-1234567890abcdef0' });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(world.kms.mutating()).toEqual([]);
    expect(result.outcomes.map((o) => [o.name, o.skipped])).toEqual([
      ['payments', 'invalid'],
      ['payments-renamed', 'invalid'],
    ]);
    expect(result.outcomes[0]?.errors[0]?.message).toBe(
      'names the same custom key store (cks-1234567890abcdef0) as desired store "payments-renamed"; neither acts until one entry is removed',
    );
    expect(world.events.types().filter((t) => t === 'Desired State Invalid')).toHaveLength(2);
  });

  it('holds a lease per KMS store id as well as per name', async () => {
    const world = inMemoryWorld();
    expect(await world.state.acquireLease('a', 'run-1', 0, 60_000, 'cks-1')).not.toBeNull();
    expect(await world.state.acquireLease('b', 'run-2', 1_000, 60_000, 'cks-1')).toBeNull();
    await world.state.releaseLease('a', 'run-1');
    expect(await world.state.acquireLease('b', 'run-2', 2_000, 60_000, 'cks-1')).not.toBeNull();
  });
});

/** The log lines written with `message`, parsed. */
function logged(world: InMemoryWorld, message: string): Array<Record<string, unknown>> {
  return world.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.message === message);
}

describe('the pass over a scope: what it reports', () => {
  let world: InMemoryWorld;

  beforeEach(() => {
    world = healthyWorld();
  });

  it('counts the stores by state, the actions, escalations, invalid and unmanaged stores in its Sweep Summary and last log line', async () => {
    world.kms.put(cloudHsmObserved({ name: 'healthy', id: 'cks-1234567890abcdef0' }));
    world.kms.put(
      cloudHsmObserved({ name: 'repaired', id: 'cks-2234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    world.kms.put(
      cloudHsmObserved({ name: 'locked', id: 'cks-3234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'USER_LOCKED_OUT' }),
    );
    world.kms.put(cloudHsmObserved({ name: 'stray', id: 'cks-4234567890abcdef0' }));
    for (const name of ['healthy', 'repaired', 'locked', 'gone']) declare(world, name);
    declare(world, 'broken', { cloudHsmClusterId: 'not-a-cluster' });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.unmanaged.map((o) => o.name)).toEqual(['stray']);
    const summary = world.events.published.find((e) => e.detailType === 'Sweep Summary')?.detail;
    const byState = { CONNECTED: 1, CONNECTING: 0, FAILED: 2, DISCONNECTED: 0, DISCONNECTING: 0, MISSING: 1 };
    expect(summary).toMatchObject({ byState, managed: 4, unmanaged: 1, invalid: 1, actions: 1, escalations: 1, regionalIncident: false });
    expect(logged(world, 'reconcile finished')).toEqual([
      expect.objectContaining({ ...byState, outcomes: 5, regionalIncident: false, reconcileId: result.reconcileId, trigger: 'schedule' }),
    ]);
  });

  it('publishes the count of stores by state as metrics at the end of a full pass', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments' }));
    declare(world, 'payments');
    declare(world, 'gone');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);

    try {
      await reconcileScope({ ...world.deps(), metrics: makeMetrics() }, { trigger: 'schedule' });
      const emf = write.mock.calls.map(([chunk]) => JSON.parse(String(chunk)) as Record<string, unknown>);
      expect(emf).toContainEqual(expect.objectContaining({ StoresConnected: 1, StoresFailed: 0, StoresMissing: 1 }));
    } finally {
      write.mockRestore();
    }
  });

  it('counts a store in a connection state newer than its KMS API nowhere', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments', connectionState: 'UPDATING' as ConnectionState }));
    declare(world, 'payments');

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    const summary = world.events.published.find((e) => e.detailType === 'Sweep Summary')?.detail;
    expect(summary?.byState).toEqual({ CONNECTED: 0, CONNECTING: 0, FAILED: 0, DISCONNECTED: 0, DISCONNECTING: 0, MISSING: 0 });
    expect(summary).toMatchObject({ managed: 1 });
  });

  it('logs each line of a pass with its reconcileId and trigger, and the lines of a store with its name and store id', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    const lines = world.logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.every((line) => line.reconcileId === result.reconcileId && line.trigger === 'schedule')).toBe(true);
    expect(lines.filter((line) => line.storeName === 'payments')).toContainEqual(
      expect.objectContaining({ level: 'INFO', storeId: 'cks-1234567890abcdef0', action: 'disconnect' }),
    );
  });

  it('fails a run whose events could not be published, saying how many and where to look', async () => {
    world.kms.put(
      cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    );
    declare(world, 'payments');
    world.events.down = true;

    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toMatchObject({
      name: 'EventsNotPublishedError',
      message: '1 event could not be published; see the log lines "events not published"',
    });
  });

  it('logs a Sweep Summary it could not publish, and does not fail the run for it', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments' }));
    declare(world, 'payments');
    const publish = world.events.publish.bind(world.events);
    vi.spyOn(world.events, 'publish').mockImplementation(async (events) => {
      if (events.some((e) => e.detailType === 'Sweep Summary')) throw new AwsCallError('EventBridge.PutEvents', 'InternalException', true, 'down');
      return publish(events);
    });

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(logged(world, 'could not publish the sweep summary')).toEqual([
      expect.objectContaining({ level: 'ERROR', error: 'EventBridge.PutEvents failed: InternalException' }),
    ]);
  });

  it('logs a settings item it cannot read, and a status item it cannot read with the store it belongs to', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments' }));
    world.kms.put(cloudHsmObserved({ name: 'ledger', id: 'cks-2234567890abcdef0' }));
    declare(world, 'payments');
    declare(world, 'ledger');
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const read = await world.state.loadAll();
    vi.spyOn(world.state, 'loadAll').mockResolvedValueOnce({
      ...read,
      settingsError: 'killSwitch: must be a boolean',
      records: read.records.map((r) => (r.name === 'payments' ? { ...r, status: null, statusError: 'phase: invalid value' } : r)),
    });

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(logged(world, 'settings item unreadable; no store is acted on until it is fixed (cks settings)')).toEqual([
      expect.objectContaining({ level: 'ERROR', error: 'killSwitch: must be a boolean' }),
    ]);
    expect(logged(world, 'status item unreadable; the store starts afresh and its next status write replaces the item')).toEqual([
      expect.objectContaining({ level: 'ERROR', storeName: 'payments', error: 'phase: invalid value' }),
    ]);
  });

  it('manages a store declared by id under the name KMS has for it', async () => {
    world.kms.put(cloudHsmObserved({ name: 'old-name', id: 'cks-1234567890abcdef0' }));
    declare(world, 'payments', { id: 'cks-1234567890abcdef0' });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.unmanaged).toEqual([]);
    expect(result.outcomes[0]?.storeId).toBe('cks-1234567890abcdef0');
  });

  it('asks for no follow-up of a store whose lease another run holds: that run asks for its own', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'CONNECTING' }));
    declare(world, 'payments');
    world.state.leases.set('payments', { owner: 'someone-else', until: world.clock.now() + 30_000 });

    const result = await reconcileScope(world.deps(), { trigger: 'followup', only: { names: ['payments'] } });

    expect(result.outcomes[0]?.skipped).toBe('leased');
    expect(result.followUps).toEqual([]);
  });
});

describe('the pass over a scope: what it reads', () => {
  let world: InMemoryWorld;

  beforeEach(() => {
    world = healthyWorld();
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0' }));
    declare(world, 'payments');
  });

  it('reads the secret version of a store seen for the first time, not of a healthy store, and again once it is not CONNECTED or not IDLE', async () => {
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const first = world.secrets.described.splice(0);
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const healthy = world.secrets.described.splice(0);
    world.state.statuses.set('payments', { ...world.state.statuses.get('payments')!, phase: 'CONNECTING' });
    await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });
    const connecting = world.secrets.described.splice(0);
    world.state.statuses.set('payments', { ...world.state.statuses.get('payments')!, phase: 'IDLE' });
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'DISCONNECTED' }));
    await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });
    const disconnected = world.secrets.described.splice(0);

    expect({ first, healthy, connecting, disconnected }).toEqual({ first: [SECRET], healthy: [], connecting: [SECRET], disconnected: [SECRET] });
  });

  it('describes the clusters a store is declared on and found on, once, and none in a scope without CloudHSM stores', async () => {
    world.cloudHsm.clusters.set(OTHER_CLUSTER, cluster({ clusterId: OTHER_CLUSTER }));
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', cloudHsmClusterId: OTHER_CLUSTER }));
    await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });
    const xksOnly = healthyWorld();
    xksOnly.kms.put(xksObserved());
    xksOnly.state.desired.set('partner-xks', { ...xksDesired() });

    await reconcileScope(xksOnly.deps(), { trigger: 'cli', dryRun: true });

    expect(world.cloudHsm.calls).toEqual([`describeClusters ${CLUSTER},${OTHER_CLUSTER}`]);
    expect(xksOnly.cloudHsm.calls).toEqual([]);
  });
});

describe('the pass over a scope: a secret it cannot use, as cks plan shows it', () => {
  const MISSING = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:gone-kmsuser-AbCdEf';

  it.each([
    {
      row: 'a missing kmsuser password secret, named by its field',
      desired: () => cloudHsmDesired({ name: 'payments', keyStorePasswordSecretArn: MISSING }),
      observed: cloudHsmObserved({ name: 'payments', connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS' }),
      reason: `the desired item's keyStorePasswordSecretArn ${MISSING} names no secret in Secrets Manager`,
    },
    {
      row: 'a missing XKS proxy credential secret, named by its field',
      desired: () =>
        xksDesired({
          xksProxy: { uriEndpoint: 'https://xks.example.com', uriPath: '/kms/xks/v1', connectivity: 'PUBLIC_ENDPOINT', credentialSecretArn: MISSING },
        }),
      observed: xksObserved({ connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS' }),
      reason: `the desired item's xksProxy.credentialSecretArn ${MISSING} names no secret in Secrets Manager`,
    },
    {
      row: 'a password secret it may not read: it waits',
      desired: () => cloudHsmDesired({ name: 'payments', keyStorePasswordSecretArn: MISSING }),
      observed: cloudHsmObserved({ name: 'payments', connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS' }),
      reason: `could not read the version of secret ${MISSING} in this run`,
      denied: true,
    },
  ])('decides on $row', async ({ desired, observed, reason, denied }) => {
    const world = healthyWorld();
    if (denied) world.secrets.denied.add(MISSING);
    world.kms.put(observed);
    world.state.desired.set(desired().name, { ...desired() });

    const result = await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });

    expect(result.outcomes[0]?.decision?.reason).toContain(reason);
  });
});

describe('the pass over a scope: an event run', () => {
  let world: InMemoryWorld;

  beforeEach(() => {
    world = healthyWorld();
  });

  it.each([
    {
      row: 'by the id it is declared with, while KMS has no such store',
      only: { ids: ['cks-9234567890abcdef0'] },
      declared: { id: 'cks-9234567890abcdef0' },
    },
    {
      row: 'by the cluster it is declared on, while KMS has no such store',
      only: { clusterIds: [OTHER_CLUSTER] },
      declared: { cloudHsmClusterId: OTHER_CLUSTER },
    },
  ])('reconciles a store named $row, and no other', async ({ only, declared }) => {
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0' }));
    declare(world, 'payments', { id: 'cks-1234567890abcdef0' });
    declare(world, 'gone', declared);
    declare(world, 'also-gone', { id: 'cks-8234567890abcdef0' });

    const result = await reconcileScope(world.deps(), { trigger: 'cloudtrail', only });

    expect(result.outcomes.map((o) => o.name)).toEqual(['gone']);
  });

  it('reconciles a store by the cluster KMS has it on when its desired item names another', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', cloudHsmClusterId: OTHER_CLUSTER }));
    declare(world, 'payments');

    const result = await reconcileScope(world.deps(), { trigger: 'cloudtrail', only: { clusterIds: [OTHER_CLUSTER] } });

    expect(result.outcomes.map((o) => o.name)).toEqual(['payments']);
  });

  it('reports no invalid item, reviews no health and closes no removed store; nor does a dry run review health', async () => {
    world.secrets.put(CREDENTIAL_ARN, 'c1', JSON.stringify({ accessKeyId: 'ABCDEFGHIJKLMNOPQRST', secretAccessKey: 'a'.repeat(43) }));
    world.kms.put(xksObserved());
    world.state.desired.set('partner-xks', { ...xksDesired() });
    declare(world, 'broken', { cloudHsmClusterId: 'not-a-cluster' });
    world.kms.put(cloudHsmObserved({ name: 'old-hsm' }));
    declare(world, 'old-hsm');
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.state.desired.delete('old-hsm');
    const invalidBefore = world.events.types().filter((t) => t === 'Desired State Invalid').length;
    const healthReads = world.health.calls.length;

    const byName = await reconcileScope(world.deps(), { trigger: 'stream', only: { names: ['partner-xks'] } });
    await reconcileScope(world.deps(), { trigger: 'cloudtrail', only: { ids: ['cks-0fedcba0987654321'] } });
    await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });

    expect(healthReads).toBe(1);
    expect(world.health.calls).toHaveLength(1);
    expect(byName.outcomes.map((o) => o.name)).toEqual(['partner-xks']);
    expect(world.events.types().filter((t) => t === 'Desired State Invalid')).toHaveLength(invalidBefore);
    expect(world.state.statuses.has('old-hsm')).toBe(true);
  });

  it('takes no lease in a pass that finds every store as it recorded it', async () => {
    world.kms.put(cloudHsmObserved({ name: 'payments' }));
    declare(world, 'payments');
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const leases = vi.spyOn(world.state, 'acquireLease');

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(leases).not.toHaveBeenCalled();
  });
});

describe('the pass over a scope: the regional incident', () => {
  let world: InMemoryWorld;

  beforeEach(() => {
    world = healthyWorld();
    failThreeOfFour(world);
  });

  it('logs the incident with the counts, opens it once, and names its start in the summary of each pass while it lasts', async () => {
    const opens = vi.spyOn(world.state, 'openRegionalIncident');
    const since = world.clock.now();
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.clock.advance(120);

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(opens).toHaveBeenCalledTimes(1);
    const summaries = world.events.published.filter((e) => e.detailType === 'Sweep Summary').map((e) => e.detail);
    expect(summaries.map((s) => s.regionalIncidentSince)).toEqual([new Date(since).toISOString(), new Date(since).toISOString()]);
    expect(logged(world, 'regional incident: too many stores FAILED at once; reporting instead of repairing')).toEqual([
      expect.objectContaining({ level: 'ERROR', failed: 3, managed: 4 }),
      expect.objectContaining({ level: 'ERROR', failed: 3, managed: 4 }),
    ]);
  });

  it('logs a page it could not publish with the page kept owed', async () => {
    world.events.down = true;

    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);

    expect(logged(world, 'could not publish the regional incident page; it stays owed and the next full pass publishes it')).toEqual([
      expect.objectContaining({ level: 'ERROR', error: 'EventBridge.PutEvents failed: InternalException' }),
    ]);
  });

  it('is no incident when exactly the blast-radius share of stores is FAILED', async () => {
    for (const [i, name] of ['e', 'f'].entries()) {
      world.kms.put(cloudHsmObserved({ name, id: `cks-${i + 4}234567890abcdef0` }));
      declare(world, name);
    }

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.regionalIncident).toBe(false);
    expect(logged(world, 'regional incident: too many stores FAILED at once; reporting instead of repairing')).toEqual([]);
  });
});

describe('the pass over a scope: an invalid desired item', () => {
  let world: InMemoryWorld;
  const reports = () => world.events.published.filter((e) => e.detailType === 'Desired State Invalid');

  beforeEach(() => {
    world = healthyWorld();
    declare(world, 'broken', { cloudHsmClusterId: 'not-a-cluster', generation: 3 });
  });

  it('is reported with its generation, recorded with its reason, and logged with its errors', async () => {
    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(reports().map((e) => e.detail.storeName)).toEqual(['broken']);
    const errors = [{ path: 'cloudHsmClusterId', message: expect.any(String) }];
    expect(world.state.statuses.get('broken')).toMatchObject({
      observedGeneration: 3,
      lastReason: expect.stringMatching(/^desired item invalid: cloudHsmClusterId: /),
    });
    expect(logged(world, 'desired state invalid; store skipped')).toEqual([expect.objectContaining({ level: 'ERROR', storeName: 'broken', errors })]);
  });

  it('is reported again at a new generation that is still invalid, and not at all in a dry run', async () => {
    await reconcileScope(world.deps(), { trigger: 'cli', dryRun: true });
    const dry = { reports: reports().length, writes: world.state.writes };
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.state.desired.set('broken', { ...world.state.desired.get('broken'), generation: 4 });

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(dry).toEqual({ reports: 0, writes: 0 });
    expect(new Set(reports().map((e) => e.detail.eventId)).size).toBe(2);
    expect(world.state.statuses.get('broken')?.observedGeneration).toBe(4);
  });

  it('takes no lease and writes nothing once reported, but sends a report still owed', async () => {
    world.events.down = true;
    await expect(reconcileScope(world.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    world.events.down = false;
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const leases = vi.spyOn(world.state, 'acquireLease');

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(reports()).toHaveLength(1);
    expect(leases).not.toHaveBeenCalled();
  });

  it('is not reported again by a pass that read it before another pass reported it', async () => {
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    const writes = world.state.writes;
    const read = await world.state.loadAll();
    vi.spyOn(world.state, 'loadAll').mockResolvedValueOnce({ ...read, records: read.records.map((r) => ({ ...r, status: null })) });

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    // One write: the status as the lease found it, which releases the lease.
    expect(reports()).toHaveLength(1);
    expect(world.state.writes).toBe(writes + 1);
    expect(world.state.leases.size).toBe(0);
  });

  it('is left to the run that holds its lease, with no error', async () => {
    world.state.leases.set('broken', { owner: 'someone-else', until: world.clock.now() + 30_000 });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.outcomes).toEqual([expect.objectContaining({ name: 'broken', skipped: 'invalid', error: null })]);
    expect(reports()).toEqual([]);
  });

  it('is recorded, its report in the outbox, before the report is published', async () => {
    const publish = world.events.publish.bind(world.events);
    const outboxAtPublish: Array<string[] | undefined> = [];
    vi.spyOn(world.events, 'publish').mockImplementation(async (events) => {
      if (events.some((e) => e.detailType === 'Desired State Invalid'))
        outboxAtPublish.push(world.state.outboxes.get('broken')?.map((e) => e.detailType));
      return publish(events);
    });

    await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(outboxAtPublish).toEqual([['Desired State Invalid']]);
  });

  it('has a failed status write as its error, and its lease released', async () => {
    world.state.faults.fail('saveStatus', 'ThrottlingException', { store: 'broken' });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    expect(result.outcomes).toEqual([
      expect.objectContaining({ name: 'broken', skipped: 'invalid', error: 'DynamoDB.PutItem failed: ThrottlingException' }),
    ]);
    expect(world.state.leases.size).toBe(0);
  });
});

describe('the pass over a scope: a manual change CloudTrail reported', () => {
  const ALICE = 'arn:aws:iam::111122223333:user/alice';
  const AT = Date.parse('2026-11-25T11:59:30Z');

  it.each([
    { row: 'by store id', change: { storeId: 'cks-1234567890abcdef0', storeName: null, by: ALICE, at: AT }, by: ALICE, at: AT },
    { row: 'by store name, its time unknown (now)', change: { storeId: null, storeName: 'payments', by: ALICE, at: null }, by: ALICE, at: null },
    {
      row: 'of another store (not this one)',
      change: { storeId: 'cks-9234567890abcdef0', storeName: 'other', by: ALICE, at: AT },
      by: null,
      at: null,
    },
  ])('names who changed the store in Manual Change Detected: a change reported $row', async ({ change, by, at }) => {
    const world = healthyWorld();
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0' }));
    declare(world, 'payments');
    await reconcileScope(world.deps(), { trigger: 'schedule' });
    world.clock.advance(60);
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0', connectionState: 'DISCONNECTED' }));

    await reconcileScope(world.deps(), { trigger: 'cloudtrail', changes: [{ ...change, eventName: 'DisconnectCustomKeyStore' }] });

    const detected = world.events.published.filter((e) => e.detailType === 'Manual Change Detected').map((e) => e.detail);
    expect(detected).toEqual([expect.objectContaining({ changedBy: by, changedAt: new Date(at ?? world.clock.now()).toISOString() })]);
  });
});

describe('the pass over a scope: entries naming one store', () => {
  it('names the field that resolves each entry to the store, and every other entry naming it', async () => {
    const world = healthyWorld();
    world.kms.put(cloudHsmObserved({ name: 'payments', id: 'cks-1234567890abcdef0' }));
    declare(world, 'payments');
    declare(world, 'payments-by-id', { id: 'cks-1234567890abcdef0' });
    declare(world, 'payments-again', { id: 'cks-1234567890abcdef0' });

    const result = await reconcileScope(world.deps(), { trigger: 'schedule' });

    const said = 'names the same custom key store (cks-1234567890abcdef0) as desired store';
    expect(Object.fromEntries(result.outcomes.map((o) => [o.name, o.errors]))).toEqual({
      payments: [{ path: 'name', message: `${said} "payments-by-id", "payments-again"; neither acts until one entry is removed` }],
      'payments-by-id': [{ path: 'id', message: `${said} "payments", "payments-again"; neither acts until one entry is removed` }],
      'payments-again': [{ path: 'id', message: `${said} "payments", "payments-by-id"; neither acts until one entry is removed` }],
    });
  });
});
