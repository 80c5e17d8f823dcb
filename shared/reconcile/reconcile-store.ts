/**
 * One store's run: lease → re-observe → plan → act → record → emit. Each run advances the store by
 * at most one step and records where it is; a failure ends this store's run, never the pass.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { type FieldError, parseDesiredItem } from '../domain/desired-schema.js';
import { decisionEvents, type ReconcilerEvent } from '../domain/events.js';
import { plan, planActionFailure, planCallReturned } from '../domain/plan.js';
import { sameData } from '../domain/same-data.js';
import { effectiveSettings, guardedOf } from '../domain/settings.js';
import {
  type Action,
  type Decision,
  type DesiredStore,
  describeLastAction,
  type ObservedStore,
  type PlanInput,
  type SecretField,
  type StoreStatus,
} from '../domain/types.js';
import { AwsCallError, EventsRefusedError, scrubbedError } from '../errors.js';
import { recordRepair } from '../metrics.js';
import type { ReconcileDeps, ResolvedUpdate, SecretsPort, StoreRecord } from './ports.js';

/** What started a run; `followup`: a store's own follow-up (a delayed message a run before it asked for). */
export type Trigger = 'schedule' | 'cloudtrail' | 'stream' | 'cli' | 'demo' | 'followup';

/** leased: another run holds the store; invalid: its desired item fails validation; unchanged: nothing to do or record; changed: the desired item changed during the run. */
export type Skip = 'leased' | 'invalid' | 'unchanged' | 'changed';

/** What happened to one store in a run: what was requested (the decision) apart from what was taken. */
export interface StoreOutcome {
  name: string;
  storeId: string | null;
  desired: DesiredStore | null;
  observed: ObservedStore | null;
  status: StoreStatus | null;
  decision: Decision | null;
  /** The mutating call made, if any. */
  taken: Action['kind'] | null;
  skipped: Skip | null;
  errors: FieldError[];
  /** A failure of this store's run (an AWS error after retries, a lost lease); the other stores went on. */
  error: string | null;
  /** Events this store's decision asked for that could not be published. */
  unpublished: number;
}

/** The run a store's reconcile belongs to. */
export interface StoreRun {
  reconcileId: string;
  trigger: Trigger;
  dryRun: boolean;
  /** The store's logger (with its name and id). */
  log: Logger;
}

const MUTATING: ReadonlySet<Action['kind']> = new Set(['disconnect', 'update', 'connect', 'createHsm']);

/**
 * Reconciles one store from what the pass observed, with `outbox` the events its status still owes.
 * Never throws: everything the store does runs inside this boundary, and a failure is the outcome's
 * `error`; the other stores go on.
 *
 * Exactly-once effects: the status a decision leads to and the events it emits are recorded together
 * (one conditional write of the status item, events in its outbox) *before* the mutating call and
 * before any publish; events are published from the outbox and the outbox is cleared after. A crash
 * or a failed call at any point leaves either nothing done, or a status whose outbox the next run
 * publishes first: each event goes out late at worst, with the incident id it was recorded with. A
 * crash between a publish and the clearing write sends the same event again with the same `eventId`.
 */
export async function reconcileStore(
  deps: ReconcileDeps,
  run: StoreRun,
  input: PlanInput,
  outbox: readonly ReconcilerEvent[],
): Promise<StoreOutcome> {
  const blank: StoreOutcome = {
    name: input.desired.name,
    storeId: input.observed?.id ?? null,
    desired: input.desired,
    observed: input.observed,
    status: input.status,
    decision: null,
    taken: null,
    skipped: null,
    errors: [],
    error: null,
    unpublished: 0,
  };
  try {
    return await reconcileLeased(deps, run, input, outbox, blank);
  } catch (error) {
    return abandon(deps, run, blank, error);
  }
}

