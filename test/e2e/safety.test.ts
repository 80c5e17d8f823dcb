/**
 * Safe by design, as an operator meets it: scripted only with `cks` (in-process, through
 * `run(argv, io)`), the AWS CLI v2 (`/usr/bin/aws --endpoint-url`) and the fake's admin API.
 * A human's disconnect is honoured; a run of wrong passwords cannot lock kmsuser out; a new XKS proxy
 * waits for a second person; two entries for one store are refused and neither acts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeAdmin } from '../../shared/dev/demo/admin.js';
import type { PrincipalKeys } from '../../shared/dev/iam/stack.js';
import { type CksRun, cksAsDeployed } from '../helpers/cks.js';
import { fakeForFile } from '../helpers/fake.js';
import { STACK_HOME } from '../helpers/stack.js';
import { cloudHsmEntry, cloudHsmStore, storesFiles, storesYaml, XKS_CREDENTIAL, xksEntry, xksStore } from '../helpers/world.js';

const TABLE = 'cks-safety';
const fake = await fakeForFile();
const dir = mkdtempSync(join(tmpdir(), 'cks-safety-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// `init` as an administrator, `sweep` as SweepRole, the rest as an operator holding the OperatorPolicy.
const cksAs = cksAsDeployed(fake, { CKS_TABLE: TABLE, HOME: dir, PATH: process.env.PATH ?? '' });

/** Two people, each an IAM user holding the OperatorPolicy. */
const WRITER = 'writer';
const APPROVER = 'approver';

/** `cks` as the operator `name` (the writer unless said). */
function cks(args: string[], name = WRITER): Promise<CksRun> {
  return cksAs.as(name)(args);
}

/**
 * The human at the AWS CLI: a key custodian who may look at and disconnect key stores and write the
 * deployment's secrets, and nothing else (no table, no cluster changes).
 */
const CUSTODIAN_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: ['kms:DescribeCustomKeyStores', 'kms:DisconnectCustomKeyStore'], Resource: '*' },
    {
      Effect: 'Allow',
      Action: ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue'],
      Resource: `arn:aws:secretsmanager:${STACK_HOME.region}:${STACK_HOME.accountId}:secret:cks/*`,
    },
  ],
};
let custodian: PrincipalKeys;
beforeEach(async () => {
  custodian = await new FakeAdmin(fake.url).createPrincipal({
    accountId: STACK_HOME.accountId,
    userName: 'key-custodian',
    policies: [CUSTODIAN_POLICY],
  });
});

function env(keys: PrincipalKeys): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    AWS_ENDPOINT_URL: fake.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_PAGER: '',
  };
}

/** The AWS CLI v2 against the fake (which answers from this process: never a synchronous spawn), as the key custodian unless `as` says; its JSON output parsed. */
async function aws(...args: string[]): Promise<Record<string, unknown>> {
  return awsAs(custodian, ...args);
}

async function awsAs(keys: PrincipalKeys, ...args: string[]): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('/usr/bin/aws', [...args, '--endpoint-url', fake.url, '--output', 'json'], { env: env(keys) });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, stdout: out, stderr: err }));
  });
  if (code !== 0) throw new Error(`aws ${args.join(' ')} exited ${code}: ${stderr}`);
  return stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>);
}

async function admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fake.admin<T>(method, path, body);
  if (response.status !== 200) throw new Error(`${method} ${path}: ${JSON.stringify(response.body)}`);
  return response.body;
}

const applyFile = storesFiles(dir);

/** `cks sweep` `times` times, the fake's clock moved `seconds` between them. */
async function sweeps(times: number, seconds: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const sweep = await cks(['sweep']);
    expect(sweep.code, sweep.stderr).toBe(0);
    fake.advance(seconds);
  }
}

async function store(name: string): Promise<Record<string, unknown>> {
  const described = await aws('kms', 'describe-custom-key-stores', '--custom-key-store-name', name);
  return (described.CustomKeyStores as Array<Record<string, unknown>>)[0]!;
}

/** The reconciler's events of one type about one store, as EventBridge received them. */
async function events(type: string, storeName: string): Promise<Array<Record<string, unknown>>> {
  const received = await admin<Array<{ DetailType: string; Detail: Record<string, unknown> }>>('GET', '/_fake/events');
  return received.filter((e) => e.DetailType === type && e.Detail.storeName === storeName).map((e) => e.Detail);
}

