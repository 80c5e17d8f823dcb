/**
 * Event-triggered reconcile: CloudTrail API-call events for custom key stores and HSMs (the
 * deployment's own, and those member accounts forward to its bus), and the desired-state table's
 * stream. Reconciles only the stores the event names, in the account and Region the event is about.
 */
import { splitByScope } from '../shared/fleet/event-scope.js';
import { reconcileScope } from '../shared/reconcile/reconcile-scope.js';
import { parseTrigger } from '../shared/reconcile/triggers.js';
import { type DepsFactory, type HandlerResult, type LambdaContext, lambdaDeps, toHandlerResult } from '../shared/runtime/lambda.js';

export function makeHandler(deps: DepsFactory) {
  return async (event: unknown, context: LambdaContext): Promise<HandlerResult | { skipped: string }> => {
    // The whole event first: a malformed one is refused as a whole, naming the record at fault.
    if (!parseTrigger(event)) return { skipped: 'the event names no store to reconcile' };
    const results: HandlerResult[] = [];
    for (const part of splitByScope(event)) {
      const target = parseTrigger(part.event);
      if (!target) continue;
      const { trigger, changes, ...only } = target;
      const request = { trigger, only, ...(changes ? { changes } : {}) };
      results.push(toHandlerResult(await reconcileScope(deps(context, part.scope ?? undefined), request)));
    }
    const [first, ...more] = results;
    if (!first) return { skipped: 'the event names no store to reconcile' };
    // A stream batch of several scopes: one result with every store (one reconcile per scope).
    return more.length === 0
      ? first
      : { ...first, regionalIncident: results.some((r) => r.regionalIncident), stores: results.flatMap((r) => r.stores) };
  };
}

export const handler = makeHandler(lambdaDeps);
