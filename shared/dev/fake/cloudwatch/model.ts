/**
 * CloudWatch metrics of one account and Region: the latest value of each metric the admin API set
 * (`POST /_fake/metrics`), and the `AWS/KMS` external key store metrics that follow the XKS proxy's
 * state. Only `GetMetricData` reads them.
 */
import type { KmsBackend } from '../kms/model.js';
import type { XksProxy } from '../kms/xks-proxy.js';
import type { GetMetricDataRequest, MetricStatQuery } from './requests.js';

/** One metric's identity: namespace, name and its dimensions (order does not matter, as in CloudWatch). */
export interface MetricKey {
  namespace: string;
  metricName: string;
  dimensions: Readonly<Record<string, string>>;
}

/** A datapoint: its time (epoch ms) and value. */
interface Datapoint {
  at: number;
  value: number;
}

/** One result of GetMetricData, before serialisation. */
export interface MetricDataResult {
  Id: string;
  Label: string;
  /** Epoch ms. */
  Timestamps: number[];
  Values: number[];
  StatusCode: 'Complete';
}

/**
 * While a connected external key store's proxy is unreachable, KMS's calls to it fail: the fake
 * reads `XksProxyErrors` (any dimensions of the store) as this many per period on top of what was
 * set, and `XksExternalKeyManagerStates` as no instance Active and one Unavailable.
 */
export const UNREACHABLE_PROXY_ERRORS = 100;

export class CloudWatchBackend {
  readonly #latest = new Map<string, Datapoint>();

  constructor(
    private readonly kms: KmsBackend,
    private readonly proxies: ReadonlyMap<string, XksProxy>,
  ) {}

  /** Sets the latest value of a metric (the admin API). */
  put(key: MetricKey, value: number, at: number): void {
    this.#latest.set(keyOf(key), { at, value });
  }

  /** Every metric set, for `GET /_fake/state`. */
  toState(): object[] {
    return [...this.#latest.entries()].map(([key, point]) => ({
      ...(JSON.parse(key) as object),
      value: point.value,
      at: new Date(point.at).toISOString(),
    }));
  }

  get isEmpty(): boolean {
    return this.#latest.size === 0;
  }

  /** GetMetricData: one datapoint per query at most (the latest value, when it falls in the time range). */
  getMetricData(request: GetMetricDataRequest, now: number): MetricDataResult[] {
    const start = request.StartTime * 1000;
    const end = request.EndTime * 1000;
    return request.MetricDataQueries.filter((query) => query.ReturnData !== false).map((query) => {
      const point = this.#read(query.MetricStat, now);
      // A datapoint counts in the period it falls in; a period that begins before EndTime is returned.
      const period = point === undefined ? undefined : periodStart(point.at, query.MetricStat.Period);
      const inRange = point !== undefined && period !== undefined && point.at >= start && period < end;
      return {
        Id: query.Id,
        Label: query.Label ?? query.MetricStat.Metric.MetricName,
        Timestamps: inRange ? [period] : [],
        Values: inRange ? [point.value] : [],
        StatusCode: 'Complete',
      };
    });
  }

  #read(stat: MetricStatQuery['MetricStat'], now: number): Datapoint | undefined {
    const dimensions = Object.fromEntries((stat.Metric.Dimensions ?? []).map((d) => [d.Name, d.Value]));
    const key = { namespace: stat.Metric.Namespace, metricName: stat.Metric.MetricName, dimensions };
    const set = this.#latest.get(keyOf(key));
    const down = key.namespace === 'AWS/KMS' && this.#proxyDown(dimensions.CustomKeyStoreId);
    if (!down) return set;
    switch (key.metricName) {
      case 'XksProxyErrors':
        return { at: now, value: (set?.value ?? 0) + UNREACHABLE_PROXY_ERRORS };
      case 'XksExternalKeyManagerStates':
        return { at: now, value: dimensions.XksExternalKeyManagerState === 'Unavailable' ? 1 : 0 };
      default:
        return set;
    }
  }

  /** A CONNECTED external key store whose proxy is unreachable (or gone). */
  #proxyDown(storeId: string | undefined): boolean {
    if (storeId === undefined) return false;
    const store = this.kms.find(storeId);
    const xks = store?.fields.xks;
    if (!store || store.id !== storeId || !xks || store.state !== 'CONNECTED') return false;
    return this.proxies.get(xks.uriEndpoint)?.reachable !== true;
  }
}

function keyOf(key: MetricKey): string {
  const dimensions = Object.fromEntries(Object.entries(key.dimensions).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify({ namespace: key.namespace, metricName: key.metricName, dimensions });
}

/** The start of the period (seconds) a time falls in, as CloudWatch aligns datapoints. */
function periodStart(at: number, periodSeconds: number): number {
  const period = periodSeconds * 1000;
  return Math.floor(at / period) * period;
}
