/**
 * The pure decision for one store (DESIGN.md §3): what one run does, why, the status to record and
 * the events to emit. No clock, no environment, no randomness, no I/O: time arrives as `input.now`,
 * jitter and incident ids are hashes of the input.
 *
 * Shape: `plan` computes what enforce mode would do (`enforce`), then either returns it or, when the
 * store must not be acted on (mode observe/plan, kill switch, regional incident), turns it into a
 * report-only decision that keeps the status where it was.
 */
import { playbookFor, SITUATION_RUNBOOKS, type Situation } from './playbooks.js';
import type {
  Action,
  ActionKind,
  ClusterView,
  ConnectionErrorCode,
  Decision,
  EventDraft,
  HeldInputs,
  ObservedStore,
  Phase,
  PlanInput,
  StoreStatus,
  StoreType,
  UpdateChanges,
} from './types.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** First retry delay (before jitter); doubles per attempt. */
export const BACKOFF_BASE_MS = 2 * MINUTE;
/** Longest retry delay. */
export const BACKOFF_CAP_MS = 60 * MINUTE;
/**
 * KMS is eventually consistent: for this long after our own call, an observation that still shows
 * the state from before the call is taken as stale, and the run waits instead of calling again.
 */
export const SETTLE_MS = 60 * SECOND;
/** A disconnect takes seconds to minutes; past this the store is escalated as stuck. */
export const DISCONNECTING_DEADLINE_MS = 10 * MINUTE;
/** KMS documents up to ~20 min (CloudHSM) and ~5 min (XKS) for a connect; past these the store is escalated as stuck. */
export const CONNECTING_DEADLINE_MS: Record<StoreType, number> = {
  AWS_CLOUDHSM: 25 * MINUTE,
  EXTERNAL_KEY_STORE: 8 * MINUTE,
};

/** Exceptions of a mutating call that mean our view of the store was stale: nothing is counted, the next run looks again. */
const STALE_VIEW_ERRORS: ReadonlySet<string> = new Set(['CustomKeyStoreInvalidStateException', 'CustomKeyStoreNotFoundException']);

/** Exceptions of a mutating call whose fix has its own runbook; any other repeated failure gets `actionFailing`. */
const ACTION_ERROR_SITUATIONS: ReadonlyMap<string, Situation> = new Map([
  ['CloudHsmClusterInvalidConfigurationException', 'noActiveHsm'],
  ['CloudHsmClusterNotActiveException', 'clusterNotActive'],
  ['CloudHsmClusterNotFoundException', 'clusterNotFound'],
]);

/**
 * Delay before retry `attempt` (1-based): exponential from 2 min, capped at 1 h, with "equal jitter"
 * (a deterministic share of 50-100 % of the delay, from a hash of `key` and `attempt`) so that stores
 * failing together do not retry together.
 */
export function backoffMs(attempt: number, key: string): number {
  const delay = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay * (0.5 + unitHash(`${key}#${attempt}`) / 2));
}

/** Decides the one step of this run for one store. Pure: the same input always gives the same decision. */
export function plan(input: PlanInput): Decision {
  const stored = input.status ?? firstSight(input);
  if (input.desired.paused) return finish(input, stored, paused(stored), null);
  // Leaving a pause starts afresh: the pause closed any incident.
  const current: StoreStatus = stored.phase === 'PAUSED' ? { ...stored, phase: 'IDLE' } : stored;
  const proposal = enforce(input, current);
  const restraint = restraintOf(input);
  return restraint === null
    ? finish(input, stored, proposal, null)
    : finish(input, stored, reportOnly(input, current, proposal, restraint), proposal.action.kind);
}

/**
 * The decision to record when the mutating call of `decision` failed (the core calls it with the
 * exception name). A stale view (`CustomKeyStoreInvalidStateException`, `...NotFoundException`) counts
 * nothing: the next run observes again. Any other failure counts an attempt of the incident (a connect
 * was already counted when it was planned), backs off, emits `Repair Failed`, and escalates at
 * `maxAttempts`, so a call that keeps failing (a wrong desired cluster, a missing permission) ends in
 * one page rather than a silent loop.
 */
export function planActionFailure(input: PlanInput, decision: Decision, errorCode: string, now: number): Decision {
  const stored = input.status ?? firstSight(input);
  const kind = decision.action.kind;
  if (STALE_VIEW_ERRORS.has(errorCode)) {
    const reason = `${kind} was rejected with ${errorCode}: the store changed since it was observed; nothing counted, the next run observes it again`;
    return failureDecision(input, stored, kind, reason, stored, [], now);
  }
  const planned = decision.nextStatus;
  const maxAttempts = input.desired.maxAttempts;
  const incidentId = planned.incidentId ?? incidentIdFor(input, now);
  const attempt = kind === 'connect' ? planned.attempt : planned.attempt + 1;
  const base: StoreStatus = {
    ...planned,
    phase: 'IDLE',
    incidentId,
    attempt,
    nextAttemptAt: null,
    heldInputs: null,
    // The call did not happen: nothing new was applied.
    appliedPasswordVersion: stored.appliedPasswordVersion,
    appliedXksCredentialVersion: stored.appliedXksCredentialVersion,
  };
  const started: EventDraft[] =
    stored.incidentId === incidentId
      ? []
      : [{ detailType: 'Repair Started', reason: decision.reason, action: kind, attempt, maxAttempts, incidentId }];
  const failure = `${kind} call failed with ${errorCode} (attempt ${attempt} of ${maxAttempts})`;
  const failedEvent = (nextAttemptAt: number | null): EventDraft => ({
    detailType: 'Repair Failed',
    reason: failure,
    action: kind,
    attempt,
    maxAttempts,
    incidentId,
    ...(nextAttemptAt !== null ? { nextAttemptAt: iso(nextAttemptAt) } : {}),
  });
  if (attempt >= maxAttempts) {
    const runbook = SITUATION_RUNBOOKS[ACTION_ERROR_SITUATIONS.get(errorCode) ?? 'actionFailing'];
    const reason = `${failure}; no attempts left: escalated to a human`;
    const status: StoreStatus = { ...base, phase: 'ESCALATED', heldInputs: heldInputsOf(input, {}) };
    const escalated: EventDraft = { detailType: 'Repair Escalated', reason, runbook, attempt, maxAttempts, incidentId };
    return failureDecision(input, stored, kind, reason, status, [...started, failedEvent(null), escalated], now);
  }
  const nextAttemptAt = now + backoffMs(attempt, input.desired.name);
  const reason = `${failure}; next attempt after ${iso(nextAttemptAt)}`;
  return failureDecision(input, stored, kind, reason, { ...base, nextAttemptAt }, [...started, failedEvent(nextAttemptAt)], now);
}

