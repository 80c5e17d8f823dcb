import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  type CreateCustomKeyStoreCommandInput,
  CreateKeyCommand,
  type CustomKeyStoresListEntry,
  DeleteCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
  DisconnectCustomKeyStoreCommand,
  EncryptCommand,
  GenerateRandomCommand,
  KMSClient,
  UpdateCustomKeyStoreCommand,
  type UpdateCustomKeyStoreCommandInput,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';
import { cloudHsmStore, XKS_CREDENTIAL, xksStore } from '../helpers/world.js';

const fake = await fakeForFile();
const kms = new KMSClient({ ...fake.config, maxAttempts: 1 });

async function describeStore(id: string): Promise<CustomKeyStoresListEntry> {
  const { CustomKeyStores } = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }));
  return CustomKeyStores![0]!;
}

async function stateOf(id: string): Promise<string | undefined> {
  return (await describeStore(id)).ConnectionState;
}

/** Connect, wait out CONNECTING, and return the list entry. */
async function connectAndSettle(id: string, seconds = 120): Promise<CustomKeyStoresListEntry> {
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
  fake.advance(seconds);
  return describeStore(id);
}

async function disconnectAndSettle(id: string): Promise<void> {
  await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
  fake.advance(5);
}

async function newCluster(body: Record<string, unknown> = {}): Promise<{ clusterId: string; trustAnchorCertificate: string }> {
  const { status, body: reply } = await fake.admin('POST', '/_fake/clusters', { kmsuserPassword: 'kmsuser-Passw0rd', ...body });
  expect(status).toBe(200);
  return reply;
}

function cloudHsmInput(cluster: { clusterId: string; trustAnchorCertificate: string }, name = 'store'): CreateCustomKeyStoreCommandInput {
  return {
    CustomKeyStoreName: name,
    CloudHsmClusterId: cluster.clusterId,
    TrustAnchorCertificate: cluster.trustAnchorCertificate,
    KeyStorePassword: 'kmsuser-Passw0rd',
  };
}

async function newProxy(body: Record<string, unknown> = {}): Promise<void> {
  const { status } = await fake.admin('POST', '/_fake/xks-proxies', {
    uriEndpoint: 'https://proxy.example.com',
    uriPath: '/kms/xks/v1',
    accessKeyId: XKS_CREDENTIAL.AccessKeyId,
    secretAccessKey: XKS_CREDENTIAL.RawSecretAccessKey,
    ...body,
  });
  expect(status).toBe(200);
}

function xksInput(overrides: Partial<CreateCustomKeyStoreCommandInput> = {}): CreateCustomKeyStoreCommandInput {
  return {
    CustomKeyStoreName: 'xks',
    CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
    XksProxyConnectivity: 'PUBLIC_ENDPOINT',
    XksProxyUriEndpoint: 'https://proxy.example.com',
    XksProxyUriPath: '/kms/xks/v1',
    XksProxyAuthenticationCredential: XKS_CREDENTIAL,
    ...overrides,
  };
}

const VPC_SERVICE = 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0';

