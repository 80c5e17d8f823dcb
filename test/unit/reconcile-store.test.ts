/** One store's run over the in-memory ports: what it records in history, logs and counts, the update it sends, and the XKS credential it accepts. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionErrorCode, ConnectionState } from '../../shared/domain/types.js';
import { makeMetrics } from '../../shared/metrics.js';
import { EventsNotPublishedError, reconcileScope } from '../../shared/reconcile/reconcile-scope.js';
import { parseXksCredential } from '../../shared/reconcile/reconcile-store.js';
import { type InMemoryWorld, inMemoryWorld } from '../helpers/in-memory.js';
import { CLUSTER, cloudHsmDesired, cloudHsmObserved, cluster, xksDesired, xksObserved } from '../helpers/world.js';
import { signaturesOf } from './domain-fixtures.js';

const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser-AbCdEf';
const STORE_ID = 'cks-1234567890abcdef0';
const OTHER_CLUSTER = 'cluster-bcdefghijkl';

/** `payments` on the healthy cluster, its password at v1, declared CONNECTED (signed by two) and found as given. */
function world(state: ConnectionState, code: ConnectionErrorCode | null = null, extra: Parameters<typeof cloudHsmDesired>[0] = {}): InMemoryWorld {
  const w = inMemoryWorld();
  w.cloudHsm.clusters.set(CLUSTER, cluster({ availabilityZones: ['us-east-1a', 'us-east-1b'] }));
  w.cloudHsm.clusters.set(OTHER_CLUSTER, cluster({ clusterId: OTHER_CLUSTER, availabilityZones: ['us-east-1a', 'us-east-1b'] }));
  w.secrets.put(SECRET, 'v1', 'initial-Passw0rd');
  w.kms.put(cloudHsmObserved({ name: 'payments', id: STORE_ID, connectionState: state, connectionErrorCode: code }));
  const desired = cloudHsmDesired({ name: 'payments', keyStorePasswordSecretArn: SECRET, ...extra });
  w.state.desired.set('payments', { ...desired });
  for (const signature of signaturesOf(desired)) void w.state.sign(signature);
  return w;
}

const CREDENTIAL = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:partner-xks-AbCdEf';
const XKS_ID = 'cks-0fedcba0987654321';

/** `partner` behind a public proxy, its credential at c1, declared CONNECTED with `extra` (signed by two), found `state` with the proxy as given. */
function xksWorld(state: ConnectionState, extra: Parameters<typeof xksDesired>[0] = {}): InMemoryWorld {
  const w = inMemoryWorld();
  w.secrets.put(CREDENTIAL, 'c1', JSON.stringify({ accessKeyId: 'A'.repeat(20), secretAccessKey: 'a'.repeat(43) }));
  w.kms.put(xksObserved({ name: 'partner', id: XKS_ID, connectionState: state }));
  const desired = xksDesired({
    name: 'partner',
    xksProxy: { uriEndpoint: 'https://xks.example.com', uriPath: '/kms/xks/v1', connectivity: 'PUBLIC_ENDPOINT', credentialSecretArn: CREDENTIAL },
    ...extra,
  });
  w.state.desired.set('partner', { ...desired });
  for (const signature of signaturesOf(desired)) void w.state.sign(signature);
  return w;
}

