/**
 * The reconciler against the fake, over real HTTP with the real SDK clients: a manual-clock fake,
 * the table created with `ensureTable` (by an administrator, as `cks init` is run), the stack's IAM
 * deployed (see `stack.ts`), and the core's dependencies whose clock is the fake's, each function's
 * calls made as its role under the stack's policies and desired items written as an operator holding
 * the OperatorPolicy.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConnectCustomKeyStoreCommand, DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type AwsClients, makeAwsClients } from '../../shared/adapters/clients.js';
import { ensureTable } from '../../shared/adapters/dynamodb-store.js';
import { loadConfig } from '../../shared/config.js';
import type { FunctionRole, PrincipalKeys } from '../../shared/dev/iam/stack.js';
import type { DesiredStoreSpec } from '../../shared/domain/desired-schema.js';
import { desiredSpecSchema } from '../../shared/domain/desired-schema.js';
import { mapConcurrently } from '../../shared/fleet/reconcile-fleet.js';
import { makeLogger } from '../../shared/logger.js';
import type { ReconcileDeps } from '../../shared/reconcile/ports.js';
import { type ReconcileRequest, type ReconcileResult, reconcileScope } from '../../shared/reconcile/reconcile-scope.js';
import { buildDeps, LOCAL_ACCOUNT_ID } from '../../shared/runtime/deps.js';
import { startTestFake, type TestFake } from './fake.js';
import { deployStack, roleCredentials } from './stack.js';
import { cloudHsmEntry, cloudHsmStore, secret, XKS_CREDENTIAL, xksStore } from './world.js';

export const TABLE = 'cks-it-stores';
/** The reconciler's role in the fake's CloudTrail events. */
export const RECONCILER_ROLE: FunctionRole = 'SweepRole';
/** The Lambda context handlers are invoked with. */
export const LAMBDA_CONTEXT = {
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:cks-reconciler-dev-sweep',
};

export interface FakeEvent {
  DetailType: string;
  Source: string;
  Detail: Record<string, unknown>;
}

export interface ReconcilerEnv {
  fake: TestFake;
  /** An administrator's clients, for setting the world up and for what a human does by hand (not the reconciler's). */
  kms: KMSClient;
  secrets: SecretsManagerClient;
  /** Keys of an operator holding the stack's OperatorPolicy (what `cks` runs as). */
  operator: PrincipalKeys;
  /** The sweep's own clients (as SweepRole). */
  clients: AwsClients;
  /** The reconciler's dependencies, its calls made as `role` (the sweep's unless said). */
  deps(owner?: string, role?: FunctionRole): ReconcileDeps;
  run(request?: Partial<ReconcileRequest>, owner?: string): Promise<ReconcileResult>;
  apply(...specs: Array<Record<string, unknown>>): Promise<void>;
  createSecret(name: string, value: string): Promise<string>;
  putSecretVersion(arn: string, value: string): Promise<void>;
  state(name: string): Promise<{ connectionState: string; connectionErrorCode: string | null }>;
  events(): Promise<FakeEvent[]>;
  calls(): Promise<{
    counts: Record<string, number>;
    calls: Array<{ operation: string; service: string; time: string | number; error?: string; target?: string; principal: string; denied?: true }>;
  }>;
  /** The calls IAM refused so far, each as `principal service.operation`. */
  denials(): Promise<string[]>;
  /** Every JSON log line the reconciler wrote. */
  logLines: string[];
  close(): Promise<void>;
}

