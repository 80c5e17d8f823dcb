/**
 * The `cks` CLI end to end against the local fake (started in-process, manual clock): every command
 * through `run(argv, io)`, in this process, as `bin/cks.js` calls it; and the launcher itself as a
 * child process (`node bin/cks.js`) for what only a process shows: help and exit codes, signals.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cksAsDeployed } from '../helpers/cks.js';
import { fakeForFile } from '../helpers/fake.js';
import { cloudHsmEntry, cloudHsmStore, storesFiles, storesYaml } from '../helpers/world.js';

const CKS = fileURLToPath(new URL('../../bin/cks.js', import.meta.url));
const TABLE = 'cks-e2e';
const PASSWORD = 'kmsuser-pass-1';
/** Calls that change something: none may happen during `cks plan`. */
const MUTATING =
  /^(KMS\.(Connect|Disconnect|Update|Create|Delete)|CloudHSMV2\.(CreateHsm|DeleteHsm)|DynamoDB\.(PutItem|UpdateItem|DeleteItem|BatchWriteItem)|EventBridge\.PutEvents)/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const fake = await fakeForFile();
const dir = mkdtempSync(join(tmpdir(), 'cks-e2e-'));
const cwd = process.cwd();

// The scratch directory is the working directory of every run, in-process ones included: stores
// files are named relative to it, as an operator names them.
beforeAll(() => process.chdir(dir));

afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

/** The CLI's environment: the fake and nothing inherited that could point it elsewhere. */
function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dir,
    AWS_ENDPOINT_URL: fake.url,
    AWS_REGION: 'us-east-1',
    CKS_TABLE: TABLE,
    // Backoffs and deadlines follow the fake's manual clock (fake.advance).
    CKS_FAKE_CLOCK: '1',
    ...env,
  };
}

/** Runs `cks <args>` to completion, in this process, with the same environment as the launcher gets. */
// `init` as an administrator, `sweep` as SweepRole, the rest as an operator holding the OperatorPolicy.
const cksInProcess = cksAsDeployed(fake, { HOME: dir, PATH: process.env.PATH ?? '', CKS_TABLE: TABLE });
function cks(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return cksInProcess(args, env);
}

/** Starts the launcher, `node bin/cks.js <args>`, as a child process in the scratch directory, as whoever runs `args`. */
async function start(args: string[], env: Record<string, string> = {}): Promise<ChildProcess> {
  return spawn(process.execPath, [CKS, ...args], { cwd: dir, env: cliEnv({ ...(await cksInProcess.credentials(args)), ...env }) });
}

function finish(child: ChildProcess): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `node bin/cks.js <args>` to completion. */
async function cksProcess(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return finish(await start(args, env));
}

const writeStores = storesFiles(dir);

/** Creates the table and declares one enforced CloudHSM store; returns the store. */
async function declareStore(name: string): Promise<{ clusterId: string; secretArn: string; storeId: string }> {
  const store = await cloudHsmStore(fake, { name, password: PASSWORD, secret: true });
  expect((await cks(['init'])).code).toBe(0);
  writeStores(storesYaml(cloudHsmEntry(store)));
  expect((await cks(['apply', '-f', 'stores.yaml'])).code).toBe(0);
  return store;
}

async function statusOf(name: string): Promise<Record<string, unknown>> {
  const run = await cks(['status', '--output', 'json']);
  expect(run.code).toBe(0);
  const rows = JSON.parse(run.stdout) as Array<Record<string, unknown>>;
  const row = rows.find((r) => r.name === name);
  if (!row) throw new Error(`no status row for ${name}: ${run.stdout}`);
  return row;
}

async function tableItemCount(): Promise<number> {
  return (await tableKeys()).length;
}

/** The partition keys of the table's items. */
async function tableKeys(): Promise<string[]> {
  const scan = await new DynamoDBClient(fake.config).send(new ScanCommand({ TableName: TABLE }));
  return (scan.Items ?? []).map((item) => String(item.pk?.S));
}

interface CallLog {
  counts: Record<string, number>;
  calls: Array<{ service: string; operation: string }>;
}

async function calls(): Promise<CallLog> {
  return (await fake.admin<CallLog>('GET', '/_fake/calls')).body;
}

