/**
 * Health beyond CONNECTED, once per full pass of a scope: reads the external key store metrics of
 * the scope's CONNECTED external key stores in one GetMetricData call, judges every CONNECTED
 * store's findings (with the clusters the pass already described), and for each store whose
 * findings change records them in its status with the `Store At Risk` / `Store Risk Cleared`
 * events in the outbox, then publishes them: each finding pages once and clears once. A healthy
 * scope costs that one call and no write. A store whose desired state turns the active probe on
 * costs one KMS call more per pass: a failing probe of a CONNECTED store is a finding too.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type FindingEventContext, type ReconcilerEvent, storeAtRiskEvent, storeRiskClearedEvent } from '../domain/events.js';
import {
  certificateNameOf,
  diffFindings,
  type FindingsDiff,
  healthThresholds,
  judgeFindings,
  metricsTurn,
  type OpenFinding,
  type Verdicts,
  XKS_QUERIES_PER_STORE,
  type XksReading,
} from '../domain/health.js';
import type { ClusterView, DesiredStore, ObservedStore, Settings, StoreStatus } from '../domain/types.js';
import { scrubbedError } from '../errors.js';
import { recordFinding, recordScopeHealth } from '../metrics.js';
import type { ProbeTarget, ReconcileDeps, StoreRecord, XksMetricsTarget } from './ports.js';
import { publishOwed } from './reconcile-store.js';

/** One managed store as the pass saw it. */
export interface HealthSubject {
  record: StoreRecord;
  desired: DesiredStore;
  observed: ObservedStore | null;
}

/** The schedule's period: a scope with more external key stores than one call reads takes turns per period. */
const TURN_PERIOD_MS = 60_000;

/** Reviews the findings of every subject; returns how many events could not be published (they stay in the outbox). */
export async function reviewHealth(
  deps: ReconcileDeps,
  log: Logger,
  subjects: readonly HealthSubject[],
  clusters: ReadonlyMap<string, ClusterView>,
  settings: Settings,
  now: number,
): Promise<number> {
  const readings = await readMetrics(deps, log, subjects, now);
  const thresholds = healthThresholds(settings);
  let atRisk = 0;
  let unpublished = 0;
  for (const subject of subjects) {
    const { observed } = subject;
    const clusterId = observed?.cloudHsmClusterId;
    const verdicts: Verdicts = {
      ...judgeFindings({
        observed,
        cluster: clusterId === undefined ? undefined : clusters.get(clusterId),
        xks: observed ? readings.get(observed.id) : undefined,
        thresholds,
      }),
      ...(await probe(deps, log, subject)),
    };
    const open = subject.record.status?.findings ?? [];
    const diff = diffFindings(open, verdicts);
    const changed = diff.opened.length > 0 || diff.cleared.length > 0;
    const result = changed ? await record(deps, log, subject, verdicts, now) : { open: open.length, unpublished: 0 };
    if (result.open > 0) atRisk += 1;
    unpublished += result.unpublished;
  }
  if (deps.metrics) {
    const state = (s: string): number => subjects.filter((x) => x.observed?.connectionState === s).length;
    recordScopeHealth(`${deps.state.scope.accountId}/${deps.state.scope.region}`, {
      managed: subjects.length,
      connected: state('CONNECTED'),
      failed: state('FAILED'),
      atRisk,
    });
  }
  return unpublished;
}

/**
 * The active probe's verdict of a CONNECTED store whose desired state turns it on: one call that
 * exercises the store (GenerateRandom in a CloudHSM key store, Encrypt with the probe key of an
 * external key store). None when the store is not probed now, or when the call failed for a reason
 * that says nothing of the store (throttled, refused): the finding then stays as it is.
 */
async function probe(deps: ReconcileDeps, log: Logger, { desired, observed }: HealthSubject): Promise<Verdicts> {
  if (desired.probe !== true || observed?.connectionState !== 'CONNECTED' || observed.type !== desired.type) return {};
  const target: ProbeTarget =
    observed.type === 'AWS_CLOUDHSM'
      ? { type: 'AWS_CLOUDHSM', storeId: observed.id }
      : { type: 'EXTERNAL_KEY_STORE', keyId: desired.probeKeyId ?? '' };
  try {
    const result = await deps.kms.probe(target);
    if (result.ok) return { keyStoreProbeFailed: { open: false } };
    const reason = `the probe ${result.operation} failed with ${result.errorCode} while KMS says CONNECTED: ${result.message}`;
    return { keyStoreProbeFailed: { open: true, reason } };
  } catch (error) {
    log.warn('could not probe the store; its probe finding waits for the next pass', { storeName: desired.name, error: scrubbedError(error) });
    return {};
  }
}

