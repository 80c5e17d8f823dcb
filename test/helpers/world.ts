/**
 * The one place tests build a world: key stores, clusters, secrets and stores files.
 *
 * ```ts
 * // As the core sees them (plain values, small valid defaults, overridden per test):
 * cloudHsmDesired({ mode: 'observe' }); cloudHsmObserved({ connectionState: 'FAILED' }); cluster({ activeHsms: 1 });
 *
 * // In the fake (its admin API and the AWS APIs), any account and Region:
 * const store = await cloudHsmStore(fake, { name: 'payments-hsm', connected: true, secret: true });
 * const xks = await xksStore(fake, { name: 'partner-xks', secret: true });
 *
 * // A stores file declaring it (the same entry is a spec for the table):
 * const file = storesFiles(dir)(storesYaml(cloudHsmEntry(store), { name: 'spare', desiredState: 'DISCONNECTED' }));
 * ```
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { stringify } from 'yaml';
import type { ClusterView, DesiredStore, ObservedStore } from '../../shared/domain/types.js';
import type { TestFake } from './fake.js';

// ---- As the core sees them --------------------------------------------------------------------

export const SCOPE = { accountId: '111122223333', region: 'us-east-1' };
export const STORE_ID = 'cks-1234567890abcdef0';
export const CLUSTER = 'cluster-abcdefghijk';
export const OTHER_CLUSTER = 'cluster-zyxwvutsrqp';
export const PASSWORD_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser';
export const CREDENTIAL_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:partner-xks';

/** What every desired store has unless a test says otherwise: enforced, CONNECTED, generation 1. */
const DESIRED_DEFAULTS = {
  desiredState: 'CONNECTED',
  mode: 'enforce',
  maxAttempts: 3,
  allowCreateHsm: false,
  onManualDisconnect: 'hold',
  loginBudget: 2,
  paused: false,
  generation: 1,
  retryRequestedAt: null,
  changedBy: null,
} as const satisfies Partial<DesiredStore>;

/** `payments-hsm` on {@link CLUSTER}, its password in {@link PASSWORD_ARN}. */
export function cloudHsmDesired(over: Partial<DesiredStore> = {}): DesiredStore {
  return {
    name: 'payments-hsm',
    type: 'AWS_CLOUDHSM',
    cloudHsmClusterId: CLUSTER,
    keyStorePasswordSecretArn: PASSWORD_ARN,
    ...DESIRED_DEFAULTS,
    ...over,
  };
}

/** `partner-xks` behind a public proxy, its credential in {@link CREDENTIAL_ARN}. */
export function xksDesired(over: Partial<DesiredStore> = {}): DesiredStore {
  return {
    name: 'partner-xks',
    type: 'EXTERNAL_KEY_STORE',
    xksProxy: {
      uriEndpoint: 'https://xks.example.com',
      uriPath: '/kms/xks/v1',
      connectivity: 'PUBLIC_ENDPOINT',
      credentialSecretArn: CREDENTIAL_ARN,
    },
    ...DESIRED_DEFAULTS,
    ...over,
  };
}

/** `payments-hsm` ({@link STORE_ID}) as KMS describes it: CONNECTED, on {@link CLUSTER}. */
export function cloudHsmObserved(over: Partial<ObservedStore> = {}): ObservedStore {
  return {
    id: STORE_ID,
    name: 'payments-hsm',
    type: 'AWS_CLOUDHSM',
    connectionState: 'CONNECTED',
    connectionErrorCode: null,
    cloudHsmClusterId: CLUSTER,
    ...over,
  };
}

/** `partner-xks` as KMS describes it: CONNECTED. */
export function xksObserved(over: Partial<ObservedStore> = {}): ObservedStore {
  return {
    id: 'cks-0fedcba0987654321',
    name: 'partner-xks',
    type: 'EXTERNAL_KEY_STORE',
    connectionState: 'CONNECTED',
    connectionErrorCode: null,
    xksProxy: {
      uriEndpoint: 'https://xks.example.com',
      uriPath: '/kms/xks/v1',
      connectivity: 'PUBLIC_ENDPOINT',
    },
    ...over,
  };
}

/** {@link CLUSTER}: ACTIVE, with two ACTIVE HSMs in two of three Availability Zones. */
export function cluster(over: Partial<ClusterView> = {}): ClusterView {
  return {
    clusterId: CLUSTER,
    state: 'ACTIVE',
    activeHsms: 2,
    creatingHsms: 0,
    availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
    hsmAvailabilityZones: ['us-east-1a', 'us-east-1b'],
    ...over,
  };
}

/** Clusters by id, as the core reads them. */
export function clusters(...views: ClusterView[]): ReadonlyMap<string, ClusterView> {
  return new Map(views.map((v) => [v.clusterId, v]));
}

// ---- In the fake ------------------------------------------------------------------------------

/** Account and Region of a seeded resource (default `000000000000` / `us-east-1`). */
export interface SeedScope {
  accountId?: string;
  region?: string;
}

