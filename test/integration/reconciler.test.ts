/**
 * The reconciler end to end against the fake: real SDK clients over HTTP, the embedded DynamoDB,
 * a manual clock. Each scenario is one store's life: declared, broken in the fake, swept until it
 * heals or is escalated.
 */
import { DisconnectCustomKeyStoreCommand, KMSClient } from '@aws-sdk/client-kms';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeHandler as makeOnEvent } from '../../functions/on-event.js';
import { eventSchemas } from '../../shared/domain/events.js';
import type { EventDetailType } from '../../shared/domain/types.js';
import { reconcileScope } from '../../shared/reconcile/reconcile-scope.js';
import { singleScope } from '../../shared/runtime/lambda.js';
import { LAMBDA_CONTEXT, type ReconcilerEnv, startReconcilerEnv, sweepUntil, TABLE } from '../helpers/reconciler.js';
import { cloudHsmEntry, cloudHsmStore, XKS_CREDENTIAL, xksEntry, xksStore } from '../helpers/world.js';

const PASSWORD_V1 = 'kmsuser-Initial-Pw1';
const PASSWORD_V2 = 'kmsuser-Rotated-Pw2';
const XKS_SECRET_V2 = 'Zq8mR2vLx5NcTgW7pYhKd3JfB6sAeU9oXiQ4lMnE0tC=';
/** Every secret value a scenario uses: none may appear in a log line, event, status item or error. */
const SECRETS = [PASSWORD_V1, PASSWORD_V2, XKS_CREDENTIAL.RawSecretAccessKey, XKS_SECRET_V2];

const MUTATING = ['KMS.ConnectCustomKeyStore', 'KMS.DisconnectCustomKeyStore', 'KMS.UpdateCustomKeyStore', 'CloudHSMV2.CreateHsm'];

let env: ReconcilerEnv;

beforeEach(async () => {
  env = await startReconcilerEnv();
});

afterEach(async () => {
  // No run ever triggers a CustomKeyStoreInvalidStateException: it re-reads a store before acting on it.
  const { calls } = await env.calls();
  expect(calls.filter((c) => c.error === 'CustomKeyStoreInvalidStateException')).toEqual([]);
  // Every call runs under the stack's own policies, and none of them is refused.
  expect(await env.denials(), 'calls the stack’s policies refused').toEqual([]);
  await assertNoSecretLeaked(env);
  await env.close();
});

/** A CONNECTED CloudHSM store, declared in enforce mode with its password secret; first sweep taken. */
async function healthyCloudHsmStore(name: string, extra: Record<string, unknown> = {}) {
  const store = await cloudHsmStore(env.fake, { name, password: PASSWORD_V1, connected: true, secret: `cks/${name}-kmsuser` });
  await env.apply(cloudHsmEntry(store, extra));
  await env.run();
  expect(await env.state(name)).toEqual({ connectionState: 'CONNECTED', connectionErrorCode: null });
  return store;
}

async function fail(name: string, errorCode: string) {
  const res = await env.fake.admin('POST', `/_fake/stores/${name}/fail`, { errorCode });
  expect(res.status).toBe(200);
}

async function reconcilerEvents(type?: EventDetailType) {
  const events = (await env.events()).filter((e) => e.Source === 'cks-reconciler');
  for (const e of events) eventSchemas[e.DetailType as EventDetailType].parse(e.Detail);
  return type ? events.filter((e) => e.DetailType === type) : events;
}

async function mutatingCalls() {
  const { calls } = await env.calls();
  return calls.filter((c) => MUTATING.includes(`${c.service}.${c.operation}`) || MUTATING.includes(c.operation));
}

const connected = (name: string) => async () => (await env.state(name)).connectionState === 'CONNECTED';

