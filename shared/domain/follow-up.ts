/**
 * Follow-ups: a decision that waits on a short KMS or CloudHSM transition asks for its store to be
 * looked at again after a delay that fits the transition, instead of waiting for the next scheduled
 * run (the schedule stays the safety net). Pure: the delay is a function of the decision alone.
 */
import type { Decision, Phase } from './types.js';

/** The longest delay a follow-up can have (SQS's DelaySeconds maximum). */
export const MAX_FOLLOW_UP_SECONDS = 900;

/** DISCONNECTING lasts seconds; an update answers at once and the connect follows. */
const SHORT_SECONDS = 5;
/**
 * CONNECTING lasts minutes (up to about 20 for CloudHSM, 5 for XKS), and so does an HSM coming up:
 * looked at this often, the reconciler sees the end of the transition at most this late.
 */
const POLL_SECONDS = 10;

/** The delay after each mutating call: the transition it starts. */
const AFTER_ACTION: Record<Exclude<Decision['action']['kind'], 'none'>, number> = {
  disconnect: SHORT_SECONDS,
  update: SHORT_SECONDS,
  connect: POLL_SECONDS,
  createHsm: POLL_SECONDS,
};

/** The delay of a run that waits in a phase of a repair: the transition the phase waits on. */
const WAITING_IN: Partial<Record<Phase, number>> = {
  DISCONNECTING: SHORT_SECONDS,
  UPDATING: POLL_SECONDS,
  CONNECTING: POLL_SECONDS,
};

/**
 * Seconds after which the store should be looked at again, or null when nothing it waits on ends
 * soon (healthy, escalated, held, paused, backing off) or nothing acts (a dry run).
 */
export function followUpSeconds(decision: Decision): number | null {
  if (decision.dryRun) return null;
  const { action, nextStatus } = decision;
  if (action.kind !== 'none') return AFTER_ACTION[action.kind];
  if (nextStatus.phase === 'ESCALATED' || nextStatus.phase === 'HELD' || nextStatus.phase === 'PAUSED') return null;
  const byPhase = WAITING_IN[nextStatus.phase];
  if (byPhase !== undefined) return byPhase;
  // Seen in a transition the reconciler did not start (someone's connect or disconnect).
  if (nextStatus.observedState === 'DISCONNECTING') return SHORT_SECONDS;
  if (nextStatus.observedState === 'CONNECTING') return POLL_SECONDS;
  return null;
}