describe('CreateCustomKeyStore', () => {
  it('creates a DISCONNECTED CloudHSM key store with an AWS-shaped list entry', async () => {
    const cluster = await newCluster();
    const { CustomKeyStoreId } = await kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(cluster, 'payments')));
    expect(CustomKeyStoreId).toMatch(/^cks-[0-9a-f]{17}$/);
    const entry = await describeStore(CustomKeyStoreId!);
    expect(entry).toEqual({
      CustomKeyStoreId,
      CustomKeyStoreName: 'payments',
      CustomKeyStoreType: 'AWS_CLOUDHSM',
      CloudHsmClusterId: cluster.clusterId,
      TrustAnchorCertificate: cluster.trustAnchorCertificate,
      ConnectionState: 'DISCONNECTED',
      CreationDate: expect.any(Date),
    });
    expect(Math.abs(entry.CreationDate!.getTime() - fake.now())).toBeLessThan(1000);
  });

  it('creates an external key store whose entry shows the proxy configuration but never the secret', async () => {
    await newProxy();
    const { CustomKeyStoreId } = await kms.send(new CreateCustomKeyStoreCommand(xksInput()));
    const entry = await describeStore(CustomKeyStoreId!);
    expect(entry.CustomKeyStoreType).toBe('EXTERNAL_KEY_STORE');
    expect(entry.XksProxyConfiguration).toEqual({
      Connectivity: 'PUBLIC_ENDPOINT',
      AccessKeyId: XKS_CREDENTIAL.AccessKeyId,
      UriEndpoint: 'https://proxy.example.com',
      UriPath: '/kms/xks/v1',
    });
    expect(entry.CloudHsmClusterId).toBeUndefined();
    expect(JSON.stringify(entry)).not.toContain(XKS_CREDENTIAL.RawSecretAccessKey);
  });

  it('creates an external key store with VPC endpoint service connectivity', async () => {
    await newProxy({ vpcEndpointServiceName: VPC_SERVICE });
    const { CustomKeyStoreId } = await kms.send(
      new CreateCustomKeyStoreCommand(xksInput({ XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyVpcEndpointServiceName: VPC_SERVICE })),
    );
    expect((await describeStore(CustomKeyStoreId!)).XksProxyConfiguration).toMatchObject({
      Connectivity: 'VPC_ENDPOINT_SERVICE',
      VpcEndpointServiceName: VPC_SERVICE,
    });
  });

  it('compares the trust anchor as a certificate, ignoring line endings and surrounding whitespace', async () => {
    const cluster = await newCluster();
    const pem = `\n  ${cluster.trustAnchorCertificate.replace(/\n/g, '\r\n')}\n\n`;
    await expect(kms.send(new CreateCustomKeyStoreCommand({ ...cloudHsmInput(cluster), TrustAnchorCertificate: pem }))).resolves.toMatchObject({
      CustomKeyStoreId: expect.stringMatching(/^cks-/),
    });
  });

  it.each([
    [
      'a missing CustomKeyStoreName',
      { CustomKeyStoreName: undefined },
      "at 'customKeyStoreName' failed to satisfy constraint: Member must not be null",
    ],
    [
      'a name longer than 256',
      { CustomKeyStoreName: 'n'.repeat(257) },
      "at 'customKeyStoreName' failed to satisfy constraint: Member must have length less than or equal to 256",
    ],
    [
      'a malformed cluster id',
      { CloudHsmClusterId: 'cluster-0000000000000' },
      "at 'cloudHsmClusterId' failed to satisfy constraint: Member must satisfy regular expression pattern",
    ],
    [
      'a password shorter than 7',
      { KeyStorePassword: 'short' },
      "Value '***' at 'keyStorePassword' failed to satisfy constraint: Member must have length greater than or equal to 7",
    ],
    ['a trust anchor longer than 5000', { TrustAnchorCertificate: 'x'.repeat(5001) }, "at 'trustAnchorCertificate'"],
    ['an unknown store type', { CustomKeyStoreType: 'OTHER' as never }, 'Member must satisfy enum value set: [AWS_CLOUDHSM, EXTERNAL_KEY_STORE]'],
    ['a missing KeyStorePassword', { KeyStorePassword: undefined }, 'KeyStorePassword is required for a custom key store of type AWS_CLOUDHSM'],
    [
      'an XKS parameter on a CloudHSM store',
      { XksProxyUriPath: '/kms/xks/v1' },
      'XksProxyUriPath cannot be used with a custom key store of type AWS_CLOUDHSM',
    ],
  ])('rejects %s with ValidationException naming the parameter', async (_case, override, message) => {
    const cluster = await newCluster();
    const error = await kms.send(new CreateCustomKeyStoreCommand({ ...cloudHsmInput(cluster), ...override })).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ValidationException', message: expect.stringContaining(message) });
    expect((error as Error).message).not.toContain('short');
  });

  it.each<[string, Partial<CreateCustomKeyStoreCommandInput>, string]>([
    ['a URI path without /kms/xks/v<n>', { XksProxyUriPath: '/example/xks' }, "at 'xksProxyUriPath'"],
    ['an http endpoint', { XksProxyUriEndpoint: 'http://proxy.example.com' }, "at 'xksProxyUriEndpoint'"],
    [
      'an access key id with lower case',
      { XksProxyAuthenticationCredential: { ...XKS_CREDENTIAL, AccessKeyId: 'abcdefghijklmnopqrstuvwxyz' } },
      "at 'xksProxyAuthenticationCredential.accessKeyId'",
    ],
    [
      'a secret access key shorter than 43',
      { XksProxyAuthenticationCredential: { ...XKS_CREDENTIAL, RawSecretAccessKey: 'tooShort' } },
      "Value '***' at 'xksProxyAuthenticationCredential.rawSecretAccessKey'",
    ],
    ['an unknown connectivity', { XksProxyConnectivity: 'SOMETIMES' as never }, 'enum value set: [PUBLIC_ENDPOINT, VPC_ENDPOINT_SERVICE]'],
    ['VPC connectivity without a service name', { XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE' }, 'XksProxyVpcEndpointServiceName is required'],
    [
      'a cluster id on an external key store',
      { CloudHsmClusterId: 'cluster-234567abcde' },
      'CloudHsmClusterId cannot be used with a custom key store of type EXTERNAL_KEY_STORE',
    ],
  ])('rejects an external key store with %s with ValidationException', async (_case, override, message) => {
    await newProxy();
    const error = await kms.send(new CreateCustomKeyStoreCommand(xksInput(override))).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ValidationException', message: expect.stringContaining(message) });
    expect((error as Error).message).not.toContain('tooShort');
  });

  it('rejects a name already in use with CustomKeyStoreNameInUseException', async () => {
    await kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(await newCluster(), 'same')));
    await expect(kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(await newCluster(), 'same')))).rejects.toMatchObject({
      name: 'CustomKeyStoreNameInUseException',
      message: expect.stringContaining('same'),
    });
  });

  it('rejects an unknown or deleted cluster with CloudHsmClusterNotFoundException', async () => {
    const cluster = await newCluster();
    await expect(
      kms.send(new CreateCustomKeyStoreCommand({ ...cloudHsmInput(cluster), CloudHsmClusterId: 'cluster-234567abcde' })),
    ).rejects.toMatchObject({ name: 'CloudHsmClusterNotFoundException', message: expect.stringContaining('cluster-234567abcde') });
    await fake.admin('PATCH', `/_fake/clusters/${cluster.clusterId}`, { deleted: true });
    await expect(kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(cluster)))).rejects.toMatchObject({
      name: 'CloudHsmClusterNotFoundException',
    });
  });

  it('rejects a cluster in use, or related to one in use, with CloudHsmClusterInUseException', async () => {
    const cluster = await newCluster();
    await kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(cluster, 'first')));
    await expect(kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(cluster, 'second')))).rejects.toMatchObject({
      name: 'CloudHsmClusterInUseException',
      message: expect.stringContaining(cluster.clusterId),
    });
    const restored = await newCluster({ relatedTo: cluster.clusterId });
    expect(restored.trustAnchorCertificate).toBe(cluster.trustAnchorCertificate);
    await expect(kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(restored, 'third')))).rejects.toMatchObject({
      name: 'CloudHsmClusterInUseException',
      message: expect.stringContaining('shares its backup history'),
    });
  });

  it('rejects a cluster that is not ACTIVE with CloudHsmClusterNotActiveException', async () => {
    const cluster = await newCluster();
    await fake.admin('PATCH', `/_fake/clusters/${cluster.clusterId}`, { state: 'UNINITIALIZED' });
    await expect(kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(cluster)))).rejects.toMatchObject({
      name: 'CloudHsmClusterNotActiveException',
      message: expect.stringContaining('UNINITIALIZED'),
    });
  });

  it('rejects a cluster without two ACTIVE HSMs in different AZs with CloudHsmClusterInvalidConfigurationException', async () => {
    const cluster = await newCluster({ activeHsms: 1 });
    await expect(kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(cluster)))).rejects.toMatchObject({
      name: 'CloudHsmClusterInvalidConfigurationException',
      message: expect.stringContaining('two ACTIVE HSMs in different Availability Zones'),
    });
  });

  it('rejects a trust anchor of another cluster with IncorrectTrustAnchorException', async () => {
    const cluster = await newCluster();
    const other = await newCluster();
    await expect(
      kms.send(new CreateCustomKeyStoreCommand({ ...cloudHsmInput(cluster), TrustAnchorCertificate: other.trustAnchorCertificate })),
    ).rejects.toMatchObject({ name: 'IncorrectTrustAnchorException', message: expect.stringContaining(cluster.clusterId) });
  });

  it('rejects the eleventh store in an account and Region with LimitExceededException', async () => {
    for (let i = 0; i < 10; i++) await kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(await newCluster(), `s${i}`)));
    await expect(kms.send(new CreateCustomKeyStoreCommand(cloudHsmInput(await newCluster(), 's10')))).rejects.toMatchObject({
      name: 'LimitExceededException',
      message: expect.stringContaining('quota of 10'),
    });
  });

  it('rejects an endpoint and path already used with XksProxyUriInUseException', async () => {
    await newProxy();
    await kms.send(new CreateCustomKeyStoreCommand(xksInput({ CustomKeyStoreName: 'a' })));
    await expect(kms.send(new CreateCustomKeyStoreCommand(xksInput({ CustomKeyStoreName: 'b' })))).rejects.toMatchObject({
      name: 'XksProxyUriInUseException',
      message: expect.stringContaining('https://proxy.example.com/kms/xks/v1'),
    });
  });

  it('accepts a VPC endpoint service name beginning eu. (the model allows com. and eu.) and describes it', async () => {
    const euService = 'eu.amazonaws.vpce.eusc-de-east-1.vpce-svc-0123456789abcdef0';
    await newProxy({ vpcEndpointServiceName: euService });
    const vpc = { XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyVpcEndpointServiceName: euService } as const;
    const { CustomKeyStoreId } = await kms.send(new CreateCustomKeyStoreCommand(xksInput({ ...vpc, CustomKeyStoreName: 'eu' })));
    expect((await describeStore(CustomKeyStoreId!)).XksProxyConfiguration).toMatchObject({ VpcEndpointServiceName: euService });
  });

  it('rejects a VPC endpoint already used by another store with XksProxyUriEndpointInUseException', async () => {
    await newProxy({ vpcEndpointServiceName: VPC_SERVICE });
    const vpc = { XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyVpcEndpointServiceName: VPC_SERVICE } as const;
    await kms.send(new CreateCustomKeyStoreCommand(xksInput({ ...vpc, CustomKeyStoreName: 'a' })));
    await expect(
      kms.send(new CreateCustomKeyStoreCommand(xksInput({ ...vpc, CustomKeyStoreName: 'b', XksProxyUriPath: '/b/kms/xks/v1' }))),
    ).rejects.toMatchObject({ name: 'XksProxyUriEndpointInUseException' });
  });

  it('rejects a VPC endpoint service already used by another store with XksProxyVpcEndpointServiceInUseException', async () => {
    await newProxy({ vpcEndpointServiceName: VPC_SERVICE });
    const vpc = { XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyVpcEndpointServiceName: VPC_SERVICE } as const;
    await kms.send(new CreateCustomKeyStoreCommand(xksInput({ ...vpc, CustomKeyStoreName: 'a' })));
    await expect(
      kms.send(new CreateCustomKeyStoreCommand(xksInput({ ...vpc, CustomKeyStoreName: 'b', XksProxyUriEndpoint: 'https://other.example.com' }))),
    ).rejects.toMatchObject({ name: 'XksProxyVpcEndpointServiceInUseException' });
  });

  it('rejects an unknown VPC endpoint service with XksProxyVpcEndpointServiceNotFoundException', async () => {
    await newProxy();
    await expect(
      kms.send(
        new CreateCustomKeyStoreCommand(xksInput({ XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyVpcEndpointServiceName: VPC_SERVICE })),
      ),
    ).rejects.toMatchObject({ name: 'XksProxyVpcEndpointServiceNotFoundException', message: expect.stringContaining(VPC_SERVICE) });
  });

  it('rejects a VPC endpoint service whose private DNS name is another endpoint with XksProxyVpcEndpointServiceInvalidConfigurationException', async () => {
    await newProxy({ uriEndpoint: 'https://private.example.com', vpcEndpointServiceName: VPC_SERVICE });
    await expect(
      kms.send(
        new CreateCustomKeyStoreCommand(xksInput({ XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyVpcEndpointServiceName: VPC_SERVICE })),
      ),
    ).rejects.toMatchObject({ name: 'XksProxyVpcEndpointServiceInvalidConfigurationException' });
  });

  it.each([
    ['no proxy at the endpoint', async () => undefined],
    ['an unreachable proxy', () => newProxy({ reachable: false })],
    ['a proxy serving another path', () => newProxy({ uriPath: '/other/kms/xks/v1' })],
  ])('rejects %s with XksProxyUriUnreachableException', async (_case, setup) => {
    await setup();
    await expect(kms.send(new CreateCustomKeyStoreCommand(xksInput()))).rejects.toMatchObject({
      name: 'XksProxyUriUnreachableException',
      message: expect.stringContaining('https://proxy.example.com/kms/xks/v1'),
    });
  });

  it('rejects a credential the proxy does not accept with XksProxyIncorrectAuthenticationCredentialException', async () => {
    await newProxy({ secretAccessKey: 'AnotherSecretAccessKeyThatIsLongEnough0123456' });
    await expect(kms.send(new CreateCustomKeyStoreCommand(xksInput()))).rejects.toMatchObject({
      name: 'XksProxyIncorrectAuthenticationCredentialException',
    });
  });
});

