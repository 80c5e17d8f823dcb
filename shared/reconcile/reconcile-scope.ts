/**
 * A reconcile pass over one scope, for every store (a full pass) or the stores an event names: observe all, pick the
 * targets, judge whether a regional incident is under way, reconcile each target, report invalid
 * desired items, and summarise. Level-triggered: every run re-reads live state; a trigger only
 * narrows which stores are looked at.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type FieldError, formatFieldErrors, parseDesiredItem } from '../domain/desired-schema.js';
import { invalidDesiredEvent, type ReconcilerEvent, sweepSummaryEvent } from '../domain/events.js';
import { followUpSeconds } from '../domain/follow-up.js';
import { emptyStatus } from '../domain/plan.js';
import type {
  ClusterView,
  ConnectionState,
  DesiredStore,
  ManualChange,
  ObservedStore,
  SecretField,
  Settings,
  StoreStatus,
  UnreachableMark,
} from '../domain/types.js';
import { count } from '../domain/words.js';
import { scrubbedError } from '../errors.js';
import { recordStoreStates } from '../metrics.js';
import { reviewHealth } from './health-pass.js';
import { publishOwedPage } from './owed-page.js';
import type { CloudHsmPort, ReconcileDeps, RegionalIncident, SecretsPort, StoreRecord } from './ports.js';
import {
  publishOwed,
  readVersion,
  reconcileStore,
  type SecretInput,
  type StoreOutcome,
  secretInput,
  type Trigger,
  type VersionRead,
} from './reconcile-store.js';
import { settleSettings } from './settings-pass.js';

/** A connect or disconnect CloudTrail reported: the store it names, who made it and when (epoch ms). */
export interface ReportedChange {
  storeId: string | null;
  storeName: string | null;
  by: string | null;
  at: number | null;
  eventName: string;
}

export interface ReconcileRequest {
  trigger: Trigger;
  /** Reconcile only these stores (by name, store id or CloudHSM cluster id); absent: every managed store. */
  only?: { names?: readonly string[]; ids?: readonly string[]; clusterIds?: readonly string[] };
  /** Plan and report without acting, writing or emitting (`cks plan`). */
  dryRun?: boolean;
  /** Connects and disconnects a trigger reported (CloudTrail): who made them, recorded if the store turns out changed by hand. */
  changes?: readonly ReportedChange[];
}

export interface ReconcileResult {
  reconcileId: string;
  trigger: Trigger;
  dryRun: boolean;
  regionalIncident: boolean;
  outcomes: StoreOutcome[];
  /** Stores in KMS that no desired item names. */
  unmanaged: ObservedStore[];
  /** The scope's unreachable incident as this pass found it open (it was reached now: the fleet ends it). */
  unreachable: UnreachableMark | null;
  /** Stores to look at again soon, each after the delay its decision asks for (see {@link followUpsOf}). */
  followUps: FollowUp[];
}

/** One store of the scope to reconcile again after `afterSeconds`. */
export interface FollowUp {
  store: string;
  afterSeconds: number;
}

/** A run that did its work but could not tell anyone: its events did not reach EventBridge. */
export class EventsNotPublishedError extends Error {
  override readonly name = 'EventsNotPublishedError';
}

interface Managed {
  record: StoreRecord;
  desired: DesiredStore;
  observed: ObservedStore | null;
}

