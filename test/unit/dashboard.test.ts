/**
 * The operators' dashboard (cloudformation/stack/dashboard.yml): its DashboardBody renders to valid
 * JSON, and every CksReconciler metric a widget reads is one shared/metrics.ts emits, with the
 * dimensions it emits it with (a SEARCH over other dimensions finds nothing).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse, type Tags } from 'yaml';
import {
  METRICS_NAMESPACE,
  makeMetrics,
  recordFinding,
  recordRepair,
  recordScopeHealth,
  recordScopeUnreachable,
  recordStoreStates,
} from '../../shared/metrics.js';

const SUB: Tags = [{ tag: '!Sub', resolve: (value: string) => ({ 'Fn::Sub': value }) }];
const template = parse(readFileSync(new URL('../../cloudformation/stack/dashboard.yml', import.meta.url), 'utf8'), { customTags: SUB });

/** The body as CloudFormation renders it, with the Serverless and CloudFormation variables given values. */
function renderBody(): { widgets: Array<{ type: string; properties: { title?: string; metrics?: unknown[][] } }> } {
  const body: string = template.Resources.OperationsDashboard.Properties.DashboardBody['Fn::Sub'];
  const values: Record<string, string> = {
    'AWS::Region': 'us-east-1',
    'sls:stage': 'prod',
    'self:custom.sweepFunctionName': 'cks-reconciler-prod-sweep',
    'self:custom.workerFunctionName': 'cks-reconciler-prod-worker',
    'self:custom.onEventFunctionName': 'cks-reconciler-prod-on-event',
    'self:custom.onChangeFunctionName': 'cks-reconciler-prod-on-change',
  };
  const rendered = body.replace(/\$\{([^}]+)\}/g, (_all, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`the dashboard body names an unknown variable \${${name}}`);
    return value;
  });
  return JSON.parse(rendered);
}

/** Every metric name shared/metrics.ts emits, with its dimension names (sorted), from the EMF lines themselves. */
function emittedMetrics(): Map<string, string[]> {
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const metrics = makeMetrics();
  recordStoreStates(metrics, { CONNECTED: 1, CONNECTING: 0, FAILED: 0, DISCONNECTED: 0, DISCONNECTING: 0, MISSING: 0 });
  metrics.publishStoredMetrics();
  for (const outcome of ['Started', 'Succeeded', 'Failed', 'Escalated'] as const) recordRepair(metrics, outcome, 'NETWORK_ERRORS');
  recordScopeUnreachable(metrics, 'AccessDenied');
  recordScopeHealth('111122223333/us-east-1', { managed: 2, connected: 2, failed: 0, atRisk: 1 });
  recordFinding(metrics, 'Opened', 'xksCertificateExpiring');
  recordFinding(metrics, 'Cleared', 'xksCertificateExpiring');
  const lines = write.mock.calls.map(([chunk]) => JSON.parse(String(chunk)));
  write.mockRestore();
  const emitted = new Map<string, string[]>();
  for (const line of lines) {
    for (const directive of line._aws.CloudWatchMetrics) {
      expect(directive.Namespace).toBe(METRICS_NAMESPACE);
      for (const metric of directive.Metrics) emitted.set(metric.Name, [...directive.Dimensions[0]].sort());
    }
  }
  return emitted;
}

/** The CksReconciler metrics a widget reads: from SEARCH expressions (schema and MetricName) and plain metric rows. */
function readMetrics(rows: unknown[][]): Array<{ name: string; dimensions: string[] }> {
  return rows.flatMap((row) => {
    const first = row[0];
    if (typeof first === 'object' && first !== null && 'expression' in first) {
      const expression = String((first as { expression: string }).expression);
      return [...expression.matchAll(/SEARCH\('\{([^}]*)\} MetricName="([^"]+)"'/g)].map((match) => {
        const [namespace, ...dimensions] = match[1]!.split(',');
        expect(namespace).toBe(METRICS_NAMESPACE);
        return { name: match[2]!, dimensions: dimensions.sort() };
      });
    }
    if (row[0] !== METRICS_NAMESPACE) return [];
    const dimensionNames = row.slice(2).filter((_v, i) => i % 2 === 0 && typeof row[i + 2] === 'string') as string[];
    return [{ name: String(row[1]), dimensions: dimensionNames.sort() }];
  });
}

describe('the operations dashboard', () => {
  afterEach(() => vi.restoreAllMocks());

  it('renders to a JSON body whose every widget shows something', () => {
    const body = renderBody();
    const metricWidgets = body.widgets.filter((w) => w.type === 'metric');
    expect(metricWidgets.length).toBeGreaterThanOrEqual(6);
    for (const widget of metricWidgets) expect(widget.properties.metrics?.length).toBeGreaterThan(0);
    const titles = metricWidgets.map((w) => w.properties.title ?? '').join(' | ');
    for (const topic of ['Fleet health per scope', 'Repairs', 'Pages', 'Findings at risk', 'durations']) expect(titles).toContain(topic);
  });

  it('reads only metrics that shared/metrics.ts emits, with the dimensions it emits them with', () => {
    const emitted = emittedMetrics();
    const read = renderBody().widgets.flatMap((w) => readMetrics(w.properties.metrics ?? []));
    expect(read.length).toBeGreaterThan(0);
    for (const metric of read) {
      expect(emitted.has(metric.name), `${metric.name} is emitted`).toBe(true);
      expect(metric.dimensions, `dimensions of ${metric.name}`).toEqual(emitted.get(metric.name));
    }
    expect(new Set(read.map((m) => m.name))).toEqual(
      new Set([
        'ScopeStoresConnected',
        'ScopeStoresFailed',
        'ScopeStoresAtRisk',
        'RepairStarted',
        'RepairSucceeded',
        'RepairFailed',
        'RepairEscalated',
        'ScopesUnreachable',
        'FindingsOpened',
        'FindingsCleared',
      ]),
    );
  });
});
