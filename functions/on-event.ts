/**
 * CloudTrail-triggered reconcile: the KMS/CloudHSM API-call events of custom key stores and HSMs (the
 * deployment's own, and those member accounts forward to its bus). Reconciles only the stores the
 * event names, in the scope it is about. Operators' changes have their own function (on-change.ts),
 * so that a flood of these events never holds one up.
 */
import { type InvocationFactory, lambdaInvocation, makeTargetedHandler } from '../shared/runtime/lambda.js';
import { parseCloudTrailEvent } from '../shared/runtime/triggers.js';

export function makeHandler(factory: InvocationFactory) {
  return makeTargetedHandler(parseCloudTrailEvent, factory);
}

export const handler = makeHandler(lambdaInvocation);