describe('DescribeCustomKeyStores', () => {
  async function createStores(count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await cloudHsmStore(fake, { name: `store-${i}` })).storeId);
    return ids;
  }

  it('pages with Limit and Marker, with NextMarker only while Truncated', async () => {
    const ids = await createStores(5);
    const seen: string[] = [];
    const pages: { truncated?: boolean; marker?: string }[] = [];
    let marker: string | undefined;
    do {
      const page = await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 2, Marker: marker }));
      seen.push(...page.CustomKeyStores!.map((s) => s.CustomKeyStoreId!));
      pages.push({ truncated: page.Truncated, marker: page.NextMarker });
      marker = page.NextMarker;
    } while (marker);
    expect(seen).toEqual(ids);
    expect(pages.map((p) => p.truncated)).toEqual([true, true, false]);
    expect(pages[2]!.marker).toBeUndefined();
  });

  it('says "Truncated": false explicitly on the last page', async () => {
    await createStores(1);
    const response = await fetch(fake.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.DescribeCustomKeyStores' },
      body: '{}',
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.Truncated).toBe(false);
    expect(body).not.toHaveProperty('NextMarker');
  });

  it('continues from a Marker even when the store it came from was deleted', async () => {
    const ids = await createStores(3);
    const first = await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 1 }));
    await kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: ids[0] }));
    const rest = await kms.send(new DescribeCustomKeyStoresCommand({ Marker: first.NextMarker }));
    expect(rest.CustomKeyStores!.map((s) => s.CustomKeyStoreId)).toEqual(ids.slice(1));
  });

  it('finds one store by id or by name', async () => {
    const [id] = await createStores(2);
    const byName = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'store-0' }));
    expect(byName.CustomKeyStores!.map((s) => s.CustomKeyStoreId)).toEqual([id]);
    expect(byName.Truncated).toBe(false);
    expect((await describeStore(id!)).CustomKeyStoreName).toBe('store-0');
  });

  it('rejects an unknown id or name with CustomKeyStoreNotFoundException', async () => {
    await expect(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-00000000000000000' }))).rejects.toMatchObject({
      name: 'CustomKeyStoreNotFoundException',
      message: expect.stringContaining('cks-00000000000000000'),
    });
    await expect(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'nobody' }))).rejects.toMatchObject({
      name: 'CustomKeyStoreNotFoundException',
      message: expect.stringContaining('nobody'),
    });
  });

  it('rejects both an id and a name with ValidationException', async () => {
    const [id] = await createStores(1);
    await expect(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id, CustomKeyStoreName: 'store-0' }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('not both'),
    });
  });

  it('rejects a marker it did not issue with InvalidMarkerException', async () => {
    await expect(kms.send(new DescribeCustomKeyStoresCommand({ Marker: 'not-a-marker' }))).rejects.toMatchObject({
      name: 'InvalidMarkerException',
    });
  });

  it.each([
    [{ Limit: 0 }, "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"],
    [{ Limit: 1001 }, "Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000"],
    [{ Marker: 'm'.repeat(1025) }, "at 'marker' failed to satisfy constraint: Member must have length less than or equal to 1024"],
    [{ CustomKeyStoreId: 'c'.repeat(65) }, "at 'customKeyStoreId'"],
  ])('rejects %o with ValidationException', async (input, message) => {
    await expect(kms.send(new DescribeCustomKeyStoresCommand(input))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining(message),
    });
  });

  it('accepts the limit bounds 1 and 1000', async () => {
    await createStores(2);
    expect((await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 1 }))).CustomKeyStores).toHaveLength(1);
    expect((await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 1000 }))).CustomKeyStores).toHaveLength(2);
  });
});

