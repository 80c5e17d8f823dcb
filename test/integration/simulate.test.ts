/**
 * The deterministic simulator: CI's seeds violate no invariant, deliberately broken invariants are
 * caught with their seed and trace, a seed replays exactly, the fake's randomness follows the seed,
 * the command's flags are checked, and the simulator's in-memory table answers as the real one.
 * (How often each planted bug in the real source is caught: `npm run plant`.)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAwsClients } from '../../shared/adapters/clients.js';
import { DynamoStateAdapter, ensureTable } from '../../shared/adapters/dynamodb-store.js';
import { INVARIANTS } from '../../shared/dev/sim/monitor.js';
import { formatFailure, simulateSeeds } from '../../shared/dev/sim/report.js';
import type { SeedResult, Tamper } from '../../shared/dev/sim/simulate.js';
import { InMemoryState } from '../../shared/dev/state/in-memory-state.js';
import { type DesiredStoreSpec, desiredSpecSchema } from '../../shared/domain/desired-schema.js';
import type { ReconcilerEvent } from '../../shared/domain/events.js';
import { decisionEvents } from '../../shared/domain/events.js';
import { emptyStatus, plan } from '../../shared/domain/plan.js';
import { CONNECTION_ERROR_CODES, type PlanInput } from '../../shared/domain/types.js';
import type { StatePort } from '../../shared/reconcile/ports.js';
import { startTestFake, type TestFake } from '../helpers/fake.js';

/** Seeds CI runs on every build. */
const CI_SEEDS = 200;

