/**
 * The pure health findings: which risks a CONNECTED store has (table-driven), what a verdict
 * changes of the open findings, and which stores one GetMetricData call reads.
 */
import { describe, expect, it } from 'vitest';
import { storeAtRiskEvent, storeRiskClearedEvent } from '../../shared/domain/events.js';
import {
  DEFAULT_HEALTH_THRESHOLDS,
  diffFindings,
  type FindingKind,
  healthThresholds,
  judgeFindings,
  MAX_METRIC_QUERIES,
  metricsTurn,
  type OpenFinding,
  type Verdicts,
  XKS_QUERIES_PER_STORE,
  type XksReading,
} from '../../shared/domain/health.js';
import { FINDING_RUNBOOKS } from '../../shared/domain/playbooks.js';
import { DEFAULT_SETTINGS } from '../../shared/domain/types.js';
import { cloudHsmDesired, cloudHsmObserved, cluster, SCOPE, xksDesired, xksObserved } from '../helpers/world.js';
import { expectValidEvents, NOW } from './domain-fixtures.js';

const HEALTHY_XKS: XksReading = { certificateDaysToExpire: 200, credentialAgeDays: 10, keyManagerNotActive: 0, proxyErrors: 0, proxyLatencyMs: 40 };
const open = (verdicts: Verdicts): FindingKind[] => (Object.keys(verdicts) as FindingKind[]).filter((k) => verdicts[k]?.open === true).sort();
const judged = (verdicts: Verdicts): FindingKind[] => (Object.keys(verdicts) as FindingKind[]).sort();

describe('judgeFindings: external key stores', () => {
  const cases: Array<{ name: string; reading: Partial<XksReading>; open: FindingKind[] }> = [
    { name: 'a healthy store has no finding', reading: {}, open: [] },
    { name: 'a certificate with 5 days left', reading: { certificateDaysToExpire: 5 }, open: ['xksCertificateExpiring'] },
    { name: 'a certificate with exactly the threshold left', reading: { certificateDaysToExpire: 30 }, open: ['xksCertificateExpiring'] },
    { name: 'a certificate with 31 days left', reading: { certificateDaysToExpire: 31 }, open: [] },
    { name: 'a credential older than the policy', reading: { credentialAgeDays: 91 }, open: ['xksCredentialOld'] },
    { name: 'a credential exactly as old as the policy', reading: { credentialAgeDays: 90 }, open: [] },
    { name: 'an external key manager instance not Active', reading: { keyManagerNotActive: 1 }, open: ['xksKeyManagerNotActive'] },
    { name: 'proxy errors over the threshold', reading: { proxyErrors: 11 }, open: ['xksProxyErrors'] },
    { name: 'proxy errors at the threshold', reading: { proxyErrors: 10 }, open: [] },
    { name: 'proxy latency over the threshold', reading: { proxyLatencyMs: 201 }, open: ['xksProxyLatency'] },
    {
      name: 'several at once',
      reading: { certificateDaysToExpire: 1, proxyErrors: 500, keyManagerNotActive: 2 },
      open: ['xksCertificateExpiring', 'xksKeyManagerNotActive', 'xksProxyErrors'],
    },
  ];
  it.each(cases)('$name', ({ reading, open: expected }) => {
    const verdicts = judgeFindings({
      observed: xksObserved(),
      cluster: undefined,
      xks: { ...HEALTHY_XKS, ...reading },
      thresholds: DEFAULT_HEALTH_THRESHOLDS,
    });
    expect(open(verdicts)).toEqual(expected);
    expect(judged(verdicts)).toEqual(['xksCertificateExpiring', 'xksCredentialOld', 'xksKeyManagerNotActive', 'xksProxyErrors', 'xksProxyLatency']);
  });

  it('gives no verdict on a metric without a datapoint, nor on a store whose metrics were not read', () => {
    const partial = judgeFindings({
      observed: xksObserved(),
      cluster: undefined,
      xks: { ...HEALTHY_XKS, certificateDaysToExpire: null, keyManagerNotActive: null },
      thresholds: DEFAULT_HEALTH_THRESHOLDS,
    });
    expect(judged(partial)).toEqual(['xksCredentialOld', 'xksProxyErrors', 'xksProxyLatency']);
    expect(judgeFindings({ observed: xksObserved(), cluster: undefined, xks: undefined, thresholds: DEFAULT_HEALTH_THRESHOLDS })).toEqual({});
  });

  it('judges only CONNECTED stores', () => {
    for (const connectionState of ['FAILED', 'DISCONNECTED', 'CONNECTING', 'DISCONNECTING'] as const) {
      const observed = xksObserved({ connectionState });
      expect(
        judgeFindings({ observed, cluster: undefined, xks: { ...HEALTHY_XKS, certificateDaysToExpire: 1 }, thresholds: DEFAULT_HEALTH_THRESHOLDS }),
      ).toEqual({});
    }
    expect(judgeFindings({ observed: null, cluster: undefined, xks: HEALTHY_XKS, thresholds: DEFAULT_HEALTH_THRESHOLDS })).toEqual({});
  });

  it('takes the thresholds from the settings, each absent one at its default', () => {
    const thresholds = healthThresholds({ ...DEFAULT_SETTINGS, health: { certificateExpiryDays: 3 } });
    expect(thresholds).toEqual({ ...DEFAULT_HEALTH_THRESHOLDS, certificateExpiryDays: 3 });
    const verdicts = judgeFindings({ observed: xksObserved(), cluster: undefined, xks: { ...HEALTHY_XKS, certificateDaysToExpire: 5 }, thresholds });
    expect(open(verdicts)).toEqual([]);
  });
});

