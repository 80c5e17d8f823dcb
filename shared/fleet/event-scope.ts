/**
 * Which account and Region an event is about, so that `onEvent` reconciles there: a CloudTrail event
 * (forwarded to the central bus from a member account, or the deployment's own) in the account and
 * Region of the call; a desired-state stream batch per scope of its records' partitions.
 */
import * as z from 'zod/mini';
import { scopeOfOperatorPartition } from '../domain/table-keys.js';
import type { Scope } from '../domain/types.js';
import { scopeLabel } from './scope.js';

/** A part of an event and its scope; null: the event does not say (the deployment's own). */
export interface ScopedEvent {
  scope: Scope | null;
  event: unknown;
}

const cloudTrail = z.object({
  'detail-type': z.literal('AWS API Call via CloudTrail'),
  account: z.optional(z.string()),
  region: z.optional(z.string()),
  detail: z.object({ recipientAccountId: z.optional(z.string()), awsRegion: z.optional(z.string()) }),
});
const streamBatch = z.object({ Records: z.array(z.unknown()) });
const streamKey = z.object({ dynamodb: z.object({ Keys: z.object({ pk: z.object({ S: z.string() }) }) }) });

/**
 * Splits an event by scope. A CloudTrail event is one part, in the call's account and Region
 * (`detail.recipientAccountId`/`awsRegion`, else the envelope's `account`/`region`); a stream batch is
 * one batch per scope, records in their order; anything else is returned whole, for the trigger parser to judge.
 */
export function splitByScope(event: unknown): ScopedEvent[] {
  const trail = cloudTrail.safeParse(event);
  if (trail.success) {
    const { account, region, detail } = trail.data;
    const accountId = detail.recipientAccountId ?? account;
    const callRegion = detail.awsRegion ?? region;
    return [{ scope: accountId && callRegion ? { accountId, region: callRegion } : null, event }];
  }
  const batch = streamBatch.safeParse(event);
  if (!batch.success) return [{ scope: null, event }];
  const parts = new Map<string, { scope: Scope | null; records: unknown[] }>();
  for (const record of batch.data.Records) {
    const key = streamKey.safeParse(record);
    const scope = key.success ? scopeOfOperatorPartition(key.data.dynamodb.Keys.pk.S) : null;
    const label = scope ? scopeLabel(scope) : '';
    const part = parts.get(label) ?? { scope, records: [] };
    part.records.push(record);
    parts.set(label, part);
  }
  return [...parts.values()].map(({ scope, records }) => ({ scope, event: { ...(event as object), Records: records } }));
}
