/**
 * KMS custom key stores model (AWS CloudHSM key stores and external key stores): the connection
 * state machine, the checks KMS makes against clusters and XKS proxies, and GenerateRandom in a
 * CloudHSM key store. The KMS keys in the stores are `keys.ts`. `toJSON` of a store is its `CustomKeyStoresListEntry`.
 */
import { randomBytes } from 'node:crypto';
import type { CloudHsmBackend, Cluster, CryptoUser } from '../cloudhsm/model.js';
import type { WorldContext } from '../context.js';
import {
  type AwsError,
  CloudHsmClusterInUseException,
  CloudHsmClusterInvalidConfigurationException,
  CloudHsmClusterNotActiveException,
  CloudHsmClusterNotFoundException,
  CloudHsmClusterNotRelatedException,
  CustomKeyStoreHasCMKsException,
  CustomKeyStoreInvalidStateException,
  CustomKeyStoreNameInUseException,
  CustomKeyStoreNotFoundException,
  DependencyTimeoutException,
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
} from '../errors.js';
import * as random from '../random.js';
import { decodeCursor, encodeCursor, epochSeconds, firstAfter } from '../wire.js';
import type { ConnectionErrorCode, ConnectionState, StoreType } from './enums.js';
import type { CloudHsmSettings, DescribeRequest, GenerateRandomRequest, NewCustomKeyStore, UpdateRequest, XksSettings } from './requests.js';
import type { XksProxy } from './xks-proxy.js';

/**
 * What UpdateCustomKeyStore may change while an external key store is CONNECTED (as well as
 * DISCONNECTED); everything else, and every property of a CloudHSM key store, only while DISCONNECTED.
 */
const XKS_CHANGEABLE_WHILE_CONNECTED: ReadonlySet<string> = new Set(['NewCustomKeyStoreName', 'XksProxyAuthenticationCredential', 'XksProxyUriPath']);

/** How long the asynchronous transitions take, in fake seconds. */
export const DISCONNECT_SECONDS = 5;
export const CONNECT_SECONDS: Record<StoreType, number> = { AWS_CLOUDHSM: 120, EXTERNAL_KEY_STORE: 60 };

