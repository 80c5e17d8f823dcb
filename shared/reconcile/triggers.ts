/**
 * What an incoming event asks the reconciler to look at. Nothing here trusts an event's contents
 * beyond *which* stores it names: every run re-reads live state.
 */
import * as z from 'zod/mini';
import { storeNameOfOperatorKey } from '../domain/table-keys.js';

/** The stores a trigger names, by name, store id or CloudHSM cluster id. */
export interface TriggerTarget {
  trigger: 'cloudtrail' | 'stream';
  names: string[];
  ids: string[];
  clusterIds: string[];
  /** Who connected or disconnected a store and when, where the CloudTrail event says (it decides nothing by itself). */
  changes?: ReportedChange[];
}

/** A connect or disconnect CloudTrail reported: the store it names, who made it and when (epoch ms). */
export interface ReportedChange {
  storeId: string | null;
  storeName: string | null;
  by: string | null;
  at: number | null;
  eventName: string;
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

const jsonObject = z.record(z.string(), z.unknown());

/** A DynamoDB stream batch; its records are read one by one, so that an error can say which. */
const streamBatch = z.object({ Records: z.array(z.unknown()) });
/** What a stream record must carry: the sort key of the changed item. */
const streamRecord = z.object({ dynamodb: z.object({ Keys: z.object({ sk: z.object({ S: z.string() }) }) }) });

/** An EventBridge "AWS API Call via CloudTrail" event. */
const cloudTrailEvent = z.object({ 'detail-type': z.literal('AWS API Call via CloudTrail'), detail: jsonObject });
/** Request parameters or response elements: CloudTrail writes null for a call that has none. */
const callFields = z.catch(jsonObject, {});
const cloudTrailDetail = z.object({
  eventName: z.string(),
  errorCode: z.optional(z.unknown()),
  requestParameters: callFields,
  responseElements: callFields,
  /** Who made the call and when: kept only as a record of a manual change, never trusted for a decision. */
  userIdentity: z.catch(z.object({ arn: z.optional(z.string()) }), {}),
  eventTime: z.catch(z.optional(z.iso.datetime()), undefined),
});

/** The calls that change a store's connection: a human making one is honoured, not undone. */
const CONNECTION_CALLS: readonly string[] = ['ConnectCustomKeyStore', 'DisconnectCustomKeyStore'];

/**
 * Reads an EventBridge "AWS API Call via CloudTrail" event or a DynamoDB stream batch.
 * Returns null for an event that is readable but names nothing to do (a failed call, an event for
 * another operation, a stream record of a status item). Throws UnknownEventError for any other shape.
 */
export function parseTrigger(event: unknown): TriggerTarget | null {
  const object = jsonObject.safeParse(event);
  if (!object.success) throw new UnknownEventError(`event must be a JSON object, got ${typeof event}`);
  const stream = streamBatch.safeParse(event);
  if (stream.success) return parseStream(stream.data.Records);
  const cloudTrail = cloudTrailEvent.safeParse(event);
  if (cloudTrail.success) return parseCloudTrail(cloudTrail.data.detail);
  const keys = Object.keys(object.data).slice(0, 8).join(', ') || '(none)';
  throw new UnknownEventError(
    `unrecognised event: expected a CloudTrail API-call event (detail-type "AWS API Call via CloudTrail") or a DynamoDB stream batch (Records[]); got keys ${keys}`,
  );
}

function parseCloudTrail(event: Record<string, unknown>): TriggerTarget | null {
  const detail = cloudTrailDetail.safeParse(event);
  if (!detail.success) throw new UnknownEventError('CloudTrail event has no detail.eventName');
  const { eventName, errorCode, requestParameters: request, responseElements: response, userIdentity, eventTime } = detail.data;
  // The rule already leaves out failed calls; a failed call changed nothing, so there is nothing to look at.
  if (errorCode !== undefined && errorCode !== null) return null;
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
  // A record of who changed the connection, when the event says who or when.
  if (CONNECTION_CALLS.includes(eventName) && (userIdentity.arn !== undefined || eventTime !== undefined)) {
    target.changes = [
      {
        storeId: target.ids[0] ?? null,
        storeName: target.names[0] ?? null,
        by: userIdentity.arn ?? null,
        at: eventTime !== undefined ? Date.parse(eventTime) : null,
        eventName,
      },
    ];
  }
  return target;
}

function parseStream(records: unknown[]): TriggerTarget | null {
  const names = new Set<string>();
  for (const [i, record] of records.entries()) {
    const parsed = streamRecord.safeParse(record);
    if (!parsed.success) throw new UnknownEventError(`stream record ${i} has no dynamodb.Keys.sk.S`);
    const name = storeNameOfOperatorKey(parsed.data.dynamodb.Keys.sk.S);
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