// ---------------------------------------------------------------------------------------------
// Steps

/** One step before bookkeeping: the status it leads to (phase, incident, attempts, hold, applied versions). */
interface Step {
  action: Action;
  reason: string;
  events: EventDraft[];
  status: StoreStatus;
  /** Fingerprint of the report-only event of this step (drift, missing, dry run), or null. */
  reportKey: string | null;
}

const NONE: Action = { kind: 'none' };

function wait(status: StoreStatus, reason: string): Step {
  return { action: NONE, reason, events: [], status, reportKey: null };
}

/** Adds a report-only event, sent only when its fingerprint differs from the last one reported. */
function withReport(step: Step, stored: StoreStatus, key: string, draft: EventDraft): Step {
  return { ...step, events: stored.lastReportKey === key ? step.events : [...step.events, draft], reportKey: key };
}

/** A mutating step of a repair: opens an incident (`Repair Started`) or continues it (`Repair Step`). */
function repairStep(
  input: PlanInput,
  cur: StoreStatus,
  action: Exclude<Action, { kind: 'none' }>,
  phase: Phase,
  reason: string,
  patch: Partial<StoreStatus> = {},
): Step {
  const incidentId = cur.incidentId ?? incidentIdFor(input, input.now);
  const status: StoreStatus = { ...cur, ...patch, phase, incidentId };
  const event: EventDraft = {
    detailType: cur.incidentId === null ? 'Repair Started' : 'Repair Step',
    reason,
    action: action.kind,
    attempt: status.attempt,
    maxAttempts: input.desired.maxAttempts,
    incidentId,
  };
  return { action, reason, events: [event], status, reportKey: null };
}

/**
 * Hands the store to a human: phase ESCALATED and exactly one `Repair Escalated` for the incident
 * (callers never escalate a store that is already ESCALATED; a released hold opens a new incident).
 */
function escalate(
  input: PlanInput,
  cur: StoreStatus,
  reason: string,
  runbook: string,
  options: { before?: EventDraft[]; awaiting?: Awaiting } = {},
): Step {
  const incidentId = cur.incidentId ?? incidentIdFor(input, input.now);
  const status: StoreStatus = {
    ...cur,
    phase: 'ESCALATED',
    incidentId,
    nextAttemptAt: null,
    heldInputs: heldInputsOf(input, options.awaiting ?? {}),
  };
  const event: EventDraft = {
    detailType: 'Repair Escalated',
    reason,
    runbook,
    attempt: cur.attempt,
    maxAttempts: input.desired.maxAttempts,
    incidentId,
  };
  return { action: NONE, reason, events: [...(options.before ?? []), event], status, reportKey: null };
}

/** The store reached its desired state: close the incident with `Repair Succeeded`. */
function succeed(input: PlanInput, cur: StoreStatus, reason: string): Step {
  const event: EventDraft = {
    detailType: 'Repair Succeeded',
    reason,
    attempt: cur.attempt,
    maxAttempts: input.desired.maxAttempts,
    ...(cur.incidentId !== null ? { incidentId: cur.incidentId } : {}),
  };
  return { action: NONE, reason, events: [event], status: closed(cur), reportKey: null };
}

/** Phase IDLE, no incident, no attempts, no hold. */
function closed(cur: StoreStatus): StoreStatus {
  return { ...cur, phase: 'IDLE', incidentId: null, attempt: 0, nextAttemptAt: null, heldInputs: null };
}

function paused(stored: StoreStatus): Step {
  const ended = stored.incidentId !== null ? `; incident ${stored.incidentId} ends with the pause` : '';
  return wait({ ...closed(stored), phase: 'PAUSED' }, `paused by an operator: observing only, no action (\`cks resume\` restarts)${ended}`);
}

// ---------------------------------------------------------------------------------------------
// Enforce: what the reconciler does when it may act

function enforce(input: PlanInput, cur: StoreStatus): Step {
  const { desired, observed } = input;
  if (observed === null) return missing(input, cur);
  const identity = identityDrift(input, observed);
  if (identity.length > 0) {
    const reason = `the store KMS returned differs from the desired item in ${identity.join(', ')} (observed type ${observed.type}, id ${observed.id}); not acting on it`;
    return withReport(wait(cur, reason), cur, `identity:${fingerprint([identity, observed.type, observed.id])}`, {
      detailType: 'Store Drift Detected',
      reason,
      drift: identity,
      action: 'none',
      runbook: SITUATION_RUNBOOKS.identityMismatch,
    });
  }
  const stale = staleView(input, observed, cur);
  if (stale !== null) return wait(cur, stale);
  if (desired.id !== undefined && observed.name !== desired.name) return rename(input, observed, cur);
  return desired.desiredState === 'DISCONNECTED' ? towardDisconnected(input, observed, cur) : towardConnected(input, observed, cur);
}

