import net from 'node:net';
import { CloudHSMV2Client, CreateHsmCommand, DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  DisconnectCustomKeyStoreCommand,
  KMSClient,
  UpdateCustomKeyStoreCommand,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it, vi } from 'vitest';
import { fakeForFile, startTestFake } from '../helpers/fake.js';
import { cloudHsmStore, XKS_CREDENTIAL, xksStore } from '../helpers/world.js';

const fake = await fakeForFile();
const kms = new KMSClient({ ...fake.config, maxAttempts: 1 });

const describeAll = () => kms.send(new DescribeCustomKeyStoresCommand({}));

async function rawCall(target: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(fake.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target, ...headers },
    body,
  });
}

describe('faults', () => {
  it('throttles the next `count` calls of an operation with ThrottlingException, then lets calls through', async () => {
    await fake.admin('POST', '/_fake/faults', { operation: 'DescribeCustomKeyStores', error: 'ThrottlingException', count: 2 });
    for (let i = 0; i < 2; i++) {
      await expect(describeAll()).rejects.toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
    }
    await expect(describeAll()).resolves.toMatchObject({ Truncated: false });
    expect((await fake.admin('GET', '/_fake/state')).body.faults).toEqual([]);
  });

  it('injects a 500 KMSInternalException', async () => {
    await fake.admin('POST', '/_fake/faults', { operation: 'DescribeCustomKeyStores', error: 'KMSInternalException', count: 1 });
    await expect(describeAll()).rejects.toMatchObject({ name: 'KMSInternalException', $metadata: { httpStatusCode: 500 } });
  });

  it('hits every operation of every service with operation "*" and probability 1 until cleared', async () => {
    await fake.admin('POST', '/_fake/faults', { operation: '*', error: 'ThrottlingException', probability: 1 });
    const cloudHsm = new CloudHSMV2Client({ ...fake.config, maxAttempts: 1 });
    await expect(describeAll()).rejects.toMatchObject({ name: 'ThrottlingException' });
    await expect(cloudHsm.send(new DescribeClustersCommand({}))).rejects.toMatchObject({ name: 'ThrottlingException' });
    await fake.admin('DELETE', '/_fake/faults');
    await expect(describeAll()).resolves.toBeDefined();
  });

  it('hits only the account and Region a fault names', async () => {
    await fake.admin('POST', '/_fake/faults', { operation: '*', error: 'ThrottlingException', accountId: '111122223333', region: 'eu-west-1' });
    const other = new KMSClient({ ...fake.configFor({ accountId: '111122223333', region: 'eu-west-1' }), maxAttempts: 1 });
    await expect(other.send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({ name: 'ThrottlingException' });
    await expect(describeAll()).resolves.toMatchObject({ Truncated: false });
  });

  it('never hits with probability 0', async () => {
    await fake.admin('POST', '/_fake/faults', { operation: '*', error: 'ThrottlingException', probability: 0 });
    for (let i = 0; i < 5; i++) await expect(describeAll()).resolves.toBeDefined();
  });

  it('delays a response by latencyMs', async () => {
    await fake.admin('POST', '/_fake/faults', { operation: 'DescribeCustomKeyStores', latencyMs: 200, count: 1 });
    const started = Date.now();
    await describeAll();
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('rejects a fault with neither an error nor a latency with 400', async () => {
    const { status, body } = await fake.admin('POST', '/_fake/faults', { operation: '*' });
    expect(status).toBe(400);
    expect(body).toMatchObject({ __type: 'ValidationException', message: expect.stringContaining('needs an error or a latencyMs') });
  });
});

describe('fake time', () => {
  it('starts at the real current time and, with the manual clock, moves only when advanced', async () => {
    expect(Math.abs(fake.now() - Date.now())).toBeLessThan(60_000 * 60 * 24); // earlier tests advanced it
    const before = (await fake.admin('GET', '/_fake/state')).body.nowMs;
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 3_600_000); // an hour of real time passes
      expect((await fake.admin('GET', '/_fake/state')).body.nowMs).toBe(before);
    } finally {
      vi.useRealTimers();
    }
    const { body } = await fake.admin('POST', '/_fake/clock/advance', { seconds: 90 });
    expect(body.nowMs).toBe(before + 90_000);
    expect(body.now).toBe(new Date(before + 90_000).toISOString());
  });

  it('applies transitions due when the clock is advanced through the admin API', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await fake.admin('POST', '/_fake/clock/advance', { seconds: 120 });
    expect((await describeAll()).CustomKeyStores![0]!.ConnectionState).toBe('CONNECTED');
  });

  it('runs fake time at time-scale × real time with the real clock', async () => {
    // Real time stands still until the test moves it, from before the fake starts: at ×1200 a busy
    // machine's few milliseconds between the start and the first look would be seconds of fake time.
    vi.useFakeTimers({ toFake: ['Date'] });
    const scaled = await startTestFake({ clock: 'real', timeScale: 1200 }).catch((error: unknown) => {
      vi.useRealTimers();
      throw error;
    });
    try {
      expect(Math.abs(scaled.now() - Date.now())).toBeLessThan(5_000);
      const scaledKms = new KMSClient({ ...scaled.config, maxAttempts: 1 });
      const { storeId } = await cloudHsmStore(scaled, { name: 'a' });
      await scaledKms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
      expect((await scaledKms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores![0]!.ConnectionState).toBe('CONNECTING');
      // 120 fake seconds are 100 real milliseconds at ×1200.
      vi.setSystemTime(Date.now() + 100);
      expect((await scaledKms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores![0]!.ConnectionState).toBe('CONNECTED');
    } finally {
      vi.useRealTimers();
      await scaled.close();
    }
  });

  it('rejects a negative advance with 400', async () => {
    expect((await fake.admin('POST', '/_fake/clock/advance', { seconds: -1 })).status).toBe(400);
  });
});

describe('account and Region partitioning', () => {
  it('keeps a store created in one account and Region invisible from another', async () => {
    await cloudHsmStore(fake, { name: 'eu-store', accountId: '111122223333', region: 'eu-west-1' });
    const owner = new KMSClient({ ...fake.configFor({ accountId: '111122223333', region: 'eu-west-1' }), maxAttempts: 1 });
    expect((await owner.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toHaveLength(1);
    for (const config of [fake.config, fake.configFor({ accountId: '111122223333' }), fake.configFor({ region: 'eu-west-1' })]) {
      const other = new KMSClient({ ...config, maxAttempts: 1 });
      expect((await other.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toEqual([]);
      await expect(other.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'eu-store' }))).rejects.toMatchObject({
        name: 'CustomKeyStoreNotFoundException',
      });
    }
  });

  it('uses 000000000000 for an access key id that is not 12 digits, and for unsigned requests with us-east-1', async () => {
    await cloudHsmStore(fake, { name: 'default-store' });
    const named = new KMSClient({ ...fake.config, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
    expect((await named.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toHaveLength(1);
    const unsigned = (await (await rawCall('TrentService.DescribeCustomKeyStores', '{}')).json()) as {
      CustomKeyStores: { CustomKeyStoreName: string }[];
    };
    expect(unsigned.CustomKeyStores.map((s) => s.CustomKeyStoreName)).toEqual(['default-store']);
  });

  it('scopes admin calls by accountId and region, in bodies and GET queries', async () => {
    const { clusterId } = await cloudHsmStore(fake, { name: 'x', accountId: '444455556666', region: 'ap-south-1' });
    expect((await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { subnetDeleted: true })).status).toBe(404);
    expect(
      (await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { accountId: '444455556666', region: 'ap-south-1', subnetDeleted: true })).status,
    ).toBe(200);
    const state = (await fake.admin('GET', '/_fake/state?accountId=444455556666&region=ap-south-1')).body;
    expect(state.partitions).toHaveLength(1);
    expect(state.partitions[0]).toMatchObject({ accountId: '444455556666', region: 'ap-south-1', clusters: [{ subnetDeleted: true }] });
    expect((await fake.admin('GET', '/_fake/state?accountId=000000000000')).body.partitions).toEqual([]);
    const { body: calls } = await fake.admin('GET', '/_fake/calls?region=ap-south-1');
    expect(calls.counts).toEqual({ 'KMS.CreateCustomKeyStore': 1 });
    expect(calls.calls).toEqual([expect.objectContaining({ accountId: '444455556666', region: 'ap-south-1', target: 'x' })]);
  });
});

describe('call log', () => {
  it('counts calls per operation and logs time, account, Region, principal, target and error type, oldest first', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'logged' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await expect(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-00000000000000000' }))).rejects.toThrow();
    await new CloudHSMV2Client(fake.config).send(new DescribeClustersCommand({ Filters: { clusterIds: [clusterId] } }));
    const { body } = await fake.admin('GET', '/_fake/calls');
    expect(body.counts).toEqual({
      'KMS.CreateCustomKeyStore': 1,
      'KMS.ConnectCustomKeyStore': 2,
      'CloudHSMV2.DescribeClusters': 1,
    });
    expect(body.calls).toEqual([
      {
        time: expect.any(String),
        accountId: '000000000000',
        region: 'us-east-1',
        service: 'KMS',
        operation: 'CreateCustomKeyStore',
        principal: 'arn:aws:iam::000000000000:user/000000000000',
        target: 'logged',
      },
      expect.objectContaining({ operation: 'ConnectCustomKeyStore', target: storeId }),
      expect.objectContaining({ operation: 'ConnectCustomKeyStore', target: 'cks-00000000000000000', error: 'CustomKeyStoreNotFoundException' }),
      expect.objectContaining({ service: 'CloudHSMV2', operation: 'DescribeClusters' }),
    ]);
    expect(body.calls[0].time).toBe(new Date(fake.now()).toISOString());
  });
});

describe('CloudTrail events', () => {
  it('records an "AWS API Call via CloudTrail" event for each custom key store and HSM mutation, with the caller role', async () => {
    const since = (await fake.admin('GET', '/_fake/cloudtrail')).body.next;
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'trailed' });
    const reconciler = new KMSClient({ ...fake.configFor({ roleName: 'cks-reconciler' }), maxAttempts: 1 });
    await reconciler.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await new CloudHSMV2Client(fake.config).send(new CreateHsmCommand({ ClusterId: clusterId, AvailabilityZone: 'us-east-1c' }));
    await describeAll(); // not trailed: read-only
    const { body } = await fake.admin('GET', `/_fake/cloudtrail?since=${since}`);
    expect(body.next).toBe(since + 3);
    const [create, connect, createHsm] = body.events;
    expect(body.events).toHaveLength(3);
    expect(create).toMatchObject({
      version: '0',
      'detail-type': 'AWS API Call via CloudTrail',
      source: 'aws.kms',
      account: '000000000000',
      region: 'us-east-1',
      resources: [],
      detail: {
        eventVersion: '1.08',
        eventSource: 'kms.amazonaws.com',
        eventName: 'CreateCustomKeyStore',
        awsRegion: 'us-east-1',
        userIdentity: {
          type: 'AssumedRole',
          accessKeyId: '000000000000',
          sessionContext: { sessionIssuer: { type: 'Role', arn: 'arn:aws:iam::000000000000:role/fake-caller' } },
        },
        requestParameters: { customKeyStoreName: 'trailed', cloudHsmClusterId: clusterId },
        responseElements: { customKeyStoreId: storeId },
      },
    });
    expect(create.detail.requestParameters).not.toHaveProperty('keyStorePassword');
    expect(connect.detail).toMatchObject({
      eventName: 'ConnectCustomKeyStore',
      requestParameters: { customKeyStoreId: storeId },
      responseElements: null,
      userIdentity: { sessionContext: { sessionIssuer: { arn: 'arn:aws:iam::000000000000:role/cks-reconciler' } } },
    });
    expect(createHsm).toMatchObject({
      source: 'aws.cloudhsm',
      detail: {
        eventSource: 'cloudhsm.amazonaws.com',
        eventName: 'CreateHsm',
        requestParameters: { clusterId, availabilityZone: 'us-east-1c' },
        responseElements: { hsm: { clusterId, state: 'CREATE_IN_PROGRESS' } },
      },
    });
    expect((await fake.admin('GET', `/_fake/cloudtrail?since=${since + 2}`)).body.events).toEqual([createHsm]);
  });

  it('records errorCode and errorMessage of a failed call', async () => {
    await expect(kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-00000000000000000' }))).rejects.toThrow();
    const [event] = (await fake.admin('GET', '/_fake/cloudtrail')).body.events;
    expect(event.detail).toMatchObject({
      eventName: 'DisconnectCustomKeyStore',
      errorCode: 'CustomKeyStoreNotFoundException',
      errorMessage: expect.stringContaining('cks-00000000000000000'),
    });
  });
});

describe('secrets stay secret', () => {
  it('shows no password, XKS secret or secret value in /_fake/state, /_fake/calls, /_fake/cloudtrail or the log', async () => {
    const secretsSeen = ['Kmsuser-Secret-1', 'Kmsuser-Secret-2', 'Stored-Secret-Value-3', 'Shrt-4'];
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a', password: secretsSeen[0] });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(120);
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(5);
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { kmsuserPassword: secretsSeen[1] });
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, KeyStorePassword: secretsSeen[1] }));
    await expect(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, KeyStorePassword: secretsSeen[3] }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    await xksStore(fake, { name: 'x' });
    const secrets = new SecretsManagerClient(fake.config);
    await secrets.send(new CreateSecretCommand({ Name: 'kmsuser', SecretString: secretsSeen[2] }));
    await secrets.send(new GetSecretValueCommand({ SecretId: 'kmsuser' }));
    await expect(
      kms.send(
        new CreateCustomKeyStoreCommand({
          CustomKeyStoreName: 'b',
          CloudHsmClusterId: 'cluster-234567abcde',
          TrustAnchorCertificate: 'x',
          KeyStorePassword: secretsSeen[0],
        }),
      ),
    ).rejects.toMatchObject({ name: 'CloudHsmClusterNotFoundException' });

    const everything = JSON.stringify([
      (await fake.admin('GET', '/_fake/state')).body,
      (await fake.admin('GET', '/_fake/calls')).body,
      (await fake.admin('GET', '/_fake/cloudtrail')).body,
      fake.logs,
    ]);
    for (const secret of [...secretsSeen, XKS_CREDENTIAL.RawSecretAccessKey]) expect(everything).not.toContain(secret);
    expect(everything).toContain('hmac:'); // fingerprints stand in for them
  });
});

