/**
 * KMS custom key stores over `@aws-sdk/client-kms`.
 */
import {
  ConnectCustomKeyStoreCommand,
  type CustomKeyStoresListEntry,
  DescribeCustomKeyStoresCommand,
  type DescribeCustomKeyStoresRequest,
  DisconnectCustomKeyStoreCommand,
  EncryptCommand,
  GenerateRandomCommand,
  type KMSClient,
  UpdateCustomKeyStoreCommand,
  type UpdateCustomKeyStoreRequest,
} from '@aws-sdk/client-kms';
import {
  CONNECTION_ERROR_CODES,
  type ConnectionErrorCode,
  type ConnectionState,
  type ObservedStore,
  type StoreType,
  type XksConnectivity,
} from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import type { KmsPort, ProbeResult, ProbeTarget, ResolvedUpdate } from '../reconcile/ports.js';
import { awsCall } from './aws-errors.js';
import { type MutatingCalls, oneAttempt } from './mutating-calls.js';

/**
 * The errors of a probe that say the store cannot serve cryptographic calls now: KMS's answer for a key
 * store that cannot (every failure of an external key store's proxy or key manager, a key that is
 * Unavailable), a dependency that timed out, a store not CONNECTED after all, a probe key gone.
 */
const STORE_CANNOT_SERVE: ReadonlySet<string> = new Set([
  'KMSInvalidStateException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'CustomKeyStoreInvalidStateException',
  'CustomKeyStoreNotFoundException',
  'NotFoundException',
  'DisabledException',
]);

/** The one byte an external key store's probe encrypts: a constant, never data. */
const PROBE_PLAINTEXT = new Uint8Array([0]);

/** The largest page DescribeCustomKeyStores serves. */
const PAGE_LIMIT = 1000;

/** {@link KmsPort} over a `KMSClient`. */
export class KmsSdkAdapter implements KmsPort {
  /** `mutations` sends Connect, Disconnect and Update (shared with the other adapters' mutating calls). */
  constructor(
    private readonly client: KMSClient,
    private readonly mutations: MutatingCalls,
  ) {}

  async listStores(): Promise<ObservedStore[]> {
    const stores: ObservedStore[] = [];
    let marker: string | undefined;
    do {
      const page = await this.describe({ Limit: PAGE_LIMIT, Marker: marker });
      stores.push(...(page.CustomKeyStores ?? []).map(toObservedStore));
      marker = page.Truncated === true ? page.NextMarker : undefined;
    } while (marker !== undefined);
    return stores;
  }

  async describeStore(ref: { id?: string; name?: string }): Promise<ObservedStore | null> {
    // Without either, DescribeCustomKeyStores would list every store and we would return the first.
    if (ref.id === undefined && ref.name === undefined) throw new TypeError('describeStore needs an id or a name');
    const request: DescribeCustomKeyStoresRequest = ref.id !== undefined ? { CustomKeyStoreId: ref.id } : { CustomKeyStoreName: ref.name };
    try {
      const entry = (await this.describe(request)).CustomKeyStores?.[0];
      return entry === undefined ? null : toObservedStore(entry);
    } catch (error) {
      if (error instanceof AwsCallError && error.code === 'CustomKeyStoreNotFoundException') return null;
      throw error;
    }
  }

