/**
 * `serverless invoke local` runs the sweep function from serverless.yml (bundled by serverless-esbuild,
 * literal environment, no AWS credentials) against the fake, as a developer would from a laptop.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConnectCustomKeyStoreCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeAwsClients } from '../../shared/adapters/clients.js';
import { DynamoStateAdapter, ensureTable } from '../../shared/adapters/dynamodb-store.js';
import type { FunctionRole, PrincipalKeys } from '../../shared/dev/iam/stack.js';
import type { DesiredStoreSpec } from '../../shared/domain/desired-schema.js';
import { desiredSpecSchema } from '../../shared/domain/desired-schema.js';
import { startTestFake, type TestFake } from '../helpers/fake.js';
import { deployStack, roleCredentials } from '../helpers/stack.js';
import { cloudHsmStore } from '../helpers/world.js';

const exec = promisify(execFile);
/** provider.environment.CKS_TABLE of serverless.yml for stage `e2e`. */
const TABLE = 'cks-reconciler-e2e-stores';

/** provider.environment.CKS_EVENT_BUS of serverless.yml for stage `e2e`. */
const EVENT_BUS = 'cks-reconciler-e2e';

/** provider.environment.CKS_FOLLOW_UP_QUEUE of serverless.yml for stage `e2e`. */
const FOLLOW_UP_QUEUE = 'cks-reconciler-e2e-follow-ups';

let fake: TestFake;
let home: string;
let operator: PrincipalKeys;

beforeAll(async () => {
  fake = await startTestFake();
  home = await mkdtemp(join(tmpdir(), 'cks-sls-home-'));
  // The table by an administrator (as `cks init` is run); the stack's IAM as deployed.
  await ensureTable(new DynamoDBClient(fake.config), TABLE);
  await new SQSClient(fake.config).send(new CreateQueueCommand({ QueueName: FOLLOW_UP_QUEUE }));
  operator = await deployStack(fake, { table: TABLE, eventBus: EVENT_BUS, followUpQueue: FOLLOW_UP_QUEUE });
});

afterEach(async () => {
  // Each function runs as its role under the stack's policies, and none of its calls is refused.
  const { calls } = (
    await fake.admin<{ calls: Array<{ denied?: true; principal: string; service: string; operation: string }> }>('GET', '/_fake/calls')
  ).body;
  expect(
    calls.filter((call) => call.denied).map((call) => `${call.principal} ${call.service}.${call.operation}`),
    'calls the stack’s policies refused',
  ).toEqual([]);
});

afterAll(async () => {
  await fake.close();
  await rm(home, { recursive: true, force: true });
});

/**
 * Runs `serverless invoke local -f <fn>` with only the fake's endpoint and credentials of a session of
 * the function's role. The event always goes in `--data`: without it, invoke local waits to read one
 * from a piped stdin.
 */
async function invokeLocal(fn: string, role: FunctionRole, data: unknown): Promise<Record<string, unknown>> {
  const credentials = roleCredentials(role);
  const args = ['serverless', 'invoke', 'local', '-f', fn, '--stage', 'e2e', '-e', 'CKS_ACCOUNT_ID=000000000000', '--data', JSON.stringify(data)];
  const { stdout } = await exec('npx', args, {
    timeout: 120_000,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      SLS_TELEMETRY_DISABLED: '1',
      AWS_ENDPOINT_URL: fake.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  });
  // The handler's result is the last pretty-printed JSON object; log lines before it are one-line JSON.
  const start = stdout.lastIndexOf('\n{\n');
  if (start < 0) throw new Error(`no handler result in:\n${stdout}`);
  return JSON.parse(stdout.slice(start + 1));
}

describe('serverless invoke local', () => {
  it('runs the sweep function against the fake and starts repairing a FAILED store', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'payments', password: 'kmsuser-Passw0rd' });
    await new KMSClient(fake.config).send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(120);
    const { ARN } = await new SecretsManagerClient(fake.config).send(
      new CreateSecretCommand({ Name: 'cks/payments', SecretString: 'kmsuser-Passw0rd' }),
    );
    // Declared as `cks apply` declares it, by an operator holding the OperatorPolicy.
    const state = new DynamoStateAdapter(makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, operator).dynamo, TABLE, {
      accountId: '000000000000',
      region: 'us-east-1',
    });
    const spec = desiredSpecSchema.parse({
      name: 'payments',
      desiredState: 'CONNECTED',
      cloudHsmClusterId: clusterId,
      keyStorePasswordSecretArn: ARN,
      mode: 'enforce',
    });
    await state.putDesired([spec as DesiredStoreSpec], fake.now());
    await fake.admin('POST', '/_fake/stores/payments/fail', { errorCode: 'NETWORK_ERRORS' });

    const result = await invokeLocal('sweep', 'SweepRole', { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });

    expect(result).toMatchObject({ trigger: 'schedule', stores: [{ name: 'payments', action: 'disconnect' }] });
    const { counts } = (await fake.admin('GET', '/_fake/calls')).body as { counts: Record<string, number> };
    expect(counts['KMS.DisconnectCustomKeyStore']).toBe(1);
  }, 180_000);

  it('runs the change function on a stream record of the desired-state table', async () => {
    const result = await invokeLocal('onChange', 'OnChangeRole', {
      Records: [{ eventName: 'MODIFY', dynamodb: { Keys: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: 'STORE#payments#DESIRED' } } } }],
    });

    expect(result).toMatchObject({ trigger: 'stream', stores: [{ name: 'payments' }] });
  }, 180_000);
});
