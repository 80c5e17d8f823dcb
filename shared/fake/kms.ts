/**
 * KMS custom key stores (AWS CloudHSM key stores and external key stores) with their connection
 * state machine, and GenerateRandom in a CloudHSM key store.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  type ConnectionErrorCode,
  type ConnectionState,
  STORE_TYPES,
  type StoreType,
  XKS_CONNECTIVITY,
  type XksConnectivity,
} from '../domain/types.js';
import {
  type AwsError,
  CloudHsmClusterInUseException,
  CloudHsmClusterInvalidConfigurationException,
  CloudHsmClusterNotActiveException,
  CloudHsmClusterNotFoundException,
  CloudHsmClusterNotRelatedException,
  CustomKeyStoreInvalidStateException,
  CustomKeyStoreNameInUseException,
  CustomKeyStoreNotFoundException,
  IncorrectTrustAnchorException,
  InvalidMarkerException,
  LimitExceededException,
  UnsupportedOperationException,
  ValidationException,
  XksProxyIncorrectAuthenticationCredentialException,
  XksProxyUriEndpointInUseException,
  XksProxyUriInUseException,
  XksProxyUriUnreachableException,
  XksProxyVpcEndpointServiceInUseException,
  XksProxyVpcEndpointServiceInvalidConfigurationException,
  XksProxyVpcEndpointServiceNotFoundException,
} from './errors.js';
import type { Cluster, CryptoUser } from './cloudhsm.js';
import * as random from './random.js';
import { decodeCursor, encodeCursor, epochSeconds, firstAfter, parseInput, RawJson, type Reply } from './wire.js';
import type { CallContext, Partition, WorldContext } from './world.js';

/** How long the asynchronous transitions take, in fake seconds. */
export const DISCONNECT_SECONDS = 5;
export const CONNECT_SECONDS: Record<StoreType, number> = { AWS_CLOUDHSM: 120, EXTERNAL_KEY_STORE: 60 };

/** Default number of custom key stores per account and Region (the AWS quota). */
export const DEFAULT_STORE_QUOTA = 10;

interface CloudHsmSettings {
  clusterId: string;
  trustAnchorCertificate: string;
  /** What KMS believes the kmsuser password is. */
  password: string;
}

interface XksSettings {
  connectivity: XksConnectivity;
  uriEndpoint: string;
  uriPath: string;
  vpcEndpointServiceName?: string;
  vpcEndpointServiceOwner?: string;
  accessKeyId: string;
  secretAccessKey: string;
}

interface StoreFields {
  name: string;
  state: ConnectionState;
  /** Present only when FAILED. */
  errorCode?: ConnectionErrorCode;
  cloudHsm?: CloudHsmSettings;
  xks?: XksSettings;
}

export class CustomKeyStore {
  readonly #fields: StoreFields;
  /** The list entry as JSON bytes, cached until the store changes. */
  #json: Buffer | undefined;
  #epoch = 0;
  /** An outcome injected through the admin API for the next connect attempt. */
  injectedOutcome: ConnectionErrorCode | undefined;

  constructor(
    readonly seq: number,
    readonly id: string,
    readonly type: StoreType,
    readonly createdAt: number,
    fields: StoreFields,
  ) {
    this.#fields = fields;
  }

  get fields(): Readonly<StoreFields> {
    return this.#fields;
  }

  get name(): string {
    return this.#fields.name;
  }

  get state(): ConnectionState {
    return this.#fields.state;
  }

