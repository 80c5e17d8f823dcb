/**
 * Deterministic simulation: the real reconcile core and the fake in this process, on the fake's
 * manual clock, driven through a schedule drawn from a seed. A seed builds a small world, runs four
 * to eight steps of chaos (people, outages, API faults, crashes, lost answers, slow calls, runs
 * stalled past their lease, two runs at once: two fleet workers given one redelivered message, or a
 * sweep and an event run), then lets it settle and finally lets a human mend it; the monitor checks
 * the invariants throughout. The follow-ups the runs ask for are delivered as targeted runs when they
 * fall due (some lost, some twice), and the reconciler's added time per repair is measured. The same
 * seed replays the same calls in the same order, so a violation's trace is reproducible.
 */

import { errorMessage } from '../../errors.js';
import { type FleetOutcome, reconcileScopes } from '../../fleet/reconcile-fleet.js';
import type { ReconcileDeps, SaveStatusOptions } from '../../reconcile/ports.js';
import { type ReconcileRequest, type ReconcileResult, type ReportedChange, reconcileScope } from '../../reconcile/reconcile-scope.js';
import { parseCloudTrailEvent } from '../../runtime/triggers.js';
import type { StateOperation } from '../state/in-memory-state.js';
import { AddedTime } from './added-time.js';
import { type Call, type CallObserver, Conductor, type RunEnd, type RunFault, type RunSpec } from './conductor.js';
import type { FaultSpec } from './fake-admin.js';
import { type Harness, RECONCILER_ROLE } from './harness.js';
import { type Invariant, Monitor, MUTATING, type Violation } from './monitor.js';
import { Rng } from './rng.js';
import { SimWorld } from './world.js';

export interface SeedResult {
  seed: number;
  violations: Violation[];
  /** Every step, call, decision and check of the seed, in order (empty unless asked for or violating). */
  trace: string[];
  checks: ReadonlyMap<Invariant, number>;
  coverage: ReadonlyMap<string, number>;
  /** Kmsuser lock-outs by failed logins (the simulator locks kmsuser out by hand too; those are not counted). */
  lockouts: number;
  /** Fake seconds the reconciler added to each repair that ended in `Repair Succeeded` (see {@link AddedTime}). */
  addedSeconds: number[];
}

/** Changes the reconciler's dependencies for every run: how a test breaks an invariant on purpose. */
export type Tamper = (deps: ReconcileDeps) => ReconcileDeps;

const CHAOS_STEPS = { min: 4, max: 8 };
/** Sweeps to settle after the chaos, and to heal after the human mended the world. */
const SETTLE_SWEEPS = 14;
const HEAL_SWEEPS = 12;
/** Fake seconds between two sweeps once the chaos has stopped (the schedule's rate is 1-5 minutes). */
const CALM_STEP_SECONDS = 300;

/** Operations the reconciler calls in the fake, by service, with the exceptions a fault on each may raise. */
const FAULTS: ReadonlyArray<readonly [readonly string[], readonly string[]]> = [
  [
    ['DescribeCustomKeyStores', 'ConnectCustomKeyStore', 'DisconnectCustomKeyStore', 'UpdateCustomKeyStore'],
    ['ThrottlingException', 'KMSInternalException'],
  ],
  [
    ['DescribeClusters', 'CreateHsm'],
    ['ThrottlingException', 'CloudHsmInternalFailureException'],
  ],
  [
    ['DescribeSecret', 'GetSecretValue'],
    ['ThrottlingException', 'InternalServiceError'],
  ],
  [['PutEvents'], ['ThrottlingException', 'InternalException']],
];
/** Attempts a fault fails to stand for a service down for the whole step (the SDK's retries included). */
const DOWN = 1_000;
/** The table calls the reconciler makes, any of which a fault may break. */
const TABLE_OPERATIONS: readonly StateOperation[] = [
  'loadAll',
  'load',
  'getSettings',
  'acquireLease',
  'saveStatus',
  'releaseLease',
  'appendHistory',
  'recordSettingsInForce',
  'announceSettings',
  'openRegionalIncident',
  'announceRegionalIncident',
  'endRegionalIncident',
  'deleteStatus',
  'openUnreachable',
  'announceUnreachable',
  'clearUnreachable',
];
/** How DynamoDB fails them once the SDK's retries are spent. */
const TABLE_ERRORS = ['ProvisionedThroughputExceededException', 'ThrottlingException', 'InternalServerError'];

