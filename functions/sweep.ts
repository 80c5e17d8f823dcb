/**
 * The scheduled sweep, the fleet's coordinator: lists the scopes (the table's registry and its own),
 * sends each other scope to the worker through SQS, then reconciles its own scope.
 */
import { sendFollowUps } from '../shared/fleet/follow-ups.js';
import { reconcileFleet } from '../shared/fleet/reconcile-fleet.js';
import { scopeLabel } from '../shared/fleet/scope.js';
import { type InvocationFactory, type LambdaContext, lambdaInvocation, type ScopeResult, toScopeResult } from '../shared/runtime/lambda.js';
import { parseSchedule } from '../shared/runtime/triggers.js';

/** The own scope's result, with the scopes handed to the worker and those reconciled here (no queue). */
export type SweepResult = ScopeResult & { trigger: 'schedule'; queued: string[]; swept: ScopeResult[] };

export function makeHandler(factory: InvocationFactory) {
  return async (event: unknown, context: LambdaContext): Promise<SweepResult> => {
    const { trigger } = parseSchedule(event);
    const { runtime, queue, followUps, concurrency } = factory(context);
    const run = await reconcileFleet(runtime, { trigger, queue, concurrency });
    await Promise.all([run.home, ...run.swept].map((outcome) => sendFollowUps(runtime, followUps, outcome)));
    return {
      ...toScopeResult(run.home),
      trigger,
      queued: run.queued.map(scopeLabel),
      swept: run.swept.map(toScopeResult),
    };
  };
}

export const handler = makeHandler(lambdaInvocation);
