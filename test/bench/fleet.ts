/**
 * `npm run bench:fleet -- --scopes N --stores K --workers W`: a fleet sweep against the in-process
 * fake. Seeds N account-Regions (two Regions per member account, each account with its member role)
 * with K CONNECTED CloudHSM stores each, declared and registered as `cks apply` does; runs one sweep
 * to warm up (first status items, one AssumeRole per account); then sweeps N/4, N/2 and N scopes,
 * W at a time, through the worker's per-scope pass (`reconcileScopes`), three times each. Prints, per
 * size, the median wall time, the time per round of W scopes (flat when wall time grows linearly
 * with N / W), and the AWS calls per scope by operation, from the fake's call counts.
 */
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConnectCustomKeyStoreCommand, CreateCustomKeyStoreCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ensureTable } from '../../shared/adapters/dynamodb-store.js';
import { loadConfig, loadFleetConfig } from '../../shared/config.js';
import { startFake } from '../../shared/dev/fake/server.js';
import { type DesiredStoreSpec, desiredSpecSchema } from '../../shared/domain/desired-schema.js';
import type { Scope } from '../../shared/domain/types.js';
import { mapConcurrently, reconcileScopes } from '../../shared/fleet/reconcile-fleet.js';
import { makeLogger } from '../../shared/logger.js';
import { FleetRuntime } from '../../shared/runtime/fleet.js';
import { median } from './median.js';

const { values } = parseArgs({
  options: { scopes: { type: 'string', default: '500' }, stores: { type: 'string', default: '5' }, workers: { type: 'string', default: '16' } },
});
const SCOPES = whole('scopes', 1, 2000);
// KMS allows 10 custom key stores per account and Region.
const STORES = whole('stores', 1, 10);
const WORKERS = whole('workers', 1, 256);
const HOME: Scope = { accountId: '000000000000', region: 'us-east-1' };
const REGIONS = ['us-east-1', 'eu-west-1'];
const TABLE = 'cks-bench-fleet';
const PASSWORD = 'kmsuser-Passw0rd';
/** Seeding runs this many scopes at once. */
const SEED_CONCURRENCY = 16;
/** Measured sweeps per size (the median is printed). */
const REPEATS = 3;

function whole(name: string, min: number, max: number): number {
  const text = String(values[name as keyof typeof values]);
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`--${name} must be a whole number from ${min} to ${max}, got "${text}"`);
  return value;
}

/** Scope `i`: member account 1000000000xx, two Regions each. */
function scopeOf(i: number): Scope {
  return { accountId: String(100_000_000_000 + Math.floor(i / REGIONS.length)), region: REGIONS[i % REGIONS.length]! };
}

const fake = await startFake({ port: 0, clock: 'manual', maxPartitions: SCOPES + 1 });
try {
  const scopes = Array.from({ length: SCOPES }, (_, i) => scopeOf(i));
  const config = loadConfig({}, { tableName: TABLE, region: HOME.region, endpoint: fake.url, eventBusName: 'cks-bench' });
  const credentials = { accessKeyId: 'reconciler', secretAccessKey: 'bench', sessionToken: 'WorkerRole' };
  const fleet = new FleetRuntime(config, loadFleetConfig({}), {
    accountId: HOME.accountId,
    owner: 'bench',
    clock: { now: () => fake.now(), sleep: async () => undefined },
    credentials,
    logger: makeLogger({ logLevel: 'SILENT' }),
  });
  await ensureTable(new DynamoDBClient({ region: HOME.region, endpoint: fake.url, credentials }), TABLE);

  const seedStart = performance.now();
  await seed(fleet, scopes);
  const seedSeconds = (performance.now() - seedStart) / 1000;
  console.log(`fleet sweep against the in-process fake: ${SCOPES} scopes × ${STORES} CONNECTED stores, ${WORKERS} workers (node ${process.version})`);
  console.log(
    `seeded ${SCOPES * STORES} stores in ${Math.ceil(SCOPES / REGIONS.length)} member accounts × ${REGIONS.length} Regions in ${seedSeconds.toFixed(1)} s`,
  );

  const warm = await measure(fleet, scopes);
  console.log(`warm-up sweep (first status items, one AssumeRole per account): ${warm.seconds.toFixed(2)} s`);
  print('warm-up, calls per scope', warm.perScope);

  console.log('');
  console.log(`median of ${REPEATS} sweeps per size`);
  console.log('scopes  rounds of W  wall s  ms per round  scopes/s');
  const runs: Array<{ n: number; perScope: Record<string, number> }> = [];
  for (const n of [...new Set([Math.ceil(SCOPES / 4), Math.ceil(SCOPES / 2), SCOPES])]) {
    const measured = [];
    for (let repeat = 0; repeat < REPEATS; repeat++) measured.push(await measure(fleet, scopes.slice(0, n)));
    const seconds = median(measured.map((run) => run.seconds));
    const rounds = Math.ceil(n / WORKERS);
    console.log(
      `${String(n).padStart(6)}  ${String(rounds).padStart(11)}  ${seconds.toFixed(2).padStart(6)}  ${((seconds * 1000) / rounds).toFixed(1).padStart(12)}  ${(n / seconds).toFixed(0).padStart(8)}`,
    );
    runs.push({ n, perScope: measured.at(-1)!.perScope });
  }
  for (const { n, perScope } of runs) print(`steady state, ${n} scopes, calls per scope`, perScope);
  console.log('');
  console.log(`a scope's stores use ${STORES} clusters: DescribeClusters takes 25 ids a call, so ${Math.ceil(STORES / 25)} per scope`);
} finally {
  await fake.close();
}