/** The log lines written so far, parsed. */
function logged(w: InMemoryWorld): Array<Record<string, unknown>> {
  return w.logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Runs `change` on the world once the run has taken its lease: after the pass read everything, before the run reads again. */
function onLease(w: InMemoryWorld, change: () => void): void {
  const acquire = w.state.acquireLease.bind(w.state);
  vi.spyOn(w.state, 'acquireLease').mockImplementationOnce(async (...args) => {
    change();
    return acquire(...args);
  });
}

/** The INFO line the store's run ends with, parsed. */
function runLine(w: InMemoryWorld): Record<string, unknown> {
  const lines = w.logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return lines.filter((line) => line.level === 'INFO' && line.storeName === 'payments').at(-1) ?? {};
}

describe('one store run: history', () => {
  it("records a failed call: the call's failure as the action, the store as found, the error, the incident and each event", async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    w.kms.failNext = { op: 'disconnect', code: 'ThrottlingException' };

    const result = await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.state.historyEntries).toStrictEqual([
      {
        name: 'payments',
        at: w.clock.now(),
        reconcileId: result.reconcileId,
        trigger: 'schedule',
        action: 'disconnect failed',
        dryRun: false,
        reason: expect.stringMatching(/^disconnect call failed with ThrottlingException \(attempt 1 of 3\); next attempt after /),
        connectionState: 'FAILED',
        connectionErrorCode: 'NETWORK_ERRORS',
        error: 'KMS.disconnect failed: ThrottlingException',
        incidentId: w.state.statuses.get('payments')?.incidentId,
        events: [
          { type: 'Repair Started', reason: 'FAILED with NETWORK_ERRORS (retryable): disconnecting, the first step of repair attempt 1 of 3' },
          { type: 'Repair Failed', reason: 'disconnect call failed with ThrottlingException (attempt 1 of 3)' },
        ],
      },
    ]);
  });

  it('records the call a repair made, with no error, and the runbook of an escalation', async () => {
    const repaired = world('FAILED', 'NETWORK_ERRORS');
    await reconcileScope(repaired.deps(), { trigger: 'cli' });
    const escalated = world('FAILED', 'USER_LOCKED_OUT');
    await reconcileScope(escalated.deps(), { trigger: 'schedule' });

    expect(repaired.state.historyEntries[0]).toMatchObject({ action: 'disconnect', trigger: 'cli' });
    expect(repaired.state.historyEntries[0]).not.toHaveProperty('error');
    const escalation = escalated.state.historyEntries[0]?.events?.find((event) => event.type === 'Repair Escalated');
    expect(escalation).toStrictEqual({ type: 'Repair Escalated', reason: expect.any(String), runbook: expect.any(String) });
  });

  it('records a report-only run: no call and the same phase, but the drift it reported', async () => {
    const w = world('CONNECTED', null, { mode: 'observe' });
    await reconcileScope(w.deps(), { trigger: 'schedule' });
    const recorded = w.state.historyEntries.length;
    w.kms.put(cloudHsmObserved({ name: 'payments', id: STORE_ID, connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }));
    w.clock.advance(300);

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.state.historyEntries).toHaveLength(recorded + 1);
    expect(w.state.historyEntries.at(-1)).toMatchObject({
      action: 'would disconnect',
      dryRun: true,
      events: [
        {
          type: 'Store Drift Detected',
          reason: expect.stringMatching(/^mode observe \(report only\): would disconnect: /),
          drift: ['connectionState'],
        },
      ],
    });
  });

  it('records a run that moved the store to another phase without a call or an event: a pause', async () => {
    const w = world('CONNECTED');
    await reconcileScope(w.deps(), { trigger: 'schedule' });
    const recorded = w.state.historyEntries.length;
    w.state.desired.set('payments', { ...w.state.desired.get('payments'), paused: true, generation: 2 });
    w.clock.advance(300);

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.state.historyEntries).toHaveLength(recorded + 1);
    expect(w.state.historyEntries.at(-1)).toMatchObject({ action: 'none', reason: expect.stringContaining('paused by an operator'), events: [] });
  });

  it('records nothing for a run that changed nothing: no call, no event, the same phase', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    w.kms.failNext = { op: 'disconnect', code: 'ThrottlingException' };
    await reconcileScope(w.deps(), { trigger: 'schedule' });
    const recorded = w.state.historyEntries.length;
    w.clock.advance(10);

    // Inside the backoff: the run waits, with nothing to say.
    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.state.historyEntries).toHaveLength(recorded);
  });
});

