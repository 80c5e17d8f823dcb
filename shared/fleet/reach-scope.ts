/**
 * One scope's part of the fleet pass: reach it (the member role, for another account), run
 * the reconcile core there, and when it cannot be reached, report it (`Scope Unreachable`, once per
 * incident) instead of failing: an unreachable scope never holds up another.
 */
import { randomUUID } from 'node:crypto';
import { scopeUnreachableEvent } from '../domain/events.js';
import type { Scope } from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import { recordScopeUnreachable } from '../metrics.js';
import type { ReconcileDeps } from '../reconcile/ports.js';
import { type ReconcileResult, reconcileScope } from '../reconcile/reconcile-scope.js';
import type { Trigger } from '../reconcile/reconcile-store.js';
import { scopeLabel } from './scope.js';

/** What a fleet needs of its composition root. */
export interface ScopeRuntime {
  /** The deployment's own account and Region. */
  readonly home: Scope;
  /** The core's dependencies in a scope: its table partitions, and KMS, CloudHSM and Secrets Manager there. */
  deps(scope: Scope): ReconcileDeps;
  /** Makes sure calls into the scope can be signed (assumes the member role in another account); throws an AwsCallError when not. */
  reach(scope: Scope): Promise<void>;
}

/** How one scope's pass ended. */
export type ScopeOutcome =
  | { scope: Scope; status: 'reconciled'; result: ReconcileResult }
  | {
      scope: Scope;
      status: 'unreachable';
      errorCode: string;
      operation: string;
      incidentId: string;
      /** This pass sent the incident's `Scope Unreachable` event (false: an earlier pass did, or a dry run). */
      announced: boolean;
    };

/** The services called inside a scope: a failure of one of them means the scope cannot be reached. */
const SCOPE_SERVICES = ['STS.', 'KMS.', 'CloudHSMV2.', 'SecretsManager.'];

/** True for an error of a call into the scope (not of the deployment's own table or bus). */
export function isUnreachable(error: unknown): error is AwsCallError {
  return error instanceof AwsCallError && SCOPE_SERVICES.some((service) => error.operation.startsWith(service));
}

/**
 * Reconciles one scope. Returns `unreachable` when the scope's calls fail (access denied, throttled
 * past the SDK's retries, a Region not enabled); throws only for failures of the deployment itself
 * (its table, its bus), which a retry of the whole message may fix.
 */
export async function reachAndReconcile(runtime: ScopeRuntime, scope: Scope, request: { trigger: Trigger; dryRun?: boolean }): Promise<ScopeOutcome> {
  const deps = runtime.deps(scope);
  let result: ReconcileResult;
  try {
    await runtime.reach(scope);
    result = await reconcileScope(deps, { trigger: request.trigger, ...(request.dryRun === true && { dryRun: true }) });
  } catch (error) {
    if (!isUnreachable(error)) throw error;
    return reportUnreachable(deps, scope, error, request.dryRun === true);
  }
  if (result.unreachable && !result.dryRun) {
    await deps.state.clearUnreachable(result.unreachable.incidentId);
    deps.logger.info('scope reached again: unreachable incident closed', { scope: scopeLabel(scope), incidentId: result.unreachable.incidentId });
  }
  return { scope, status: 'reconciled', result };
}

async function reportUnreachable(deps: ReconcileDeps, scope: Scope, error: AwsCallError, dryRun: boolean): Promise<ScopeOutcome> {
  const { code: errorCode, operation } = error;
  const log = deps.logger.createChild({ persistentKeys: { scope: scopeLabel(scope) } });
  log.error('scope unreachable: none of its stores was observed', { errorCode, operation, error: error.message });
  if (deps.metrics) recordScopeUnreachable(deps.metrics, errorCode);
  const fresh = { incidentId: `scope-${randomUUID()}`, since: deps.clock.now(), errorCode, operation, announced: false };
  if (dryRun) return { scope, status: 'unreachable', errorCode, operation, incidentId: fresh.incidentId, announced: false };
  const mark = await deps.state.openUnreachable(fresh);
  if (mark.announced) return { scope, status: 'unreachable', errorCode, operation, incidentId: mark.incidentId, announced: false };
  await deps.events.publish([scopeUnreachableEvent({ scope, ...mark })]);
  await deps.state.announceUnreachable(mark.incidentId);
  return { scope, status: 'unreachable', errorCode, operation, incidentId: mark.incidentId, announced: true };
}