async function reconcileLeased(
  deps: ReconcileDeps,
  run: StoreRun,
  input: PlanInput,
  outbox: readonly ReconcilerEvent[],
  blank: StoreOutcome,
): Promise<StoreOutcome> {
  const first = plan(input);
  const planned: StoreOutcome = { ...blank, decision: first };
  if (run.dryRun) return planned;
  if (outbox.length === 0 && isUnchanged(first, input.status)) {
    run.log.debug('no change', { reason: first.reason });
    return { ...planned, skipped: 'unchanged' };
  }

  // The lease and everything decided under it use the time now, not the pass's start: a store
  // reached late in a long pass must not take a lease that has already run out.
  const leasedAt = deps.clock.now();
  const lease = await deps.state.acquireLease(input.desired.name, deps.owner, leasedAt, deps.leaseTtlMs, input.observed?.id ?? null);
  if (!lease) {
    run.log.info('another run holds this store; skipped', { reason: first.reason });
    return { ...planned, skipped: 'leased' };
  }
  // Each write that keeps the lease renews it from the time of the write: the mutating call that
  // follows gets a whole lease, which outlasts the call: the reads before it fit in half a lease, and
  // the call, its waits for a turn included, is not sent unless it can end within the other half.
  const hold = () => ({ now: deps.clock.now(), holdLeaseUntil: deps.clock.now() + deps.leaseTtlMs });

  let reached: StoreOutcome = planned;
  try {
    const decided = await decideUnderLease(deps, run.log, { ...input, now: leasedAt }, lease);
    if (!decided) {
      run.log.info('desired item changed since the pass read it; left to the next run');
      return { ...planned, skipped: 'changed' };
    }
    const fresh = decided.input;
    const pending = lease.outbox;
    reached = { ...planned, desired: fresh.desired, observed: fresh.observed, status: fresh.status };

    // Record the decision and its events before acting on it or telling anyone.
    let decision = decided.decision;
    let owed = [...pending, ...decisionEvents(decision, fresh)];
    const mutating = MUTATING.has(decision.action.kind);
    if (mutating || decision.events.length > 0) {
      await deps.state.saveStatus(decision.nextStatus, deps.owner, { outbox: owed, ...hold() });
    }
    reached = { ...reached, decision };

    let taken: Action['kind'] | null = null;
    let callError: string | null = null;
    if (mutating) {
      const acted = await takeAction(deps, run.log, fresh, decision);
      taken = acted.taken;
      callError = acted.error;
      decision = acted.decision;
      if (taken === null) {
        // The call failed: its failure replaces the recorded decision and the events not yet sent.
        owed = [...pending, ...decisionEvents(decision, fresh)];
        await deps.state.saveStatus(decision.nextStatus, deps.owner, { outbox: owed, ...hold() });
      }
    }
    reached = { ...reached, decision, taken, error: callError };

    const published = await publishOwed(deps, run.log, decision.nextStatus, owed);
    const done: StoreOutcome = { ...reached, error: published.error ?? callError, unpublished: published.unpublished };
    await recordHistory(deps, run, fresh, done, decision);
    recordEventMetrics(deps.metrics, decision, fresh.observed);
    run.log.info(decision.reason, {
      action: done.taken ?? 'none',
      intended: decision.intended,
      dryRun: decision.dryRun,
      phase: decision.nextStatus.phase,
      attempt: decision.nextStatus.attempt,
      connectionState: fresh.observed?.connectionState ?? 'MISSING',
      connectionErrorCode: fresh.observed?.connectionErrorCode ?? null,
      events: decision.events.map((e) => e.detailType),
      ...(pending.length > 0 ? { republished: pending.length } : {}),
    });
    return done;
  } catch (error) {
    return abandon(deps, run, reached, error);
  }
}

/**
 * Decides again on what is true now that the store is ours: the desired item and status another run
 * may just have written, and, before any mutating call or page, the store, its cluster, the secret
 * versions and the settings (kill switch) as they are now, so that nothing acts or pages on stale data. Null when the
 * operator removed or broke the desired item since the pass read it (the lease is released).
 */
