/**
 * The edge: every inbound event is read here, and only here, into what it asks of the reconciler: in
 * which scope, which stores. The schedule asks for the fleet pass; a scope message (the coordinator's,
 * to the worker) for one scope's every store; a CloudTrail event or a desired-state stream batch for
 * the stores it names, in the scope it is about; a follow-up for the one store it names. Nothing here trusts an event's contents beyond
 * *which* stores and scope it names: every run re-reads live state.
 */
import * as z from 'zod/mini';
import { scopeOfOperatorPartition, signedSubject, signerOfPartition, storeNameOfOperatorKey, storeOfSubject } from '../domain/table-keys.js';
import type { Scope } from '../domain/types.js';
import { ACCOUNT_PATTERN, REGION_PATTERN, ScopeSyntaxError, scopeLabel } from '../fleet/scope.js';
import type { ReportedChange } from '../reconcile/reconcile-scope.js';

/** The stores an event names, by name, store id or CloudHSM cluster id. */
export interface StoreTargets {
  names: string[];
  ids: string[];
  clusterIds: string[];
}

/**
 * A CloudTrail event or a stream batch, read: the scope it is about (null: it does not say, the
 * deployment's own) and the stores it names; a CloudTrail connect or disconnect also says who made it.
 */
export type TargetedEvent =
  | { trigger: 'cloudtrail'; scope: Scope | null; targets: StoreTargets; changes: ReportedChange[] }
  | { trigger: 'stream' | 'followup'; scope: Scope | null; targets: StoreTargets };

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
/** What a stream record must carry: the keys of the changed item (its partition says the scope). */
const streamRecord = z.object({
  dynamodb: z.object({ Keys: z.object({ pk: z.catch(z.optional(z.object({ S: z.string() })), undefined), sk: z.object({ S: z.string() }) }) }),
});

/** An EventBridge "AWS API Call via CloudTrail" event. */
const cloudTrailEvent = z.object({
  'detail-type': z.literal('AWS API Call via CloudTrail'),
  /** The envelope's account and Region: where the call was made unless the detail says. */
  account: z.optional(z.string()),
  region: z.optional(z.string()),
  detail: jsonObject,
});
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
  /** The account and Region of the call (a member account's event forwarded to the central bus). */
  recipientAccountId: z.catch(z.optional(z.string()), undefined),
  awsRegion: z.catch(z.optional(z.string()), undefined),
});

/** An EventBridge Scheduled Event: the sweep's schedule. */
const scheduledEvent = z.object({ source: z.literal('aws.events') });

/** The calls that change a store's connection: a human making one is honoured, not undone. */
const CONNECTION_CALLS: readonly string[] = ['ConnectCustomKeyStore', 'DisconnectCustomKeyStore'];

/** The sweep function's event: its schedule, asking for the fleet pass. Anything else is an UnknownEventError. */
export function parseSchedule(event: unknown): { trigger: 'schedule' } {
  if (scheduledEvent.safeParse(event).success) return { trigger: 'schedule' };
  throw new UnknownEventError(
    `unrecognised event: the sweep function runs on its schedule and expects an EventBridge Scheduled Event (source "aws.events"); got ${shapeOf(event)}`,
  );
}

/** The body of a message the coordinator sent the worker: the one scope to reconcile; anything else is an error naming what it got. */
export function parseScopeMessage(body: string): Scope {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new ScopeSyntaxError('scope message is not JSON: expected {"accountId": "<12 digits>", "region": "<region>"}');
  }
  const { accountId, region, ...rest } = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  if (
    typeof accountId !== 'string' ||
    !ACCOUNT_PATTERN.test(accountId) ||
    typeof region !== 'string' ||
    !REGION_PATTERN.test(region) ||
    Object.keys(rest).length > 0
  ) {
    throw new ScopeSyntaxError(`scope message must be {"accountId": "<12 digits>", "region": "<region>"}, got ${body.slice(0, 200)}`);
  }
  return { accountId, region };
}

