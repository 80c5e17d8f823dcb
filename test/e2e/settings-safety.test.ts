/**
 * The safety settings under the second-person rule, as operators meet it: `cks` in-process as
 * principals holding only the stack's OperatorPolicy, `cks sweep` as the SweepRole, against the
 * IAM-enforcing fake. Weakening a setting (approval for CloudHSM off, a higher blast radius) does not
 * come into force with one person, however it is written, and is announced once; tightening is at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { afterAll, describe, expect, it } from 'vitest';
import { makeAwsClients } from '../../shared/adapters/clients.js';
import { type CksRun, cksAsDeployed } from '../helpers/cks.js';
import { fakeForFile } from '../helpers/fake.js';
import { STACK_HOME } from '../helpers/stack.js';
import { cloudHsmEntry, cloudHsmStore, type SeededCloudHsmStore, storesFiles, storesYaml } from '../helpers/world.js';

const TABLE = 'cks-settings';
const fake = await fakeForFile();
const dir = mkdtempSync(join(tmpdir(), 'cks-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cksAs = cksAsDeployed(fake, { CKS_TABLE: TABLE, HOME: dir, PATH: process.env.PATH ?? '' });
const applyFile = storesFiles(dir);

/** Two people, each an IAM user holding the OperatorPolicy. */
const WRITER = 'writer';
const APPROVER = 'approver';
const SCOPE = `${STACK_HOME.accountId}/${STACK_HOME.region}`;

function cks(args: string[], name = WRITER): Promise<CksRun> {
  return cksAs.as(name)(args);
}