describe('one store run: its log line', () => {
  it('says what was asked, what was taken, where the store is and the events, and how many owed events it sent again', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    w.events.down = true;
    await expect(reconcileScope(w.deps(), { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    const first = runLine(w);
    w.events.down = false;
    w.clock.advance(10);
    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(first).toMatchObject({
      message: 'FAILED with NETWORK_ERRORS (retryable): disconnecting, the first step of repair attempt 1 of 3',
      action: 'disconnect',
      intended: 'disconnect',
      dryRun: false,
      phase: 'DISCONNECTING',
      attempt: 0,
      connectionState: 'FAILED',
      connectionErrorCode: 'NETWORK_ERRORS',
      events: ['Repair Started'],
    });
    expect(first).not.toHaveProperty('republished');
    const unsent = w.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.level === 'ERROR');
    expect(unsent).toMatchObject({
      message: 'events not published; they stay in the status outbox and the next run publishes them',
      error: 'events not published: EventBridge.PutEvents failed: InternalException',
      events: [{ detailType: 'Repair Started', eventId: expect.any(String) }],
    });
    expect(runLine(w)).toMatchObject({ republished: 1 });
  });

  it('says a store that is gone is MISSING', async () => {
    const w = world('CONNECTED');
    await reconcileScope(w.deps(), { trigger: 'schedule' });
    w.kms.stores.clear();
    w.clock.advance(300);

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(runLine(w)).toMatchObject({ connectionState: 'MISSING' });
  });
});

describe('one store run: metrics', () => {
  let write: { mock: { calls: unknown[][] }; mockRestore: () => void };
  beforeEach(() => {
    write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    write.mockRestore();
  });
  /** The repair counts written as EMF while the runs went, by metric name and error code. */
  const counted = () =>
    write.mock.calls
      .map(([chunk]) => JSON.parse(String(chunk)) as Record<string, unknown>)
      .flatMap((emf) =>
        ['RepairStarted', 'RepairSucceeded', 'RepairFailed', 'RepairEscalated'].filter((m) => m in emf).map((m) => `${m} ${emf.ErrorCode}`),
      );

  it('counts each repair event of a run by the error code the store showed', async () => {
    const failing = world('FAILED', 'NETWORK_ERRORS');
    failing.kms.failNext = { op: 'disconnect', code: 'ThrottlingException' };
    await reconcileScope({ ...failing.deps(), metrics: makeMetrics() }, { trigger: 'schedule' });
    const escalating = world('FAILED', 'USER_LOCKED_OUT');
    await reconcileScope({ ...escalating.deps(), metrics: makeMetrics() }, { trigger: 'schedule' });

    expect(counted()).toEqual(['RepairStarted NETWORK_ERRORS', 'RepairFailed NETWORK_ERRORS', 'RepairEscalated USER_LOCKED_OUT']);
  });

  it('counts the repair that succeeded, and a store missing from KMS without failing its run', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    const deps = { ...w.deps(), metrics: makeMetrics() };
    for (const next of ['DISCONNECTED', 'CONNECTED'] as const) {
      await reconcileScope(deps, { trigger: 'schedule' });
      w.kms.put(cloudHsmObserved({ name: 'payments', id: STORE_ID, connectionState: next }));
      w.clock.advance(300);
    }
    await reconcileScope(deps, { trigger: 'schedule' });
    w.kms.stores.clear();
    w.clock.advance(300);

    const missing = await reconcileScope(deps, { trigger: 'schedule' });

    expect(counted()).toEqual(['RepairStarted NETWORK_ERRORS', 'RepairSucceeded NONE']);
    expect(missing.outcomes[0]).toMatchObject({ error: null });
    expect(w.events.types()).toContain('Store Missing');
  });

  it('counts nothing in a dry run, and a repair of a store with no error code under NONE', async () => {
    const w = world('DISCONNECTED', null, { onManualDisconnect: 'reconnect' });
    const deps = { ...w.deps(), metrics: makeMetrics() };
    await reconcileScope(deps, { trigger: 'schedule', dryRun: true });
    for (const _ of [1, 2, 3]) {
      await reconcileScope(deps, { trigger: 'schedule' });
      w.clock.advance(300);
    }

    expect(counted()).toEqual(['RepairStarted NONE']);
  });
});