function missing(input: PlanInput, cur: StoreStatus): Step {
  const which = input.desired.id !== undefined ? `id ${input.desired.id}` : `name ${input.desired.name}`;
  const reason = `no custom key store with ${which} in KMS: reported; the reconciler never creates or deletes stores`;
  return withReport(wait(cur, reason), cur, 'missing', {
    detailType: 'Store Missing',
    reason,
    runbook: SITUATION_RUNBOOKS.storeMissing,
  });
}

/** After our own call, an observation that still shows the state from before it is stale: wait, never repeat the call. */
function staleView(input: PlanInput, observed: ObservedStore, cur: StoreStatus): string | null {
  if (!recently(input, cur)) return null;
  const state = observed.connectionState;
  const before =
    (cur.lastAction === 'disconnect' && (state === 'CONNECTED' || state === 'CONNECTING' || state === 'FAILED')) ||
    (cur.lastAction === 'connect' && state === 'DISCONNECTED');
  return before
    ? `${state} although the reconciler called ${cur.lastAction} at ${iso(cur.lastActionAt ?? input.now)}: KMS is eventually consistent, waiting for it to show the change rather than calling again`
    : null;
}

/** The store was renamed outside the desired state (its id is declared): UpdateCustomKeyStore NewCustomKeyStoreName, allowed in any state. */
function rename(input: PlanInput, observed: ObservedStore, cur: StoreStatus): Step {
  const what = `${describe(observed)}, named ${observed.name} but desired ${input.desired.name}`;
  if (recently(input, cur) && cur.lastAction === 'update') return wait(cur, `${what}: renamed at ${iso(cur.lastActionAt ?? input.now)}, waiting for KMS to show it`);
  if (cur.phase === 'ESCALATED') return wait(cur, `${what}: escalated in incident ${cur.incidentId}; renaming waits for the hold to be released`);
  if (backingOff(input, cur)) return wait(cur, `${what}: renaming after ${iso(cur.nextAttemptAt ?? input.now)} (backing off)`);
  const reason = `${what}: renaming the store`;
  return {
    action: { kind: 'update', storeId: observed.id, changes: { newName: input.desired.name } },
    reason,
    events: [{ detailType: 'Store Drift Detected', reason, drift: ['name'], action: 'update' }],
    status: cur,
    reportKey: null,
  };
}

function towardDisconnected(input: PlanInput, observed: ObservedStore, cur: StoreStatus): Step {
  const state = observed.connectionState;
  switch (state) {
    case 'CONNECTED':
    case 'CONNECTING':
    case 'FAILED': {
      const what = `${describe(observed)} but desired DISCONNECTED`;
      if (backingOff(input, cur)) return wait(cur, `${what}: disconnecting after ${iso(cur.nextAttemptAt ?? input.now)} (backing off)`);
      // The operator's intent ends any repair: its incident is closed, a failure of this call opens a new one.
      const abandoned = cur.incidentId !== null ? `; repair incident ${cur.incidentId} ends` : '';
      const reason = `${what}: disconnecting as the operator declared${abandoned}`;
      return {
        action: { kind: 'disconnect', storeId: observed.id },
        reason,
        events: [{ detailType: 'Store Drift Detected', reason, drift: ['connectionState'], action: 'disconnect' }],
        status: { ...closed(cur), phase: 'DISCONNECTING' },
        reportKey: null,
      };
    }
    case 'DISCONNECTING':
      if (cur.phase === 'ESCALATED') return wait(cur, `DISCONNECTING; escalated in incident ${cur.incidentId}, waiting for DISCONNECTED`);
      if (cur.phase === 'DISCONNECTING' && stuck(input, cur, DISCONNECTING_DEADLINE_MS)) {
        return escalate(input, cur, `DISCONNECTING since ${iso(cur.phaseSince)}, past the ${minutes(DISCONNECTING_DEADLINE_MS)} deadline: stuck`, SITUATION_RUNBOOKS.stuckDisconnecting);
      }
      return wait(cur, 'DISCONNECTING toward the desired DISCONNECTED: waiting');
    case 'DISCONNECTED':
      return cur.incidentId !== null
        ? succeed(input, cur, `DISCONNECTED as desired: incident ${cur.incidentId} closed`)
        : wait(closed(cur), 'DISCONNECTED as desired');
    default: {
      const _exhaustive: never = state;
      throw new Error(`unknown connection state ${String(_exhaustive)}`);
    }
  }
}

function towardConnected(input: PlanInput, observed: ObservedStore, cur: StoreStatus): Step {
  const state = observed.connectionState;
  switch (state) {
    case 'CONNECTED':
      return connected(input, observed, cur);
    case 'FAILED':
      return failed(input, observed, cur);
    case 'DISCONNECTED':
      return disconnected(input, observed, cur);
    case 'CONNECTING':
      if (cur.phase === 'ESCALATED') return wait(cur, `CONNECTING; escalated in incident ${cur.incidentId}, waiting for the result`);
      if (cur.phase !== 'CONNECTING') return wait(cur, 'CONNECTING (not started by the reconciler): waiting for the result');
      if (stuck(input, cur, CONNECTING_DEADLINE_MS[observed.type])) {
        return escalate(
          input,
          cur,
          `CONNECTING since ${iso(cur.phaseSince)}, past the ${minutes(CONNECTING_DEADLINE_MS[observed.type])} deadline for ${observed.type}: stuck`,
          SITUATION_RUNBOOKS.stuckConnecting,
        );
      }
      return wait(cur, `CONNECTING since ${iso(cur.phaseSince)} (repair attempt ${cur.attempt} of ${input.desired.maxAttempts}): waiting for CONNECTED or FAILED`);
    case 'DISCONNECTING':
      if (cur.phase === 'ESCALATED') return wait(cur, `DISCONNECTING; escalated in incident ${cur.incidentId}, waiting`);
      if (cur.phase !== 'DISCONNECTING') return wait(cur, 'DISCONNECTING (not started by the reconciler): waiting for DISCONNECTED');
      if (stuck(input, cur, DISCONNECTING_DEADLINE_MS)) {
        return escalate(input, cur, `DISCONNECTING since ${iso(cur.phaseSince)}, past the ${minutes(DISCONNECTING_DEADLINE_MS)} deadline: stuck`, SITUATION_RUNBOOKS.stuckDisconnecting);
      }
      return wait(cur, `DISCONNECTING since ${iso(cur.phaseSince)} (repair): waiting for DISCONNECTED`);
    default: {
      const _exhaustive: never = state;
      throw new Error(`unknown connection state ${String(_exhaustive)}`);
    }
  }
}

