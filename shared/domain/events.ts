/**
 * The on-call contract: zod schemas of every event detail, the `ReconcilerEvent` the
 * EventBridge adapter publishes (Source `cks-reconciler`, DetailType = `detailType`, Detail = `detail`),
 * and pure builders. Subscribers may validate with {@link eventSchemas}; the schemas accept extra
 * fields so that adding one stays compatible within `schemaVersion` 1.
 */
import * as z from 'zod/mini';
import './zod-messages.js';
import { type FieldError, formatFieldErrors } from './desired-schema.js';
import { FINDING_KINDS, type FindingChange, type OpenFinding } from './health.js';
import { fingerprint } from './plan/hash.js';
import { SITUATION_RUNBOOKS } from './playbooks.js';
import {
  ACTION_KINDS,
  type ActionKind,
  CONNECTION_ERROR_CODES,
  CONNECTION_STATES,
  type ConnectionState,
  type Decision,
  type DesiredStore,
  type EventDetailType,
  type EventDraft,
  MODES,
  type ObservedStore,
  type PlanInput,
  type Scope,
} from './types.js';

// The annotation fails to compile if an ActionKind is missing from ACTION_KINDS.
const actionKind: z.ZodMiniEnum<{ [K in ActionKind]: K }> = z.enum(ACTION_KINDS);
const count = z.number().check(z.int(), z.minimum(0));
const isoTime = z.iso.datetime();
/** A string that is not empty. */
const text = z.string().check(z.minLength(1));

/**
 * Stable id of one event: the same for every delivery of it (a run that re-sends what a crashed run
 * recorded but could not confirm sends the same id), different for any other event. Subscribers drop
 * an `eventId` they have seen; EventBridge's own `id` differs per delivery.
 */
const eventId = text;

/** Fields every store event carries. `connectionState` is `MISSING` when KMS has no such store. */
export const storeEventBaseSchema = z.object({
  schemaVersion: z.literal(1),
  eventId,
  storeName: text,
  storeId: z.nullable(z.string()),
  accountId: text,
  region: text,
  incidentId: z.nullable(z.string()),
  connectionState: z.nullable(z.enum([...CONNECTION_STATES, 'MISSING'])),
  connectionErrorCode: z.nullable(z.enum(CONNECTION_ERROR_CODES)),
  mode: z.enum(MODES),
  dryRun: z.boolean(),
  reason: text,
  /** The documented fix, where one helps (required on `Repair Escalated`). */
  runbook: z.optional(text),
});

/** Repair events always belong to an incident and say where in it they are. */
const repairSchema = z.extend(storeEventBaseSchema, {
  incidentId: text,
  attempt: count,
  maxAttempts: z.number().check(z.int(), z.minimum(1)),
});

export const storeDriftDetectedSchema = z.extend(storeEventBaseSchema, {
  /** Names of the fields that differ from the desired state (e.g. `cloudHsmClusterId`, `xksProxy.uriPath`, `connectionState`). */
  drift: z.array(text).check(z.minLength(1)),
  /** What the reconciler does about it (`none`: reported only). */
  action: actionKind,
});
export const repairStartedSchema = z.extend(repairSchema, { action: actionKind });
export const repairStepSchema = z.extend(repairSchema, { action: actionKind });
export const repairSucceededSchema = z.extend(repairSchema, {
  /** The escalated (paged) incident this success resolves, when there is one: incident tools resolve that alert. */
  resolvesEscalation: z.optional(text),
});
export const repairFailedSchema = z.extend(repairSchema, {
  /** When the next attempt may start; null when this failure ends the automatic repair (escalation). */
  nextAttemptAt: z.nullable(isoTime),
});
export const repairEscalatedSchema = z.extend(repairSchema, { runbook: text });
export const storeMissingSchema = z.extend(storeEventBaseSchema, { connectionState: z.literal('MISSING') });

