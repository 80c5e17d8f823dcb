/**
 * The world a seed plays in and the people and outages that change it: key stores built in the fake
 * (CloudHSM and XKS, with their clusters, proxies and secrets), then, step by step, failures of all
 * 18 ConnectionErrorCodes, HSM loss, password and credential rotations with and without a new secret
 * version, and operators who apply changes, pause, resume, retry, approve and disconnect by hand.
 * Every choice is drawn from the seed's Rng; every secret value is made here and told to the witness.
 */
import { ConnectCustomKeyStoreCommand, CreateCustomKeyStoreCommand, DisconnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { type DesiredStoreSpec, parseDesiredItem } from '../../domain/desired-schema.js';
import { PLAYBOOKS } from '../../domain/playbooks.js';
import { settingsChange } from '../../domain/settings.js';
import { storeChange } from '../../domain/signatures.js';
import { operatorPartitionKey, storeSubject } from '../../domain/table-keys.js';
import { CONNECTION_ERROR_CODES, type ConnectionErrorCode, DEFAULT_SETTINGS, type Settings, type StoreType } from '../../domain/types.js';
import type { FakeStore, FakeWorld } from './fake-admin.js';
import type { Harness } from './harness.js';
import type { Rng } from './rng.js';

/** Who wrote the desired items, and the second person who signs what needs one; as each signs (two persons). */
const OPERATOR = 'principal/sim-operator';
const APPROVER = 'principal/sim-approver';
const XKS_PATHS = ['/kms/xks/v1', '/alt/kms/xks/v1'] as const;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const UPPER_BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A secret the simulator owns: every version's value, and which is current. */
export interface SimSecret {
  name: string;
  arn: string;
  values: Map<string, string>;
  current: string;
}

export interface SimStore {
  name: string;
  type: StoreType;
  id: string;
  /** CloudHSM: its cluster, and a cluster restored from the same backups when it has one. */
  clusters: string[];
  /** XKS: its proxy's endpoint, and a second proxy's (for endpoint changes). */
  endpoints: string[];
  /** The kmsuser password (CloudHSM) or the XKS proxy credential. */
  secret: SimSecret;
  spec: DesiredStoreSpec;
  paused: boolean;
  /** Its desired entry: as declared, broken by a hand edit of the table, or shared with a second entry naming the same store. */
  entry: 'valid' | 'invalid' | 'shared';
  /** Removed from the desired state (`cks delete`): no longer reconciled. */
  removed: boolean;
}

/** What the world tells the invariant checks about what people did. */
export interface Witness {
  /** Someone acted on this store in a way that may release an escalation (an edit, a secret version, HSMs, `cks retry`...). */
  released(store: string): void;
  /** Someone disconnected the store by hand, while the desired item was at `generation`. */
  changedByHand(store: string, generation: number): void;
  /** An operator reset the store's login budget (`cks retry`). */
  budgetReset(store: string): void;
  /** Someone locked kmsuser out of a cluster on purpose. */
  lockedByHand(clusterId: string): void;
  /** An operator removed the store from the desired state (what it owes must still go out). */
  removed(store: string): void;
  /** A secret value that must never appear in any output. */
  secret(value: string): void;
  note(line: string): void;
  /** Counts what the seed exercised (for the figures). */
  tally(feature: string, count?: number): void;
}

/** The step's action: what it did in words, or null when it did not apply. */
type Act = (store: SimStore, live: FakeStore) => Promise<string | null>;

export class SimWorld {
  /** Every store the seed built, removed ones included (flagged). */
  readonly stores: SimStore[] = [];
  settings: Settings = DEFAULT_SETTINGS;
  #secretSeq = 0;

  constructor(
    private readonly h: Harness,
    private readonly rng: Rng,
    private readonly seed: number,
    private readonly witness: Witness,
  ) {}

  store(name: string): SimStore {
    const store = this.stores.find((s) => s.name === name);
    if (!store) throw new Error(`simulator: no store ${name}`);
    return store;
  }

  storeById(id: string): SimStore | undefined {
    return this.stores.find((s) => s.id === id);
  }

  /** The stores still in the desired state. */
  get declared(): SimStore[] {
    return this.stores.filter((s) => !s.removed);
  }

  /**
   * Two or three stores, each CONNECTED (mostly) and declared (mostly in enforce mode); in some seeds
   * two FAILED stores already make a regional incident.
   */
  async build(): Promise<void> {
    if (this.rng.chance(0.3)) await this.#putSettings({ ...this.settings, blastRadiusMinFailed: 2 });
    const count = this.rng.between(2, 3);
    for (let i = 1; i <= count; i++) {
      const type: StoreType = this.rng.chance(0.65) ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE';
      const store = type === 'AWS_CLOUDHSM' ? await this.#cloudHsmStore(`hsm-${i}`) : await this.#xksStore(`xks-${i}`);
      this.stores.push(store);
      if (this.rng.chance(0.9)) await this.h.operator.kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: store.id }));
    }
    await this.h.table.putDesired(
      this.stores.map((s) => s.spec),
      this.h.clock.now(),
      OPERATOR,
    );
    for (const store of this.stores) this.witness.note(`world: ${store.name} (${store.type}) ${describeSpec(store.spec)}`);
  }

  /** Zero to two things people or outages do before a step's runs; returns the stores they touched. */
  async disturb(world: FakeWorld): Promise<string[]> {
    const touched = new Set<string>();
    const count = this.rng.weighted([
      [0, 2],
      [1, 5],
      [2, 3],
    ] as const);
    for (let i = 0; i < count; i++) {
      const candidates = this.declared.filter((s) => !touched.has(s.name));
      if (candidates.length === 0) break;
      const store = this.rng.pick(candidates);
      const live = world.stores.find((s) => s.CustomKeyStoreId === store.id);
      if (!live) continue;
      const [label, act] = this.rng.weighted<readonly [string, Act]>([
        [['outage: a store FAILED', (s, l) => this.#fail(s, l)], 6],
        [['outage: next connect fails', (s) => this.#injectOutcome(s)], 2],
        [['outage: HSMs lost', (s, l) => this.#loseHsms(s, l)], 2],
        [['human: HSMs restored', (s, l) => this.#restoreHsms(s, l)], 1],
        [['human: secret rotated with a new version', (s) => this.#rotate(s, 'withVersion')], 2],
        [['human: secret rotated without a new version', (s) => this.#rotate(s, 'withoutVersion')], 2],
        [['human: a wrong secret version', (s) => this.#wrongVersion(s)], 1],
        [['outage: XKS proxy unreachable', (s, l) => this.#proxyReachable(s, l, false)], 1],
        [['human: XKS proxy reachable', (s, l) => this.#proxyReachable(s, l, true)], 1],
        [['operator: apply a change', (s) => this.#applyChange(s)], 4],
        [['operator: pause', (s) => this.#request(s, 'pause')], 1],
        [['operator: resume', (s) => this.#request(s, 'resume')], 1],
        [['operator: retry', (s) => this.#request(s, 'retry')], 1],
        [['operator: approve', (s) => this.#approve(s)], 1],
        [['human: disconnect by hand', (s, l) => this.#disconnectByHand(s, l)], 2],
        [['operator: kill switch', () => this.#toggleKillSwitch()], 0.5],
        [['outage: regional, every store FAILED at once', () => this.#failAll()], 0.7],
        [['operator: cks delete', (s) => this.remove(s)], 0.5],
        [['operator: an invalid desired item', (s) => this.#breakEntry(s)], 0.7],
        [['operator: a second desired entry for one store', (s) => this.#shareEntry(s)], 0.7],
        [['operator: the desired entry fixed', (s) => this.#fixEntry(s)], 1.5],
      ]);
      const done = await act(store, live);
      if (done !== null) {
        touched.add(store.name);
        this.witness.note(done);
        this.witness.tally(label);
      }
    }
    return [...touched];
  }

  /**
   * Whenever too many stores are FAILED at once (as `world` shows them), a human follows the
   * regional-incident runbook: raises blastRadiusMaxFailedShare so the reconciler repairs anyway.
   */
  async mendRegionalIncident(world: FakeWorld): Promise<void> {
    const managed = this.declared.filter((s) => s.entry === 'valid');
    const failed = managed.filter((s) => world.stores.find((l) => l.CustomKeyStoreId === s.id)?.ConnectionState === 'FAILED').length;
    if (failed >= this.settings.blastRadiusMinFailed && failed / managed.length > this.settings.blastRadiusMaxFailedShare) {
      // The regional-incident runbook: to repair anyway, raise blastRadiusMaxFailedShare, and two persons sign it.
      await this.#putSettings({ ...this.settings, blastRadiusMaxFailedShare: 1 });
      const change = settingsChange(await this.h.table.getSettings());
      for (const signer of [OPERATOR, APPROVER]) {
        await this.h.table.sign({ signer, scopePk: operatorPartitionKey(this.h.table.scope), ...change, signedAt: this.h.clock.now() });
      }
      this.witness.note(
        `heal: regional incident: blastRadiusMaxFailedShare raised to 1, as its runbook says, to repair anyway (settings generation ${change.generation}, signed by ${OPERATOR} and ${APPROVER})`,
      );
    }
  }

  /**
   * A human mends everything around `stores`: clusters and proxies healthy, a fresh password or
   * credential put in both the cluster or proxy and a new secret version (where the store is not
   * CONNECTED), enforce mode, no pause, no kill switch; then releases each store.
   */
  async heal(world: FakeWorld, stores: readonly SimStore[]): Promise<void> {
    if (this.settings.killSwitch) await this.#toggleKillSwitch();
    for (const store of stores) {
      await this.#fixEntry(store);
      const live = world.stores.find((s) => s.CustomKeyStoreId === store.id);
      const connected = live?.ConnectionState === 'CONNECTED';
      if (store.type === 'AWS_CLOUDHSM') {
        for (const clusterId of store.clusters) {
          await this.h.admin.patchCluster(clusterId, {
            deleted: false,
            state: 'ACTIVE',
            activeHsms: 2,
            kmsuserExists: true,
            kmsuserLoggedIn: false,
            subnetDeleted: false,
            freeAddresses: 250,
          });
        }
      } else {
        const endpoint = store.spec.xksProxy!.uriEndpoint;
        await this.h.admin.patchProxy(endpoint, { reachable: true, uriPath: store.spec.xksProxy!.uriPath });
      }
      if (!connected) await this.#rotate(store, 'withVersion');
      if (store.spec.mode !== 'enforce') await this.#putSpec(store, { ...store.spec, mode: 'enforce' });
      if (store.paused) await this.#request(store, 'resume');
      // `cks retry` lifts an escalation, a hold and a spent login budget; the approval, one pending on the generation it makes.
      await this.#request(store, 'retry');
      await this.#approve(store);
    }
    this.witness.note(
      `heal: ${stores.map((s) => s.name).join(', ')}: clusters, proxies and kmsuser mended, a fresh secret version where not CONNECTED, retried and approved`,
    );
  }

  /** A secret value, told to the witness: it must appear in no output. */
  #remember(value: string): string {
    this.witness.secret(value);
    return value;
  }

  async #cloudHsmStore(name: string): Promise<SimStore> {
    const clusterId = `cluster-${this.#chars(BASE32, 11)}`;
    const password = this.#remember(this.#password(name));
    const { trustAnchorCertificate } = await this.h.admin.createCluster({ clusterId, kmsuserPassword: password });
    const clusters = [clusterId];
    if (this.rng.chance(0.5)) {
      const backup = `cluster-${this.#chars(BASE32, 11)}`;
      await this.h.admin.createCluster({ clusterId: backup, relatedTo: clusterId });
      clusters.push(backup);
    }
    const secret = await this.#secret(`${name}-kmsuser`, password);
    const created = await this.h.operator.kms.send(
      new CreateCustomKeyStoreCommand({
        CustomKeyStoreName: name,
        CloudHsmClusterId: clusterId,
        TrustAnchorCertificate: trustAnchorCertificate,
        KeyStorePassword: password,
      }),
    );
    return {
      name,
      type: 'AWS_CLOUDHSM',
      id: created.CustomKeyStoreId!,
      clusters,
      endpoints: [],
      secret,
      paused: false,
      entry: 'valid',
      removed: false,
      spec: {
        ...this.#commonSpec(name, 'AWS_CLOUDHSM'),
        cloudHsmClusterId: clusterId,
        keyStorePasswordSecretArn: secret.arn,
        allowCreateHsm: this.rng.chance(0.4),
      },
    };
  }

  async #xksStore(name: string): Promise<SimStore> {
    const endpoints = [`https://${name}.xks.example.com`, `https://${name}-b.xks.example.com`];
    const credential = this.#credential();
    for (const uriEndpoint of endpoints) await this.h.admin.createProxy({ uriEndpoint, uriPath: XKS_PATHS[0], ...credential });
    const secret = await this.#secret(`${name}-credential`, JSON.stringify(credential));
    const created = await this.h.operator.kms.send(
      new CreateCustomKeyStoreCommand({
        CustomKeyStoreName: name,
        CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
        XksProxyConnectivity: 'PUBLIC_ENDPOINT',
        XksProxyUriEndpoint: endpoints[0],
        XksProxyUriPath: XKS_PATHS[0],
        XksProxyAuthenticationCredential: { AccessKeyId: credential.accessKeyId, RawSecretAccessKey: credential.secretAccessKey },
      }),
    );
    return {
      name,
      type: 'EXTERNAL_KEY_STORE',
      id: created.CustomKeyStoreId!,
      clusters: [],
      endpoints,
      secret,
      paused: false,
      entry: 'valid',
      removed: false,
      spec: {
        ...this.#commonSpec(name, 'EXTERNAL_KEY_STORE'),
        xksProxy: { uriEndpoint: endpoints[0]!, uriPath: XKS_PATHS[0], connectivity: 'PUBLIC_ENDPOINT', credentialSecretArn: secret.arn },
      },
    };
  }

  #commonSpec(name: string, type: StoreType): DesiredStoreSpec {
    return {
      name,
      type,
      desiredState: this.rng.chance(0.9) ? 'CONNECTED' : 'DISCONNECTED',
      mode: this.rng.weighted([
        ['enforce', 17],
        ['plan', 2],
        ['observe', 1],
      ] as const),
      maxAttempts: this.rng.weighted([
        [1, 1],
        [2, 3],
        [3, 4],
        [4, 2],
      ] as const),
      allowCreateHsm: false,
      onManualDisconnect: this.rng.chance(0.7) ? 'hold' : 'reconnect',
      loginBudget: this.rng.between(1, 3),
    };
  }

  // ------------------------------------------------------------------------------------------
  // Outages

  /** The store drops to FAILED with a code KMS reports for its type; half the time the world is broken to match. */
  async #fail(store: SimStore, live: FakeStore): Promise<string | null> {
    if (live.ConnectionState !== 'CONNECTED' && live.ConnectionState !== 'CONNECTING') return null;
    const code = this.rng.pick(CONNECTION_ERROR_CODES.filter((c) => PLAYBOOKS[c].appliesTo.includes(store.type)));
    await this.h.admin.fail(store.name, code);
    this.witness.tally(`ConnectionErrorCode ${code}`);
    const cause = this.rng.chance(0.5) ? await this.#cause(store, live, code) : null;
    return `outage: ${store.name} FAILED with ${code}${cause ? ` (${cause})` : ' (transient)'}`;
  }

  /** A Region-wide outage: every declared store CONNECTED or CONNECTING drops to FAILED at once. */
  async #failAll(): Promise<string | null> {
    // As the fake has them now: something earlier in this step may have failed one already.
    const world = await this.h.admin.world();
    const up = this.declared.filter((s) =>
      ['CONNECTED', 'CONNECTING'].includes(world.stores.find((l) => l.CustomKeyStoreId === s.id)?.ConnectionState ?? ''),
    );
    if (up.length < 2) return null;
    for (const store of up) await this.h.admin.fail(store.name, store.type === 'AWS_CLOUDHSM' ? 'NETWORK_ERRORS' : 'XKS_PROXY_TIMED_OUT');
    return `outage: ${up.map((s) => s.name).join(', ')} FAILED at once`;
  }

  /** Breaks the world the way `code` says it is broken, where the fake can; the words, or null. */
  async #cause(store: SimStore, live: FakeStore, code: ConnectionErrorCode): Promise<string | null> {
    const clusterId = live.CloudHsmClusterId;
    const cluster = async (patch: Record<string, unknown>, words: string): Promise<string> => {
      await this.h.admin.patchCluster(clusterId!, patch);
      return words;
    };
    const proxy = async (patch: Record<string, unknown>, words: string): Promise<string> => {
      await this.h.admin.patchProxy(live.XksProxyConfiguration!.UriEndpoint, patch);
      return words;
    };
    switch (code) {
      case 'CLUSTER_NOT_FOUND':
        return cluster({ deleted: true }, `cluster ${clusterId} deleted`);
      case 'INSUFFICIENT_CLOUDHSM_HSMS':
        return cluster({ activeHsms: 0 }, `every HSM of ${clusterId} lost`);
      case 'INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET':
        return cluster({ freeAddresses: 0 }, 'no free address left');
      case 'SUBNET_NOT_FOUND':
        return cluster({ subnetDeleted: true }, 'a subnet deleted');
      case 'USER_LOCKED_OUT':
        this.witness.lockedByHand(clusterId!);
        return cluster({ kmsuserLockedOut: true }, 'kmsuser locked out');
      case 'USER_LOGGED_IN':
        return cluster({ kmsuserLoggedIn: true }, 'kmsuser logged in');
      case 'USER_NOT_FOUND':
        return cluster({ kmsuserExists: false }, 'kmsuser deleted');
      case 'INVALID_CREDENTIALS':
        return this.#rotate(store, 'withoutVersion');
      case 'XKS_PROXY_NOT_REACHABLE':
      case 'XKS_PROXY_TIMED_OUT':
        return proxy({ reachable: false }, 'proxy unreachable');
      case 'XKS_PROXY_INVALID_CONFIGURATION':
        return proxy({ uriPath: otherPath(live.XksProxyConfiguration!.UriPath) }, 'proxy moved to another path');
      default:
        return null;
    }
  }

  async #injectOutcome(store: SimStore): Promise<string> {
    const code = this.rng.pick(CONNECTION_ERROR_CODES.filter((c) => PLAYBOOKS[c].appliesTo.includes(store.type)));
    await this.h.admin.outcome(store.name, code);
    this.witness.tally(`ConnectionErrorCode ${code}`);
    return `outage: ${store.name}'s next connect will end FAILED with ${code}`;
  }

  async #loseHsms(store: SimStore, live: FakeStore): Promise<string | null> {
    if (live.CloudHsmClusterId === undefined) return null;
    await this.h.admin.patchCluster(live.CloudHsmClusterId, { activeHsms: 0 });
    return `outage: cluster ${live.CloudHsmClusterId} of ${store.name} lost every HSM`;
  }

  async #restoreHsms(store: SimStore, live: FakeStore): Promise<string | null> {
    if (live.CloudHsmClusterId === undefined) return null;
    await this.h.admin.patchCluster(live.CloudHsmClusterId, { activeHsms: 2 });
    this.witness.released(store.name);
    return `human: two ACTIVE HSMs in cluster ${live.CloudHsmClusterId} of ${store.name}`;
  }

  async #proxyReachable(store: SimStore, live: FakeStore, reachable: boolean): Promise<string | null> {
    const endpoint = live.XksProxyConfiguration?.UriEndpoint;
    if (endpoint === undefined) return null;
    await this.h.admin.patchProxy(endpoint, { reachable });
    return reachable ? `human: proxy ${endpoint} of ${store.name} reachable again` : `outage: proxy ${endpoint} of ${store.name} unreachable`;
  }

  // ------------------------------------------------------------------------------------------
  // Secrets

  /**
   * A new kmsuser password (in the store's clusters) or XKS credential (in its proxies), with a new
   * secret version holding it or without one (the secret still holds the old value).
   */
  async #rotate(store: SimStore, how: 'withVersion' | 'withoutVersion'): Promise<string> {
    let value: string;
    if (store.type === 'AWS_CLOUDHSM') {
      value = this.#remember(this.#password(store.name));
      for (const clusterId of store.clusters) await this.h.admin.patchCluster(clusterId, { kmsuserPassword: value });
    } else {
      const credential = this.#credential();
      value = JSON.stringify(credential);
      for (const uriEndpoint of store.endpoints) await this.h.admin.patchProxy(uriEndpoint, credential);
    }
    const what = store.type === 'AWS_CLOUDHSM' ? 'kmsuser password' : 'proxy credential';
    if (how === 'withoutVersion') return `human: ${store.name}'s ${what} changed, the secret not updated`;
    const version = await this.#putVersion(store, value);
    return `human: ${store.name}'s ${what} changed and put in its secret as version ${version}`;
  }

  /** A new secret version whose value is not the password or credential in use (a typo). */
  async #wrongVersion(store: SimStore): Promise<string> {
    const value = store.type === 'AWS_CLOUDHSM' ? this.#remember(this.#password(store.name)) : JSON.stringify(this.#credential());
    const version = await this.#putVersion(store, value);
    return `human: a wrong value put in ${store.name}'s secret as version ${version}`;
  }

  async #secret(name: string, value: string): Promise<SimSecret> {
    const version = this.#versionId(name);
    // Under the stack's secret prefix: the reconciler's role may read no other secret.
    const created = await this.h.operator.secrets.send(
      new CreateSecretCommand({ Name: `cks/${name}`, SecretString: value, ClientRequestToken: version }),
    );
    return { name, arn: created.ARN!, values: new Map([[version, value]]), current: version };
  }

  async #putVersion(store: SimStore, value: string): Promise<string> {
    const version = this.#versionId(store.secret.name);
    await this.h.operator.secrets.send(new PutSecretValueCommand({ SecretId: store.secret.arn, SecretString: value, ClientRequestToken: version }));
    store.secret.values.set(version, value);
    store.secret.current = version;
    this.witness.released(store.name);
    return version;
  }

  #versionId(secretName: string): string {
    this.#secretSeq += 1;
    return `${secretName}-v${this.#secretSeq}-`.padEnd(32, '0');
  }

  #password(name: string): string {
    return `Kmsuser-${this.seed}-${name}-${this.#chars(ALPHANUMERIC, 6)}`;
  }

  /** An XKS proxy credential; both halves are secrets. */
  #credential(): { accessKeyId: string; secretAccessKey: string } {
    return {
      accessKeyId: this.#remember(`AKIASIM${this.#chars(UPPER_BASE32, 16)}`),
      secretAccessKey: this.#remember(this.#chars(ALPHANUMERIC, 44)),
    };
  }

  #chars(alphabet: string, length: number): string {
    let text = '';
    for (let i = 0; i < length; i++) text += alphabet[this.rng.int(alphabet.length)];
    return text;
  }

  // ------------------------------------------------------------------------------------------
  // Operators

  /** One edit of the desired item, often in the middle of a repair. */
  async #applyChange(store: SimStore): Promise<string | null> {
    const spec = store.spec;
    const changes: Array<[() => DesiredStoreSpec | null, number]> = [
      [() => ({ ...spec, desiredState: spec.desiredState === 'CONNECTED' ? 'DISCONNECTED' : 'CONNECTED' }), 3],
      [
        () => ({
          ...spec,
          mode: this.rng.weighted([
            ['enforce', 3],
            ['plan', 1],
            ['observe', 1],
          ] as const),
        }),
        1,
      ],
      [() => ({ ...spec, maxAttempts: this.rng.between(1, 4) }), 1],
      [() => ({ ...spec, loginBudget: this.rng.between(1, 3) }), 1],
      [() => ({ ...spec, onManualDisconnect: spec.onManualDisconnect === 'hold' ? 'reconnect' : 'hold' }), 1],
      [() => (store.type === 'AWS_CLOUDHSM' ? { ...spec, allowCreateHsm: !spec.allowCreateHsm } : null), 1],
      [() => (store.clusters.length > 1 ? { ...spec, cloudHsmClusterId: store.clusters.find((c) => c !== spec.cloudHsmClusterId)! } : null), 2],
      [() => this.#movedProxyPath(store), 1],
      [
        () =>
          spec.xksProxy
            ? { ...spec, xksProxy: { ...spec.xksProxy, uriEndpoint: store.endpoints.find((e) => e !== spec.xksProxy!.uriEndpoint)! } }
            : null,
        1,
      ],
    ];
    const next = this.rng.weighted(changes)();
    if (next === null) return null;
    await this.#putSpec(store, next);
    return `operator: apply ${store.name}: ${describeChange(spec, next)}`;
  }

  /** The operator moves the proxy of an XKS store to another path and declares it. */
  #movedProxyPath(store: SimStore): DesiredStoreSpec | null {
    const xks = store.spec.xksProxy;
    if (!xks) return null;
    return { ...store.spec, xksProxy: { ...xks, uriPath: otherPath(xks.uriPath) } };
  }

  async #putSpec(store: SimStore, spec: DesiredStoreSpec): Promise<void> {
    const xks = spec.xksProxy;
    if (xks && xks.uriPath !== store.spec.xksProxy?.uriPath) await this.h.admin.patchProxy(xks.uriEndpoint, { uriPath: xks.uriPath });
    store.spec = spec;
    await this.h.table.putDesired([spec], this.h.clock.now(), OPERATOR);
    // Applying the spec mends an item broken by hand (not a second entry, which stays until deleted).
    if (store.entry === 'invalid') store.entry = 'valid';
    this.witness.released(store.name);
  }

  async #request(store: SimStore, request: 'pause' | 'resume' | 'retry'): Promise<string> {
    await this.h.table.request(store.name, request, this.h.clock.now());
    if (request !== 'retry') store.paused = request === 'pause';
    this.witness.released(store.name);
    if (request === 'retry') this.witness.budgetReset(store.name);
    return `operator: cks ${request} ${store.name}`;
  }

  /** The operator who proposed it and a second person sign the generation now declared (`cks approve` by each). */
  async #approve(store: SimStore): Promise<string> {
    const parsed = parseDesiredItem((await this.h.table.load(store.name)).desired);
    if (!parsed.ok) return `operator: cks approve ${store.name}: its desired item is invalid`;
    const change = storeChange(storeSubject(store.name), parsed.desired);
    for (const signer of [OPERATOR, APPROVER]) {
      await this.h.table.sign({ signer, scopePk: operatorPartitionKey(this.h.table.scope), ...change, signedAt: this.h.clock.now() });
    }
    this.witness.released(store.name);
    return `operator: cks approve ${store.name} (generation ${change.generation}, signed by ${OPERATOR} and ${APPROVER})`;
  }

  async #disconnectByHand(store: SimStore, live: FakeStore): Promise<string | null> {
    if (live.ConnectionState === 'DISCONNECTED' || live.ConnectionState === 'DISCONNECTING') return null;
    await this.h.operator.kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: store.id }));
    const { desired } = await this.h.table.load(store.name);
    this.witness.changedByHand(store.name, Number(desired?.generation));
    return `human: DisconnectCustomKeyStore ${store.name} by hand (was ${live.ConnectionState})`;
  }

  /**
   * `cks delete`: the store leaves the desired state; the reconciler closes its status, after
   * publishing what it still owes. A store that owes events is taken first, if any does.
   */
  async remove(drawn: SimStore): Promise<string | null> {
    // A store with a second entry is not removed: that entry would take it over (and rename it), by design.
    const removable = this.declared.filter((s) => s.entry !== 'shared');
    if (this.declared.length < 2 || removable.length === 0) return null;
    const owing = removable.filter((s) => (this.h.table.outboxes.get(s.name) ?? []).length > 0);
    const store = owing.length > 0 ? this.rng.pick(owing) : removable.includes(drawn) ? drawn : this.rng.pick(removable);
    this.witness.removed(store.name);
    await this.h.table.deleteDesired(store.name);
    store.removed = true;
    return `operator: cks delete ${store.name}${owing.length > 0 ? ' (its status still owes events)' : ''}`;
  }

  /** A hand edit of the table breaks the store's desired item (the CLI would have refused it): it is skipped and reported. */
  async #breakEntry(store: SimStore): Promise<string | null> {
    if (store.entry !== 'valid') return null;
    const item = this.h.table.desired.get(store.name)!;
    this.h.table.desired.set(store.name, { ...item, mode: 'sometimes', generation: Number(item.generation) + 1 });
    store.entry = 'invalid';
    return `operator: ${store.name}'s desired item edited by hand in the table, mode "sometimes" (invalid)`;
  }

  /** A second desired entry, under another name, names the same KMS store by its id: neither acts until one goes. */
  async #shareEntry(store: SimStore): Promise<string | null> {
    if (store.entry !== 'valid') return null;
    await this.h.table.putDesired([{ ...store.spec, name: secondEntry(store), id: store.id }], this.h.clock.now(), OPERATOR);
    store.entry = 'shared';
    return `operator: apply a second desired entry ${secondEntry(store)} for ${store.name}'s store ${store.id}`;
  }

  /** The operator mends a broken desired entry: the declared spec applied again, or the second entry deleted. */
  async #fixEntry(store: SimStore): Promise<string | null> {
    if (store.entry === 'valid') return null;
    const was = store.entry;
    if (was === 'invalid') await this.h.table.putDesired([store.spec], this.h.clock.now(), OPERATOR);
    else await this.h.table.deleteDesired(secondEntry(store));
    store.entry = 'valid';
    this.witness.released(store.name);
    return was === 'invalid' ? `operator: apply ${store.name} again (its desired item valid)` : `operator: cks delete ${secondEntry(store)}`;
  }

  async #toggleKillSwitch(): Promise<string> {
    await this.#putSettings({ ...this.settings, killSwitch: !this.settings.killSwitch });
    return `operator: kill switch ${this.settings.killSwitch ? 'on' : 'off'}`;
  }

  async #putSettings(settings: Settings): Promise<void> {
    this.settings = settings;
    await this.h.table.putSettings(settings);
    for (const store of this.stores) this.witness.released(store.name);
  }
}

/** The name of the second desired entry that names the store's KMS store. */
function secondEntry(store: SimStore): string {
  return `${store.name}-again`;
}

function otherPath(path: string): string {
  return path === XKS_PATHS[0] ? XKS_PATHS[1] : XKS_PATHS[0];
}

function describeSpec(spec: DesiredStoreSpec): string {
  return `desired ${spec.desiredState}, mode ${spec.mode}, maxAttempts ${spec.maxAttempts}, loginBudget ${spec.loginBudget}, onManualDisconnect ${spec.onManualDisconnect}${spec.type === 'AWS_CLOUDHSM' ? `, allowCreateHsm ${spec.allowCreateHsm}` : ''}`;
}

/** The fields an edit changed, `field: before → after`. */
function describeChange(before: DesiredStoreSpec, after: DesiredStoreSpec): string {
  const fields = (spec: DesiredStoreSpec): Record<string, unknown> => ({
    ...spec,
    ...(spec.xksProxy ? { uriEndpoint: spec.xksProxy.uriEndpoint, uriPath: spec.xksProxy.uriPath } : {}),
    xksProxy: undefined,
  });
  const a = fields(before);
  const b = fields(after);
  return Object.keys(b)
    .filter((key) => a[key] !== b[key])
    .map((key) => `${key}: ${String(a[key])} → ${String(b[key])}`)
    .join(', ');
}