/** The kmsuser password the seeded clusters, stores and secrets share unless a test names another. */
export const KMSUSER_PASSWORD = 'kmsuser-Passw0rd';

/** An XKS proxy credential that passes KMS's validation. */
export const XKS_CREDENTIAL = {
  AccessKeyId: 'AKIAXKSPROXY234567EXAMPLE',
  RawSecretAccessKey: 'K4rNw8dBsvGn2TkqPmR5aXzC7yLhJ3eWuQ9iOfS1bVd=',
};

interface SeedClients {
  kms: KMSClient;
  secrets: SecretsManagerClient;
}

/** One pair of clients per fake and scope (building a client costs milliseconds). */
const seedClients = new WeakMap<TestFake, Map<string, SeedClients>>();

type Sdk = [typeof import('@aws-sdk/client-kms'), typeof import('@aws-sdk/client-secrets-manager')];
let sdk: Promise<Sdk> | undefined;

/** The SDK, loaded on first use, so that unit tests, which build only plain values, do not pay for loading it. */
function loadSdk(): Promise<Sdk> {
  sdk ??= Promise.all([import('@aws-sdk/client-kms'), import('@aws-sdk/client-secrets-manager')]);
  return sdk;
}

/** The operator's clients in `scope`. */
async function clientsFor(fake: TestFake, scope: SeedScope): Promise<SeedClients> {
  const byScope = seedClients.get(fake) ?? new Map<string, SeedClients>();
  seedClients.set(fake, byScope);
  const key = `${scope.accountId ?? ''}/${scope.region ?? ''}`;
  const known = byScope.get(key);
  if (known) return known;
  const [{ KMSClient }, { SecretsManagerClient }] = await loadSdk();
  const config = fake.configFor(scope);
  const made = { kms: new KMSClient(config), secrets: new SecretsManagerClient(config) };
  byScope.set(key, made);
  return made;
}

/** What a seeding call adds when its options ask for a secret (`secret: true` or a name). */
type WithSecret<O, Added> = O extends { secret: true | string } ? Added : unknown;

/** A secret holding `value`, created by the operator of `scope`; returns its ARN. */
export async function secret(fake: TestFake, options: SeedScope & { name: string; value: string }): Promise<string> {
  const { name, value, ...scope } = options;
  const [, { CreateSecretCommand }] = await loadSdk();
  const { ARN } = await (await clientsFor(fake, scope)).secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return ARN!;
}

export interface CloudHsmStoreOptions extends SeedScope {
  name: string;
  /** The cluster's kmsuser password, given to the store (and held by its secret). Default {@link KMSUSER_PASSWORD}. */
  password?: string;
  /** ACTIVE HSMs of the cluster (default 2; the store is created with 2, then the cluster is set to this). */
  activeHsms?: number;
  /** Connects the store and moves fake time on until it is CONNECTED (default: left DISCONNECTED). */
  connected?: boolean;
  /** Creates its password secret: `true` names it `cks/<name>-kmsuser`, under the deployment's prefix. */
  secret?: true | string;
}

export interface SeededCloudHsmStore {
  name: string;
  storeId: string;
  clusterId: string;
  trustAnchorCertificate: string;
}

/**
 * An ACTIVE cluster (admin API) and a CloudHSM key store on it (KMS API, the operator of its scope),
 * DISCONNECTED unless `connected`, and its password secret if `secret` is given.
 */
export async function cloudHsmStore<O extends CloudHsmStoreOptions>(
  fake: TestFake,
  options: O,
): Promise<SeededCloudHsmStore & WithSecret<O, { secretArn: string }>> {
  const { name, password = KMSUSER_PASSWORD, activeHsms = 2, connected = false, secret: secretName, ...scope } = options;
  const seeded = await fake.admin('POST', '/_fake/clusters', { ...scope, kmsuserPassword: password, activeHsms: Math.max(activeHsms, 2) });
  if (seeded.status !== 200) throw new Error(`POST /_fake/clusters: ${JSON.stringify(seeded.body)}`);
  const { clusterId, trustAnchorCertificate } = seeded.body as { clusterId: string; trustAnchorCertificate: string };
  const [{ CreateCustomKeyStoreCommand, ConnectCustomKeyStoreCommand }] = await loadSdk();
  const { kms } = await clientsFor(fake, scope);
  const { CustomKeyStoreId } = await kms.send(
    new CreateCustomKeyStoreCommand({
      CustomKeyStoreName: name,
      CloudHsmClusterId: clusterId,
      TrustAnchorCertificate: trustAnchorCertificate,
      KeyStorePassword: password,
    }),
  );
  const storeId = CustomKeyStoreId!;
  if (activeHsms < 2) await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { ...scope, activeHsms });
  if (connected) {
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(120);
  }
  const store = { name, storeId, clusterId, trustAnchorCertificate };
  if (secretName === undefined) return store as SeededCloudHsmStore & WithSecret<O, { secretArn: string }>;
  const secretArn = await secret(fake, { ...scope, name: secretName === true ? `cks/${name}-kmsuser` : secretName, value: password });
  return { ...store, secretArn };
}