describe('reconciler against the fake', () => {
  it('heals a store that failed with NETWORK_ERRORS: disconnect, connect, CONNECTED, Repair Succeeded', async () => {
    await healthyCloudHsmStore('payments');
    await fail('payments', 'NETWORK_ERRORS');

    const runs = await sweepUntil(env, connected('payments'));
    await env.run();

    expect(runs).toBeLessThanOrEqual(6);
    expect((await reconcilerEvents()).map((e) => e.DetailType)).toEqual(
      expect.arrayContaining(['Repair Started', 'Repair Step', 'Repair Succeeded']),
    );
    expect(await reconcilerEvents('Repair Escalated')).toEqual([]);
  });

  it('escalates INVALID_CREDENTIALS once and connects nothing while the secret has no new version, then heals after one is put', async () => {
    const { clusterId, secretArn } = await healthyCloudHsmStore('ledger');
    // A human changed the kmsuser password in the cluster; the store lost its connection.
    await env.fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { kmsuserPassword: PASSWORD_V2 });
    await fail('ledger', 'INVALID_CREDENTIALS');
    const before = (await mutatingCalls()).length;

    for (let i = 0; i < 4; i++) {
      await env.run();
      env.fake.advance(300);
    }

    const escalations = await reconcilerEvents('Repair Escalated');
    expect(escalations).toHaveLength(1);
    expect(escalations[0]?.Detail).toMatchObject({ storeName: 'ledger', connectionErrorCode: 'INVALID_CREDENTIALS' });
    expect(String(escalations[0]?.Detail.runbook)).toMatch(/new version/i);
    expect((await mutatingCalls()).length).toBe(before);

    await env.putSecretVersion(secretArn, PASSWORD_V2);
    await sweepUntil(env, connected('ledger'));

    const updates = (await mutatingCalls()).filter((c) => c.operation.endsWith('UpdateCustomKeyStore'));
    expect(updates).toHaveLength(1);
  });

  it.each([
    ['USER_LOCKED_OUT', { kmsuserLockedOut: true }],
    ['USER_LOGGED_IN', { kmsuserLoggedIn: true }],
  ])('escalates %s at once with its runbook and starts no repair', async (code, patch) => {
    const { clusterId } = await healthyCloudHsmStore('vault');
    await env.fake.admin('PATCH', `/_fake/clusters/${clusterId}`, patch);
    await fail('vault', code);
    const before = (await mutatingCalls()).length;

    await env.run();
    env.fake.advance(600);
    await env.run();

    const escalations = await reconcilerEvents('Repair Escalated');
    expect(escalations).toHaveLength(1);
    expect(escalations[0]?.Detail).toMatchObject({ connectionErrorCode: code, dryRun: false });
    expect(String(escalations[0]?.Detail.runbook).length).toBeGreaterThan(20);
    expect((await mutatingCalls()).length).toBe(before);
  });

  it('heals CLUSTER_NOT_FOUND when desired state names a related cluster restored from backup', async () => {
    const { clusterId } = await healthyCloudHsmStore('orders');
    const restored = await env.fake.admin('POST', '/_fake/clusters', { relatedTo: clusterId, activeHsms: 2 });
    await env.fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { deleted: true });
    await fail('orders', 'CLUSTER_NOT_FOUND');
    await env.run();
    expect(await reconcilerEvents('Repair Escalated')).toHaveLength(1);

    const desired = (await env.deps().state.load('orders')).desired!;
    await env.apply({ ...stripManaged(desired), cloudHsmClusterId: restored.body.clusterId });
    await sweepUntil(env, connected('orders'));

    const updates = (await mutatingCalls()).filter((c) => c.operation.endsWith('UpdateCustomKeyStore'));
    expect(updates).toHaveLength(1);
  });

  it('heals INSUFFICIENT_CLOUDHSM_HSMS by creating an HSM when allowCreateHsm is set', async () => {
    const { clusterId } = await healthyCloudHsmStore('hsm-lost', { allowCreateHsm: true });
    await env.fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { activeHsms: 0 });
    await fail('hsm-lost', 'INSUFFICIENT_CLOUDHSM_HSMS');

    await sweepUntil(env, connected('hsm-lost'), { stepSeconds: 120 });

    const creates = (await mutatingCalls()).filter((c) => c.operation.endsWith('CreateHsm'));
    expect(creates).toHaveLength(1);
  });

  it('heals an XKS store whose proxy credential was rotated, once the credential secret has the new version', async () => {
    const store = await xksStore(env.fake, { name: 'partner-xks', connected: true, secret: 'cks/partner-xks-credential' });
    await env.apply(xksEntry(store));
    await env.run();
    expect(await env.state('partner-xks')).toEqual({ connectionState: 'CONNECTED', connectionErrorCode: null });

    await env.fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint: store.uriEndpoint, secretAccessKey: XKS_SECRET_V2 });
    await fail('partner-xks', 'INVALID_CREDENTIALS');
    await env.putSecretVersion(
      store.credentialSecretArn,
      JSON.stringify({ accessKeyId: XKS_CREDENTIAL.AccessKeyId, secretAccessKey: XKS_SECRET_V2 }),
    );

    await sweepUntil(env, connected('partner-xks'));
  });

  it('rides out throttling and 5xx from KMS with the SDK retry and still repairs', async () => {
    await healthyCloudHsmStore('bumpy');
    await fail('bumpy', 'NETWORK_ERRORS');
    await env.fake.admin('POST', '/_fake/faults', { operation: 'DescribeCustomKeyStores', error: 'ThrottlingException', count: 2 });
    await env.fake.admin('POST', '/_fake/faults', { operation: 'DisconnectCustomKeyStore', error: 'KMSInternalException', count: 1 });

    const result = await env.run();

    expect(result.outcomes[0]).toMatchObject({ name: 'bumpy', taken: 'disconnect', error: null });
    const { calls } = await env.calls();
    expect(calls.filter((c) => c.error === 'ThrottlingException')).toHaveLength(2);
    expect(calls.filter((c) => c.error === 'KMSInternalException')).toHaveLength(1);
  });

  it('makes no mutating call in plan mode and emits its decisions as dryRun events', async () => {
    await healthyCloudHsmStore('dry', { mode: 'plan' });
    await fail('dry', 'NETWORK_ERRORS');
    const before = (await mutatingCalls()).length;

    for (let i = 0; i < 3; i++) {
      await env.run();
      env.fake.advance(60);
    }

    expect((await mutatingCalls()).length).toBe(before);
    const storeEvents = (await reconcilerEvents()).filter((e) => e.DetailType !== 'Sweep Summary');
    expect(storeEvents.length).toBeGreaterThan(0);
    expect(storeEvents.every((e) => e.Detail.dryRun === true)).toBe(true);
    expect((await env.state('dry')).connectionState).toBe('FAILED');
  });

  it('issues each mutating call once when two runs reconcile one store concurrently', async () => {
    await healthyCloudHsmStore('contended');
    await fail('contended', 'NETWORK_ERRORS');
    const before = (await mutatingCalls()).length;

    await Promise.all([env.run({}, 'run-a'), env.run({ trigger: 'cloudtrail', only: { names: ['contended'] } }, 'run-b')]);
    env.fake.advance(10);
    await Promise.all([env.run({}, 'run-a'), env.run({}, 'run-b')]);

    const made = (await mutatingCalls()).slice(before).map((c) => c.operation);
    expect(made).toEqual(['DisconnectCustomKeyStore', 'ConnectCustomKeyStore']);
  });

  it('resumes a repair when the run that disconnected died before recording it', async () => {
    await healthyCloudHsmStore('crashy');
    await fail('crashy', 'NETWORK_ERRORS');
    // The dying run: its disconnect goes through, then the process is gone (the call never returns to it),
    // holding the lease until it expires and writing nothing more.
    const dying = env.deps('dying-run');
    let disconnected!: () => void;
    const reachedKms = new Promise<void>((resolve) => {
      disconnected = resolve;
    });
    const kms = dying.kms;
    dying.kms = {
      listStores: () => kms.listStores(),
      describeStore: (ref) => kms.describeStore(ref),
      connect: (storeId) => kms.connect(storeId),
      update: (storeId, update) => kms.update(storeId, update),
      probe: (target) => kms.probe(target),
      disconnect: async (storeId) => {
        await kms.disconnect(storeId);
        disconnected();
        return new Promise<void>(() => undefined);
      },
    };
    void reconcileScope(dying, { trigger: 'schedule' });
    await reachedKms;
    env.fake.advance(30);

    const blocked = await env.run();
    env.fake.advance(60);
    await sweepUntil(env, connected('crashy'));

    expect(blocked.outcomes[0]?.skipped).toBe('leased');
    const disconnects = (await mutatingCalls()).filter((c) => c.operation.endsWith('DisconnectCustomKeyStore'));
    expect(disconnects).toHaveLength(1);
  });

  it('backs off between failed attempts and escalates once after maxAttempts', async () => {
    await healthyCloudHsmStore('flaky', { maxAttempts: 2 });
    await fail('flaky', 'NETWORK_ERRORS');

    for (let i = 0; i < 30 && (await reconcilerEvents('Repair Escalated')).length === 0; i++) {
      await env.fake.admin('POST', '/_fake/stores/flaky/outcome', { errorCode: 'NETWORK_ERRORS' });
      await env.run();
      env.fake.advance(60);
    }
    for (let i = 0; i < 3; i++) {
      await env.run();
      env.fake.advance(600);
    }

    const connects = (await mutatingCalls()).filter((c) => c.operation.endsWith('ConnectCustomKeyStore'));
    const reconcilerConnects = connects.slice(1); // the first is the test's own setup connect
    expect(reconcilerConnects).toHaveLength(2);
    const gap = Date.parse(String(reconcilerConnects[1]?.time)) - Date.parse(String(reconcilerConnects[0]?.time));
    expect(gap).toBeGreaterThanOrEqual(2 * 60_000);
    expect(await reconcilerEvents('Repair Failed')).toHaveLength(2);
    expect(await reconcilerEvents('Repair Escalated')).toHaveLength(1);
  });
});

