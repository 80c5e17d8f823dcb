/**
 * KMS keys, as far as custom key stores need them: symmetric encryption keys created in a CloudHSM
 * key store (`AWS_CLOUDHSM`) or an external key store (`EXTERNAL_KEY_STORE`, backed by an external
 * key the proxy names `XksKeyId`), described, and used to encrypt. A key in a store that is not
 * CONNECTED is `Unavailable`. A CONNECTED store is not proof that a key works: its cryptographic
 * calls fail while the external key store's proxy is unreachable or refuses KMS (wrong path or
 * credential), or while a CloudHSM key store's cluster has no ACTIVE HSM, and KMS answers every such
 * failure with `KMSInvalidStateException` while DescribeCustomKeyStores still says CONNECTED.
 *
 * Every key has the default key policy, which lets the account's IAM policies grant its use (IAM
 * evaluates it as the key's resource policy).
 *
 * Simplifications: keys are only ever Enabled (no disable, deletion or rotation), CreateKey's
 * `Policy` is not taken (every key has the default policy), the ciphertext is an opaque token
 * (nothing decrypts it), `KeyId` is a key id or key ARN (no aliases), and the proxy knows every
 * external key id it is asked for.
 */
import { randomBytes } from 'node:crypto';
import type { CloudHsmBackend } from '../cloudhsm/model.js';
import type { Scope, WorldContext } from '../context.js';
import {
  CloudHsmClusterInvalidConfigurationException,
  CustomKeyStoreInvalidStateException,
  DependencyTimeoutException,
  KMSInvalidStateException,
  NotFoundException,
  UnsupportedOperationException,
  ValidationException,
  XksKeyAlreadyInUseException,
} from '../errors.js';
import type { PolicyDocument } from '../iam/model.js';
import * as random from '../random.js';
import { epochSeconds } from '../wire.js';
import type { CustomKeyStore, KmsBackend } from './model.js';
import type { CreateKeyRequest, EncryptRequest } from './requests.js';
import type { XksProxy } from './xks-proxy.js';

type Origin = 'AWS_KMS' | 'EXTERNAL' | 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE';

export class KmsKey {
  /** The default key policy: the account's IAM policies decide who may use the key. */
  readonly policy: PolicyDocument;

  constructor(
    readonly id: string,
    readonly arn: string,
    readonly accountId: string,
    readonly createdAt: number,
    readonly description: string,
    readonly origin: Origin,
    readonly customKeyStoreId: string | undefined,
    readonly xksKeyId: string | undefined,
  ) {
    this.policy = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' },
      ],
    };
  }
}

export class KeyBackend {
  readonly #byId = new Map<string, KmsKey>();

  constructor(
    private readonly world: WorldContext,
    private readonly scope: Scope,
    private readonly stores: KmsBackend,
    private readonly clusters: CloudHsmBackend,
    private readonly xksProxies: ReadonlyMap<string, XksProxy>,
  ) {}