/**
 * The on-event function's event: an EventBridge "AWS API Call via CloudTrail" event, in the account
 * and Region of the call (`detail.recipientAccountId`/`awsRegion`, else the envelope's). Empty for an
 * event that is readable but names nothing to do (a failed call, an event for another operation).
 * Throws UnknownEventError for any other shape (a stream batch included: that is onChange's).
 */
export function parseCloudTrailEvent(event: unknown): TargetedEvent[] {
  if (!jsonObject.safeParse(event).success) throw new UnknownEventError(`event must be a JSON object, got ${typeof event}`);
  const cloudTrail = cloudTrailEvent.safeParse(event);
  if (!cloudTrail.success) {
    throw new UnknownEventError(
      `unrecognised event: the on-event function expects a CloudTrail API-call event (detail-type "AWS API Call via CloudTrail"); got ${shapeOf(event)}`,
    );
  }
  const read = parseCloudTrail(cloudTrail.data.detail, cloudTrail.data);
  return read === null ? [] : [read];
}

/** A batch of the follow-up queue, as Lambda's SQS event source delivers it. */
const followUpBatch = z.object({ Records: z.array(z.object({ eventSource: z.literal('aws:sqs'), body: z.string() })) });

/**
 * The on-event function's event: a batch of follow-ups (the follow-up queue), one part per message,
 * or else a CloudTrail event (see {@link parseCloudTrailEvent}). A malformed follow-up refuses the batch, naming it.
 */
export function parseOnEvent(event: unknown): TargetedEvent[] {
  const batch = followUpBatch.safeParse(event);
  return batch.success ? batch.data.Records.map((record) => parseFollowUpMessage(record.body)) : parseCloudTrailEvent(event);
}

/** A follow-up message: `{"accountId", "region", "store"}`, the one store to look at again in that scope. */
export function parseFollowUpMessage(body: string): TargetedEvent {
  const expected = '{"accountId": "<12 digits>", "region": "<region>", "store": "<store name>"}';
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new UnknownEventError(`follow-up message is not JSON: expected ${expected}`);
  }
  const { accountId, region, store, ...rest } = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  if (
    typeof accountId !== 'string' ||
    !ACCOUNT_PATTERN.test(accountId) ||
    typeof region !== 'string' ||
    !REGION_PATTERN.test(region) ||
    typeof store !== 'string' ||
    store.length === 0 ||
    store.length > 256 ||
    Object.keys(rest).length > 0
  ) {
    throw new UnknownEventError(`follow-up message must be ${expected}, got ${body.slice(0, 200)}`);
  }
  return { trigger: 'followup', scope: { accountId, region }, targets: { names: [store], ids: [], clusterIds: [] } };
}

/**
 * The on-change function's event: a DynamoDB stream batch of the desired-state table, one part per
 * scope of its records' partitions, records in their order. Empty when no record names a store (status
 * items). Throws UnknownEventError for any other shape (a CloudTrail event included: that is
 * onEvent's), the whole batch refused when one record is malformed (naming it).
 */
export function parseStreamBatch(event: unknown): TargetedEvent[] {
  if (!jsonObject.safeParse(event).success) throw new UnknownEventError(`event must be a JSON object, got ${typeof event}`);
  const stream = streamBatch.safeParse(event);
  if (!stream.success) {
    throw new UnknownEventError(`unrecognised event: the on-change function expects a DynamoDB stream batch (Records[]); got ${shapeOf(event)}`);
  }
  return parseStream(stream.data.Records);
}

/** What an unrecognised event is, for its error: its first keys, or its type. */
function shapeOf(event: unknown): string {
  if (!jsonObject.safeParse(event).success) return `a ${event === null ? 'null' : typeof event}`;
  return `keys ${
    Object.keys(event as object)
      .slice(0, 8)
      .join(', ') || '(none)'
  }`;
}

