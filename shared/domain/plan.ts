/**
 * The pure decision for one store: what one run does, why, the status to record and the events to
 * emit. No clock, no environment, no randomness, no I/O: time arrives as `input.now`, jitter and
 * incident ids are hashes of the input.
 *
 * How to read it: `plan` asks the guards in order (plan/guards.ts: paused, missing, identity, stale
 * view, escalation hold, rename); when none decides, the transition table (plan/transitions.ts) names
 * the one handler for the desired state × observed ConnectionState × phase. What enforce mode would
 * do is then either returned or, when the store must not be acted on (mode observe/plan, kill
 * switch, regional incident), turned into a report-only decision (plan/restraint.ts). Every decision
 * is completed by the one `finish`.
 */

import { announce, budgetResetWaits, inForce, type PendingApproval, pendingApproval } from './plan/approval.js';
import type { Ctx } from './plan/context.js';
import { GUARDS, isStep, missing, paused } from './plan/guards.js';
import { incidentIdFor } from './plan/hash.js';
import { reportOnly, restraintOf } from './plan/restraint.js';
import { firstSight, observedStatus, withOperatorReset, withUnseenConnect } from './plan/status.js';
import { escalate, repairFailed, type Step, wait } from './plan/steps.js';
import { backoffMs, iso } from './plan/timing.js';
import { atConnected, transition } from './plan/transitions.js';
import { SITUATION_RUNBOOKS, type Situation } from './playbooks.js';
import type { Decision, EventDraft, LastAction, PlanInput, StoreStatus } from './types.js';

export { emptyStatus } from './plan/status.js';
export {
  BACKOFF_BASE_MS,
  BACKOFF_CAP_MS,
  backoffMs,
  CONNECTING_DEADLINE_MS,
  DISCONNECTING_DEADLINE_MS,
  SETTLE_MS,
} from './plan/timing.js';

/** Exceptions of a mutating call that mean our view of the store was stale: nothing is counted, the next run looks again. */
const STALE_VIEW_ERRORS: ReadonlySet<string> = new Set(['CustomKeyStoreInvalidStateException', 'CustomKeyStoreNotFoundException']);

/**
 * The code of a mutating call that was never sent: its turn (the token bucket, a throttling backoff) came too
 * late for it to end within the lease. Nothing happened and nothing is counted; the next run decides again.
 */
export const NOT_SENT = 'CallNotSent';

/** Exceptions of a mutating call whose fix has its own runbook; any other repeated failure gets `actionFailing`. */
const ACTION_ERROR_SITUATIONS: ReadonlyMap<string, Situation> = new Map([
  ['CloudHsmClusterInvalidConfigurationException', 'noActiveHsm'],
  ['CloudHsmClusterNotActiveException', 'clusterNotActive'],
  ['CloudHsmClusterNotFoundException', 'clusterNotFound'],
]);

/** Decides the one step of this run for one store. Pure: the same input always gives the same decision. */
export function plan(raw: PlanInput): Decision {
  const governed = governedInput(raw);
  const { input, stored, pending } = governed;
  const decided = (): Decision => {
    if (input.desired.paused) return finish(input, stored, paused(stored), { kind: 'none', outcome: 'taken' }, input.now);
    // Leaving a pause starts afresh: the pause closed any incident.
    const resumed: StoreStatus = stored.phase === 'PAUSED' ? { ...stored, phase: 'IDLE' } : stored;
    const current = withUnseenConnect(input, withOperatorReset(input, resumed, budgetResetWaits(pending)));
    const proposal = enforce(input, current, pending);
    const restraint = restraintOf(input);
    if (restraint === null) return finish(input, stored, proposal, { kind: proposal.action.kind, outcome: 'taken' }, input.now);
    return finish(input, stored, reportOnly(input, current, proposal, restraint), { kind: proposal.action.kind, outcome: 'dryRun' }, input.now);
  };
  return announce(input, stored, pending, decided());
}

/**
 * The input as the plan reads it: the change waiting for a second person (if any), and the values in
 * force while it waits (see `inForce`) in place of the desired ones.
 */
function governedInput(raw: PlanInput): { input: PlanInput; stored: StoreStatus; pending: PendingApproval | null } {
  const first = raw.status ?? firstSight(raw);
  const pending = pendingApproval(raw, first);
  const { input, status } = inForce(raw, first, pending);
  return { input, stored: status, pending };
}

