/**
 * One scope's part of the fleet pass: reach it (the member role, for another account), run
 * the reconcile core there, and when it cannot be reached, report it (`Scope Unreachable`, once per
 * incident) instead of failing: an unreachable scope never holds up another. A scope other than the
 * deployment's own whose last store was removed is closed (no longer swept or fanned out) once it owes
 * nothing: see {@link closeIfEmpty}.
 */
import { randomUUID } from 'node:crypto';
import { scopeUnreachableEvent } from '../domain/events.js';
import type { Scope } from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import { recordScopeUnreachable } from '../metrics.js';
import { publishOwedPage } from '../reconcile/owed-page.js';
import type { ReconcileDeps } from '../reconcile/ports.js';
import { closeRemoved, type ReconcileResult, reconcileScope } from '../reconcile/reconcile-scope.js';
import type { Trigger } from '../reconcile/reconcile-store.js';
import { sameScope, scopeLabel } from './scope.js';

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
    }
  /** No store is declared there any more and it owed nothing: its registration is closed, and it is swept no more. */
  | { scope: Scope; status: 'closed' };

/** The services called inside a scope: a failure of one of them means the scope cannot be reached. */
const SCOPE_SERVICES = ['STS.', 'KMS.', 'CloudHSMV2.', 'SecretsManager.'];

/** True for an error of a call into the scope (not of the deployment's own table or bus). */
export function isUnreachable(error: unknown): error is AwsCallError {
  return error instanceof AwsCallError && SCOPE_SERVICES.some((service) => error.operation.startsWith(service));
}

/**
 * Reconciles one scope. Returns `unreachable` when the scope's calls fail (access denied, throttled
 * past the SDK's retries, a Region not enabled), `closed` when it was closed; throws only for failures
 * of the deployment itself (its table, its bus), which a retry of the whole message may fix.
 */
export async function reachAndReconcile(runtime: ScopeRuntime, scope: Scope, request: { trigger: Trigger; dryRun?: boolean }): Promise<ScopeOutcome> {
  const deps = runtime.deps(scope);
  const mayClose = request.dryRun !== true && !sameScope(scope, runtime.home);
  let result: ReconcileResult;
  try {
    await runtime.reach(scope);
    result = await reconcileScope(deps, { trigger: request.trigger, ...(request.dryRun === true && { dryRun: true }) });
  } catch (error) {
    if (!isUnreachable(error)) throw error;
    // A scope whose account was let go with its stores needs no reaching to be closed.
    if (mayClose && (await closeIfEmpty(deps, scope, request.trigger))) return { scope, status: 'closed' };
    return reportUnreachable(deps, scope, error, request.dryRun === true);
  }
  if (result.unreachable && !result.dryRun) {
    await deps.state.clearUnreachable(result.unreachable.incidentId);
    deps.logger.info('scope reached again: unreachable incident closed', { scope: scopeLabel(scope), incidentId: result.unreachable.incidentId });
  }
  // The pass closed the statuses of removed stores and sent what the scope owed: closing needs only the registration.
  if (mayClose && result.outcomes.length === 0 && (await deps.state.closeScope(deps.clock.now()))) {
    deps.logger.info('scope closed: no store is declared there any more', { scope: scopeLabel(scope) });
    return { scope, status: 'closed' };
  }
  return { scope, status: 'reconciled', result };
}

/**
 * Closes a scope that cannot be reached when no store is declared there: the statuses of its removed
 * stores first (each publishes what it still owes), then the registration, which the table refuses
 * while anything of the scope is left (a status, an owed page). Its open unreachable incident ends with
 * it, so that a scope opened again and still unreachable is paged anew. True when closed.
 */
async function closeIfEmpty(deps: ReconcileDeps, scope: Scope, trigger: Trigger): Promise<boolean> {
  const { records, unreachable } = await deps.state.loadAll();
  if (records.some((record) => record.desired !== null)) return false;
  const log = deps.logger.createChild({ persistentKeys: { scope: scopeLabel(scope) } });
  const run = { reconcileId: randomUUID(), trigger };
  for (const record of records) await closeRemoved(deps, log, record.name, run);
  if (!(await deps.state.closeScope(deps.clock.now()))) return false;
  if (unreachable) await deps.state.clearUnreachable(unreachable.incidentId);
  log.info('scope closed: no store is declared there any more (it could not be reached)', { incidentId: unreachable?.incidentId ?? null });
  return true;
}

async function reportUnreachable(deps: ReconcileDeps, scope: Scope, error: AwsCallError, dryRun: boolean): Promise<ScopeOutcome> {
  const { code: errorCode, operation } = error;
  const log = deps.logger.createChild({ persistentKeys: { scope: scopeLabel(scope) } });
  log.error('scope unreachable: none of its stores was observed', { errorCode, operation, error: error.message });
  if (deps.metrics) recordScopeUnreachable(deps.metrics, errorCode);
  const fresh = { incidentId: `scope-${randomUUID()}`, since: deps.clock.now(), errorCode, operation, announced: false };
  if (dryRun) return { scope, status: 'unreachable', errorCode, operation, incidentId: fresh.incidentId, announced: false };
  // The mark is the page's outbox: written before the page, it keeps the incident (and so the page's eventId)
  // until the page went out, whichever pass sends it.
  const mark = await deps.state.openUnreachable(fresh);
  if (mark.announced) return { scope, status: 'unreachable', errorCode, operation, incidentId: mark.incidentId, announced: false };
  const unpublished = await publishOwedPage(
    deps,
    log,
    [scopeUnreachableEvent({ scope, ...mark })],
    'Scope Unreachable not published: the next pass sends it',
    () => deps.state.announceUnreachable(mark.incidentId),
  );
  return { scope, status: 'unreachable', errorCode, operation, incidentId: mark.incidentId, announced: unpublished === 0 };
}