/** Default number of custom key stores per account and Region (the AWS quota). */
export const DEFAULT_STORE_QUOTA = 10;

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
    const entry = this.toJSON() as { XksProxyConfiguration?: Record<string, unknown> };
    return {
      ...entry,
      // The access key id is sensitive (the KMS API marks it so): the admin view shows a fingerprint.
      ...(entry.XksProxyConfiguration && {
        XksProxyConfiguration: { ...entry.XksProxyConfiguration, AccessKeyId: random.fingerprint(String(entry.XksProxyConfiguration.AccessKeyId)) },
      }),
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
    /** The clusters of the same account and Region. */
    private readonly clusters: CloudHsmBackend,
    /** The XKS proxies KMS can reach from this account and Region, by `uriEndpoint`. */
    private readonly xksProxies: ReadonlyMap<string, XksProxy>,
  ) {}

  /** A store by id or by name (admin API). */
  find(nameOrId: string): CustomKeyStore | undefined {
    return this.#byId.get(nameOrId) ?? this.#byName.get(nameOrId);
  }

  all(): readonly CustomKeyStore[] {
    return this.#ordered;
  }

  createCustomKeyStore({ name, type, cloudHsm, xks }: NewCustomKeyStore): CustomKeyStore {
    this.#checkNameFree(name);
    if (this.#ordered.length >= this.world.storeQuota) {
      throw new LimitExceededException(`You have reached the quota of ${this.world.storeQuota} custom key stores in this account and Region.`);
    }
    if (cloudHsm) {
      const cluster = this.#cluster(cloudHsm.clusterId);
      const user = this.#ordered.find((store) => {
        const other = store.fields.cloudHsm && this.clusters.get(store.fields.cloudHsm.clusterId);
        return store.fields.cloudHsm?.clusterId === cluster.id || other?.lineage === cluster.lineage;
      });
      if (user) {
        throw new CloudHsmClusterInUseException(
          `The cluster ${cluster.id} or a cluster that shares its backup history is already associated with ` + `custom key store ${user.id}.`,
        );
      }
      this.#checkClusterUsable(cluster);
      if (normaliseCertificate(cloudHsm.trustAnchorCertificate) !== normaliseCertificate(cluster.lineage.trustAnchorCertificate)) {
        throw new IncorrectTrustAnchorException(`The trust anchor certificate is not the trust anchor certificate of cluster ${cluster.id}.`);
      }
    }
    if (xks) this.#checkXks(xks);
    const store = new CustomKeyStore(this.world.nextSeq(), random.storeId(), type, this.world.now(), {
      name,
      state: 'DISCONNECTED',
      cloudHsm,
      xks,
    });
    this.#byId.set(store.id, store);
    this.#byName.set(store.name, store);
    this.#ordered.push(store);
    return store;
  }

  /** The store named by id or name, or one page of all stores and the marker of the next page while there is one. */
  describeCustomKeyStores(request: DescribeRequest): { stores: readonly CustomKeyStore[]; nextMarker?: string } {
    if (request.CustomKeyStoreId !== undefined) return { stores: [this.#get(request.CustomKeyStoreId)] };
    if (request.CustomKeyStoreName !== undefined) {
      const store = this.#byName.get(request.CustomKeyStoreName);
      if (!store) {
        throw new CustomKeyStoreNotFoundException(`No custom key store named ${request.CustomKeyStoreName}.`);
      }
      return { stores: [store] };
    }
    let start = 0;
    if (request.Marker !== undefined) {
      const after = decodeCursor(request.Marker);
      if (after === undefined) throw new InvalidMarkerException('The marker is not valid.');
      start = firstAfter(this.#ordered, after);
    }
    const end = start + (request.Limit ?? 1000);
    const stores = this.#ordered.slice(start, end);
    return end < this.#ordered.length ? { stores, nextMarker: encodeCursor(stores.at(-1)!.seq) } : { stores };
  }

  connectCustomKeyStore(customKeyStoreId: string): void {
    const store = this.#get(customKeyStoreId);
    switch (store.state) {
      case 'CONNECTED':
      case 'CONNECTING':
        return;
      case 'DISCONNECTING':
      case 'FAILED':
        throw invalidState(store, 'ConnectCustomKeyStore', 'a DISCONNECTED, CONNECTING or CONNECTED');
      case 'DISCONNECTED':
        break;
    }
    const clusterId = store.fields.cloudHsm?.clusterId;
    const cluster = clusterId === undefined ? undefined : this.clusters.get(clusterId);
    // A missing or deleted cluster is no synchronous error: the attempt fails with CLUSTER_NOT_FOUND.
    if (cluster && !cluster.deleted) {
      if (cluster.state !== 'ACTIVE') {
        throw new CloudHsmClusterNotActiveException(`The cluster ${cluster.id} is ${cluster.state}, not ACTIVE.`);
      }
      if (cluster.activeHsms.length === 0) {
        throw new CloudHsmClusterInvalidConfigurationException(`The cluster ${cluster.id} has no ACTIVE HSM; connecting needs at least one.`);
      }
    }
    store.set({ state: 'CONNECTING' });
    const epoch = store.epoch;
    this.world.schedule(CONNECT_SECONDS[store.type], () => {
      if (store.epoch !== epoch) return; // disconnected meanwhile
      const errorCode = this.#connectOutcome(store);
      store.set(errorCode ? { state: 'FAILED', errorCode } : { state: 'CONNECTED' });
    });
  }

  disconnectCustomKeyStore(customKeyStoreId: string): void {
    const store = this.#get(customKeyStoreId);
    if (store.state === 'DISCONNECTING' || store.state === 'DISCONNECTED') {
      throw invalidState(store, 'DisconnectCustomKeyStore', 'a CONNECTED, CONNECTING or FAILED');
    }
    store.set({ state: 'DISCONNECTING' });
    const epoch = store.epoch;
    this.world.schedule(DISCONNECT_SECONDS, () => {
      if (store.epoch === epoch) store.set({ state: 'DISCONNECTED' });
    });
  }

  updateCustomKeyStore(request: UpdateRequest): void {
    const store = this.#get(request.CustomKeyStoreId);
    const { CustomKeyStoreId: _id, ...changes } = request;
    const given = Object.keys(changes) as (keyof typeof changes)[];
    const misplaced = given.filter((key) =>
      store.type === 'AWS_CLOUDHSM' ? key.startsWith('Xks') : key === 'CloudHsmClusterId' || key === 'KeyStorePassword',
    );
    if (misplaced.length > 0) {
      throw new ValidationException(`${misplaced.join(', ')} cannot be used with a custom key store of type ${store.type}.`);
    }
    if (store.state !== 'DISCONNECTED') {
      const whileConnected = store.type === 'EXTERNAL_KEY_STORE' ? XKS_CHANGEABLE_WHILE_CONNECTED : new Set<string>();
      const needDisconnected = given.filter((key) => !whileConnected.has(key));
      if (needDisconnected.length > 0) throw invalidState(store, `UpdateCustomKeyStore of ${needDisconnected.join(', ')}`, 'a DISCONNECTED');
      if (store.state !== 'CONNECTED') throw invalidState(store, `UpdateCustomKeyStore of ${given.join(', ')}`, 'a CONNECTED or DISCONNECTED');
    }
    if (changes.NewCustomKeyStoreName !== undefined && changes.NewCustomKeyStoreName !== store.name) {
      this.#checkNameFree(changes.NewCustomKeyStoreName);
    }

    const next: Partial<StoreFields> = {};
    const cloudHsm = store.fields.cloudHsm;
    if (cloudHsm && (changes.CloudHsmClusterId !== undefined || changes.KeyStorePassword !== undefined)) {
      if (changes.CloudHsmClusterId !== undefined && changes.CloudHsmClusterId !== cloudHsm.clusterId) {
        const cluster = this.#cluster(changes.CloudHsmClusterId);
        const current = this.clusters.get(cloudHsm.clusterId);
        const related = current
          ? current.lineage === cluster.lineage
          : normaliseCertificate(cloudHsm.trustAnchorCertificate) === normaliseCertificate(cluster.lineage.trustAnchorCertificate);
        if (!related) {
          throw new CloudHsmClusterNotRelatedException(`The cluster ${cluster.id} does not share a backup history with ${cloudHsm.clusterId}.`);
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
  }

  /** Deletes a store; `hasKeys` says whether KMS keys live in it (they live in `KeyBackend`). */
  deleteCustomKeyStore(customKeyStoreId: string, hasKeys: (storeId: string) => boolean): void {
    const store = this.#get(customKeyStoreId);
    if (hasKeys(store.id)) throw new CustomKeyStoreHasCMKsException(`Custom key store ${store.id} contains KMS keys; schedule their deletion first.`);
    if (store.state !== 'DISCONNECTED') throw invalidState(store, 'DeleteCustomKeyStore', 'a DISCONNECTED');
    this.#byId.delete(store.id);
    this.#byName.delete(store.name);
    this.#ordered.splice(firstAfter(this.#ordered, store.seq - 1), 1);
  }

  /** `NumberOfBytes` random bytes, from the store's cluster when a CloudHSM key store is named. */
  generateRandom(request: GenerateRandomRequest): Buffer {
    if (request.CustomKeyStoreId !== undefined) {
      const store = this.#get(request.CustomKeyStoreId);
      if (store.type === 'EXTERNAL_KEY_STORE') {
        throw new UnsupportedOperationException('GenerateRandom is not supported in an external key store.');
      }
      if (store.state !== 'CONNECTED') throw invalidState(store, 'GenerateRandom', 'a CONNECTED');
      // A CONNECTED store whose cluster has lost every HSM cannot generate randomness: KMS waits on an
      // HSM that never answers. Of the exceptions the KMS model lists for GenerateRandom, that is
      // DependencyTimeoutException (the fake's choice).
      const cluster = this.clusters.get(store.fields.cloudHsm!.clusterId);
      if (!cluster || cluster.activeHsms.length === 0) {
        throw new DependencyTimeoutException(`The cluster of custom key store ${store.id} has no ACTIVE HSM.`);
      }
    }
    return randomBytes(request.NumberOfBytes);
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
      const cluster = this.clusters.get(cloudHsm.clusterId);
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
    const proxy = this.xksProxies.get(settings.uriEndpoint);
    if (settings.vpcEndpointServiceName !== undefined && proxy?.vpcEndpointServiceName !== settings.vpcEndpointServiceName) {
      return 'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND';
    }
    if (!proxy?.reachable) return 'XKS_PROXY_NOT_REACHABLE';
    if (proxy.uriPath !== settings.uriPath) return 'XKS_PROXY_INVALID_CONFIGURATION';
    if (!proxy.acceptsCredential(settings.accessKeyId, settings.secretAccessKey)) return 'INVALID_CREDENTIALS';
    return undefined;
  }

  /** A store by id; CustomKeyStoreNotFoundException when there is none. */
  byId(customKeyStoreId: string): CustomKeyStore {
    return this.#get(customKeyStoreId);
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
    const cluster = this.clusters.get(clusterId);
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
        throw new XksProxyUriInUseException(`${settings.uriEndpoint}${settings.uriPath} is already used by custom key store ${store.id}.`);
      }
      if (other.uriEndpoint === settings.uriEndpoint && (isVpc || other.connectivity === 'VPC_ENDPOINT_SERVICE')) {
        throw new XksProxyUriEndpointInUseException(`${settings.uriEndpoint} is already used by custom key store ${store.id}.`);
      }
      if (isVpc && other.vpcEndpointServiceName === settings.vpcEndpointServiceName) {
        throw new XksProxyVpcEndpointServiceInUseException(`${settings.vpcEndpointServiceName} is already used by custom key store ${store.id}.`);
      }
    }
    const proxies = this.xksProxies;
    if (isVpc) {
      const service = [...proxies.values()].find((p) => p.vpcEndpointServiceName === settings.vpcEndpointServiceName);
      if (!service) {
        throw new XksProxyVpcEndpointServiceNotFoundException(`The VPC endpoint service ${settings.vpcEndpointServiceName} was not found.`);
      }
      if (service.uriEndpoint !== settings.uriEndpoint) {
        throw new XksProxyVpcEndpointServiceInvalidConfigurationException(
          `The private DNS name of ${settings.vpcEndpointServiceName} does not match ${settings.uriEndpoint}.`,
        );
      }
    }
    const proxy = proxies.get(settings.uriEndpoint);
    if (!proxy?.reachable || proxy.uriPath !== settings.uriPath) {
      throw new XksProxyUriUnreachableException(`KMS cannot reach an XKS proxy at ${settings.uriEndpoint}${settings.uriPath}.`);
    }
    if (!proxy.acceptsCredential(settings.accessKeyId, settings.secretAccessKey)) {
      throw new XksProxyIncorrectAuthenticationCredentialException(
        `The XKS proxy at ${settings.uriEndpoint} rejected the authentication credential.`,
      );
    }
  }
}

function invalidState(store: CustomKeyStore, operation: string, needed: string): AwsError {
  return new CustomKeyStoreInvalidStateException(`${operation} needs ${needed} custom key store; ${store.id} is ${store.state}.`);
}

/** Certificates are compared as certificates: surrounding whitespace and line endings do not count. */
function normaliseCertificate(pem: string): string {
  return pem.replace(/\r\n?/g, '\n').trim();
}
