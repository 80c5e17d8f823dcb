/**
 * Day two with `cks` against the local fake (in-process through `run(argv, io)`), scripted only with
 * `cks`, the AWS SDK and the admin API: one store whole, events worth reading, plan for pipelines,
 * retry / pause / resume that say what they did, holds, the login budget and approvals.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DisconnectCustomKeyStoreCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { makeAwsClients } from '../../shared/adapters/clients.js';
import { historyReader } from '../../shared/cli/events.js';
import { loadConfig } from '../../shared/config.js';
import { buildDeps } from '../../shared/runtime/deps.js';
import { cksAsDeployed } from '../helpers/cks.js';
import { fakeForFile } from '../helpers/fake.js';
import { cloudHsmEntry, cloudHsmStore, storesFiles, storesYaml, xksEntry, xksStore } from '../helpers/world.js';

const TABLE = 'cks-e2e-operate';

const fake = await fakeForFile();
const dir = mkdtempSync(join(tmpdir(), 'cks-operate-'));
// `init` as an administrator, `sweep` as SweepRole, the rest as an operator holding the OperatorPolicy.
const cks = cksAsDeployed(fake, { CKS_TABLE: TABLE });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  expect((await cks(['init'])).code).toBe(0);
});

const storesFile = storesFiles(dir);

async function apply(text: string, env: Record<string, string> = {}): Promise<void> {
  const run = await cks(['apply', '-f', storesFile(text)], env);
  expect(run.code, run.stderr).toBe(0);
}

/** An enforced CloudHSM store, declared, connected and seen CONNECTED by the reconciler. */
async function connectedStore(name: string): Promise<void> {
  await apply(storesYaml(cloudHsmEntry(await cloudHsmStore(fake, { name, secret: `cks/${name}` }))));
  await sweep();
  fake.advance(130);
  await sweep();
  expect(await statusOf(name)).toMatchObject({ connectionState: 'CONNECTED', phase: 'IDLE' });
}

async function sweep(): Promise<string> {
  const run = await cks(['sweep']);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout;
}