/**
 * Runs one seed from an empty fake to its last check. Its trace comes back when it violated an
 * invariant or `keepTrace` asks for it (empty otherwise). A failure of the simulator itself names the seed.
 */
export async function runSeed(h: Harness, seed: number, options: { tamper?: Tamper; keepTrace?: boolean } = {}): Promise<SeedResult> {
  try {
    return await play(h, seed, options.tamper ?? ((deps) => deps), options.keepTrace === true);
  } catch (error) {
    throw new Error(`simulator failed on seed ${seed} (replay it with: npm run simulate -- --seed ${seed}): ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

async function play(h: Harness, seed: number, tamper: Tamper, keepTrace: boolean): Promise<SeedResult> {
  await h.reset(seed);
  const rng = new Rng(seed);
  const monitor = new Monitor(h.admin, h.table, h.clock.now());
  const world = new SimWorld(h, rng.fork(), seed, monitor);
  const schedule = rng.fork();
  const added = new AddedTime(
    (id) => monitor.fake.stores.find((s) => s.CustomKeyStoreId === id)?.CustomKeyStoreType,
    (id) => monitor.fake.stores.find((s) => s.CustomKeyStoreId === id)?.CloudHsmClusterId,
  );
  const observer: CallObserver = {
    before: (call) => monitor.before(call),
    after: (call, result) => {
      monitor.after(call, result);
      added.observe(call, result, h.clock.now());
    },
  };
  const conductor = new Conductor(rng.fork(), observer, (ms) => h.fake.advance(ms / 1000), h.leaseTtlMs);
  const deliveries = rng.fork();
  /** Follow-ups the runs asked for and the queue has not delivered yet, by due time (fake epoch ms), in the order they were sent. */
  let queued: Array<{ store: string; due: number }> = [];
  /** What a run asked for, sent when it ends (at its own fake time): SQS may lose one or deliver it twice. */
  const send = (ended: Ended): void => {
    const results = Array.isArray(ended) ? ended.flatMap((scope) => (scope.status === 'reconciled' ? [scope.result] : [])) : [ended];
    for (const { store, afterSeconds } of results.flatMap((r) => r.followUps)) {
      const fate = deliveries.weighted([
        ['delivered', 18],
        ['lost', 1],
        ['delivered twice', 1],
      ] as const);
      monitor.tally(`follow-ups ${fate}`);
      const due = h.clock.now() + afterSeconds * 1000;
      if (fate !== 'lost') queued.push({ store, due });
      if (fate === 'delivered twice') queued.push({ store, due });
    }
  };
  let runs = 0;
  let trailSeen = 0;
  /** The connect and disconnect calls people made since the last look, as the event handler reads the events the event rule forwards. */
  const reportedSince = async (): Promise<ReportedChange[]> => {
    const { events, next } = await h.admin.cloudTrail(trailSeen);
    trailSeen = next;
    return events
      .filter((event) => !madeByReconciler(event))
      .flatMap((event) => parseCloudTrailEvent(event).flatMap((read) => (read.trigger === 'cloudtrail' ? read.changes : [])));
  };

  /**
   * Runs `requests` at once (one may be cut short), then checks what they published. A sweep runs as
   * the fleet's worker runs the scope a queue message names (`reconcileScopes`); an event run is one
   * pass for the stores it names.
   */
  const step = async (requests: ReconcileRequest[], fault: RunFault | null = null): Promise<void> => {
    const faulted = fault === null ? -1 : fault.kind === 'pause' ? 0 : schedule.int(requests.length);
    const specs: Array<RunSpec<Ended>> = requests.map((request, index) => {
      const id = ++runs;
      const deps = conductor.instrument(tamper(h.deps(`sim-run-${id}`)), id);
      const only = request.only?.names ? ` for ${request.only.names.join(', ')}` : '';
      const worker = request.only ? '' : ' (a fleet worker, one queue message)';
      monitor.note(`run ${id}: ${request.trigger}${worker}${only}${index === faulted ? ` (${fault!.kind} planned)` : ''}`);
      const runtime = { home: deps.state.scope, deps: () => deps, reach: async () => undefined };
      const body = async (): Promise<Ended> => {
        const ended = request.only
          ? await reconcileScope(deps, request)
          : await reconcileScopes(runtime, [runtime.home], { trigger: request.trigger, concurrency: 1 });
        send(ended);
        return ended;
      };
      return { id, fault: index === faulted ? fault : null, body };
    });
    const kind = requests[0]?.trigger === 'followup' ? 'follow-up' : monitor.step.replace(/ \d+$/, '');
    monitor.tally(`reconcile runs (${kind})`, specs.length);
    const ends = await conductor.together(specs);
    for (const [index, end] of ends.entries()) monitor.note(`run ${specs[index]!.id} ${describeEnd(end)}`);
    await monitor.afterStep(ends.flatMap((end) => (end.kind === 'failed' ? [end.error] : [])));
  };

  /**
   * Lets `seconds` of fake time pass, delivering on the way each follow-up whose delay has passed: a
   * targeted run (trigger `followup`) for its one store, at its due time, as the on-event function
   * consumes the follow-up queue; the copies of one delivered twice run at once.
   */
  const advance = async (seconds: number): Promise<void> => {
    const until = h.clock.now() + seconds * 1000;
    const step0 = monitor.step;
    for (let due = nextDue(queued, until); due !== null && monitor.violations.length === 0; due = nextDue(queued, until)) {
      if (due > h.clock.now()) h.fake.advance((due - h.clock.now()) / 1000);
      const now = h.clock.now();
      const delivered = queued.filter((f) => f.due <= now);
      queued = queued.filter((f) => f.due > now);
      monitor.step = `${step0}, follow-up`;
      await step(delivered.map((f) => ({ trigger: 'followup', only: { names: [f.store] } })));
    }
    monitor.step = step0;
    if (until > h.clock.now()) h.fake.advance((until - h.clock.now()) / 1000);
  };

  h.logSink = (line) => monitor.log(line, conductor.currentRun);
  await world.build();
  monitor.attach(world);
  h.fake.advance(120);
  monitor.step = 'step 0';
  await step([{ trigger: 'schedule' }]);

  const steps = schedule.between(CHAOS_STEPS.min, CHAOS_STEPS.max);
  // In some seeds EventBridge is down for a step, and then an operator removes a store that still owes events.
  const removalStep = schedule.chance(0.25) ? schedule.between(1, steps) : 0;
  for (let i = 1; i <= steps && monitor.violations.length === 0; i++) {
    monitor.step = `step ${i}`;
    await monitor.refresh();
    const touched = await world.disturb(monitor.fake);
    const faults = await injectFaults(h, schedule, monitor);
    if (i === removalStep) {
      await h.admin.addFault({ operation: 'PutEvents', error: 'InternalException', count: DOWN });
      monitor.note('fault: EventBridge down for the step (PutEvents fails every attempt)');
      monitor.tally('steps with EventBridge down');
    }
    const requests = runsOfStep(schedule, world, touched, await reportedSince(), monitor);
    const fault = runFault(schedule, monitor);
    // A run stalled past its lease: the next sweep comes meanwhile and takes over what it leased.
    if (fault?.kind === 'pause' && requests.length === 1) requests.push({ trigger: 'schedule' });
    await step(requests, fault);
    if (faults || i === removalStep) {
      await h.admin.clearFaults();
      h.table.faults.clear();
    }
    if (i === removalStep) {
      const removed = await world.remove(schedule.pick(world.declared));
      if (removed !== null) {
        monitor.note(removed);
        monitor.tally('operator: cks delete');
      }
    }
    await advance(
      schedule.weighted([
        [5, 2],
        [30, 2],
        [65, 3],
        [130, 3],
        [300, 2],
        [900, 1],
      ] as const),
    );
  }

  // The chaos stops: the store must get where it was declared, or be handed to a human, on its own.
  for (let i = 1; i <= SETTLE_SWEEPS && monitor.violations.length === 0; i++) {
    monitor.step = `settle ${i}`;
    const before = monitor.activity;
    await step([{ trigger: 'schedule' }]);
    await monitor.refresh();
    if (monitor.activity === before && monitor.unsettled(false).length === 0) break;
    // A store backing off is not touched before its next attempt: go there at once (backoff is at most an hour).
    const due = monitor.nextAttemptAt();
    await advance(Math.max(CALM_STEP_SECONDS, due === null ? 0 : Math.ceil((due - h.clock.now()) / 1000) + 1));
  }
  if (monitor.violations.length === 0) monitor.settledCheck(false);

  // A human mends what is still broken and releases it: now every store must reach its desired state.
  for (let i = 1; i <= HEAL_SWEEPS && monitor.violations.length === 0; i++) {
    // Follow-up runs and time passed since the last look: see the world as it is now.
    await monitor.refresh();
    const broken = monitor.unsettled(true).map((u) => u.store);
    if (broken.length === 0) break;
    monitor.step = `heal ${i}`;
    // Whatever is escalated or held again (say, a connect failing as injected long before) gets the same care again, as on-call would give it.
    const care = i === 1 ? broken : broken.filter((s) => ['ESCALATED', 'HELD'].includes(monitor.phaseOf(s.name) ?? ''));
    if (care.length > 0) await world.heal(monitor.fake, care);
    // Too many stores FAILED at once (say, connects armed to fail long before failing now): the regional-incident runbook.
    await world.mendRegionalIncident(monitor.fake);
    await step([{ trigger: 'schedule' }]);
    await advance(CALM_STEP_SECONDS);
  }
  if (monitor.violations.length === 0) monitor.settledCheck(true);
  await monitor.finalChecks();
  const { trace, violations } = keepTrace || monitor.violations.length > 0 ? monitor.report() : { trace: [], violations: [] };
  return { seed, violations, trace, checks: monitor.checks, coverage: monitor.coverage, lockouts: monitor.lockouts, addedSeconds: added.seconds };
}

/**
 * API faults for this step's runs: throttling and 5xx on an operation the reconciler calls, for a few
 * calls. In the fake a fault hits each attempt (the SDK's retries absorb up to three); in the table
 * it hits calls whose retries are already spent.
 */
async function injectFaults(h: Harness, rng: Rng, monitor: Monitor): Promise<boolean> {
  if (!rng.chance(0.3)) return false;
  for (let i = rng.between(1, 2); i > 0; i--) {
    if (rng.chance(0.25)) {
      const operation = rng.pick(TABLE_OPERATIONS);
      const error = rng.pick(TABLE_ERRORS);
      const count = rng.between(1, 2);
      h.table.faults.fail(operation, error, { count });
      monitor.tally(`API fault on table ${operation}`);
      monitor.note(`fault: table ${operation} fails with ${error} ${count} time(s) after the SDK's retries`);
      continue;
    }
    const [operations, errors] = rng.pick(FAULTS);
    const fault: FaultSpec = {
      operation: rng.pick(operations),
      error: rng.pick(errors),
      count: rng.between(1, 6),
      ...(rng.chance(0.2) ? { probability: 0.5 } : {}),
    };
    await h.admin.addFault(fault);
    monitor.tally(`API fault on ${fault.operation}`);
    monitor.note(
      `fault: ${fault.operation} fails with ${fault.error} ${fault.count} attempt(s)${fault.probability ? ' (each attempt with probability 0.5)' : ''}`,
    );
  }
  return true;
}