describe('judgeFindings: CloudHSM stores', () => {
  const cases: Array<{ name: string; activeHsms: number; zones: string[]; open: FindingKind[] }> = [
    { name: 'two ACTIVE HSMs in two zones', activeHsms: 2, zones: ['us-east-1a', 'us-east-1b'], open: [] },
    { name: 'one ACTIVE HSM', activeHsms: 1, zones: ['us-east-1a'], open: ['clusterTooFewHsms'] },
    { name: 'no ACTIVE HSM', activeHsms: 0, zones: [], open: ['clusterTooFewHsms'] },
    { name: 'three ACTIVE HSMs, all in one zone', activeHsms: 3, zones: ['us-east-1a'], open: ['clusterSingleZone'] },
  ];
  it.each(cases)('$name', ({ activeHsms, zones, open: expected }) => {
    const verdicts = judgeFindings({
      observed: cloudHsmObserved(),
      cluster: cluster({ activeHsms, hsmAvailabilityZones: zones }),
      xks: undefined,
      thresholds: DEFAULT_HEALTH_THRESHOLDS,
    });
    expect(open(verdicts)).toEqual(expected);
    expect(judged(verdicts)).toEqual(['clusterSingleZone', 'clusterTooFewHsms']);
  });

  it('gives no verdict when the cluster was not found', () => {
    expect(judgeFindings({ observed: cloudHsmObserved(), cluster: undefined, xks: undefined, thresholds: DEFAULT_HEALTH_THRESHOLDS })).toEqual({});
  });
});