/** What enforce mode does: the first guard that decides, else the transition table. */
function enforce(input: PlanInput, cur: StoreStatus, pending: PendingApproval | null): Step {
  if (input.observed === null) return missing(input, cur);
  return atConnected({ input, observed: input.observed, cur, released: false, pending }, (start) => {
    let ctx: Ctx = start;
    for (const guard of GUARDS) {
      const next = guard(ctx);
      if (isStep(next)) return next;
      ctx = next;
    }
    return transition(ctx);
  });
}

/**
 * The decision to record when the mutating call of `decision` failed (the core calls it with the
 * exception name). A stale view (`CustomKeyStoreInvalidStateException`, `...NotFoundException`) counts
 * nothing: the next run observes again. Any other failure counts an attempt of the incident (a connect
 * was already counted when it was planned), backs off, emits `Repair Failed`, and escalates at
 * `maxAttempts`, so a call that keeps failing (a wrong desired cluster, a missing permission) ends in
 * one page rather than a silent loop.
 */
export function planActionFailure(raw: PlanInput, decision: Decision, errorCode: string, now: number): Decision {
  const { input, stored, pending } = governedInput(raw);
  return announce(input, stored, pending, actionFailure(input, stored, decision, errorCode, now));
}

function actionFailure(input: PlanInput, stored: StoreStatus, decision: Decision, errorCode: string, now: number): Decision {
  const kind = decision.action.kind;
  if (kind === 'none') throw new Error('planActionFailure: the decision made no call');
  // The failure is recorded in place of the decision: it names the failed call and keeps the decision's report key.
  const record = (step: Step): Decision => finish(input, stored, { ...step, reportKey: step.status.lastReportKey }, { kind, outcome: 'failed' }, now);
  if (STALE_VIEW_ERRORS.has(errorCode)) {
    return record(
      wait(
        stored,
        `${kind} was rejected with ${errorCode}: the store changed since it was observed; nothing counted, the next run observes it again`,
      ),
    );
  }
  if (errorCode === NOT_SENT) {
    return record(wait(stored, `${kind} was not sent: its turn came too late to end within the lease; nothing counted, the next run decides again`));
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
  if (attempt >= maxAttempts) {
    const runbook = SITUATION_RUNBOOKS[ACTION_ERROR_SITUATIONS.get(errorCode) ?? 'actionFailing'];
    return record(
      escalate(input, base, `${failure}; no attempts left: escalated to a human`, runbook, {
        before: [...started, repairFailed(input, base, kind, failure, null)],
      }),
    );
  }
  const nextAttemptAt = now + backoffMs(attempt, input.desired.name);
  return record({
    ...wait({ ...base, nextAttemptAt }, `${failure}; next attempt after ${iso(nextAttemptAt)}`),
    events: [...started, repairFailed(input, base, kind, failure, nextAttemptAt)],
  });
}

/**
 * The decision to record once its mutating call has answered success (the core calls it): the status
 * says that the call made at `lastActionAt` was made, so that a connect known to be accepted is told
 * apart from one whose run died before making it (see the manual change guard).
 */
export function planCallReturned(decision: Decision): Decision {
  const at = decision.nextStatus.lastActionAt;
  return at === null ? decision : { ...decision, nextStatus: { ...decision.nextStatus, returnedCallAt: at } };
}

/** The fields every decision records: what was observed, the phase clock, and what became of the action. */
function finish(input: PlanInput, stored: StoreStatus, step: Step, lastAction: LastAction, now: number): Decision {
  const acted = lastAction.kind !== 'none' && lastAction.outcome !== 'dryRun';
  return {
    action: step.action,
    reason: step.reason,
    dryRun: lastAction.outcome === 'dryRun',
    intended: lastAction.kind,
    nextStatus: {
      ...observedStatus(input, step.status, step.staleView === true),
      phaseSince: step.status.phase === stored.phase ? stored.phaseSince : now,
      lastAction,
      lastReason: step.reason,
      lastActionAt: acted ? now : stored.lastActionAt,
      lastReportKey: step.reportKey,
    },
    events: step.events,
  };
}