/**
 * One sweep, two at once, or a sweep and an event-triggered run for a store people just touched, which
 * carries what CloudTrail reported of people's connects and disconnects in this step.
 */
function runsOfStep(
  rng: Rng,
  world: SimWorld,
  touched: readonly string[],
  reported: readonly ReportedChange[],
  monitor: Monitor,
): ReconcileRequest[] {
  const shape = rng.weighted([
    ['sweep', 4],
    ['two workers, one message redelivered', 2],
    ['sweep and event', 3],
  ] as const);
  if (shape !== 'sweep') {
    monitor.tally('steps with two runs at once');
    monitor.tally(`steps with two runs at once (${shape})`);
  }
  if (shape === 'sweep') return [{ trigger: 'schedule' }];
  if (shape === 'two workers, one message redelivered') return [{ trigger: 'schedule' }, { trigger: 'schedule' }];
  const name = touched.length > 0 ? rng.pick(touched) : rng.pick(world.declared).name;
  if (reported.length > 0) monitor.tally('event runs told who connected or disconnected by hand');
  return [{ trigger: 'schedule' }, { trigger: 'cloudtrail', only: { names: [name] }, changes: reported }];
}

/** The earliest due time of a queued follow-up, if it falls by `until`. */
function nextDue(queued: ReadonlyArray<{ due: number }>, until: number): number | null {
  const due = Math.min(...queued.map((f) => f.due));
  return due <= until ? due : null;
}