/** The metrics of this pass's turn of CONNECTED external key stores; none when the read fails (no verdict: wait). */
async function readMetrics(deps: ReconcileDeps, log: Logger, subjects: readonly HealthSubject[], now: number): Promise<Map<string, XksReading>> {
  const targets: XksMetricsTarget[] = subjects.flatMap(({ observed }) =>
    observed?.type === 'EXTERNAL_KEY_STORE' && observed.connectionState === 'CONNECTED' && observed.xksProxy
      ? [{ storeId: observed.id, certificateName: certificateNameOf(observed.xksProxy.uriEndpoint) }]
      : [],
  );
  if (targets.length === 0) return new Map();
  try {
    return await deps.health.readXksHealth(metricsTurn(targets, XKS_QUERIES_PER_STORE, now, TURN_PERIOD_MS), now);
  } catch (error) {
    log.warn('cannot read the external key store metrics; their findings wait for the next pass', { error: scrubbedError(error) });
    return new Map();
  }
}

/** Records one store's changed findings with their events under its lease, then publishes them. */
async function record(
  deps: ReconcileDeps,
  log: Logger,
  subject: HealthSubject,
  verdicts: Parameters<typeof diffFindings>[1],
  now: number,
): Promise<{ open: number; unpublished: number }> {
  const name = subject.desired.name;
  try {
    // Leased at the time the store is reached, not the pass's start, as every store run is.
    const leasedAt = deps.clock.now();
    const lease = await deps.state.acquireLease(name, deps.owner, leasedAt, deps.leaseTtlMs, subject.observed?.id ?? null);
    if (!lease) return { open: subject.record.status?.findings?.length ?? 0, unpublished: 0 };
    if (lease.status === null) {
      await deps.state.releaseLease(name, deps.owner);
      return { open: 0, unpublished: 0 };
    }
    const ctx: FindingEventContext = { scope: deps.state.scope, desired: subject.desired, observed: subject.observed };
    const diff = diffFindings(lease.status.findings ?? [], verdicts);
    const { status, events } = applyDiff(ctx, lease.status, diff, now);
    const owed = [...lease.outbox, ...events];
    const savedAt = deps.clock.now();
    await deps.state.saveStatus(status, deps.owner, { now: savedAt, outbox: owed, holdLeaseUntil: savedAt + deps.leaseTtlMs });
    const published = await publishOwed(deps, log, status, owed);
    for (const event of events) log.info(event.detail.reason, { storeName: name, event: event.detailType });
    for (const change of diff.opened) if (deps.metrics) recordFinding(deps.metrics, 'Opened', change.kind);
    for (const finding of diff.cleared) if (deps.metrics) recordFinding(deps.metrics, 'Cleared', finding.kind);
    return { open: status.findings?.length ?? 0, unpublished: published.unpublished };
  } catch (error) {
    await deps.state.releaseLease(name, deps.owner).catch(() => undefined);
    log.error('could not record the findings of a store; the next pass tries again', { storeName: name, error: scrubbedError(error) });
    return { open: subject.record.status?.findings?.length ?? 0, unpublished: 0 };
  }
}

/** The status with the findings opened and cleared, and their events. */
function applyDiff(
  ctx: FindingEventContext,
  status: StoreStatus,
  diff: FindingsDiff,
  now: number,
): { status: StoreStatus; events: ReconcilerEvent[] } {
  const opened = diff.opened.map((change) => storeAtRiskEvent(ctx, change, now));
  const clearedKinds = new Set(diff.cleared.map((f) => f.kind));
  const findings: OpenFinding[] = [...(status.findings ?? []).filter((f) => !clearedKinds.has(f.kind)), ...opened.map((o) => o.finding)];
  const { findings: _previous, ...rest } = status;
  return {
    status: findings.length > 0 ? { ...rest, findings } : rest,
    events: [...diff.cleared.map((finding) => storeRiskClearedEvent(ctx, finding)), ...opened.map((o) => o.event)],
  };
}