async function ok(args: string[], name = WRITER): Promise<CksRun> {
  const run = await cks(args, name);
  expect(run.code, `cks ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run;
}

async function sweeps(times: number, seconds: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await ok(['sweep']);
    fake.advance(seconds);
  }
}

async function admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fake.admin<T>(method, path, body);
  if (response.status !== 200) throw new Error(`${method} ${path}: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** The reconciler's events as EventBridge received them. */
async function received(): Promise<Array<{ DetailType: string; Detail: Record<string, unknown> }>> {
  return admin('GET', '/_fake/events');
}

/** The settings' `Approval Required` events. */
async function settingsApprovals(): Promise<Array<Record<string, unknown>>> {
  return (await received()).filter((e) => e.DetailType === 'Approval Required' && e.Detail.subject === 'SETTINGS').map((e) => e.Detail);
}

/** The sweep summaries that paged a regional incident. */
async function regionalPages(): Promise<Array<Record<string, unknown>>> {
  return (await received()).filter((e) => e.DetailType === 'Sweep Summary' && e.Detail.regionalIncidentStarted === true).map((e) => e.Detail);
}

/** KMS calls the fake answered that change a store. */
async function mutations(): Promise<string[]> {
  return (await admin<{ calls: Array<{ operation: string; error?: string }> }>('GET', '/_fake/calls')).calls
    .filter((c) => c.error === undefined && /(Connect|Disconnect|Update)CustomKeyStore$/.test(c.operation))
    .map((c) => c.operation);
}

type Store = SeededCloudHsmStore & { secretArn: string };

/** Four connected CloudHSM stores under the reconciler, one sweep done. */
async function fourStores(): Promise<[Store, ...Store[]]> {
  const first = await cloudHsmStore(fake, { name: 's1-hsm', connected: true, secret: true });
  const stores: [Store, ...Store[]] = [first];
  for (const name of ['s2-hsm', 's3-hsm', 's4-hsm']) stores.push(await cloudHsmStore(fake, { name, connected: true, secret: true }));
  await ok(['init']);
  await ok(['apply', '-f', applyFile(storesYaml(...stores.map((s) => cloudHsmEntry(s))), 'four.yaml')]);
  await sweeps(1, 60);
  return stores;
}

async function fail(names: string[]): Promise<void> {
  for (const name of names) await admin('POST', `/_fake/stores/${name}/fail`, { errorCode: 'NETWORK_ERRORS' });
}

describe('safety settings need a second person to weaken, one to tighten (against the IAM-enforcing fake)', () => {
  it('keeps the blast-radius limit in force when one operator raises it: three of four FAILED still page as a regional incident, Approval Required goes out once, and a second human’s cks approve --settings brings it into force', async () => {
    await fourStores();

    const raised = await ok(['settings', '--blast-radius-share', '1']);
    await fail(['s1-hsm', 's2-hsm', 's3-hsm']);
    const before = (await mutations()).length;
    await sweeps(3, 120);

    expect(raised.stdout).toContain('blastRadiusMaxFailedShare  0.5 in force, 1 desired');
    expect(raised.stdout).toContain(`cks approve --settings --scope ${SCOPE}`);
    expect(await regionalPages()).toHaveLength(1);
    expect((await mutations()).length).toBe(before);
    expect(await settingsApprovals()).toEqual([
      expect.objectContaining({
        generation: 1,
        changes: [{ field: 'blastRadiusMaxFailedShare', from: 0.5, to: 1 }],
        command: `cks approve --settings --scope ${SCOPE}`,
      }),
    ]);
    const shown = await ok(['settings'], APPROVER);
    expect(shown.stdout).toMatch(/^blastRadiusMaxFailedShare\s+1$/m);
    expect(shown.stdout).toContain('blastRadiusMaxFailedShare  0.5 in force, 1 desired');
    expect(shown.stdout).toMatch(/signed by: principal\/\S+/);

    // The writer cannot sign it a second time; a second human's signature brings it into force.
    const again = await cks(['approve', '--settings'], WRITER);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already signed generation 1; a second person must sign it/);
    const approved = await ok(['approve', '--settings'], APPROVER);
    expect(approved.stdout).toMatch(/approved by principal\/\S+ and principal\/\S+/);
    await sweeps(6, 130);

    expect((await mutations()).length).toBeGreaterThan(before);
    expect(await settingsApprovals()).toHaveLength(1);
    expect((await ok(['settings'])).stdout).not.toContain('waiting for a second person');
    const { kms } = makeAwsClients({ region: STACK_HOME.region, endpoint: fake.url }, await cksAs.keys(WRITER));
    const { CustomKeyStores: stores = [] } = await kms.send(new DescribeCustomKeyStoresCommand({}));
    expect(
      stores
        .filter((s) => s.ConnectionState === 'CONNECTED')
        .map((s) => s.CustomKeyStoreName)
        .sort(),
    ).toEqual(['s1-hsm', 's2-hsm', 's3-hsm', 's4-hsm']);
  });

  it('gives a settings item an operator writes directly (PutItem, no cks) the same treatment: approval for CloudHSM stays on and a rename waits until two persons sign (one is not enough)', async () => {
    const [store, ...others] = await fourStores();
    await ok(['settings', '--approval-for-cloudhsm', 'on']);
    await sweeps(1, 60);

    const { dynamo } = makeAwsClients({ region: STACK_HOME.region, endpoint: fake.url }, await cksAs.keys(WRITER));
    await dynamo.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          pk: { S: `DESIRED#${STACK_HOME.accountId}#${STACK_HOME.region}` },
          sk: { S: 'SETTINGS' },
          killSwitch: { BOOL: false },
          blastRadiusMaxFailedShare: { N: '0.5' },
          blastRadiusMinFailed: { N: '3' },
          approvalForCloudHsm: { BOOL: false },
        },
      }),
    );
    const renamed = cloudHsmEntry({ ...store, name: 's1-renamed' }, { id: store.storeId });
    await ok(['apply', '--prune', '-f', applyFile(storesYaml(renamed, ...others.map((s) => cloudHsmEntry(s))), 'renamed.yaml')]);
    // The store then fails, so that a repair would apply the rename.
    await fail(['s1-hsm']);
    await sweeps(4, 120);

    expect((await mutations()).filter((operation) => operation.endsWith('UpdateCustomKeyStore'))).toEqual([]);
    expect(await settingsApprovals()).toEqual([
      expect.objectContaining({ proposedBy: [], changes: [{ field: 'approvalForCloudHsm', from: true, to: false }] }),
    ]);
    const storeApprovals = (await received()).filter((e) => e.DetailType === 'Approval Required' && e.Detail.storeName === 's1-renamed');
    expect(storeApprovals.length).toBeGreaterThan(0);

    // Signed by nobody: one person's signature is not enough; two persons' bring approval off into force, and the rename with it.
    const first = await ok(['approve', '--settings'], WRITER);
    expect(first.stdout).toContain('it waits for a second person');
    await sweeps(2, 120);
    expect((await mutations()).filter((operation) => operation.endsWith('UpdateCustomKeyStore'))).toEqual([]);
    await ok(['approve', '--settings'], APPROVER);
    await sweeps(4, 120);
    expect((await mutations()).filter((operation) => operation.endsWith('UpdateCustomKeyStore')).length).toBeGreaterThan(0);
    expect(await settingsApprovals()).toHaveLength(1);
  });

  it('tightens at once with one person: a lower blast radius pages two of four FAILED as a regional incident on the next sweep, with no Approval Required', async () => {
    await fourStores();

    const lowered = await ok(['settings', '--blast-radius-share', '0.25', '--blast-radius-min', '2']);
    await fail(['s1-hsm', 's2-hsm']);
    const before = (await mutations()).length;
    await sweeps(1, 120);

    expect(lowered.stdout).not.toContain('waiting for a second person');
    const nothing = await cks(['approve', '--settings'], APPROVER);
    expect(nothing.code).not.toBe(0);
    expect(nothing.stderr).toContain('settings: nothing waits for a second person');
    expect(await regionalPages()).toHaveLength(1);
    expect((await mutations()).length).toBe(before);
    expect(await settingsApprovals()).toEqual([]);
  });
});