function connected(input: PlanInput, observed: ObservedStore, stored: StoreStatus): Step {
  // KMS rotates the kmsuser password on every connect: no secret version seen while CONNECTED can hold a password a human set later.
  const cur: StoreStatus =
    observed.type === 'AWS_CLOUDHSM' && input.passwordVersion !== null ? { ...stored, appliedPasswordVersion: input.passwordVersion } : stored;
  const drift = changedFields(settingsChanges(input, observed));
  const report = (step: Step): Step => {
    if (drift.length === 0) return step;
    const reason = `${drift.join(', ')} ${drift.length === 1 ? 'differs' : 'differ'} from the desired state: reported only, the reconciler never disconnects a healthy store to apply drift (it is applied at the next repair, or disconnect the store to apply it now)`;
    const reported = withReport(step, stored, `drift:${fingerprint([drift, settingsChanges(input, observed)])}`, {
      detailType: 'Store Drift Detected',
      reason: `CONNECTED, but ${reason}`,
      drift,
      action: 'none',
    });
    return { ...reported, reason: `${step.reason}; ${reason}` };
  };

  const clusterId = observed.cloudHsmClusterId;
  const cluster = clusterId !== undefined ? input.clusters.get(clusterId) : undefined;
  if (observed.type === 'EXTERNAL_KEY_STORE' || (cluster !== undefined && cluster.activeHsms > 0)) {
    return report(
      cur.incidentId !== null
        ? succeed(input, cur, `CONNECTED: incident ${cur.incidentId} closed after ${cur.attempt} connect attempt(s)`)
        : wait(closed(cur), drift.length > 0 ? 'CONNECTED' : 'CONNECTED as desired'),
    );
  }

  // A CONNECTED store whose cluster has no ACTIVE HSM: every use of its keys fails.
  const what = cluster === undefined ? `CONNECTED, but its cluster ${clusterId ?? '(none)'} does not exist` : `CONNECTED, but its cluster ${cluster.clusterId} has no ACTIVE HSM`;
  if (cur.phase === 'ESCALATED' && !holdReleased(input, cur)) return report(hold(input, cur, what));
  const fresh = cur.phase === 'ESCALATED' ? closed(cur) : cur;
  if (cluster === undefined) return report(escalate(input, fresh, `${what}: key use fails`, SITUATION_RUNBOOKS.connectedWithoutActiveHsm));
  return report(provideHsm(input, fresh, cluster, `${what}: key use fails`, 'connectedWithoutActiveHsm'));
}

function failed(input: PlanInput, observed: ObservedStore, stored: StoreStatus): Step {
  const code = observed.connectionErrorCode;
  const what = describe(observed);
  if (stored.phase === 'ESCALATED' && !holdReleased(input, stored)) return hold(input, stored, what);
  // A released hold tries once more, in a new incident.
  const released = stored.phase === 'ESCALATED';
  let cur = released ? closed(stored) : stored;

  // Our connect ended FAILED: that attempt is over.
  const justFailed = cur.phase === 'CONNECTING';
  if (justFailed) cur = { ...cur, phase: 'IDLE' };
  const maxAttempts = input.desired.maxAttempts;
  const failedEvent = (nextAttemptAt: number | null): EventDraft[] =>
    justFailed
      ? [
          {
            detailType: 'Repair Failed',
            reason: `connect attempt ${cur.attempt} of ${maxAttempts} ended ${what}`,
            action: 'connect',
            attempt: cur.attempt,
            maxAttempts,
            ...(cur.incidentId !== null ? { incidentId: cur.incidentId } : {}),
            ...(nextAttemptAt !== null ? { nextAttemptAt: iso(nextAttemptAt) } : {}),
          },
        ]
      : [];

  const verdict = classify(input, observed, cur, code, released);
  if (verdict.escalate) {
    return escalate(input, cur, `${what}: ${verdict.why}`, verdict.runbook, { before: failedEvent(null), awaiting: verdict.awaiting });
  }
  if (justFailed) {
    if (cur.attempt >= maxAttempts) {
      return escalate(
        input,
        cur,
        `${what}: failed ${cur.attempt} of ${maxAttempts} attempts, none left`,
        exhaustedRunbook(code, observed.type),
        { before: failedEvent(null) },
      );
    }
    const nextAttemptAt = input.now + backoffMs(cur.attempt, input.desired.name);
    return {
      ...wait({ ...cur, nextAttemptAt }, `${what}: connect attempt ${cur.attempt} of ${maxAttempts} failed (${verdict.why}); next attempt after ${iso(nextAttemptAt)}`),
      events: failedEvent(nextAttemptAt),
    };
  }
  const gated = gate(input, cur, `${what} (${verdict.why})`, code);
  if (gated !== null) return gated;
  const blocked = observed.type === 'AWS_CLOUDHSM' ? preflight(input, cur, what) : null;
  if (blocked !== null) return blocked;
  return repairStep(
    input,
    cur,
    { kind: 'disconnect', storeId: observed.id },
    'DISCONNECTING',
    `${what} (${verdict.why}): disconnecting, the first step of repair attempt ${cur.attempt + 1} of ${maxAttempts}`,
  );
}

