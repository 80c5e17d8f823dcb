/**
 * The conductor: every port call of every run goes through it, one at a time, in an order drawn from
 * the seed. Runs that happen "at once" interleave at their port calls, so the interleaving is part of
 * the schedule and a seed replays it exactly. It is also where a run crashes (its k-th call never
 * returns) and where an answer is lost (the call took effect, the run sees a timeout).
 */
import { AwsCallError } from '../../errors.js';
import type { ReconcileDeps } from '../../reconcile/ports.js';
import type { Rng } from './rng.js';

export type PortName = 'kms' | 'cloudHsm' | 'secrets' | 'health' | 'events' | 'state';

/** One port call of one run. */
export interface Call {
  run: number;
  /** The run's call number, from 1. */
  seq: number;
  port: PortName;
  method: string;
  args: readonly unknown[];
}

/**
 * What became of a call: an answer, an error, an answer lost although the call took effect, or no
 * answer ever (the run crashed there; `madeIt`: the call took effect first).
 */
export type CallResult =
  | { kind: 'ok'; value: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'lost'; error: AwsCallError }
  | { kind: 'crashed'; madeIt: boolean };

/** Sees every call before it is made and its result after. */
export interface CallObserver {
  before(call: Call): Promise<void>;
  after(call: Call, result: CallResult): void;
}

/**
 * How a run is cut short at the first call `at` picks: it crashes before the call is made or after it
 * reached AWS (the answer never comes back); the call takes effect and its answer is lost (a timeout);
 * the call takes effect but answers only after more than a lease (`slow`: the run sees a timeout, its
 * lease ran out meanwhile); or the run freezes after the call, before it sees the answer (`pause`: a
 * frozen process) for more than a lease while the other runs go on, and then carries on.
 */
export interface RunFault {
  kind: 'crashBefore' | 'crashAfter' | 'lostAnswer' | 'slow' | 'pause';
  at: (call: Call) => boolean;
}

/** How long a call takes in fake time (ms), at most: each call's while is drawn up to this. */
const CALL_MS = 400;

/** How a run ended. A crashed run never ends: its lease stays until it expires. */
export type RunEnd<T> = { kind: 'done'; value: T } | { kind: 'failed'; error: unknown } | { kind: 'crashed'; at: Call };

export interface RunSpec<T> {
  id: number;
  fault: RunFault | null;
  body: () => Promise<T>;
}

const PORT_METHODS: { [P in PortName]: readonly (keyof ReconcileDeps[P] & string)[] } = {
  kms: ['listStores', 'describeStore', 'connect', 'disconnect', 'update'],
  cloudHsm: ['describeClusters', 'createHsm'],
  secrets: ['currentVersion', 'getValue'],
  health: ['readXksHealth'],
  events: ['publish'],
  state: [
    'loadAll',
    'load',
    'acquireLease',
    'saveStatus',
    'releaseLease',
    'appendHistory',
    'putDesired',
    'sign',
    'deleteDesired',
    'deleteStatus',
    'request',
    'getSettings',
    'putSettings',
    'loadSettings',
    'recordSettingsInForce',
    'announceSettings',
    'openRegionalIncident',
    'announceRegionalIncident',
    'endRegionalIncident',
    'openUnreachable',
    'announceUnreachable',
    'clearUnreachable',
    'registerScope',
    'listScopes',
  ],
};

interface Pending {
  call: Omit<Call, 'seq'>;
  invoke: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface RunState {
  id: number;
  /** Cleared once it struck: a run is cut short once. */
  fault: RunFault | null;
  calls: number;
  crashedAt: Call | null;
  /** Stalled past its lease after a call: hands the run its answer once no other run can go on. */
  wake: (() => void) | null;
  end: RunEnd<unknown> | null;
}

export class Conductor {
  #queue: Pending[] = [];
  /** The run whose code runs now (between two of its calls): log lines it writes are its own. */
  #current: number | null = null;

  /** `elapse(ms)`: lets fake time pass; `leaseTtlMs`: the runs' lease, which a slow call or a pause outlasts. */
  constructor(
    private readonly rng: Rng,
    private readonly observer: CallObserver,
    private readonly elapse: (ms: number) => void,
    private readonly leaseTtlMs: number,
  ) {}

  get currentRun(): number | null {
    return this.#current;
  }

