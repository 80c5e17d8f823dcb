/**
 * What every seed runs on: the fake in this process (manual clock, port 0), the reconciler's real SDK
 * clients and adapters pointed at it, and an operator with their own clients. Built once and reset
 * between seeds (`POST /_fake/reset`), because starting SDK clients and the fake costs more than a seed.
 *
 * The table is the in-memory double (`InMemoryState`, held to the same contract as the DynamoDB
 * adapter), not DynamoDB in the fake: the table takes more than half of a seed's calls, each two HTTP
 * round trips (SDK → fake → dynalite), and a seed must cost about 100 ms.
 */
import { CloudHSMV2Client } from '@aws-sdk/client-cloudhsm-v2';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AwsClients } from '../../adapters/clients.js';
import { MAX_ATTEMPTS } from '../../adapters/mutating-calls.js';
import { type Config, loadConfig } from '../../config.js';
import { type LogSink, makeLogger } from '../../logger.js';
import type { Clock, ReconcileDeps } from '../../reconcile/ports.js';
import { buildDeps, LOCAL_ACCOUNT_ID } from '../../runtime/deps.js';
import { type FakeServer, startFake } from '../fake/server.js';
import { stackPolicies, stackTemplate } from '../iam/stack.js';
import { InMemoryState } from '../state/in-memory-state.js';
import { FakeAdmin } from './fake-admin.js';

/** The reconciler's role and the operator's, as CloudTrail in the fake names them. */
export const RECONCILER_ROLE = 'SweepRole';
const OPERATOR_ROLE = 'OperatorRole';

export interface Harness {
  fake: FakeServer;
  admin: FakeAdmin;
  /** The fake's clock, as the reconciler sees it: a sleep (the mutation token bucket's) lets fake time pass. */
  clock: Clock;
  /** The operator's clients: a human's KMS calls and secrets. */
  operator: { kms: KMSClient; secrets: SecretsManagerClient };
  /** The seed's table: the reconciler's state, and where operators write (desired items, pause, retry, approve). */
  table: InMemoryState;
  /** The reconciler's dependencies for one run, with its own lease owner. */
  deps(owner: string): ReconcileDeps;
  /** How long a run's lease lasts (the product's default). */
  leaseTtlMs: number;
  /** Where the reconciler's log lines go (the seed's monitor). */
  logSink: LogSink;
  /** An empty world and table whose randomness comes from `seed`. */
  reset(seed: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * With `iam`, the reconciler calls as the sweep's role under the stack's own policies (the table is
 * the simulator's own, so DynamoDB is not among them). Off by default: enforcement costs the
 * simulator about a quarter of its speed, so a test samples seeds with it on instead.
 */
export async function startHarness(options: { iam?: boolean } = {}): Promise<Harness> {
  const fake = await startFake({ port: 0, clock: 'manual' });
  const config = loadConfig({}, { tableName: 'cks-sim', region: 'us-east-1', endpoint: fake.url, eventBusName: 'cks-sim', logLevel: 'INFO' });
  const world = {
    accountId: LOCAL_ACCOUNT_ID,
    region: config.region,
    names: { StoresTable: config.tableName, ReconcilerEventBus: config.eventBusName },
  };
  const sweepPolicies = options.iam ? stackPolicies(await stackTemplate(), world).roles.SweepRole : null;
  const reconciler = reconcilerClients(config);
  const operator = clientOptions(config, OPERATOR_ROLE);
  const clock: Clock = {
    now: () => fake.now(),
    sleep: async (ms) => fake.advance(ms / 1000),
  };
  const admin = new FakeAdmin(fake.url);
  const scope = { accountId: LOCAL_ACCOUNT_ID, region: config.region };
  // One logger for every run (building one costs more than a run's log lines); the sink is the seed's.
  const logger = makeLogger(config, {}, (line) => harness.logSink(line));
  const harness: Harness = {
    fake,
    admin,
    clock,
    operator: { kms: new KMSClient(operator), secrets: new SecretsManagerClient(operator) },
    table: new InMemoryState(scope),
    logSink: () => undefined,
    leaseTtlMs: config.leaseTtlMs,
    deps: (owner) => ({ ...buildDeps(config, { accountId: LOCAL_ACCOUNT_ID, owner, clock, clients: reconciler, logger }), state: harness.table }),
    async reset(seed) {
      await admin.reset(seed);
      if (sweepPolicies) await admin.createRole({ accountId: LOCAL_ACCOUNT_ID, roleName: RECONCILER_ROLE, policies: sweepPolicies });
      harness.table = new InMemoryState(scope);
    },
    async close() {
      admin.close();
      await fake.close();
    },
  };
  return harness;
}

/**
 * SDK client options like the product's, with the SDK's retries made instant: their real delays,
 * adaptive rate limit and retry quota would make a seed depend on the wall clock and on the seeds
 * before it. The session token names the caller's role in the fake's CloudTrail. Requests carry the
 * SigV4 credential scope, which is all the fake reads of them, without the signature it never checks:
 * signing costs a third of a call's time.
 */
function clientOptions(config: Config, role: string) {
  const credentials = { accessKeyId: 'simulator', secretAccessKey: 'simulator', sessionToken: role };
  return {
    region: config.region,
    endpoint: config.endpoint,
    credentials,
    retryStrategy: instantRetries(),
    httpAuthSchemes: [
      {
        schemeId: 'aws.auth#sigv4',
        identityProvider: () => async () => ({ ...credentials, expiration: new Date('2100-01-01T00:00:00Z') }),
        signer: {
          sign: async <R extends { headers: Record<string, string> }>(request: R): Promise<R> => {
            request.headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/20260101/${config.region}/service/aws4_request, SignedHeaders=host, Signature=unsigned`;
            request.headers['x-amz-security-token'] = role;
            return request;
          },
        },
      },
    ],
  };
}

/** The reconciler's clients (its DynamoDB client goes unused: the table is the simulator's). */
function reconcilerClients(config: Config): AwsClients {
  const options = clientOptions(config, RECONCILER_ROLE);
  return {
    kms: new KMSClient(options),
    cloudHsm: new CloudHSMV2Client(options),
    secrets: new SecretsManagerClient(options),
    cloudWatch: new CloudWatchClient(options),
    eventBridge: new EventBridgeClient(options),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(options), { marshallOptions: { removeUndefinedValues: true } }),
    sts: new STSClient(options),
  };
}

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

function instantRetries() {
  const token = (count: number): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => 0 });
  return {
    mode: 'standard',
    acquireInitialRetryToken: async (): Promise<RetryToken> => token(0),
    refreshRetryTokenForRetry: async (previous: RetryToken, info: { errorType: string }): Promise<RetryToken> => {
      const count = previous.getRetryCount() + 1;
      if (count >= MAX_ATTEMPTS || info.errorType === 'CLIENT_ERROR') throw new Error('no attempt left');
      return token(count);
    },
    recordSuccess: (): void => undefined,
  };
}
