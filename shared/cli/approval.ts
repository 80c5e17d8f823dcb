/** What of a store's desired generation waits for a second principal's `cks approve`, as the plan judges it. */
import { fieldsAwaitingApproval } from '../domain/plan/approval.js';
import type { DesiredStore, ObservedStore, Scope, Settings } from '../domain/types.js';
import type { StoreRecord } from '../reconcile/ports.js';

/** The fields waiting for approval (empty: none, or approved by a principal other than their writer). */
export function approvalWaiting(view: {
  scope: Scope;
  desired: DesiredStore;
  observed: ObservedStore | null;
  settings: Settings;
  record: StoreRecord;
  now: number;
}): string[] {
  // Only the store, its desired item, the settings and the approval matter to this judgement.
  return fieldsAwaitingApproval({
    scope: view.scope,
    desired: view.desired,
    observed: view.observed,
    clusters: new Map(),
    passwordVersion: null,
    xksCredentialVersion: null,
    status: view.record.status,
    settings: view.settings,
    regionalIncident: false,
    unreadable: [],
    missingSecrets: [],
    approval: view.record.approval,
    manualChange: null,
    now: view.now,
  });
}