describe('one store run: under the lease', () => {
  it('reads the store again by its id before a call, and writes its status twice: the decision before the call, the outcome after', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.calls.filter((call) => call.op === 'describeStore')).toStrictEqual([{ op: 'describeStore', storeId: STORE_ID }]);
    expect(w.state.writes).toBe(2);
  });

  it('does not read the store again, nor publish, for a decision that neither calls nor pages', async () => {
    const w = world('CONNECTED');
    const publish = vi.spyOn(w.events, 'publish');

    const result = await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]).toMatchObject({ storeId: STORE_ID, errors: [], error: null, skipped: null });
    expect(w.state.statuses.get('payments')?.phase).toBe('IDLE');
    expect(w.kms.calls.map((call) => call.op)).toEqual(['listStores']);
    // The pass's own summary goes out; the store publishes no empty batch.
    expect(publish.mock.calls.map(([events]) => events.map((event) => event.detailType))).toEqual([['Sweep Summary']]);
  });

  it('leaves a store whose desired item was removed while the run took its lease to the next run, and releases the lease', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    onLease(w, () => w.state.desired.delete('payments'));

    const result = await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]).toMatchObject({ skipped: 'changed', error: null });
    expect(w.kms.mutating()).toEqual([]);
    expect(w.state.leases.has('payments')).toBe(false);
    expect(logged(w)).toContainEqual(
      expect.objectContaining({ level: 'INFO', storeName: 'payments', message: 'desired item changed since the pass read it; left to the next run' }),
    );
  });

  it('logs a failed call with its action, error code and whether it is retryable', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    w.kms.failNext = { op: 'disconnect', code: 'ThrottlingException' };

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    const warning = w.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.message === 'action failed');
    expect(warning).toMatchObject({ level: 'WARN', action: 'disconnect', errorCode: 'ThrottlingException', retryable: false });
  });

  it('counts nothing for a call that was not sent (its turn came too late): no failure paged, the code in the warning', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    w.kms.failNext = { op: 'disconnect', code: 'CallNotSent' };

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.events.types()).not.toContain('Repair Failed');
    expect(w.state.statuses.get('payments')).toMatchObject({ phase: 'IDLE', attempt: 0, incidentId: null });
    expect(logged(w)).toContainEqual(expect.objectContaining({ level: 'WARN', message: 'action failed', errorCode: 'CallNotSent' }));
  });

  it('abandons the run on a call that fails with something other than an AWS error: no failure recorded or paged, the lease released', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    vi.spyOn(w.kms, 'disconnect').mockRejectedValueOnce(new TypeError('socket went away'));

    const result = await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]).toMatchObject({ taken: null, error: expect.stringContaining('socket went away') });
    expect(w.state.statuses.get('payments')?.lastReason).not.toContain('failed');
    expect(w.events.types()).not.toContain('Repair Failed');
    expect(w.state.leases.has('payments')).toBe(false);
    const failed = w.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.level === 'ERROR');
    expect(failed).toMatchObject({
      message: 'store run failed; the next run will observe and continue',
      error: expect.stringContaining('socket went away'),
    });
  });
});

describe('one store run: the update it sends', () => {
  it('sends only the field that differs: a new cluster, with no name, password or XKS settings', async () => {
    const w = world('DISCONNECTED', null, { cloudHsmClusterId: OTHER_CLUSTER, onManualDisconnect: 'reconnect' });

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.calls.filter((call) => call.op === 'update')).toStrictEqual([
      { op: 'update', storeId: STORE_ID, update: { cloudHsmClusterId: OTHER_CLUSTER } },
    ]);
  });

  it('sends a new password alone: no name, cluster or XKS settings', async () => {
    const w = world('CONNECTED', null, { onManualDisconnect: 'reconnect' });
    await reconcileScope(w.deps(), { trigger: 'schedule' });
    w.kms.put(cloudHsmObserved({ name: 'payments', id: STORE_ID, connectionState: 'DISCONNECTED' }));
    w.secrets.put(SECRET, 'v2', 'n3w-Passw0rd-from-a-human');
    w.clock.advance(300);

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.calls.filter((call) => call.op === 'update')).toStrictEqual([
      { op: 'update', storeId: STORE_ID, update: { keyStorePassword: 'n3w-Passw0rd-from-a-human' } },
    ]);
  });
});

describe('one store run: the update it sends, by kind of change', () => {
  it('sends a new name alone: no cluster, password or XKS settings', async () => {
    const w = world('DISCONNECTED', null, { id: STORE_ID });
    w.kms.put(cloudHsmObserved({ name: 'payments-old', id: STORE_ID, connectionState: 'DISCONNECTED' }));

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.calls.filter((call) => call.op === 'update')).toStrictEqual([{ op: 'update', storeId: STORE_ID, update: { newName: 'payments' } }]);
  });

  it('sends changed XKS proxy settings alone: no credential when its secret has no new version', async () => {
    const w = xksWorld('DISCONNECTED', {
      onManualDisconnect: 'reconnect',
      xksProxy: { uriEndpoint: 'https://xks.example.com', uriPath: '/kms/xks/v2', connectivity: 'PUBLIC_ENDPOINT', credentialSecretArn: CREDENTIAL },
    });

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.calls.filter((call) => call.op === 'update')).toStrictEqual([
      { op: 'update', storeId: XKS_ID, update: { xks: { uriPath: '/kms/xks/v2' } } },
    ]);
  });
});

