/**
 * What both Lambda handlers share: dependencies built once per cold start, and the shape of a result.
 */
import { loadConfig } from '../config.js';
import { formatFieldErrors } from '../domain/desired-schema.js';
import { accountFromFunctionArn, buildDeps } from './deps.js';
import type { ReconcileDeps } from '../reconcile/ports.js';
import type { ReconcileResult } from '../reconcile/sweep.js';

/** The part of the Lambda context the handlers read. */
export interface LambdaContext {
  awsRequestId: string;
  /** Absent under `serverless invoke local`: set CKS_ACCOUNT_ID there. */
  invokedFunctionArn?: string;
}

/** Returns the dependencies for an invocation; the lease owner is the invocation's request id. */
export type DepsFactory = (context: LambdaContext) => ReconcileDeps;

let coldStart: Omit<ReconcileDeps, 'owner'> | undefined;

/**
 * Builds the dependencies on the first invocation and reuses them after. The account comes from
 * `CKS_ACCOUNT_ID` or else the function's own ARN; a missing variable fails here, naming it.
 */
export const lambdaDeps: DepsFactory = (context) => {
  if (!coldStart) {
    const config = loadConfig();
    coldStart = buildDeps(config, {
      accountId: config.accountId ?? accountFromFunctionArn(context.invokedFunctionArn),
      owner: 'cold-start',
      metrics: true,
    });
  }
  return { ...coldStart, owner: context.awsRequestId };
};

/** What a handler returns: enough to read in `serverless invoke` output, no secrets. */
export interface HandlerResult {
  reconcileId: string;
  trigger: string;
  regionalIncident: boolean;
  stores: Array<{ name: string; action: string; reason: string; phase: string | null; error: string | null }>;
}

export function toHandlerResult(result: ReconcileResult): HandlerResult {
  return {
    reconcileId: result.reconcileId,
    trigger: result.trigger,
    regionalIncident: result.regionalIncident,
    stores: result.outcomes.map((o) => ({
      name: o.name,
      action: o.taken ?? (o.skipped ? `skipped (${o.skipped})` : 'none'),
      reason: o.decision?.reason ?? formatFieldErrors(o.errors),
      phase: o.decision?.nextStatus.phase ?? o.status?.phase ?? null,
      error: o.error,
    })),
  };
}