  /** `deps` whose every port call goes through the conductor as run `run`. */
  instrument(deps: ReconcileDeps, run: number): ReconcileDeps {
    return {
      ...deps,
      kms: this.#port(deps.kms, 'kms', run),
      cloudHsm: this.#port(deps.cloudHsm, 'cloudHsm', run),
      secrets: this.#port(deps.secrets, 'secrets', run),
      health: this.#port(deps.health, 'health', run),
      events: this.#port(deps.events, 'events', run),
      state: { ...this.#port(deps.state, 'state', run), scope: deps.state.scope },
    };
  }

  /**
   * Runs `specs` at once: whenever every live run waits on a port call, one of those calls is drawn
   * and made. Returns each run's end once every run has ended or crashed.
   */
  async together<T>(specs: ReadonlyArray<RunSpec<T>>): Promise<Array<RunEnd<T>>> {
    const states = specs.map((spec) => {
      const state: RunState = { id: spec.id, fault: spec.fault, calls: 0, crashedAt: null, wake: null, end: null };
      this.#current = spec.id;
      spec.body().then(
        (value) => (state.end = { kind: 'done', value }),
        (error: unknown) => (state.end = { kind: 'failed', error }),
      );
      return state;
    });
    for (;;) {
      await settle();
      const live = states.filter((s) => s.end === null && s.crashedAt === null);
      if (live.length === 0) break;
      const waiting = this.#queue.filter((p) => live.some((s) => s.id === p.call.run));
      // A stalled run wakes once no other run can go on.
      const stalled = live.find((s) => s.wake !== null);
      if (waiting.length === 0 && stalled !== undefined) {
        const wake = stalled.wake!;
        stalled.wake = null;
        this.#current = stalled.id;
        wake();
        continue;
      }
      if (waiting.length === 0) {
        throw new Error(`simulator: run(s) ${live.map((s) => s.id).join(', ')} wait on something that is not a port call`);
      }
      const next = waiting[this.rng.int(waiting.length)]!;
      this.#queue = this.#queue.filter((p) => p !== next);
      await this.#make(next, states.find((s) => s.id === next.call.run)!);
    }
    // A crashed run's other calls stay unanswered forever, as in a process that died.
    this.#queue = this.#queue.filter((p) => !states.some((s) => s.id === p.call.run));
    this.#current = null;
    return states.map((s) => (s.crashedAt !== null ? { kind: 'crashed', at: s.crashedAt } : (s.end as RunEnd<T>)));
  }

  async #make(pending: Pending, run: RunState): Promise<void> {
    run.calls += 1;
    const call: Call = { ...pending.call, seq: run.calls };
    const fault = run.fault?.at(call) ? run.fault.kind : null;
    if (fault !== null) run.fault = null;
    await this.observer.before(call);
    if (fault === 'crashBefore') {
      run.crashedAt = call;
      this.observer.after(call, { kind: 'crashed', madeIt: false });
      return;
    }
    this.elapse(1 + this.rng.int(CALL_MS));
    let result: CallResult;
    try {
      result = { kind: 'ok', value: await pending.invoke() };
    } catch (error) {
      result = { kind: 'error', error };
    }
    if (fault === 'slow') {
      // It answers after more than a lease: the SDK gave up on it long before, whether it went through or not.
      this.elapse(this.leaseTtlMs + 1_000 + this.rng.int(this.leaseTtlMs));
      if (result.kind === 'ok') result = { kind: 'lost', error: timeout(call, 'no answer within the lease (the request went through)') };
    }
    if (fault === 'crashAfter') {
      run.crashedAt = call;
      this.observer.after(call, { kind: 'crashed', madeIt: result.kind === 'ok' });
      return;
    }
    // A call that failed gave its answer (the error); one that took effect has it lost.
    if (fault === 'lostAnswer' && result.kind === 'ok')
      result = { kind: 'lost', error: timeout(call, 'no answer in time (the request itself went through)') };
    this.observer.after(call, result);
    const answer = (): void => (result.kind === 'ok' ? pending.resolve(result.value) : pending.reject((result as { error: unknown }).error));
    if (fault === 'pause') {
      // The run freezes before it sees the answer, for more than a lease: what it read goes stale and
      // what it leased may be taken over meanwhile; it carries on once the other runs cannot.
      this.elapse(this.leaseTtlMs + 1_000 + this.rng.int(this.leaseTtlMs));
      run.wake = answer;
      return;
    }
    this.#current = run.id;
    answer();
  }

  #port<P extends object>(real: P, port: PortName, run: number): P {
    const methods = PORT_METHODS[port] as readonly string[];
    const target = real as Record<string, (...args: unknown[]) => Promise<unknown>>;
    return Object.fromEntries(
      methods.map((method) => [
        method,
        (...args: unknown[]) =>
          new Promise((resolve, reject) => {
            this.#queue.push({ call: { run, port, method, args }, invoke: () => target[method]!.apply(real, args), resolve, reject });
          }),
      ]),
    ) as P;
  }
}

/** The error a run sees when a call's answer does not come back in time. */
function timeout(call: Call, message: string): AwsCallError {
  return new AwsCallError(`${call.port}.${call.method}`, 'TimeoutError', true, message);
}

/** Lets every run that can go on reach its next port call (or its end): all pending microtasks run first. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