describe('parseXksCredential', () => {
  const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:xks-AbCdEf';
  const KEY_ID = 'A'.repeat(20);
  const SECRET_KEY = 'a'.repeat(43);
  const valid: ReadonlyArray<{ name: string; accessKeyId: string; secretAccessKey: string }> = [
    { name: 'the shortest of each', accessKeyId: KEY_ID, secretAccessKey: SECRET_KEY },
    { name: 'the longest of each', accessKeyId: 'Z7'.repeat(15), secretAccessKey: 'Zz09/+='.repeat(9).slice(0, 64) },
  ];
  for (const { name, accessKeyId, secretAccessKey } of valid) {
    it(`accepts ${name}`, () => {
      expect(parseXksCredential(JSON.stringify({ accessKeyId, secretAccessKey }), ARN)).toStrictEqual({ accessKeyId, secretAccessKey });
    });
  }

  const invalid: ReadonlyArray<{ name: string; value: string }> = [
    { name: 'text that is not JSON', value: 'not json' },
    { name: 'JSON that is not an object', value: 'null' },
    { name: 'no access key id', value: JSON.stringify({ secretAccessKey: SECRET_KEY }) },
    { name: 'an access key id that is not a string', value: JSON.stringify({ accessKeyId: 1234567890, secretAccessKey: SECRET_KEY }) },
    { name: 'an access key id in a list', value: JSON.stringify({ accessKeyId: [KEY_ID], secretAccessKey: SECRET_KEY }) },
    { name: 'an access key id one character short', value: JSON.stringify({ accessKeyId: 'A'.repeat(19), secretAccessKey: SECRET_KEY }) },
    { name: 'an access key id one character long', value: JSON.stringify({ accessKeyId: 'A'.repeat(31), secretAccessKey: SECRET_KEY }) },
    { name: 'an access key id with a lowercase letter first', value: JSON.stringify({ accessKeyId: `a${KEY_ID}`, secretAccessKey: SECRET_KEY }) },
    { name: 'an access key id with a digit 1 last', value: JSON.stringify({ accessKeyId: `${KEY_ID}1`, secretAccessKey: SECRET_KEY }) },
    { name: 'no secret access key', value: JSON.stringify({ accessKeyId: KEY_ID }) },
    { name: 'a secret access key that is not a string', value: JSON.stringify({ accessKeyId: KEY_ID, secretAccessKey: ['a'.repeat(43)] }) },
    { name: 'a secret access key one character short', value: JSON.stringify({ accessKeyId: KEY_ID, secretAccessKey: 'a'.repeat(42) }) },
    { name: 'a secret access key one character long', value: JSON.stringify({ accessKeyId: KEY_ID, secretAccessKey: 'a'.repeat(65) }) },
    { name: 'a secret access key with a hyphen first', value: JSON.stringify({ accessKeyId: KEY_ID, secretAccessKey: `-${SECRET_KEY}` }) },
    { name: 'a secret access key with a hyphen last', value: JSON.stringify({ accessKeyId: KEY_ID, secretAccessKey: `${SECRET_KEY}-` }) },
  ];
  for (const { name, value } of invalid) {
    it(`refuses ${name}, naming the secret and the rule, not the value`, () => {
      let refused: unknown;
      try {
        parseXksCredential(value, ARN);
      } catch (error) {
        refused = error;
      }
      expect(refused).toMatchObject({
        name: 'AwsCallError',
        operation: 'SecretsManager.GetSecretValue',
        code: 'InvalidXksCredentialSecret',
        retryable: false,
        message: `SecretsManager.GetSecretValue failed: InvalidXksCredentialSecret: secret ${ARN} must hold JSON {"accessKeyId": 20-30 of A-Z2-7, "secretAccessKey": 43-64 of a-zA-Z0-9/+=}`,
      });
    });
  }
});

