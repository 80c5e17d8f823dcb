/** Backoff, deadlines and the settle window: how the machine reads time (always `input.now`, never a clock). */
import type { LastAction, PlanInput, StoreStatus, StoreType } from '../types.js';
import { unitHash } from './hash.js';

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

/**
 * Delay before retry `attempt` (1-based): exponential from 2 min, capped at 1 h, with "equal jitter"
 * (a deterministic share of 50-100 % of the delay, from a hash of `key` and `attempt`) so that stores
 * failing together do not retry together.
 */
export function backoffMs(attempt: number, key: string): number {
  const delay = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay * (0.5 + unitHash(`${key}#${attempt}`) / 2));
}

/** The reconciler itself made a `kind` call within the settle window. */
export function calledRecently(input: PlanInput, cur: StoreStatus, kind: LastAction['kind']): boolean {
  return cur.lastAction?.kind === kind && cur.lastAction.outcome === 'taken' && cur.lastActionAt !== null && input.now - cur.lastActionAt < SETTLE_MS;
}

/**
 * Our connect is settling and KMS has not shown it yet: the status says CONNECTING (our connect was
 * recorded, and no disconnect of ours since), it was decided within the settle window, no run since
 * has seen the store CONNECTING (or beyond), and CloudTrail reported no disconnect after it. KMS
 * moves a store to CONNECTING the moment a connect is accepted, so a DISCONNECTED view then is KMS
 * catching up; any of those signals means the connect was shown, and a DISCONNECTED is someone's disconnect.
 */
export function connectSettling(input: PlanInput, cur: StoreStatus): boolean {
  return (
    cur.phase === 'CONNECTING' &&
    cur.observedState === 'DISCONNECTED' &&
    cur.lastActionAt !== null &&
    input.now - cur.lastActionAt < SETTLE_MS &&
    !disconnectReportedSince(input, cur)
  );
}

/**
 * CloudTrail reported a DisconnectCustomKeyStore (never the reconciler's own: the event rule leaves
 * those out) made at or after our last call. CloudTrail's eventTime has whole seconds, and our call
 * is made after `lastActionAt` is taken, so the comparison is to the second.
 */
export function disconnectReportedSince(input: PlanInput, cur: StoreStatus): boolean {
  const change = input.manualChange;
  if (change?.eventName !== 'DisconnectCustomKeyStore' || cur.lastActionAt === null) return false;
  return change.at >= cur.lastActionAt - (cur.lastActionAt % SECOND);
}

/** The status says our connect is under way and its call is known made: it answered success. */
export function connectReturned(status: StoreStatus): boolean {
  return status.phase === 'CONNECTING' && status.lastActionAt !== null && status.returnedCallAt === status.lastActionAt;
}

export function backingOff(input: PlanInput, cur: StoreStatus): boolean {
  return cur.nextAttemptAt !== null && cur.nextAttemptAt > input.now;
}

export function stuck(input: PlanInput, cur: StoreStatus, deadlineMs: number): boolean {
  return input.now - cur.phaseSince > deadlineMs;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function minutes(ms: number): string {
  return `${ms / MINUTE} min`;
}