describe('connection state rules', () => {
  it('moves a store DISCONNECTED → CONNECTING → CONNECTED after 120 fake seconds', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    expect(await stateOf(storeId)).toBe('CONNECTING');
    fake.advance(119);
    expect(await stateOf(storeId)).toBe('CONNECTING');
    fake.advance(1);
    expect(await describeStore(storeId)).toMatchObject({ ConnectionState: 'CONNECTED' });
    expect((await describeStore(storeId)).ConnectionErrorCode).toBeUndefined();
  });

  it('treats ConnectCustomKeyStore on a CONNECTED or CONNECTING store as a no-op', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(60);
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(60);
    expect(await stateOf(storeId)).toBe('CONNECTED');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    expect(await stateOf(storeId)).toBe('CONNECTED');
  });

  it('rejects ConnectCustomKeyStore on a FAILED store with CustomKeyStoreInvalidStateException', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await fake.admin('POST', `/_fake/stores/${storeId}/outcome`, { errorCode: 'NETWORK_ERRORS' });
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'NETWORK_ERRORS' });
    await expect(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CustomKeyStoreInvalidStateException',
      message: expect.stringContaining('FAILED'),
    });
  });

  it('rejects ConnectCustomKeyStore on a DISCONNECTING store with CustomKeyStoreInvalidStateException', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await connectAndSettle(storeId);
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    expect(await stateOf(storeId)).toBe('DISCONNECTING');
    await expect(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CustomKeyStoreInvalidStateException',
      message: expect.stringContaining('DISCONNECTING'),
    });
    fake.advance(5);
    expect(await stateOf(storeId)).toBe('DISCONNECTED');
  });

  it('rejects DisconnectCustomKeyStore on a DISCONNECTED or DISCONNECTING store with CustomKeyStoreInvalidStateException', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await expect(kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CustomKeyStoreInvalidStateException',
      message: expect.stringContaining('DISCONNECTED'),
    });
    await connectAndSettle(storeId);
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await expect(kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CustomKeyStoreInvalidStateException',
      message: expect.stringContaining('DISCONNECTING'),
    });
  });

  it('disconnects a FAILED store, clearing its ConnectionErrorCode', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await fake.admin('POST', `/_fake/stores/${storeId}/outcome`, { errorCode: 'INTERNAL_ERROR' });
    await connectAndSettle(storeId);
    await disconnectAndSettle(storeId);
    const entry = await describeStore(storeId);
    expect(entry.ConnectionState).toBe('DISCONNECTED');
    expect(entry).not.toHaveProperty('ConnectionErrorCode');
  });

  it('cancels a pending connect when the store is disconnected while CONNECTING', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(300);
    expect(await stateOf(storeId)).toBe('DISCONNECTED');
  });

  it('rejects ConnectCustomKeyStore synchronously when the cluster is not ACTIVE or has no ACTIVE HSM, leaving the store DISCONNECTED', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { state: 'DEGRADED' });
    await expect(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CloudHsmClusterNotActiveException',
    });
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { state: 'ACTIVE', activeHsms: 0 });
    await expect(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CloudHsmClusterInvalidConfigurationException',
      message: expect.stringContaining('no ACTIVE HSM'),
    });
    expect(await stateOf(storeId)).toBe('DISCONNECTED');
  });

  const UNKNOWN_STORE = 'cks-00000000000000000';
  it.each([
    ['Connect', () => new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: UNKNOWN_STORE })],
    ['Disconnect', () => new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: UNKNOWN_STORE })],
    ['Update', () => new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: UNKNOWN_STORE, NewCustomKeyStoreName: 'x' })],
    ['Delete', () => new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: UNKNOWN_STORE })],
  ])('rejects %s of an unknown store with CustomKeyStoreNotFoundException', async (_operation, command) => {
    await expect(kms.send(command() as never)).rejects.toMatchObject({ name: 'CustomKeyStoreNotFoundException' });
  });

  it('deletes a DISCONNECTED store and rejects deleting a CONNECTED one with CustomKeyStoreInvalidStateException', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await connectAndSettle(storeId);
    await expect(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CustomKeyStoreInvalidStateException',
      message: expect.stringContaining('CONNECTED'),
    });
    await disconnectAndSettle(storeId);
    await expect(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).resolves.toBeDefined();
    await expect(describeStore(storeId)).rejects.toMatchObject({ name: 'CustomKeyStoreNotFoundException' });
  });

  it('drops a CONNECTED store to FAILED through the admin fail call, and only a CONNECTED or CONNECTING one', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    const refused = await fake.admin('POST', `/_fake/stores/a/fail`, { errorCode: 'NETWORK_ERRORS' });
    expect(refused).toMatchObject({ status: 400, body: { __type: 'ValidationException', message: expect.stringContaining('DISCONNECTED') } });
    await connectAndSettle(storeId);
    const failed = await fake.admin('POST', `/_fake/stores/a/fail`, { errorCode: 'NETWORK_ERRORS' });
    expect(failed.status).toBe(200);
    expect(await describeStore(storeId)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'NETWORK_ERRORS' });
  });

  it('keeps a CONNECTED CloudHSM store CONNECTED when its HSMs vanish', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    await connectAndSettle(storeId);
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { activeHsms: 0 });
    fake.advance(3600);
    expect(await stateOf(storeId)).toBe('CONNECTED');
  });
});