/** A human connected or disconnected the store by hand; it is held until `cks resume` or a new desired generation. */
export const manualChangeDetectedSchema = z.extend(storeEventBaseSchema, {
  runbook: text,
  /** The principal CloudTrail named, or null when the change was only observed. */
  changedBy: z.nullable(text),
  /** When the change was made (CloudTrail) or first observed. */
  changedAt: isoTime,
});

/**
 * A change that needs a second person (whom the store trusts, a higher login budget, `reconnect`, a
 * login-budget reset) waits until two persons sign it; once per change, its `eventId` stable per store,
 * generation and digest.
 */
export const approvalRequiredSchema = z.extend(storeEventBaseSchema, {
  runbook: text,
  /** The desired generation waiting, and the SHA-256 of its guarded values: what a signature signs. */
  generation: z.number().check(z.int(), z.minimum(0)),
  digest: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  /** The persons who signed it so far, as IAM proved them (empty: nobody, so who proposed it is unknown). */
  proposedBy: z.array(text),
  /** What it changes, old → new (a secret only ever by its ARN). */
  changes: z.array(z.object({ field: text, from: z.nullable(z.string()), to: z.nullable(z.string()) })).check(z.minLength(1)),
  /** The fields waiting, e.g. `xksProxy.uriEndpoint`. */
  drift: z.array(text).check(z.minLength(1)),
  /** The command a second person runs to sign it. */
  command: text,
});

/**
 * A weakening of the scope's settings (approvalForCloudHsm off, a higher blast radius) waits for a
 * second person's signature; once per change (its generation and digest). A scope event: no store.
 */
export const settingsApprovalRequiredSchema = z.object({
  schemaVersion: z.literal(1),
  eventId,
  accountId: text,
  region: text,
  subject: z.literal('SETTINGS'),
  /** The desired settings' generation and the digest of their guarded values: what a signature signs. */
  generation: count,
  digest: text,
  /** The persons who signed the change so far (empty: nobody, the proposer is unknown). */
  proposedBy: z.array(text),
  /** Each setting the change weakens, from the value in force to the desired one. */
  changes: z.array(z.object({ field: text, from: z.union([z.boolean(), z.number()]), to: z.union([z.boolean(), z.number()]) })).check(z.minLength(1)),
  /** The command a second person runs to sign it. */
  command: text,
  dryRun: z.boolean(),
  reason: text,
  runbook: text,
});

/**
 * An invalid desired item. `storeName` is the name from the item's table key, or null when the item
 * has no usable name; `mode` is null because an invalid item has no trustworthy mode.
 */
export const desiredStateInvalidSchema = z.extend(storeEventBaseSchema, {
  storeName: z.nullable(text),
  mode: z.nullable(z.enum(MODES)),
  errors: z.array(z.object({ path: z.string(), message: text })).check(z.minLength(1)),
});

/** One per full pass of a scope: its stores at a glance. A regional incident is paged through this event (with its runbook). */
export const sweepSummarySchema = z.object({
  schemaVersion: z.literal(1),
  eventId,
  accountId: text,
  region: text,
  reconcileId: text,
  trigger: text,
  /** Managed stores by observed connection state (`MISSING`: not in KMS). */
  byState: z.object({
    CONNECTED: count,
    CONNECTING: count,
    FAILED: count,
    DISCONNECTED: count,
    DISCONNECTING: count,
    MISSING: count,
  }),
  managed: count,
  unmanaged: count,
  invalid: count,
  /** Mutating calls made in this pass. */
  actions: count,
  /** Stores escalated to a human in this pass. */
  escalations: count,
  /** True when no store was acted on (kill switch, or regional incident). */
  dryRun: z.boolean(),
  /** When the current regional incident began; null when there is none. */
  regionalIncidentSince: z.nullable(isoTime),
  /** True on the one pass that found a regional incident beginning: the page. */
  regionalIncidentStarted: z.boolean(),
  killSwitch: z.boolean(),
  regionalIncident: z.boolean(),
  reason: text,
  /** Present when `regionalIncident` is true. */
  runbook: z.optional(text),
});

