/**
 * Health beyond CONNECTED against the fake: findings from the external key store metrics
 * (GetMetricData) and from DescribeClusters, each paged once with its runbook and cleared once.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventSchemas } from '../../shared/domain/events.js';
import { FINDING_RUNBOOKS } from '../../shared/domain/playbooks.js';
import type { EventDetailType } from '../../shared/domain/types.js';
import { type ReconcilerEnv, startReconcilerEnv } from '../helpers/reconciler.js';
import { cloudHsmStore, xksStore } from '../helpers/world.js';

let env: ReconcilerEnv;

beforeEach(async () => {
  env = await startReconcilerEnv();
});

afterEach(async () => {
  await env.close();
});

async function riskEvents() {
  const events = (await env.events()).filter((e) => e.DetailType === 'Store At Risk' || e.DetailType === 'Store Risk Cleared');
  for (const e of events) eventSchemas[e.DetailType as EventDetailType].parse(e.Detail);
  return events;
}

/** A CONNECTED external key store, declared CONNECTED (with `extra` desired fields); first sweep taken. */
async function connectedXksStore(name: string, extra: (storeId: string) => Promise<Record<string, unknown>> = async () => ({})) {
  const { storeId, uriEndpoint, uriPath, credentialSecretArn } = await xksStore(env.fake, { name, connected: true, secret: true });
  await env.apply({
    name,
    type: 'EXTERNAL_KEY_STORE',
    desiredState: 'CONNECTED',
    xksProxy: { uriEndpoint, uriPath, connectivity: 'PUBLIC_ENDPOINT', credentialSecretArn },
    ...(await extra(storeId)),
  });
  await env.run();
  return { storeId, uriEndpoint };
}

async function setCertificateDays(storeId: string, uriEndpoint: string, value: number): Promise<void> {
  const res = await env.fake.admin('POST', '/_fake/metrics', {
    namespace: 'AWS/KMS',
    metricName: 'XksProxyCertificateDaysToExpire',
    dimensions: { CustomKeyStoreId: storeId, XksProxyCertificateName: uriEndpoint.replace('https://', '') },
    value,
  });
  expect(res.status).toBe(200);
}

describe('health findings of external key stores', () => {
  it('pages once when the proxy certificate has 5 days left, with its runbook, and clears once when the metric recovers', async () => {
    const { storeId, uriEndpoint } = await connectedXksStore('xks-cert');
    await setCertificateDays(storeId, uriEndpoint, 5);

    await env.run();
    await env.run();

    const atRisk = await riskEvents();
    expect(atRisk.map((e) => e.DetailType)).toEqual(['Store At Risk']);
    expect(atRisk[0]?.Detail).toMatchObject({
      storeName: 'xks-cert',
      storeId,
      finding: 'xksCertificateExpiring',
      runbook: FINDING_RUNBOOKS.xksCertificateExpiring,
      connectionState: 'CONNECTED',
    });
    expect(String(atRisk[0]?.Detail.reason)).toContain('expires in 5 days');

    env.fake.advance(60);
    await setCertificateDays(storeId, uriEndpoint, 365);
    await env.run();
    await env.run();

    const all = await riskEvents();
    expect(all.map((e) => e.DetailType)).toEqual(['Store At Risk', 'Store Risk Cleared']);
    expect(all[1]?.Detail).toMatchObject({ finding: 'xksCertificateExpiring', resolves: atRisk[0]?.Detail.eventId });
  });

  it('opens and clears nothing while GetMetricData is throttled (an unread input is no verdict)', async () => {
    const { storeId, uriEndpoint } = await connectedXksStore('xks-throttled');
    await setCertificateDays(storeId, uriEndpoint, 5);
    await env.fake.admin('POST', '/_fake/faults', { operation: 'GetMetricData', error: 'Throttling', count: 8 });

    await env.run();

    expect(await riskEvents()).toEqual([]);
    await env.fake.admin('DELETE', '/_fake/faults');
    await env.run();
    expect((await riskEvents()).map((e) => e.DetailType)).toEqual(['Store At Risk']);

    await setCertificateDays(storeId, uriEndpoint, 365);
    await env.fake.admin('POST', '/_fake/faults', { operation: 'GetMetricData', error: 'Throttling', count: 8 });
    await env.run();
    expect((await riskEvents()).map((e) => e.DetailType)).toEqual(['Store At Risk']);
  });

  it('finds proxy errors and an unavailable external key manager while the proxy is unreachable', async () => {
    const { uriEndpoint } = await connectedXksStore('xks-down');
    await env.fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, reachable: false });

    await env.run();

    const findings = (await riskEvents()).map((e) => e.Detail.finding);
    expect(findings.sort()).toEqual(['xksKeyManagerNotActive', 'xksProxyErrors']);
  });
});