async function statusOf(name: string): Promise<Record<string, unknown>> {
  const run = await cks(['status', name, '-o', 'json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('cks status <store>', { timeout: 60_000 }, () => {
  it('shows an escalated store whole: phase, incident, what the hold waits for, its runbook and history', async () => {
    // Prepare
    await connectedStore('archive-hsm');
    fake.advance(5);
    await fake.admin('POST', '/_fake/stores/archive-hsm/fail', { errorCode: 'USER_LOCKED_OUT' });
    await sweep();

    // Act
    const table = await cks(['status', 'archive-hsm']);
    const json = await statusOf('archive-hsm');

    // Assess
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^archive-hsm\n {2}id +cks-/);
    expect(table.stdout).toMatch(/^ {2}phase +ESCALATED, incident inc-[0-9a-f]+$/m);
    expect(table.stdout).toMatch(/^ {2}waiting for +a new version of the password secret/m);
    expect(table.stdout).toMatch(/^ {2}login budget +0 of 2 failed kmsuser logins used by the reconciler's connects$/m);
    expect(table.stdout).toMatch(/^connectionState +CONNECTED +FAILED USER_LOCKED_OUT \(differs\)$/m);
    expect(table.stdout).toMatch(/^RUNBOOK \(Repair Escalated, \S+\)\n {2}As a crypto officer, change the kmsuser password/m);
    expect(table.stdout).toMatch(/^HISTORY \(newest 10\)\nTIME +ACTION +EVENTS +REASON\n\S+ +none +Repair Escalated +FAILED with USER_LOCKED_OUT/m);
    expect(json).toMatchObject({
      name: 'archive-hsm',
      phase: 'ESCALATED',
      incidentId: expect.stringMatching(/^inc-/),
      runbook: { type: 'Repair Escalated', text: expect.stringContaining('kmsuser') },
      waitingFor: expect.stringContaining('a new version of the password secret'),
      failedLogins: 0,
      loginBudget: 2,
    });
  });

  it('shows a store held after a manual disconnect, who and when, and how to release it; resume releases it', async () => {
    // Prepare: someone disconnects the store by hand.
    await connectedStore('reports-hsm');
    const storeId = String((await statusOf('reports-hsm')).id);
    await new KMSClient(fake.config).send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    fake.advance(10);
    await sweep();

    // Act
    const held = await cks(['status', 'reports-hsm']);
    const list = await cks(['status']);
    const resume = await cks(['resume', 'reports-hsm']);
    const reconnect = await sweep();

    // Assess
    expect(held.stdout).toMatch(/^ {2}phase +HELD$/m);
    expect(held.stdout.replace(/\s+/g, ' ')).toMatch(
      / held after the manual change by someone other than the reconciler at \S+; `cks resume reports-hsm` \(or a new desired generation\) releases it /,
    );
    expect(held.stdout).toMatch(/^RUNBOOK \(Manual Change Detected, \S+\)\n {2}Someone other than the reconciler disconnected this store/m);
    expect(list.stdout).toMatch(/^reports-hsm .* HELD .*`cks resume reports-hsm` or a new desired generation/m);
    expect(resume.code).toBe(0);
    expect(resume.stdout).toMatch(
      /^reports-hsm: resumed \(new desired generation\)\n {2}releases the hold on the manual change by someone other than the reconciler at \S+: the next sweep reconciles it to CONNECTED\n$/,
    );
    expect(reconnect).toMatch(/reports-hsm +connect +CONNECTING/);
  });

  it('shows the login budget the reconciler spent, and cks retry says it resets it and why', async () => {
    // Prepare: a repair whose connect fails one kmsuser login.
    await connectedStore('billing-hsm');
    await fake.admin('POST', '/_fake/stores/billing-hsm/outcome', { errorCode: 'INVALID_CREDENTIALS' });
    await fake.admin('POST', '/_fake/stores/billing-hsm/fail', { errorCode: 'NETWORK_ERRORS' });
    await sweep(); // disconnect
    fake.advance(10);
    await sweep(); // connect
    fake.advance(130);
    await sweep(); // the connect ended FAILED with INVALID_CREDENTIALS

    // Act
    const status = await statusOf('billing-hsm');
    const table = await cks(['status']);
    const retry = await cks(['retry', 'billing-hsm']);

    // Assess
    expect(status).toMatchObject({ failedLogins: 1, loginBudget: 2 });
    expect(table.stdout).toMatch(/^billing-hsm .*kmsuser logins 1\/2 of its budget · /m);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toMatch(/^billing-hsm: retry requested \(new desired generation\)\n/);
    expect(retry.stdout).toContain(
      "  resets the login budget: the reconciler's connects caused 1 failed kmsuser login (budget 2), after which it stops sending the password so that kmsuser is not locked out",
    );
    expect(retry.stdout).toContain(
      'Unless the password secret has a new version since, the reset waits for a second person to sign it (`cks approve`)',
    );
  });
});

describe('cks retry, pause and resume', { timeout: 60_000 }, () => {
  it('say what they did, and exit 1 writing nothing when there is nothing to do', async () => {
    // Prepare
    await connectedStore('orders-hsm');

    // Act
    const retry = await cks(['retry', 'orders-hsm']);
    const resume = await cks(['resume', 'orders-hsm']);
    const pause = await cks(['pause', 'orders-hsm']);
    const again = await cks(['pause', 'orders-hsm']);
    const paused = ((await statusOf('orders-hsm')) as { paused: boolean }).paused;

    // Assess
    expect(retry).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'cks: orders-hsm: nothing to retry: it is IDLE (not ESCALATED or HELD) and no failed kmsuser login is counted against it; nothing was written\n',
    });
    expect(resume).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cks: orders-hsm: nothing to resume: it is neither paused nor HELD (phase IDLE); nothing was written\n',
    });
    expect(pause.code).toBe(0);
    expect(pause.stdout).toBe(
      'orders-hsm: paused: the reconciler keeps observing and reporting it but does not act (`cks resume` to undo)\n  the next sweep records it PAUSED; any open incident ends\n',
    );
    expect(again).toEqual({ code: 1, stdout: '', stderr: 'cks: orders-hsm: already paused; nothing was written\n' });
    expect(paused).toBe(true);
  });
});

