/**
 * What an incoming event asks the reconciler to look at. Nothing here trusts an event's contents
 * beyond *which* stores it names: every run re-reads live state.
 */
import { storeNameOfDesiredKey } from '../domain/table-keys.js';

/** The stores a trigger names, by name, store id or CloudHSM cluster id. */
export interface TriggerTarget {
  trigger: 'cloudtrail' | 'stream';
  names: string[];
  ids: string[];
  clusterIds: string[];
}

/** An event the handler cannot read. It is not retried into a repair: it changes nothing. */
export class UnknownEventError extends Error {
  override readonly name = 'UnknownEventError';
}

/** The KMS and CloudHSM calls whose CloudTrail events name stores to reconcile. */
export const KMS_EVENT_NAMES = [
  'CreateCustomKeyStore',
  'ConnectCustomKeyStore',
  'DisconnectCustomKeyStore',
  'UpdateCustomKeyStore',
  'DeleteCustomKeyStore',
] as const;
export const CLOUDHSM_EVENT_NAMES = ['CreateHsm', 'DeleteHsm', 'DeleteCluster'] as const;

/**
 * Reads an EventBridge "AWS API Call via CloudTrail" event or a DynamoDB stream batch.
 * Returns null for an event that is readable but names nothing to do (a failed call, an event for
 * another operation, a stream record of a status item). Throws UnknownEventError for any other shape.
 */
export function parseTrigger(event: unknown): TriggerTarget | null {
  if (!isObject(event)) throw new UnknownEventError(`event must be a JSON object, got ${typeof event}`);
  if (Array.isArray(event.Records)) return parseStream(event.Records);
  if (event['detail-type'] === 'AWS API Call via CloudTrail' && isObject(event.detail)) return parseCloudTrail(event.detail);
  const keys = Object.keys(event).slice(0, 8).join(', ') || '(none)';
  throw new UnknownEventError(
    `unrecognised event: expected a CloudTrail API-call event (detail-type "AWS API Call via CloudTrail") or a DynamoDB stream batch (Records[]); got keys ${keys}`,
  );
}

function parseCloudTrail(detail: Record<string, unknown>): TriggerTarget | null {
  const eventName = detail.eventName;
  if (typeof eventName !== 'string') throw new UnknownEventError('CloudTrail event has no detail.eventName');
  // The rule already leaves out failed calls; a failed call changed nothing, so there is nothing to look at.
  if (detail.errorCode !== undefined && detail.errorCode !== null) return null;
  const request = isObject(detail.requestParameters) ? detail.requestParameters : {};
  const response = isObject(detail.responseElements) ? detail.responseElements : {};
  const target: TriggerTarget = { trigger: 'cloudtrail', names: [], ids: [], clusterIds: [] };
  if ((KMS_EVENT_NAMES as readonly string[]).includes(eventName)) {
    pushString(target.ids, field(request, 'customKeyStoreId'));
    pushString(target.ids, field(response, 'customKeyStoreId'));
    pushString(target.names, field(request, 'customKeyStoreName'));
    pushString(target.names, field(request, 'newCustomKeyStoreName'));
  } else if ((CLOUDHSM_EVENT_NAMES as readonly string[]).includes(eventName)) {
    pushString(target.clusterIds, field(request, 'clusterId'));
  } else {
    return null;
  }
  if (target.ids.length + target.names.length + target.clusterIds.length === 0) {
    throw new UnknownEventError(`CloudTrail ${eventName} event names no custom key store or cluster`);
  }
  return target;
}

function parseStream(records: unknown[]): TriggerTarget | null {
  const names = new Set<string>();
  for (const [i, record] of records.entries()) {
    const sk = isObject(record) && isObject(record.dynamodb) && isObject(record.dynamodb.Keys) ? record.dynamodb.Keys.sk : undefined;
    const value = isObject(sk) ? sk.S : undefined;
    if (typeof value !== 'string') throw new UnknownEventError(`stream record ${i} has no dynamodb.Keys.sk.S`);
    const name = storeNameOfDesiredKey(value);
    if (name !== null) names.add(name);
  }
  return names.size === 0 ? null : { trigger: 'stream', names: [...names], ids: [], clusterIds: [] };
}

/** CloudTrail writes request parameters in camelCase; accept the API's PascalCase too. */
function field(object: Record<string, unknown>, camel: string): unknown {
  return object[camel] ?? object[camel[0]!.toUpperCase() + camel.slice(1)];
}

function pushString(list: string[], value: unknown): void {
  if (typeof value === 'string' && value.length > 0 && !list.includes(value)) list.push(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