describe('the active probe', () => {
  /** The desired fields that probe an external key store with a new KMS key in it. */
  const probedWithNewKey = async (storeId: string) => {
    const { KeyMetadata } = await new KMSClient(env.fake.config).send(
      new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: `probe-${storeId}` }),
    );
    return { probe: true, probeKeyId: KeyMetadata!.Arn };
  };
  const probeCalls = async () => (await env.calls()).calls.filter((c) => (c as { operation: string }).operation === 'Encrypt');

  it('pages once with its runbook when a CONNECTED external key store cannot encrypt (proxy down), and clears when the probe succeeds again', async () => {
    const { uriEndpoint } = await connectedXksStore('xks-probed', probedWithNewKey);
    expect(await riskEvents()).toEqual([]);

    await env.fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, reachable: false });
    await env.run();
    await env.run();
    const down = (await riskEvents()).filter((e) => e.Detail.finding === 'keyStoreProbeFailed');
    await env.fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, reachable: true });
    await env.run();
    await env.run();

    const events = (await riskEvents()).filter((e) => e.Detail.finding === 'keyStoreProbeFailed');
    expect(down.map((e) => e.DetailType)).toEqual(['Store At Risk']);
    expect(down[0]?.Detail).toMatchObject({ connectionState: 'CONNECTED', runbook: FINDING_RUNBOOKS.keyStoreProbeFailed });
    expect(String(down[0]?.Detail.reason)).toMatch(
      /^the probe KMS\.Encrypt failed with KMSInvalidStateException while KMS says CONNECTED: .*not reachable/,
    );
    expect(events.map((e) => e.DetailType)).toEqual(['Store At Risk', 'Store Risk Cleared']);
    expect(events[1]?.Detail.resolves).toBe(events[0]?.Detail.eventId);
    expect(await probeCalls()).toHaveLength(5);
  });

  it('probes a CloudHSM key store with GenerateRandom, and finds it failing once its cluster has no ACTIVE HSM', async () => {
    const { clusterId, secretArn } = await cloudHsmStore(env.fake, { name: 'hsm-probed', connected: true, secret: true });
    await env.apply({
      name: 'hsm-probed',
      desiredState: 'CONNECTED',
      cloudHsmClusterId: clusterId,
      keyStorePasswordSecretArn: secretArn,
      probe: true,
    });
    await env.run();
    expect(await riskEvents()).toEqual([]);

    await env.fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { activeHsms: 0 });
    await env.run();

    const probe = (await riskEvents()).filter((e) => e.Detail.finding === 'keyStoreProbeFailed');
    expect(probe.map((e) => e.DetailType)).toEqual(['Store At Risk']);
    expect(String(probe[0]?.Detail.reason)).toContain('KMS.GenerateRandom failed with DependencyTimeoutException');
  });

  it('makes no KMS call for a store that does not turn the probe on', async () => {
    await connectedXksStore('xks-unprobed');
    await env.run();
    const { calls } = await env.calls();
    expect(calls.map((c) => (c as { operation: string }).operation).filter((op) => op === 'Encrypt' || op === 'GenerateRandom')).toEqual([]);
  });
});

describe('health findings of CloudHSM stores', () => {
  it('pages once when the cluster of a CONNECTED store is down to one HSM', async () => {
    const { clusterId, secretArn } = await cloudHsmStore(env.fake, { name: 'hsm-one', connected: true, secret: true });
    await env.apply({ name: 'hsm-one', desiredState: 'CONNECTED', cloudHsmClusterId: clusterId, keyStorePasswordSecretArn: secretArn });
    await env.run();
    expect(await riskEvents()).toEqual([]);

    await env.fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { activeHsms: 1 });
    await env.run();
    await env.run();

    const events = await riskEvents();
    expect(events.map((e) => [e.DetailType, e.Detail.finding])).toEqual([['Store At Risk', 'clusterTooFewHsms']]);
    expect(events[0]?.Detail.runbook).toBe(FINDING_RUNBOOKS.clusterTooFewHsms);
  });
});