describe('UpdateCustomKeyStore', () => {
  it('renames a DISCONNECTED store: the new name finds it, the old one no longer does', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'old' });
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, NewCustomKeyStoreName: 'new' }));
    const { CustomKeyStores } = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'new' }));
    expect(CustomKeyStores![0]).toMatchObject({ CustomKeyStoreId: storeId, ConnectionState: 'DISCONNECTED' });
    await expect(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'old' }))).rejects.toMatchObject({
      name: 'CustomKeyStoreNotFoundException',
    });
  });

  // The KMS model: every property of a CloudHSM key store changes only while DISCONNECTED; an
  // external key store's name, credential and URI path also while CONNECTED, the rest only DISCONNECTED.
  const STATES = ['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'DISCONNECTING', 'FAILED'] as const;
  type Seeded = { storeId: string; clusterId?: string; uriEndpoint?: string };
  /** One valid change of each property (the value a store has, so that only the state can refuse it). */
  const CHANGES: Record<string, (store: Seeded) => Omit<UpdateCustomKeyStoreCommandInput, 'CustomKeyStoreId'>> = {
    NewCustomKeyStoreName: () => ({ NewCustomKeyStoreName: 'renamed' }),
    KeyStorePassword: () => ({ KeyStorePassword: 'kmsuser-Passw0rd' }),
    CloudHsmClusterId: (store) => ({ CloudHsmClusterId: store.clusterId }),
    XksProxyAuthenticationCredential: () => ({ XksProxyAuthenticationCredential: XKS_CREDENTIAL }),
    XksProxyUriPath: () => ({ XksProxyUriPath: '/kms/xks/v1' }),
    XksProxyUriEndpoint: (store) => ({ XksProxyUriEndpoint: store.uriEndpoint }),
    XksProxyConnectivity: () => ({ XksProxyConnectivity: 'PUBLIC_ENDPOINT' }),
  };
  const PROPERTIES = {
    AWS_CLOUDHSM: ['NewCustomKeyStoreName', 'KeyStorePassword', 'CloudHsmClusterId'],
    EXTERNAL_KEY_STORE: [
      'NewCustomKeyStoreName',
      'XksProxyAuthenticationCredential',
      'XksProxyUriPath',
      'XksProxyUriEndpoint',
      'XksProxyConnectivity',
    ],
  } as const;
  const XKS_WHILE_CONNECTED = ['NewCustomKeyStoreName', 'XksProxyAuthenticationCredential', 'XksProxyUriPath'];

  /** Brings a fresh store to `state`: CONNECTING and DISCONNECTING are caught before they settle. */
  async function storeIn(type: keyof typeof PROPERTIES, state: (typeof STATES)[number]): Promise<Seeded> {
    const store: Seeded = type === 'AWS_CLOUDHSM' ? await cloudHsmStore(fake, { name: 'a' }) : await xksStore(fake, { name: 'a' });
    const connect = () => kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: store.storeId }));
    if (state === 'CONNECTING') await connect();
    if (state === 'CONNECTED' || state === 'DISCONNECTING' || state === 'FAILED') {
      await connect();
      fake.advance(120);
    }
    if (state === 'DISCONNECTING') await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: store.storeId }));
    if (state === 'FAILED') expect((await fake.admin('POST', '/_fake/stores/a/fail', { errorCode: 'NETWORK_ERRORS' })).status).toBe(200);
    expect(await stateOf(store.storeId)).toBe(state);
    return store;
  }

  const table = (Object.keys(PROPERTIES) as (keyof typeof PROPERTIES)[]).flatMap((type) =>
    STATES.flatMap((state) =>
      PROPERTIES[type].map((property) => ({
        type,
        state,
        property,
        allowed: state === 'DISCONNECTED' || (type === 'EXTERNAL_KEY_STORE' && state === 'CONNECTED' && XKS_WHILE_CONNECTED.includes(property)),
      })),
    ),
  );

  it.each(table)(
    '$type $state: UpdateCustomKeyStore of $property is allowed: $allowed (else CustomKeyStoreInvalidStateException)',
    async ({ type, state, property, allowed }) => {
      const store = await storeIn(type, state);
      const update = kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: store.storeId, ...CHANGES[property]!(store) }));
      if (allowed) await expect(update).resolves.toBeDefined();
      else await expect(update).rejects.toMatchObject({ name: 'CustomKeyStoreInvalidStateException', message: expect.stringContaining(state) });
      expect(await stateOf(store.storeId)).toBe(state);
    },
  );

  it('rejects a new name already in use with CustomKeyStoreNameInUseException', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await cloudHsmStore(fake, { name: 'b' });
    await expect(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, NewCustomKeyStoreName: 'b' }))).rejects.toMatchObject({
      name: 'CustomKeyStoreNameInUseException',
    });
  });

  it('rejects changing the cluster of a CONNECTED store with CustomKeyStoreInvalidStateException', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    const restored = await newCluster({ relatedTo: clusterId });
    await connectAndSettle(storeId);
    await expect(
      kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: restored.clusterId })),
    ).rejects.toMatchObject({ name: 'CustomKeyStoreInvalidStateException', message: expect.stringContaining('CloudHsmClusterId') });
  });

  it('moves a store to a related cluster and connects to it', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { deleted: true });
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'CLUSTER_NOT_FOUND' });
    await disconnectAndSettle(storeId);
    const restored = await newCluster({ relatedTo: clusterId });
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: restored.clusterId }));
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'CONNECTED', CloudHsmClusterId: restored.clusterId });
  });

  it('rejects an unrelated cluster with CloudHsmClusterNotRelatedException', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    const unrelated = await newCluster();
    await expect(
      kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: unrelated.clusterId })),
    ).rejects.toMatchObject({ name: 'CloudHsmClusterNotRelatedException', message: expect.stringContaining(unrelated.clusterId) });
  });

  it.each([
    ['an unknown cluster', async () => 'cluster-234567abcde', 'CloudHsmClusterNotFoundException'],
    [
      'a related cluster that is not ACTIVE',
      async (clusterId: string) => {
        const restored = await newCluster({ relatedTo: clusterId });
        await fake.admin('PATCH', `/_fake/clusters/${restored.clusterId}`, { state: 'INITIALIZED' });
        return restored.clusterId;
      },
      'CloudHsmClusterNotActiveException',
    ],
    [
      'a related cluster with one ACTIVE HSM',
      async (clusterId: string) => (await newCluster({ relatedTo: clusterId, activeHsms: 1 })).clusterId,
      'CloudHsmClusterInvalidConfigurationException',
    ],
  ])('rejects %s with %s', async (_case, target, name) => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    const CloudHsmClusterId = await target(clusterId);
    await expect(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId }))).rejects.toMatchObject({ name });
  });

  it('rejects XKS parameters on a CloudHSM store with ValidationException', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await expect(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyUriPath: '/kms/xks/v2' }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('XksProxyUriPath'),
    });
  });

  it('changes the XKS credential and URI path of a CONNECTED external key store, but not its endpoint', async () => {
    const { storeId, uriEndpoint } = await xksStore(fake, { name: 'x' });
    expect(await connectAndSettle(storeId, 60)).toMatchObject({ ConnectionState: 'CONNECTED' });
    const credential = { AccessKeyId: 'NEWACCESSKEYID234567ABCDEFG', RawSecretAccessKey: 'NewSecretAccessKeyThatIsLongEnough0123456789=' };
    await fake.admin('PATCH', '/_fake/xks-proxies', {
      uriEndpoint,
      uriPath: '/v2/kms/xks/v1',
      accessKeyId: credential.AccessKeyId,
      secretAccessKey: credential.RawSecretAccessKey,
    });
    await kms.send(
      new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyUriPath: '/v2/kms/xks/v1', XksProxyAuthenticationCredential: credential }),
    );
    expect((await describeStore(storeId)).XksProxyConfiguration).toMatchObject({ UriPath: '/v2/kms/xks/v1', AccessKeyId: credential.AccessKeyId });
    await expect(
      kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyUriEndpoint: 'https://elsewhere.example.com' })),
    ).rejects.toMatchObject({ name: 'CustomKeyStoreInvalidStateException', message: expect.stringContaining('XksProxyUriEndpoint') });
  });

  it('rejects XKS settings the proxy does not accept with the Create exceptions', async () => {
    const { storeId } = await xksStore(fake, { name: 'x' });
    await expect(
      kms.send(
        new UpdateCustomKeyStoreCommand({
          CustomKeyStoreId: storeId,
          XksProxyAuthenticationCredential: { ...XKS_CREDENTIAL, RawSecretAccessKey: 'WrongSecretAccessKeyThatIsLongEnough01234567' },
        }),
      ),
    ).rejects.toMatchObject({ name: 'XksProxyIncorrectAuthenticationCredentialException' });
    await expect(
      kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyUriEndpoint: 'https://nowhere.example.com' })),
    ).rejects.toMatchObject({ name: 'XksProxyUriUnreachableException' });
  });
});

