/**
 * The reconcile core: observe → plan → act → record → emit, for every store (a sweep) or the stores
 * an event names. Level-triggered: every run re-reads live state; a trigger only narrows which
 * stores are looked at. Each run advances a store by at most one step and records where it is.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { formatFieldErrors, parseDesiredItem, type FieldError } from '../domain/desired-schema.js';
import { decisionEvents, invalidDesiredEvent, sweepSummaryEvent } from '../domain/events.js';
import { emptyStatus, plan, planActionFailure } from '../domain/plan.js';
import { sameData } from '../domain/same-data.js';
import type {
  Action,
  ClusterView,
  ConnectionState,
  Decision,
  DesiredStore,
  ObservedStore,
  PlanInput,
  Settings,
  StoreStatus,
} from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import { recordRepair, recordStoreStates } from '../metrics.js';
import type {
  CloudHsmPort,
  Clock,
  EventsPort,
  KmsPort,
  ResolvedUpdate,
  SecretsPort,
  StatePort,
  StoreRecord,
} from './ports.js';

/** Everything the core talks to: one plain object, built once per cold start. */
export interface ReconcileDeps {
  kms: KmsPort;
  cloudHsm: CloudHsmPort;
  secrets: SecretsPort;
  events: EventsPort;
  state: StatePort;
  clock: Clock;
  logger: Logger;
  metrics: Metrics | null;
  /** Lease owner id of this process (e.g. the Lambda request id or `cli-<pid>`). */
  owner: string;
  leaseTtlMs: number;
}

export type Trigger = 'schedule' | 'cloudtrail' | 'stream' | 'cli' | 'demo';

export interface ReconcileRequest {
  trigger: Trigger;
  /** Reconcile only these stores (by name, store id or CloudHSM cluster id); absent: every managed store. */
  only?: { names?: readonly string[]; ids?: readonly string[]; clusterIds?: readonly string[] };
  /** Plan and report without acting, writing or emitting (`cks plan`). */
  dryRun?: boolean;
}

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

export interface ReconcileResult {
  reconcileId: string;
  trigger: Trigger;
  dryRun: boolean;
  regionalIncident: boolean;
  outcomes: StoreOutcome[];
  /** Stores in KMS that no desired item names. */
  unmanaged: ObservedStore[];
}

const MUTATING: ReadonlySet<Action['kind']> = new Set(['disconnect', 'update', 'connect', 'createHsm']);

/** One reconcile pass. Never throws for one store's failure; throws only when the world cannot be read. */
export async function reconcile(deps: ReconcileDeps, request: ReconcileRequest): Promise<ReconcileResult> {
  const reconcileId = randomUUID();
  const dryRun = request.dryRun === true;
  const log = deps.logger.createChild({ persistentKeys: { reconcileId, trigger: request.trigger } });
  const now = deps.clock.now();

  const [{ records, settings, regionalIncidentSince }, observedAll] = await Promise.all([deps.state.loadAll(), deps.kms.listStores()]);
  const world = indexObserved(observedAll);

  const managed: Array<{ record: StoreRecord; desired: DesiredStore; observed: ObservedStore | null }> = [];
  const invalid: Array<{ record: StoreRecord; errors: FieldError[] }> = [];
  for (const record of records) {
    if (!record.desired) continue;
    const parsed = parseDesiredItem(record.desired);
    if (parsed.ok) managed.push({ record, desired: parsed.desired, observed: world.find(parsed.desired) });
    else invalid.push({ record, errors: parsed.errors });
  }
  const managedIds = new Set(managed.flatMap((m) => (m.observed ? [m.observed.id] : [])));
  const unmanaged = observedAll.filter((o) => !managedIds.has(o.id));

  const targets = managed.filter((m) => isTarget(request, m.desired, m.observed));
  const [clusters, versions] = await Promise.all([
    observeClusters(deps.cloudHsm, targets),
    observeSecretVersions(deps.secrets, targets, log),
  ]);

  const failed = managed.filter((m) => m.observed?.connectionState === 'FAILED').length;
  const regionalIncident =
    failed >= settings.blastRadiusMinFailed && failed / Math.max(managed.length, 1) > settings.blastRadiusMaxFailedShare;
  if (regionalIncident) {
    log.error('regional incident: too many stores FAILED at once; reporting instead of repairing', {
      failed,
      managed: managed.length,
    });
  }

  const outcomes: StoreOutcome[] = [];
  for (const target of targets) {
    const input: PlanInput = {
      scope: deps.state.scope,
      desired: target.desired,
      observed: target.observed,
      clusters,
      passwordVersion: secretVersion(versions, target.desired.keyStorePasswordSecretArn),
      xksCredentialVersion: secretVersion(versions, target.desired.xksProxy?.credentialSecretArn),
      status: target.record.status,
      settings,
      regionalIncident,
      now,
    };
    const storeLog = log.createChild({
      persistentKeys: { storeName: target.desired.name, storeId: target.observed?.id ?? null },
    });
    outcomes.push(await reconcileStore(deps, { reconcileId, trigger: request.trigger, dryRun, log: storeLog }, input));
  }
  if (!request.only) {
    for (const bad of invalid) outcomes.push(await reportInvalid(deps, { reconcileId, dryRun, log }, bad, now));
  }

  const result: ReconcileResult = { reconcileId, trigger: request.trigger, dryRun, regionalIncident, outcomes, unmanaged };
  // One summary per full sweep (not per event run). It pages once when a regional incident begins.
  if (!dryRun && !request.only) {
    const regional = await trackRegionalIncident(deps.state, regionalIncident, regionalIncidentSince, now);
    await summarise(deps, log, result, managed.map((m) => m.observed), settings, regional);
  }
  const unpublished = outcomes.reduce((n, o) => n + o.unpublished, 0);
  if (unpublished > 0) {
    // Every status is recorded; failing the run makes the lost events visible (function errors alarm).
    throw new EventsNotPublishedError(`${unpublished} event(s) could not be published; see the log lines "events not published"`);
  }
  return result;
}

