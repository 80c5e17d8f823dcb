/**
 * CloudWatch metrics as Embedded Metric Format lines on stdout (Powertools `Metrics`): no AWS call,
 * so they flush the same in Lambda, the CLI and tests. Set `POWERTOOLS_METRICS_DISABLED=true` (read
 * by Powertools itself) to silence them, e.g. in tests.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const METRICS_NAMESPACE = 'CksReconciler';
export const SERVICE_NAME = 'cks-reconciler';

/** Outcomes of a repair, each its own metric: `RepairStarted`, `RepairSucceeded`, ... */
export type RepairOutcome = 'Started' | 'Succeeded' | 'Escalated' | 'Failed';

/** The metrics of one process; the caller publishes with `publishStoredMetrics()` at the end of a run. */
export function makeMetrics(): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
}

/**
 * Adds one gauge per connection state to the stored metrics, e.g. `StoresConnected`, `StoresFailed`,
 * `StoresMissing` (from `CONNECTED`, `FAILED`, `MISSING`). One metric name per state rather than one
 * metric with a `ConnectionState` dimension: an EMF line carries one set of dimension values, so the
 * dimension would cost a line per state; this way the whole pass is one line. Pass zeros too, so
 * alarms see 0 rather than missing data.
 */
export function recordStoreStates(metrics: Metrics, countsByState: Readonly<Record<string, number>>): void {
  for (const [state, count] of Object.entries(countsByState)) {
    metrics.addMetric(`Stores${state.charAt(0).toUpperCase()}${state.slice(1).toLowerCase()}`, MetricUnit.Count, count);
  }
}

/**
 * Counts one repair outcome (`Repair<outcome>`) with dimension `ErrorCode` (the store's
 * ConnectionErrorCode, or e.g. `NONE`). Emitted at once as its own EMF line, because its dimension
 * value differs from the run's other metrics.
 */
export function recordRepair(metrics: Metrics, outcome: RepairOutcome, errorCode: string): void {
  metrics.singleMetric().addDimension('ErrorCode', errorCode).addMetric(`Repair${outcome}`, MetricUnit.Count, 1);
}

/**
 * Counts one pass that could not reach a scope (`ScopesUnreachable`, dimension `ErrorCode`),
 * emitted at once as its own EMF line. The alarm on it fires while any scope stays unreachable.
 */
export function recordScopeUnreachable(metrics: Metrics, errorCode: string): void {
  metrics.singleMetric().addDimension('ErrorCode', errorCode).addMetric('ScopesUnreachable', MetricUnit.Count, 1);
}

/** A scope's stores at a glance, per pass: the dashboard's fleet health per scope. */
export interface ScopeHealthCounts {
  managed: number;
  connected: number;
  failed: number;
  /** CONNECTED stores with at least one open health finding. */
  atRisk: number;
}

/**
 * One EMF line per full pass of a scope with dimension `Scope` (`<account>/<region>`):
 * `ScopeStoresManaged`, `ScopeStoresConnected`, `ScopeStoresFailed`, `ScopeStoresAtRisk`. Its own
 * line because its dimension differs from the pass's other metrics; zeros are emitted too.
 */
export function recordScopeHealth(scope: string, counts: ScopeHealthCounts): void {
  const line = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  line.addDimension('Scope', scope);
  line.addMetric('ScopeStoresManaged', MetricUnit.Count, counts.managed);
  line.addMetric('ScopeStoresConnected', MetricUnit.Count, counts.connected);
  line.addMetric('ScopeStoresFailed', MetricUnit.Count, counts.failed);
  line.addMetric('ScopeStoresAtRisk', MetricUnit.Count, counts.atRisk);
  line.publishStoredMetrics();
}

/** Counts one health finding opened (`FindingsOpened`, a page) or cleared (`FindingsCleared`), dimension `Finding` (its kind). */
export function recordFinding(metrics: Metrics, change: 'Opened' | 'Cleared', finding: string): void {
  metrics.singleMetric().addDimension('Finding', finding).addMetric(`Findings${change}`, MetricUnit.Count, 1);
}