describe('cks against the local fake', { timeout: 120_000 }, () => {
  it("keeps the fake's time: a retry backoff ends when the fake clock passes it, not the wall clock", async () => {
    // Prepare: a connected store that fails, and whose first reconnect fails again.
    await declareStore('flaky-hsm');
    await cks(['sweep']);
    fake.advance(130);
    await cks(['sweep']);
    await fake.admin('POST', '/_fake/stores/flaky-hsm/fail', { errorCode: 'NETWORK_ERRORS' });
    await fake.admin('POST', '/_fake/stores/flaky-hsm/outcome', { errorCode: 'NETWORK_ERRORS' });
    await cks(['sweep']); // disconnect
    fake.advance(10);
    await cks(['sweep']); // connect
    fake.advance(130); // FAILED again
    await cks(['sweep']); // Repair Failed: backing off
    const waiting = await statusOf('flaky-hsm');
    expect(waiting).toMatchObject({ connectionState: 'FAILED', phase: 'IDLE' });
    const nextAttemptAt = Date.parse(String(waiting.nextAttemptAt));
    expect(nextAttemptAt).toBeGreaterThan(fake.now());

    // Act: fake time passes the backoff (minutes that never pass on the wall clock here).
    await cks(['sweep']);
    const stillWaiting = await statusOf('flaky-hsm');
    fake.advance(Math.ceil((nextAttemptAt - fake.now()) / 1000) + 1);
    await cks(['sweep']);

    // Assess: the wait was honoured, then the next attempt started.
    expect(stillWaiting.lastAction).not.toBe('disconnect');
    expect(await statusOf('flaky-hsm')).toMatchObject({ phase: 'DISCONNECTING', lastAction: 'disconnect' });
  });

  it('init creates the table, then says it already exists', async () => {
    // Act
    const first = await cks(['init']);
    const second = await cks(['init']);

    // Assess
    expect(first).toEqual({ code: 0, stdout: `created table "${TABLE}"\n`, stderr: '' });
    expect(second).toEqual({ code: 0, stdout: `table "${TABLE}" already exists; nothing to do\n`, stderr: '' });
  });

  it('apply on a missing table fails with one line naming cks init', async () => {
    // Prepare
    writeStores('stores:\n  - name: a\n    desiredState: DISCONNECTED\n');

    // Act
    const run = await cks(['apply', '-f', 'stores.yaml']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^cks: .*table "cks-e2e" does not exist.*cks init/);
  });

  it('apply rejects an invalid file with store, field and line, and writes nothing', async () => {
    // Prepare
    await cks(['init']);
    writeStores(`stores:
  - name: ok-store
    desiredState: DISCONNECTED
  - name: payments-hsm
    desiredState: CONNECTED
    cloudHsmClusterId: cluster-1a23b4cdefg
  - type: EXTERNAL_KEY_STORE
    desiredstate: CONNECTED
`);

    // Act
    const run = await cks(['apply', '-f', 'stores.yaml']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual([
      'stores.yaml:6: store "payments-hsm" field cloudHsmClusterId: must match cluster-[2-7a-zA-Z]{11,16}',
      'stores.yaml:7: store #3 field desiredState: is required',
      'stores.yaml:7: store #3 field name: is required',
      'stores.yaml:7: store #3 field xksProxy: is required when type is EXTERNAL_KEY_STORE',
      'stores.yaml:8: store #3 field desiredstate: unknown field (did you mean desiredState?)',
      'cks: stores.yaml rejected (5 errors); nothing was written',
    ]);
    expect(await tableItemCount()).toBe(0);
  });

  it('apply writes a valid file and shows the change of each store', async () => {
    // Prepare
    await cks(['init']);
    writeStores('stores:\n  - name: a\n    desiredState: DISCONNECTED\n  - name: b\n    desiredState: DISCONNECTED\n');

    // Act
    const first = await cks(['apply', '-f', 'stores.yaml']);
    writeStores('stores:\n  - name: a\n    desiredState: DISCONNECTED\n  - name: b\n    desiredState: DISCONNECTED\n    maxAttempts: 5\n');
    const second = await cks(['apply', '-f', 'stores.yaml']);

    // Assess
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^\+ a \(new\)\n( {4}.*\n)+\+ b \(new\)\n( {4}.*\n)+applied stores\.yaml: 2 added, 0 changed, 0 unchanged\n$/);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('~ b\n    maxAttempts: 3 → 5\napplied stores.yaml: 0 added, 1 changed, 1 unchanged\n');
    // Two desired items, and the proposer's signature of each change written (a, b, then b again).
    const keys = await tableKeys();
    expect(keys.filter((pk) => pk.startsWith('DESIRED#'))).toHaveLength(2);
    expect(keys.filter((pk) => pk.startsWith('SIGNER#principal/'))).toHaveLength(3);
  });

  it('status joins the desired state with what KMS reports, as JSON and as a table', async () => {
    // Prepare
    const store = await declareStore('payments-hsm');

    // Act
    const json = await cks(['status', '--output', 'json']);
    const table = await cks(['status']);

    // Assess
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({
        name: 'payments-hsm',
        id: store.storeId,
        desiredState: 'CONNECTED',
        connectionState: 'DISCONNECTED',
        connectionErrorCode: null,
        phase: null,
        attempt: null,
        mode: 'enforce',
      }),
    ]);
    expect(table.code).toBe(0);
    const [header, row] = table.stdout.trim().split('\n');
    expect(header).toMatch(/^NAME\s+ID\s+DESIRED\s+STATE\s+ERROR CODE\s+PHASE\s+ATTEMPT\s+MODE\s+LAST ACTION\s+NEXT ATTEMPT\s+REASON$/);
    expect(row).toMatch(new RegExp(`^payments-hsm\\s+${store.storeId}\\s+CONNECTED\\s+DISCONNECTED\\s+-\\s+-\\s+-\\s+enforce`));
  });

  it('status shows an invalid desired item as INVALID with its error', async () => {
    // Prepare: an item written around the CLI, as IaC might.
    await cks(['init']);
    await new DynamoDBClient(fake.config).send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          pk: { S: 'DESIRED#000000000000#us-east-1' },
          sk: { S: 'STORE#broken#DESIRED' },
          name: { S: 'broken' },
          desiredState: { S: 'SOMETIMES' },
          generation: { N: '1' },
        },
      }),
    );

    // Act
    const run = await cks(['status', '--output', 'json']);

    // Assess
    expect(JSON.parse(run.stdout)).toEqual([
      expect.objectContaining({
        name: 'broken',
        phase: 'INVALID',
        desiredState: 'SOMETIMES',
        connectionState: 'MISSING',
        error: 'desiredState: must be one of CONNECTED | DISCONNECTED',
      }),
    ]);
  });

  it('plan says what it would do and why, and makes no mutating call', async () => {
    // Prepare
    await declareStore('payments-hsm');
    const before = await calls();

    // Act
    const run = await cks(['plan']);

    // Assess
    const after = await calls();
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^NAME\s+WOULD\s+PHASE\s+REASON\npayments-hsm\s+connect\s+CONNECTING\s+DISCONNECTED but desired CONNECTED/);
    const during = after.calls.slice(before.calls.length).map((c) => `${c.service}.${c.operation}`);
    expect(during).toContain('KMS.DescribeCustomKeyStores');
    expect(during.filter((op) => MUTATING.test(op))).toEqual([]);
    expect((await statusOf('payments-hsm')).connectionState).toBe('DISCONNECTED');
  });

  it('sweep takes one step per store and prints the action and the reason', async () => {
    // Prepare
    await declareStore('payments-hsm');

    // Act
    const run = await cks(['sweep']);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^NAME\s+ACTION\s+PHASE\s+REASON\npayments-hsm\s+connect\s+CONNECTING\s+DISCONNECTED but desired CONNECTED/);
    expect((await calls()).counts['KMS.ConnectCustomKeyStore']).toBe(1);
    expect(await statusOf('payments-hsm')).toMatchObject({ connectionState: 'CONNECTING', phase: 'CONNECTING', attempt: 1 });
  });

  it('pause, resume and retry a declared store; an unknown store is one clear line', async () => {
    // Prepare
    await declareStore('payments-hsm');

    // Act
    const pause = await cks(['pause', 'payments-hsm']);
    const paused = await cks(['sweep']);
    const resume = await cks(['resume', 'payments-hsm']);
    const retry = await cks(['retry', 'payments-hsm']);
    const unknown = await cks(['retry', 'no-such-store']);

    // Assess
    expect(pause).toMatchObject({ code: 0, stdout: expect.stringMatching(/^payments-hsm: paused/) });
    expect(paused.stdout).toMatch(/payments-hsm\s+none\s+PAUSED\s+paused by an operator/);
    expect((await calls()).counts['KMS.ConnectCustomKeyStore']).toBeUndefined();
    expect(resume).toMatchObject({ code: 0, stdout: expect.stringMatching(/^payments-hsm: resumed/) });
    // Nothing to retry: not escalated or held, no failed login counted (retrying an escalation: cli-operate.test.ts).
    expect(retry).toMatchObject({ code: 1, stderr: expect.stringMatching(/^cks: payments-hsm: nothing to retry: /) });
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cks: no desired store named "no-such-store" in 000000000000/us-east-1\n',
    });
  });

  it("events --fake-log prints the reconciler's events the fake received", async () => {
    // Prepare
    await declareStore('payments-hsm');
    await cks(['sweep']);

    // Act
    const table = await cks(['events', '--fake-log']);
    const json = await cks(['events', '--fake-log', '--output', 'json']);

    // Assess
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^TIME\s+EVENT\s+STORE\s+REASON\n/);
    expect(table.stdout).toMatch(/Repair Started\s+payments-hsm\s+DISCONNECTED but desired CONNECTED/);
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; storeName: string | null });
    expect(lines.map((l) => l.type)).toEqual(['Repair Started', 'Sweep Summary']);
    expect(lines[0]).toMatchObject({ storeName: 'payments-hsm', detail: { schemaVersion: 1, connectionState: 'DISCONNECTED' } });
  });

  it('settings prints the defaults, as key-value lines and as JSON', async () => {
    // Prepare
    await cks(['init']);

    // Act
    const table = await cks(['settings']);
    const json = await cks(['settings', '--output', 'json']);

    // Assess
    expect(table.code).toBe(0);
    expect(table.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^killSwitch\s+false$/),
      expect.stringMatching(/^blastRadiusMaxFailedShare\s+0\.5$/),
      expect.stringMatching(/^blastRadiusMinFailed\s+3$/),
      expect.stringMatching(/^approvalForCloudHsm\s+false$/),
    ]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ killSwitch: false, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 });
  });

  it('settings --kill-switch on holds back every repair; --kill-switch off lets the next sweep act', async () => {
    // Prepare: a connected store that has dropped to FAILED.
    await declareStore('payments-hsm');
    await cks(['sweep']);
    fake.advance(130);
    await cks(['sweep']);
    await fake.admin('POST', '/_fake/stores/payments-hsm/fail', { errorCode: 'NETWORK_ERRORS' });
    expect(await statusOf('payments-hsm')).toMatchObject({ connectionState: 'FAILED' });
    const repairs = (log: CallLog): number[] => ['KMS.DisconnectCustomKeyStore', 'KMS.ConnectCustomKeyStore'].map((op) => log.counts[op] ?? 0);

    // Act
    const on = await cks(['settings', '--kill-switch', 'on']);
    const before = await calls();
    const held = await cks(['sweep']);
    const during = await calls();
    const shown = await cks(['settings', '--output', 'json']);
    const off = await cks(['settings', '--kill-switch', 'off']);
    const acted = await cks(['sweep']);

    // Assess
    expect(on.code).toBe(0);
    expect(on.stdout).toMatch(/^killSwitch\s+true$/m);
    expect(on.stdout).toContain('kill switch ON: the reconciler reports but does not act on any store\n');
    expect(held.code).toBe(0);
    expect(held.stdout).toMatch(/payments-hsm\s+disconnect \(report only\)/);
    expect(repairs(during)).toEqual(repairs(before));
    expect(JSON.parse(shown.stdout)).toEqual({ killSwitch: true, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 });
    expect(off.code).toBe(0);
    expect(off.stdout).toMatch(/^killSwitch\s+false$/m);
    expect(off.stdout).toContain('kill switch OFF:');
    expect(acted.stdout).toMatch(/payments-hsm\s+disconnect\s/);
    expect((await calls()).counts['KMS.DisconnectCustomKeyStore']).toBe((before.counts['KMS.DisconnectCustomKeyStore'] ?? 0) + 1);
  });

  it('settings changes only the blast-radius values given, and says what the limit now is', async () => {
    // Prepare
    await cks(['init']);

    // Act
    const share = await cks(['settings', '--blast-radius-share', '0.25']);
    const min = await cks(['settings', '--blast-radius-min', '5']);
    const again = await cks(['settings', '--blast-radius-min', '5']);

    // Assess
    expect(share.code).toBe(0);
    expect(share.stdout).toContain('blast-radius limit changed: more than 25% of the managed stores, and at least 3, FAILED at once');
    expect(min.stdout).toContain('more than 25% of the managed stores, and at least 5, FAILED at once');
    expect(again.stdout).toContain('unchanged: the settings already had these values; nothing was written');
    const json = await cks(['settings', '--output', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({ killSwitch: false, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 5 });
  });

  it.each([
    { args: ['--kill-switch', 'yes'], message: 'cks: --kill-switch must be on or off, got "yes"' },
    {
      args: ['--kill-switch', 'on', '--blast-radius-share', '0'],
      message: 'cks: --blast-radius-share must be a number greater than 0 and at most 1 (e.g. 0.5), got "0"',
    },
    {
      args: ['--blast-radius-share', '1.5', '--blast-radius-min', '0'],
      message:
        'cks: --blast-radius-share must be a number greater than 0 and at most 1 (e.g. 0.5), got "1.5"; ' +
        '--blast-radius-min must be a whole number of at least 1 (e.g. 3), got "0"',
    },
    {
      args: ['--kill-switch', 'on', '--blast-radius-min', '2.5'],
      message: 'cks: --blast-radius-min must be a whole number of at least 1 (e.g. 3), got "2.5"',
    },
  ])('settings $args: exits 2 naming the flag, and writes nothing', async ({ args, message }) => {
    // Prepare
    await cks(['init']);
    const before = await calls();

    // Act
    const run = await cks(['settings', ...args]);

    // Assess
    const during = (await calls()).calls.slice(before.calls.length).map((c) => `${c.service}.${c.operation}`);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')[0]).toBe(message);
    expect(run.stderr).toContain('Usage: cks [global options] settings');
    expect(during).toEqual([]);
    const json = await cks(['settings', '--output', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({ killSwitch: false, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 });
  });

  it.each([
    { args: ['bogus'], message: 'cks: unknown command "bogus"' },
    { args: ['status', '--bogus'], message: 'cks: unknown option "--bogus"' },
    { args: ['status', '--output', 'yaml'], message: 'cks: --output must be table or json, got "yaml"' },
    { args: ['apply'], message: 'cks: apply needs -f <stores.yaml>' },
    { args: ['retry'], message: 'cks: retry needs <store>' },
    { args: ['approve'], message: 'cks: approve needs <store> (or --settings)' },
    { args: ['approve', 'payments-hsm', '--settings'], message: 'cks: approve takes <store> or --settings, not both' },
    { args: [], message: 'cks: no command given' },
  ])('$args: exits 2 with usage on stderr', async ({ args, message }) => {
    // Act
    const run = await cks(args);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')[0]).toBe(message);
    expect(run.stderr).toContain('Usage: cks [global options]');
  });

  it('--help prints usage on stdout, naming every command and the account rule', async () => {
    // Act
    const main = await cks(['--help']);
    const command = await cks(['sweep', '--help']);
    const settings = await cks(['settings', '--help']);

    // Assess
    expect(main.code).toBe(0);
    for (const name of ['init', 'apply', 'status', 'plan', 'sweep', 'retry', 'pause', 'resume', 'settings', 'events']) {
      expect(main.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    }
    expect(main.stdout).toContain('CKS_ACCOUNT_ID');
    expect(command).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: cks \[global options\] sweep/) });
    expect(settings).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: cks \[global options\] settings/) });
    // biome-ignore lint/complexity/noAdjacentSpacesInRegex: the two spaces are the help's indent, as printed
    expect(settings.stdout).toMatch(/^  --kill-switch on\|off\s/m);
  });

  it('without an endpoint or CKS_ACCOUNT_ID, asks for the account in one line', async () => {
    // Act
    const run = await cks(['status'], { AWS_ENDPOINT_URL: '', CKS_FAKE_CLOCK: '' });

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cks: CKS_ACCOUNT_ID is not set: the 12-digit account whose key stores are managed (or pass --account-id)\n',
    });
  });

  it('takes the account from a 12-digit access key id against the fake, or from --account-id', async () => {
    // Prepare: the fake keeps one DynamoDB per account, so each needs its table.
    await cks(['init']);
    await cks(['init'], { AWS_ACCESS_KEY_ID: '111122223333' });

    // Act
    const fromKey = await cks(['pause', 'x'], { AWS_ACCESS_KEY_ID: '111122223333' });
    const fromFlag = await cks(['--account-id', '444455556666', 'pause', 'x']);

    // Assess
    expect(fromKey.stderr).toBe('cks: no desired store named "x" in 111122223333/us-east-1\n');
    expect(fromFlag.stderr).toBe('cks: no desired store named "x" in 444455556666/us-east-1\n');
  });

  it('heals a store that dropped to FAILED with NETWORK_ERRORS, with only cks commands and the admin API', async () => {
    // Prepare: the store is declared and connected, then loses its connection.
    await declareStore('payments-hsm');
    await cks(['sweep']);
    fake.advance(130);
    await cks(['sweep']);
    expect(await statusOf('payments-hsm')).toMatchObject({ connectionState: 'CONNECTED', phase: 'IDLE' });
    await fake.admin('POST', '/_fake/stores/payments-hsm/fail', { errorCode: 'NETWORK_ERRORS' });
    expect(await statusOf('payments-hsm')).toMatchObject({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });

    // Act: what an operator (or the schedule) does: sweep, let time pass, look.
    let status: Record<string, unknown> = {};
    for (let sweep = 1; sweep <= 6 && status.connectionState !== 'CONNECTED'; sweep += 1) {
      expect((await cks(['sweep'])).code).toBe(0);
      await fake.admin('POST', '/_fake/clock/advance', { seconds: 130 });
      status = await statusOf('payments-hsm');
    }

    // Assess: connected again; the next sweep closes the incident.
    expect(status).toMatchObject({ connectionState: 'CONNECTED', connectionErrorCode: null });
    await cks(['sweep']);
    expect(await statusOf('payments-hsm')).toMatchObject({ phase: 'IDLE', lastReason: expect.stringMatching(/^CONNECTED: incident .* closed/) });
    const events = await cks(['events', '--output', 'json']);
    const types = events.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { type: string }).type);
    expect(types.filter((t) => t === 'Repair Succeeded')).toHaveLength(2);
  });
});