describe('bad input', () => {
  it('answers malformed JSON with SerializationException that the SDK reads', async () => {
    const client = new KMSClient({ ...fake.config, maxAttempts: 1 });
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body: string; headers: Record<string, string> };
        request.body = '{"CustomKeyStoreId": ';
        request.headers['content-length'] = String(request.body.length);
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    await expect(client.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-1' }))).rejects.toMatchObject({
      name: 'SerializationException',
    });
  });

  it('answers an unknown target with UnknownOperationException that the SDK reads', async () => {
    const client = new KMSClient({ ...fake.config, maxAttempts: 1 });
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-target'] = 'TrentService.ListAliases';
        return next(args);
      },
      { step: 'build' },
    );
    await expect(client.send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({
      name: 'UnknownOperationException',
      message: expect.stringContaining('TrentService.ListAliases'),
    });
  });

  it('answers a missing required parameter with ValidationException naming it', async () => {
    await expect(kms.send(new ConnectCustomKeyStoreCommand({} as never))).rejects.toMatchObject({
      name: 'ValidationException',
      message: "1 validation error detected: Value null at 'customKeyStoreId' failed to satisfy constraint: Member must not be null",
    });
  });

  it('answers a parameter of the wrong JSON type with SerializationException', async () => {
    const response = await rawCall('TrentService.DescribeCustomKeyStores', '{"Limit": "ten"}');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ __type: 'SerializationException', message: "Expected number at 'limit'" });
  });

  it.each([
    ['a JSON array body', 'TrentService.DescribeCustomKeyStores', '[]', 'SerializationException'],
    ['no target at all', '', '{}', 'UnknownOperationException'],
    ['an unknown service', 'Nope_20200101.Op', '{}', 'UnknownOperationException'],
    ['a prototype key as operation', 'TrentService.constructor', '{}', 'UnknownOperationException'],
  ])('answers %s with a 400 AWS error and keeps serving', async (_case, target, body, type) => {
    const response = await rawCall(target, body);
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe(type);
    expect(await response.json()).toMatchObject({ __type: type });
    await expect(describeAll()).resolves.toBeDefined();
  });

  it('keeps serving after a client disconnects in the middle of a request body', async () => {
    const socket = net.connect(fake.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    await new Promise((sent) =>
      socket.write('POST / HTTP/1.1\r\nHost: fake\r\nX-Amz-Target: TrentService.DescribeCustomKeyStores\r\nContent-Length: 100\r\n\r\n{"Li', sent),
    );
    socket.destroy();
    await expect(describeAll()).resolves.toMatchObject({ Truncated: false });
    expect(fake.logs.filter((line) => line.includes('internal error'))).toEqual([]);
  });

  it.each([
    ['an unknown cluster', 'PATCH', '/_fake/clusters/cluster-234567abcde', { activeHsms: 1 }],
    ['the outcome of an unknown store', 'POST', '/_fake/stores/nobody/outcome', { errorCode: 'NETWORK_ERRORS' }],
    ['failing an unknown store', 'POST', '/_fake/stores/nobody/fail', { errorCode: 'NETWORK_ERRORS' }],
    ['an unknown proxy', 'PATCH', '/_fake/xks-proxies', { uriEndpoint: 'https://nowhere.example.com', reachable: false }],
    ['an unknown route', 'GET', '/_fake/nothing-here', undefined],
  ] as const)('answers an admin call on %s with 404 JSON', async (_case, method, path, body) => {
    const reply = await fake.admin(method, path, body);
    expect(reply.status).toBe(404);
    expect(reply.body).toEqual({ __type: 'ResourceNotFoundException', message: expect.any(String) });
  });

  it.each([
    ['activeHsms', { activeHsms: 'two' }],
    ['hsmCount', { hsmCount: 2 }],
    ['accountId', { accountId: '12' }],
  ] as const)('answers a bad cluster PATCH body with 400 and a message naming the field %s', async (field, body) => {
    const { clusterId } = (await fake.admin('POST', '/_fake/clusters', { kmsuserPassword: 'kmsuser-Passw0rd' })).body;
    const reply = await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, body);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ __type: 'ValidationException', message: expect.stringContaining(field) });
  });

  it('answers a cluster without a kmsuserPassword, a body that is not JSON and a bad percent-encoding in a path with 400', async () => {
    const missing = await fake.admin('POST', '/_fake/clusters', {});
    expect(missing.body.message).toContain('kmsuserPassword');
    const notJson = await fetch(`${fake.url}/_fake/clusters`, { method: 'POST', body: '{oops' });
    expect(notJson.status).toBe(400);
    const badPath = await fake.admin('PATCH', '/_fake/clusters/%E0%A4%A', { activeHsms: 1 });
    expect(badPath).toMatchObject({ status: 400, body: { __type: 'ValidationException', message: expect.stringContaining('percent-encoding') } });
  });
});