/**
 * An account and Region the reconciler could not reach (its member role could not be assumed, or its
 * first reads failed): none of its stores is observed or repaired until it is reached again. Once per
 * incident; the incident ends at the first run that reaches the scope.
 */
export const scopeUnreachableSchema = z.object({
  schemaVersion: z.literal(1),
  eventId,
  accountId: text,
  region: text,
  incidentId: text,
  /** The AWS error code of the call that failed (e.g. `AccessDenied`, `ThrottlingException`, `UnrecognizedClientException`). */
  errorCode: text,
  /** That call, as `Service.Operation` (e.g. `STS.AssumeRole`, `KMS.DescribeCustomKeyStores`). */
  operation: text,
  /** When the scope was first found unreachable in this incident. */
  since: isoTime,
  /** Always false: a dry run (`cks plan`) reports nothing. */
  dryRun: z.boolean(),
  reason: text,
});

/**
 * A CONNECTED store at risk of failing (a health finding: a certificate about to expire, an old proxy
 * credential, a degraded external key manager, proxy errors or latency, a cluster one HSM or one zone
 * from failing). Once per finding, until its `Store Risk Cleared`.
 */
export const storeAtRiskSchema = z.extend(storeEventBaseSchema, {
  /** The finding, e.g. `xksCertificateExpiring`, `clusterTooFewHsms`. */
  finding: z.enum(FINDING_KINDS),
  runbook: text,
  /** When the finding was opened (this event). */
  openedAt: isoTime,
});

/** A finding that no longer holds: it resolves the `Store At Risk` whose `eventId` is `resolves`. */
export const storeRiskClearedSchema = z.extend(storeEventBaseSchema, {
  finding: z.enum(FINDING_KINDS),
  /** The `eventId` of the `Store At Risk` this clears. */
  resolves: text,
  openedAt: isoTime,
});

/** The schema of each detail-type. */
export const eventSchemas = {
  'Store Drift Detected': storeDriftDetectedSchema,
  'Repair Started': repairStartedSchema,
  'Repair Step': repairStepSchema,
  'Repair Succeeded': repairSucceededSchema,
  'Repair Failed': repairFailedSchema,
  'Repair Escalated': repairEscalatedSchema,
  'Store Missing': storeMissingSchema,
  'Desired State Invalid': desiredStateInvalidSchema,
  'Sweep Summary': sweepSummarySchema,
  'Manual Change Detected': manualChangeDetectedSchema,
  'Approval Required': z.union([approvalRequiredSchema, settingsApprovalRequiredSchema]),
  'Scope Unreachable': scopeUnreachableSchema,
  'Store At Risk': storeAtRiskSchema,
  'Store Risk Cleared': storeRiskClearedSchema,
} as const satisfies Record<EventDetailType, z.ZodMiniType>;

/** The detail of one detail-type. */
export type EventDetail<T extends EventDetailType> = z.infer<(typeof eventSchemas)[T]>;

/** One event to publish: `detailType` is the EventBridge DetailType, `detail` its Detail. */
export type ReconcilerEvent = { [T in EventDetailType]: { detailType: T; detail: EventDetail<T> } }[EventDetailType];

/** Where a store event happens and what was known of the store. */
export interface StoreEventContext {
  scope: Scope;
  desired: DesiredStore;
  observed: ObservedStore | null;
  /** The store's incident after the decision; a draft's own `incidentId` wins (a closed incident's success). */
  incidentId: string | null;
  dryRun: boolean;
  /** When the decision was made (epoch ms) and the draft's place in it: with the incident they make the event id. */
  decidedAt: number;
  index: number;
}

/**
 * Turns a plan's event draft into a full event. Fields a draft leaves out get neutral values
 * (`action` none, `attempt` 0, `maxAttempts` the desired one) so that the event always validates.
 */