  /** Bumped on every state change: a transition scheduled earlier applies only if its epoch still holds. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Every change goes through here, so that the cached JSON is never stale. */
  set(changes: Partial<StoreFields>): void {
    Object.assign(this.#fields, changes);
    if ('state' in changes) {
      this.#epoch += 1;
      if (changes.state !== 'FAILED') delete this.#fields.errorCode;
    }
    this.#json = undefined;
  }

  /** The `CustomKeyStoresListEntry`, serialised once per change. */
  json(): Buffer {
    this.#json ??= Buffer.from(JSON.stringify(this));
    return this.#json;
  }

  toJSON(): object {
    const { name, state, errorCode, cloudHsm, xks } = this.#fields;
    return {
      CustomKeyStoreId: this.id,
      CustomKeyStoreName: name,
      CustomKeyStoreType: this.type,
      CloudHsmClusterId: cloudHsm?.clusterId,
      TrustAnchorCertificate: cloudHsm?.trustAnchorCertificate,
      ConnectionState: state,
      ConnectionErrorCode: errorCode,
      CreationDate: epochSeconds(this.createdAt),
      XksProxyConfiguration: xks && {
        Connectivity: xks.connectivity,
        AccessKeyId: xks.accessKeyId,
        UriEndpoint: xks.uriEndpoint,
        UriPath: xks.uriPath,
        VpcEndpointServiceName: xks.vpcEndpointServiceName,
        VpcEndpointServiceOwner: xks.vpcEndpointServiceOwner,
      },
    };
  }

  /**
   * The admin view: the list entry plus what KMS holds but never returns (as fingerprints), and
   * the kmsuser of its cluster as KMS's next login would find it.
   */
  toState(kmsuser?: CryptoUser): object {
    const { cloudHsm, xks } = this.#fields;
    return {
      ...this.toJSON(),
      keyStorePassword: cloudHsm && random.fingerprint(cloudHsm.password),
      kmsuser: cloudHsm && kmsuser && { ...kmsuser.toState(), passwordMatches: kmsuser.password === cloudHsm.password },
      xksProxySecretAccessKey: xks && random.fingerprint(xks.secretAccessKey),
      injectedOutcome: this.injectedOutcome,
    };
  }
}

/** The custom key stores of one account and Region. */
export class KmsBackend {
  readonly #byId = new Map<string, CustomKeyStore>();
  readonly #byName = new Map<string, CustomKeyStore>();
  /** In creation order (ascending `seq`): a Marker seeks here by binary search. */
  readonly #ordered: CustomKeyStore[] = [];

  constructor(
    private readonly world: WorldContext,
    private readonly partition: Partition,
  ) {}

  /** A store by id or by name (admin API). */
  find(nameOrId: string): CustomKeyStore | undefined {
    return this.#byId.get(nameOrId) ?? this.#byName.get(nameOrId);
  }

  all(): readonly CustomKeyStore[] {
    return this.#ordered;
  }