/** The event rule forwards no call of the reconciler's own role. */
function madeByReconciler(event: unknown): boolean {
  const issuer = (event as { detail?: { userIdentity?: { sessionContext?: { sessionIssuer?: { arn?: string } } } } }).detail?.userIdentity
    ?.sessionContext?.sessionIssuer?.arn;
  return issuer?.endsWith(`:role/${RECONCILER_ROLE}`) === true;
}

/**
 * Whether one of the step's runs is cut short, slowed or stalled, and where: its k-th call, its first
 * mutating call (where a lost answer hurts most), its first publish or its first status write; a slow
 * call is a call to AWS. A run stalls after its k-th call, after it read the table (what it read goes
 * stale while the other run acts), after it took a lease (the other run takes the store over) or
 * after a status write; never right before a mutating call (see {@link beforeMutating}).
 */
function runFault(rng: Rng, monitor: Monitor): RunFault | null {
  const kind = rng.weighted([
    [null, 48],
    ['crashBefore', 8],
    ['crashAfter', 8],
    ['lostAnswer', 10],
    ['slow', 6],
    ['pause', 20],
  ] as const);
  if (kind === null) return null;
  monitor.tally(`run fault planned: ${kind}`);
  const where = rng.weighted(
    kind === 'pause'
      ? ([
          ['k-th call', 2],
          ['state.loadAll', 6],
          ['state.acquireLease', 2],
          ['state.saveStatus', 1],
        ] as const)
      : ([['k-th call', 4], ['mutating', 3], ['events.publish', 2], ...(kind === 'slow' ? [] : ([['state.saveStatus', 2]] as const))] as const),
  );
  const k = rng.between(1, 24);
  return {
    kind,
    at: (call) => {
      const key = `${call.port}.${call.method}`;
      const picked = where === 'k-th call' ? call.seq === k : where === 'mutating' ? MUTATING.has(key) : key === where;
      if (kind === 'slow') return picked && call.port !== 'state';
      return picked && (kind !== 'pause' || !beforeMutating(call));
    },
  };
}