describe('diffFindings', () => {
  const certificate: OpenFinding = { kind: 'xksCertificateExpiring', openedAt: NOW, eventId: 'evt-1', reason: 'expires in 5 days' };
  const cases: Array<{ name: string; open: OpenFinding[]; verdicts: Verdicts; opened: FindingKind[]; cleared: FindingKind[] }> = [
    {
      name: 'opens a finding judged open that is not open',
      open: [],
      verdicts: { xksCertificateExpiring: { open: true, reason: 'r' } },
      opened: ['xksCertificateExpiring'],
      cleared: [],
    },
    {
      name: 'does not open an open finding again',
      open: [certificate],
      verdicts: { xksCertificateExpiring: { open: true, reason: 'r' } },
      opened: [],
      cleared: [],
    },
    {
      name: 'clears an open finding judged clear',
      open: [certificate],
      verdicts: { xksCertificateExpiring: { open: false } },
      opened: [],
      cleared: ['xksCertificateExpiring'],
    },
    { name: 'keeps an open finding without a verdict (unread input: wait)', open: [certificate], verdicts: {}, opened: [], cleared: [] },
    { name: 'clears nothing that is not open', open: [], verdicts: { clusterTooFewHsms: { open: false } }, opened: [], cleared: [] },
  ];
  it.each(cases)('$name', ({ open: current, verdicts, opened, cleared }) => {
    const diff = diffFindings(current, verdicts);
    expect(diff.opened.map((c) => c.kind)).toEqual(opened);
    expect(diff.cleared.map((f) => f.kind)).toEqual(cleared);
    for (const change of diff.opened) expect(change.runbook).toBe(FINDING_RUNBOOKS[change.kind]);
  });
});

describe('finding events', () => {
  it('builds a Store At Risk with its runbook and a Store Risk Cleared that resolves it, both valid', () => {
    const ctx = { scope: SCOPE, desired: xksDesired(), observed: xksObserved() };
    const { event, finding } = storeAtRiskEvent(
      ctx,
      { kind: 'xksCertificateExpiring', reason: 'expires in 5 days', runbook: FINDING_RUNBOOKS.xksCertificateExpiring },
      NOW,
    );
    const cleared = storeRiskClearedEvent(ctx, finding);
    expectValidEvents([event, cleared]);
    expect(event.detail).toMatchObject({
      finding: 'xksCertificateExpiring',
      runbook: FINDING_RUNBOOKS.xksCertificateExpiring,
      eventId: finding.eventId,
    });
    expect(cleared.detail).toMatchObject({ finding: 'xksCertificateExpiring', resolves: finding.eventId });
    expect(cleared.detail.eventId).not.toBe(finding.eventId);
    expect(storeAtRiskEvent(ctx, { kind: 'xksCertificateExpiring', reason: 'again', runbook: 'r' }, NOW).finding.eventId).toBe(finding.eventId);
    expect(
      storeAtRiskEvent({ ...ctx, desired: cloudHsmDesired() }, { kind: 'clusterTooFewHsms', reason: 'r', runbook: 'r' }, NOW).event.detailType,
    ).toBe('Store At Risk');
  });
});

describe('metricsTurn: one GetMetricData call per pass', () => {
  const stores = (n: number) => Array.from({ length: n }, (_, i) => ({ storeId: `cks-${String(i).padStart(17, '0')}` }));
  const perCall = Math.floor(MAX_METRIC_QUERIES / XKS_QUERIES_PER_STORE);

  it('reads every store when their queries fit in one call', () => {
    expect(metricsTurn(stores(perCall), XKS_QUERIES_PER_STORE, NOW, 60_000)).toHaveLength(perCall);
  });

  it('with more than 500 queries, reads a window that fits and moves it each period, so every store is read within a few passes', () => {
    const all = stores(500);
    const turns = Math.ceil(500 / perCall);
    const seen = new Set<string>();
    for (let pass = 0; pass < turns; pass++) {
      const turn = metricsTurn(all, XKS_QUERIES_PER_STORE, pass * 60_000, 60_000);
      expect(turn.length * XKS_QUERIES_PER_STORE).toBeLessThanOrEqual(MAX_METRIC_QUERIES);
      for (const s of turn) seen.add(s.storeId);
    }
    expect(seen.size).toBe(500);
    expect(metricsTurn(all, XKS_QUERIES_PER_STORE, turns * 60_000, 60_000)).toEqual(metricsTurn(all, XKS_QUERIES_PER_STORE, 0, 60_000));
  });
});