export function storeEvent(draft: EventDraft, ctx: StoreEventContext): ReconcilerEvent {
  const incidentId = draft.incidentId ?? ctx.incidentId;
  const base = {
    schemaVersion: 1 as const,
    eventId: eventIdOf([ctx.scope.accountId, ctx.scope.region, ctx.desired.name, incidentId, draft.detailType, ctx.decidedAt, ctx.index]),
    storeName: ctx.desired.name,
    storeId: ctx.observed?.id ?? null,
    accountId: ctx.scope.accountId,
    region: ctx.scope.region,
    incidentId,
    connectionState: ctx.observed?.connectionState ?? ('MISSING' as const),
    connectionErrorCode: ctx.observed?.connectionErrorCode ?? null,
    mode: ctx.desired.mode,
    dryRun: ctx.dryRun,
    reason: draft.reason,
    ...(draft.runbook !== undefined ? { runbook: draft.runbook } : {}),
  };
  const repair = {
    ...base,
    // A repair event outside an incident would be a planning bug; name it rather than drop the event.
    incidentId: base.incidentId ?? 'none',
    attempt: draft.attempt ?? 0,
    maxAttempts: draft.maxAttempts ?? ctx.desired.maxAttempts,
  };
  const action = draft.action ?? 'none';
  switch (draft.detailType) {
    case 'Store Drift Detected':
      return { detailType: draft.detailType, detail: { ...base, drift: draft.drift ?? ['connectionState'], action } };
    case 'Repair Started':
    case 'Repair Step':
      return { detailType: draft.detailType, detail: { ...repair, action } };
    case 'Repair Succeeded':
      return {
        detailType: draft.detailType,
        detail: { ...repair, ...(draft.resolvesEscalation !== undefined ? { resolvesEscalation: draft.resolvesEscalation } : {}) },
      };
    case 'Repair Failed':
      return { detailType: draft.detailType, detail: { ...repair, nextAttemptAt: draft.nextAttemptAt ?? null } };
    case 'Repair Escalated':
      return { detailType: draft.detailType, detail: { ...repair, runbook: draft.runbook ?? SITUATION_RUNBOOKS.retriesExhausted } };
    case 'Store Missing':
      return { detailType: draft.detailType, detail: { ...base, connectionState: 'MISSING' } };
    case 'Manual Change Detected':
      return {
        detailType: draft.detailType,
        detail: {
          ...base,
          runbook: draft.runbook ?? SITUATION_RUNBOOKS.manualDisconnect,
          changedBy: draft.changedBy ?? null,
          changedAt: draft.changedAt ?? '',
        },
      };
    case 'Approval Required': {
      const generation = draft.generation ?? ctx.desired.generation;
      const digest = draft.digest ?? '';
      return {
        detailType: draft.detailType,
        detail: {
          ...base,
          // One event per change, however many runs (or a retried publish) send it.
          eventId: eventIdOf(['approval', ctx.scope.accountId, ctx.scope.region, ctx.desired.name, generation, digest]),
          runbook: draft.runbook ?? SITUATION_RUNBOOKS.approvalRequired,
          generation,
          digest,
          proposedBy: draft.proposedBy ?? [],
          changes: draft.changes ?? [],
          drift: draft.drift ?? [],
          command: `cks approve ${ctx.desired.name} --scope ${ctx.scope.accountId}/${ctx.scope.region}`,
        },
      };
    }
    default: {
      const _exhaustive: never = draft.detailType;
      throw new Error(`unknown detail-type ${String(_exhaustive)}`);
    }
  }
}

/** The events a decision asks for, as published: each draft with the store's context and the decision's incident. */
export function decisionEvents(decision: Decision, input: PlanInput): ReconcilerEvent[] {
  return decision.events.map((draft, index) =>
    storeEvent(draft, {
      scope: input.scope,
      desired: input.desired,
      observed: input.observed,
      incidentId: decision.nextStatus.incidentId,
      dryRun: decision.dryRun,
      decidedAt: input.now,
      index,
    }),
  );
}

