import {
  ConnectCustomKeyStoreCommand,
  CustomKeyStoreNotFoundException,
  type CustomKeyStoresListEntry,
  DescribeCustomKeyStoresCommand,
  DisconnectCustomKeyStoreCommand,
  EncryptCommand,
  GenerateRandomCommand,
  KMSClient,
  KMSInvalidStateException,
  UpdateCustomKeyStoreCommand,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { callWindow } from '../../shared/adapters/clients.js';
import { KmsSdkAdapter } from '../../shared/adapters/kms.js';
import { MutatingCalls } from '../../shared/adapters/mutating-calls.js';
import { TokenBucket } from '../../shared/adapters/token-bucket.js';
import { AwsCallError } from '../../shared/errors.js';
import { ManualClock } from '../helpers/in-memory.js';

const kmsMock = mockClient(KMSClient);

function entry(n: number, overrides: Partial<CustomKeyStoresListEntry> = {}): CustomKeyStoresListEntry {
  return {
    CustomKeyStoreId: `cks-${String(n).padStart(17, '0')}`,
    CustomKeyStoreName: `store-${n}`,
    CustomKeyStoreType: 'AWS_CLOUDHSM',
    ConnectionState: 'CONNECTED',
    CloudHsmClusterId: 'cluster-1a23b4cdefg',
    TrustAnchorCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
    ...overrides,
  };
}

describe('KmsSdkAdapter', () => {
  let clock: ManualClock;
  let adapter: KmsSdkAdapter;

  beforeEach(() => {
    kmsMock.reset();
    clock = new ManualClock();
    adapter = new KmsSdkAdapter(
      new KMSClient({ region: 'us-east-1' }),
      new MutatingCalls(new TokenBucket({ ratePerSecond: 2, burst: 1, clock }), clock, callWindow(60_000)),
    );
  });

  describe('listStores', () => {
    it('reads every page with Limit 1000, passing NextMarker back, until Truncated is false', async () => {
      // Prepare
      kmsMock
        .on(DescribeCustomKeyStoresCommand, { Marker: undefined })
        .resolves({ CustomKeyStores: [entry(1), entry(2)], Truncated: true, NextMarker: 'm1' })
        .on(DescribeCustomKeyStoresCommand, { Marker: 'm1' })
        .resolves({ CustomKeyStores: [entry(3)], Truncated: true, NextMarker: 'm2' })
        .on(DescribeCustomKeyStoresCommand, { Marker: 'm2' })
        .resolves({ CustomKeyStores: [entry(4)], Truncated: false });

      // Act
      const stores = await adapter.listStores();

      // Assess
      expect(stores.map((s) => s.name)).toEqual(['store-1', 'store-2', 'store-3', 'store-4']);
      expect(kmsMock).toHaveReceivedCommandTimes(DescribeCustomKeyStoresCommand, 3);
      expect(kmsMock).toHaveReceivedNthCommandWith(DescribeCustomKeyStoresCommand, 1, { Limit: 1000, Marker: undefined });
      expect(kmsMock).toHaveReceivedNthCommandWith(DescribeCustomKeyStoresCommand, 2, { Limit: 1000, Marker: 'm1' });
      expect(kmsMock).toHaveReceivedNthCommandWith(DescribeCustomKeyStoresCommand, 3, { Limit: 1000, Marker: 'm2' });
    });

    it('stops when Truncated is false even if a NextMarker is present', async () => {
      // Prepare
      kmsMock.on(DescribeCustomKeyStoresCommand).resolves({ CustomKeyStores: [entry(1)], Truncated: false, NextMarker: 'stale' });

      // Act
      const stores = await adapter.listStores();

      // Assess
      expect(stores).toHaveLength(1);
      expect(kmsMock).toHaveReceivedCommandTimes(DescribeCustomKeyStoresCommand, 1);
    });

    it('maps a CloudHSM entry without its trust anchor, and an error code only when FAILED', async () => {
      // Prepare
      kmsMock.on(DescribeCustomKeyStoresCommand).resolves({
        CustomKeyStores: [
          entry(1, { ConnectionState: 'FAILED', ConnectionErrorCode: 'USER_LOCKED_OUT' }),
          entry(2, { ConnectionState: 'DISCONNECTED', ConnectionErrorCode: 'NETWORK_ERRORS' }),
        ],
        Truncated: false,
      });

      // Act
      const [failed, disconnected] = await adapter.listStores();

      // Assess
      expect(failed).toEqual({
        id: 'cks-00000000000000001',
        name: 'store-1',
        type: 'AWS_CLOUDHSM',
        connectionState: 'FAILED',
        connectionErrorCode: 'USER_LOCKED_OUT',
        cloudHsmClusterId: 'cluster-1a23b4cdefg',
      });
      expect(disconnected?.connectionErrorCode).toBeNull();
      expect(JSON.stringify(failed)).not.toContain('CERTIFICATE');
    });

    it('maps an XKS entry with its proxy configuration', async () => {
      // Prepare
      kmsMock.on(DescribeCustomKeyStoresCommand).resolves({
        CustomKeyStores: [
          {
            CustomKeyStoreId: 'cks-xks',
            CustomKeyStoreName: 'partner-xks',
            CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
            ConnectionState: 'CONNECTED',
            XksProxyConfiguration: {
              Connectivity: 'VPC_ENDPOINT_SERVICE',
              AccessKeyId: 'ABCDEFGHIJKLMNOPQRST',
              UriEndpoint: 'https://xks.example.com',
              UriPath: '/kms/xks/v1',
              VpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-1',
            },
          },
        ],
        Truncated: false,
      });

      // Act
      const [store] = await adapter.listStores();

      // Assess
      expect(store).toEqual({
        id: 'cks-xks',
        name: 'partner-xks',
        type: 'EXTERNAL_KEY_STORE',
        connectionState: 'CONNECTED',
        connectionErrorCode: null,
        xksProxy: {
          uriEndpoint: 'https://xks.example.com',
          uriPath: '/kms/xks/v1',
          connectivity: 'VPC_ENDPOINT_SERVICE',
          vpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-1',
        },
      });
      // The access key id KMS returns is sensitive: it is not held.
      expect(JSON.stringify(store)).not.toContain('ABCDEFGHIJKLMNOPQRST');
    });

    it('reads an error code from a newer API as INTERNAL_ERROR', async () => {
      // Prepare
      kmsMock.on(DescribeCustomKeyStoresCommand).resolves({
        CustomKeyStores: [entry(1, { ConnectionState: 'FAILED', ConnectionErrorCode: 'SOMETHING_NEW' as never })],
        Truncated: false,
      });

      // Act
      const [store] = await adapter.listStores();

      // Assess
      expect(store?.connectionErrorCode).toBe('INTERNAL_ERROR');
    });
  });

  describe('describeStore', () => {
    it('looks a store up by id when it has one', async () => {
      // Prepare
      kmsMock.on(DescribeCustomKeyStoresCommand).resolves({ CustomKeyStores: [entry(7)], Truncated: false });

      // Act
      const store = await adapter.describeStore({ id: 'cks-00000000000000007', name: 'store-7' });

      // Assess
      expect(store?.name).toBe('store-7');
      expect(kmsMock).toHaveReceivedCommandExactlyOnceWith(DescribeCustomKeyStoresCommand, {
        CustomKeyStoreId: 'cks-00000000000000007',
      });
    });

    it('returns null when KMS has no store of that name', async () => {
      // Prepare
      kmsMock.on(DescribeCustomKeyStoresCommand).rejects(new CustomKeyStoreNotFoundException({ message: 'not found', $metadata: {} }));

      // Act
      const store = await adapter.describeStore({ name: 'nope' });

      // Assess
      expect(store).toBeNull();
      expect(kmsMock).toHaveReceivedCommandWith(DescribeCustomKeyStoresCommand, { CustomKeyStoreName: 'nope' });
    });

    it('refuses a lookup with neither id nor name', async () => {
      // Act / Assess
      await expect(adapter.describeStore({})).rejects.toThrow(TypeError);
      expect(kmsMock).not.toHaveReceivedAnyCommand();
    });
  });

  describe('mutations', () => {
    it('connects and disconnects by id, spaced by the token bucket', async () => {
      // Prepare
      kmsMock.on(ConnectCustomKeyStoreCommand).resolves({}).on(DisconnectCustomKeyStoreCommand).resolves({});

      // Act
      await adapter.disconnect('cks-1');
      await adapter.connect('cks-1');
      await adapter.connect('cks-2');

      // Assess
      expect(kmsMock).toHaveReceivedCommandWith(DisconnectCustomKeyStoreCommand, { CustomKeyStoreId: 'cks-1' });
      expect(kmsMock).toHaveReceivedNthCommandWith(ConnectCustomKeyStoreCommand, 2, { CustomKeyStoreId: 'cks-2' });
      expect(clock.slept).toEqual([500, 500]);
    });

    it('maps every field of a resolved update to UpdateCustomKeyStore', async () => {
      // Prepare
      kmsMock.on(UpdateCustomKeyStoreCommand).resolves({});

      // Act
      await adapter.update('cks-1', {
        newName: 'renamed',
        cloudHsmClusterId: 'cluster-234567abcdefg',
        keyStorePassword: 'kmsuser-pass',
        xks: {
          uriEndpoint: 'https://xks.example.com',
          uriPath: '/kms/xks/v2',
          connectivity: 'VPC_ENDPOINT_SERVICE',
          vpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-2',
          credential: { accessKeyId: 'ABCDEFGHIJKLMNOPQRST', secretAccessKey: 'c2VjcmV0LWFjY2Vzcy1rZXktb2YtNDMtY2hhcmFjdGVycw==' },
        },
      });

      // Assess
      expect(kmsMock).toHaveReceivedCommandExactlyOnceWith(UpdateCustomKeyStoreCommand, {
        CustomKeyStoreId: 'cks-1',
        NewCustomKeyStoreName: 'renamed',
        CloudHsmClusterId: 'cluster-234567abcdefg',
        KeyStorePassword: 'kmsuser-pass',
        XksProxyUriEndpoint: 'https://xks.example.com',
        XksProxyUriPath: '/kms/xks/v2',
        XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE',
        XksProxyVpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-2',
        XksProxyAuthenticationCredential: {
          AccessKeyId: 'ABCDEFGHIJKLMNOPQRST',
          RawSecretAccessKey: 'c2VjcmV0LWFjY2Vzcy1rZXktb2YtNDMtY2hhcmFjdGVycw==',
        },
      });
    });

    it('sends only what the update changes', async () => {
      // Prepare
      kmsMock.on(UpdateCustomKeyStoreCommand).resolves({});

      // Act
      await adapter.update('cks-1', { keyStorePassword: 'kmsuser-pass' });

      // Assess
      const input = kmsMock.commandCalls(UpdateCustomKeyStoreCommand)[0]?.args[0].input;
      expect(Object.entries(input ?? {}).filter(([, value]) => value !== undefined)).toEqual([
        ['CustomKeyStoreId', 'cks-1'],
        ['KeyStorePassword', 'kmsuser-pass'],
      ]);
    });

    it('keeps the password out of the error of a failed update, even when the service echoes it', async () => {
      // Prepare
      kmsMock.on(UpdateCustomKeyStoreCommand).rejects(
        Object.assign(new Error("Value 'hunter2-secret' at 'keyStorePassword' failed to satisfy constraint"), {
          name: 'ValidationException',
          $fault: 'client',
        }),
      );

      // Act
      const error: unknown = await adapter.update('cks-1', { keyStorePassword: 'hunter2-secret' }).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(AwsCallError);
      const callError = error as AwsCallError;
      expect(callError.code).toBe('ValidationException');
      expect(callError.retryable).toBe(false);
      expect(callError.message).not.toContain('hunter2-secret');
      expect(String((callError.cause as Error).message)).not.toContain('hunter2-secret');
      expect(String((callError.cause as Error).stack)).not.toContain('hunter2-secret');
    });
  });

  describe('probe', () => {
    it('generates one random byte in a CloudHSM key store, and encrypts one constant byte with the key of an external key store', async () => {
      kmsMock.on(GenerateRandomCommand).resolves({});
      kmsMock.on(EncryptCommand).resolves({});

      const results = [
        await adapter.probe({ type: 'AWS_CLOUDHSM', storeId: 'cks-1234567890abcdef0' }),
        await adapter.probe({ type: 'EXTERNAL_KEY_STORE', keyId: KEY }),
      ];

      expect(results).toEqual([{ ok: true }, { ok: true }]);
      expect(kmsMock.commandCalls(GenerateRandomCommand)[0]?.args[0].input).toEqual({ NumberOfBytes: 1, CustomKeyStoreId: 'cks-1234567890abcdef0' });
      expect(kmsMock.commandCalls(EncryptCommand)[0]?.args[0].input).toEqual({ KeyId: KEY, Plaintext: new Uint8Array([0]) });
    });

    it('answers a failure that says the store cannot serve the call (KMSInvalidStateException) with the call and the error', async () => {
      kmsMock.on(EncryptCommand).rejects(new KMSInvalidStateException({ message: 'the external key store proxy is not reachable', $metadata: {} }));

      const result = await adapter.probe({ type: 'EXTERNAL_KEY_STORE', keyId: KEY });

      expect(result).toEqual({
        ok: false,
        operation: 'KMS.Encrypt',
        errorCode: 'KMSInvalidStateException',
        message: expect.stringContaining('the external key store proxy is not reachable'),
      });
    });

    it('throws a failure that says nothing of the store (access denied), as an AwsCallError', async () => {
      const denied = Object.assign(new Error('not authorized to perform: kms:GenerateRandom'), { name: 'AccessDeniedException', $metadata: {} });
      kmsMock.on(GenerateRandomCommand).rejects(denied);

      await expect(adapter.probe({ type: 'AWS_CLOUDHSM', storeId: 'cks-1234567890abcdef0' })).rejects.toMatchObject({
        constructor: AwsCallError,
        code: 'AccessDeniedException',
        operation: 'KMS.GenerateRandom',
      });
    });
  });
});

const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
