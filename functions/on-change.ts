/**
 * Desired-state-triggered reconcile: the table's stream, whose records are operators' changes
 * (desired items, approvals). Reconciles only the stores they name, in their scopes. A function of
 * its own, with its own reserved concurrency: CloudTrail events (on-event.ts) never delay it.
 */
import { type InvocationFactory, lambdaInvocation, makeTargetedHandler } from '../shared/runtime/lambda.js';
import { parseStreamBatch } from '../shared/runtime/triggers.js';

export function makeHandler(factory: InvocationFactory) {
  return makeTargetedHandler(parseStreamBatch, factory);
}

export const handler = makeHandler(lambdaInvocation);