  createCustomKeyStore(input: CreateInput): Reply {
    const type = input.CustomKeyStoreType ?? 'AWS_CLOUDHSM';
    const { cloudHsm, xks } =
      type === 'AWS_CLOUDHSM'
        ? { cloudHsm: cloudHsmSettings(input), xks: undefined }
        : { cloudHsm: undefined, xks: xksSettings(input) };
    this.#checkNameFree(input.CustomKeyStoreName);
    if (this.#ordered.length >= this.world.storeQuota) {
      throw new LimitExceededException(
        `You have reached the quota of ${this.world.storeQuota} custom key stores in this account and Region.`,
      );
    }
    if (cloudHsm) {
      const cluster = this.#cluster(cloudHsm.clusterId);
      const user = this.#ordered.find((store) => {
        const other = store.fields.cloudHsm && this.partition.clusters.get(store.fields.cloudHsm.clusterId);
        return store.fields.cloudHsm?.clusterId === cluster.id || other?.lineage === cluster.lineage;
      });
      if (user) {
        throw new CloudHsmClusterInUseException(
          `The cluster ${cluster.id} or a cluster that shares its backup history is already associated with ` +
            `custom key store ${user.id}.`,
        );
      }
      this.#checkClusterUsable(cluster);
      if (normaliseCertificate(cloudHsm.trustAnchorCertificate) !== normaliseCertificate(cluster.lineage.trustAnchorCertificate)) {
        throw new IncorrectTrustAnchorException(
          `The trust anchor certificate is not the trust anchor certificate of cluster ${cluster.id}.`,
        );
      }
    }
    if (xks) this.#checkXks(xks);
    const store = new CustomKeyStore(this.world.nextSeq(), random.storeId(), type, this.world.now(), {
      name: input.CustomKeyStoreName,
      state: 'DISCONNECTED',
      cloudHsm,
      xks,
    });
    this.#byId.set(store.id, store);
    this.#byName.set(store.name, store);
    this.#ordered.push(store);
    return { CustomKeyStoreId: store.id };
  }

  describeCustomKeyStores(input: DescribeInput): Reply {
    if (input.CustomKeyStoreId !== undefined && input.CustomKeyStoreName !== undefined) {
      throw new ValidationException('Specify either CustomKeyStoreId or CustomKeyStoreName, not both.');
    }
    if (input.CustomKeyStoreId !== undefined) return page([this.#get(input.CustomKeyStoreId)]);
    if (input.CustomKeyStoreName !== undefined) {
      const store = this.#byName.get(input.CustomKeyStoreName);
      if (!store) {
        throw new CustomKeyStoreNotFoundException(`No custom key store named ${input.CustomKeyStoreName}.`);
      }
      return page([store]);
    }
    let start = 0;
    if (input.Marker !== undefined) {
      const after = decodeCursor(input.Marker);
      if (after === undefined) throw new InvalidMarkerException('The marker is not valid.');
      start = firstAfter(this.#ordered, after);
    }
    const end = start + (input.Limit ?? 1000);
    const stores = this.#ordered.slice(start, end);
    return page(stores, end < this.#ordered.length ? encodeCursor(stores.at(-1)!.seq) : undefined);
  }

  connectCustomKeyStore(customKeyStoreId: string): Reply {
    const store = this.#get(customKeyStoreId);
    switch (store.state) {
      case 'CONNECTED':
      case 'CONNECTING':
        return {};
      case 'DISCONNECTING':
      case 'FAILED':
        throw invalidState(store, 'ConnectCustomKeyStore', 'a DISCONNECTED, CONNECTING or CONNECTED');
      case 'DISCONNECTED':
        break;
    }
    const clusterId = store.fields.cloudHsm?.clusterId;
    const cluster = clusterId === undefined ? undefined : this.partition.clusters.get(clusterId);
    // A missing or deleted cluster is no synchronous error: the attempt fails with CLUSTER_NOT_FOUND.
    if (cluster && !cluster.deleted) {
      if (cluster.state !== 'ACTIVE') {
        throw new CloudHsmClusterNotActiveException(`The cluster ${cluster.id} is ${cluster.state}, not ACTIVE.`);
      }
      if (cluster.activeHsms.length === 0) {
        throw new CloudHsmClusterInvalidConfigurationException(
          `The cluster ${cluster.id} has no ACTIVE HSM; connecting needs at least one.`,
        );
      }
    }
    store.set({ state: 'CONNECTING' });
    const epoch = store.epoch;
    this.world.schedule(CONNECT_SECONDS[store.type], () => {
      if (store.epoch !== epoch) return; // disconnected meanwhile
      const errorCode = this.#connectOutcome(store);
      store.set(errorCode ? { state: 'FAILED', errorCode } : { state: 'CONNECTED' });
    });
    return {};
  }

  disconnectCustomKeyStore(customKeyStoreId: string): Reply {
    const store = this.#get(customKeyStoreId);
    if (store.state === 'DISCONNECTING' || store.state === 'DISCONNECTED') {
      throw invalidState(store, 'DisconnectCustomKeyStore', 'a CONNECTED, CONNECTING or FAILED');
    }
    store.set({ state: 'DISCONNECTING' });
    const epoch = store.epoch;
    this.world.schedule(DISCONNECT_SECONDS, () => {
      if (store.epoch === epoch) store.set({ state: 'DISCONNECTED' });
    });
    return {};
  }

  updateCustomKeyStore(input: UpdateInput): Reply {
    const store = this.#get(input.CustomKeyStoreId);
    const { CustomKeyStoreId: _id, ...changes } = input;
    const given = Object.keys(changes) as (keyof typeof changes)[];
    const misplaced = given.filter((key) =>
      store.type === 'AWS_CLOUDHSM' ? key.startsWith('Xks') : key === 'CloudHsmClusterId' || key === 'KeyStorePassword',
    );
    if (misplaced.length > 0) {
      throw new ValidationException(`${misplaced.join(', ')} cannot be used with a custom key store of type ${store.type}.`);
    }
    const changeableInAnyState = ['NewCustomKeyStoreName', 'XksProxyAuthenticationCredential', 'XksProxyUriPath'];
    const needDisconnected = given.filter((key) => !changeableInAnyState.includes(key));
    if (store.state !== 'DISCONNECTED' && needDisconnected.length > 0) {
      throw invalidState(store, `UpdateCustomKeyStore of ${needDisconnected.join(', ')}`, 'a DISCONNECTED');
    }
    if (changes.NewCustomKeyStoreName !== undefined && changes.NewCustomKeyStoreName !== store.name) {
      this.#checkNameFree(changes.NewCustomKeyStoreName);
    }

    const next: Partial<StoreFields> = {};
    const cloudHsm = store.fields.cloudHsm;
    if (cloudHsm && (changes.CloudHsmClusterId !== undefined || changes.KeyStorePassword !== undefined)) {
      if (changes.CloudHsmClusterId !== undefined && changes.CloudHsmClusterId !== cloudHsm.clusterId) {
        const cluster = this.#cluster(changes.CloudHsmClusterId);
        const current = this.partition.clusters.get(cloudHsm.clusterId);
        const related = current
          ? current.lineage === cluster.lineage
          : normaliseCertificate(cloudHsm.trustAnchorCertificate) ===
            normaliseCertificate(cluster.lineage.trustAnchorCertificate);
        if (!related) {
          throw new CloudHsmClusterNotRelatedException(
            `The cluster ${cluster.id} does not share a backup history with ${cloudHsm.clusterId}.`,
          );
        }
        this.#checkClusterUsable(cluster);
      }
      next.cloudHsm = {
        ...cloudHsm,
        clusterId: changes.CloudHsmClusterId ?? cloudHsm.clusterId,
        password: changes.KeyStorePassword ?? cloudHsm.password,
      };
    }
    const xks = store.fields.xks;
    if (xks && given.some((key) => key.startsWith('Xks'))) {
      const merged: XksSettings = {
        connectivity: changes.XksProxyConnectivity ?? xks.connectivity,
        uriEndpoint: changes.XksProxyUriEndpoint ?? xks.uriEndpoint,
        uriPath: changes.XksProxyUriPath ?? xks.uriPath,
        vpcEndpointServiceName: changes.XksProxyVpcEndpointServiceName ?? xks.vpcEndpointServiceName,
        vpcEndpointServiceOwner: changes.XksProxyVpcEndpointServiceOwner ?? xks.vpcEndpointServiceOwner,
        accessKeyId: changes.XksProxyAuthenticationCredential?.AccessKeyId ?? xks.accessKeyId,
        secretAccessKey: changes.XksProxyAuthenticationCredential?.RawSecretAccessKey ?? xks.secretAccessKey,
      };
      if (merged.connectivity === 'PUBLIC_ENDPOINT') {
        if (changes.XksProxyVpcEndpointServiceName !== undefined) {
          throw new ValidationException('XksProxyVpcEndpointServiceName is only valid with VPC_ENDPOINT_SERVICE connectivity.');
        }
        delete merged.vpcEndpointServiceName;
        delete merged.vpcEndpointServiceOwner;
      } else if (merged.vpcEndpointServiceName === undefined) {
        throw new ValidationException('XksProxyVpcEndpointServiceName is required with VPC_ENDPOINT_SERVICE connectivity.');
      }
      this.#checkXks(merged, store);
      next.xks = merged;
    }
    if (changes.NewCustomKeyStoreName !== undefined && changes.NewCustomKeyStoreName !== store.name) {
      this.#byName.delete(store.name);
      this.#byName.set(changes.NewCustomKeyStoreName, store);
      next.name = changes.NewCustomKeyStoreName;
    }
    store.set(next);
    return {};
  }

  deleteCustomKeyStore(customKeyStoreId: string): Reply {
    const store = this.#get(customKeyStoreId);
    // CustomKeyStoreHasCMKsException is never raised: the fake has no KMS keys.
    if (store.state !== 'DISCONNECTED') throw invalidState(store, 'DeleteCustomKeyStore', 'a DISCONNECTED');
    this.#byId.delete(store.id);
    this.#byName.delete(store.name);
    this.#ordered.splice(firstAfter(this.#ordered, store.seq - 1), 1);
    return {};
  }

  generateRandom(input: GenerateRandomInput): Reply {
    if (input.CustomKeyStoreId !== undefined) {
      const store = this.#get(input.CustomKeyStoreId);
      if (store.type === 'EXTERNAL_KEY_STORE') {
        throw new UnsupportedOperationException('GenerateRandom is not supported in an external key store.');
      }
      if (store.state !== 'CONNECTED') throw invalidState(store, 'GenerateRandom', 'a CONNECTED');
      // The fake's choice: a CONNECTED store whose cluster has lost every HSM cannot generate
      // randomness (in AWS such calls fail too; the exception is the one KMS uses for "too few HSMs").
      const cluster = this.partition.clusters.get(store.fields.cloudHsm!.clusterId);
      if (!cluster || cluster.activeHsms.length === 0) {
        throw new CloudHsmClusterInvalidConfigurationException(
          `The cluster of custom key store ${store.id} has no ACTIVE HSM.`,
        );
      }
    }
    return { Plaintext: randomBytes(input.NumberOfBytes).toString('base64') };
  }

  /** A lost connection (admin API): the store drops to FAILED now. */
  fail(store: CustomKeyStore, errorCode: ConnectionErrorCode): void {
    if (store.state !== 'CONNECTED' && store.state !== 'CONNECTING') {
      throw new ValidationException(`Only a CONNECTED or CONNECTING store can fail; ${store.name} is ${store.state}.`);
    }
    store.set({ state: 'FAILED', errorCode });
  }

  /**
   * The outcome of a connect attempt when CONNECTING ends, decided from the world at that moment:
   * an error code, or `undefined` for CONNECTED.
   */
  #connectOutcome(store: CustomKeyStore): ConnectionErrorCode | undefined {
    const injected = store.injectedOutcome;
    if (injected) {
      store.injectedOutcome = undefined;
      return injected;
    }
    const { cloudHsm, xks } = store.fields;
    if (cloudHsm) {
      const cluster = this.partition.clusters.get(cloudHsm.clusterId);
      if (!cluster || cluster.deleted) return 'CLUSTER_NOT_FOUND';
      if (cluster.subnetDeleted) return 'SUBNET_NOT_FOUND';
      if (cluster.activeHsms.length === 0) return 'INSUFFICIENT_CLOUDHSM_HSMS';
      if (cluster.freeAddresses === 0) return 'INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET';
      const login = cluster.kmsuser.login(cloudHsm.password);
      if ('error' in login) return login.error;
      // KMS rotates the kmsuser password on connect and keeps the new one.
      store.set({ cloudHsm: { ...cloudHsm, password: login.rotatedPassword } });
      return undefined;
    }
    const settings = xks!;
    const proxy = this.partition.xksProxies.get(settings.uriEndpoint);
    if (settings.vpcEndpointServiceName !== undefined && proxy?.vpcEndpointServiceName !== settings.vpcEndpointServiceName) {
      return 'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND';
    }
    if (!proxy || !proxy.reachable) return 'XKS_PROXY_NOT_REACHABLE';
    if (proxy.uriPath !== settings.uriPath) return 'XKS_PROXY_INVALID_CONFIGURATION';
    if (!proxy.acceptsCredential(settings.accessKeyId, settings.secretAccessKey)) return 'INVALID_CREDENTIALS';
    return undefined;
  }

  #get(customKeyStoreId: string): CustomKeyStore {
    const store = this.#byId.get(customKeyStoreId);
    if (!store) throw new CustomKeyStoreNotFoundException(`Custom key store ${customKeyStoreId} does not exist.`);
    return store;
  }

  #checkNameFree(name: string): void {
    if (this.#byName.has(name)) {
      throw new CustomKeyStoreNameInUseException(`The custom key store name ${name} is already in use.`);
    }
  }

  #cluster(clusterId: string): Cluster {
    const cluster = this.partition.clusters.get(clusterId);
    if (!cluster || cluster.deleted) throw new CloudHsmClusterNotFoundException(`Cluster ${clusterId} was not found.`);
    return cluster;
  }

  /** What Create and Update require of a cluster: ACTIVE, with two ACTIVE HSMs in different AZs. */
  #checkClusterUsable(cluster: Cluster): void {
    if (cluster.state !== 'ACTIVE') {
      throw new CloudHsmClusterNotActiveException(`The cluster ${cluster.id} is ${cluster.state}, not ACTIVE.`);
    }
    if (!cluster.hasActiveHsmsInTwoZones) {
      throw new CloudHsmClusterInvalidConfigurationException(
        `The cluster ${cluster.id} needs at least two ACTIVE HSMs in different Availability Zones.`,
      );
    }
  }

  /**
   * Create/Update checks of XKS settings: uniqueness in the account and Region, then what KMS
   * learns by calling the proxy (here: the proxy registered through the admin API).
   */
  #checkXks(settings: XksSettings, self?: CustomKeyStore): void {
    const isVpc = settings.connectivity === 'VPC_ENDPOINT_SERVICE';
    for (const store of this.#ordered) {
      const other = store.fields.xks;
      if (store === self || !other) continue;
      if (other.uriEndpoint === settings.uriEndpoint && other.uriPath === settings.uriPath) {
        throw new XksProxyUriInUseException(
          `${settings.uriEndpoint}${settings.uriPath} is already used by custom key store ${store.id}.`,
        );
      }
      if (other.uriEndpoint === settings.uriEndpoint && (isVpc || other.connectivity === 'VPC_ENDPOINT_SERVICE')) {
        throw new XksProxyUriEndpointInUseException(
          `${settings.uriEndpoint} is already used by custom key store ${store.id}.`,
        );
      }
      if (isVpc && other.vpcEndpointServiceName === settings.vpcEndpointServiceName) {
        throw new XksProxyVpcEndpointServiceInUseException(
          `${settings.vpcEndpointServiceName} is already used by custom key store ${store.id}.`,
        );
      }
    }
    const proxies = this.partition.xksProxies;
    if (isVpc) {
      const service = [...proxies.values()].find((p) => p.vpcEndpointServiceName === settings.vpcEndpointServiceName);
      if (!service) {
        throw new XksProxyVpcEndpointServiceNotFoundException(
          `The VPC endpoint service ${settings.vpcEndpointServiceName} was not found.`,
        );
      }
      if (service.uriEndpoint !== settings.uriEndpoint) {
        throw new XksProxyVpcEndpointServiceInvalidConfigurationException(
          `The private DNS name of ${settings.vpcEndpointServiceName} does not match ${settings.uriEndpoint}.`,
        );
      }
    }
    const proxy = proxies.get(settings.uriEndpoint);
    if (!proxy || !proxy.reachable || proxy.uriPath !== settings.uriPath) {
      throw new XksProxyUriUnreachableException(`KMS cannot reach an XKS proxy at ${settings.uriEndpoint}${settings.uriPath}.`);
    }
    if (!proxy.acceptsCredential(settings.accessKeyId, settings.secretAccessKey)) {
      throw new XksProxyIncorrectAuthenticationCredentialException(
        `The XKS proxy at ${settings.uriEndpoint} rejected the authentication credential.`,
      );
    }
  }
}