function disconnected(input: PlanInput, observed: ObservedStore, stored: StoreStatus): Step {
  const what = 'DISCONNECTED but desired CONNECTED';
  if (stored.phase === 'ESCALATED' && !holdReleased(input, stored)) return hold(input, stored, what);
  const cur = stored.phase === 'ESCALATED' ? closed(stored) : stored;
  const gated = gate(input, cur, what, null);
  if (gated !== null) return gated;
  const blocked = observed.type === 'AWS_CLOUDHSM' ? preflight(input, cur, what) : null;
  if (blocked !== null) return blocked;

  const changes = { ...settingsChanges(input, observed), ...secretChanges(input, cur) };
  const fields = changedFields(changes);
  if (fields.length > 0) {
    if (recently(input, cur) && cur.lastAction === 'update') {
      return wait(cur, `${what}: updated at ${iso(cur.lastActionAt ?? input.now)} but KMS still shows old ${fields.join(', ')}: waiting for it to show the change`);
    }
    // The core writes nextStatus only after the call succeeded, so recording the applied versions here is exact.
    return repairStep(input, cur, { kind: 'update', storeId: observed.id, changes }, 'UPDATING', `${what}: updating ${fields.join(', ')} before connecting`, {
      ...(changes.password !== undefined ? { appliedPasswordVersion: changes.password.versionId } : {}),
      ...(changes.xks?.credential !== undefined ? { appliedXksCredentialVersion: changes.xks.credential.versionId } : {}),
    });
  }
  const attempt = cur.attempt + 1;
  return repairStep(
    input,
    cur,
    { kind: 'connect', storeId: observed.id },
    'CONNECTING',
    `${what}: connecting (repair attempt ${attempt} of ${input.desired.maxAttempts})`,
    { attempt, nextAttemptAt: null },
  );
}

/** Backoff and attempt budget, checked before every mutating repair step. */
function gate(input: PlanInput, cur: StoreStatus, what: string, code: ConnectionErrorCode | null): Step | null {
  const maxAttempts = input.desired.maxAttempts;
  if (backingOff(input, cur)) {
    return wait(cur, `${what}: backing off after attempt ${cur.attempt} of ${maxAttempts}, next attempt after ${iso(cur.nextAttemptAt ?? input.now)}`);
  }
  if (cur.attempt >= maxAttempts) {
    return escalate(input, cur, `${what}: failed ${cur.attempt} of ${maxAttempts} attempts, none left`, exhaustedRunbook(code, input.desired.type));
  }
  return null;
}

/** Retries are used up: the general runbook, then the fix for the last error code when there is one. */
function exhaustedRunbook(code: ConnectionErrorCode | null, type: StoreType): string {
  return code === null ? SITUATION_RUNBOOKS.retriesExhausted : `${SITUATION_RUNBOOKS.retriesExhausted} ${code}: ${playbookFor(code, type).runbook}`;
}

/** CloudHSM pre-flight: never start a connect that must fail. Null when the target cluster is ready. */
function preflight(input: PlanInput, cur: StoreStatus, what: string): Step | null {
  const clusterId = targetClusterId(input);
  const cluster = clusterId !== undefined ? input.clusters.get(clusterId) : undefined;
  if (cluster === undefined) {
    return escalate(input, cur, `${what}: pre-flight: cluster ${clusterId ?? '(none declared)'} does not exist, so a connect would fail`, SITUATION_RUNBOOKS.clusterNotFound);
  }
  if (cluster.state !== 'ACTIVE') {
    return escalate(input, cur, `${what}: pre-flight: cluster ${cluster.clusterId} is ${cluster.state}, not ACTIVE, so a connect would fail`, SITUATION_RUNBOOKS.clusterNotActive);
  }
  if (cluster.activeHsms === 0) return provideHsm(input, cur, cluster, `${what}: pre-flight: cluster ${cluster.clusterId} has no ACTIVE HSM`, 'noActiveHsm');
  return null;
}

/** The cluster has no ACTIVE HSM: wait for one being created, create one (allowCreateHsm), or escalate. */
function provideHsm(input: PlanInput, cur: StoreStatus, cluster: ClusterView, what: string, situation: Situation): Step {
  if (cluster.creatingHsms > 0) return wait(cur, `${what}; an HSM is being created, waiting for it to become ACTIVE`);
  if (recently(input, cur) && cur.lastAction === 'createHsm') {
    return wait(cur, `${what}; an HSM was requested at ${iso(cur.lastActionAt ?? input.now)}, waiting for CloudHSM to show it`);
  }
  const awaiting = { awaiting: { activeHsmIn: cluster.clusterId } };
  if (!input.desired.allowCreateHsm) {
    return escalate(input, cur, `${what}; allowCreateHsm is false, so a human must add an HSM`, SITUATION_RUNBOOKS[situation], awaiting);
  }
  const zone = cluster.availabilityZones.find((az) => !cluster.hsmAvailabilityZones.includes(az));
  if (zone === undefined) {
    return escalate(input, cur, `${what}; the cluster has no Availability Zone to add an HSM in`, SITUATION_RUNBOOKS[situation], awaiting);
  }
  return (
    gate(input, cur, what, null) ??
    repairStep(input, cur, { kind: 'createHsm', clusterId: cluster.clusterId, availabilityZone: zone }, 'UPDATING', `${what}: creating an HSM in ${zone} (allowCreateHsm)`)
  );
}

/** Repair (and why), or escalate at once with the documented fix. */
type Verdict =
  | { escalate: false; why: string }
  | {
      escalate: true;
      why: string;
      runbook: string;
      /** What, besides a new generation, releases the escalation. */
      awaiting: Awaiting;
    };

