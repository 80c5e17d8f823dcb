/**
 * The guards, asked in this order before the transition table: paused, missing, identity, stale view,
 * escalation hold, rename. The first with something to say decides the run's step; a guard may also
 * hand the next ones a changed context (a released hold starts afresh).
 */
import { SITUATION_RUNBOOKS } from '../playbooks.js';
import type { PlanInput, StoreStatus } from '../types.js';
import { connectedWithoutHsm, describe, identityDrift, renamed } from './compare.js';
import { type Ctx, situation } from './context.js';
import { fingerprint } from './hash.js';
import { hold, holdReleased } from './hold.js';
import { closed } from './status.js';
import { type Step, wait, withReport } from './steps.js';
import { backingOff, calledRecently, iso } from './timing.js';

export type Guard = (ctx: Ctx) => Step | Ctx;

/** Paused by an operator: observe only. Decided before any mode: a pause is the operator's own restraint. */
export function paused(stored: StoreStatus): Step {
  const ended = stored.incidentId !== null ? `; incident ${stored.incidentId} ends with the pause` : '';
  return wait({ ...closed(stored), phase: 'PAUSED' }, `paused by an operator: observing only, no action (\`cks resume\` restarts)${ended}`);
}

/** No store in KMS answers to the desired item: reported once; the reconciler never creates or deletes stores. */
export function missing(input: PlanInput, cur: StoreStatus): Step {
  const which = input.desired.id !== undefined ? `id ${input.desired.id}` : `name ${input.desired.name}`;
  const reason = `no custom key store with ${which} in KMS: reported; the reconciler never creates or deletes stores`;
  return withReport(wait(cur, reason), cur, 'missing', {
    detailType: 'Store Missing',
    reason,
    runbook: SITUATION_RUNBOOKS.storeMissing,
  });
}

/** Type or id differ: the desired item names another store, which is reported and never acted on. */
const identity: Guard = (ctx) => {
  const { input, observed, cur } = ctx;
  const drift = identityDrift(input, observed);
  if (drift.length === 0) return ctx;
  const reason = `the store KMS returned differs from the desired item in ${drift.join(', ')} (observed type ${observed.type}, id ${observed.id}); not acting on it`;
  return withReport(wait(cur, reason), cur, `identity:${fingerprint([drift, observed.type, observed.id])}`, {
    detailType: 'Store Drift Detected',
    reason,
    drift,
    action: 'none',
    runbook: SITUATION_RUNBOOKS.identityMismatch,
  });
};

/** After our own call, an observation that still shows the state from before it is stale: wait, never repeat the call. */
const staleView: Guard = (ctx) => {
  const { input, observed, cur } = ctx;
  const state = observed.connectionState;
  const before =
    (calledRecently(input, cur, 'disconnect') && (state === 'CONNECTED' || state === 'CONNECTING' || state === 'FAILED')) ||
    (calledRecently(input, cur, 'connect') && state === 'DISCONNECTED');
  if (!before) return ctx;
  return wait(
    cur,
    `${state} although the reconciler called ${cur.lastAction?.kind} at ${iso(cur.lastActionAt ?? input.now)}: KMS is eventually consistent, waiting for it to show the change rather than calling again`,
  );
};

/**
 * An ESCALATED store waits for a human: through a transition (CONNECTING, DISCONNECTING) it waits for
 * the result; otherwise it holds until {@link holdReleased}, and a released hold starts afresh. Two
 * situations end the hold without a release: the store is healthy (the incident closes), or the
 * operator declared DISCONNECTED (their intent ends the repair).
 */
const escalationHold: Guard = (ctx) => {
  const { input, observed, cur } = ctx;
  if (cur.phase !== 'ESCALATED') return ctx;
  const state = observed.connectionState;
  if (input.desired.desiredState === 'DISCONNECTED' && state !== 'DISCONNECTING') return ctx;
  if (state === 'CONNECTING' || state === 'DISCONNECTING') {
    const result = state === 'CONNECTING' ? 'the result' : 'DISCONNECTED';
    return wait(cur, `${state}; escalated in incident ${cur.incidentId}, waiting for ${result}`);
  }
  if (state === 'CONNECTED' && !connectedWithoutHsm(input, observed)) return ctx;
  if (!holdReleased(input, cur)) return hold(input, cur, situation(ctx));
  return { ...ctx, cur: closed(cur), released: true };
};

/** The store was renamed outside the desired state (its id is declared): UpdateCustomKeyStore NewCustomKeyStoreName, allowed in any state. */
const rename: Guard = (ctx) => {
  const { input, observed, cur } = ctx;
  if (!renamed(input, observed)) return ctx;
  const what = `${describe(observed)}, named ${observed.name} but desired ${input.desired.name}`;
  if (calledRecently(input, cur, 'update')) return wait(cur, `${what}: renamed at ${iso(cur.lastActionAt ?? input.now)}, waiting for KMS to show it`);
  if (backingOff(input, cur)) return wait(cur, `${what}: renaming after ${iso(cur.nextAttemptAt ?? input.now)} (backing off)`);
  const reason = `${what}: renaming the store`;
  return {
    action: { kind: 'update', storeId: observed.id, changes: { newName: input.desired.name } },
    reason,
    events: [{ detailType: 'Store Drift Detected', reason, drift: ['name'], action: 'update' }],
    status: cur,
    reportKey: null,
  };
};

/** In order, after `paused` and `missing` (which decide before a store is there to look at). */
export const GUARDS: readonly Guard[] = [identity, staleView, escalationHold, rename];

export function isStep(value: Step | Ctx): value is Step {
  return 'action' in value;
}
