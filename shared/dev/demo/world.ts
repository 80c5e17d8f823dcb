/**
 * The demo world: built from the stores file the way people build it in AWS (clusters by their
 * owners, secrets and stores through the SDK), its desired state applied as `cks apply` applies it,
 * and then broken, one failure at a time, by the scenario.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { ConnectCustomKeyStoreCommand, CreateCustomKeyStoreCommand, DisconnectCustomKeyStoreCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parse } from 'yaml';
import { parseStoresFile } from '../../cli/stores-file.js';
import type { DesiredStoreSpec } from '../../domain/desired-schema.js';
import type { Scope } from '../../domain/types.js';
import type { KmsPort, StatePort } from '../../reconcile/ports.js';
import type { FakeAdmin } from './admin.js';

/** What the world is built with: the fake's admin API and a human operator's SDK clients. */
export interface WorldTools {
  admin: FakeAdmin;
  kms: KMSClient;
  secrets: SecretsManagerClient;
  /** Reads the stores (for waiting until they are CONNECTED). */
  kmsPort: KmsPort;
  /** The desired-state table, as an operator's `cks` writes it (`cks resume`). */
  state: StatePort;
  now: () => number;
  /** The same operator's clients in another account and Region of the fleet (its own operator there). */
  elsewhere(scope: Scope): ScopeTools;
}

/** An operator's clients in one account and Region. */
export type ScopeTools = Pick<WorldTools, 'kms' | 'secrets' | 'kmsPort'>;

/** `${secret:<name>}` in the stores file: the ARN of the secret created under that name. */
const SECRET_PLACEHOLDER = /\$\{secret:([^}]+)\}/g;

/** A store as written in the stores file, before validation. */
type RawStore = Record<string, unknown>;

/** Creates the secret a placeholder names, holding `value`, in the store's own account and Region. */
type CreateSecret = (where: ScopeTools, placeholder: unknown, value: string) => Promise<void>;

/**
 * Creates every store of the stores file `text` (clusters, proxies, secrets, stores), connects them
 * and waits until all are CONNECTED. Returns the file with its placeholders filled in.
 */
export async function buildWorld(text: string, tools: WorldTools): Promise<string> {
  const { stores } = parse(text) as { stores: RawStore[] };
  const arns = new Map<string, string>();
  const createSecret: CreateSecret = async (where, placeholder, value) => {
    const name = [...String(placeholder).matchAll(SECRET_PLACEHOLDER)][0]?.[1];
    if (name === undefined) throw new Error(`the demo's stores file must name secrets as \${secret:<name>}, got ${String(placeholder)}`);
    const created = await where.secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    arns.set(name, created.ARN ?? '');
  };
  const home = tools.state.scope;
  const built = new Map<ScopeTools, string[]>();
  for (const store of stores) {
    const scope = { accountId: String(store.accountId ?? home.accountId), region: String(store.region ?? home.region) };
    const where = scope.accountId === home.accountId && scope.region === home.region ? tools : tools.elsewhere(scope);
    const id =
      store.type === 'EXTERNAL_KEY_STORE'
        ? await createXksStore(store, where, tools, createSecret)
        : await createCloudHsmStore(store, scope, where, tools, createSecret);
    built.set(where, [...(built.get(where) ?? []), id]);
  }
  for (const [where, ids] of built) {
    for (const id of ids) await where.kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    await waitUntilConnected(where.kmsPort, ids.length);
  }
  return text.replace(SECRET_PLACEHOLDER, (placeholder, name: string) => arns.get(name) ?? placeholder);
}

/** The cluster (ACTIVE, two HSMs, kmsuser with a fresh password), the password secret, the store, in its scope. Returns its id. */
async function createCloudHsmStore(store: RawStore, scope: Scope, where: ScopeTools, tools: WorldTools, createSecret: CreateSecret): Promise<string> {
  const password = newPassword();
  const cluster = await tools.admin.createCluster({ clusterId: String(store.cloudHsmClusterId), kmsuserPassword: password, ...scope });
  await createSecret(where, store.keyStorePasswordSecretArn, password);
  const created = await where.kms.send(
    new CreateCustomKeyStoreCommand({
      CustomKeyStoreName: String(store.name),
      CloudHsmClusterId: cluster.clusterId,
      TrustAnchorCertificate: cluster.trustAnchorCertificate,
      KeyStorePassword: password,
    }),
  );
  return created.CustomKeyStoreId ?? '';
}

/** The XKS proxy (with a fresh credential), the credential secret, the store. Returns its id. */
async function createXksStore(store: RawStore, where: ScopeTools, tools: WorldTools, createSecret: CreateSecret): Promise<string> {
  const { uriEndpoint = '', uriPath = '', credentialSecretArn } = store.xksProxy as Record<string, string | undefined>;
  const credential = { accessKeyId: xksAccessKeyId(), secretAccessKey: randomBytes(33).toString('base64') };
  await tools.admin.createXksProxy({ uriEndpoint, uriPath, ...credential });
  await createSecret(where, credentialSecretArn, JSON.stringify(credential));
  const created = await where.kms.send(
    new CreateCustomKeyStoreCommand({
      CustomKeyStoreName: String(store.name),
      CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
      XksProxyConnectivity: 'PUBLIC_ENDPOINT',
      XksProxyUriEndpoint: uriEndpoint,
      XksProxyUriPath: uriPath,
      XksProxyAuthenticationCredential: { AccessKeyId: credential.accessKeyId, RawSecretAccessKey: credential.secretAccessKey },
    }),
  );
  return created.CustomKeyStoreId ?? '';
}

