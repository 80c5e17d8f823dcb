/**
 * The reconciler against the fake, over real HTTP with the real SDK clients: a manual-clock fake,
 * the table created with `ensureTable`, and the core's dependencies whose clock is the fake's.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type AwsClients, makeAwsClients } from '../../shared/adapters/clients.js';
import { ensureTable } from '../../shared/adapters/dynamodb-store.js';
import { loadConfig } from '../../shared/config.js';
import type { DesiredStoreSpec } from '../../shared/domain/desired-schema.js';
import { desiredSpecSchema } from '../../shared/domain/desired-schema.js';
import { makeLogger } from '../../shared/logger.js';
import type { ReconcileDeps } from '../../shared/reconcile/ports.js';
import { type ReconcileRequest, type ReconcileResult, reconcileScope } from '../../shared/reconcile/reconcile-scope.js';
import { buildDeps, LOCAL_ACCOUNT_ID } from '../../shared/runtime/deps.js';
import { startTestFake, type TestFake } from './fake.js';
import { cloudHsmEntry, cloudHsmStore, secret } from './world.js';

export const TABLE = 'cks-it-stores';
/** The reconciler's role in the fake's CloudTrail events. */
export const RECONCILER_ROLE = 'SweepRole';
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
  /** The operator's clients (not the reconciler's). */
  kms: KMSClient;
  secrets: SecretsManagerClient;
  /** The reconciler's own clients and dependencies. */
  clients: AwsClients;
  deps(owner?: string): ReconcileDeps;
  run(request?: Partial<ReconcileRequest>, owner?: string): Promise<ReconcileResult>;
  apply(...specs: Array<Record<string, unknown>>): Promise<void>;
  createSecret(name: string, value: string): Promise<string>;
  putSecretVersion(arn: string, value: string): Promise<void>;
  state(name: string): Promise<{ connectionState: string; connectionErrorCode: string | null }>;
  events(): Promise<FakeEvent[]>;
  calls(): Promise<{
    counts: Record<string, number>;
    calls: Array<{ operation: string; service: string; time: string | number; error?: string; target?: string }>;
  }>;
  /** Every JSON log line the reconciler wrote. */
  logLines: string[];
  close(): Promise<void>;
}

export async function startReconcilerEnv(options: { storeQuota?: number } = {}): Promise<ReconcilerEnv> {
  const fake = await startTestFake(options.storeQuota ? { storeQuota: options.storeQuota } : {});
  const config = loadConfig({}, { tableName: TABLE, region: 'us-east-1', endpoint: fake.url, eventBusName: 'cks-it' });
  const clients = makeAwsClients(config, { accessKeyId: 'reconciler', secretAccessKey: 'fake', sessionToken: RECONCILER_ROLE });
  await ensureTable(new DynamoDBClient(fake.config), TABLE);
  const logLines: string[] = [];
  const logger = makeLogger({ logLevel: 'DEBUG' }, {}, (line) => logLines.push(line));
  const clock = { now: () => fake.now(), sleep: async () => undefined };
  const kms = new KMSClient(fake.config);
  const secrets = new SecretsManagerClient(fake.config);
  const deps = (owner = 'it-run') => buildDeps(config, { accountId: LOCAL_ACCOUNT_ID, owner, clock, clients, logger });
  const base = deps();

  return {
    fake,
    kms,
    secrets,
    clients,
    deps,
    logLines,
    run: (request = {}, owner) => reconcileScope(owner ? deps(owner) : base, { trigger: 'schedule', ...request }),
    async apply(...specs) {
      const parsed = specs.map((s) => desiredSpecSchema.parse(s) as DesiredStoreSpec);
      await base.state.putDesired(parsed, fake.now());
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
