/**
 * Event-triggered reconcile: CloudTrail API-call events for custom key stores and HSMs (the
 * deployment's own, and those member accounts forward to its bus), and the desired-state table's
 * stream. Reconciles only the stores the event names, in the scope the event is about.
 */
import { reconcileScope } from '../shared/reconcile/reconcile-scope.js';
import { type HandlerResult, type InvocationFactory, type LambdaContext, lambdaInvocation, toHandlerResult } from '../shared/runtime/lambda.js';
import { parseStoreEvent } from '../shared/runtime/triggers.js';

/** What the on-event function returns: what it did, or why it did nothing. */
export type OnEventResult = HandlerResult | { skipped: string };

export function makeHandler(factory: InvocationFactory) {
  return async (event: unknown, context: LambdaContext): Promise<OnEventResult> => {
    // The whole event first: a malformed one is refused as a whole, naming the record at fault.
    const parts = parseStoreEvent(event);
    if (parts.length === 0) return { skipped: 'the event names no store to reconcile' };
    const { runtime } = factory(context);
    const results: HandlerResult[] = [];
    for (const part of parts) {
      const request = { trigger: part.trigger, only: part.targets, ...(part.trigger === 'cloudtrail' && { changes: part.changes }) };
      results.push(toHandlerResult(await reconcileScope(runtime.deps(part.scope ?? runtime.home), request)));
    }
    const [first, ...more] = results as [HandlerResult, ...HandlerResult[]];
    // A stream batch of several scopes: one result with every store (one pass per scope).
    return more.length === 0
      ? first
      : { ...first, regionalIncident: results.some((r) => r.regionalIncident), stores: results.flatMap((r) => r.stores) };
  };
}

export const handler = makeHandler(lambdaInvocation);