/** Validates a stores file as `cks apply` does; throws with every error when it is invalid. */
export function parseDemoStores(text: string, fileName: string): DesiredStoreSpec[] {
  const parsed = parseStoresFile(text, fileName);
  if (!parsed.ok) throw new Error(`${fileName} is invalid:\n${parsed.errors.join('\n')}`);
  return parsed.specs;
}

/** One thing that happens to the world, at a time after the reconciler starts. */
export interface ScenarioStep {
  /** Real seconds after the reconciler starts. */
  at: number;
  store: string;
  /** What happens, in plain words. */
  says: string;
  run(): Promise<void>;
}

/**
 * The failures, spaced so that at most three of the seven stores of the deployment's own account and
 * Region are FAILED at once (more would be a regional incident, which the reconciler reports instead
 * of repairing), and one in a member account's second Region.
 */
export function scenario(specs: readonly DesiredStoreSpec[], tools: WorldTools): ScenarioStep[] {
  const spec = (name: string): DesiredStoreSpec => {
    const found = specs.find((s) => s.name === name);
    if (!found) throw new Error(`the demo's scenario needs a store named ${name} in the stores file`);
    return found;
  };
  const clusterOf = (name: string): string => spec(name).cloudHsmClusterId ?? '';
  const rotatedPassword = newPassword();
  return [
    {
      at: 1,
      store: 'orders-hsm',
      says: 'the network to its cluster drops: FAILED with NETWORK_ERRORS',
      run: () => tools.admin.failStore('orders-hsm', 'NETWORK_ERRORS'),
    },
    {
      at: 4,
      store: 'billing-hsm',
      says: 'a human changes the kmsuser password in the cluster but not yet in the secret: FAILED with INVALID_CREDENTIALS',
      run: async () => {
        await tools.admin.patchCluster(clusterOf('billing-hsm'), { kmsuserPassword: rotatedPassword });
        await tools.admin.failStore('billing-hsm', 'INVALID_CREDENTIALS');
      },
    },
    {
      at: 7,
      store: 'ledger-hsm',
      says: 'its cluster loses every HSM: FAILED with INSUFFICIENT_CLOUDHSM_HSMS',
      run: async () => {
        await tools.admin.patchCluster(clusterOf('ledger-hsm'), { activeHsms: 0 });
        await tools.admin.failStore('ledger-hsm', 'INSUFFICIENT_CLOUDHSM_HSMS');
      },
    },
    {
      at: 10,
      store: 'billing-hsm',
      says: 'the human puts the new kmsuser password into the secret (a new secret version)',
      run: async () => {
        await tools.secrets.send(
          new PutSecretValueCommand({ SecretId: spec('billing-hsm').keyStorePasswordSecretArn, SecretString: rotatedPassword }),
        );
      },
    },
    {
      at: 12,
      store: 'archive-hsm',
      says: 'kmsuser is locked out of its cluster: FAILED with USER_LOCKED_OUT',
      run: async () => {
        await tools.admin.patchCluster(clusterOf('archive-hsm'), { kmsuserLockedOut: true });
        await tools.admin.failStore('archive-hsm', 'USER_LOCKED_OUT');
      },
    },
    {
      at: 13,
      store: 'member-west-hsm',
      says: 'in member account 444455556666, eu-west-1, the network to its cluster drops: FAILED with NETWORK_ERRORS',
      run: () => tools.admin.failStore('member-west-hsm', 'NETWORK_ERRORS', { accountId: '444455556666', region: 'eu-west-1' }),
    },
    {
      at: 15,
      store: 'reports-hsm',
      says: 'an operator disconnects it by hand (DisconnectCustomKeyStore): the reconciler holds it DISCONNECTED',
      run: async () => {
        const id = (await tools.kmsPort.describeStore({ name: 'reports-hsm' }))?.id;
        await tools.kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
      },
    },
    {
      at: 24,
      store: 'reports-hsm',
      says: 'the operator is done and releases the hold: cks resume reports-hsm',
      run: () => tools.state.request('reports-hsm', 'resume', tools.now()),
    },
  ];
}

async function waitUntilConnected(kms: KmsPort, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const stores = await kms.listStores();
    if (stores.length >= count && stores.every((s) => s.connectionState === 'CONNECTED')) return;
    if (Date.now() > deadline) {
      const states = stores.map((s) => `${s.name} ${s.connectionState}${s.connectionErrorCode ? ` ${s.connectionErrorCode}` : ''}`);
      throw new Error(`the demo's stores did not all connect within 30 s: ${states.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A kmsuser password (7-32 characters). */
function newPassword(): string {
  return randomBytes(12).toString('base64url');
}

/** An XKS access key id: 20 characters of [A-Z2-7]. */
function xksAccessKeyId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return Array.from({ length: 20 }, () => alphabet[randomInt(alphabet.length)]).join('');
}