describe('connect outcomes (CloudHSM)', () => {
  it.each([
    ['CLUSTER_NOT_FOUND', { deleted: true }],
    ['SUBNET_NOT_FOUND', { subnetDeleted: true }],
    ['INSUFFICIENT_CLOUDHSM_HSMS', { activeHsms: 0 }],
    ['INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET', { freeAddresses: 0 }],
    ['USER_NOT_FOUND', { kmsuserExists: false }],
    ['USER_LOCKED_OUT', { kmsuserLockedOut: true }],
    ['USER_LOGGED_IN', { kmsuserLoggedIn: true }],
    ['INVALID_CREDENTIALS', { kmsuserPassword: 'changed-by-a-human' }],
  ])('fails with %s when the world says so as CONNECTING ends', async (errorCode, patch) => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, patch);
    fake.advance(120);
    expect(await describeStore(storeId)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: errorCode });
  });

  it('decides the outcome in the documented order', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { subnetDeleted: true, freeAddresses: 0, kmsuserLoggedIn: true });
    expect((await connectAndSettle(storeId)).ConnectionErrorCode).toBe('SUBNET_NOT_FOUND');
    await disconnectAndSettle(storeId);
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { subnetDeleted: false });
    expect((await connectAndSettle(storeId)).ConnectionErrorCode).toBe('INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET');
    await disconnectAndSettle(storeId);
    await fake.admin('POST', `/_fake/stores/${storeId}/outcome`, { errorCode: 'NETWORK_ERRORS' });
    expect((await connectAndSettle(storeId)).ConnectionErrorCode).toBe('NETWORK_ERRORS');
  });

  it('uses an injected outcome once: the next attempt is decided by the world again', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await fake.admin('POST', '/_fake/stores/a/outcome', { errorCode: 'INTERNAL_ERROR' });
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'INTERNAL_ERROR' });
    await disconnectAndSettle(storeId);
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'CONNECTED' });
  });

  it('rotates the kmsuser password on connect, so that a reconnect still succeeds but the old password no longer works', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a', password: 'original-pass' });
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'CONNECTED' });
    const state = (await fake.admin('GET', '/_fake/state')).body;
    const store = state.partitions[0].stores[0];
    const cluster = state.partitions[0].clusters.find((c: { ClusterId: string }) => c.ClusterId === clusterId);
    expect(store.kmsuser.passwordMatches).toBe(true);
    expect(store.keyStorePassword).toBe(cluster.kmsuser.password);
    await disconnectAndSettle(storeId);
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'CONNECTED' });
    await disconnectAndSettle(storeId);
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, KeyStorePassword: 'original-pass' }));
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'INVALID_CREDENTIALS' });
  });

  it('locks kmsuser out after five INVALID_CREDENTIALS, then reports USER_LOCKED_OUT until a human resets the password', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { kmsuserPassword: 'set-by-a-human' });
    const codes: (string | undefined)[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      codes.push((await connectAndSettle(storeId)).ConnectionErrorCode);
      await disconnectAndSettle(storeId);
    }
    expect(codes).toEqual([...Array(5).fill('INVALID_CREDENTIALS'), 'USER_LOCKED_OUT']);
    const cluster = (await fake.admin('GET', '/_fake/state')).body.partitions[0].clusters[0];
    expect(cluster.kmsuser).toMatchObject({ lockedOut: true, failedLogins: 5 });
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { kmsuserPassword: 'reset-by-a-human' });
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, KeyStorePassword: 'reset-by-a-human' }));
    expect(await connectAndSettle(storeId)).toMatchObject({ ConnectionState: 'CONNECTED' });
  });
});