describe("a human's disconnect while the reconciler's own connect is CONNECTING (against the fake)", () => {
  /** The human at the console: a role of their own, never the reconciler's; CloudTrail names it. */
  const human = () => new KMSClient(env.fake.configFor({ roleName: 'oncall-alice' }));
  const HUMAN_ARN = 'arn:aws:sts::000000000000:assumed-role/oncall-alice/fake-session';

  /** A store DISCONNECTED and declared CONNECTED: the first sweep connects it (the fake keeps it CONNECTING for 60-120 s). */
  async function declaredDisconnected(type: 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE', name: string): Promise<string> {
    if (type === 'AWS_CLOUDHSM') {
      const store = await cloudHsmStore(env.fake, { name, password: PASSWORD_V1, secret: `cks/${name}-kmsuser` });
      await env.apply(cloudHsmEntry(store));
      return store.storeId;
    }
    const store = await xksStore(env.fake, { name, secret: true });
    await env.apply(xksEntry(store));
    return store.storeId;
  }

  /** The event handler, as its own role, given the fake's CloudTrail event of the human's DisconnectCustomKeyStore. */
  async function deliverCloudTrailDisconnect(): Promise<void> {
    const trail = (await env.fake.admin('GET', '/_fake/cloudtrail')).body.events as Array<{
      detail: { eventName: string; userIdentity: { arn: string } };
    }>;
    const event = trail.filter((e) => e.detail.eventName === 'DisconnectCustomKeyStore').at(-1);
    expect(event?.detail.userIdentity.arn).toBe(HUMAN_ARN);
    const onEvent = makeOnEvent((context) => singleScope(env.deps(context.awsRequestId, 'OnEventRole')));
    await onEvent(event, LAMBDA_CONTEXT);
  }

  /** `count` sweeps a minute apart, past the settle window. */
  async function sweepsAfter(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      env.fake.advance(60);
      await env.run();
    }
  }

  /** The store stayed DISCONNECTED, HELD, with our one connect and one `Manual Change Detected` naming `changedBy`; its status. */
  async function expectHeldOnce(name: string, changedBy: string | null) {
    expect((await env.state(name)).connectionState).toBe('DISCONNECTED');
    const connects = (await mutatingCalls()).filter((c) => c.operation.endsWith('ConnectCustomKeyStore') && !c.operation.startsWith('Dis'));
    expect(connects).toHaveLength(1);
    const manual = await reconcilerEvents('Manual Change Detected');
    expect(manual).toHaveLength(1);
    expect(manual[0]?.Detail).toMatchObject({ storeName: name, changedBy });
    expect(String(manual[0]?.Detail.reason)).toContain(`cks resume ${name}`);
    const { status } = await env.deps().state.load(name);
    expect(status?.phase).toBe('HELD');
    return status;
  }

  it.each(['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const)(
    '%s: no run saw CONNECTING; a sweep inside the settle window waits, the CloudTrail event holds it naming the human, and no sweep after reconnects',
    async (type) => {
      const name = `held-${type === 'AWS_CLOUDHSM' ? 'hsm' : 'xks'}`;
      const storeId = await declaredDisconnected(type, name);
      await env.run();
      expect(await env.state(name)).toEqual({ connectionState: 'CONNECTING', connectionErrorCode: null });

      env.fake.advance(5);
      await human().send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
      env.fake.advance(10);
      expect((await env.state(name)).connectionState).toBe('DISCONNECTED');
      // Inside the settle window, with nothing else known: KMS may still be catching up with our connect.
      await env.run();
      expect((await env.deps().state.load(name)).status).toMatchObject({ phase: 'CONNECTING', observedState: 'DISCONNECTED' });
      env.fake.advance(5);
      await deliverCloudTrailDisconnect();
      await sweepsAfter(4);

      const status = await expectHeldOnce(name, HUMAN_ARN);
      expect(status?.heldInputs?.manualChange).toMatchObject({ by: HUMAN_ARN, eventName: 'DisconnectCustomKeyStore' });
    },
  );

  it.each(['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const)(
    '%s: sweeps only, none saw CONNECTING and no CloudTrail event arrives: the sweep inside the settle window waits, the first after it holds',
    async (type) => {
      const name = `swept-${type === 'AWS_CLOUDHSM' ? 'hsm' : 'xks'}`;
      const storeId = await declaredDisconnected(type, name);
      await env.run();
      env.fake.advance(5);
      await human().send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
      env.fake.advance(10);
      await env.run();
      expect((await env.deps().state.load(name)).status).toMatchObject({ phase: 'CONNECTING', observedState: 'DISCONNECTED' });
      await sweepsAfter(4);

      await expectHeldOnce(name, null);
    },
  );

  it.each(['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const)(
    '%s: a sweep saw our connect CONNECTING; the next sweep inside the settle window holds it, and none after reconnects',
    async (type) => {
      const name = `seen-${type === 'AWS_CLOUDHSM' ? 'hsm' : 'xks'}`;
      const storeId = await declaredDisconnected(type, name);
      await env.run();
      env.fake.advance(10);
      await env.run();
      expect((await env.deps().state.load(name)).status).toMatchObject({ phase: 'CONNECTING', observedState: 'CONNECTING' });

      await human().send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
      env.fake.advance(10);
      await env.run();
      await sweepsAfter(3);

      // No CloudTrail event reached the reconciler: it cannot say who.
      await expectHeldOnce(name, null);
    },
  );
});

function stripManaged(desired: Record<string, unknown>): Record<string, unknown> {
  const { generation: _g, paused: _p, retryRequestedAt: _r, changedBy: _c, ...spec } = desired;
  return spec;
}

async function assertNoSecretLeaked(e: ReconcilerEnv): Promise<void> {
  const items = await e.clients.dynamo.send(
    new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'SCOPE#000000000000#us-east-1' } }),
  );
  const everything = JSON.stringify([e.logLines, await e.events(), items.Items, (await e.fake.admin('GET', '/_fake/calls')).body, e.fake.logs]);
  for (const secret of SECRETS) expect(everything).not.toContain(secret);
}
