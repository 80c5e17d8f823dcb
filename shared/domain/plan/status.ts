/** The status item as the machine moves it: blank, first sight, closed, and what an escalation waits for. */
import { type HeldInputs, LOGIN_BUDGET_DEFAULT, type PlanInput, type StoreStatus } from '../types.js';
import { connectSettling } from './timing.js';

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
    failedLogins: 0,
    loginBudgetResetAt: null,
    escalatedIncidentId: null,
    // A store first seen runs with the defaults in force: a lower desired budget applies at once, a higher one once signed.
    loginBudgetInForce: LOGIN_BUDGET_DEFAULT,
    onManualDisconnectInForce: 'hold',
    announcedApproval: null,
    highestGeneration: 0,
  };
}

/** The status of a store the reconciler has never seen. */
export function firstSight(input: PlanInput): StoreStatus {
  return {
    ...emptyStatus(input.desired.name, input.now),
    storeId: input.observed?.id ?? null,
    // The baseline: versions that exist when the store is first seen are never sent (see isNew).
    appliedPasswordVersion: input.passwordVersion,
    appliedXksCredentialVersion: input.xksCredentialVersion,
    observedGeneration: input.desired.generation,
  };
}

/** Phase IDLE, no incident, no attempts, no hold. */
export function closed(cur: StoreStatus): StoreStatus {
  return { ...cur, phase: 'IDLE', incidentId: null, attempt: 0, nextAttemptAt: null, heldInputs: null };
}

/**
 * The status with what this run observed. A stale view (older than our own last call: see the stale
 * view guard) is not recorded: the observation the status holds stays the baseline.
 */
export function observedStatus(input: PlanInput, status: StoreStatus, stale: boolean): StoreStatus {
  return {
    ...status,
    name: input.desired.name,
    storeId: input.observed?.id ?? status.storeId,
    observedState: stale ? status.observedState : (input.observed?.connectionState ?? 'MISSING'),
    observedErrorCode: stale ? status.observedErrorCode : (input.observed?.connectionErrorCode ?? null),
    observedGeneration: input.desired.generation,
    highestGeneration: Math.max(status.highestGeneration, input.desired.generation),
  };
}

/** What, besides a new generation or secret version, an escalation waits for. */
export interface Awaiting {
  /** The cluster getting an ACTIVE HSM releases the hold. */
  activeHsmIn?: string;
  /** Only a new password secret version releases the hold (CloudHSM credential codes). */
  newPassword?: boolean;
  /** Only an operator's reset of the login budget (`cks retry`) releases the hold. */
  loginBudgetReset?: boolean;
  /** The secret the desired item names appearing releases the hold. */
  secret?: boolean;
}

/** Whether the desired item holds a `cks retry` newer than the last one honoured. */
export function freshRetry(input: PlanInput, status: StoreStatus): boolean {
  const retry = input.desired.retryRequestedAt;
  return retry !== null && (status.loginBudgetResetAt === null || retry > status.loginBudgetResetAt);
}

/** An operator's `cks retry` newer than the last one honoured resets the login budget, unless that reset waits for a second person. */
export function withOperatorReset(input: PlanInput, status: StoreStatus, resetWaits: boolean): StoreStatus {
  return freshRetry(input, status) && !resetWaits ? { ...status, failedLogins: 0, loginBudgetResetAt: input.desired.retryRequestedAt } : status;
}

/**
 * Our CloudHSM connect ended without a run seeing how: the store is DISCONNECTED while the status
 * still says CONNECTING, and the view is not KMS catching up with the connect (someone disconnected
 * it first). That connect may have been a failed kmsuser login, and counts as one, so that the login
 * budget holds however it ended. The attempt is over: phase IDLE.
 */
export function withUnseenConnect(input: PlanInput, status: StoreStatus): StoreStatus {
  const unseen =
    input.observed?.type === 'AWS_CLOUDHSM' &&
    input.observed.connectionState === 'DISCONNECTED' &&
    status.phase === 'CONNECTING' &&
    !connectSettling(input, status);
  return unseen ? { ...status, phase: 'IDLE', failedLogins: status.failedLogins + 1 } : status;
}

export function heldInputsOf(input: PlanInput, awaiting: Awaiting): HeldInputs {
  return {
    generation: input.desired.generation,
    passwordVersion: input.passwordVersion,
    xksCredentialVersion: input.xksCredentialVersion,
    ...(awaiting.activeHsmIn !== undefined ? { awaitingActiveHsmIn: awaiting.activeHsmIn } : {}),
    ...(awaiting.newPassword === true ? { awaitingNewPassword: true } : {}),
    ...(awaiting.loginBudgetReset === true ? { awaitingLoginBudgetReset: true } : {}),
    ...(awaiting.secret === true ? { awaitingSecret: true } : {}),
  };
}