const PAGE_HEAD = Buffer.from('{"CustomKeyStores":[');
const COMMA = Buffer.from(',');

/** One DescribeCustomKeyStores page, assembled from the stores' cached JSON bytes. */
function page(stores: readonly CustomKeyStore[], nextMarker?: string): RawJson {
  const parts: Buffer[] = [PAGE_HEAD];
  stores.forEach((store, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(store.json());
  });
  const tail = nextMarker === undefined ? '"Truncated":false' : `"NextMarker":${JSON.stringify(nextMarker)},"Truncated":true`;
  parts.push(Buffer.from(`],${tail}}`));
  return new RawJson(parts);
}

function invalidState(store: CustomKeyStore, operation: string, needed: string): AwsError {
  return new CustomKeyStoreInvalidStateException(
    `${operation} needs ${needed} custom key store; ${store.id} is ${store.state}.`,
  );
}

/** Certificates are compared as certificates: surrounding whitespace and line endings do not count. */
function normaliseCertificate(pem: string): string {
  return pem.replace(/\r\n?/g, '\n').trim();
}

const CLOUDHSM_PARAMETERS = ['CloudHsmClusterId', 'TrustAnchorCertificate', 'KeyStorePassword'] as const;
const XKS_PARAMETERS = [
  'XksProxyUriEndpoint',
  'XksProxyUriPath',
  'XksProxyVpcEndpointServiceName',
  'XksProxyVpcEndpointServiceOwner',
  'XksProxyAuthenticationCredential',
  'XksProxyConnectivity',
] as const;

