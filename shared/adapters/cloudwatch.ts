/**
 * CloudWatch over `@aws-sdk/client-cloudwatch`: the `AWS/KMS` external key store metrics the health
 * findings read, for many stores in one GetMetricData call.
 */
import { type CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { MAX_METRIC_QUERIES, XKS_QUERIES_PER_STORE, type XksReading } from '../domain/health.js';
import type { HealthPort, XksMetricsTarget } from '../reconcile/ports.js';
import { awsCall } from './aws-errors.js';

/** KMS publishes these metrics every few minutes: read the last 15, in 5-minute periods. */
const WINDOW_MS = 15 * 60_000;
const PERIOD_SECONDS = 300;

type Field = keyof XksReading | 'keyManagerDegraded' | 'keyManagerUnavailable';

/** The queries of one store: metric, statistic, extra dimensions, and the reading field each fills. */
const QUERIES: ReadonlyArray<{ field: Field; metricName: string; stat: string; dimensions?: (t: XksMetricsTarget) => Record<string, string> }> = [
  {
    field: 'certificateDaysToExpire',
    metricName: 'XksProxyCertificateDaysToExpire',
    stat: 'Minimum',
    dimensions: (t) => ({ XksProxyCertificateName: t.certificateName }),
  },
  { field: 'credentialAgeDays', metricName: 'XksProxyCredentialAge', stat: 'Maximum' },
  {
    field: 'keyManagerDegraded',
    metricName: 'XksExternalKeyManagerStates',
    stat: 'Maximum',
    dimensions: () => ({ XksExternalKeyManagerState: 'Degraded' }),
  },
  {
    field: 'keyManagerUnavailable',
    metricName: 'XksExternalKeyManagerStates',
    stat: 'Maximum',
    dimensions: () => ({ XksExternalKeyManagerState: 'Unavailable' }),
  },
  { field: 'proxyErrors', metricName: 'XksProxyErrors', stat: 'Sum' },
  { field: 'proxyLatencyMs', metricName: 'XksProxyLatency', stat: 'Average' },
];

/** {@link HealthPort} over a `CloudWatchClient`. */
export class CloudWatchAdapter implements HealthPort {
  constructor(private readonly client: CloudWatchClient) {}

  async readXksHealth(stores: readonly XksMetricsTarget[], now: number): Promise<Map<string, XksReading>> {
    const readings = new Map<string, XksReading>();
    if (stores.length === 0) return readings;
    if (stores.length * XKS_QUERIES_PER_STORE > MAX_METRIC_QUERIES) {
      throw new Error(`${stores.length} stores need more than the ${MAX_METRIC_QUERIES} queries one GetMetricData call takes`);
    }
    const queries: MetricDataQuery[] = stores.flatMap((store, index) =>
      QUERIES.map((q) => ({
        Id: `s${index}_${q.field}`,
        ReturnData: true,
        MetricStat: {
          Metric: {
            Namespace: 'AWS/KMS',
            MetricName: q.metricName,
            Dimensions: Object.entries({ CustomKeyStoreId: store.storeId, ...q.dimensions?.(store) }).map(([Name, Value]) => ({ Name, Value })),
          },
          Period: PERIOD_SECONDS,
          Stat: q.stat,
        },
      })),
    );
    const latest = new Map<string, number>();
    let nextToken: string | undefined;
    do {
      const page = await awsCall('CloudWatch.GetMetricData', () =>
        this.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: queries,
            StartTime: new Date(now - WINDOW_MS),
            EndTime: new Date(now),
            ScanBy: 'TimestampDescending',
            NextToken: nextToken,
          }),
        ),
      );
      for (const result of page.MetricDataResults ?? []) {
        const value = result.Values?.[0];
        if (result.Id !== undefined && value !== undefined && !latest.has(result.Id)) latest.set(result.Id, value);
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);

    stores.forEach((store, index) => {
      const read = (field: Field): number | null => latest.get(`s${index}_${field}`) ?? null;
      const degraded = read('keyManagerDegraded');
      const unavailable = read('keyManagerUnavailable');
      readings.set(store.storeId, {
        certificateDaysToExpire: read('certificateDaysToExpire'),
        credentialAgeDays: read('credentialAgeDays'),
        keyManagerNotActive: degraded === null && unavailable === null ? null : (degraded ?? 0) + (unavailable ?? 0),
        proxyErrors: read('proxyErrors'),
        proxyLatencyMs: read('proxyLatencyMs'),
      });
    });
    return readings;
  }
}