/** Operations the fake answered, in order (e.g. `UpdateCustomKeyStore`). */
async function operations(): Promise<string[]> {
  return (await admin<{ calls: Array<{ operation: string; error?: string }> }>('GET', '/_fake/calls')).calls
    .filter((c) => c.error === undefined)
    .map((c) => c.operation);
}

describe('humans stay in charge (against the fake, with cks, the AWS CLI and the admin API)', () => {
  it('holds a store an operator disconnected with the AWS CLI, says so once, and reconnects it after cks resume', async () => {
    const reports = await cloudHsmStore(fake, { name: 'reports-hsm', connected: true, secret: true });
    expect((await cks(['init'])).code).toBe(0);
    expect((await cks(['apply', '-f', applyFile(storesYaml(cloudHsmEntry(reports)), 'a.yaml')])).code).toBe(0);
    await sweeps(1, 60);

    await aws('kms', 'disconnect-custom-key-store', '--custom-key-store-id', String((await store('reports-hsm')).CustomKeyStoreId));
    fake.advance(10);
    await sweeps(4, 120);

    expect((await store('reports-hsm')).ConnectionState).toBe('DISCONNECTED');
    const manual = await events('Manual Change Detected', 'reports-hsm');
    expect(manual).toHaveLength(1);
    expect(String(manual[0]!.reason)).toContain('cks resume reports-hsm');
    const status = await cks(['status', 'reports-hsm']);
    expect(status.stdout).toMatch(/HELD/);

    expect((await cks(['resume', 'reports-hsm'])).code).toBe(0);
    await sweeps(4, 130);
    expect((await store('reports-hsm')).ConnectionState).toBe('CONNECTED');
    expect(await events('Manual Change Detected', 'reports-hsm')).toHaveLength(1);
  });

  it('leaves kmsuser with at most 3 failed logins and not locked out through ten rounds of wrong passwords, new versions and new secret ARNs', async () => {
    const billing = await cloudHsmStore(fake, { name: 'billing-hsm', connected: true, secret: true });
    const { clusterId, secretArn } = billing;
    expect((await cks(['init'])).code).toBe(0);
    expect((await cks(['apply', '-f', applyFile(storesYaml(cloudHsmEntry(billing)), 'b.yaml')])).code).toBe(0);
    await sweeps(1, 60);
    // A human changes the kmsuser password in the cluster; KMS's next login fails.
    await admin('PATCH', `/_fake/clusters/${clusterId}`, { kmsuserPassword: 'the-Right-Passw0rd' });
    await admin('POST', '/_fake/stores/billing-hsm/fail', { errorCode: 'INVALID_CREDENTIALS' });

    for (let round = 1; round <= 10; round++) {
      if (round % 2 === 0) {
        // A new secret ARN with a wrong password, applied (a new generation).
        const next = await aws(
          'secretsmanager',
          'create-secret',
          '--name',
          `cks/billing-kmsuser-${round}`,
          '--secret-string',
          `wrong-Passw0rd-${round}`,
        );
        const applied = await cks([
          'apply',
          '-f',
          applyFile(storesYaml(cloudHsmEntry({ ...billing, secretArn: String(next.ARN) })), `b${round}.yaml`),
        ]);
        expect(applied.code, applied.stderr).toBe(0);
      } else {
        // A new version of the current secret, also wrong.
        await aws('secretsmanager', 'put-secret-value', '--secret-id', secretArn, '--secret-string', `wrong-Passw0rd-${round}`);
      }
      await sweeps(6, 130);
    }

    const state = await admin<{ clusters: Array<{ clusterId: string; kmsuser?: { failedLogins: number; lockedOut: boolean } }> }>(
      'GET',
      '/_fake/state',
    );
    const kmsuser = JSON.stringify(state).match(/"failedLogins":(\d+)/)?.[1];
    expect(Number(kmsuser)).toBeLessThanOrEqual(3);
    expect(JSON.stringify(state)).not.toMatch(/"lockedOut":true/);
    const escalations = await events('Repair Escalated', 'billing-hsm');
    expect(escalations.some((e) => String(e.runbook).includes('cks retry'))).toBe(true);
  });

  it('applies a new XKS uriEndpoint only after a second person runs cks approve; its proposer (who applied it) cannot approve it', async () => {
    // A connected external key store whose proxy the operators move to a new endpoint.
    const xks = await xksStore(fake, { name: 'partner-xks', host: 'old-proxy.example.com', connected: true, secret: true });
    await admin('POST', '/_fake/xks-proxies', {
      uriEndpoint: 'https://new-proxy.example.com',
      uriPath: xks.uriPath,
      accessKeyId: XKS_CREDENTIAL.AccessKeyId,
      secretAccessKey: XKS_CREDENTIAL.RawSecretAccessKey,
    });
    const entry = (uriEndpoint: string) => storesYaml(xksEntry({ ...xks, uriEndpoint }));
    expect((await cks(['init'])).code).toBe(0);
    expect((await cks(['apply', '-f', applyFile(entry('https://old-proxy.example.com'), 'x1.yaml')])).code).toBe(0);
    await sweeps(1, 60);

    // The writer moves the proxy; the store then fails to reach the old one, so a repair would apply it.
    expect((await cks(['apply', '-f', applyFile(entry('https://new-proxy.example.com'), 'x2.yaml')], WRITER)).code).toBe(0);
    await admin('POST', '/_fake/stores/partner-xks/fail', { errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    await sweeps(3, 120);
    const updates = async () => (await operations()).filter((operation) => operation.endsWith('UpdateCustomKeyStore'));
    expect(await updates()).toEqual([]);
    expect(await events('Approval Required', 'partner-xks')).toHaveLength(1);

    const refused = await cks(['approve', 'partner-xks'], WRITER);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/already signed.*a second person must sign it/i);
    const approved = await cks(['approve', 'partner-xks'], APPROVER);
    expect(approved.code, approved.stderr).toBe(0);

    await sweeps(6, 120);
    expect((await updates()).length).toBeGreaterThan(0);
    const after = await store('partner-xks');
    expect((after.XksProxyConfiguration as Record<string, unknown>).UriEndpoint).toBe('https://new-proxy.example.com');
    expect(after.ConnectionState).toBe('CONNECTED');
  });

  it('rejects two entries for one store at apply, naming both; written straight into the table, neither acts', async () => {
    const orders = await cloudHsmStore(fake, { name: 'orders-hsm', connected: true, secret: true });
    const { clusterId, secretArn } = orders;
    const id = String((await store('orders-hsm')).CustomKeyStoreId);
    expect((await cks(['init'])).code).toBe(0);
    const twice = storesYaml(cloudHsmEntry(orders), cloudHsmEntry({ ...orders, name: 'orders-by-id' }, { id }));
    const rejected = await cks(['apply', '-f', applyFile(twice, 'd.yaml')]);
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toContain('orders-hsm');
    expect(rejected.stderr).toContain('orders-by-id');

    // Written around the CLI, as IaC might: both items land; the store has FAILED meanwhile.
    for (const [name, extra] of [
      ['orders-hsm', {}],
      ['orders-by-id', { id: { S: id } }],
    ] as const) {
      // By a pipeline holding the OperatorPolicy.
      await awsAs(
        await cksAs.keys(),
        'dynamodb',
        'put-item',
        '--table-name',
        TABLE,
        '--item',
        JSON.stringify({
          pk: { S: 'DESIRED#000000000000#us-east-1' },
          sk: { S: `STORE#${name}#DESIRED` },
          name: { S: name },
          desiredState: { S: 'CONNECTED' },
          cloudHsmClusterId: { S: clusterId },
          keyStorePasswordSecretArn: { S: secretArn },
          mode: { S: 'enforce' },
          generation: { N: '1' },
          ...extra,
        }),
      );
    }
    await admin('POST', '/_fake/stores/orders-hsm/fail', { errorCode: 'NETWORK_ERRORS' });
    await sweeps(3, 120);

    const mutating = (await operations()).filter((operation) => /(Connect|Disconnect|Update)CustomKeyStore$/.test(operation));
    // Only the AWS CLI's own connect when the store was made.
    expect(mutating).toHaveLength(1);
    expect(mutating[0]).toMatch(/ConnectCustomKeyStore$/);
    expect((await events('Desired State Invalid', 'orders-hsm')).length).toBe(1);
    expect((await events('Desired State Invalid', 'orders-by-id')).length).toBe(1);
  });
});