async function decideUnderLease(
  deps: ReconcileDeps,
  log: Logger,
  input: PlanInput,
  lease: StoreRecord,
): Promise<{ input: PlanInput; decision: Decision } | null> {
  const desired = lease.desired ? parseDesiredItem(lease.desired) : null;
  if (!desired?.ok) {
    await deps.state.releaseLease(input.desired.name, deps.owner);
    return null;
  }
  const reread: PlanInput = { ...input, desired: desired.desired, status: lease.status, signatures: lease.signatures };
  const decision = plan(reread);
  // A decision that neither acts nor pages may rest on the pass's observation; one that pages must not.
  if (!MUTATING.has(decision.action.kind) && decision.events.length === 0) return { input: reread, decision };
  const observed = await observeUnderLease(deps, reread, log);
  return { input: observed, decision: plan(observed) };
}

/** The store, its clusters, its secret versions and the settings, read again under the lease. */
async function observeUnderLease(deps: ReconcileDeps, input: PlanInput, log: Logger): Promise<PlanInput> {
  const { desired } = input;
  const storeRef = input.observed ? { id: input.observed.id } : desired.id ? { id: desired.id } : { name: desired.name };
  const secret = async (field: SecretField, arn: string | undefined): Promise<SecretInput> =>
    secretInput(field, arn, arn === undefined ? undefined : await readVersion(deps.secrets, arn, log));
  const [observed, desiredSettings, password, credential] = await Promise.all([
    deps.kms.describeStore(storeRef),
    deps.state.getSettings(),
    secret('keyStorePasswordSecretArn', desired.keyStorePasswordSecretArn),
    secret('xksProxy.credentialSecretArn', desired.xksProxy?.credentialSecretArn),
  ]);
  const clusterIds = [...new Set([desired.cloudHsmClusterId, observed?.cloudHsmClusterId].filter((id): id is string => id !== undefined))];
  const clusters = new Map(input.clusters);
  if (clusterIds.length > 0) {
    const current = await deps.cloudHsm.describeClusters(clusterIds);
    for (const id of clusterIds) {
      const cluster = current.get(id);
      if (cluster) clusters.set(id, cluster);
      else clusters.delete(id);
    }
  }
  // The settings as the operators left them, judged against what the pass found in force: a
  // tightening (kill switch on) applies now; a weakening since the pass read stays held.
  const { settings } = effectiveSettings(desiredSettings, guardedOf(input.settings), []);
  return {
    ...input,
    observed,
    settings,
    passwordVersion: password.version,
    xksCredentialVersion: credential.version,
    unreadable: [...password.unreadable, ...credential.unreadable],
    missingSecrets: [...password.missing, ...credential.missing],
    clusters,
  };
}

/**
 * Makes the decision's mutating call and returns the decision to record: one whose
 * call answered says it was made (written with the outbox cleared); a failed AWS call is planned for
 * (backoff, escalation) and reported; any other error is thrown.
 */
async function takeAction(
  deps: ReconcileDeps,
  log: Logger,
  input: PlanInput,
  decision: Decision,
): Promise<{ decision: Decision; taken: Action['kind'] | null; error: string | null }> {
  try {
    await act(deps, decision.action);
    return { decision: planCallReturned(decision), taken: decision.action.kind, error: null };
  } catch (error) {
    if (!(error instanceof AwsCallError)) throw error;
    log.warn('action failed', { action: decision.action.kind, errorCode: error.code, retryable: error.retryable });
    return { decision: planActionFailure(input, decision, error.code, input.now), taken: null, error: scrubbedError(error) };
  }
}