describe('admin world building', () => {
  it('creates clusters with a chosen id and HSM count, related clusters sharing the trust anchor', async () => {
    const first = await fake.admin('POST', '/_fake/clusters', { clusterId: 'cluster-abcdefghijk', activeHsms: 3, kmsuserPassword: 'p1-password' });
    expect(first.body).toEqual({ clusterId: 'cluster-abcdefghijk', trustAnchorCertificate: expect.stringContaining('BEGIN CERTIFICATE') });
    const related = await fake.admin('POST', '/_fake/clusters', { relatedTo: 'cluster-abcdefghijk', activeHsms: 0 });
    expect(related.body.trustAnchorCertificate).toBe(first.body.trustAnchorCertificate);
    const duplicate = await fake.admin('POST', '/_fake/clusters', { clusterId: 'cluster-abcdefghijk', kmsuserPassword: 'x' });
    expect(duplicate.status).toBe(400);
    const state = (await fake.admin('GET', '/_fake/state')).body;
    expect(state.partitions[0].clusters.map((c: { Hsms: unknown[] }) => c.Hsms.length)).toEqual([3, 0]);
    // Restored from a backup, the related cluster starts with the same kmsuser password.
    expect(state.partitions[0].clusters[1].kmsuser.password).toBe(state.partitions[0].clusters[0].kmsuser.password);
  });

  it('empties the world on reset', async () => {
    await cloudHsmStore(fake, { name: 'gone' });
    await fake.admin('POST', '/_fake/faults', { operation: 'CreateHsm', error: 'ThrottlingException' });
    await fake.admin('POST', '/_fake/reset');
    expect((await describeAll()).CustomKeyStores).toEqual([]);
    const { body } = await fake.admin('GET', '/_fake/state');
    expect(body).toMatchObject({ faults: [], pendingTransitions: 0 });
    expect(body.partitions.every((p: { clusters: unknown[] }) => p.clusters.length === 0)).toBe(true);
  });
});