async function simulate(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('node_modules/.bin/tsx', ['shared/dev/sim/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** A reconciler that publishes every Repair Escalated twice, the second time as a different event. */
const secondEscalation: Tamper = (deps) => ({
  ...deps,
  events: {
    publish: (events) =>
      deps.events.publish(
        events.flatMap((event): ReconcilerEvent[] =>
          event.detailType === 'Repair Escalated'
            ? [event, { ...event, detail: { ...event.detail, eventId: `${event.detail.eventId}-again` } }]
            : [event],
        ),
      ),
  },
});

/** A table whose status writes keep every event already owed: what was published is never cleared. */
const outboxNeverCleared: Tamper = (deps) => {
  const table = deps.state as InMemoryState;
  const saveStatus: StatePort['saveStatus'] = (status, owner, options) => {
    const owed = [...(table.outboxes.get(status.name) ?? []), ...options.outbox];
    const once = owed.filter((event, index) => owed.findIndex((e) => e.detail.eventId === event.detail.eventId) === index);
    return table.saveStatus(status, owner, { ...options, outbox: once });
  };
  const state = new Proxy(table, {
    get: (target, key) => {
      if (key === 'saveStatus') return saveStatus;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ...deps, state };
};

describe('npm run simulate', () => {
  it(`runs CI's ${CI_SEEDS} seeds with no invariant violated, and prints seeds per second, every invariant's checks, what was exercised and the reconciler's added time`, async () => {
    // Act
    const { code, stdout } = await simulate('--seeds', String(CI_SEEDS), '--jobs', '2');

    // Assess
    expect(stdout, stdout).not.toContain('violated');
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(new RegExp(`simulate: ${CI_SEEDS} seed\\(s\\) in [\\d.]+ s on 2 thread\\(s\\), [\\d.]+ seeds/s`));
    for (const name of Object.keys(INVARIANTS)) {
      const [, checks, violations] = new RegExp(`^\\s+(\\d+)\\s+(\\d+)  ${name}: `, 'm').exec(stdout) ?? [];
      expect(Number(checks), `checks of ${name}`).toBeGreaterThan(0);
      expect(violations, `violations of ${name}`).toBe('0');
    }
    for (const code of CONNECTION_ERROR_CODES) expect(stdout).toMatch(new RegExp(`^\\s+\\d+  ConnectionErrorCode ${code}$`, 'm'));
    for (const feature of [
      'run fault planned: crashBefore',
      'run fault planned: crashAfter',
      'run fault planned: lostAnswer',
      'steps with two runs at once',
      'API fault on ConnectCustomKeyStore',
      'human: disconnect by hand',
      'event runs told who connected or disconnected by hand',
      'operator: apply a change',
      'operator: cks delete',
      'removals with events still owed',
      'operator: an invalid desired item',
      'operator: a second desired entry for one store',
      'outage: regional, every store FAILED at once',
      'steps with two runs at once (two workers, one message redelivered)',
      'run fault planned: slow',
      'run fault planned: pause',
      'pages (Repair Escalated)',
      'pages (Manual Change Detected)',
      'pages (Approval Required)',
      'pages (Scope Unreachable)',
      'pages (Regional Incident)',
      'reconcile runs (follow-up)',
      'follow-ups delivered',
      'follow-ups lost',
      'follow-ups delivered twice',
    ]) {
      expect(stdout).toMatch(new RegExp(`^\\s+[1-9]\\d*  ${feature.replace(/[()]/g, '\\$&')}$`, 'm'));
    }
    const [, repairs, median] = /^added time \(.*\): (\d+) repairs, median (\d+), p95 \d+, max \d+$/m.exec(stdout) ?? [];
    expect(Number(repairs), 'repairs that succeeded').toBeGreaterThan(0);
    expect(Number.isInteger(Number(median)), `median added seconds: ${median}`).toBe(true);
  }, 900_000);

  it('catches a second Repair Escalated for one incident, naming the seed and printing the trace that led to it', async () => {
    // Act
    const broken = await simulateSeeds([1, 2, 3, 4, 5, 6, 7, 8], { tamper: secondEscalation });

    // Assess
    expect(broken.failed.length).toBeGreaterThan(0);
    const [first] = broken.failed as [SeedResult];
    expect(first.violations.map((v) => v.invariant)).toEqual(['onePage']);
    expect(first.violations[0]?.message).toMatch(/^2 different Repair Escalated events \(evt#\d+, evt#\d+-again\) for incident \S+ inc#\d+$/);
    const report = formatFailure(first);
    expect(report).toContain(`seed ${first.seed} violated onePage`);
    expect(report).toContain(`replay it with: npm run simulate -- --seed ${first.seed}`);
    expect(report).toMatch(/published Repair Escalated \S+ inc#\d+ evt#\d+-again/);
    expect(report).toMatch(/VIOLATION onePage/);

    // The same seed with the reconciler as it is: no violation.
    const intact = await simulateSeeds([first.seed]);
    expect(intact.failed).toEqual([]);
  }, 120_000);

  it('catches an outbox never cleared (every published event left owed), though each re-send carries the same eventId', async () => {
    // Act
    const broken = await simulateSeeds([1, 2, 3, 4, 5, 6], { tamper: outboxNeverCleared });

    // Assess
    expect(broken.failed.length).toBeGreaterThan(0);
    const [first] = broken.failed as [SeedResult];
    expect(first.violations.map((v) => v.invariant)).toContain('outboxCleared');
    expect(first.violations.find((v) => v.invariant === 'outboxCleared')?.message).toMatch(
      /^\S.* evt#\d+, published, is still owed in the outbox of \S+'s status/,
    );
  }, 120_000);

  it('replays a seed exactly: the same trace, whatever ran before it', async () => {
    // Act
    const traces: string[][] = [];
    await simulateSeeds([11, 12, 11], { keepTraces: true, onSeed: (result) => traces.push(result.trace) });

    // Assess
    expect(traces[0]!.length).toBeGreaterThan(50);
    expect(traces[2]).toEqual(traces[0]);
    expect(traces[1]).not.toEqual(traces[0]);
  }, 120_000);

  it("prints a seed's trace with --seed alone and exits 0", async () => {
    const { code, stdout } = await simulate('--seed', '3', '--jobs', '1');
    expect(code, stdout).toBe(0);
    expect(stdout).toContain('[step 0] run 1: schedule');
    expect(stdout).toContain('simulate: 1 seed(s) in');
  }, 120_000);

  it("draws the fake's identifiers from the seed given to POST /_fake/reset, and refuses a seed that is no 32-bit number", async () => {
    // Prepare
    const fake = await startTestFake();
    const clusterIds = async (seed: number): Promise<string[]> => {
      await fake.admin('POST', '/_fake/reset', { seed });
      const created = await Promise.all(
        [1, 2].map(() => fake.admin<{ clusterId: string }>('POST', '/_fake/clusters', { kmsuserPassword: 'kmsuser-Passw0rd' })),
      );
      return created.map((c) => c.body.clusterId);
    };
    try {
      // Act
      const first = await clusterIds(7);
      const other = await clusterIds(8);
      const again = await clusterIds(7);
      const refused = await fake.admin('POST', '/_fake/reset', { seed: -1 });

      // Assess
      expect(again).toEqual(first);
      expect(other).not.toEqual(first);
      expect(refused).toEqual({ status: 400, body: { __type: 'ValidationException', message: 'seed: Too small: expected number to be >=0' } });
      expect((await fake.admin('GET', '/_fake/state')).body.partitions).toHaveLength(1);
    } finally {
      await fake.close();
    }
  });

  it('rejects a bad flag with exit code 2, naming it, and runs nothing', async () => {
    const { code, stdout, stderr } = await simulate('--seeds', '0');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toBe('simulate: --seeds must be a whole number from 1 to 4294967295, got "0"');
  }, 60_000);
});

/** The same call on both tables: the same answer, or the same kind of error. */
type Call = (state: StatePort) => Promise<unknown>;

describe("the simulator's table (the in-memory state double) answers every call as DynamoStateAdapter does against DynamoDB: items, generations, leases, conditional writes, outbox", () => {
  const scope = { accountId: '000000000000', region: 'us-east-1' };
  const now = Date.parse('2026-11-25T12:00:00Z');
  const spec = (extra: Record<string, unknown> = {}): DesiredStoreSpec =>
    desiredSpecSchema.parse({
      name: 'payments',
      desiredState: 'CONNECTED',
      cloudHsmClusterId: 'cluster-abcdefghijk',
      mode: 'enforce',
      ...extra,
    }) as DesiredStoreSpec;
  const input = { ...emptyStatus('payments', now), phase: 'CONNECTING' as const, incidentId: 'inc-0000000000000001', attempt: 1 };
  const desired = { ...spec(), generation: 1, paused: false, retryRequestedAt: null, changedBy: null };
  const missing: PlanInput = {
    scope,
    desired,
    observed: null,
    clusters: new Map(),
    passwordVersion: null,
    xksCredentialVersion: null,
    status: null,
    settings: { killSwitch: false, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 },
    regionalIncident: false,
    unreadable: [],
    missingSecrets: [],
    signatures: [],
    manualChange: null,
    now,
  };
  // An outbox as the core writes it: the events of a decision (here, Store Missing).
  const outbox = decisionEvents(plan(missing), missing);

  let fake: TestFake;
  let dynamo: DynamoStateAdapter;
  let sim: InMemoryState;
  beforeAll(async () => {
    // Prepare
    fake = await startTestFake();
    await ensureTable(new DynamoDBClient(fake.config), 'twin');
    dynamo = new DynamoStateAdapter(makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials).dynamo, 'twin', scope);
    sim = new InMemoryState(scope);
  });
  afterAll(() => fake.close());

  // Each call runs on the state the calls before it left, in this order.
  it.each<[string, Call]>([
    ['putDesired: a new store, by alice', (state) => state.putDesired([spec()], now, 'alice')],
    ['putDesired: the same spec, by bob', (state) => state.putDesired([spec()], now, 'bob')],
    ['putDesired: a changed spec, by bob', (state) => state.putDesired([spec({ maxAttempts: 5 })], now, 'bob')],
    ['request: pause', (state) => state.request('payments', 'pause', now)],
    ['request: retry', (state) => state.request('payments', 'retry', now + 1)],
    ['request: resume of an undeclared store', (state) => state.request('nobody', 'resume', now)],
    [
      'sign: generation 4, by carol',
      (state) =>
        state.sign({
          signer: 'source/carol',
          scopePk: 'DESIRED#111122223333#us-east-1',
          subject: 'STORE#payments',
          generation: 4,
          digest: 'c'.repeat(64),
          signedAt: now,
        }),
    ],
    ['acquireLease: run-a takes the free lease', (state) => state.acquireLease('payments', 'run-a', now, 60_000)],
    ['acquireLease: run-a again, holding it', (state) => state.acquireLease('payments', 'run-a', now + 500, 60_000)],
    ['acquireLease: run-b while run-a holds it', (state) => state.acquireLease('payments', 'run-b', now + 1_000, 60_000)],
    ["acquireLease: run-b after run-a's lease expired", (state) => state.acquireLease('payments', 'run-b', now + 60_500, 60_000)],
    ['saveStatus: by run-b', (state) => state.saveStatus(input, 'run-b', { now, outbox: [] })],
    [
      'saveStatus: by run-a, with an outbox and a held lease',
      (state) => state.saveStatus(input, 'run-a', { now, outbox, holdLeaseUntil: now + 60_000 }),
    ],
    ['acquireLease: run-b again', (state) => state.acquireLease('payments', 'run-b', now + 2_000, 60_000)],
    ['load', (state) => state.load('payments')],
    ['saveStatus: IDLE, by run-a', (state) => state.saveStatus({ ...input, phase: 'IDLE' }, 'run-a', { now, outbox: [] })],
    ['releaseLease: by run-a', (state) => state.releaseLease('payments', 'run-a')],
    ['acquireLease: run-b after the release', (state) => state.acquireLease('payments', 'run-b', now + 3_000, 60_000)],
    ['releaseLease: by run-a, not holding it', (state) => state.releaseLease('payments', 'run-a')],
    ["acquireLease: run-a after run-b's lease expired", (state) => state.acquireLease('payments', 'run-a', now + 61_000 + 3_000, 60_000)],
    ['putSettings', (state) => state.putSettings({ killSwitch: true, blastRadiusMaxFailedShare: 0.4, blastRadiusMinFailed: 2 })],
    ['getSettings', (state) => state.getSettings()],
    [
      'recordSettingsInForce: the first record, with an owed page',
      (state) =>
        state.recordSettingsInForce(
          { values: { approvalForCloudHsm: true, blastRadiusMaxFailedShare: 0.4, blastRadiusMinFailed: 2 }, announced: 'evt-1', outbox },
          null,
        ),
    ],
    [
      'recordSettingsInForce: a stale revision',
      (state) =>
        state.recordSettingsInForce(
          { values: { approvalForCloudHsm: false, blastRadiusMaxFailedShare: 1, blastRadiusMinFailed: 2 }, announced: null, outbox: [] },
          null,
        ),
    ],
    ['announceSettings', (state) => state.announceSettings('evt-1')],
    ['loadSettings', (state) => state.loadSettings()],
    ['openRegionalIncident', (state) => state.openRegionalIncident(now, outbox[0]!)],
    ['openRegionalIncident: while one is open', (state) => state.openRegionalIncident(now + 1, outbox[0]!)],
    ['announceRegionalIncident', (state) => state.announceRegionalIncident(now)],
    ['loadAll: during the regional incident', (state) => state.loadAll()],
    ['endRegionalIncident: another incident', (state) => state.endRegionalIncident(now + 1)],
    ['endRegionalIncident', (state) => state.endRegionalIncident(now)],
    ['loadAll: after the regional incident', (state) => state.loadAll()],
  ])('%s', async (_call, call) => {
    // Act and assess
    const settle = (promise: Promise<unknown>) =>
      promise.then(
        (value) => ({ value }),
        (error: Error) => ({ error: error.name }),
      );
    expect(await settle(call(sim))).toEqual(await settle(call(dynamo)));
  });
});