function requireFor<K extends keyof CreateInput>(input: CreateInput, type: StoreType, key: K): NonNullable<CreateInput[K]> {
  const value = input[key];
  if (value === undefined) throw new ValidationException(`${key} is required for a custom key store of type ${type}.`);
  return value!;
}

function rejectFor(input: CreateInput, type: StoreType, keys: readonly (keyof CreateInput)[]): void {
  const given = keys.filter((key) => input[key] !== undefined);
  if (given.length > 0) {
    throw new ValidationException(`${given.join(', ')} cannot be used with a custom key store of type ${type}.`);
  }
}

function cloudHsmSettings(input: CreateInput): CloudHsmSettings {
  rejectFor(input, 'AWS_CLOUDHSM', XKS_PARAMETERS);
  return {
    clusterId: requireFor(input, 'AWS_CLOUDHSM', 'CloudHsmClusterId'),
    trustAnchorCertificate: requireFor(input, 'AWS_CLOUDHSM', 'TrustAnchorCertificate'),
    password: requireFor(input, 'AWS_CLOUDHSM', 'KeyStorePassword'),
  };
}

function xksSettings(input: CreateInput): XksSettings {
  const type = 'EXTERNAL_KEY_STORE';
  rejectFor(input, type, CLOUDHSM_PARAMETERS);
  const connectivity = requireFor(input, type, 'XksProxyConnectivity');
  const credential = requireFor(input, type, 'XksProxyAuthenticationCredential');
  const settings: XksSettings = {
    connectivity,
    uriEndpoint: requireFor(input, type, 'XksProxyUriEndpoint'),
    uriPath: requireFor(input, type, 'XksProxyUriPath'),
    accessKeyId: credential.AccessKeyId,
    secretAccessKey: credential.RawSecretAccessKey,
  };
  if (connectivity === 'VPC_ENDPOINT_SERVICE') {
    settings.vpcEndpointServiceName = requireFor(input, type, 'XksProxyVpcEndpointServiceName');
    if (input.XksProxyVpcEndpointServiceOwner !== undefined) {
      settings.vpcEndpointServiceOwner = input.XksProxyVpcEndpointServiceOwner;
    }
  } else {
    rejectFor(input, type, ['XksProxyVpcEndpointServiceName', 'XksProxyVpcEndpointServiceOwner']);
  }
  return settings;
}