describe('connect outcomes (external key stores)', () => {
  it('connects after 60 fake seconds', async () => {
    const { storeId } = await xksStore(fake, { name: 'x' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(59);
    expect(await stateOf(storeId)).toBe('CONNECTING');
    fake.advance(1);
    expect(await stateOf(storeId)).toBe('CONNECTED');
  });

  it.each([
    ['XKS_PROXY_NOT_REACHABLE', { reachable: false }],
    ['XKS_PROXY_INVALID_CONFIGURATION', { uriPath: '/moved/kms/xks/v1' }],
    ['INVALID_CREDENTIALS', { secretAccessKey: 'RotatedSecretAccessKeyThatIsLongEnough012345' }],
  ])('fails with %s when the proxy changed', async (errorCode, patch) => {
    const { storeId, uriEndpoint } = await xksStore(fake, { name: 'x' });
    await fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, ...patch });
    expect(await connectAndSettle(storeId, 60)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: errorCode });
  });

  it('fails with XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND when the VPC endpoint service is gone', async () => {
    await newProxy({ vpcEndpointServiceName: VPC_SERVICE });
    const { CustomKeyStoreId } = await kms.send(
      new CreateCustomKeyStoreCommand(xksInput({ XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyVpcEndpointServiceName: VPC_SERVICE })),
    );
    await fake.admin('PATCH', '/_fake/xks-proxies', {
      uriEndpoint: 'https://proxy.example.com',
      vpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-replaced',
    });
    expect(await connectAndSettle(CustomKeyStoreId!, 60)).toMatchObject({
      ConnectionState: 'FAILED',
      ConnectionErrorCode: 'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND',
    });
  });

  it.each([
    'XKS_PROXY_ACCESS_DENIED',
    'XKS_PROXY_INVALID_RESPONSE',
    'XKS_PROXY_TIMED_OUT',
    'XKS_PROXY_INVALID_TLS_CONFIGURATION',
    'XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION',
    'NETWORK_ERRORS',
    'INTERNAL_ERROR',
  ])('fails with the injected outcome %s', async (errorCode) => {
    const { storeId } = await xksStore(fake, { name: 'x' });
    await fake.admin('POST', `/_fake/stores/${storeId}/outcome`, { errorCode });
    expect(await connectAndSettle(storeId, 60)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: errorCode });
  });

  it('rejects an unknown injected error code with 400', async () => {
    await xksStore(fake, { name: 'x' });
    const { status, body } = await fake.admin('POST', '/_fake/stores/x/outcome', { errorCode: 'BAD_LUCK' });
    expect(status).toBe(400);
    expect(body).toMatchObject({ __type: 'ValidationException', message: expect.stringContaining('errorCode') });
  });
});