describe('cks events', { timeout: 60_000 }, () => {
  it('filters by store and type, leaves Sweep Summary out unless asked, and names a mistyped type', async () => {
    // Prepare: one escalation among other events.
    await connectedStore('archive-hsm');
    await connectedStore('orders-hsm');
    await fake.admin('POST', '/_fake/stores/archive-hsm/fail', { errorCode: 'USER_LOCKED_OUT' });
    await fake.admin('POST', '/_fake/stores/orders-hsm/fail', { errorCode: 'NETWORK_ERRORS' });
    await sweep();

    // Act
    const all = await cks(['events']);
    const escalated = await cks(['events', '--store', 'archive-hsm', '--type', 'Repair Escalated']);
    const summaries = await cks(['events', '--fake-log', '--type', 'sweep summary', '-o', 'json']);
    const recent = await cks(['events', '--since', '1m', '--store', 'orders-hsm']);
    const typo = await cks(['events', '--type', 'Repair Escalted']);

    // Assess
    expect(all.stdout).not.toContain('Sweep Summary');
    expect(all.stdout).toMatch(/Repair Started +orders-hsm/);
    expect(escalated.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^TIME +EVENT +STORE +REASON$/),
      expect.stringMatching(/^\S+ +Repair Escalated +archive-hsm +FAILED with USER_LOCKED_OUT/),
    ]);
    const types = summaries.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { type: string }).type);
    expect(new Set(types)).toEqual(new Set(['Sweep Summary']));
    expect(
      recent.stdout
        .trim()
        .split('\n')
        .slice(1)
        .every((line) => /orders-hsm/.test(line)),
    ).toBe(true);
    expect(recent.stdout).toMatch(/Repair Started +orders-hsm/);
    expect(typo.code).toBe(2);
    expect(typo.stderr.split('\n')[0]).toBe('cks: --type "Repair Escalted" is not an event type: did you mean "Repair Escalated"?');
  });

  it("reads each store's history, which keeps every event's type, reason and runbook", async () => {
    // Prepare
    await connectedStore('archive-hsm');
    await fake.admin('POST', '/_fake/stores/archive-hsm/fail', { errorCode: 'USER_LOCKED_OUT' });
    await sweep();
    const config = loadConfig({}, { region: 'us-east-1', tableName: TABLE, endpoint: fake.url });
    const deps = buildDeps(config, { accountId: '000000000000', owner: 'test', clients: makeAwsClients(config, await cks.keys()) });

    // Act
    const lines = await historyReader(deps, { store: 'archive-hsm', type: 'Repair Escalated' })();
    const all = await historyReader(deps, {})();

    // Assess
    expect(lines).toEqual([
      expect.objectContaining({
        type: 'Repair Escalated',
        storeName: 'archive-hsm',
        reason: expect.stringContaining('FAILED with USER_LOCKED_OUT'),
        detail: expect.objectContaining({ runbook: expect.stringContaining('kmsuser') }),
      }),
    ]);
    expect(all.map((line) => line.type)).toEqual(expect.arrayContaining(['Repair Started', 'Repair Succeeded', 'Repair Escalated']));
  });

  it('reads the history whatever the endpoint: asks it nothing under /_fake/, and prints the times `cks status` shows', async () => {
    // Prepare: a table with history, served by the fake's DynamoDB through an endpoint that records every path asked.
    await connectedStore('archive-hsm');
    await fake.admin('POST', '/_fake/stores/archive-hsm/fail', { errorCode: 'USER_LOCKED_OUT' });
    await sweep();
    const endpoint = await recordingProxy(fake.url);

    // Act: no fake clock asked for, so cks has no reason to ask the endpoint anything but AWS calls.
    const events = await cks(['events', '--endpoint-url', endpoint.url, '--store', 'archive-hsm', '-o', 'json'], { CKS_FAKE_CLOCK: '' });
    const status = await statusOf('archive-hsm');
    await endpoint.close();

    // Assess
    expect(events.code, events.stderr).toBe(0);
    expect(endpoint.paths.length).toBeGreaterThan(0);
    expect(endpoint.paths.filter((path) => path.startsWith('/_fake/'))).toEqual([]);
    const lines = events.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { time: string; type: string });
    const escalated = lines.find((line) => line.type === 'Repair Escalated');
    const recorded = (status.history as Array<{ at: number; events?: Array<{ type: string }> }>).find((entry) =>
      entry.events?.some((event) => event.type === 'Repair Escalated'),
    );
    expect(escalated?.time).toBe(new Date(recorded?.at ?? 0).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  });

  it('names where Sweep Summary events are read, since the history keeps none', async () => {
    // Act
    const summaries = await cks(['events', '--type', 'Sweep Summary']);
    const noEndpoint = await cks(['events', '--fake-log'], { AWS_ENDPOINT_URL: '', CKS_FAKE_CLOCK: '' });

    // Assess
    expect(summaries).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "cks: Sweep Summary events are not kept in the table's history: read them where the bus delivers them (against the local fake: --fake-log)\n",
    });
    expect(noEndpoint.code).toBe(2);
    expect(noEndpoint.stderr.split('\n')[0]).toBe(
      "cks: --fake-log reads the local fake's event log: it needs the fake's endpoint (--endpoint-url or AWS_ENDPOINT_URL)",
    );
  });
});