/** A `Desired State Invalid` event: the item is skipped until it is fixed; the errors name paths, never values. */
export function invalidDesiredEvent(input: {
  scope: Scope;
  storeName: string | null;
  generation: number;
  errors: readonly FieldError[];
}): ReconcilerEvent {
  const list = formatFieldErrors(input.errors);
  return {
    detailType: 'Desired State Invalid',
    detail: {
      schemaVersion: 1,
      eventId: eventIdOf(['invalid', input.scope.accountId, input.scope.region, input.storeName, input.generation]),
      storeName: input.storeName,
      storeId: null,
      accountId: input.scope.accountId,
      region: input.scope.region,
      incidentId: null,
      connectionState: null,
      connectionErrorCode: null,
      mode: null,
      dryRun: false,
      reason: `desired item ${input.storeName ?? '(without a usable name)'} is invalid and is skipped until it is fixed: ${list}`,
      errors: input.errors.map((e) => ({ path: e.path, message: e.message })),
    },
  };
}

/** What a sweep saw and did, for {@link sweepSummaryEvent}. */
export interface SweepSummaryInput {
  scope: Scope;
  reconcileId: string;
  trigger: string;
  byState: Record<ConnectionState | 'MISSING', number>;
  managed: number;
  unmanaged: number;
  invalid: number;
  actions: number;
  escalations: number;
  regionalIncident: boolean;
  /** Epoch ms the current regional incident began (null: none), and whether this pass began it. */
  regionalIncidentSince: number | null;
  regionalIncidentStarted: boolean;
  killSwitch: boolean;
}

/** The `Sweep Summary` event; during a regional incident it is the page, with the regional runbook. */
export function sweepSummaryEvent(input: SweepSummaryInput): ReconcilerEvent {
  const { scope, regionalIncidentSince, ...counts } = input;
  const failed = input.byState.FAILED;
  const reason = input.regionalIncident
    ? `regional incident: ${failed} of ${input.managed} managed stores are FAILED at once; no store is being repaired`
    : input.killSwitch
      ? `kill switch on: ${input.managed} managed stores observed, none acted on`
      : `${input.managed} managed stores (${input.byState.CONNECTED} CONNECTED, ${failed} FAILED), ${input.actions} actions, ${input.escalations} escalations`;
  return {
    detailType: 'Sweep Summary',
    detail: {
      schemaVersion: 1,
      // The page of a regional incident is named by the incident (its start), whichever pass sends it.
      eventId:
        input.regionalIncidentStarted && regionalIncidentSince !== null
          ? eventIdOf(['regional', scope.accountId, scope.region, regionalIncidentSince])
          : eventIdOf(['summary', scope.accountId, scope.region, input.reconcileId]),
      accountId: scope.accountId,
      region: scope.region,
      ...counts,
      byState: { ...input.byState },
      regionalIncidentSince: regionalIncidentSince === null ? null : new Date(regionalIncidentSince).toISOString(),
      dryRun: input.killSwitch || input.regionalIncident,
      reason,
      ...(input.regionalIncident ? { runbook: SITUATION_RUNBOOKS.regionalIncident } : {}),
    },
  };
}

/** What waits of a weakening of the settings, for {@link settingsApprovalRequiredEvent}. */
export interface SettingsApprovalInput {
  scope: Scope;
  generation: number;
  digest: string;
  proposedBy: readonly string[];
  changes: ReadonlyArray<{ field: string; from: boolean | number; to: boolean | number }>;
}

/** The `Approval Required` of a settings weakening: the same `eventId` for one change (generation and digest), however often it is sent. */
export function settingsApprovalRequiredEvent(input: SettingsApprovalInput): ReconcilerEvent {
  const { scope, generation, digest } = input;
  const command = `cks approve --settings --scope ${scope.accountId}/${scope.region}`;
  const changed = input.changes.map((c) => `${c.field} ${String(c.from)} -> ${String(c.to)}`).join(', ');
  const by = input.proposedBy.length > 0 ? input.proposedBy.join(', ') : 'nobody has signed it';
  return {
    detailType: 'Approval Required',
    detail: {
      schemaVersion: 1,
      eventId: eventIdOf(['settings-approval', scope.accountId, scope.region, generation, digest]),
      accountId: scope.accountId,
      region: scope.region,
      subject: 'SETTINGS',
      generation,
      digest,
      proposedBy: [...input.proposedBy],
      changes: input.changes.map((c) => ({ ...c })),
      command,
      dryRun: false,
      reason: `settings generation ${generation} weakens ${changed} (proposed by ${by}); the values in force apply until a second person signs it: ${command}`,
      runbook: SITUATION_RUNBOOKS.settingsApprovalRequired,
    },
  };
}

