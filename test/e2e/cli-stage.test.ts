/**
 * `cks` conventions and the deployed stack: `--stage` names the table, the bus and the account by
 * the stack's naming rule; against AWS nothing is published to a bus that is not the stack's;
 * `--version`, `-o json`, "did you mean", one duration syntax; `events --follow` keeps its columns
 * (the real launcher, as a child process).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cksAsDeployed } from '../helpers/cks.js';
import { fakeForFile } from '../helpers/fake.js';
import { storesFiles } from '../helpers/world.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const fake = await fakeForFile();
const dir = mkdtempSync(join(tmpdir(), 'cks-stage-'));
// `init` as an administrator, `sweep` as SweepRole, the rest as an operator holding the OperatorPolicy.
const cks = cksAsDeployed(fake, { CKS_TABLE: 'cks-e2e-stage' });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const storesFile = storesFiles(dir);

describe('cks --stage', { timeout: 60_000 }, () => {
  it("works on the stack's table and publishes to the stack's bus, in the caller's account", async () => {
    // Prepare: the caller's account is what this checks, so the fake's allow-all key of account
    // 111122223333 runs every command (the stack's IAM is deployed in 000000000000).
    const stage = { CKS_TABLE: '', CKS_STAGE: 'e2e', AWS_ACCESS_KEY_ID: '111122223333', AWS_SESSION_TOKEN: '' };

    // Act
    const init = await cks(['init'], stage);
    const apply = await cks(['apply', '-f', storesFile('stores:\n  - name: a\n    desiredState: DISCONNECTED\n')], stage);
    const sweep = await cks(['--stage', 'e2e', 'sweep'], { CKS_TABLE: '', AWS_ACCESS_KEY_ID: '111122223333', AWS_SESSION_TOKEN: '' });

    // Assess
    expect(init).toEqual({ code: 0, stdout: 'created table "cks-reconciler-e2e-stores"\n', stderr: '' });
    expect(apply.code, apply.stderr).toBe(0);
    expect(sweep.code, sweep.stderr).toBe(0);
    const { body: events } = await fake.admin<Array<{ EventBusName: string; accountId: string; DetailType: string }>>(
      'GET',
      '/_fake/events?accountId=111122223333',
    );
    expect(events.map((e) => e.DetailType)).toEqual(['Store Missing', 'Sweep Summary']);
    expect(new Set(events.map((e) => e.EventBusName))).toEqual(new Set(['cks-reconciler-e2e']));
  });

  it("refuses a table or bus that is not the stage's, and a stage serverless would not accept", async () => {
    // Act
    const table = await cks(['--stage', 'prod', 'status'], { CKS_TABLE: 'cks-local-stores' });
    const bus = await cks(['--stage', 'prod', 'status'], { CKS_TABLE: '', CKS_EVENT_BUS: 'default' });
    const bad = await cks(['--stage', 'prod stage', 'status']);

    // Assess
    expect(table).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cks: stage "prod" has the table cks-reconciler-prod-stores, but --table or CKS_TABLE says cks-local-stores: give one of them\n',
    });
    expect(bus.stderr).toBe('cks: stage "prod" has the event bus cks-reconciler-prod, but CKS_EVENT_BUS says default: give one of them\n');
    expect(bad.stderr).toBe('cks: --stage must be letters, digits and hyphens (as serverless accepts), got "prod stage"\n');
  });

  it("against AWS, refuses to sweep without the stack: its events would miss the on-call rules' bus", async () => {
    // Act: no endpoint, an account, and the default bus.
    const run = await cks(['sweep'], { AWS_ENDPOINT_URL: '', CKS_FAKE_CLOCK: '', CKS_ACCOUNT_ID: '111122223333' });

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "cks: this command publishes the reconciler's events, and against AWS they must reach the deployed stack's bus, where its on-call rules listen: " +
        'name the stack with --stage <stage> (or CKS_STAGE), not only CKS_EVENT_BUS (now "default")\n',
    });
  });
});

describe('cks conventions', { timeout: 60_000 }, () => {
  it('--version prints the package version', async () => {
    expect(await cks(['--version'])).toEqual({ code: 0, stdout: `cks ${VERSION}\n`, stderr: '' });
  });

  it.each([
    { args: ['stauts'], message: 'cks: unknown command "stauts" (did you mean "status"?)' },
    { args: ['apply', '-f', 'x.yaml', '--dry-rn'], message: 'cks: unknown option "--dry-rn" (did you mean --dry-run?)' },
    { args: ['status', '-o', 'jsno'], message: 'cks: --output must be table or json, got "jsno" (did you mean "json"?)' },
    {
      args: ['sweep', '--watch', '--interval', 'soon'],
      message: 'cks: --interval must be a duration such as 5 (seconds), 500ms, 5s, 2m, 1h or 7d, got "soon"',
    },
    { args: ['events', '--since', '2 days'], message: 'cks: --since must be a duration such as 5 (seconds), 500ms, 5s, 2m, 1h or 7d, got "2 days"' },
  ])('$args: exits 2 saying what was meant', async ({ args, message }) => {
    // Act
    const run = await cks(args);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(message);
  });

  it('takes -o json for --output, and a misspelt field of a stores file gets a suggestion', async () => {
    // Prepare
    await cks(['init']);

    // Act
    const json = await cks(['status', '-o', 'json']);
    const typo = await cks(['apply', '-f', storesFile('stores:\n  - name: a\n    desiredStat: DISCONNECTED\n')]);

    // Assess
    expect(JSON.parse(json.stdout)).toEqual([]);
    expect(typo.stderr).toContain('store "a" field desiredStat: unknown field (did you mean desiredState?)');
  });
});

describe('cks events --follow (bin/cks.js)', { timeout: 60_000 }, () => {
  it('prints one header and keeps every later line in its columns, until Ctrl-C', async () => {
    // Prepare
    const env = { CKS_TABLE: 'cks-e2e-stage' };
    await cks(['init'], env);
    await cks(
      [
        'apply',
        '-f',
        storesFile('stores:\n  - name: a\n    desiredState: DISCONNECTED\n  - name: a-much-longer-store-name\n    desiredState: DISCONNECTED\n'),
      ],
      env,
    );
    const child = spawn(process.execPath, [join(ROOT, 'bin/cks.js'), 'events', '--follow'], {
      env: {
        PATH: process.env.PATH,
        AWS_ENDPOINT_URL: fake.url,
        AWS_REGION: 'us-east-1',
        ...(await cks.credentials(['events'])),
        CKS_TABLE: 'cks-e2e-stage',
      },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    // Act: events arrive in two batches while it follows.
    await cks(['sweep'], env);
    await expect.poll(() => output.split('\n').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await cks(['delete', 'a'], env);
    await cks(['apply', '-f', storesFile('stores:\n  - name: b\n    desiredState: DISCONNECTED\n')], env);
    await cks(['sweep'], env);
    await expect.poll(() => (output.match(/Store Missing/g) ?? []).length, { timeout: 10_000 }).toBe(3);
    child.kill('SIGINT');

    // Assess
    expect(await exited).toBe(0);
    const [header, ...lines] = output.trim().split('\n');
    expect(header).toMatch(/^TIME {18}EVENT {19}STORE {21}REASON$/);
    const storeColumn = header!.indexOf('STORE');
    const reasonColumn = header!.indexOf('REASON');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line.slice(storeColumn - 2, storeColumn)).toBe('  ');
      expect(line.slice(reasonColumn - 2, reasonColumn)).toBe('  ');
      expect(line.slice(reasonColumn)).toMatch(/^mode observe \(report only\): no action: no custom key store with name/);
    }
  });
});
