/**
 * `cks` over a fleet: stores in two accounts and two Regions, a member account that `cks` reads
 * through its read-only member role and the reconciler repairs through its member role, and one
 * account with no role for either. The real launcher against the fake, run by an operator holding
 * only the stack's OperatorPolicy; the reconciler's passes run as the stack's roles.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrincipalKeys } from '../../shared/dev/iam/stack.js';
import type { Scope } from '../../shared/domain/types.js';
import { type FleetOutcome, listFleet, reconcileScopes } from '../../shared/fleet/reconcile-fleet.js';
import { startTestFake, type TestFake } from '../helpers/fake.js';
import { createMemberRole, createTable, fleetRuntime, storeState } from '../helpers/fleet.js';
import { cloudHsmEntry, cloudHsmStore, type StoreEntry, storesFiles, storesYaml } from '../helpers/world.js';

const CKS = fileURLToPath(new URL('../../bin/cks.js', import.meta.url));
const HOME: Scope = { accountId: '000000000000', region: 'us-east-1' };
const MEMBER_EAST: Scope = { accountId: '444455556666', region: 'us-east-1' };
const MEMBER_WEST: Scope = { accountId: '444455556666', region: 'eu-west-1' };
const LOCKED: Scope = { accountId: '777788889999', region: 'eu-west-1' };

const TABLE = 'cks-fleet-e2e';

let fake: TestFake;
let dir: string;
let operator: PrincipalKeys;

beforeAll(async () => {
  fake = await startTestFake();
  dir = mkdtempSync(join(tmpdir(), 'cks-fleet-'));
  // The table and the stack's IAM, as a deployment makes them; the operator holds only the OperatorPolicy.
  operator = await createTable(fake, TABLE);
});
afterAll(async () => {
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

function cks(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    AWS_ENDPOINT_URL: fake.url,
    AWS_REGION: HOME.region,
    AWS_ACCESS_KEY_ID: operator.accessKeyId,
    AWS_SECRET_ACCESS_KEY: operator.secretAccessKey,
    CKS_TABLE: TABLE,
    CKS_EVENT_BUS: 'cks-fleet',
    CKS_FAKE_CLOCK: '1',
  };
  const child = spawn(process.execPath, [CKS, ...args], { cwd: dir, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A CONNECTED CloudHSM store made by the account's own operator, and the stores-file entry for it. */
async function store(scope: Scope, name: string): Promise<StoreEntry> {
  const made = await cloudHsmStore(fake, { name, ...scope, connected: true, secret: `cks/${name}` });
  return cloudHsmEntry(made, scope === HOME ? {} : { ...scope });
}

/** One pass of the reconciler over every scope, as the deployed sweep and worker make it (their roles). */
async function reconcilerPass(): Promise<FleetOutcome[]> {
  const fleet = fleetRuntime(fake, TABLE);
  return reconcileScopes(fleet, await listFleet(fleet), { trigger: 'schedule', concurrency: 4 });
}