/** One reconcile pass. Never throws for one store's failure; throws only when the world cannot be read. */
export async function reconcileScope(deps: ReconcileDeps, request: ReconcileRequest): Promise<ReconcileResult> {
  const reconcileId = randomUUID();
  const dryRun = request.dryRun === true;
  const log = deps.logger.createChild({ persistentKeys: { reconcileId, trigger: request.trigger } });
  const now = deps.clock.now();

  const [
    { records, settings: desiredSettings, settingsSignatures, settingsError, settingsInForce, regionalIncident: openIncident, unreachable },
    observedAll,
  ] = await Promise.all([deps.state.loadAll(), deps.kms.listStores()]);
  if (settingsError !== null) log.error('settings item unreadable; no store is acted on until it is fixed (cks settings)', { error: settingsError });
  const { settings, unpublished: settingsUnpublished } = await settleSettings(
    deps,
    log,
    { desired: desiredSettings, error: settingsError, inForce: settingsInForce, signatures: settingsSignatures },
    dryRun,
  );
  for (const record of records.filter((r) => r.statusError !== null)) {
    log.error('status item unreadable; the store starts afresh and its next status write replaces the item', {
      storeName: record.name,
      error: record.statusError,
    });
  }
  const world = indexObserved(observedAll);

  const parsedAll: Managed[] = [];
  const invalid: Array<{ record: StoreRecord; errors: FieldError[] }> = [];
  for (const record of records) {
    if (!record.desired) continue;
    const parsed = parseDesiredItem(record.desired);
    if (parsed.ok) parsedAll.push({ record, desired: parsed.desired, observed: world.find(parsed.desired) });
    else invalid.push({ record, errors: parsed.errors });
  }
  // One store, one entry: entries that name the same KMS store are reported, and neither acts.
  const sameStore = entriesNamingOneStore(parsedAll);
  const managed = parsedAll.filter((m) => !sameStore.has(m.desired.name));
  for (const m of parsedAll.filter((m) => sameStore.has(m.desired.name))) {
    invalid.push({ record: m.record, errors: [sameStore.get(m.desired.name)!] });
  }
  const managedIds = new Set(managed.flatMap((m) => (m.observed ? [m.observed.id] : [])));
  const unmanaged = observedAll.filter((o) => !managedIds.has(o.id));

  const targets = managed.filter((m) => isTarget(request, m.desired, m.observed));
  const [clusters, versions] = await Promise.all([observeClusters(deps.cloudHsm, targets), observeSecretVersions(deps.secrets, targets, log)]);

  const regionalIncident = isRegionalIncident(managed, settings, log);

  const outcomes: StoreOutcome[] = [];
  for (const target of targets) {
    const storeLog = log.createChild({
      persistentKeys: { storeName: target.desired.name, storeId: target.observed?.id ?? null },
    });
    const run = { reconcileId, trigger: request.trigger, dryRun, log: storeLog };
    const password = secretOf(versions, 'keyStorePasswordSecretArn', target.desired.keyStorePasswordSecretArn);
    const credential = secretOf(versions, 'xksProxy.credentialSecretArn', target.desired.xksProxy?.credentialSecretArn);
    outcomes.push(
      await reconcileStore(
        deps,
        run,
        {
          scope: deps.state.scope,
          desired: target.desired,
          observed: target.observed,
          clusters,
          passwordVersion: password.version,
          xksCredentialVersion: credential.version,
          status: target.record.status,
          settings,
          regionalIncident,
          unreadable: [...password.unreadable, ...credential.unreadable],
          missingSecrets: [...password.missing, ...credential.missing],
          signatures: target.record.signatures,
          manualChange: reportedChange(request.changes, target, now),
          now,
        },
        target.record.outbox,
      ),
    );
  }
  if (!request.only) {
    for (const bad of invalid) outcomes.push(await reportInvalid(deps, dryRun, log, bad));
  }
  // Health beyond CONNECTED: full passes only (one GetMetricData per scope), after every store's own run.
  const riskUnpublished = !dryRun && !request.only ? await reviewHealth(deps, log, managed, clusters, settings, now) : 0;
  if (!dryRun) {
    const removed = records.filter(
      // A status item that cannot be read is closed too: it names no store anyone declares.
      (r) => r.desired === null && (r.status !== null || r.statusError !== null) && (!request.only || request.only.names?.includes(r.name) === true),
    );
    for (const record of removed) await closeRemoved(deps, log, record.name, { reconcileId, trigger: request.trigger });
  }

  const result: ReconcileResult = {
    reconcileId,
    trigger: request.trigger,
    dryRun,
    regionalIncident,
    outcomes,
    unmanaged,
    unreachable: unreachable ?? null,
    followUps: followUpsOf(request.trigger, outcomes),
  };
  // One summary per full pass (not per event run). The one that opens a regional incident is its page.
  let regionalUnpublished = 0;
  if (!dryRun && !request.only) {
    const observed = managed.map((m) => m.observed);
    const summaryOf = (since: number | null, started: boolean) => summaryEvent(deps, result, observed, settings, { since, started });
    regionalUnpublished = await settleRegionalIncident(deps, log, regionalIncident, openIncident, now, summaryOf);
    recordSummary(deps, log, result, observed);
  }
  const unpublished = settingsUnpublished + regionalUnpublished + outcomes.reduce((n, o) => n + o.unpublished, riskUnpublished);
  if (unpublished > 0) {
    // Every status is recorded; failing the run makes the lost events visible (function errors alarm).
    throw new EventsNotPublishedError(`${count(unpublished, 'event')} could not be published; see the log lines "events not published"`);
  }
  return result;
}

