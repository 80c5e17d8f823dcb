/** What of a store's desired generation waits for a second person's signature, as the plan judges it, and signing it. */
import { type PendingApproval, pendingApproval } from '../domain/plan/approval.js';
import { firstSight } from '../domain/plan/status.js';
import type { SignedChange } from '../domain/signatures.js';
import { operatorPartitionKey } from '../domain/table-keys.js';
import type { DesiredStore, ObservedStore, PlanInput, Scope, Settings } from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import type { StatePort, StoreRecord } from '../reconcile/ports.js';
import { type Caller, CliError } from './context.js';

/** The change waiting for a second person (null: none, or two persons signed it). */
export function approvalWaiting(view: {
  scope: Scope;
  desired: DesiredStore;
  observed: ObservedStore | null;
  settings: Settings;
  record: StoreRecord;
  passwordVersion: string | null;
  now: number;
}): PendingApproval | null {
  // Only the store, its desired item, its status, the settings, the password version and the signatures matter to this judgement.
  const input: PlanInput = {
    scope: view.scope,
    desired: view.desired,
    observed: view.observed,
    clusters: new Map(),
    passwordVersion: view.passwordVersion,
    xksCredentialVersion: null,
    status: view.record.status,
    settings: view.settings,
    regionalIncident: false,
    unreadable: [],
    missingSecrets: [],
    signatures: view.record.signatures,
    manualChange: null,
    now: view.now,
  };
  return pendingApproval(input, input.status ?? firstSight(input));
}

/**
 * Signs `change` as the caller, in the caller's own partition. IAM refuses a signer that is not the
 * caller (AccessDenied), which is said in one line: a signature can fail, never be forged.
 */
export async function signChange(state: StatePort, caller: Caller, change: SignedChange, now: number, what: string): Promise<void> {
  try {
    await state.sign({ signer: caller.signer, scopePk: operatorPartitionKey(state.scope), ...change, signedAt: now });
  } catch (error) {
    if (!(error instanceof AwsCallError) || !/AccessDenied/.test(error.code)) throw error;
    const why = caller.signer.startsWith('source/')
      ? `CKS_SOURCE_IDENTITY must be your session's source identity (${caller.signer.slice('source/'.length)} is not)`
      : 'your session carries a source identity: set CKS_SOURCE_IDENTITY to it, or you lack the OperatorPolicy';
    throw new CliError(`${what}: IAM refused your signature as ${caller.signer} (AccessDenied): ${why}`);
  }
}
