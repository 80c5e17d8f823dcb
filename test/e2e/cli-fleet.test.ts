/**
 * `cks` over a fleet: stores in two accounts and two Regions, a member account reached through its
 * member role, and one account whose role refuses the reconciler. The real launcher against the fake.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../shared/domain/types.js';
import { startTestFake, type TestFake } from '../helpers/fake.js';
import { createMemberRole, storeState } from '../helpers/fleet.js';
import { cloudHsmEntry, cloudHsmStore, type StoreEntry, storesFiles, storesYaml } from '../helpers/world.js';

const CKS = fileURLToPath(new URL('../../bin/cks.js', import.meta.url));
const HOME: Scope = { accountId: '000000000000', region: 'us-east-1' };
const MEMBER_EAST: Scope = { accountId: '444455556666', region: 'us-east-1' };
const MEMBER_WEST: Scope = { accountId: '444455556666', region: 'eu-west-1' };
const LOCKED: Scope = { accountId: '777788889999', region: 'eu-west-1' };

let fake: TestFake;
let dir: string;

beforeAll(async () => {
  fake = await startTestFake();
  dir = mkdtempSync(join(tmpdir(), 'cks-fleet-'));
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
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    CKS_TABLE: 'cks-fleet-e2e',
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

describe('cks over a fleet of two accounts and two Regions', () => {
  it('applies each store into its scope, heals a member account’s FAILED store with sweep --all, lists every scope, and reports the unreachable one', async () => {
    await createMemberRole(fake, MEMBER_EAST.accountId);
    await createMemberRole(fake, LOCKED.accountId, []);
    const entries = [
      await store(HOME, 'home-hsm'),
      await store(MEMBER_EAST, 'member-hsm'),
      await store(MEMBER_WEST, 'member-west-hsm'),
      await store(LOCKED, 'locked-hsm'),
    ];
    fake.advance(120);
    storesFiles(dir)(storesYaml(...entries));

    expect((await cks('init')).code).toBe(0);
    const applied = await cks('apply', '-f', 'stores.yaml');
    expect(applied.stderr).toBe('');
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
    const sweeps: string[] = [];
    for (let run = 0; run < 6 && (await storeState(fake, MEMBER_WEST, 'member-west-hsm')) !== 'CONNECTED'; run++) {
      const sweep = await cks('sweep', '--all');
      expect(sweep.code).toBe(0);
      sweeps.push(sweep.stdout);
      fake.advance(150);
    }
    expect(await storeState(fake, MEMBER_WEST, 'member-west-hsm')).toBe('CONNECTED');
    expect(sweeps[0]).toContain('444455556666/eu-west-1:\nNAME');
    expect(sweeps[0]).toMatch(/member-west-hsm\s+disconnect/);
    expect(sweeps[0]).toContain('777788889999/eu-west-1: UNREACHABLE: STS.AssumeRole failed with AccessDenied');
    expect(sweeps.join('\n')).toMatch(/member-west-hsm\s+connect/);

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

  it('refuses a malformed --scope, and --all with --scope, as usage errors', async () => {
    const bad = await cks('status', '--scope', '4444/eu-west-1');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('cks: --scope must be <12-digit account>/<region>, e.g. 111122223333/eu-west-1, got "4444/eu-west-1"');
    const both = await cks('sweep', '--all', '--scope', '444455556666/eu-west-1');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('cks: --all and --scope exclude each other');
  });
});