describe('the launcher, node bin/cks.js, as a child process', { timeout: 120_000 }, () => {
  it('applies a stores file and shows its status, prints help, and exits 2 with usage on a wrong command', async () => {
    // Prepare
    const store = await cloudHsmStore(fake, { name: 'smoke-hsm', password: PASSWORD, secret: true });
    writeStores(storesYaml(cloudHsmEntry(store)));
    expect((await cks(['init'])).code).toBe(0);

    // Act: independent runs side by side.
    const [[apply, status], help, wrong] = await Promise.all([
      cksProcess(['apply', '-f', 'stores.yaml']).then(async (applied) => [applied, await cksProcess(['status', '--output', 'json'])] as const),
      cksProcess(['--help']),
      cksProcess(['stauts']),
    ]);

    // Assess
    expect(apply).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^\+ smoke-hsm \(new\)\n( {4}.*\n)+applied stores\.yaml: 1 added, 0 changed, 0 unchanged\n$/),
      stderr: '',
    });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual([
      expect.objectContaining({ name: 'smoke-hsm', id: store.storeId, desiredState: 'CONNECTED', connectionState: 'DISCONNECTED' }),
    ]);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: cks \[global options\] <command>/), stderr: '' });
    expect(wrong).toMatchObject({ code: 2, stdout: '' });
    expect(wrong.stderr.split('\n')[0]).toBe('cks: unknown command "stauts" (did you mean "status"?)');
    expect(wrong.stderr).toContain('Usage: cks [global options]');
  });

  it('sweep --watch repeats until SIGINT, then exits 0', async () => {
    // Prepare
    await declareStore('payments-hsm');
    const child = await start(['sweep', '--watch', '--interval', '200ms']);
    const done = finish(child);
    let seen = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if ((seen.match(/^sweep at /gm) ?? []).length >= 2) resolve();
      });
    });

    // Act
    child.kill('SIGINT');
    const run = await done;

    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
  });
});