describe('cks over a fleet of two accounts and two Regions', () => {
  it('applies each store into its scope, checking member secrets through the read-only role, lists every scope the reconciler heals, and reports the unreachable one', async () => {
    // The StackSet's roles in the member account; none in the locked one.
    await createMemberRole(fake, MEMBER_EAST.accountId);
    const entries = [
      await store(HOME, 'home-hsm'),
      await store(MEMBER_EAST, 'member-hsm'),
      await store(MEMBER_WEST, 'member-west-hsm'),
      await store(LOCKED, 'locked-hsm'),
    ];
    fake.advance(120);
    storesFiles(dir)(storesYaml(...entries));

    const applied = await cks('apply', '-f', 'stores.yaml');
    // The member account's secrets are checked through its read-only role; the locked account has none to assume.
    expect(applied.stderr).toMatch(
      /^cks: warning: stores\.yaml: store "locked-hsm": keyStorePasswordSecretArn arn:aws:secretsmanager:eu-west-1:777788889999:secret:cks\/locked-hsm-\w+ could not be checked \(STS\.AssumeRole failed: AccessDenied\); applied without knowing whether the secret exists\n$/,
    );
    expect(applied.stdout.split('\n')).toEqual(
      expect.arrayContaining([
        '+ home-hsm (new)',
        'in 444455556666/us-east-1:',
        '+ member-hsm (new)',
        'in 444455556666/eu-west-1:',
        '+ member-west-hsm (new)',
        'in 777788889999/eu-west-1:',
        '+ locked-hsm (new)',
        'applied stores.yaml: 4 added, 0 changed, 0 unchanged',
      ]),
    );

    await fake.admin('POST', '/_fake/stores/member-west-hsm/fail', { ...MEMBER_WEST, errorCode: 'NETWORK_ERRORS' });
    // The operator's own sweep changes nothing: it may not take a store's lease (the reconciler's
    // partition), and holds only the read-only role in the member account.
    const human = await cks('sweep', '--all');
    expect(human.stdout).toMatch(/member-west-hsm\s+none\s+-\s+error: DynamoDB\.UpdateItem failed: AccessDeniedException/);
    expect(await storeState(fake, MEMBER_WEST, 'member-west-hsm')).toBe('FAILED NETWORK_ERRORS');
    const passes: FleetOutcome[][] = [];
    for (let run = 0; run < 6 && (await storeState(fake, MEMBER_WEST, 'member-west-hsm')) !== 'CONNECTED'; run++) {
      passes.push(await reconcilerPass());
      fake.advance(150);
    }
    expect(await storeState(fake, MEMBER_WEST, 'member-west-hsm')).toBe('CONNECTED');
    expect(passes[0]?.find((outcome) => outcome.scope.accountId === LOCKED.accountId)).toMatchObject({
      status: 'unreachable',
      operation: 'STS.AssumeRole',
      errorCode: 'AccessDenied',
    });

    const status = await cks('status', '--all');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('000000000000/us-east-1: 1 store (1 CONNECTED)');
    expect(status.stdout).toContain('444455556666/eu-west-1: 1 store (1 CONNECTED)');
    expect(status.stdout).toContain('444455556666/us-east-1: 1 store (1 CONNECTED)');
    expect(status.stdout).toMatch(/777788889999\/eu-west-1: UNREACHABLE \(STS\.AssumeRole failed: AccessDenied: /);
    expect(status.stdout).toContain('total: 4 scopes in 3 accounts (1 unreachable); 3 stores (3 CONNECTED)');

    const scoped = await cks('status', '--scope', '444455556666/eu-west-1', '--output', 'json');
    expect(JSON.parse(scoped.stdout)).toEqual([expect.objectContaining({ name: 'member-west-hsm', connectionState: 'CONNECTED' })]);
    const { body } = await fake.admin<Array<{ DetailType: string; Detail: { accountId: string } }>>('GET', '/_fake/events');
    expect(body.filter((e) => e.DetailType === 'Scope Unreachable').map((e) => e.Detail.accountId)).toEqual(['777788889999']);
  }, 120_000);

  it('status --all shows a scope the reconciler cannot reach as UNREACHABLE, as its page says, even when cks itself can read it', async () => {
    // Prepare: the fleet the first test applied; the member role may not list stores in one scope, once.
    await fake.admin('POST', '/_fake/faults', { operation: 'DescribeCustomKeyStores', error: 'AccessDeniedException', count: 1, ...MEMBER_EAST });

    // Act
    const pass = await reconcilerPass();
    const during = await cks('status', '--all');
    const json = await cks('status', '--all', '--output', 'json');
    await reconcilerPass();
    const after = await cks('status', '--all');

    // Assess
    expect(pass.find((outcome) => outcome.scope.accountId === MEMBER_EAST.accountId && outcome.scope.region === MEMBER_EAST.region)).toMatchObject({
      status: 'unreachable',
      operation: 'KMS.DescribeCustomKeyStores',
      errorCode: 'AccessDeniedException',
    });
    expect(during.stdout).toMatch(
      /444455556666\/us-east-1: UNREACHABLE since \S+Z \(the reconciler cannot reach it: KMS\.DescribeCustomKeyStores failed with AccessDeniedException, incident \S+\); as cks reads them: 1 store \(1 CONNECTED\)/,
    );
    expect(during.stdout).toContain('total: 4 scopes in 3 accounts (2 unreachable)');
    const scopes = JSON.parse(json.stdout) as Array<{ accountId: string; region: string; reachable: boolean; unreachableSince: string | null }>;
    expect(scopes.find((scope) => scope.accountId === MEMBER_EAST.accountId && scope.region === MEMBER_EAST.region)).toMatchObject({
      reachable: false,
      unreachableSince: expect.stringMatching(/Z$/),
    });
    expect(after.stdout).toContain('444455556666/us-east-1: 1 store (1 CONNECTED)');
    expect(after.stdout).toContain('total: 4 scopes in 3 accounts (1 unreachable)');
  }, 120_000);

  it('refuses a malformed --scope, and --all with --scope, as usage errors', async () => {
    const bad = await cks('status', '--scope', '4444/eu-west-1');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('cks: --scope must be <12-digit account>/<region>, e.g. 111122223333/eu-west-1, got "4444/eu-west-1"');
    const both = await cks('sweep', '--all', '--scope', '444455556666/eu-west-1');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('cks: --all and --scope exclude each other');
  });
});