/**
 * A store removed from the desired state (`cks delete`, `cks apply --prune`): its status is closed
 * with a last history line, so that it is reported and reconciled no more while its history stays
 * readable. All under the store's lease, on the item as it is now (not the pass's snapshot): the
 * events it still owes are published and its outbox emptied first, and the item is deleted only while
 * the lease is ours and the outbox empty. A failure leaves the item, outbox included, to the next pass.
 */
export async function closeRemoved(deps: ReconcileDeps, log: Logger, name: string, run: { reconcileId: string; trigger: Trigger }): Promise<void> {
  try {
    const leasedAt = deps.clock.now();
    const lease = await deps.state.acquireLease(name, deps.owner, leasedAt, deps.leaseTtlMs);
    if (!lease) return;
    const closed = lease.desired === null && (await closeLeased(deps, lease, leasedAt + deps.leaseTtlMs));
    if (!closed) {
      await deps.state.releaseLease(name, deps.owner);
      return;
    }
    const status = lease.status;
    const ended = status?.incidentId ? `; incident ${status.incidentId} ends with it` : '';
    await deps.state.appendHistory(name, {
      at: deps.clock.now(),
      reconcileId: run.reconcileId,
      trigger: run.trigger,
      action: 'none',
      dryRun: false,
      reason: `removed from the desired state: its status (phase ${status?.phase ?? 'unreadable'}) is closed and it is no longer reconciled${ended}`,
      connectionState: status?.observedState ?? null,
      connectionErrorCode: status?.observedErrorCode ?? null,
      incidentId: status?.incidentId ?? null,
      events: [],
    });
  } catch (error) {
    await deps.state.releaseLease(name, deps.owner).catch(() => undefined);
    log.warn('could not close the status of a store removed from the desired state; the next pass tries again', {
      storeName: name,
      error: scrubbedError(error),
    });
  }
}

/** Publishes what the leased status owes, empties its outbox, and deletes it; false when the delete's condition no longer holds. */
async function closeLeased(deps: ReconcileDeps, lease: StoreRecord, holdLeaseUntil: number): Promise<boolean> {
  if (lease.outbox.length > 0) {
    await deps.events.publish(lease.outbox);
    const status = lease.status ?? emptyStatus(lease.name, deps.clock.now());
    await deps.state.saveStatus(status, deps.owner, { now: deps.clock.now(), outbox: [], holdLeaseUntil });
  }
  return deps.state.deleteStatus(lease.name, deps.owner, deps.clock.now());
}

/**
 * The follow-ups a pass asks for: a store whose decision waits on a short transition, when this run
 * recorded something for it (a step, a new observation) or continues a follow-up (whose store may be
 * unchanged while it waits). A run that changed nothing starts no follow-up, so that scheduled runs
 * during a long CONNECTING do not add chains beside the one under way: a duplicate chain costs
 * calls, a lost one the schedule's pace, neither anything else.
 */
function followUpsOf(trigger: Trigger, outcomes: readonly StoreOutcome[]): FollowUp[] {
  return outcomes.flatMap((outcome) => {
    const continues = outcome.skipped === null || (outcome.skipped === 'unchanged' && trigger === 'followup');
    const afterSeconds = outcome.decision && continues ? followUpSeconds(outcome.decision) : null;
    return afterSeconds === null ? [] : [{ store: outcome.name, afterSeconds }];
  });
}

