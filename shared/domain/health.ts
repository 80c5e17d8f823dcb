/**
 * Health beyond CONNECTED: which risks ("findings") a CONNECTED store has, judged from the external
 * key store metrics KMS publishes to CloudWatch and from the CloudHSM cluster the pass already
 * described. Pure: the reads happen elsewhere; an input not read (or whose read failed) is no
 * verdict, so a finding is neither opened nor cleared on it.
 */
import { FINDING_RUNBOOKS } from './playbooks.js';
import type { ClusterView, ObservedStore, Settings } from './types.js';

export const FINDING_KINDS = [
  'xksCertificateExpiring',
  'xksCredentialOld',
  'xksKeyManagerNotActive',
  'xksProxyErrors',
  'xksProxyLatency',
  'clusterTooFewHsms',
  'clusterSingleZone',
  'keyStoreProbeFailed',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** An open finding of a store, as its status item keeps it: it paged once (`eventId`) and clears once. */
export interface OpenFinding {
  kind: FindingKind;
  /** When it was opened (epoch ms). */
  openedAt: number;
  /** The `eventId` of its `Store At Risk` event. */
  eventId: string;
  reason: string;
}

/** Thresholds of the findings (settings item; each has a default). */
export interface HealthThresholds {
  /** Open when the proxy's TLS certificate expires within this many days. */
  certificateExpiryDays: number;
  /** Open when the proxy authentication credential is older than this many days. */
  credentialMaxAgeDays: number;
  /** Open when the proxy errors in the last 5-minute period exceed this. */
  proxyErrorsPer5Min: number;
  /** Open when the proxy's average latency in the last 5-minute period exceeds this many milliseconds. */
  proxyLatencyMs: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  certificateExpiryDays: 30,
  credentialMaxAgeDays: 90,
  proxyErrorsPer5Min: 10,
  // KMS waits 250 ms for an XKS proxy before the call times out.
  proxyLatencyMs: 200,
};

export function healthThresholds(settings: Settings): HealthThresholds {
  return { ...DEFAULT_HEALTH_THRESHOLDS, ...settings.health };
}

/**
 * The latest value of each external key store metric of one store (null: no datapoint in the time
 * read). `keyManagerNotActive` is the number of external key manager instances Degraded or Unavailable.
 */
export interface XksReading {
  certificateDaysToExpire: number | null;
  credentialAgeDays: number | null;
  keyManagerNotActive: number | null;
  proxyErrors: number | null;
  proxyLatencyMs: number | null;
}

/** What is known of one store for {@link judgeFindings}. */
export interface HealthInput {
  observed: ObservedStore | null;
  /** The store's cluster (CloudHSM), as DescribeClusters returned it; undefined: not found or not read. */
  cluster: ClusterView | undefined;
  /** The store's metrics (XKS); undefined: not read in this pass (or the read failed). */
  xks: XksReading | undefined;
  thresholds: HealthThresholds;
}

/** A judged finding: open with its reason, or clear. Kinds without a verdict are absent. */
export type Verdicts = Partial<Record<FindingKind, { open: true; reason: string } | { open: false }>>;

/** The findings a store has now, for the kinds its inputs allow a verdict on. Only CONNECTED stores are judged. */
export function judgeFindings(input: HealthInput): Verdicts {
  const { observed, cluster, xks, thresholds } = input;
  if (observed?.connectionState !== 'CONNECTED') return {};
  if (observed.type === 'AWS_CLOUDHSM') return cluster ? judgeCluster(cluster) : {};
  return xks ? judgeXks(xks, thresholds) : {};
}

function judgeCluster(cluster: ClusterView): Verdicts {
  const tooFew = cluster.activeHsms < 2;
  // One HSM is in one zone by nature: that is the too-few finding, not a second page.
  const oneZone = !tooFew && cluster.hsmAvailabilityZones.length < 2;
  return {
    clusterTooFewHsms: tooFew
      ? {
          open: true,
          reason: `cluster ${cluster.clusterId} has ${cluster.activeHsms} ACTIVE HSM${cluster.activeHsms === 1 ? '' : 's'}: one HSM failure away from INSUFFICIENT_CLOUDHSM_HSMS`,
        }
      : { open: false },
    clusterSingleZone: oneZone
      ? {
          open: true,
          reason: `every HSM of cluster ${cluster.clusterId} is in ${cluster.hsmAvailabilityZones[0] ?? 'one Availability Zone'}: one zone outage away from INSUFFICIENT_CLOUDHSM_HSMS`,
        }
      : { open: false },
  };
}

function judgeXks(xks: XksReading, t: HealthThresholds): Verdicts {
  const verdicts: Verdicts = {};
  const judge = (kind: FindingKind, value: number | null, isOpen: (v: number) => boolean, reason: (v: number) => string): void => {
    if (value === null) return;
    verdicts[kind] = isOpen(value) ? { open: true, reason: reason(value) } : { open: false };
  };
  judge(
    'xksCertificateExpiring',
    xks.certificateDaysToExpire,
    (v) => v <= t.certificateExpiryDays,
    (v) => `the XKS proxy's TLS certificate expires in ${v} days (threshold ${t.certificateExpiryDays})`,
  );
  judge(
    'xksCredentialOld',
    xks.credentialAgeDays,
    (v) => v > t.credentialMaxAgeDays,
    (v) => `the XKS proxy authentication credential is ${v} days old (policy ${t.credentialMaxAgeDays})`,
  );
  judge(
    'xksKeyManagerNotActive',
    xks.keyManagerNotActive,
    (v) => v > 0,
    (v) => `${v} external key manager instance${v === 1 ? ' is' : 's are'} Degraded or Unavailable`,
  );
  judge(
    'xksProxyErrors',
    xks.proxyErrors,
    (v) => v > t.proxyErrorsPer5Min,
    (v) => `the XKS proxy returned ${v} errors in 5 minutes (threshold ${t.proxyErrorsPer5Min})`,
  );
  judge(
    'xksProxyLatency',
    xks.proxyLatencyMs,
    (v) => v > t.proxyLatencyMs,
    (v) => `the XKS proxy answers in ${Math.round(v)} ms on average (threshold ${t.proxyLatencyMs} ms; KMS gives up at 250 ms)`,
  );
  return verdicts;
}

/** A finding to open: its kind, why, and its runbook. */
export interface FindingChange {
  kind: FindingKind;
  reason: string;
  runbook: string;
}

/** What the verdicts change of a store's open findings. */
export interface FindingsDiff {
  /** Findings to open (not open before). */
  opened: FindingChange[];
  /** Open findings whose verdict is now clear. */
  cleared: OpenFinding[];
}

/**
 * Opens the findings judged open that are not open yet, clears the open ones judged clear; a kind
 * without a verdict stays as it was.
 */
export function diffFindings(open: readonly OpenFinding[], verdicts: Verdicts): FindingsDiff {
  const isOpen = new Set(open.map((f) => f.kind));
  const opened: FindingChange[] = [];
  for (const kind of FINDING_KINDS) {
    const verdict = verdicts[kind];
    if (verdict?.open === true && !isOpen.has(kind)) opened.push({ kind, reason: verdict.reason, runbook: FINDING_RUNBOOKS[kind] });
  }
  const cleared = open.filter((f) => verdicts[f.kind]?.open === false);
  return { opened, cleared };
}

/** GetMetricData takes at most this many queries per call. */
export const MAX_METRIC_QUERIES = 500;

/** The queries one external key store costs (see {@link XksReading}: Degraded and Unavailable are one query each). */
export const XKS_QUERIES_PER_STORE = 6;

/**
 * KMS publishes `XksProxyCertificateDaysToExpire` per store and certificate name: the name is the host
 * the certificate is for, the host of the proxy's URI endpoint (the private DNS name for a VPC endpoint service).
 */
export function certificateNameOf(uriEndpoint: string): string {
  return uriEndpoint.replace(/^https:\/\//, '');
}

/**
 * The stores whose metrics this pass reads, in one GetMetricData call: all of them when their
 * queries fit in one call, else the turn of this `periodMs` (sorted by store id, a window of as
 * many as fit, moving one window per period), so a scope costs one call per pass however many
 * stores it has, and every store is read once every few passes.
 */
export function metricsTurn<T extends { storeId: string }>(stores: readonly T[], queriesPerStore: number, now: number, periodMs: number): T[] {
  const perCall = Math.floor(MAX_METRIC_QUERIES / queriesPerStore);
  const sorted = [...stores].sort((a, b) => (a.storeId < b.storeId ? -1 : a.storeId > b.storeId ? 1 : 0));
  if (sorted.length <= perCall) return sorted;
  const turns = Math.ceil(sorted.length / perCall);
  const turn = Math.floor(now / periodMs) % turns;
  return sorted.slice(turn * perCall, (turn + 1) * perCall);
}