/**
 * The calls a run makes between the status write that records its decision and the mutating call
 * itself: no lease keeps a process frozen here from acting late, so the simulator does not freeze it here.
 */
function beforeMutating(call: Call): boolean {
  const key = `${call.port}.${call.method}`;
  return key === 'secrets.getValue' || (key === 'state.saveStatus' && (call.args[2] as SaveStatusOptions).holdLeaseUntil !== undefined);
}

/** What a run returns: a pass, or the worker's outcome for the scope of its message. */
type Ended = ReconcileResult | FleetOutcome[];

function describeEnd(end: RunEnd<Ended>): string {
  switch (end.kind) {
    case 'done': {
      if (!Array.isArray(end.value)) return `done: ${describeOutcomes(end.value)}`;
      const [scope] = end.value;
      if (scope?.status === 'reconciled') return `done: ${describeOutcomes(scope.result)}`;
      if (scope?.status === 'unreachable') return `done: scope unreachable (${scope.operation}: ${scope.errorCode}), incident ${scope.incidentId}`;
      if (scope?.status === 'closed') return 'done: scope closed (no store declared)';
      return `failed: ${scope?.error}`;
    }
    case 'failed':
      return `failed: ${errorMessage(end.error)}`;
    case 'crashed':
      return `CRASHED at its call #${end.at.seq} (${end.at.port}.${end.at.method}); its lease stays until it expires`;
  }
}

function describeOutcomes(result: ReconcileResult): string {
  return result.outcomes.map((o) => `${o.name} ${o.taken ?? o.skipped ?? 'no call'}${o.error ? ` (error: ${o.error})` : ''}`).join(', ');
}