function parseCloudTrail(
  event: Record<string, unknown>,
  envelope: { account?: string | undefined; region?: string | undefined },
): TargetedEvent | null {
  const detail = cloudTrailDetail.safeParse(event);
  if (!detail.success) throw new UnknownEventError('CloudTrail event has no detail.eventName');
  const { eventName, errorCode, requestParameters: request, responseElements: response, userIdentity, eventTime } = detail.data;
  // The rule already leaves out failed calls; a failed call changed nothing, so there is nothing to look at.
  if (errorCode !== undefined && errorCode !== null) return null;
  const targets: StoreTargets = { names: [], ids: [], clusterIds: [] };
  if ((KMS_EVENT_NAMES as readonly string[]).includes(eventName)) {
    pushString(targets.ids, field(request, 'customKeyStoreId'));
    pushString(targets.ids, field(response, 'customKeyStoreId'));
    pushString(targets.names, field(request, 'customKeyStoreName'));
    pushString(targets.names, field(request, 'newCustomKeyStoreName'));
  } else if ((CLOUDHSM_EVENT_NAMES as readonly string[]).includes(eventName)) {
    pushString(targets.clusterIds, field(request, 'clusterId'));
  } else {
    return null;
  }
  if (targets.ids.length + targets.names.length + targets.clusterIds.length === 0) {
    throw new UnknownEventError(`CloudTrail ${eventName} event names no custom key store or cluster`);
  }
  const accountId = detail.data.recipientAccountId ?? envelope.account;
  const region = detail.data.awsRegion ?? envelope.region;
  // A record of who changed the connection, when the event says who or when.
  const changes =
    CONNECTION_CALLS.includes(eventName) && (userIdentity.arn !== undefined || eventTime !== undefined)
      ? [
          {
            storeId: targets.ids[0] ?? null,
            storeName: targets.names[0] ?? null,
            by: userIdentity.arn ?? null,
            at: eventTime !== undefined ? Date.parse(eventTime) : null,
            eventName,
          },
        ]
      : [];
  return { trigger: 'cloudtrail', scope: accountId && region ? { accountId, region } : null, targets, changes };
}

function parseStream(records: unknown[]): TargetedEvent[] {
  const parts = new Map<string, { scope: Scope | null; names: Set<string> }>();
  for (const [i, record] of records.entries()) {
    const parsed = streamRecord.safeParse(record);
    if (!parsed.success) throw new UnknownEventError(`stream record ${i} has no dynamodb.Keys.sk.S`);
    const { pk, sk } = parsed.data.dynamodb.Keys;
    // A signature (in its signer's partition) wakes the store it signs, so that an approval applies promptly.
    const signed = pk !== undefined && signerOfPartition(pk.S) !== null ? signedSubject(sk.S) : null;
    const scope = signed?.scope ?? (pk === undefined ? null : scopeOfOperatorPartition(pk.S));
    const label = scope === null ? '' : scopeLabel(scope);
    const part = parts.get(label) ?? { scope, names: new Set<string>() };
    parts.set(label, part);
    const name = signed !== null ? storeOfSubject(signed.subject) : storeNameOfOperatorKey(sk.S);
    if (name !== null) part.names.add(name);
  }
  return [...parts.values()]
    .filter((part) => part.names.size > 0)
    .map(({ scope, names }) => ({ trigger: 'stream', scope, targets: { names: [...names], ids: [], clusterIds: [] } }));
}

/** CloudTrail writes request parameters in camelCase; accept the API's PascalCase too. */
function field(object: Record<string, unknown>, camel: string): unknown {
  return object[camel] ?? object[camel[0]!.toUpperCase() + camel.slice(1)];
}

function pushString(list: string[], value: unknown): void {
  if (typeof value === 'string' && value.length > 0 && !list.includes(value)) list.push(value);
}