// ---- Requests (KMS API model constraints, reference §2) ----

const StoreId = z.string().min(1).max(64);
const StoreName = z.string().min(1).max(256);
const ClusterId = z.string().min(19).max(24).regex(/^cluster-[2-7a-zA-Z]{11,16}$/);
const KeyStorePassword = z.string().min(7).max(32);
const Xks = {
  XksProxyUriEndpoint: z.string().min(10).max(128).regex(/^https:\/\/[a-zA-Z0-9.-]+$/).optional(),
  XksProxyUriPath: z
    .string()
    .min(10)
    .max(128)
    .regex(/^(\/[a-zA-Z0-9/_-]+\/kms\/xks\/v\d{1,2})$|^(\/kms\/xks\/v\d{1,2})$/)
    .optional(),
  XksProxyVpcEndpointServiceName: z
    .string()
    .min(20)
    .max(64)
    .regex(/^com\.amazonaws\.vpce\.([a-z]+-){2,3}\d+\.vpce-svc-[0-9a-z]+$/)
    .optional(),
  XksProxyVpcEndpointServiceOwner: z.string().regex(/^\d{12}$/).optional(),
  XksProxyAuthenticationCredential: z
    .object({
      AccessKeyId: z.string().min(20).max(30).regex(/^[A-Z2-7]+$/),
      RawSecretAccessKey: z.string().min(43).max(64).regex(/^[a-zA-Z0-9/+=]+$/),
    })
    .optional(),
  XksProxyConnectivity: z.enum(XKS_CONNECTIVITY).optional(),
};