export async function startReconcilerEnv(options: { storeQuota?: number } = {}): Promise<ReconcilerEnv> {
  const fake = await startTestFake(options.storeQuota ? { storeQuota: options.storeQuota } : {});
  const config = loadConfig({}, { tableName: TABLE, region: 'us-east-1', endpoint: fake.url, eventBusName: 'cks-it' });
  await ensureTable(new DynamoDBClient(fake.config), TABLE);
  const operator = await deployStack(fake, { table: TABLE, eventBus: config.eventBusName });
  const clients = makeAwsClients(config, roleCredentials(RECONCILER_ROLE));
  const logLines: string[] = [];
  const logger = makeLogger({ logLevel: 'DEBUG' }, {}, (line) => logLines.push(line));
  const clock = { now: () => fake.now(), sleep: async () => undefined };
  const kms = new KMSClient(fake.config);
  const secrets = new SecretsManagerClient(fake.config);
  const clientsOf = (role: FunctionRole) => (role === RECONCILER_ROLE ? clients : makeAwsClients(config, roleCredentials(role)));
  const deps = (owner = 'it-run', role: FunctionRole = RECONCILER_ROLE) =>
    buildDeps(config, { accountId: LOCAL_ACCOUNT_ID, owner, clock, clients: clientsOf(role), logger });
  const base = deps();
  const operatorState = buildDeps(config, {
    accountId: LOCAL_ACCOUNT_ID,
    owner: 'operator',
    clock,
    clients: makeAwsClients(config, operator),
    logger,
  }).state;

  return {
    fake,
    kms,
    secrets,
    operator,
    clients,
    deps,
    logLines,
    run: (request = {}, owner) => reconcileScope(owner ? deps(owner) : base, { trigger: 'schedule', ...request }),
    async apply(...specs) {
      const parsed = specs.map((s) => desiredSpecSchema.parse(s) as DesiredStoreSpec);
      await operatorState.putDesired(parsed, fake.now());
    },
    createSecret: (name, value) => secret(fake, { name, value }),
    async putSecretVersion(arn, value) {
      await secrets.send(new PutSecretValueCommand({ SecretId: arn, SecretString: value }));
    },
    async state(name) {
      const out = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: name }));
      const store = out.CustomKeyStores![0]!;
      return { connectionState: store.ConnectionState!, connectionErrorCode: store.ConnectionErrorCode ?? null };
    },
    async events() {
      return (await fake.admin<FakeEvent[]>('GET', '/_fake/events')).body;
    },
    async calls() {
      return (await fake.admin('GET', '/_fake/calls')).body;
    },
    async denials() {
      const { calls } = (
        await fake.admin<{ calls: Array<{ principal: string; service: string; operation: string; denied?: true }> }>('GET', '/_fake/calls')
      ).body;
      return calls.filter((call) => call.denied).map((call) => `${call.principal} ${call.service}.${call.operation}`);
    },
    close: () => fake.close(),
  };
}

/**
 * Sweeps, then moves fake time on, until `done` holds or `maxRuns` sweeps have run. Returns the
 * number of sweeps it took. Each step is one scheduled run, as in production.
 */
export async function sweepUntil(
  env: ReconcilerEnv,
  done: () => Promise<boolean>,
  options: { stepSeconds?: number; maxRuns?: number } = {},
): Promise<number> {
  const { stepSeconds = 60, maxRuns = 40 } = options;
  for (let run = 1; run <= maxRuns; run++) {
    await env.run();
    if (await done()) return run;
    env.fake.advance(stepSeconds);
  }
  throw new Error(`not done after ${maxRuns} sweeps`);
}

/**
 * A CloudHSM store that was CONNECTED, declared CONNECTED in enforce mode with its password secret,
 * and has just failed with NETWORK_ERRORS (no sweep has seen it yet). Returns its id.
 */
export async function failedCloudHsmStore(env: ReconcilerEnv, name: string): Promise<string> {
  const store = await cloudHsmStore(env.fake, { name, connected: true, secret: true });
  await env.apply(cloudHsmEntry(store));
  await env.fake.admin('POST', `/_fake/stores/${name}/fail`, { errorCode: 'NETWORK_ERRORS' });
  return store.storeId;
}

/**
 * `count` CONNECTED external key stores declared CONNECTED (one credential secret), and a first pass
 * that baselines every status: a fleet whose next pass is healthy. Stores are made 25 at a time.
 */
export async function startHealthyXksFleet(count: number): Promise<ReconcilerEnv> {
  const env = await startReconcilerEnv({ storeQuota: count });
  const secretArn = await env.createSecret(
    'cks/shared-xks',
    JSON.stringify({ accessKeyId: XKS_CREDENTIAL.AccessKeyId, secretAccessKey: XKS_CREDENTIAL.RawSecretAccessKey }),
  );
  const names = Array.from({ length: count }, (_, i) => `xks-${String(i).padStart(4, '0')}`);
  const specs = await mapConcurrently(names, 25, async (name) => {
    const { storeId, uriEndpoint, uriPath } = await xksStore(env.fake, { name });
    await env.kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    return {
      name,
      type: 'EXTERNAL_KEY_STORE',
      desiredState: 'CONNECTED',
      xksProxy: { uriEndpoint, uriPath, connectivity: 'PUBLIC_ENDPOINT', credentialSecretArn: secretArn },
    };
  });
  env.fake.advance(60);
  await env.apply(...specs);
  await env.run();
  return env;
}

/** The calls one pass makes, by `Service.Operation`, and how many stores it left unchanged. */
export async function callsOfOnePass(env: ReconcilerEnv): Promise<{ delta: Record<string, number>; unchanged: number }> {
  const { counts: before } = await env.calls();
  const result = await env.run();
  const { counts: after } = await env.calls();
  const delta = Object.fromEntries(Object.entries(after).flatMap(([op, n]) => (n - (before[op] ?? 0) > 0 ? [[op, n - (before[op] ?? 0)]] : [])));
  return { delta, unchanged: result.outcomes.filter((o) => o.skipped === 'unchanged').length };
}