  async connect(storeId: string): Promise<void> {
    await this.mutations.send('KMS.ConnectCustomKeyStore', () =>
      this.client.send(oneAttempt(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))),
    );
  }

  async disconnect(storeId: string): Promise<void> {
    await this.mutations.send('KMS.DisconnectCustomKeyStore', () =>
      this.client.send(oneAttempt(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))),
    );
  }

  async update(storeId: string, update: ResolvedUpdate): Promise<void> {
    // The XKS access key id is sensitive too (the KMS API marks it so): scrubbed like the secret key.
    const secrets = [update.keyStorePassword, update.xks?.credential?.accessKeyId, update.xks?.credential?.secretAccessKey].filter(
      (value): value is string => value !== undefined,
    );
    await this.mutations.send(
      'KMS.UpdateCustomKeyStore',
      () => this.client.send(oneAttempt(new UpdateCustomKeyStoreCommand(toUpdateRequest(storeId, update)))),
      secrets,
    );
  }

  async probe(target: ProbeTarget): Promise<ProbeResult> {
    const operation = target.type === 'AWS_CLOUDHSM' ? 'KMS.GenerateRandom' : 'KMS.Encrypt';
    try {
      await awsCall(operation, async () => {
        if (target.type === 'AWS_CLOUDHSM') await this.client.send(new GenerateRandomCommand({ NumberOfBytes: 1, CustomKeyStoreId: target.storeId }));
        else await this.client.send(new EncryptCommand({ KeyId: target.keyId, Plaintext: PROBE_PLAINTEXT }));
      });
      return { ok: true };
    } catch (error) {
      if (error instanceof AwsCallError && STORE_CANNOT_SERVE.has(error.code))
        return { ok: false, operation, errorCode: error.code, message: error.message };
      throw error;
    }
  }

  private describe(request: DescribeCustomKeyStoresRequest) {
    return awsCall('KMS.DescribeCustomKeyStores', () => this.client.send(new DescribeCustomKeyStoresCommand(request)));
  }
}

/** Only the fields that are set: an absent field leaves that setting of the store unchanged. */
function toUpdateRequest(storeId: string, update: ResolvedUpdate): UpdateCustomKeyStoreRequest {
  const credential = update.xks?.credential;
  return {
    CustomKeyStoreId: storeId,
    NewCustomKeyStoreName: update.newName,
    CloudHsmClusterId: update.cloudHsmClusterId,
    KeyStorePassword: update.keyStorePassword,
    XksProxyUriEndpoint: update.xks?.uriEndpoint,
    XksProxyUriPath: update.xks?.uriPath,
    XksProxyConnectivity: update.xks?.connectivity,
    XksProxyVpcEndpointServiceName: update.xks?.vpcEndpointServiceName,
    XksProxyAuthenticationCredential:
      credential === undefined ? undefined : { AccessKeyId: credential.accessKeyId, RawSecretAccessKey: credential.secretAccessKey },
  };
}

/**
 * A list entry as the domain sees it. The trust anchor certificate is left behind on purpose.
 *
 * Enumerations from a newer KMS API: an unknown ConnectionErrorCode becomes `INTERNAL_ERROR`, KMS's own
 * catch-all, whose playbook is a few bounded retries and then a human. An unknown ConnectionState,
 * store type or XKS connectivity is kept as-is under the domain type: the plan meets a value it has no
 * rule for and leaves the store alone, and operators see the real value rather than a guess.
 */
function toObservedStore(entry: CustomKeyStoresListEntry): ObservedStore {
  const connectionState = entry.ConnectionState as ConnectionState;
  const store: ObservedStore = {
    id: entry.CustomKeyStoreId ?? '',
    name: entry.CustomKeyStoreName ?? '',
    type: (entry.CustomKeyStoreType ?? 'AWS_CLOUDHSM') as StoreType,
    connectionState,
    connectionErrorCode: connectionState === 'FAILED' ? toErrorCode(entry.ConnectionErrorCode) : null,
  };
  if (entry.CloudHsmClusterId !== undefined) store.cloudHsmClusterId = entry.CloudHsmClusterId;
  const xks = entry.XksProxyConfiguration;
  if (xks !== undefined) {
    store.xksProxy = {
      uriEndpoint: xks.UriEndpoint ?? '',
      uriPath: xks.UriPath ?? '',
      connectivity: xks.Connectivity as XksConnectivity,
    };
    if (xks.VpcEndpointServiceName !== undefined) store.xksProxy.vpcEndpointServiceName = xks.VpcEndpointServiceName;
  }
  return store;
}

function toErrorCode(code: string | undefined): ConnectionErrorCode {
  return CONNECTION_ERROR_CODES.find((known) => known === code) ?? 'INTERNAL_ERROR';
}
