/**
 * `npm run offline` end to end: the runner as a child process on free ports, in a copy of the project
 * (serverless-esbuild builds into the service directory, which other tests and developers share),
 * driven as a person would drive it: the admin API, the AWS CLI and `cks`. Real time is kept small
 * with fake time 60× faster (a connect takes 2 s) and the fastest sweep rate, one minute.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, outputMatching, stillRunning } from '../helpers/child-process.js';
import { cloudHsmEntry, storesFiles, storesYaml } from '../helpers/world.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AWS = '/usr/bin/aws';
const STORE = 'payments-hsm';
const PASSWORD = 'kmsuser-Passw0rd';
/** Left out of the copy: dependencies are linked, build output and history are not copied. */
const NOT_COPIED = new Set(['node_modules', '.git', '.serverless', '.esbuild', 'coverage', 'dist']);

let work: string;
let runner: ChildProcess | undefined;
let output = '';

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cks-offline-e2e-'));
  cpSync(ROOT, work, { recursive: true, filter: (source) => !NOT_COPIED.has(relative(ROOT, source).split('/')[0]!) });
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'));
});

afterAll(() => {
  if (runner?.exitCode === null && runner.signalCode === null) process.kill(-runner.pid!, 'SIGKILL');
  for (const match of output.matchAll(/its call log: (\S+)/g)) rmSync(match[1]!, { force: true });
  rmSync(work, { recursive: true, force: true });
});

/** Resolves with the match once the runner prints `pattern` (past `from`); rejects after `timeoutMs` or when the runner exits. */
function waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
  return outputMatching(runner!, () => output, pattern, timeoutMs, from);
}

