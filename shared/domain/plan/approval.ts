/**
 * The second-person rule. A change that weakens what protects a store — whom it trusts (an XKS
 * proxy's endpoint, path, connectivity or VPC endpoint service; with approvalForCloudHsm its cluster
 * and name), a login budget raised above the one in force, `onManualDisconnect: reconnect` while
 * `hold` is in force, a `cks retry` that would reset a used login budget with no new password — is
 * applied only once two distinct persons signed that exact change (its generation and the digest of
 * its guarded values). Who wrote the desired item does not matter. Until then the values in force
 * apply, and `Approval Required` goes out once per change, whatever else the store is doing.
 */
import { SITUATION_RUNBOOKS } from '../playbooks.js';
import { approversOf, type SignedChange, storeChange } from '../signatures.js';
import { storeSubject } from '../table-keys.js';
import type { ChangedField, Decision, PlanInput, StoreStatus, UpdateChanges } from '../types.js';
import { isNew, renamed, settingsChanges } from './compare.js';
import type { Ctx } from './context.js';
import { freshRetry } from './status.js';
import { type Step, wait } from './steps.js';

/** A change that needs a second person and is not yet signed by two. */
export interface PendingApproval {
  change: SignedChange;
  /** What it changes, old → new. */
  changes: ChangedField[];
  /** The persons who signed it so far (at most one). */
  signedBy: string[];
}

const PROXY_FIELDS = ['uriEndpoint', 'uriPath', 'connectivity', 'vpcEndpointServiceName'] as const;

/** The field of a login-budget reset that waits (`cks retry` with a used budget and no new password). */
const BUDGET_RESET = 'failedLogins';

/** Fields of `changes` that change whom the store trusts. */
function identityFields(input: PlanInput, changes: UpdateChanges): string[] {
  const xks = changes.xks ?? {};
  const proxy = PROXY_FIELDS.filter((field) => xks[field] !== undefined).map((field) => `xksProxy.${field}`);
  const cloudHsm =
    input.settings.approvalForCloudHsm === true
      ? [...(changes.cloudHsmClusterId !== undefined ? ['cloudHsmClusterId'] : []), ...(changes.newName !== undefined ? ['name'] : [])]
      : [];
  return [...proxy, ...cloudHsm];
}

/** The changes of whom the store trusts, KMS's value → the desired one. */
function identityChanges(input: PlanInput): ChangedField[] {
  const { observed, desired } = input;
  if (observed === null || observed.type !== desired.type) return [];
  const changes: UpdateChanges = { ...settingsChanges(input, observed), ...(renamed(input, observed) ? { newName: desired.name } : {}) };
  const from = (field: string): string | null => {
    if (field === 'name') return observed.name;
    if (field === 'cloudHsmClusterId') return observed.cloudHsmClusterId ?? null;
    return observed.xksProxy?.[field.slice('xksProxy.'.length) as (typeof PROXY_FIELDS)[number]] ?? null;
  };
  const to = (field: string): string | null => {
    if (field === 'name') return desired.name;
    if (field === 'cloudHsmClusterId') return desired.cloudHsmClusterId ?? null;
    return desired.xksProxy?.[field.slice('xksProxy.'.length) as (typeof PROXY_FIELDS)[number]] ?? null;
  };
  return identityFields(input, changes).map((field) => ({ field, from: from(field), to: to(field) }));
}

/** Every change of the desired generation that needs a second person, signed or not. */
function guardedChanges(input: PlanInput, status: StoreStatus): ChangedField[] {
  const { desired } = input;
  const budget =
    desired.loginBudget > status.loginBudgetInForce
      ? [{ field: 'loginBudget', from: String(status.loginBudgetInForce), to: String(desired.loginBudget) }]
      : [];
  const policy =
    desired.onManualDisconnect === 'reconnect' && status.onManualDisconnectInForce === 'hold'
      ? [{ field: 'onManualDisconnect', from: 'hold', to: 'reconnect' }]
      : [];
  // A reset of a used budget lets the reconciler fail more kmsuser logins with the password that already failed.
  const reset =
    desired.type === 'AWS_CLOUDHSM' &&
    status.failedLogins > 0 &&
    freshRetry(input, status) &&
    !isNew(input.passwordVersion, status.appliedPasswordVersion)
      ? [{ field: BUDGET_RESET, from: String(status.failedLogins), to: '0' }]
      : [];
  return [...identityChanges(input), ...budget, ...policy, ...reset];
}