/** The one mutating call of a decision. Secret values are read here, just before the call, and go nowhere else. */
async function act(deps: ReconcileDeps, action: Action): Promise<void> {
  switch (action.kind) {
    case 'none':
      return;
    case 'disconnect':
      return deps.kms.disconnect(action.storeId);
    case 'connect':
      return deps.kms.connect(action.storeId);
    case 'createHsm':
      await deps.cloudHsm.createHsm(action.clusterId, action.availabilityZone);
      return;
    case 'update':
      return deps.kms.update(action.storeId, await resolveUpdate(deps.secrets, action));
    default: {
      const exhaustive: never = action;
      throw new Error(`unknown action ${JSON.stringify(exhaustive)}`);
    }
  }
}

async function resolveUpdate(secrets: SecretsPort, action: Extract<Action, { kind: 'update' }>): Promise<ResolvedUpdate> {
  const { newName, cloudHsmClusterId, password, xks } = action.changes;
  const resolved: ResolvedUpdate = {};
  if (newName !== undefined) resolved.newName = newName;
  if (cloudHsmClusterId !== undefined) resolved.cloudHsmClusterId = cloudHsmClusterId;
  if (password) resolved.keyStorePassword = await secrets.getValue(password.secretArn, password.versionId);
  if (xks) {
    const { credential, ...settings } = xks;
    resolved.xks = { ...settings };
    if (credential)
      resolved.xks.credential = parseXksCredential(await secrets.getValue(credential.secretArn, credential.versionId), credential.secretArn);
  }
  return resolved;
}

/** KMS's rules for an XKS proxy credential (XksProxyAuthenticationCredential). */
const XKS_ACCESS_KEY_ID = /^[A-Z2-7]{20,30}$/;
const XKS_SECRET_ACCESS_KEY = /^[a-zA-Z0-9/+=]{43,64}$/;

/**
 * The XKS credential secret holds JSON `{"accessKeyId": "...", "secretAccessKey": "..."}`, each as
 * KMS requires it. Anything else is rejected here, before anything is sent; the error names the secret
 * and the rule, never the content.
 */
export function parseXksCredential(value: string, secretArn: string): { accessKeyId: string; secretAccessKey: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = null;
  }
  const { accessKeyId, secretAccessKey } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const valid =
    typeof accessKeyId === 'string' &&
    XKS_ACCESS_KEY_ID.test(accessKeyId) &&
    typeof secretAccessKey === 'string' &&
    XKS_SECRET_ACCESS_KEY.test(secretAccessKey);
  if (!valid) {
    throw new AwsCallError(
      'SecretsManager.GetSecretValue',
      'InvalidXksCredentialSecret',
      false,
      `secret ${secretArn} must hold JSON {"accessKeyId": 20-30 of A-Z2-7, "secretAccessKey": 43-64 of a-zA-Z0-9/+=}`,
    );
  }
  return { accessKeyId, secretAccessKey };
}

/**
 * Publishes the events a status owes (already recorded in its outbox), then writes the status with
 * the outbox emptied and releases the lease. Events that cannot go out stay in the outbox for the
 * next run; that is said (how many, why), never thrown.
 */
export async function publishOwed(
  deps: ReconcileDeps,
  log: Logger,
  status: StoreStatus,
  owed: readonly ReconcilerEvent[],
): Promise<{ unpublished: number; error: string | null }> {
  let unsent: readonly ReconcilerEvent[] = [];
  let error: string | null = null;
  if (owed.length > 0) {
    try {
      await deps.events.publish(owed);
    } catch (failure) {
      // Events EventBridge took are not owed again: only the refused ones stay (all of them when unknown).
      unsent = failure instanceof EventsRefusedError ? failure.unsent : owed;
      error = `events not published: ${scrubbedError(failure)}`;
      log.error('events not published; they stay in the status outbox and the next run publishes them', {
        error,
        events: unsent.map((e) => ({ detailType: e.detailType, eventId: e.detail.eventId })),
      });
    }
  }
  await deps.state.saveStatus(status, deps.owner, { now: deps.clock.now(), outbox: unsent });
  return { unpublished: unsent.length, error };
}