/** An HTTP endpoint that forwards every request to `target` and records the path of each. */
async function recordingProxy(target: string): Promise<{ url: string; paths: string[]; close: () => Promise<void> }> {
  const paths: string[] = [];
  const server = createServer((request, response) => {
    paths.push(request.url ?? '');
    const forward = httpRequest(new URL(request.url ?? '/', target), { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, paths, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('cks plan --detailed-exitcode', { timeout: 60_000 }, () => {
  it('exits 0 when every store is healthy, and 2 with a FAILED enforce store, repairable or escalated', async () => {
    // Prepare
    await connectedStore('orders-hsm');
    await connectedStore('archive-hsm');

    // Act
    const healthy = await cks(['plan', '--detailed-exitcode']);
    await fake.admin('POST', '/_fake/stores/orders-hsm/fail', { errorCode: 'NETWORK_ERRORS' });
    const failed = await cks(['plan', '--detailed-exitcode']);
    await fake.admin('POST', '/_fake/stores/archive-hsm/fail', { errorCode: 'USER_LOCKED_OUT' });
    await sweep();
    const escalated = await cks(['plan', '--detailed-exitcode']);
    const plain = await cks(['plan']);

    // Assess
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toMatch(/\nno changes pending: every store is at its desired state and nothing is to be done\n$/);
    expect(failed.code).toBe(2);
    expect(failed.stdout).toMatch(/orders-hsm +disconnect +DISCONNECTING/);
    expect(failed.stdout).toMatch(/\n1 store with changes pending: orders-hsm \(disconnect\)\n$/);
    expect(escalated.code).toBe(2);
    expect(escalated.stdout).toMatch(/ with changes pending: .*archive-hsm \(FAILED, desired CONNECTED, ESCALATED\)/);
    expect(plain.code).toBe(0);
  });
});

describe('cks approve', { timeout: 60_000 }, () => {
  it('signs an XKS proxy change as a second person after its proposer; refuses a person who signed and a store with nothing waiting', async () => {
    // Prepare: an XKS store, then a change of its proxy path applied (and so signed) by operator-a.
    const store = await xksStore(fake, { name: 'partner-xks', secret: true });
    const xks = (uriPath: string): string => storesYaml(xksEntry({ ...store, uriPath }, { mode: undefined }));
    await apply(xks('/kms/xks/v1'));
    const nothing = await cks.as('operator-b')(['approve', 'partner-xks']);
    await apply(xks('/tenant/kms/xks/v1'));

    // Act
    const waiting = await statusOf('partner-xks');
    const byProposer = await cks(['approve', 'partner-xks']);
    const bySecond = await cks.as('operator-b')(['approve', 'partner-xks']);
    const after = await statusOf('partner-xks');

    // Assess
    expect(nothing).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^cks: partner-xks: nothing waits for approval \(generation 1 changes nothing that needs a second person/),
    });
    expect(waiting.approval).toEqual({
      generation: 2,
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      fields: ['xksProxy.uriPath'],
      changes: [{ field: 'xksProxy.uriPath', from: '/kms/xks/v1', to: '/tenant/kms/xks/v1' }],
      signedBy: [expect.stringMatching(/^principal\/AIDA\w+$/)],
    });
    const proposer = (waiting.approval as { signedBy: string[] }).signedBy[0];
    expect(byProposer.code).toBe(1);
    expect(byProposer.stderr).toBe(
      `cks: partner-xks: refused: you (${proposer}) already signed generation 2; a second person must sign it (two sessions of one role are one person)\n`,
    );
    expect(bySecond.code, bySecond.stderr).toBe(0);
    expect(bySecond.stdout).toMatch(
      /^partner-xks: signed generation 2 \(xksProxy\.uriPath \/kms\/xks\/v1 → \/tenant\/kms\/xks\/v1\) as principal\/AIDA\w+\n/,
    );
    expect(bySecond.stdout).toMatch(/\n {2}approved by principal\/AIDA\w+ and principal\/AIDA\w+: the reconciler applies it at its next run/);
    expect(after.approval).toBeNull();
  });
});