describe('GenerateRandom', () => {
  it('returns NumberOfBytes random bytes from a CONNECTED CloudHSM key store', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await connectAndSettle(storeId);
    const { Plaintext } = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 32, CustomKeyStoreId: storeId }));
    expect(Plaintext).toHaveLength(32);
  });

  it('rejects a store that is not CONNECTED with CustomKeyStoreInvalidStateException', async () => {
    const { storeId } = await cloudHsmStore(fake, { name: 'a' });
    await expect(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CustomKeyStoreInvalidStateException',
      message: expect.stringContaining('DISCONNECTED'),
    });
  });

  it('rejects a CONNECTED store whose cluster lost every HSM with DependencyTimeoutException (HTTP 500), one the model lists', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    await connectAndSettle(storeId);
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { activeHsms: 0 });
    await expect(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'DependencyTimeoutException',
      $metadata: { httpStatusCode: 500 },
    });
  });

  it('rejects an external key store with UnsupportedOperationException', async () => {
    const { storeId } = await xksStore(fake, { name: 'x' });
    await connectAndSettle(storeId, 60);
    await expect(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'UnsupportedOperationException',
    });
  });

  it.each([0, 1025])('rejects NumberOfBytes %i with ValidationException', async (NumberOfBytes) => {
    await expect(kms.send(new GenerateRandomCommand({ NumberOfBytes }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("at 'numberOfBytes'"),
    });
  });

  it('rejects an unknown store with CustomKeyStoreNotFoundException', async () => {
    await expect(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: 'cks-00000000000000000' }))).rejects.toMatchObject({
      name: 'CustomKeyStoreNotFoundException',
    });
  });
});

describe('KMS keys in custom key stores', () => {
  /** A CONNECTED external key store, its proxy's endpoint and a KMS key backed by external key `xks-key-1`. */
  async function xksKey(name: string): Promise<{ storeId: string; uriEndpoint: string; keyId: string }> {
    const { storeId } = await xksStore(fake, { name, connected: true });
    fake.advance(60);
    const uriEndpoint = (await describeStore(storeId)).XksProxyConfiguration!.UriEndpoint!;
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'xks-key-1', Description: 'probe' }),
    );
    return { storeId, uriEndpoint, keyId: KeyMetadata!.KeyId! };
  }
  const encrypt = (keyId: string) => kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1]) }));

  it('creates a key in a CONNECTED external key store, describes it Enabled with its external key, and encrypts with it', async () => {
    const { storeId, keyId } = await xksKey('x');

    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    const encrypted = await encrypt(KeyMetadata!.Arn!);

    expect(KeyMetadata).toMatchObject({
      KeyState: 'Enabled',
      Origin: 'EXTERNAL_KEY_STORE',
      CustomKeyStoreId: storeId,
      KeySpec: 'SYMMETRIC_DEFAULT',
      XksKeyConfiguration: { Id: 'xks-key-1' },
    });
    expect(encrypted).toMatchObject({ KeyId: KeyMetadata!.Arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    expect(encrypted.CiphertextBlob!.length).toBeGreaterThan(0);
  });

  it('fails the cryptographic calls of a CONNECTED external key store with KMSInvalidStateException while its proxy is down, still CONNECTED', async () => {
    const { storeId, uriEndpoint, keyId } = await xksKey('x');

    await fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, reachable: false });
    const down = encrypt(keyId);
    await expect(down).rejects.toMatchObject({ name: 'KMSInvalidStateException', message: expect.stringContaining('not reachable') });
    expect(await stateOf(storeId)).toBe('CONNECTED');
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe('Enabled');

    await fake.admin('PATCH', '/_fake/xks-proxies', {
      uriEndpoint,
      reachable: true,
      secretAccessKey: 'a-rotated-secret-the-store-does-not-know-yet',
    });
    await expect(encrypt(keyId)).rejects.toMatchObject({ name: 'KMSInvalidStateException', message: expect.stringContaining('credential') });

    await fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, secretAccessKey: XKS_CREDENTIAL.RawSecretAccessKey });
    await expect(encrypt(keyId)).resolves.toMatchObject({ EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
  });

  it('makes the keys of a disconnected store Unavailable and refuses to encrypt with them (KMSInvalidStateException)', async () => {
    const { storeId, keyId } = await xksKey('x');

    await disconnectAndSettle(storeId);

    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe('Unavailable');
    await expect(encrypt(keyId)).rejects.toMatchObject({ name: 'KMSInvalidStateException', message: expect.stringContaining('DISCONNECTED') });
    await expect(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({
      name: 'CustomKeyStoreHasCMKsException',
    });
  });

  it('refuses CreateKey in a store that is not CONNECTED, in a store of the other type, and for an external key already used', async () => {
    const { storeId: hsmStore } = await cloudHsmStore(fake, { name: 'a' });
    const { storeId: xks } = await xksKey('x');

    await expect(kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: hsmStore }))).rejects.toMatchObject({
      name: 'CustomKeyStoreInvalidStateException',
    });
    await expect(kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: xks }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    await expect(
      kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: xks, XksKeyId: 'xks-key-1' })),
    ).rejects.toMatchObject({
      name: 'XksKeyAlreadyInUseException',
    });
    await expect(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: xks }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('XksKeyId'),
    });
    await expect(kms.send(new DescribeKeyCommand({ KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }))).rejects.toMatchObject({
      name: 'NotFoundException',
    });
  });

  it('encrypts with a key of a CloudHSM key store until its cluster has no ACTIVE HSM, while the store stays CONNECTED', async () => {
    const { storeId, clusterId } = await cloudHsmStore(fake, { name: 'a' });
    await connectAndSettle(storeId);
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId }));
    await expect(encrypt(KeyMetadata!.KeyId!)).resolves.toMatchObject({ EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    expect(KeyMetadata).toMatchObject({ Origin: 'AWS_CLOUDHSM', CloudHsmClusterId: clusterId });

    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { activeHsms: 0 });

    await expect(encrypt(KeyMetadata!.KeyId!)).rejects.toMatchObject({ name: 'KMSInvalidStateException' });
    expect(await stateOf(storeId)).toBe('CONNECTED');
  });
});