/** Too many managed stores FAILED at once: a Region-wide cause, to report rather than repair store by store. */
function isRegionalIncident(managed: readonly Managed[], settings: Settings, log: Logger): boolean {
  const failed = managed.filter((m) => m.observed?.connectionState === 'FAILED').length;
  const regional = failed >= settings.blastRadiusMinFailed && failed / Math.max(managed.length, 1) > settings.blastRadiusMaxFailedShare;
  if (regional) {
    log.error('regional incident: too many stores FAILED at once; reporting instead of repairing', {
      failed,
      managed: managed.length,
    });
  }
  return regional;
}

/** An invalid desired item: a `Desired State Invalid` event and a log line, once per generation; the other stores go on. */
async function reportInvalid(
  deps: ReconcileDeps,
  dryRun: boolean,
  log: Logger,
  bad: { record: StoreRecord; errors: FieldError[] },
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
  log.error('desired state invalid; store skipped', { storeName: bad.record.name, errors: bad.errors });
  if (dryRun || (bad.record.status?.lastReportKey === reportKey && bad.record.outbox.length === 0)) return outcome;
  try {
    // The time the store is reached, not the pass's start: a lease taken late in a long pass must not have run out already.
    const leasedAt = deps.clock.now();
    const lease = await deps.state.acquireLease(bad.record.name, deps.owner, leasedAt, deps.leaseTtlMs);
    if (!lease) return outcome;
    const status: StoreStatus = {
      ...(lease.status ?? emptyStatus(bad.record.name, leasedAt)),
      observedGeneration: generation,
      lastReason: `desired item invalid: ${formatFieldErrors(bad.errors)}`,
      lastReportKey: reportKey,
    };
    const fresh =
      lease.status?.lastReportKey === reportKey
        ? []
        : [invalidDesiredEvent({ scope: deps.state.scope, storeName: bad.record.name, generation, errors: bad.errors })];
    const owed = [...lease.outbox, ...fresh];
    if (fresh.length > 0)
      await deps.state.saveStatus(status, deps.owner, { now: leasedAt, outbox: owed, holdLeaseUntil: leasedAt + deps.leaseTtlMs });
    const published = await publishOwed(deps, log, status, owed);
    return { ...outcome, ...published };
  } catch (error) {
    await deps.state.releaseLease(bad.record.name, deps.owner).catch(() => undefined);
    return { ...outcome, error: scrubbedError(error) };
  }
}

/**
 * The regional incident's page, exactly once per incident however many passes run or fail. The pass
 * that finds one beginning opens it by conditional write, with its summary (the page, its `eventId`
 * derived from the incident's start) in the incident's outbox; a pass that loses that race, or finds
 * the incident open, publishes a plain summary. A page still owed from an earlier pass goes out first,
 * unchanged, and the outbox is emptied after; an incident ends only once its page went out. Returns
 * how many events could not be published (the page stays owed to the next full pass).
 */
async function settleRegionalIncident(
  deps: ReconcileDeps,
  log: Logger,
  active: boolean,
  open: RegionalIncident | null,
  now: number,
  summaryOf: (since: number | null, started: boolean) => ReconcilerEvent,
): Promise<number> {
  const opened = active && open === null ? await deps.state.openRegionalIncident(now, summaryOf(now, true)) : null;
  const incident = opened ?? open;
  // A page this pass did not open and did not find owed is another pass's to send.
  const owed = opened?.opened === true ? opened.outbox : (open?.outbox ?? []);
  if (incident !== null) {
    const unpublished = await publishOwedPage(
      deps,
      log,
      owed,
      'could not publish the regional incident page; it stays owed and the next full pass publishes it',
      () => deps.state.announceRegionalIncident(incident.since),
    );
    if (unpublished > 0) return unpublished;
  }
  if (!active && incident !== null) await deps.state.endRegionalIncident(incident.since);
  if (opened?.opened === true) return 0;
  try {
    await deps.events.publish([summaryOf(active ? (incident?.since ?? null) : null, false)]);
  } catch (error) {
    log.error('could not publish the sweep summary', { error: scrubbedError(error) });
  }
  return 0;
}

