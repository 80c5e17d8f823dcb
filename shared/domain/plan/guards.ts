/**
 * The guards, asked in this order before the transition table: paused, missing, identity, stale view,
 * escalation hold, manual change, unreadable input, missing secret, rename. The first with something to say decides the run's step; a guard may also
 * hand the next ones a changed context (a released hold starts afresh). An unreadable input comes
 * after the manual change: the guards before it need none of the inputs that can be unreadable (secret
 * versions), and a run that waits on one must still notice, and hold, a store a human disconnected.
 */
import { SITUATION_RUNBOOKS } from '../playbooks.js';
import type { DesiredStore, ManualChange, PlanInput, SecretField, StoreStatus } from '../types.js';
import { awaitingApproval } from './approval.js';
import { connectedWithoutHsm, describe, identityDrift, renameAllowed, renamed } from './compare.js';
import { type Ctx, situation } from './context.js';
import { fingerprint } from './hash.js';
import { hold, holdReleased } from './hold.js';
import { closed, heldInputsOf } from './status.js';
import { escalate, type Step, wait, withReport } from './steps.js';
import { backingOff, calledRecently, connectReturned, connectSettling, disconnectReportedSince, iso } from './timing.js';

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

/** An input this decision depends on could not be read: wait for the next run rather than judge on a guess. */
const unreadable: Guard = (ctx) => {
  const { input, cur } = ctx;
  if (input.unreadable.length === 0) return ctx;
  return wait(
    cur,
    `${situation(ctx)}: could not read ${input.unreadable.join(', ')} in this run; waiting for the next run rather than deciding without it`,
  );
};

/**
 * The desired item names a secret that does not exist, and the store needs a repair: escalated once
 * with its own runbook, holding until the secret exists or the desired item changes. A secret that
 * could not be read is not missing (see `unreadable`).
 */
const missingSecret: Guard = (ctx) => {
  const { input, observed, cur } = ctx;
  const state = observed.connectionState;
  const repairing = input.desired.desiredState === 'CONNECTED' && (state === 'FAILED' || state === 'DISCONNECTED');
  if (input.missingSecrets.length === 0 || !repairing) return ctx;
  const named = input.missingSecrets.map((field) => `${field} ${secretArnOf(input.desired, field) ?? '(none)'}`).join(' and ');
  const reason = `${situation(ctx)}: the desired item's ${named} names no secret in Secrets Manager (it does not exist or holds no current version), so the store cannot be repaired`;
  return escalate(input, cur, reason, SITUATION_RUNBOOKS.secretMissing, { awaiting: { secret: true } });
};

