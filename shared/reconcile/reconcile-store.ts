/**
 * One store's run: lease → re-observe → plan → act → record → emit. Each run advances the store by
 * at most one step and records where it is; a failure ends this store's run, never the sweep's.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { parseDesiredItem, type FieldError } from '../domain/desired-schema.js';
import { decisionEvents } from '../domain/events.js';
import { plan, planActionFailure } from '../domain/plan.js';
import { sameData } from '../domain/same-data.js';
import type { Action, Decision, DesiredStore, ObservedStore, PlanInput, StoreStatus } from '../domain/types.js';
import { AwsCallError, errorMessage } from '../errors.js';
import { recordRepair } from '../metrics.js';
import type { ReconcileDeps, ResolvedUpdate, SecretsPort, StoreRecord } from './ports.js';

export type Trigger = 'schedule' | 'cloudtrail' | 'stream' | 'cli' | 'demo';

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

/** Reconciles one store from what the sweep observed. Never throws: a failure is the outcome's `error`. */
export async function reconcileStore(deps: ReconcileDeps, run: StoreRun, input: PlanInput): Promise<StoreOutcome> {
  const first = plan(input);
  const planned: StoreOutcome = {
    name: input.desired.name,
    storeId: input.observed?.id ?? null,
    desired: input.desired,
    observed: input.observed,
    status: input.status,
    decision: first,
    taken: null,
    skipped: null,
    errors: [],
    error: null,
    unpublished: 0,
  };
  if (run.dryRun) return planned;
  if (isUnchanged(first, input.status)) {
    run.log.debug('no change', { reason: first.reason });
    return { ...planned, skipped: 'unchanged' };
  }

  // The lease and everything decided under it use the time now, not the sweep's start: a store
  // reached late in a long sweep must not take a lease that has already run out.
  const leasedAt = deps.clock.now();
  const lease = await deps.state.acquireLease(input.desired.name, deps.owner, leasedAt, deps.leaseTtlMs);
  if (!lease) {
    run.log.info('another run holds this store; skipped', { reason: first.reason });
    return { ...planned, skipped: 'leased' };
  }

  let decided: { input: PlanInput; decision: Decision } | null;
  try {
    decided = await decideUnderLease(deps, run.log, { ...input, now: leasedAt }, lease);
  } catch (error) {
    return abandon(deps, run, planned, error);
  }
  if (!decided) {
    run.log.info('desired item changed since the sweep read it; left to the next run');
    return { ...planned, skipped: 'changed' };
  }
  const fresh = decided.input;
  const reread: StoreOutcome = { ...planned, desired: fresh.desired, observed: fresh.observed, status: fresh.status };

  let acted: { decision: Decision; taken: Action['kind'] | null; error: string | null };
  try {
    acted = await takeAction(deps, run.log, fresh, decided.decision);
  } catch (error) {
    return abandon(deps, run, reread, error);
  }
  // Events go out before the status write (a failed write may repeat an event, never lose one);
  // if they cannot go out, the status is still recorded, since the call above was made.
  const published = await publishEvents(deps, run.log, acted.decision, fresh);
  const done: StoreOutcome = {
    ...reread,
    decision: acted.decision,
    taken: acted.taken,
    error: published.error ?? acted.error,
    unpublished: published.unpublished,
  };
  try {
    await record(deps, run, fresh, done, acted.decision);
  } catch (error) {
    return abandon(deps, run, done, error);
  }
  recordEventMetrics(deps.metrics, acted.decision, fresh.observed);
  run.log.info(acted.decision.reason, {
    action: done.taken ?? 'none',
    intended: acted.decision.intended,
    dryRun: acted.decision.dryRun,
    phase: acted.decision.nextStatus.phase,
    attempt: acted.decision.nextStatus.attempt,
    connectionState: fresh.observed?.connectionState ?? 'MISSING',
    connectionErrorCode: fresh.observed?.connectionErrorCode ?? null,
    events: acted.decision.events.map((e) => e.detailType),
  });
  return done;
}