/** A run that did its work but could not tell anyone: its events did not reach EventBridge. */
export class EventsNotPublishedError extends Error {
  override readonly name = 'EventsNotPublishedError';
}

interface RunContext {
  reconcileId: string;
  trigger: Trigger;
  dryRun: boolean;
  log: Logger;
}

async function reconcileStore(
  deps: ReconcileDeps,
  run: RunContext,
  input: PlanInput,
): Promise<StoreOutcome> {
  const first = plan(input);
  const outcome: StoreOutcome = {
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
  if (run.dryRun) return outcome;
  if (isUnchanged(first, input.status)) {
    outcome.skipped = 'unchanged';
    run.log.debug('no change', { reason: first.reason });
    return outcome;
  }

  // The lease and everything decided under it use the time now, not the sweep's start: a store
  // reached late in a long sweep must not take a lease that has already run out.
  const leasedAt = deps.clock.now();
  const lease = await deps.state.acquireLease(input.desired.name, deps.owner, leasedAt, deps.leaseTtlMs);
  if (!lease) {
    outcome.skipped = 'leased';
    run.log.info('another run holds this store; skipped', { reason: first.reason });
    return outcome;
  }
  try {
    const desired = lease.desired ? parseDesiredItem(lease.desired) : null;
    if (!desired?.ok) {
      // The operator removed or broke the item since the sweep read it: act on nothing not re-read.
      await deps.state.releaseLease(input.desired.name, deps.owner);
      outcome.skipped = 'changed';
      run.log.info('desired item changed since the sweep read it; left to the next run');
      return outcome;
    }
    // Decide again on what is true now that the store is ours: the desired item and status another
    // run may just have written, and, before any mutating call, the store, its cluster, the secret
    // versions and the settings (kill switch) as they are now, so that no call acts on stale data.
    let fresh: PlanInput = { ...input, desired: desired.desired, status: lease.status, now: leasedAt };
    let decision = plan(fresh);
    if (MUTATING.has(decision.action.kind)) {
      fresh = await observeUnderLease(deps, fresh, run.log);
      decision = plan(fresh);
    }
    outcome.desired = fresh.desired;
    outcome.observed = fresh.observed;
    outcome.status = fresh.status;

    if (MUTATING.has(decision.action.kind)) {
      try {
        await act(deps, decision.action);
        outcome.taken = decision.action.kind;
      } catch (error) {
        if (!(error instanceof AwsCallError)) throw error;
        run.log.warn('action failed', { action: decision.action.kind, errorCode: error.code, retryable: error.retryable });
        outcome.error = error.message;
        decision = planActionFailure(fresh, decision, error.code, fresh.now);
      }
    }
    outcome.decision = decision;

    // Events go out before the status write (a failed write may repeat an event, never lose one);
    // if they cannot go out, the status is still recorded, since the call above was made.
    try {
      await publish(deps, decision, fresh);
    } catch (error) {
      outcome.unpublished = decision.events.length;
      outcome.error = `events not published: ${error instanceof Error ? error.message : String(error)}`;
      run.log.error('events not published; the status is recorded anyway', {
        error: outcome.error,
        events: decision.events.map((e) => ({ detailType: e.detailType, reason: e.reason, runbook: e.runbook })),
      });
    }
    await deps.state.saveStatus(decision.nextStatus, deps.owner);
    if (outcome.taken || decision.events.length > 0 || decision.nextStatus.phase !== fresh.status?.phase) {
      await deps.state.appendHistory(input.desired.name, {
        at: fresh.now,
        reconcileId: run.reconcileId,
        trigger: run.trigger,
        action: outcome.taken ?? (decision.dryRun && decision.intended !== 'none' ? `would ${decision.intended}` : 'none'),
        dryRun: decision.dryRun,
        reason: decision.reason,
        connectionState: fresh.observed?.connectionState ?? null,
        connectionErrorCode: fresh.observed?.connectionErrorCode ?? null,
        ...(outcome.error ? { error: outcome.error } : {}),
      });
    }
    recordEventMetrics(deps.metrics, decision, fresh.observed);
    run.log.info(decision.reason, {
      action: outcome.taken ?? 'none',
      intended: decision.intended,
      dryRun: decision.dryRun,
      phase: decision.nextStatus.phase,
      attempt: decision.nextStatus.attempt,
      connectionState: fresh.observed?.connectionState ?? 'MISSING',
      connectionErrorCode: fresh.observed?.connectionErrorCode ?? null,
      events: decision.events.map((e) => e.detailType),
    });
  } catch (error) {
    await deps.state.releaseLease(input.desired.name, deps.owner).catch(() => undefined);
    outcome.error = error instanceof Error ? error.message : String(error);
    run.log.error('store run failed; the next run will observe and continue', { error: outcome.error });
  }
  return outcome;
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

async function publish(deps: ReconcileDeps, decision: Decision, input: PlanInput): Promise<void> {
  if (decision.events.length > 0) await deps.events.publish(decisionEvents(decision, input));
}

/** An invalid desired item: a `Desired State Invalid` event and a log line, once per generation; the other stores go on. */
async function reportInvalid(
  deps: ReconcileDeps,
  run: Omit<RunContext, 'trigger'>,
  bad: { record: StoreRecord; errors: FieldError[] },
  now: number,
): Promise<StoreOutcome> {
  const generation = Number(bad.record.desired?.generation ?? 0);
  const reportKey = `invalid:${generation}`;
  const outcome: StoreOutcome = {
    name: bad.record.name,
    storeId: null,
    desired: null,
    observed: null,
    status: bad.record.status,
    decision: null,
    taken: null,
    skipped: 'invalid',
    errors: bad.errors,
    error: null,
    unpublished: 0,
  };
  run.log.error('desired state invalid; store skipped', { storeName: bad.record.name, errors: bad.errors });
  if (run.dryRun || bad.record.status?.lastReportKey === reportKey) return outcome;
  const lease = await deps.state.acquireLease(bad.record.name, deps.owner, now, deps.leaseTtlMs);
  if (!lease) return outcome;
  try {
    await deps.events.publish([invalidDesiredEvent({ scope: deps.state.scope, storeName: bad.record.name, errors: bad.errors })]);
    await deps.state.saveStatus(
      {
        ...(lease.status ?? emptyStatus(bad.record.name, now)),
        observedGeneration: generation,
        lastReason: `desired item invalid: ${formatFieldErrors(bad.errors)}`,
        lastReportKey: reportKey,
      },
      deps.owner,
    );
  } catch (error) {
    await deps.state.releaseLease(bad.record.name, deps.owner).catch(() => undefined);
    outcome.error = error instanceof Error ? error.message : String(error);
  }
  return outcome;
}

/** Records when a regional incident begins and ends, so that only its first sweep pages. */
async function trackRegionalIncident(
  state: StatePort,
  active: boolean,
  since: number | null,
  now: number,
): Promise<{ since: number | null; started: boolean }> {
  if (active === (since !== null)) return { since, started: false };
  const next = active ? now : null;
  await state.setRegionalIncident(next);
  return { since: next, started: active };
}

async function summarise(
  deps: ReconcileDeps,
  log: Logger,
  result: ReconcileResult,
  observed: ReadonlyArray<ObservedStore | null>,
  settings: Settings,
  regional: { since: number | null; started: boolean },
): Promise<void> {
  const byState: Record<ConnectionState | 'MISSING', number> = {
    CONNECTED: 0,
    CONNECTING: 0,
    FAILED: 0,
    DISCONNECTED: 0,
    DISCONNECTING: 0,
    MISSING: 0,
  };
  // A state from a newer KMS API than ours is counted nowhere rather than as NaN.
  for (const o of observed) {
    const state = o?.connectionState ?? 'MISSING';
    if (state in byState) byState[state] += 1;
  }
  const summary = sweepSummaryEvent({
    scope: deps.state.scope,
    reconcileId: result.reconcileId,
    trigger: result.trigger,
    byState,
    managed: observed.length,
    unmanaged: result.unmanaged.length,
    invalid: result.outcomes.filter((o) => o.skipped === 'invalid').length,
    actions: result.outcomes.filter((o) => o.taken !== null).length,
    escalations: result.outcomes.filter(
      (o) => o.decision?.dryRun === false && o.decision.events.some((e) => e.detailType === 'Repair Escalated'),
    ).length,
    regionalIncident: result.regionalIncident,
    regionalIncidentSince: regional.since,
    regionalIncidentStarted: regional.started,
    killSwitch: settings.killSwitch,
  });
  try {
    await deps.events.publish([summary]);
  } catch (error) {
    log.error('could not publish the sweep summary', { error: error instanceof Error ? error.message : String(error) });
  }
  if (deps.metrics) {
    recordStoreStates(deps.metrics, byState);
    deps.metrics.publishStoredMetrics();
  }
  log.info('reconcile finished', { ...byState, outcomes: result.outcomes.length, regionalIncident: result.regionalIncident });
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

function isTarget(request: ReconcileRequest, desired: DesiredStore, observed: ObservedStore | null): boolean {
  if (!request.only) return true;
  const { names = [], ids = [], clusterIds = [] } = request.only;
  return (
    names.includes(desired.name) ||
    (desired.id !== undefined && ids.includes(desired.id)) ||
    (desired.cloudHsmClusterId !== undefined && clusterIds.includes(desired.cloudHsmClusterId)) ||
    (observed !== null &&
      (names.includes(observed.name) ||
        ids.includes(observed.id) ||
        (observed.cloudHsmClusterId !== undefined && clusterIds.includes(observed.cloudHsmClusterId))))
  );
}

function indexObserved(stores: readonly ObservedStore[]): { find(desired: DesiredStore): ObservedStore | null } {
  const byId = new Map(stores.map((s) => [s.id, s]));
  const byName = new Map(stores.map((s) => [s.name, s]));
  return {
    find: (desired) => (desired.id ? byId.get(desired.id) : byName.get(desired.name)) ?? null,
  };
}

async function observeClusters(
  cloudHsm: CloudHsmPort,
  targets: ReadonlyArray<{ desired: DesiredStore; observed: ObservedStore | null }>,
): Promise<ReadonlyMap<string, ClusterView>> {
  const ids = new Set<string>();
  for (const { desired, observed } of targets) {
    if (desired.cloudHsmClusterId) ids.add(desired.cloudHsmClusterId);
    if (observed?.cloudHsmClusterId) ids.add(observed.cloudHsmClusterId);
  }
  return ids.size === 0 ? new Map() : cloudHsm.describeClusters([...ids]);
}

/**
 * Current secret versions, read (DescribeSecret, never the value) only for stores that may need a
 * repair or were never seen: a healthy CONNECTED store costs no Secrets Manager call.
 */
async function observeSecretVersions(
  secrets: SecretsPort,
  targets: ReadonlyArray<{ record: StoreRecord; desired: DesiredStore; observed: ObservedStore | null }>,
  log: Logger,
): Promise<Map<string, string | null>> {
  const arns = new Set(
    targets
      .filter(({ record, observed }) => record.status === null || record.status.phase !== 'IDLE' || observed?.connectionState !== 'CONNECTED')
      .flatMap(({ desired }) => [desired.keyStorePasswordSecretArn, desired.xksProxy?.credentialSecretArn])
      .filter((arn): arn is string => arn !== undefined),
  );
  return new Map(await Promise.all([...arns].map(async (arn) => [arn, await readVersion(secrets, arn, log)] as const)));
}

/**
 * A secret's current version; null when it is absent or cannot be read (e.g. access denied), which
 * plan never treats as a new version: one unreadable secret holds its own store, not the sweep.
 */
async function readVersion(secrets: SecretsPort, arn: string | undefined, log: Logger): Promise<string | null> {
  if (arn === undefined) return null;
  try {
    return await secrets.currentVersion(arn);
  } catch (error) {
    log.warn('cannot read the secret version; treated as unknown', { secretArn: arn, error: error instanceof Error ? error.message : String(error) });
    return null;
  }
}

/** A version not read this run is reported as null ("unknown"), which plan never treats as new. */
function secretVersion(versions: ReadonlyMap<string, string | null>, arn: string | undefined): string | null {
  return arn ? (versions.get(arn) ?? null) : null;
}