/** Sweeps `scopes`, W at a time; wall seconds, and calls per scope by operation (all failures are errors). */
async function measure(fleet: FleetRuntime, scopes: readonly Scope[]): Promise<{ seconds: number; perScope: Record<string, number> }> {
  const before = await counts();
  const start = performance.now();
  const outcomes = await reconcileScopes(fleet, scopes, { trigger: 'schedule', concurrency: WORKERS });
  const seconds = (performance.now() - start) / 1000;
  const bad = outcomes.filter((o) => o.status !== 'reconciled');
  if (bad.length > 0) throw new Error(`${bad.length} scopes were not reconciled, e.g. ${JSON.stringify(bad[0])}`);
  const after = await counts();
  const perScope = Object.fromEntries(
    Object.entries(after)
      .map(([operation, count]) => [operation, (count - (before[operation] ?? 0)) / scopes.length] as const)
      .filter(([, perScope]) => perScope > 0)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return { seconds, perScope };
}

async function counts(): Promise<Record<string, number>> {
  const response = await fetch(`${fake.url}/_fake/calls?since=${Number.MAX_SAFE_INTEGER}`);
  return ((await response.json()) as { counts: Record<string, number> }).counts;
}

function print(title: string, perScope: Record<string, number>): void {
  console.log(`${title}:`);
  for (const [operation, count] of Object.entries(perScope)) console.log(`  ${operation.padEnd(32)} ${count.toFixed(2)}`);
}

/** Every scope's stores, connected, their secrets, desired items and registry entries; every account's member role. */
async function seed(fleet: FleetRuntime, scopes: readonly Scope[]): Promise<void> {
  const accounts = [...new Set(scopes.map((scope) => scope.accountId))];
  await mapConcurrently(accounts, SEED_CONCURRENCY, (accountId) =>
    admin('/_fake/roles', { accountId, roleName: 'cks-reconciler-member', trustedAccounts: [HOME.accountId] }),
  );
  await mapConcurrently(scopes, SEED_CONCURRENCY, async (scope) => {
    const client = { endpoint: fake.url, region: scope.region, credentials: { accessKeyId: scope.accountId, secretAccessKey: 'bench' } };
    const kms = new KMSClient(client);
    const secrets = new SecretsManagerClient(client);
    const specs: DesiredStoreSpec[] = [];
    for (let k = 0; k < STORES; k++) {
      const name = `store-${k}`;
      const { clusterId, trustAnchorCertificate } = (await admin('/_fake/clusters', { ...scope, kmsuserPassword: PASSWORD })) as Record<
        string,
        string
      >;
      const { CustomKeyStoreId } = await kms.send(
        new CreateCustomKeyStoreCommand({
          CustomKeyStoreName: name,
          CloudHsmClusterId: clusterId,
          TrustAnchorCertificate: trustAnchorCertificate,
          KeyStorePassword: PASSWORD,
        }),
      );
      await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: CustomKeyStoreId! }));
      const { ARN } = await secrets.send(new CreateSecretCommand({ Name: `cks/${name}`, SecretString: PASSWORD }));
      specs.push(
        desiredSpecSchema.parse({
          name,
          desiredState: 'CONNECTED',
          cloudHsmClusterId: clusterId,
          keyStorePasswordSecretArn: ARN,
          mode: 'enforce',
        }) as DesiredStoreSpec,
      );
    }
    const state = fleet.deps(scope).state;
    await state.putDesired(specs, fake.now());
    await state.registerScope();
  });
  fake.advance(150);
}

async function admin(path: string, body: object): Promise<unknown> {
  const response = await fetch(`${fake.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}