/**
 * Decides again on what is true now that the store is ours: the desired item and status another run
 * may just have written, and, before any mutating call, the store, its cluster, the secret versions
 * and the settings (kill switch) as they are now, so that no call acts on stale data. Null when the
 * operator removed or broke the desired item since the sweep read it (the lease is released).
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
  const reread: PlanInput = { ...input, desired: desired.desired, status: lease.status };
  const decision = plan(reread);
  if (!MUTATING.has(decision.action.kind)) return { input: reread, decision };
  const observed = await observeUnderLease(deps, reread, log);
  return { input: observed, decision: plan(observed) };
}

/** The store, its clusters, its secret versions and the settings, read again under the lease. */
async function observeUnderLease(deps: ReconcileDeps, input: PlanInput, log: Logger): Promise<PlanInput> {
  const { desired } = input;
  const storeRef = input.observed ? { id: input.observed.id } : desired.id ? { id: desired.id } : { name: desired.name };
  const [observed, settings, passwordVersion, xksCredentialVersion] = await Promise.all([
    deps.kms.describeStore(storeRef),
    deps.state.getSettings(),
    readVersion(deps.secrets, desired.keyStorePasswordSecretArn, log),
    readVersion(deps.secrets, desired.xksProxy?.credentialSecretArn, log),
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
  return { ...input, observed, settings, passwordVersion, xksCredentialVersion, clusters };
}

/**
 * Makes the decision's mutating call, if it has one. A failed AWS call is planned for (backoff,
 * escalation) and reported; any other error is thrown.
 */
async function takeAction(
  deps: ReconcileDeps,
  log: Logger,
  input: PlanInput,
  decision: Decision,
): Promise<{ decision: Decision; taken: Action['kind'] | null; error: string | null }> {
  if (!MUTATING.has(decision.action.kind)) return { decision, taken: null, error: null };
  try {
    await act(deps, decision.action);
    return { decision, taken: decision.action.kind, error: null };
  } catch (error) {
    if (!(error instanceof AwsCallError)) throw error;
    log.warn('action failed', { action: decision.action.kind, errorCode: error.code, retryable: error.retryable });
    return { decision: planActionFailure(input, decision, error.code, input.now), taken: null, error: error.message };
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
    if (credential) resolved.xks.credential = parseXksCredential(await secrets.getValue(credential.secretArn, credential.versionId), credential.secretArn);
  }
  return resolved;
}

/** The XKS credential secret holds JSON `{"accessKeyId": "...", "secretAccessKey": "..."}`. */
function parseXksCredential(value: string, secretArn: string): { accessKeyId: string; secretAccessKey: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = null;
  }
  const { accessKeyId, secretAccessKey } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string') {
    // The message names the secret, never its content.
    throw new AwsCallError(
      'SecretsManager.GetSecretValue',
      'InvalidXksCredentialSecret',
      false,
      `secret ${secretArn} must hold JSON {"accessKeyId": "...", "secretAccessKey": "..."}`,
    );
  }
  return { accessKeyId, secretAccessKey };
}

/** Publishes the decision's events; when they cannot go out, says how many and why instead of throwing. */
async function publishEvents(
  deps: ReconcileDeps,
  log: Logger,
  decision: Decision,
  input: PlanInput,
): Promise<{ unpublished: number; error: string | null }> {
  if (decision.events.length === 0) return { unpublished: 0, error: null };
  try {
    await deps.events.publish(decisionEvents(decision, input));
    return { unpublished: 0, error: null };
  } catch (error) {
    const message = `events not published: ${errorMessage(error)}`;
    log.error('events not published; the status is recorded anyway', {
      error: message,
      events: decision.events.map((e) => ({ detailType: e.detailType, reason: e.reason, runbook: e.runbook })),
    });
    return { unpublished: decision.events.length, error: message };
  }
}

/** Writes the next status (releasing the lease) and, when something happened, a history line. */
async function record(deps: ReconcileDeps, run: StoreRun, input: PlanInput, outcome: StoreOutcome, decision: Decision): Promise<void> {
  await deps.state.saveStatus(decision.nextStatus, deps.owner);
  if (!outcome.taken && decision.events.length === 0 && decision.nextStatus.phase === input.status?.phase) return;
  await deps.state.appendHistory(input.desired.name, {
    at: input.now,
    reconcileId: run.reconcileId,
    trigger: run.trigger,
    action: outcome.taken ?? (decision.dryRun && decision.intended !== 'none' ? `would ${decision.intended}` : 'none'),
    dryRun: decision.dryRun,
    reason: decision.reason,
    connectionState: input.observed?.connectionState ?? null,
    connectionErrorCode: input.observed?.connectionErrorCode ?? null,
    ...(outcome.error ? { error: outcome.error } : {}),
  });
}

/** Ends a store's run on an unexpected failure: releases the lease and returns what was reached, with the error. */
async function abandon(deps: ReconcileDeps, run: StoreRun, reached: StoreOutcome, error: unknown): Promise<StoreOutcome> {
  await deps.state.releaseLease(reached.name, deps.owner).catch(() => undefined);
  const message = errorMessage(error);
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
  return (
    decision.action.kind === 'none' &&
    decision.events.length === 0 &&
    status !== null &&
    sameData(decision.nextStatus, status)
  );
}

/**
 * A secret's current version; null when it is absent or cannot be read (e.g. access denied), which
 * plan never treats as a new version: one unreadable secret holds its own store, not the sweep.
 */
export async function readVersion(secrets: SecretsPort, arn: string | undefined, log: Logger): Promise<string | null> {
  if (arn === undefined) return null;
  try {
    return await secrets.currentVersion(arn);
  } catch (error) {
    log.warn('cannot read the secret version; treated as unknown', { secretArn: arn, error: errorMessage(error) });
    return null;
  }
}
