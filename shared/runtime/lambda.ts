/**
 * What both Lambda handlers share: dependencies built once per cold start, and the shape of a result.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsScopeQueue } from '../adapters/sqs.js';
import { loadConfig, loadFleetConfig } from '../config.js';
import { formatFieldErrors } from '../domain/desired-schema.js';
import type { Scope } from '../domain/types.js';
import type { ScopeRuntime } from '../fleet/reach-scope.js';
import type { FleetOutcome, ScopeQueuePort } from '../fleet/reconcile-fleet.js';
import { sameScope, scopeLabel } from '../fleet/scope.js';
import type { ReconcileDeps } from '../reconcile/ports.js';
import type { ReconcileResult } from '../reconcile/reconcile-scope.js';
import { accountFromFunctionArn } from './deps.js';
import { FleetRuntime } from './fleet.js';

/** The part of the Lambda context the handlers read. */
export interface LambdaContext {
  awsRequestId: string;
  /** Absent under `serverless invoke local`: set CKS_ACCOUNT_ID there. */
  invokedFunctionArn?: string;
}

/**
 * Returns the dependencies for an invocation in a scope (absent: the deployment's own account and
 * Region); the lease owner is the invocation's request id.
 */
export type DepsFactory = (context: LambdaContext, scope?: Scope) => ReconcileDeps;

/** What the coordinator and the worker run with in one invocation. */
export interface FleetInvocation {
  runtime: ScopeRuntime;
  /** The worker's queue; null: the coordinator sweeps the other scopes itself. */
  queue: ScopeQueuePort | null;
  /** Scopes swept at once when one invocation sweeps several. */
  concurrency: number;
}

export type FleetFactory = (context: LambdaContext) => FleetInvocation;

/** A {@link DepsFactory} or a {@link FleetFactory}: what the coordinator takes. */
export type InvocationFactory = (context: LambdaContext) => ReconcileDeps | FleetInvocation;

let coldStart: { fleet: FleetRuntime; queue: ScopeQueuePort | null; concurrency: number } | undefined;

/**
 * Builds the fleet's runtime on the first invocation and reuses it (clients, assumed-role
 * credentials) after. The account comes from `CKS_ACCOUNT_ID` or else the function's own ARN; a
 * missing variable fails here, naming it.
 */
function warm(context: LambdaContext): NonNullable<typeof coldStart> {
  if (!coldStart) {
    const config = loadConfig();
    const fleetConfig = loadFleetConfig();
    const fleet = new FleetRuntime(config, fleetConfig, {
      accountId: config.accountId ?? accountFromFunctionArn(context.invokedFunctionArn),
      owner: 'cold-start',
      metrics: true,
    });
    const { scopeQueueName } = fleetConfig;
    const queue =
      scopeQueueName === undefined
        ? null
        : new SqsScopeQueue(
            new SQSClient({ region: config.region, ...(config.endpoint !== undefined && { endpoint: config.endpoint }) }),
            scopeQueueName,
          );
    coldStart = { fleet, queue, concurrency: fleetConfig.concurrency };
  }
  return coldStart;
}

export const lambdaDeps: DepsFactory = (context, scope) => {
  const { fleet } = warm(context);
  return fleet.withOwner(context.awsRequestId).deps(scope ?? fleet.home);
};

export const lambdaFleet: FleetFactory = (context) => {
  const { fleet, queue, concurrency } = warm(context);
  return { runtime: fleet.withOwner(context.awsRequestId), queue, concurrency };
};

/**
 * A fleet invocation from either factory. Dependencies of one scope (tests, a single-account setup)
 * make a fleet of that scope alone, with no queue: any other scope is refused, naming it.
 */
export function fleetInvocation(factory: InvocationFactory, context: LambdaContext): FleetInvocation {
  const made = factory(context);
  if ('runtime' in made) return made;
  const home = made.state.scope;
  const deps = (scope: Scope): ReconcileDeps => {
    if (!sameScope(scope, home)) throw new Error(`these dependencies are for ${scopeLabel(home)} only, not ${scopeLabel(scope)}`);
    return made;
  };
  return { runtime: { home, deps, reach: async () => undefined }, queue: null, concurrency: 1 };
}

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

/** One scope's pass as a handler reports it: what was done there (reconciled), or why not. */
export interface ScopeResult extends Partial<HandlerResult> {
  scope: string;
  status: FleetOutcome['status'];
  /** Unreachable: the failed call's error code and operation, and the incident. */
  errorCode?: string;
  operation?: string;
  incidentId?: string;
  /** Failed: why (the deployment's table or bus). */
  error?: string;
}

export function toScopeResult(outcome: FleetOutcome): ScopeResult {
  const head = { scope: scopeLabel(outcome.scope), status: outcome.status };
  switch (outcome.status) {
    case 'reconciled':
      return { ...head, ...toHandlerResult(outcome.result) };
    case 'unreachable':
      return { ...head, errorCode: outcome.errorCode, operation: outcome.operation, incidentId: outcome.incidentId };
    case 'failed':
      return { ...head, error: outcome.error };
    default: {
      const _exhaustive: never = outcome;
      throw new Error(`unknown scope outcome ${String(_exhaustive)}`);
    }
  }
}