/** What a failed attempt to reach a scope left, for {@link scopeUnreachableEvent}. */
export interface ScopeUnreachableInput {
  scope: Scope;
  incidentId: string;
  errorCode: string;
  operation: string;
  /** Epoch ms the incident began. */
  since: number;
}

/** The `Scope Unreachable` event of an incident: the same `eventId` however often it is sent. */
export function scopeUnreachableEvent(input: ScopeUnreachableInput): ReconcilerEvent {
  const { scope, incidentId, errorCode, operation } = input;
  return {
    detailType: 'Scope Unreachable',
    detail: {
      schemaVersion: 1,
      eventId: eventIdOf(['unreachable', scope.accountId, scope.region, incidentId]),
      accountId: scope.accountId,
      region: scope.region,
      incidentId,
      errorCode,
      operation,
      since: new Date(input.since).toISOString(),
      dryRun: false,
      reason: `${operation} failed with ${errorCode}: no store of ${scope.accountId}/${scope.region} is observed or repaired until the reconciler reaches it again`,
    },
  };
}

/** Where a finding event happens: the store as desired and observed, in its scope. */
export interface FindingEventContext {
  scope: Scope;
  desired: DesiredStore;
  observed: ObservedStore | null;
}

/** The `eventId` of the `Store At Risk` of a finding opened at `openedAt` (ms): the same however often it is sent. */
export function findingEventId(ctx: FindingEventContext, kind: string, openedAt: number): string {
  return eventIdOf(['risk', ctx.scope.accountId, ctx.scope.region, ctx.desired.name, kind, openedAt]);
}

function findingBase(ctx: FindingEventContext, eventId: string, reason: string) {
  return {
    schemaVersion: 1 as const,
    eventId,
    storeName: ctx.desired.name,
    storeId: ctx.observed?.id ?? null,
    accountId: ctx.scope.accountId,
    region: ctx.scope.region,
    incidentId: null,
    connectionState: ctx.observed?.connectionState ?? ('MISSING' as const),
    connectionErrorCode: ctx.observed?.connectionErrorCode ?? null,
    mode: ctx.desired.mode,
    dryRun: false,
    reason,
  };
}

/** The `Store At Risk` of a finding opened now, and the open finding the status keeps. */
export function storeAtRiskEvent(ctx: FindingEventContext, change: FindingChange, now: number): { event: ReconcilerEvent; finding: OpenFinding } {
  const eventId = findingEventId(ctx, change.kind, now);
  return {
    event: {
      detailType: 'Store At Risk',
      detail: { ...findingBase(ctx, eventId, change.reason), finding: change.kind, runbook: change.runbook, openedAt: new Date(now).toISOString() },
    },
    finding: { kind: change.kind, openedAt: now, eventId, reason: change.reason },
  };
}

/** The `Store Risk Cleared` of an open finding. */
export function storeRiskClearedEvent(ctx: FindingEventContext, finding: OpenFinding): ReconcilerEvent {
  return {
    detailType: 'Store Risk Cleared',
    detail: {
      ...findingBase(
        ctx,
        eventIdOf(['risk-cleared', finding.eventId]),
        `no longer at risk: ${finding.reason} (opened ${new Date(finding.openedAt).toISOString()})`,
      ),
      finding: finding.kind,
      resolves: finding.eventId,
      openedAt: new Date(finding.openedAt).toISOString(),
    },
  };
}

function eventIdOf(parts: unknown[]): string {
  return `evt-${fingerprint(parts)}`;
}
