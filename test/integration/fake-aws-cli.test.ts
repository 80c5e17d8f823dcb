import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';
import { xksStore } from '../helpers/world.js';

// The real AWS CLI v2 (Debian's 2.9.19). The `aws` on PATH may be a v1: always call /usr/bin/aws.
const AWS = '/usr/bin/aws';

const fake = await fakeForFile();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fake-aws-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI asynchronously: the fake runs in this process and must keep serving meanwhile. */
function aws(...args: string[]): Promise<CliResult> {
  const env = {
    ...process.env,
    AWS_PAGER: '',
    AWS_ACCESS_KEY_ID: '000000000000',
    AWS_SECRET_ACCESS_KEY: 'fake-secret-access-key',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  return new Promise((resolve) => {
    execFile(AWS, [...args, '--endpoint-url', fake.url, '--output', 'json'], { env }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

// biome-ignore lint/suspicious/noExplicitAny: the AWS CLI's JSON output, of whatever shape each command prints
async function json(...args: string[]): Promise<any> {
  const result = await aws(...args);
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return result.stdout.trim() === '' ? undefined : JSON.parse(result.stdout);
}

/** A cluster (admin API) and its trust anchor written to a file, with CRLF line endings as on Windows. */
async function clusterWithAnchorFile(): Promise<{ clusterId: string; anchorFile: string }> {
  const { clusterId, trustAnchorCertificate } = (await fake.admin('POST', '/_fake/clusters', { kmsuserPassword: 'kmsuser-Passw0rd' })).body;
  const anchorFile = join(dir, `${clusterId}.crt`);
  await writeFile(anchorFile, trustAnchorCertificate.replace(/\n/g, '\r\n'));
  return { clusterId, anchorFile };
}

async function createStore(name: string): Promise<string> {
  const { clusterId, anchorFile } = await clusterWithAnchorFile();
  const created = await json(
    'kms',
    'create-custom-key-store',
    '--custom-key-store-name',
    name,
    '--cloud-hsm-cluster-id',
    clusterId,
    '--trust-anchor-certificate',
    `file://${anchorFile}`,
    '--key-store-password',
    'kmsuser-Passw0rd',
  );
  expect(created.CustomKeyStoreId).toMatch(/^cks-[0-9a-f]{17}$/);
  return created.CustomKeyStoreId;
}

describe('AWS CLI v2 against the fake', () => {
  it('creates, connects, disconnects, renames and describes a CloudHSM key store', async () => {
    const id = await createStore('cli-store');
    const byName = await json('kms', 'describe-custom-key-stores', '--custom-key-store-name', 'cli-store');
    expect(byName.CustomKeyStores).toEqual([
      expect.objectContaining({ CustomKeyStoreId: id, ConnectionState: 'DISCONNECTED', CustomKeyStoreType: 'AWS_CLOUDHSM' }),
    ]);
    expect(await json('kms', 'connect-custom-key-store', '--custom-key-store-id', id)).toBeUndefined(); // {} prints nothing
    fake.advance(120);
    const state = await json('kms', 'describe-custom-key-stores', '--custom-key-store-id', id, '--query', 'CustomKeyStores[0].ConnectionState');
    expect(state).toBe('CONNECTED');
    await json('kms', 'disconnect-custom-key-store', '--custom-key-store-id', id);
    fake.advance(5);
    await json('kms', 'update-custom-key-store', '--custom-key-store-id', id, '--new-custom-key-store-name', 'cli-renamed');
    const renamed = await json(
      'kms',
      'describe-custom-key-stores',
      '--custom-key-store-id',
      id,
      '--query',
      'CustomKeyStores[0].[CustomKeyStoreName, ConnectionState]',
    );
    expect(renamed).toEqual(['cli-renamed', 'DISCONNECTED']);
  });

  it('creates a key in a connected external key store, encrypts with it, and reports KMSInvalidStateException while the proxy is down', async () => {
    const { storeId, uriEndpoint } = await xksStore(fake, { name: 'cli-xks', connected: true });
    const key = await json(
      'kms',
      'create-key',
      '--origin',
      'EXTERNAL_KEY_STORE',
      '--custom-key-store-id',
      storeId,
      '--xks-key-id',
      'cli-external-key',
    );
    expect(key.KeyMetadata).toMatchObject({ KeyState: 'Enabled', CustomKeyStoreId: storeId, XksKeyConfiguration: { Id: 'cli-external-key' } });
    const plaintext = join(dir, 'one-byte');
    await writeFile(plaintext, 'x');
    const encrypted = await json('kms', 'encrypt', '--key-id', key.KeyMetadata.KeyId, '--plaintext', `fileb://${plaintext}`);
    expect(encrypted.KeyId).toBe(key.KeyMetadata.Arn);

    await fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, reachable: false });
    const down = await aws('kms', 'encrypt', '--key-id', key.KeyMetadata.KeyId, '--plaintext', `fileb://${plaintext}`);
    const state = await json('kms', 'describe-custom-key-stores', '--custom-key-store-id', storeId, '--query', 'CustomKeyStores[0].ConnectionState');

    expect(down.code).toBe(254);
    expect(down.stderr).toContain('(KMSInvalidStateException) when calling the Encrypt operation');
    expect(state).toBe('CONNECTED');
  });

  it('pages with --page-size, --max-items and --starting-token', async () => {
    await fake.admin('POST', '/_fake/reset');
    await Promise.all(['p0', 'p1', 'p2'].map(createStore));
    const first = await json('kms', 'describe-custom-key-stores', '--page-size', '1', '--max-items', '2');
    expect(first.CustomKeyStores).toHaveLength(2);
    expect(first.NextToken).toEqual(expect.any(String));
    const rest = await json(
      'kms',
      'describe-custom-key-stores',
      '--page-size',
      '1',
      '--starting-token',
      first.NextToken,
      '--query',
      'CustomKeyStores[].CustomKeyStoreName',
    );
    const names = [...first.CustomKeyStores.map((s: { CustomKeyStoreName: string }) => s.CustomKeyStoreName), ...rest];
    expect(names.sort()).toEqual(['p0', 'p1', 'p2']);
    const all = await json('kms', 'describe-custom-key-stores', '--page-size', '2', '--query', 'length(CustomKeyStores)');
    expect(all).toBe(3);
    const { counts } = (await fake.admin('GET', '/_fake/calls')).body;
    expect(counts['KMS.DescribeCustomKeyStores']).toBe(2 + 1 + 2);
  });

  it('reports a service error by exception name on stderr with exit code 254', async () => {
    const [missing, id] = await Promise.all([
      aws('kms', 'describe-custom-key-stores', '--custom-key-store-name', 'no-such-store'),
      createStore('cli-failed'),
    ]);
    expect(missing.code).toBe(254);
    expect(missing.stderr).toContain('An error occurred (CustomKeyStoreNotFoundException) when calling the DescribeCustomKeyStores operation');
    await fake.admin('POST', `/_fake/stores/${id}/outcome`, { errorCode: 'USER_LOGGED_IN' });
    await json('kms', 'connect-custom-key-store', '--custom-key-store-id', id);
    fake.advance(120);
    const again = await aws('kms', 'connect-custom-key-store', '--custom-key-store-id', id);
    expect(again.code).toBe(254);
    expect(again.stderr).toContain('(CustomKeyStoreInvalidStateException)');
    expect(again.stderr).toContain('FAILED');
  });
});

/** `aws cloudwatch get-metric-data` over the last 15 minutes of fake time. */
function getMetricData(queries: unknown[]): Promise<CliResult> {
  const now = fake.now();
  const window = ['--start-time', new Date(now - 900_000).toISOString(), '--end-time', new Date(now + 1000).toISOString()];
  return aws('cloudwatch', 'get-metric-data', '--metric-data-queries', JSON.stringify(queries), ...window);
}

describe('CloudWatch GetMetricData through the AWS CLI (query protocol)', () => {
  it('reads back a metric set through the admin API, as XML the CLI parses', async () => {
    const dimensions = { CustomKeyStoreId: 'cks-1234567890abcdef0', XksProxyCertificateName: 'proxy.example.com' };
    await fake.admin('POST', '/_fake/metrics', { namespace: 'AWS/KMS', metricName: 'XksProxyCertificateDaysToExpire', dimensions, value: 5 });
    const metric = {
      Namespace: 'AWS/KMS',
      MetricName: 'XksProxyCertificateDaysToExpire',
      Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
    };

    const result = await getMetricData([{ Id: 'cert', MetricStat: { Metric: metric, Period: 300, Stat: 'Minimum' } }]);

    expect(result, result.stderr).toMatchObject({ code: 0 });
    const out = JSON.parse(result.stdout);
    expect(out.MetricDataResults).toEqual([expect.objectContaining({ Id: 'cert', Values: [5], StatusCode: 'Complete' })]);
    expect(out.MetricDataResults[0].Timestamps).toHaveLength(1);
  });

  it('refuses more than 500 queries with ValidationError', async () => {
    const queries = Array.from({ length: 501 }, (_, i) => ({
      Id: `q${i}`,
      MetricStat: { Metric: { Namespace: 'AWS/KMS', MetricName: 'XksProxyErrors' }, Period: 300, Stat: 'Sum' },
    }));

    const result = await getMetricData(queries);

    expect(result.code).toBe(254);
    expect(result.stderr).toContain('An error occurred (ValidationError) when calling the GetMetricData operation');
    expect(result.stderr).toContain('greater than 500');
  });
});
