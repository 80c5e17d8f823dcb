/**
 * What the Lambda handlers share: dependencies built once per cold start, the event functions' pass
 * over the stores an event names, and the shape of a result.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsFollowUpQueue, SqsScopeQueue } from '../adapters/sqs.js';
import { loadConfig, loadFleetConfig } from '../config.js';
import { formatFieldErrors } from '../domain/desired-schema.js';
import type { Scope } from '../domain/types.js';
import { type FollowUpPort, sendFollowUps } from '../fleet/follow-ups.js';
import type { ScopeRuntime } from '../fleet/reach-scope.js';
import type { FleetOutcome, ScopeQueuePort } from '../fleet/reconcile-fleet.js';
import { sameScope, scopeLabel } from '../fleet/scope.js';
import type { ReconcileDeps } from '../reconcile/ports.js';
import { type ReconcileResult, reconcileScope } from '../reconcile/reconcile-scope.js';
import { accountFromFunctionArn } from './deps.js';
import { FleetRuntime } from './fleet.js';
import type { TargetedEvent } from './triggers.js';

/** The part of the Lambda context the handlers read. */
export interface LambdaContext {
  awsRequestId: string;
  /** Absent under `serverless invoke local`: set CKS_ACCOUNT_ID there. */
  invokedFunctionArn?: string;
}

/** What every handler runs with in one invocation: the scopes' dependencies, and for the coordinator its queue. */
export interface Invocation {
  runtime: ScopeRuntime;
  /** The worker's queue; null: the coordinator reconciles the other scopes itself. */
  queue: ScopeQueuePort | null;
  /** Where a pass's follow-ups go (the worker's queue, delayed); null: none are sent, the schedule comes. */
  followUps: FollowUpPort | null;
  /** Scopes reconciled at once when one invocation reconciles several. */
  concurrency: number;
}

/** What each handler takes: an invocation's dependencies, the lease owner being its request id. */
export type InvocationFactory = (context: LambdaContext) => Invocation;

let coldStart: { fleet: FleetRuntime; queue: ScopeQueuePort | null; followUps: FollowUpPort | null; concurrency: number } | undefined;

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
    const { scopeQueueName, followUpQueueName } = fleetConfig;
    const sqs = new SQSClient({ region: config.region, ...(config.endpoint !== undefined && { endpoint: config.endpoint }) });
    coldStart = {
      fleet,
      queue: scopeQueueName === undefined ? null : new SqsScopeQueue(sqs, scopeQueueName),
      followUps: followUpQueueName === undefined ? null : new SqsFollowUpQueue(sqs, followUpQueueName),
      concurrency: fleetConfig.concurrency,
    };
  }
  return coldStart;
}

export const lambdaInvocation: InvocationFactory = (context) => {
  const { fleet, queue, followUps, concurrency } = warm(context);
  return { runtime: fleet.withOwner(context.awsRequestId), queue, followUps, concurrency };
};

/**
 * An invocation of one scope's dependencies (tests, the demo, a single-account setup): no queue, and
 * any other scope is refused, naming it.
 */
export function singleScope(deps: ReconcileDeps): Invocation {
  const home = deps.state.scope;
  const depsIn = (scope: Scope): ReconcileDeps => {
    if (!sameScope(scope, home)) throw new Error(`these dependencies are for ${scopeLabel(home)} only, not ${scopeLabel(scope)}`);
    return deps;
  };
  return { runtime: { home, deps: depsIn, reach: async () => undefined }, queue: null, followUps: null, concurrency: 1 };
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

/** What an event function (onEvent, onChange) returns: what it did, or why it did nothing. */
export type TargetedResult = HandlerResult | { skipped: string };

/**
 * An event function: reads its event with `parse` (a malformed one is refused as a whole, naming the
 * record at fault), then reconciles only the stores it names, in the scope it is about, one pass per scope.
 */
export function makeTargetedHandler(parse: (event: unknown) => TargetedEvent[], factory: InvocationFactory) {
  return async (event: unknown, context: LambdaContext): Promise<TargetedResult> => {
    const parts = parse(event);
    if (parts.length === 0) return { skipped: 'the event names no store to reconcile' };
    const { runtime, followUps } = factory(context);
    const results: HandlerResult[] = [];
    for (const part of parts) {
      const request = { trigger: part.trigger, only: part.targets, ...(part.trigger === 'cloudtrail' && { changes: part.changes }) };
      const scope = part.scope ?? runtime.home;
      const result = await reconcileScope(runtime.deps(scope), request);
      await sendFollowUps(runtime, followUps, { scope, status: 'reconciled', result });
      results.push(toHandlerResult(result));
    }
    const [first, ...more] = results as [HandlerResult, ...HandlerResult[]];
    // A stream batch of several scopes: one result with every store (one pass per scope).
    return more.length === 0
      ? first
      : { ...first, regionalIncident: results.some((r) => r.regionalIncident), stores: results.flatMap((r) => r.stores) };
  };
}

/** One scope's pass as a handler reports it, by status: what was done there, or why nothing was. */
export type ScopeResult =
  | ({ scope: string; status: 'reconciled' } & HandlerResult)
  /** The failed call's error code and operation, and the incident. */
  | { scope: string; status: 'unreachable'; errorCode: string; operation: string; incidentId: string }
  /** Why the pass failed (the deployment's table or bus). */
  | { scope: string; status: 'failed'; error: string }
  /** No store is declared there any more: the scope was closed. */
  | { scope: string; status: 'closed' };

export function toScopeResult(outcome: FleetOutcome): ScopeResult {
  const scope = scopeLabel(outcome.scope);
  switch (outcome.status) {
    case 'reconciled':
      return { scope, status: 'reconciled', ...toHandlerResult(outcome.result) };
    case 'unreachable':
      return { scope, status: 'unreachable', errorCode: outcome.errorCode, operation: outcome.operation, incidentId: outcome.incidentId };
    case 'failed':
      return { scope, status: 'failed', error: outcome.error };
    case 'closed':
      return { scope, status: 'closed' };
    default: {
      const _exhaustive: never = outcome;
      throw new Error(`unknown scope outcome ${String(_exhaustive)}`);
    }
  }
}