describe('one store run: what it skips, and says so', () => {
  it('skips a healthy store whose status would not change, at DEBUG with the reason', async () => {
    const w = world('CONNECTED');
    await reconcileScope(w.deps(), { trigger: 'schedule' });
    w.clock.advance(300);

    const result = await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]).toMatchObject({ skipped: 'unchanged' });
    expect(logged(w)).toContainEqual(expect.objectContaining({ level: 'DEBUG', message: 'no change', reason: 'CONNECTED as desired' }));
  });

  it('skips a store another run holds, saying why and what it would have done', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    await w.state.acquireLease('payments', 'other-run', w.clock.now(), 60_000);

    const result = await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]).toMatchObject({ skipped: 'leased' });
    expect(w.kms.mutating()).toEqual([]);
    expect(logged(w)).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'another run holds this store; skipped',
        reason: 'FAILED with NETWORK_ERRORS (retryable): disconnecting, the first step of repair attempt 1 of 3',
      }),
    );
  });

  it('skips a store whose KMS store another run holds under another name (a rename under way)', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    await w.state.acquireLease('payments-old', 'other-run', w.clock.now(), 60_000, STORE_ID);

    const result = await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(result.outcomes[0]).toMatchObject({ skipped: 'leased' });
    expect(w.kms.mutating()).toEqual([]);
  });

  it("says 'none' as the action of a run that pages without a call", async () => {
    const w = world('FAILED', 'USER_LOCKED_OUT');

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(runLine(w)).toMatchObject({ action: 'none', intended: 'none', phase: 'ESCALATED', events: ['Repair Escalated'] });
  });
});

describe('one store run: what it reads again under the lease', () => {
  it('finds by name a store the pass did not see, rather than reporting it missing', async () => {
    const w = world('CONNECTED');
    const store = w.kms.stores.get(STORE_ID)!;
    w.kms.stores.clear();
    onLease(w, () => w.kms.put(store));

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.calls.filter((call) => call.op === 'describeStore')).toStrictEqual([{ op: 'describeStore' }]);
    expect(w.events.types()).not.toContain('Store Missing');
    expect(w.state.statuses.get('payments')).toMatchObject({ storeId: STORE_ID, observedState: 'CONNECTED' });
  });

  it('looks up by its declared id a store the pass did not see', async () => {
    const w = world('CONNECTED', null, { id: STORE_ID });
    const store = w.kms.stores.get(STORE_ID)!;
    w.kms.stores.clear();
    onLease(w, () => w.kms.put(store));

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.calls.filter((call) => call.op === 'describeStore')).toStrictEqual([{ op: 'describeStore', storeId: STORE_ID }]);
    expect(w.events.types()).not.toContain('Store Missing');
  });

  it('takes a desired cluster deleted since the pass as gone: escalates instead of repairing toward it', async () => {
    const w = world('FAILED', 'CLUSTER_NOT_FOUND', { cloudHsmClusterId: OTHER_CLUSTER });
    onLease(w, () => w.cloudHsm.clusters.delete(OTHER_CLUSTER));

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.mutating()).toEqual([]);
    const escalation = w.events.published.find((event) => event.detailType === 'Repair Escalated');
    expect(escalation?.detail.reason).toMatch(/The desired state names no other existing cluster, so a human must act\.$/);
    expect(w.state.statuses.get('payments')?.phase).toBe('ESCALATED');
  });

  it('waits on a password secret it cannot read under the lease, naming the secret in the reason and a warning', async () => {
    const w = world('FAILED', 'NETWORK_ERRORS');
    onLease(w, () => w.secrets.denied.add(SECRET));

    const result = await reconcileScope(w.deps(), { trigger: 'schedule' });

    expect(w.kms.mutating()).toEqual([]);
    expect(result.outcomes[0]?.decision?.reason).toBe(
      `FAILED with NETWORK_ERRORS: could not read the version of secret ${SECRET} in this run; waiting for the next run rather than deciding without it`,
    );
    expect(logged(w)).toContainEqual(
      expect.objectContaining({
        level: 'WARN',
        message: 'cannot read the secret version; the store waits for the next run',
        secretArn: SECRET,
        error: 'SecretsManager.DescribeSecret failed: AccessDeniedException',
      }),
    );
  });

  it("names an XKS store's missing credential secret by its field, and asks CloudHSM nothing", async () => {
    const w = xksWorld('FAILED');
    w.kms.put(xksObserved({ name: 'partner', id: XKS_ID, connectionState: 'FAILED', connectionErrorCode: 'XKS_PROXY_TIMED_OUT' }));
    w.secrets.versions.clear();

    await reconcileScope(w.deps(), { trigger: 'schedule' });

    const escalation = w.events.published.find((event) => event.detailType === 'Repair Escalated');
    expect(escalation?.detail.reason).toContain(`the desired item's xksProxy.credentialSecretArn ${CREDENTIAL} names no secret`);
    expect(w.cloudHsm.calls).toEqual([]);
  });
});