/** A history line, when something happened. */
async function recordHistory(deps: ReconcileDeps, run: StoreRun, input: PlanInput, outcome: StoreOutcome, decision: Decision): Promise<void> {
  if (!outcome.taken && decision.events.length === 0 && decision.nextStatus.phase === input.status?.phase) return;
  await deps.state.appendHistory(input.desired.name, {
    at: input.now,
    reconcileId: run.reconcileId,
    trigger: run.trigger,
    action: outcome.taken ?? describeLastAction(decision.nextStatus.lastAction) ?? 'none',
    dryRun: decision.dryRun,
    reason: decision.reason,
    connectionState: input.observed?.connectionState ?? null,
    connectionErrorCode: input.observed?.connectionErrorCode ?? null,
    ...(outcome.error ? { error: outcome.error } : {}),
    incidentId: decision.nextStatus.incidentId ?? input.status?.incidentId ?? null,
    events: decision.events.map((event) => ({
      type: event.detailType,
      reason: event.reason,
      ...(event.runbook !== undefined ? { runbook: event.runbook } : {}),
      ...(event.drift !== undefined ? { drift: event.drift } : {}),
    })),
  });
}

/** Ends a store's run on an unexpected failure: releases the lease and returns what was reached, with the error. */
async function abandon(deps: ReconcileDeps, run: StoreRun, reached: StoreOutcome, error: unknown): Promise<StoreOutcome> {
  await deps.state.releaseLease(reached.name, deps.owner).catch(() => undefined);
  const message = scrubbedError(error);
  run.log.error('store run failed; the next run will observe and continue', { error: message });
  return { ...reached, error: message };
}

function recordEventMetrics(metrics: Metrics | null, decision: Decision, observed: ObservedStore | null): void {
  if (!metrics || decision.dryRun) return;
  const code = observed?.connectionErrorCode ?? 'NONE';
  for (const event of decision.events) {
    if (event.detailType === 'Repair Started') recordRepair(metrics, 'Started', code);
    if (event.detailType === 'Repair Succeeded') recordRepair(metrics, 'Succeeded', code);
    if (event.detailType === 'Repair Failed') recordRepair(metrics, 'Failed', code);
    if (event.detailType === 'Repair Escalated') recordRepair(metrics, 'Escalated', code);
  }
}

/** Nothing to do, nothing to say, nothing to record: a healthy store costs no write. */
function isUnchanged(decision: Decision, status: StoreStatus | null): boolean {
  return decision.action.kind === 'none' && decision.events.length === 0 && status !== null && sameData(decision.nextStatus, status);
}

/** A secret version as read: its version (null: the secret does not exist or holds no current version), or a read that failed. */
export type VersionRead = { ok: true; version: string | null } | { ok: false };

/**
 * A secret's current version. A read that fails (throttling, access denied) is not "absent": plan
 * waits on it, so one unreadable secret holds its own store for this run and never yields a verdict.
 */
export async function readVersion(secrets: SecretsPort, arn: string, log: Logger): Promise<VersionRead> {
  try {
    return { ok: true, version: await secrets.currentVersion(arn) };
  } catch (error) {
    log.warn('cannot read the secret version; the store waits for the next run', { secretArn: arn, error: scrubbedError(error) });
    return { ok: false };
  }
}

/** What plan is told of one secret field: its version, and whether it could not be read or does not exist. */
export interface SecretInput {
  version: string | null;
  unreadable: string[];
  missing: SecretField[];
}

/**
 * One secret field's input from its read: not read this run (no ARN, or a healthy store) is an
 * unknown version (null), never missing; a failed read (throttling, access denied) is unreadable, so
 * the store waits; only a read that found no current version makes the secret missing.
 */
export function secretInput(field: SecretField, arn: string | undefined, read: VersionRead | undefined): SecretInput {
  if (read === undefined) return { version: null, unreadable: [], missing: [] };
  if (!read.ok) return { version: null, unreadable: [`the version of secret ${arn}`], missing: [] };
  return { version: read.version, unreadable: [], missing: read.version === null ? [field] : [] };
}
