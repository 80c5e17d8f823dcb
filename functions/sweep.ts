/**
 * The scheduled sweep, the fleet's coordinator: lists the scopes (the table's registry and its own),
 * sends each other account-Region to the worker through SQS, then reconciles its own scope.
 */
import { reconcileFleet } from '../shared/fleet/reconcile-fleet.js';
import { scopeLabel } from '../shared/fleet/scope.js';
import {
  fleetInvocation,
  type InvocationFactory,
  type LambdaContext,
  lambdaFleet,
  type ScopeResult,
  toScopeResult,
} from '../shared/runtime/lambda.js';

/** The own scope's result, with the scopes handed to the worker and those swept here (no queue). */
export type SweepResult = ScopeResult & { trigger: 'schedule'; queued: string[]; swept: ScopeResult[] };

export function makeHandler(factory: InvocationFactory) {
  return async (_event: unknown, context: LambdaContext): Promise<SweepResult> => {
    const { runtime, queue, concurrency } = fleetInvocation(factory, context);
    const run = await reconcileFleet(runtime, { trigger: 'schedule', queue, concurrency });
    return {
      ...toScopeResult(run.home),
      trigger: 'schedule',
      queued: run.queued.map(scopeLabel),
      swept: run.swept.map(toScopeResult),
    };
  };
}

export const handler = makeHandler(lambdaFleet);