const CreateInput = z.object({
  CustomKeyStoreName: StoreName,
  CustomKeyStoreType: z.enum(STORE_TYPES).optional(),
  CloudHsmClusterId: ClusterId.optional(),
  TrustAnchorCertificate: z.string().min(1).max(5000).optional(),
  KeyStorePassword: KeyStorePassword.optional(),
  ...Xks,
});
type CreateInput = z.output<typeof CreateInput>;

const DescribeInput = z.object({
  CustomKeyStoreId: StoreId.optional(),
  CustomKeyStoreName: StoreName.optional(),
  Limit: z.number().int().min(1).max(1000).optional(),
  Marker: z.string().min(1).max(1024).regex(/^[\u0020-\u00FF]*$/).optional(),
});
type DescribeInput = z.output<typeof DescribeInput>;

const StoreIdInput = z.object({ CustomKeyStoreId: StoreId });

const UpdateInput = z.object({
  CustomKeyStoreId: StoreId,
  NewCustomKeyStoreName: StoreName.optional(),
  CloudHsmClusterId: ClusterId.optional(),
  KeyStorePassword: KeyStorePassword.optional(),
  ...Xks,
});
type UpdateInput = z.output<typeof UpdateInput>;

const GenerateRandomInput = z.object({
  NumberOfBytes: z.number().int().min(1).max(1024),
  CustomKeyStoreId: StoreId.optional(),
});
type GenerateRandomInput = z.output<typeof GenerateRandomInput>;

