/**
 * The fake's CloudWatch through @aws-sdk/client-cloudwatch (JSON 1.0, query-compatible errors):
 * GetMetricData reads the latest value set through `POST /_fake/metrics`, follows the XKS proxy's
 * state, and validates requests as the model does.
 */
import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';
import { xksStore } from '../helpers/world.js';

const fake = await fakeForFile();
const cloudWatch = new CloudWatchClient({ ...fake.config, maxAttempts: 1 });

function query(id: string, metricName: string, dimensions: Record<string, string>, stat = 'Maximum'): MetricDataQuery {
  return {
    Id: id,
    MetricStat: {
      Metric: { Namespace: 'AWS/KMS', MetricName: metricName, Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })) },
      Period: 300,
      Stat: stat,
    },
  };
}

async function read(queries: MetricDataQuery[]) {
  const now = fake.now();
  const out = await cloudWatch.send(
    new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: new Date(now - 900_000), EndTime: new Date(now) }),
  );
  return Object.fromEntries((out.MetricDataResults ?? []).map((r) => [r.Id, r.Values]));
}

describe('CloudWatch GetMetricData in the fake', () => {
  it('returns the latest value set through the admin API, and no datapoint for a metric never set or set too long ago', async () => {
    const res = await fake.admin('POST', '/_fake/metrics', {
      namespace: 'AWS/KMS',
      metricName: 'XksProxyCredentialAge',
      dimensions: { CustomKeyStoreId: 'cks-1234567890abcdef0' },
      value: 91,
    });
    expect(res.status).toBe(200);

    expect(
      await read([
        query('age', 'XksProxyCredentialAge', { CustomKeyStoreId: 'cks-1234567890abcdef0' }),
        query('none', 'XksProxyLatency', { CustomKeyStoreId: 'cks-1234567890abcdef0' }),
      ]),
    ).toEqual({ age: [91], none: [] });
    fake.advance(3600);
    expect(await read([query('age', 'XksProxyCredentialAge', { CustomKeyStoreId: 'cks-1234567890abcdef0' })])).toEqual({ age: [] });
  });

  it("raises XksProxyErrors and reads the external key manager Unavailable while a connected store's proxy is unreachable", async () => {
    const { storeId, uriEndpoint } = await xksStore(fake, { name: 'cw-xks', connected: true });
    const queries = [
      query('errors', 'XksProxyErrors', { CustomKeyStoreId: storeId }, 'Sum'),
      query('unavailable', 'XksExternalKeyManagerStates', { CustomKeyStoreId: storeId, XksExternalKeyManagerState: 'Unavailable' }),
      query('active', 'XksExternalKeyManagerStates', { CustomKeyStoreId: storeId, XksExternalKeyManagerState: 'Active' }),
    ];
    expect(await read(queries)).toEqual({ errors: [], unavailable: [], active: [] });

    await fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, reachable: false });

    expect(await read(queries)).toEqual({ errors: [100], unavailable: [1], active: [0] });
  });

  it.each([
    {
      name: 'no StartTime',
      input: { StartTime: undefined, EndTime: new Date() },
      error: 'ValidationException',
      message: "at 'startTime' failed to satisfy constraint: Member must not be null",
    },
    {
      name: 'StartTime after EndTime',
      input: { StartTime: new Date(2_000_000_000_000), EndTime: new Date(1_000_000_000_000) },
      error: 'ValidationException',
      message: 'StartTime must be less than',
    },
    { name: 'more than 500 queries', queries: 501, error: 'ValidationException', message: 'must not have a size greater than 500' },
    { name: 'an Id starting with a capital', ids: ['Bad'], error: 'ValidationException', message: 'Id is not valid' },
    { name: 'two queries with one Id', ids: ['a', 'a'], error: 'ValidationException', message: 'not unique' },
    { name: 'a statistic that is none', stat: 'Median', error: 'InvalidParameterValueException', message: 'not a valid statistic' },
  ])('refuses a request with $name ($error)', async ({ input, queries = 1, ids, stat, error, message }) => {
    const list = (ids ?? Array.from({ length: queries }, (_, i) => `q${i}`)).map((id) =>
      query(id, 'XksProxyErrors', { CustomKeyStoreId: 'cks-1' }, stat ?? 'Sum'),
    );
    const request = { MetricDataQueries: list, StartTime: new Date(fake.now() - 60_000), EndTime: new Date(fake.now()), ...input };
    const failure = await cloudWatch.send(new GetMetricDataCommand(request)).catch((e: unknown) => e);
    expect(failure).toMatchObject({ name: error });
    expect(String((failure as Error).message)).toContain(message);
  });

  it('refuses an admin metric outside AWS/KMS external key store metrics', async () => {
    const res = await fake.admin('POST', '/_fake/metrics', { namespace: 'AWS/EC2', metricName: 'CPUUtilization', dimensions: {}, value: 1 });
    expect(res.status).toBe(400);
    expect(res.body.__type).toBe('ValidationException');
  });
});