export interface XksStoreOptions extends SeedScope {
  name: string;
  /** The proxy's host (default: from the name, under `xks.example.com`). */
  host?: string;
  /** Connects the store and moves fake time on until it is CONNECTED (default: left DISCONNECTED). */
  connected?: boolean;
  /** Creates its proxy credential secret (JSON, as the reconciler reads it): `true` names it `cks/<name>`. */
  secret?: true | string;
}

export interface SeededXksStore {
  name: string;
  storeId: string;
  uriEndpoint: string;
  uriPath: string;
}

/**
 * A reachable XKS proxy at `https://<host>/kms/xks/v1` (admin API) and an external key store with
 * public endpoint connectivity on it (KMS API), DISCONNECTED unless `connected`, and its credential
 * secret if `secret` is given.
 */
export async function xksStore<O extends XksStoreOptions>(
  fake: TestFake,
  options: O,
): Promise<SeededXksStore & WithSecret<O, { credentialSecretArn: string }>> {
  const {
    name,
    host = `${name.toLowerCase().replace(/[^a-z0-9-]/g, '-')}.xks.example.com`,
    connected = false,
    secret: secretName,
    ...scope
  } = options;
  const uriEndpoint = `https://${host}`;
  const uriPath = '/kms/xks/v1';
  const proxy = await fake.admin('POST', '/_fake/xks-proxies', {
    ...scope,
    uriEndpoint,
    uriPath,
    accessKeyId: XKS_CREDENTIAL.AccessKeyId,
    secretAccessKey: XKS_CREDENTIAL.RawSecretAccessKey,
  });
  if (proxy.status !== 200) throw new Error(`POST /_fake/xks-proxies: ${JSON.stringify(proxy.body)}`);
  const [{ CreateCustomKeyStoreCommand, ConnectCustomKeyStoreCommand }] = await loadSdk();
  const { kms } = await clientsFor(fake, scope);
  const { CustomKeyStoreId } = await kms.send(
    new CreateCustomKeyStoreCommand({
      CustomKeyStoreName: name,
      CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
      XksProxyConnectivity: 'PUBLIC_ENDPOINT',
      XksProxyUriEndpoint: uriEndpoint,
      XksProxyUriPath: uriPath,
      XksProxyAuthenticationCredential: XKS_CREDENTIAL,
    }),
  );
  const storeId = CustomKeyStoreId!;
  if (connected) {
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(60);
  }
  const store = { name, storeId, uriEndpoint, uriPath };
  if (secretName === undefined) return store as SeededXksStore & WithSecret<O, { credentialSecretArn: string }>;
  const credentialSecretArn = await secret(fake, {
    ...scope,
    name: secretName === true ? `cks/${name}` : secretName,
    value: JSON.stringify({ accessKeyId: XKS_CREDENTIAL.AccessKeyId, secretAccessKey: XKS_CREDENTIAL.RawSecretAccessKey }),
  });
  return { ...store, credentialSecretArn };
}

// ---- Stores files -----------------------------------------------------------------------------

/** One store of a stores file, as an operator writes it (and as `desiredSpecSchema` reads it). */
export type StoreEntry = { name: string } & Record<string, unknown>;

/**
 * A CloudHSM store declared CONNECTED in enforce mode with its password secret. `extra` adds or
 * overrides fields; a field set to `undefined` is left out (e.g. `{ mode: undefined }`).
 */
export function cloudHsmEntry(store: { name: string; clusterId: string; secretArn: string }, extra: Record<string, unknown> = {}): StoreEntry {
  return {
    name: store.name,
    desiredState: 'CONNECTED',
    cloudHsmClusterId: store.clusterId,
    keyStorePasswordSecretArn: store.secretArn,
    mode: 'enforce',
    ...extra,
  };
}

/** An external key store declared CONNECTED in enforce mode behind its public proxy; `extra` as for {@link cloudHsmEntry}. */
export function xksEntry(
  store: { name: string; uriEndpoint: string; uriPath: string; credentialSecretArn: string },
  extra: Record<string, unknown> = {},
): StoreEntry {
  return {
    name: store.name,
    type: 'EXTERNAL_KEY_STORE',
    desiredState: 'CONNECTED',
    xksProxy: {
      uriEndpoint: store.uriEndpoint,
      uriPath: store.uriPath,
      connectivity: 'PUBLIC_ENDPOINT',
      credentialSecretArn: store.credentialSecretArn,
    },
    mode: 'enforce',
    ...extra,
  };
}

/** The text of a stores file listing `entries`. */
export function storesYaml(...entries: StoreEntry[]): string {
  return stringify({ stores: entries }, { lineWidth: 0 });
}

/** A writer of stores files in `dir`: writes `text` as `name` there and returns its path. */
export function storesFiles(dir: string): (text: string, name?: string) => string {
  return (text, name = 'stores.yaml') => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
}