function secretArnOf(desired: DesiredStore, field: SecretField): string | undefined {
  return field === 'keyStorePasswordSecretArn' ? desired.keyStorePasswordSecretArn : desired.xksProxy?.credentialSecretArn;
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

/**
 * After our own call, an observation that still shows the state from before it is stale: wait, never
 * repeat the call, and record nothing of it (the status keeps the observation it holds). A DISCONNECTED
 * after our connect is stale only while {@link connectSettling}: once a run has seen the connect, or
 * CloudTrail reported a disconnect since, it is someone's disconnect (the manual change guard decides).
 */
const staleView: Guard = (ctx) => {
  const { input, observed, cur } = ctx;
  const state = observed.connectionState;
  const call =
    calledRecently(input, cur, 'disconnect') && (state === 'CONNECTED' || state === 'CONNECTING' || state === 'FAILED')
      ? 'disconnect'
      : state === 'DISCONNECTED' && connectSettling(input, cur)
        ? 'connect'
        : null;
  if (call === null) return ctx;
  return {
    ...wait(
      cur,
      `${state} although the reconciler called ${call} at ${iso(cur.lastActionAt ?? input.now)}: KMS is eventually consistent, waiting for it to show the change rather than calling again`,
    ),
    staleView: true,
  };
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
  // A hold without its inputs (an item written before they were recorded) has nothing left to wait for.
  const held = cur.heldInputs;
  if (held !== null && !holdReleased(input, cur, held)) return hold(input, cur, held, situation(ctx));
  return { ...ctx, cur: closed(cur), released: true };
};

/**
 * A human changed the connection by hand: disconnected a store desired CONNECTED (with
 * `onManualDisconnect: hold`, the default) or connected one desired DISCONNECTED, while the desired
 * item stayed the same and the reconciler made no such call. The store is HELD, once reported with
 * `Manual Change Detected`, until a new desired generation (an edit, `cks resume`) releases it.
 */
const manualChange: Guard = (ctx) => {
  const { input, cur } = ctx;
  if (cur.phase === 'HELD') {
    const held = cur.heldInputs;
    if (held !== null && held.generation === input.desired.generation) {
      // CloudTrail's event may come after a run already held the store (it lags the change): it names who
      // in the status, without a second page.
      const named = held.manualChange?.by === null && input.manualChange?.by != null ? input.manualChange : null;
      const change = named ?? held.manualChange;
      const who = change ? `${describeChange(change)} at ${iso(change.at)}` : 'a manual change';
      const status = named === null ? cur : { ...cur, heldInputs: { ...held, manualChange: named } };
      return wait(status, `${situation(ctx)}: held after ${who}; \`cks resume ${input.desired.name}\` or a new desired generation releases it`);
    }
    return { ...ctx, cur: closed(cur) };
  }
  const unexpected = unexpectedChange(ctx);
  if (unexpected === null) return ctx;
  const change: ManualChange = input.manualChange ?? { by: null, at: input.now, eventName: null };
  const ended = cur.incidentId !== null ? `; repair incident ${cur.incidentId} ends` : '';
  const release =
    unexpected === 'disconnect'
      ? `held DISCONNECTED (onManualDisconnect: hold) until \`cks resume ${input.desired.name}\` or a new desired generation`
      : `held CONNECTED until \`cks resume ${input.desired.name}\` or a new desired generation`;
  const reason = `${situation(ctx)}: ${unexpected}ed by ${describeChange(change)}, not by the reconciler; ${release}${ended}`;
  return {
    action: { kind: 'none' },
    reason,
    events: [
      {
        detailType: 'Manual Change Detected',
        reason,
        runbook: SITUATION_RUNBOOKS[unexpected === 'disconnect' ? 'manualDisconnect' : 'manualConnect'],
        changedBy: change.by,
        changedAt: iso(change.at),
      },
    ],
    status: { ...closed(cur), phase: 'HELD', heldInputs: { ...heldInputsOf(input, {}), manualChange: change } },
    reportKey: null,
  };
};

/** Whether the observed state is a connect or disconnect nobody declared and the reconciler did not make. */
function unexpectedChange({ input, observed, cur, released }: Ctx): 'disconnect' | 'connect' | null {
  if (released || cur.observedState === null || cur.observedGeneration !== input.desired.generation) return null;
  const state = observed.connectionState;
  const was = cur.observedState;
  // A disconnect of ours that failed may still have gone through (its answer lost in a timeout): not a human's.
  const ours =
    cur.phase === 'DISCONNECTING' || cur.phase === 'UPDATING' || (cur.lastAction?.kind === 'disconnect' && cur.lastAction.outcome === 'failed');
  if (input.desired.desiredState === 'CONNECTED' && state === 'DISCONNECTED') {
    // DISCONNECTING too: a run may have seen the human's disconnect under way.
    const wasUp = was === 'CONNECTED' || was === 'CONNECTING' || was === 'FAILED' || was === 'DISCONNECTING';
    // Or no run saw our connect (the stored status: a CloudHSM connect that ended unseen is IDLE by now),
    // but KMS made the store CONNECTING when it accepted it, so someone disconnected it since: CloudTrail
    // reported that disconnect, or the connect answered success and the settle window is over (the
    // stale view guard waits inside it). Not a connect whose run died before its answer: it may never have been made.
    const stored = input.status;
    const disconnectedWhileConnecting = stored?.phase === 'CONNECTING' && (disconnectReportedSince(input, cur) || connectReturned(stored));
    return (wasUp || disconnectedWhileConnecting) && !ours && input.desired.onManualDisconnect === 'hold' ? 'disconnect' : null;
  }
  if (input.desired.desiredState === 'DISCONNECTED' && (state === 'CONNECTED' || state === 'CONNECTING')) {
    return was === 'DISCONNECTED' && cur.lastAction?.kind !== 'connect' ? 'connect' : null;
  }
  return null;
}

function describeChange(change: ManualChange): string {
  const call = change.eventName !== null ? ` (${change.eventName})` : '';
  return `${change.by ?? 'someone other than the reconciler'}${call}`;
}

/**
 * The store was renamed outside the desired state (its id is declared): UpdateCustomKeyStore
 * NewCustomKeyStoreName, in a state where KMS allows it ({@link renameAllowed}). In any other state
 * the transition table decides as it would (a repair disconnects first, and the rename follows once
 * DISCONNECTED); a healthy CONNECTED CloudHSM key store is never disconnected to rename it: the
 * name is reported as drift (see `atConnected`).
 */
const rename: Guard = (ctx) => {
  const { input, observed, cur } = ctx;
  if (!renamed(input, observed) || !renameAllowed(observed)) return ctx;
  const what = `${describe(observed)}, named ${observed.name} but desired ${input.desired.name}`;
  if (calledRecently(input, cur, 'update')) return wait(cur, `${what}: renamed at ${iso(cur.lastActionAt ?? input.now)}, waiting for KMS to show it`);
  if (backingOff(input, cur)) return wait(cur, `${what}: renaming after ${iso(cur.nextAttemptAt ?? input.now)} (backing off)`);
  const unapproved = awaitingApproval(ctx, what, { newName: input.desired.name });
  if (unapproved !== null) return unapproved;
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
export const GUARDS: readonly Guard[] = [identity, staleView, escalationHold, manualChange, unreadable, missingSecret, rename];

export function isStep(value: Step | Ctx): value is Step {
  return 'action' in value;
}