/** The pass's `Sweep Summary`: its stores at a glance, and whether it is the page of a regional incident it began. */
function summaryEvent(
  deps: ReconcileDeps,
  result: ReconcileResult,
  observed: ReadonlyArray<ObservedStore | null>,
  settings: Settings,
  regional: { since: number | null; started: boolean },
): ReconcilerEvent {
  return sweepSummaryEvent({
    scope: deps.state.scope,
    reconcileId: result.reconcileId,
    trigger: result.trigger,
    byState: countByState(observed),
    managed: observed.length,
    unmanaged: result.unmanaged.length,
    invalid: result.outcomes.filter((o) => o.skipped === 'invalid').length,
    actions: result.outcomes.filter((o) => o.taken !== null).length,
    escalations: result.outcomes.filter((o) => o.decision?.dryRun === false && o.decision.events.some((e) => e.detailType === 'Repair Escalated'))
      .length,
    regionalIncident: result.regionalIncident,
    regionalIncidentSince: regional.since,
    regionalIncidentStarted: regional.started,
    killSwitch: settings.killSwitch,
  });
}

function countByState(observed: ReadonlyArray<ObservedStore | null>): Record<ConnectionState | 'MISSING', number> {
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
  return byState;
}

/** The pass's metrics and its last log line. */
function recordSummary(deps: ReconcileDeps, log: Logger, result: ReconcileResult, observed: ReadonlyArray<ObservedStore | null>): void {
  const byState = countByState(observed);
  if (deps.metrics) {
    recordStoreStates(deps.metrics, byState);
    deps.metrics.publishStoredMetrics();
  }
  log.info('reconcile finished', { ...byState, outcomes: result.outcomes.length, regionalIncident: result.regionalIncident });
}

/**
 * Entries that resolve to the same custom key store (the same declared id, or one's name and
 * another's id naming one store KMS has): each with the error naming the other entries.
 */
function entriesNamingOneStore(entries: readonly Managed[]): Map<string, FieldError> {
  const byStore = new Map<string, Managed[]>();
  for (const entry of entries) {
    const keys = new Set([entry.observed?.id, entry.desired.id].filter((id): id is string => id !== undefined));
    for (const key of keys) byStore.set(key, [...(byStore.get(key) ?? []), entry]);
  }
  const clashes = new Map<string, FieldError>();
  for (const [storeId, group] of byStore) {
    if (group.length < 2) continue;
    for (const entry of group) {
      const others = group.filter((g) => g !== entry).map((g) => `"${g.desired.name}"`);
      clashes.set(entry.desired.name, {
        path: entry.desired.id === storeId ? 'id' : 'name',
        message: `names the same custom key store (${storeId}) as desired store ${others.join(', ')}; neither acts until one entry is removed`,
      });
    }
  }
  return clashes;
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

async function observeClusters(cloudHsm: CloudHsmPort, targets: readonly Managed[]): Promise<ReadonlyMap<string, ClusterView>> {
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
async function observeSecretVersions(secrets: SecretsPort, targets: readonly Managed[], log: Logger): Promise<Map<string, VersionRead>> {
  const arns = new Set(
    targets
      .filter(({ record, observed }) => record.status === null || record.status.phase !== 'IDLE' || observed?.connectionState !== 'CONNECTED')
      .flatMap(({ desired }) => [desired.keyStorePasswordSecretArn, desired.xksProxy?.credentialSecretArn])
      .filter((arn): arn is string => arn !== undefined),
  );
  return new Map(await Promise.all([...arns].map(async (arn) => [arn, await readVersion(secrets, arn, log)] as const)));
}

/** A secret field's input for plan from this sweep's reads (see {@link secretInput}). */
function secretOf(versions: ReadonlyMap<string, VersionRead>, field: SecretField, arn: string | undefined): SecretInput {
  return secretInput(field, arn, arn ? versions.get(arn) : undefined);
}

/** What a trigger reported of a manual connect or disconnect of this store; its time defaults to now. */
function reportedChange(changes: readonly ReportedChange[] | undefined, target: Managed, now: number): ManualChange | null {
  const ids = [target.desired.id, target.observed?.id].filter((id) => id !== undefined);
  const names = [target.desired.name, target.observed?.name].filter((name) => name !== undefined);
  const found = changes?.find((c) => (c.storeId !== null && ids.includes(c.storeId)) || (c.storeName !== null && names.includes(c.storeName)));
  return found ? { by: found.by, at: found.at ?? now, eventName: found.eventName } : null;
}
