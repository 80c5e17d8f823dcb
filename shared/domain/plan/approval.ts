/** Two people for a change of whom a store trusts: the writer of a generation cannot also approve it. */
import { SITUATION_RUNBOOKS } from '../playbooks.js';
import type { PlanInput, StoreStatus, UpdateChanges } from '../types.js';
import { renamed, settingsChanges } from './compare.js';
import { type Step, wait, withReport } from './steps.js';

/** Fields of `changes` that change whom the store trusts, and so wait for a second principal's approval. */
function identityChanges(input: PlanInput, changes: UpdateChanges): string[] {
  const xks = changes.xks ?? {};
  const proxy = (['uriEndpoint', 'uriPath', 'connectivity', 'vpcEndpointServiceName'] as const)
    .filter((field) => xks[field] !== undefined)
    .map((field) => `xksProxy.${field}`);
  const cloudHsm =
    input.settings.approvalForCloudHsm === true
      ? [...(changes.cloudHsmClusterId !== undefined ? ['cloudHsmClusterId'] : []), ...(changes.newName !== undefined ? ['name'] : [])]
      : [];
  return [...proxy, ...cloudHsm];
}

/** The approval of this generation by a principal other than its writer. */
function approved(input: PlanInput): boolean {
  const { approval, desired } = input;
  return approval !== null && approval.generation === desired.generation && approval.approvedBy !== desired.changedBy;
}

/** A change of whom the store trusts waits for a second principal: reported once per generation with `Approval Required`. */
export function awaitingApproval(input: PlanInput, cur: StoreStatus, what: string, changes: UpdateChanges): Step | null {
  const fields = identityChanges(input, changes);
  if (fields.length === 0 || approved(input)) return null;
  const { desired } = input;
  const reason =
    `${what}: ${fields.join(', ')} changed in generation ${desired.generation} by ${desired.changedBy ?? 'an unknown principal'}; ` +
    `not applied until a different principal runs \`cks approve ${desired.name}\``;
  return withReport(wait(cur, reason), cur, `approval:${desired.generation}`, {
    detailType: 'Approval Required',
    reason,
    runbook: SITUATION_RUNBOOKS.approvalRequired,
    drift: fields,
    generation: desired.generation,
    changedBy: desired.changedBy,
  });
}

/**
 * The fields of the desired generation that change whom the store trusts and have no approval yet by a
 * principal other than their writer (empty: nothing waits). For `cks approve` and `cks status`, which
 * may approve a change before a repair reaches it.
 */
export function fieldsAwaitingApproval(input: PlanInput): string[] {
  const { observed, desired } = input;
  if (observed === null || observed.type !== desired.type || approved(input)) return [];
  return identityChanges(input, { ...settingsChanges(input, observed), ...(renamed(input, observed) ? { newName: desired.name } : {}) });
}
