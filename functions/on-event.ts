/**
 * Event-triggered reconcile: CloudTrail API-call events for custom key stores and HSMs, and the
 * desired-state table's stream. Reconciles only the stores the event names.
 */
import { lambdaDeps, toHandlerResult, type DepsFactory, type HandlerResult, type LambdaContext } from '../shared/runtime/lambda.js';
import { reconcile } from '../shared/reconcile/sweep.js';
import { parseTrigger } from '../shared/reconcile/triggers.js';

export function makeHandler(deps: DepsFactory) {
  return async (event: unknown, context: LambdaContext): Promise<HandlerResult | { skipped: string }> => {
    const target = parseTrigger(event);
    if (!target) return { skipped: 'the event names no store to reconcile' };
    const { trigger, changes, ...only } = target;
    return toHandlerResult(await reconcile(deps(context), { trigger, only, ...(changes ? { changes } : {}) }));
  };
}

export const handler = makeHandler(lambdaDeps);