describe('npm run offline', () => {
  it('heals a failed store by the scheduled sweep and its follow-ups, routes a human disconnect to onEvent, and stops on Ctrl-C', async () => {
    // Prepare: the runner on free ports (the fake on port 0, the Lambda API on any free port).
    const home = join(work, 'home');
    mkdirSync(home);
    runner = spawn('npm', ['run', 'offline', '--', '--port', '0', '--time-scale', '60', '--param', 'sweepRate=rate(1 minute)'], {
      cwd: work,
      // Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: home, npm_config_update_notifier: 'false' },
    });
    runner.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    runner.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => runner!.on('exit', () => resolve()));
    const ready = await waitFor(/cks offline: ready \(pid (\d+)\)/, 180_000);
    const [, endpoint, table] = (await waitFor(/export AWS_ENDPOINT_URL=(\S+) .*CKS_TABLE=(\S+)/, 5_000)) as unknown as [string, string, string];
    expect(table).toBe('cks-reconciler-dev-stores');
    // serverless-offline may print its schedule after the ready line: wait for it, then check it.
    await waitFor(/Scheduling \[sweep\]/, 30_000);
    expect(output).toMatch(/Scheduling \[sweep\] cron: \[\*\/1 \* \* \* \*\]/);

    const env = {
      PATH: process.env.PATH,
      HOME: home,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_PAGER: '',
      CKS_TABLE: table,
      CKS_FAKE_CLOCK: '1',
    };
    const aws = async (...args: string[]): Promise<string> =>
      (await exec(AWS, [...args, '--endpoint-url', endpoint, '--output', 'text'], { env })).stdout.trim();
    // `cks` as the runner says: a least-privilege operator holding the stack's OperatorPolicy; `init`
    // (it creates the table) and the world (cluster, store, secret) by an administrator.
    const [, operatorKey, operatorSecret] = (await waitFor(
      /OperatorPolicy\): AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)/,
      5_000,
    )) as unknown as [string, string, string];
    const cks = async (...args: string[]): Promise<string> =>
      (
        await exec(process.execPath, [join(ROOT, 'bin/cks.js'), ...args], {
          cwd: work,
          env: args[0] === 'init' ? env : { ...env, AWS_ACCESS_KEY_ID: operatorKey, AWS_SECRET_ACCESS_KEY: operatorSecret },
        })
      ).stdout;
    const kms = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const connectionState = async (): Promise<string | undefined> =>
      (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: STORE }))).CustomKeyStores?.[0]?.ConnectionState;
    const until = async (state: string, timeoutMs: number): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while ((await connectionState()) !== state) {
        if (Date.now() > deadline) throw new Error(`${STORE} not ${state} within ${timeoutMs} ms; output:\n${output.slice(-8000)}`);
        await sleep(500);
      }
    };

    // The world: a cluster (admin API), the key store connected and its password secret (AWS CLI).
    const cluster = (await (
      await fetch(`${endpoint}/_fake/clusters`, { method: 'POST', body: JSON.stringify({ kmsuserPassword: PASSWORD }) })
    ).json()) as {
      clusterId: string;
      trustAnchorCertificate: string;
    };
    writeFileSync(join(work, 'customerCA.crt'), cluster.trustAnchorCertificate);
    const storeId = await aws(
      'kms',
      'create-custom-key-store',
      '--custom-key-store-name',
      STORE,
      '--cloud-hsm-cluster-id',
      cluster.clusterId,
      '--trust-anchor-certificate',
      `file://${join(work, 'customerCA.crt')}`,
      '--key-store-password',
      PASSWORD,
      '--query',
      'CustomKeyStoreId',
    );
    await aws('kms', 'connect-custom-key-store', '--custom-key-store-id', storeId);
    const secretArn = await aws('secretsmanager', 'create-secret', '--name', `cks/${STORE}`, '--secret-string', PASSWORD, '--query', 'ARN');
    storesFiles(work)(storesYaml(cloudHsmEntry({ name: STORE, clusterId: cluster.clusterId, secretArn })));
    await cks('init');
    await cks('apply', '-f', 'stores.yaml');
    await until('CONNECTED', 30_000);
    // Writing the desired item reaches onChange as a stream record.
    await waitFor(
      // The proposer's signature is written with the desired item: one stream batch.
      new RegExp(
        `cks offline: stream: (INSERT \\S+, )?INSERT STORE#${STORE}#DESIRED(, INSERT \\S+)? → onChange\\n[^]*cks offline: onChange \\(stream\\) ${STORE}: `,
      ),
      30_000,
    );

    // Act 1: the store loses its network; the schedule finds it, and its follow-ups carry the repair on.
    const failedAt = output.length;
    const failed = await fetch(`${endpoint}/_fake/stores/${STORE}/fail`, { method: 'POST', body: JSON.stringify({ errorCode: 'NETWORK_ERRORS' }) });
    expect(failed.status).toBe(200);
    expect(await connectionState()).toBe('FAILED');
    await until('CONNECTED', 150_000);

    // Assess 1: the sweep disconnected, then its follow-up (on onEvent) connected; the reconciler's own
    // calls (all as the sweep's role under serverless-offline) reached no rule, and onEvent got no CloudTrail event.
    const healing = output.slice(failedAt);
    const step = (trigger: string, action: string) => new RegExp(`"trigger":"${trigger}","storeName":"${STORE}".*"action":"${action}"`);
    expect(healing).toMatch(step('schedule', 'disconnect'));
    expect(healing).toMatch(step('followup', 'connect'));
    expect(healing.search(step('schedule', 'disconnect'))).toBeLessThan(healing.search(step('followup', 'connect')));
    expect(healing).toMatch(/cks offline: follow-up → onEvent/);
    expect(healing).toMatch(/cks offline: CloudTrail DisconnectCustomKeyStore by SweepRole: no onEvent rule matches/);
    expect(healing).toMatch(/cks offline: CloudTrail ConnectCustomKeyStore by SweepRole: no onEvent rule matches/);
    expect(healing).not.toMatch(/CloudTrail \w+ by \S+ → onEvent/);

    // Act 2: a human disconnects the store with the AWS CLI.
    const disconnectedAt = output.length;
    await aws('kms', 'disconnect-custom-key-store', '--custom-key-store-id', storeId);

    // Assess 2: CloudTrail's event matched a rule of serverless.yml and onEvent reconciled that store.
    await waitFor(/cks offline: CloudTrail DisconnectCustomKeyStore by fake-caller → onEvent/, 30_000, disconnectedAt);
    await waitFor(new RegExp(`cks offline: onEvent \\(cloudtrail\\) ${STORE}: `), 30_000, disconnectedAt);

    // Act 3: Ctrl-C.
    const tree = [runner.pid!, ...descendants(runner.pid!)];
    expect(tree).toContain(Number(ready[1]));
    process.kill(-runner.pid!, 'SIGINT');
    await exited;

    // Assess 3: it said so, and nothing it started is left, the local AWS included.
    expect(output).toMatch(/cks offline: stopped \(SIGINT\)/);
    await expect.poll(() => stillRunning(tree), { timeout: 5_000 }).toEqual([]);
    await expect(fetch(`${endpoint}/_fake/clock`)).rejects.toThrow();
  }, 420_000);
});