/** The change of this generation that needs a second person and is not signed by two; null when none waits. */
export function pendingApproval(input: PlanInput, status: StoreStatus): PendingApproval | null {
  const changes = guardedChanges(input, status);
  if (changes.length === 0) return null;
  const change = storeChange(storeSubject(input.desired.name), input.desired);
  const signedBy = approversOf(input.signatures, change);
  return signedBy.length >= 2 ? null : { change, changes, signedBy };
}

/**
 * The input and status with what is in force while `pending` waits: the login budget and manual-disconnect
 * policy in force instead of the desired ones that wait; the desired ones (a tightening, or signed by two)
 * come into force at once. Whether a `cks retry` may reset the budget is {@link budgetResetWaits}.
 */
export function inForce(input: PlanInput, status: StoreStatus, pending: PendingApproval | null): { input: PlanInput; status: StoreStatus } {
  const waits = (field: string): boolean => pending?.changes.some((c) => c.field === field) === true;
  const loginBudget = waits('loginBudget') ? status.loginBudgetInForce : input.desired.loginBudget;
  const onManualDisconnect = waits('onManualDisconnect') ? status.onManualDisconnectInForce : input.desired.onManualDisconnect;
  return {
    input: { ...input, desired: { ...input.desired, loginBudget, onManualDisconnect } },
    status: { ...status, loginBudgetInForce: loginBudget, onManualDisconnectInForce: onManualDisconnect },
  };
}

/** Whether the login-budget reset of a `cks retry` waits for a second person. */
export function budgetResetWaits(pending: PendingApproval | null): boolean {
  return pending?.changes.some((c) => c.field === BUDGET_RESET) === true;
}

/** Who signed, in words. */
function signers(pending: PendingApproval): string {
  return pending.signedBy.length === 0 ? 'nobody has signed it yet' : `signed so far by ${pending.signedBy.join(', ')}`;
}

/** `xksProxy.uriEndpoint https://a → https://b`, for reasons. */
export function describeChanges(changes: readonly ChangedField[]): string {
  return changes.map((c) => `${c.field} ${c.from ?? '(none)'} → ${c.to ?? '(none)'}`).join(', ');
}

/** A change of whom the store trusts, in `changes`, that waits for two signers: the run waits (its `Approval Required` goes out with {@link announce}). */
export function awaitingApproval({ input, cur, pending }: Ctx, what: string, changes: UpdateChanges): Step | null {
  const fields = identityFields(input, changes);
  if (fields.length === 0 || pending === null) return null;
  return wait(
    cur,
    `${what}: ${fields.join(', ')} of generation ${input.desired.generation} not applied until two persons sign it (\`cks approve ${input.desired.name}\`); ${signers(pending)}`,
  );
}

/** Adds `Approval Required` to a decision, once per pending change (recorded in the status it writes). */
export function announce(input: PlanInput, stored: StoreStatus, pending: PendingApproval | null, decision: Decision): Decision {
  if (pending === null) return decision;
  const { generation, digest } = pending.change;
  const key = `${generation}:${digest}`;
  if (stored.announcedApproval === key) return decision;
  const reason =
    `generation ${generation} changes ${describeChanges(pending.changes)}: not applied until two persons sign it; ${signers(pending)}; ` +
    `a second person reviews it with \`cks status ${input.desired.name}\` and runs \`cks approve ${input.desired.name}\``;
  return {
    ...decision,
    nextStatus: { ...decision.nextStatus, announcedApproval: key },
    events: [
      ...decision.events,
      {
        detailType: 'Approval Required',
        reason,
        runbook: SITUATION_RUNBOOKS.approvalRequired,
        drift: pending.changes.map((c) => c.field),
        generation,
        digest,
        proposedBy: pending.signedBy,
        changes: pending.changes,
      },
    ],
  };
}
