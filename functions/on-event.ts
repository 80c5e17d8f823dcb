/**
 * CloudTrail-triggered reconcile: the KMS/CloudHSM API-call events of custom key stores and HSMs (the
 * deployment's own, and those member accounts forward to its bus). Reconciles only the stores the
 * event names, in the scope it is about; and the follow-ups of every function (the follow-up queue's
 * delayed messages), each the one store it names. Operators' changes have their own function (on-change.ts),
 * so that a flood of these events never holds one up.
 */
import { type InvocationFactory, lambdaInvocation, makeTargetedHandler } from '../shared/runtime/lambda.js';
import { parseOnEvent } from '../shared/runtime/triggers.js';

export function makeHandler(factory: InvocationFactory) {
  return makeTargetedHandler(parseOnEvent, factory);
}

export const handler = makeHandler(lambdaInvocation);