/** The playbook applied to this store now: repair (and why), or escalate at once (and the fix). */
function classify(input: PlanInput, observed: ObservedStore, cur: StoreStatus, code: ConnectionErrorCode | null, released: boolean): Verdict {
  if (code === null) return { escalate: false, why: 'FAILED without an error code, treated as retryable' };
  const playbook = playbookFor(code, observed.type);
  const repair = (why: string): Verdict => ({ escalate: false, why });
  const human = (why: string, awaiting: Awaiting = {}): Verdict => ({ escalate: true, why: `${playbook.description} ${why}`, runbook: playbook.runbook, awaiting });
  const retryOnce = 'the escalation hold was released, so the reconciler tries once more';
  if (!playbook.appliesTo.includes(observed.type)) return human(`KMS does not document ${code} for ${observed.type} stores; a human must look`);
  switch (playbook.class) {
    case 'retryable':
      return repair('retryable');
    case 'fixableFromDesired': {
      const target = input.desired.cloudHsmClusterId;
      if (target !== undefined && target !== observed.cloudHsmClusterId && input.clusters.has(target)) {
        return repair(`the desired state names cluster ${target}, which exists`);
      }
      return released ? repair(retryOnce) : human('The desired state names no other existing cluster, so a human must act.');
    }
    case 'fixableFromDesiredOrRetryable': {
      const drift = changedFields(settingsChanges(input, observed));
      return repair(drift.length > 0 ? `the desired ${drift.join(', ')} will be applied` : 'retryable: no desired XKS setting differs');
    }
    case 'fixableByNewSecret': {
      const cloudHsm = observed.type === 'AWS_CLOUDHSM';
      const fresh = cloudHsm ? isNew(input.passwordVersion, cur.appliedPasswordVersion) : isNew(input.xksCredentialVersion, cur.appliedXksCredentialVersion);
      const secret = cloudHsm ? 'password secret' : 'XKS credential secret';
      if (fresh) return repair(`the ${secret} has a new version to apply`);
      if (!cloudHsm && released) return repair(retryOnce);
      return human(
        `The ${secret} has no version newer than the one last applied, and re-sending an old one cannot help${cloudHsm ? ' (it counts toward locking kmsuser out)' : ''}.`,
        cloudHsm ? { newPassword: true } : {},
      );
    }
    case 'fixableByCreateHsm': {
      const cluster = input.clusters.get(targetClusterId(input) ?? '');
      if (cluster !== undefined && cluster.activeHsms > 0) return repair(`cluster ${cluster.clusterId} has an ACTIVE HSM now`);
      if (cluster !== undefined && cluster.creatingHsms > 0) return repair(`an HSM is being created in cluster ${cluster.clusterId}`);
      if (cluster !== undefined && input.desired.allowCreateHsm) return repair('allowCreateHsm: the reconciler adds an HSM');
      return human('The cluster has no ACTIVE HSM and allowCreateHsm is false.', cluster !== undefined ? { activeHsmIn: cluster.clusterId } : {});
    }
    case 'humanOnly':
      return released ? repair(retryOnce) : human('Only a human can fix this.');
    default: {
      const _exhaustive: never = playbook.class;
      throw new Error(`unknown playbook class ${String(_exhaustive)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report-only decisions (observe, plan, kill switch, regional incident)

/** Why a store must not be acted on, and what is reported instead. */
interface Restraint {
  why: string;
  /** plan mode reports what enforce would emit; observe and the kill switch report drift; a regional incident stays quiet (the sweep pages). */
  reporting: 'proposal' | 'drift' | 'none';
}

function restraintOf(input: PlanInput): Restraint | null {
  if (input.regionalIncident) return { why: 'regional incident: too many stores FAILED at once, not repairing (the sweep pages)', reporting: 'none' };
  if (input.settings.killSwitch) return { why: 'kill switch on', reporting: 'drift' };
  const mode = input.desired.mode;
  switch (mode) {
    case 'enforce':
      return null;
    case 'plan':
      return { why: 'mode plan (dry run)', reporting: 'proposal' };
    case 'observe':
      return { why: 'mode observe (report only)', reporting: 'drift' };
    default: {
      const _exhaustive: never = mode;
      throw new Error(`unknown mode ${String(_exhaustive)}`);
    }
  }
}

/** The proposal reported, not taken: phases, incidents and attempts stay where they are. */
function reportOnly(input: PlanInput, cur: StoreStatus, proposal: Step, restraint: Restraint): Step {
  const kind = proposal.action.kind;
  const reason = `${restraint.why}: ${kind === 'none' ? 'no action' : `would ${kind}`}: ${proposal.reason}`;
  const events = reportEvents(input, proposal, restraint, reason);
  if (events.length === 0) return wait(cur, reason);
  const key = `${restraint.reporting}:${fingerprint([kind, events.map((e) => [e.detailType, e.drift ?? null]), input.observed?.connectionState ?? null, input.observed?.connectionErrorCode ?? null, observedDrift(input, input.observed)])}`;
  return { action: NONE, reason, events: cur.lastReportKey === key ? [] : events, status: cur, reportKey: key };
}

function reportEvents(input: PlanInput, proposal: Step, restraint: Restraint, reason: string): EventDraft[] {
  const { observed } = input;
  switch (restraint.reporting) {
    case 'none':
      return [];
    case 'proposal':
      return proposal.events.map((event) => ({ ...event, reason: `${restraint.why}: ${event.reason}` }));
    case 'drift': {
      if (observed === null) return [{ detailType: 'Store Missing', reason, runbook: SITUATION_RUNBOOKS.storeMissing }];
      const drift = observedDrift(input, observed);
      return drift.length > 0 ? [{ detailType: 'Store Drift Detected', reason, drift, action: 'none' }] : [];
    }
    default: {
      const _exhaustive: never = restraint.reporting;
      throw new Error(`unknown reporting ${String(_exhaustive)}`);
    }
  }
}

/** Every way the observed store differs from the desired one (field names), for report-only modes. */
function observedDrift(input: PlanInput, observed: ObservedStore | null): string[] {
  if (observed === null) return [];
  const { desired } = input;
  const state = observed.connectionState;
  const settled =
    desired.desiredState === 'CONNECTED' ? state === 'CONNECTED' || state === 'CONNECTING' : state === 'DISCONNECTED' || state === 'DISCONNECTING';
  const cluster = observed.cloudHsmClusterId !== undefined ? input.clusters.get(observed.cloudHsmClusterId) : undefined;
  const noHsm = observed.type === 'AWS_CLOUDHSM' && state === 'CONNECTED' && (cluster === undefined || cluster.activeHsms === 0);
  return [
    ...identityDrift(input, observed),
    ...(desired.id !== undefined && observed.name !== desired.name ? ['name'] : []),
    ...(settled ? [] : ['connectionState']),
    ...(noHsm ? ['activeHsms'] : []),
    ...(observed.type === desired.type ? changedFields(settingsChanges(input, observed)) : []),
  ];
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping

function firstSight(input: PlanInput): StoreStatus {
  return {
    ...emptyStatus(input.desired.name, input.now),
    storeId: input.observed?.id ?? null,
    // The baseline: versions that exist when the store is first seen are never sent (see isNew).
    appliedPasswordVersion: input.passwordVersion,
    appliedXksCredentialVersion: input.xksCredentialVersion,
    observedGeneration: input.desired.generation,
  };
}

/** A status with nothing observed, applied or decided yet. */
export function emptyStatus(name: string, now: number): StoreStatus {
  return {
    name,
    storeId: null,
    phase: 'IDLE',
    phaseSince: now,
    incidentId: null,
    attempt: 0,
    nextAttemptAt: null,
    observedState: null,
    observedErrorCode: null,
    lastAction: null,
    lastReason: null,
    lastActionAt: null,
    appliedPasswordVersion: null,
    appliedXksCredentialVersion: null,
    observedGeneration: 0,
    heldInputs: null,
    lastReportKey: null,
  };
}

/** The step with the fields every decision records. `intended` is set for report-only decisions. */
function finish(input: PlanInput, stored: StoreStatus, step: Step, intended: ActionKind | null): Decision {
  const dryRun = intended !== null;
  const taken = step.action.kind !== 'none';
  return {
    action: step.action,
    reason: step.reason,
    dryRun,
    intended: intended ?? step.action.kind,
    nextStatus: {
      ...observedStatus(input, step.status),
      phaseSince: step.status.phase === stored.phase ? stored.phaseSince : input.now,
      lastAction: dryRun && intended !== 'none' ? `would ${intended}` : step.action.kind,
      lastReason: step.reason,
      lastActionAt: taken ? input.now : stored.lastActionAt,
      lastReportKey: step.reportKey,
    },
    events: step.events,
  };
}

function failureDecision(input: PlanInput, stored: StoreStatus, kind: ActionKind, reason: string, status: StoreStatus, events: EventDraft[], now: number): Decision {
  return {
    action: NONE,
    reason,
    dryRun: false,
    intended: kind,
    nextStatus: {
      ...observedStatus(input, status),
      phaseSince: status.phase === stored.phase ? stored.phaseSince : now,
      lastAction: `${kind} failed`,
      lastReason: reason,
      lastActionAt: now,
    },
    events,
  };
}

function observedStatus(input: PlanInput, status: StoreStatus): StoreStatus {
  return {
    ...status,
    name: input.desired.name,
    storeId: input.observed?.id ?? status.storeId,
    observedState: input.observed?.connectionState ?? 'MISSING',
    observedErrorCode: input.observed?.connectionErrorCode ?? null,
    observedGeneration: input.desired.generation,
  };
}

// ---------------------------------------------------------------------------------------------
// Comparisons

/** Type and id cannot be fixed by the reconciler: a mismatch means the desired item names another store. */
function identityDrift(input: PlanInput, observed: ObservedStore): string[] {
  return [
    ...(observed.type !== input.desired.type ? ['type'] : []),
    ...(input.desired.id !== undefined && observed.id !== input.desired.id ? ['id'] : []),
  ];
}

/** Settings (not secrets) UpdateCustomKeyStore must change so that the store matches the desired state. */
function settingsChanges(input: PlanInput, observed: ObservedStore): UpdateChanges {
  const { desired } = input;
  if (desired.type === 'AWS_CLOUDHSM') {
    const clusterId = desired.cloudHsmClusterId;
    return clusterId !== undefined && clusterId !== observed.cloudHsmClusterId ? { cloudHsmClusterId: clusterId } : {};
  }
  const want = desired.xksProxy;
  if (want === undefined) return {};
  const have = observed.xksProxy;
  const xks: NonNullable<UpdateChanges['xks']> = {};
  if (want.uriEndpoint !== have?.uriEndpoint) xks.uriEndpoint = want.uriEndpoint;
  if (want.uriPath !== have?.uriPath) xks.uriPath = want.uriPath;
  if (want.connectivity !== have?.connectivity) xks.connectivity = want.connectivity;
  // KMS needs the service name with VPC_ENDPOINT_SERVICE connectivity, so it goes along with a connectivity change.
  if (want.vpcEndpointServiceName !== undefined && (want.vpcEndpointServiceName !== have?.vpcEndpointServiceName || xks.connectivity !== undefined)) {
    xks.vpcEndpointServiceName = want.vpcEndpointServiceName;
  }
  return Object.keys(xks).length > 0 ? { xks } : {};
}

/** Secret versions to send: only versions newer than the last applied (or baselined) one. */
function secretChanges(input: PlanInput, cur: StoreStatus): UpdateChanges {
  const { desired } = input;
  const passwordArn = desired.keyStorePasswordSecretArn;
  if (desired.type === 'AWS_CLOUDHSM') {
    return passwordArn !== undefined && input.passwordVersion !== null && isNew(input.passwordVersion, cur.appliedPasswordVersion)
      ? { password: { secretArn: passwordArn, versionId: input.passwordVersion } }
      : {};
  }
  const credentialArn = desired.xksProxy?.credentialSecretArn;
  return credentialArn !== undefined && input.xksCredentialVersion !== null && isNew(input.xksCredentialVersion, cur.appliedXksCredentialVersion)
    ? { xks: { credential: { secretArn: credentialArn, versionId: input.xksCredentialVersion } } }
    : {};
}

/** Field names of an update, for reasons and drift reports (`keyStorePassword` names the secret version, never a value). */
function changedFields(changes: UpdateChanges): string[] {
  return [
    ...(changes.newName !== undefined ? ['name'] : []),
    ...(changes.cloudHsmClusterId !== undefined ? ['cloudHsmClusterId'] : []),
    ...(changes.password !== undefined ? [`keyStorePassword (secret version ${changes.password.versionId})`] : []),
    ...Object.entries(changes.xks ?? {}).map(([field, value]) =>
      field === 'credential' ? `xksProxy.credential (secret version ${(value as { versionId: string }).versionId})` : `xksProxy.${field}`,
    ),
  ];
}

/** A version not read (null) is never new; a version is new when it differs from the one applied or baselined. */
function isNew(current: string | null, applied: string | null): boolean {
  return current !== null && current !== applied;
}

function targetClusterId(input: PlanInput): string | undefined {
  return input.desired.cloudHsmClusterId ?? input.observed?.cloudHsmClusterId;
}

/** What, besides a new generation or secret version, an escalation waits for. */
interface Awaiting {
  /** The cluster getting an ACTIVE HSM releases the hold. */
  activeHsmIn?: string;
  /** Only a new password secret version releases the hold (CloudHSM credential codes). */
  newPassword?: boolean;
}

function heldInputsOf(input: PlanInput, awaiting: Awaiting): HeldInputs {
  return {
    generation: input.desired.generation,
    passwordVersion: input.passwordVersion,
    xksCredentialVersion: input.xksCredentialVersion,
    ...(awaiting.activeHsmIn !== undefined ? { awaitingActiveHsmIn: awaiting.activeHsmIn } : {}),
    ...(awaiting.newPassword === true ? { awaitingNewPassword: true } : {}),
  };
}

/**
 * Whether an escalation hold is released: the desired generation changed (an edit, `cks retry`),
 * a secret has a new version, or the cluster the hold waits for has an ACTIVE HSM. A hold that waits
 * for a new password is released by a new password version only. A version that was unknown (null)
 * when the hold began is adopted by {@link hold}, not taken as a release.
 */
function holdReleased(input: PlanInput, cur: StoreStatus): boolean {
  const held = cur.heldInputs;
  if (held === null) return true;
  if (held.awaitingNewPassword === true) return isNew(input.passwordVersion, cur.appliedPasswordVersion);
  const changed = (before: string | null, now: string | null): boolean => before !== null && now !== null && before !== now;
  const cluster = held.awaitingActiveHsmIn !== undefined ? input.clusters.get(held.awaitingActiveHsmIn) : undefined;
  return (
    held.generation !== input.desired.generation ||
    changed(held.passwordVersion, input.passwordVersion) ||
    changed(held.xksCredentialVersion, input.xksCredentialVersion) ||
    (cluster !== undefined && cluster.state === 'ACTIVE' && cluster.activeHsms > 0)
  );
}

/** An escalated store waits for a human. Secret versions unknown when the hold began are filled in, so only later ones release it. */
function hold(input: PlanInput, cur: StoreStatus, what: string): Step {
  const held = cur.heldInputs;
  const until =
    held?.awaitingNewPassword === true
      ? 'a new version of the password secret (a connect with the password KMS holds would fail another kmsuser login)'
      : held?.awaitingActiveHsmIn !== undefined
        ? `cluster ${held.awaitingActiveHsmIn} has an ACTIVE HSM, the desired item changes or \`cks retry\``
        : 'the desired item changes, a secret gets a new version or `cks retry`';
  const status: StoreStatus =
    held === null
      ? cur
      : {
          ...cur,
          heldInputs: {
            ...held,
            passwordVersion: held.passwordVersion ?? input.passwordVersion,
            xksCredentialVersion: held.xksCredentialVersion ?? input.xksCredentialVersion,
          },
        };
  return wait(status, `${what}; escalated in incident ${cur.incidentId}, holding until ${until}`);
}

function recently(input: PlanInput, cur: StoreStatus): boolean {
  return cur.lastActionAt !== null && input.now - cur.lastActionAt < SETTLE_MS;
}

function backingOff(input: PlanInput, cur: StoreStatus): boolean {
  return cur.nextAttemptAt !== null && cur.nextAttemptAt > input.now;
}

function stuck(input: PlanInput, cur: StoreStatus, deadlineMs: number): boolean {
  return input.now - cur.phaseSince > deadlineMs;
}

function describe(observed: ObservedStore | null): string {
  if (observed === null) return 'MISSING';
  return observed.connectionErrorCode !== null ? `${observed.connectionState} with ${observed.connectionErrorCode}` : observed.connectionState;
}

// ---------------------------------------------------------------------------------------------
// Deterministic hashing (FNV-1a, 64 bit): jitter, incident ids and report fingerprints

function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

/** A number in [0, 1) derived from `text`. */
function unitHash(text: string): number {
  return Number(fnv1a64(text) >> 11n) / 2 ** 53;
}

function fingerprint(parts: unknown[]): string {
  return fnv1a64(JSON.stringify(parts)).toString(16).padStart(16, '0');
}

function incidentIdFor(input: PlanInput, now: number): string {
  return `inc-${fingerprint([input.scope.accountId, input.scope.region, input.desired.name, now])}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function minutes(ms: number): string {
  return `${ms / MINUTE} min`;
}