  all(): readonly KmsKey[] {
    return [...this.#byId.values()];
  }

  createKey(request: CreateKeyRequest): KmsKey {
    const origin = request.Origin ?? 'AWS_KMS';
    if ((request.KeySpec ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT' || (request.KeyUsage ?? 'ENCRYPT_DECRYPT') !== 'ENCRYPT_DECRYPT') {
      throw new UnsupportedOperationException('The fake creates symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) only.');
    }
    const store = request.CustomKeyStoreId === undefined ? undefined : this.stores.byId(request.CustomKeyStoreId);
    if (store) this.#checkStoreTakesKey(store, origin, request.XksKeyId);
    const id = random.uuid();
    const key = new KmsKey(
      id,
      `arn:aws:kms:${this.scope.region}:${this.scope.accountId}:key/${id}`,
      this.scope.accountId,
      this.world.now(),
      request.Description ?? '',
      origin,
      store?.id,
      request.XksKeyId,
    );
    this.#byId.set(id, key);
    return key;
  }

  describeKey(keyRef: string): object {
    return this.#metadata(this.#key(keyRef));
  }

  /** Encrypt: a ciphertext when the key's store can serve it now. */
  encrypt(request: EncryptRequest): { key: KmsKey; ciphertext: Buffer } {
    const key = this.#key(request.KeyId);
    const store = key.customKeyStoreId === undefined ? undefined : this.stores.byId(key.customKeyStoreId);
    if (store) this.#checkServes(key, store);
    return { key, ciphertext: Buffer.concat([Buffer.from(key.id), randomBytes(32)]) };
  }

  #key(keyRef: string): KmsKey {
    const id = keyRef.startsWith('arn:') ? keyRef.slice(keyRef.lastIndexOf('/') + 1) : keyRef;
    const key = this.#byId.get(id);
    if (!key || (keyRef.startsWith('arn:') && key.arn !== keyRef)) throw new NotFoundException(`Key '${keyRef}' does not exist`);
    return key;
  }

  /** What CreateKey requires of the key store it names. */
  #checkStoreTakesKey(store: CustomKeyStore, origin: Origin, xksKeyId: string | undefined): void {
    const expected = origin === 'AWS_CLOUDHSM' ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE';
    if (store.type !== expected) {
      throw new ValidationException(`Origin ${origin} needs a custom key store of type ${expected}; ${store.id} is ${store.type}.`);
    }
    if (store.state !== 'CONNECTED') {
      throw new CustomKeyStoreInvalidStateException(`CreateKey needs a CONNECTED custom key store; ${store.id} is ${store.state}.`);
    }
    if (store.type === 'AWS_CLOUDHSM') {
      const cluster = this.clusters.get(store.fields.cloudHsm!.clusterId);
      if (!cluster?.hasActiveHsmsInTwoZones) {
        throw new CloudHsmClusterInvalidConfigurationException(
          `The cluster of custom key store ${store.id} needs at least two ACTIVE HSMs in different Availability Zones.`,
        );
      }
      return;
    }
    // KMS asks the proxy about the external key: a proxy that does not answer times the call out.
    if (this.#proxyFault(store) !== null) throw new DependencyTimeoutException(`The external key store proxy of ${store.id} did not respond.`);
    if (this.all().some((k) => k.customKeyStoreId === store.id && k.xksKeyId === xksKeyId)) {
      throw new XksKeyAlreadyInUseException(`External key ${xksKeyId} is already used by a KMS key in ${store.id}.`);
    }
  }

  /** Throws the error KMS gives a cryptographic call with `key` when its store cannot serve it now. */
  #checkServes(key: KmsKey, store: CustomKeyStore): void {
    if (store.state !== 'CONNECTED') throw new KMSInvalidStateException(`${key.arn} is unavailable: custom key store ${store.id} is ${store.state}.`);
    if (store.type === 'AWS_CLOUDHSM') {
      const cluster = this.clusters.get(store.fields.cloudHsm!.clusterId);
      if (!cluster || cluster.activeHsms.length === 0) {
        throw new KMSInvalidStateException(`${key.arn} is unavailable: the cluster of custom key store ${store.id} has no ACTIVE HSM.`);
      }
      return;
    }
    const fault = this.#proxyFault(store);
    if (fault !== null) throw new KMSInvalidStateException(`${key.arn} is unavailable: ${fault}.`);
  }

  /** Why the external key store's proxy does not serve KMS now (unreachable, another path, another credential); null when it does. */
  #proxyFault(store: CustomKeyStore): string | null {
    const settings = store.fields.xks!;
    const proxy = this.xksProxies.get(settings.uriEndpoint);
    if (!proxy?.reachable) return `the external key store proxy at ${settings.uriEndpoint} is not reachable`;
    if (proxy.uriPath !== settings.uriPath) return `the external key store proxy rejected the request for ${settings.uriPath}`;
    if (!proxy.acceptsCredential(settings.accessKeyId, settings.secretAccessKey)) {
      return 'the external key store proxy rejected the authentication credential';
    }
    return null;
  }

  #metadata(key: KmsKey): object {
    const store = key.customKeyStoreId === undefined ? undefined : this.stores.byId(key.customKeyStoreId);
    return {
      AWSAccountId: key.accountId,
      KeyId: key.id,
      Arn: key.arn,
      CreationDate: epochSeconds(key.createdAt),
      Enabled: true,
      Description: key.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: store && store.state !== 'CONNECTED' ? 'Unavailable' : 'Enabled',
      Origin: key.origin,
      CustomKeyStoreId: key.customKeyStoreId,
      CloudHsmClusterId: store?.fields.cloudHsm?.clusterId,
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
      XksKeyConfiguration: key.xksKeyId === undefined ? undefined : { Id: key.xksKeyId },
    };
  }
}