/** `TrentService.<Operation>` handlers: parse, call the model, return its reply. */
export const kmsOperations: Record<string, (call: CallContext, input: unknown) => Reply> = {
  CreateCustomKeyStore: ({ partition }, input) =>
    partition.kms.createCustomKeyStore(parseInput(CreateInput, input, ValidationException)),
  DescribeCustomKeyStores: ({ partition }, input) =>
    partition.kms.describeCustomKeyStores(parseInput(DescribeInput, input, ValidationException)),
  ConnectCustomKeyStore: ({ partition }, input) =>
    partition.kms.connectCustomKeyStore(parseInput(StoreIdInput, input, ValidationException).CustomKeyStoreId),
  DisconnectCustomKeyStore: ({ partition }, input) =>
    partition.kms.disconnectCustomKeyStore(parseInput(StoreIdInput, input, ValidationException).CustomKeyStoreId),
  UpdateCustomKeyStore: ({ partition }, input) =>
    partition.kms.updateCustomKeyStore(parseInput(UpdateInput, input, ValidationException)),
  DeleteCustomKeyStore: ({ partition }, input) =>
    partition.kms.deleteCustomKeyStore(parseInput(StoreIdInput, input, ValidationException).CustomKeyStoreId),
  GenerateRandom: ({ partition }, input) =>
    partition.kms.generateRandom(parseInput(GenerateRandomInput, input, ValidationException)),
};
