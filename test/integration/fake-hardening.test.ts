/**
 * The fake under hostile or careless input: every request is answered, names from the wire never
 * reach an object's prototype, fake time stays within the Date range, Regions are checked, the
 * DynamoDB emulators and account-Region partitions are bounded, PutEvents keeps EventBridge's
 * limits, and the logs hold a bounded number of bytes. Real SDK clients or raw HTTP over a real port.
 */

import net from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { CreateCustomKeyStoreCommand, DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_ADVANCE_SECONDS, MAX_FAKE_TIME } from '../../shared/dev/fake/clock.js';
import { MAX_DYNAMODB_EMULATORS } from '../../shared/dev/fake/dynamodb.js';
import { startFake } from '../../shared/dev/fake/server.js';
import { CALL_LOG_BYTES, CLOUDTRAIL_LOG_BYTES, EVENT_LOG_BYTES, MAX_PARTITIONS } from '../../shared/dev/fake/world.js';
import { fakeForFile, startTestFake } from '../helpers/fake.js';
import { XKS_CREDENTIAL, xksStore } from '../helpers/world.js';

const fake = await fakeForFile();
const kms = new KMSClient({ ...fake.config, maxAttempts: 1 });

/** A raw AWS call; fails after 5 s instead of waiting for an answer that never comes. */
function rawCall(target: string, body = '{}', headers: Record<string, string> = {}, url = fake.url): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target, ...headers },
    body,
    signal: AbortSignal.timeout(5_000),
  });
}

const describeAll = () => kms.send(new DescribeCustomKeyStoresCommand({}));
const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));
const accountId = (n: number): string => String(100_000_000_000 + n);

describe('X-Amz-Target naming an object-prototype key', () => {
  it.each(['hasOwnProperty.X', 'constructor.X', '__proto__.X', 'toString.ListTables', 'valueOf.'])(
    'answers %s with UnknownOperationException, forwards nothing and keeps serving',
    async (target) => {
      const response = await rawCall(target);
      expect(response.status).toBe(400);
      expect(response.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
      expect(await response.json()).toEqual({ __type: 'UnknownOperationException', message: `Unknown operation ${target}.` });
      const { body } = await fake.admin('GET', '/_fake/calls');
      expect(body.calls).toEqual([expect.objectContaining({ service: 'Unknown', error: 'UnknownOperationException' })]);
      expect(body.counts).toEqual({});
      await expect(describeAll()).resolves.toMatchObject({ Truncated: false });
    },
  );
});

describe('every request is answered', () => {
  it('answers an unexpected failure with a logged AWS-shaped 500 InternalFailure', async () => {
    const lines: string[] = [];
    let failures = 1;
    const failing = await startFake({
      port: 0,
      clock: 'manual',
      logger: (line) => {
        if (failures-- > 0) throw new Error('the log sink failed');
        lines.push(line);
      },
    });
    try {
      const response = await rawCall('TrentService.DescribeCustomKeyStores', '{}', {}, failing.url);
      expect(response.status).toBe(500);
      expect(response.headers.get('x-amzn-errortype')).toBe('InternalFailure');
      expect(await response.json()).toEqual({ __type: 'InternalFailure', message: 'An internal error occurred in the fake.' });
      expect(lines).toEqual([expect.stringContaining('internal error: Error: the log sink failed')]);
      expect((await rawCall('TrentService.DescribeCustomKeyStores', '{}', {}, failing.url)).status).toBe(200);
    } finally {
      await failing.close();
    }
  });

  it('answers a request target that is not a URL with 400', async () => {
    const socket = net.connect(fake.port, '127.0.0.1');
    socket.end('POST http://[ HTTP/1.1\r\nHost: fake\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    let answer = '';
    for await (const chunk of socket) answer += String(chunk);
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
      __type: 'ValidationException',
      message: 'The request target http://[ is not a valid URL.',
    });
  });
});

describe('fake time stays within the Date range', () => {
  it('rejects an advance of more than 100 years with 400 naming the limit, and keeps time and service as they were', async () => {
    const before = fake.now();
    const reply = await fake.admin('POST', '/_fake/clock/advance', { seconds: 1e13 });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      __type: 'ValidationException',
      message: `seconds: must be at most ${MAX_ADVANCE_SECONDS} (100 years)`,
    });
    expect(fake.now()).toBe(before);
    await expect(describeAll()).resolves.toMatchObject({ Truncated: false });
    expect(() => fake.advance(1e13)).toThrow(new RangeError(`seconds must be between 0 and ${MAX_ADVANCE_SECONDS} (100 years), not 10000000000000`));
  });

  it('stops at the end of year 9999: an advance past it is rejected with 400', async () => {
    const own = await startTestFake();
    try {
      let reply = await own.admin('POST', '/_fake/clock/advance', { seconds: MAX_ADVANCE_SECONDS });
      while (reply.status === 200) reply = await own.admin('POST', '/_fake/clock/advance', { seconds: MAX_ADVANCE_SECONDS });
      expect(reply).toEqual({
        status: 400,
        body: {
          __type: 'ValidationException',
          message: `seconds: advancing ${MAX_ADVANCE_SECONDS} seconds would move fake time past 9999-12-31T23:59:59.999Z`,
        },
      });
      expect(new Date(own.now()).getUTCFullYear()).toBeGreaterThan(9900);
      const rest = Math.floor((MAX_FAKE_TIME - own.now()) / 1000);
      expect((await own.admin('POST', '/_fake/clock/advance', { seconds: rest })).body.now).toMatch(/^9999-12-31T23:59:59\.\d{3}Z$/);
      expect((await own.admin('POST', '/_fake/clock/advance', { seconds: 1 })).status).toBe(400);
      expect(own.now()).toBeLessThanOrEqual(MAX_FAKE_TIME);
      expect((await rawCall('TrentService.DescribeCustomKeyStores', '{}', {}, own.url)).status).toBe(200);
    } finally {
      await own.close();
    }
  });

  it('holds fake time at the end of year 9999 under a real clock scaled beyond it', async () => {
    const scaled = await startTestFake({ clock: 'real', timeScale: 1e15 });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 20); // 20 real milliseconds are far beyond year 9999 at this scale
      expect(scaled.now()).toBe(MAX_FAKE_TIME);
      const response = await rawCall('TrentService.DescribeCustomKeyStores', '{}', {}, scaled.url);
      expect(response.status).toBe(200);
      expect((await scaled.admin('GET', '/_fake/state')).body.now).toBe('9999-12-31T23:59:59.999Z');
    } finally {
      vi.useRealTimers();
      await scaled.close();
    }
  });
});

describe('Regions', () => {
  it('rejects a SigV4 credential scoped to something that is not a Region with 400 InvalidSignatureException', async () => {
    const moon = new KMSClient({ ...fake.configFor({ region: 'moon' }), maxAttempts: 1 });
    await expect(moon.send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      $metadata: { httpStatusCode: 400 },
      message: "Credential should be scoped to a valid Region, not 'moon' (a Region matches ^[a-z]{2}(-[a-z]+)+-\\d{1,2}$).",
    });
    const { body } = await fake.admin('GET', '/_fake/calls');
    expect(body.counts).toEqual({});
    expect(body.calls).toEqual([expect.objectContaining({ region: 'moon', error: 'InvalidSignatureException' })]);
  });

  it.each([
    ['of several parts', 'us-gov-west-1'],
    ['with a two-digit number', 'ap-southeast-12'],
  ])('accepts a Region name %s (%s)', async (_case, region) => {
    const client = new KMSClient({ ...fake.configFor({ region }), maxAttempts: 1 });
    await expect(client.send(new DescribeCustomKeyStoresCommand({}))).resolves.toMatchObject({ CustomKeyStores: [] });
  });

  it('rejects an admin body or query naming something that is not a Region with 400 naming the field', async () => {
    const created = await fake.admin('POST', '/_fake/clusters', { kmsuserPassword: 'kmsuser-Passw0rd', region: 'moon' });
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({ __type: 'ValidationException', message: expect.stringContaining('region: must be a Region name') });
    expect((await fake.admin('GET', '/_fake/state?region=moon')).status).toBe(400);
  });
});

describe('bounded resources', () => {
  it(`runs at most ${MAX_DYNAMODB_EMULATORS} DynamoDB emulators, then answers LimitExceededException until reset`, async () => {
    const dynamoFor = (n: number) => new DynamoDBClient({ ...fake.configFor({ accountId: accountId(n) }), maxAttempts: 1 });
    for (let n = 0; n < MAX_DYNAMODB_EMULATORS; n++) {
      await expect(dynamoFor(n).send(new ListTablesCommand({}))).resolves.toMatchObject({ TableNames: [] });
    }
    await expect(dynamoFor(MAX_DYNAMODB_EMULATORS).send(new ListTablesCommand({}))).rejects.toMatchObject({
      name: 'LimitExceededException',
      $metadata: { httpStatusCode: 400 },
      message: expect.stringContaining(`at most ${MAX_DYNAMODB_EMULATORS} DynamoDB emulators`),
    });
    await expect(dynamoFor(0).send(new ListTablesCommand({}))).resolves.toMatchObject({ TableNames: [] });
    await fake.admin('POST', '/_fake/reset');
    await expect(dynamoFor(MAX_DYNAMODB_EMULATORS).send(new ListTablesCommand({}))).resolves.toMatchObject({ TableNames: [] });
  });

  it(`holds at most ${MAX_PARTITIONS} account-Region partitions, then answers LimitExceededException`, async () => {
    for (let n = 0; n < MAX_PARTITIONS; n++) {
      const response = await rawCall('TrentService.DescribeCustomKeyStores', '{}', {
        authorization: `AWS4-HMAC-SHA256 Credential=${accountId(n)}/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0`,
      });
      expect(response.status).toBe(200);
    }
    const over = new KMSClient({ ...fake.configFor({ accountId: accountId(MAX_PARTITIONS) }), maxAttempts: 1 });
    await expect(over.send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({
      name: 'LimitExceededException',
      message: expect.stringContaining(`at most ${MAX_PARTITIONS} account-Region partitions`),
    });
    const cluster = await fake.admin('POST', '/_fake/clusters', { kmsuserPassword: 'kmsuser-Passw0rd', accountId: accountId(MAX_PARTITIONS) });
    expect(cluster).toMatchObject({ status: 400, body: { __type: 'LimitExceededException' } });
  });
});

describe('PutEvents limits', () => {
  let events: EventBridgeClient;
  beforeAll(() => {
    events = new EventBridgeClient({ ...fake.config, maxAttempts: 1 });
  });

  /** An entry of exactly `size` bytes as EventBridge counts them (Source + DetailType + Detail). */
  const entryOfSize = (size: number): PutEventsRequestEntry => {
    const Source = 'cks-reconciler';
    const DetailType = 'Repair Started';
    const padding = size - Source.length - DetailType.length - '{"pad":""}'.length;
    return { Source, DetailType, Detail: JSON.stringify({ pad: 'x'.repeat(padding) }) };
  };

  it('rejects a request whose entries add up to more than 256 KB with ValidationException, recording none', async () => {
    const Entries = [entryOfSize(200 * 1024), entryOfSize(56 * 1024 + 1)];
    await expect(events.send(new PutEventsCommand({ Entries }))).rejects.toMatchObject({
      name: 'ValidationException',
      $metadata: { httpStatusCode: 400 },
      message: 'Total size of the entries in the request is over the limit: 262145 bytes, at most 262144.',
    });
    expect((await fake.admin('GET', '/_fake/events')).body).toEqual([]);
  });

  it('accepts entries of exactly 256 KB together', async () => {
    const result = await events.send(new PutEventsCommand({ Entries: [entryOfSize(200 * 1024), entryOfSize(56 * 1024)] }));
    expect(result.FailedEntryCount).toBe(0);
    expect((await fake.admin('GET', '/_fake/events')).body).toHaveLength(2);
  });

  it('fails an entry whose Source starts with "aws." with NotAuthorizedForSourceException, and records the others', async () => {
    const forged = { ...entryOfSize(100), Source: 'aws.kms', DetailType: 'AWS API Call via CloudTrail' };
    const result = await events.send(new PutEventsCommand({ Entries: [entryOfSize(100), forged] }));
    expect(result.FailedEntryCount).toBe(1);
    expect(result.Entries).toEqual([
      { EventId: expect.any(String) },
      { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' },
    ]);
    const recorded = (await fake.admin('GET', '/_fake/events')).body;
    expect(recorded.map((event: { Source: string }) => event.Source)).toEqual(['cks-reconciler']);
  });
});

describe('logs are bounded by bytes', () => {
  const HUGE = 'n'.repeat(1024 * 1024);

  it('keeps the newest EventBridge entries within the event log budget', async () => {
    const events = new EventBridgeClient({ ...fake.config, maxAttempts: 1 });
    const count = Math.ceil(EVENT_LOG_BYTES / (250 * 1024)) + 4;
    for (let i = 0; i < count; i++) {
      const Detail = JSON.stringify({ i, pad: 'x'.repeat(250 * 1024) });
      await events.send(new PutEventsCommand({ Entries: [{ Source: 'cks-reconciler', DetailType: 'Big', Detail }] }));
    }
    const kept = (await fake.admin('GET', '/_fake/events')).body as { seq: number; Detail: { i: number } }[];
    expect(kept.at(-1)!.Detail.i).toBe(count - 1);
    expect(kept[0]!.Detail.i).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(count);
    expect(bytesOf(kept)).toBeLessThanOrEqual(EVENT_LOG_BYTES + kept.length * 16); // + each entry's `seq`
  });

  it('keeps the newest calls within the call log budget, and still counts every call', async () => {
    const count = Math.ceil(CALL_LOG_BYTES / HUGE.length) + 2;
    // A client of its own: the file's client may hold a connection idle for about the fake's 5 s keep-alive
    // (the test before takes that long on a busy machine), which the server can close as a call reuses it.
    const kms = new KMSClient({ ...fake.config, maxAttempts: 1 });
    for (let i = 0; i < count; i++) {
      await expect(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: `${i}-${HUGE}` }))).rejects.toMatchObject({
        name: 'ValidationException',
      });
    }
    const { body } = await fake.admin('GET', '/_fake/calls');
    expect(body.counts).toEqual({ 'KMS.DescribeCustomKeyStores': count });
    expect(body.calls.length).toBeLessThan(count);
    expect(body.calls.at(-1).target).toBe(`${count - 1}-${HUGE}`);
    expect(bytesOf(body.calls)).toBeLessThanOrEqual(CALL_LOG_BYTES + body.calls.length + 1); // + commas and brackets
  });

  it('keeps the newest CloudTrail events within the CloudTrail log budget', async () => {
    const count = Math.ceil(CLOUDTRAIL_LOG_BYTES / (2 * HUGE.length)) + 2;
    for (let i = 0; i < count; i++) {
      const input = {
        CustomKeyStoreName: `${i}-${HUGE}`,
        CloudHsmClusterId: 'cluster-234567abcde',
        TrustAnchorCertificate: 'x',
        KeyStorePassword: 'kmsuser-Passw0rd',
      };
      await expect(kms.send(new CreateCustomKeyStoreCommand(input))).rejects.toMatchObject({ name: 'ValidationException' });
    }
    const { body } = await fake.admin('GET', '/_fake/cloudtrail');
    expect(body.events.length).toBeLessThan(count);
    expect(body.events.at(-1).detail.requestParameters.customKeyStoreName).toBe(`${count - 1}-${HUGE}`);
    expect(bytesOf(body.events)).toBeLessThanOrEqual(CLOUDTRAIL_LOG_BYTES + body.events.length + 1);
  });
});

describe('the XKS access key id is a secret too', () => {
  it('shows it in none of the admin state, the call log or the CloudTrail records', async () => {
    const { storeId } = await xksStore(fake, { name: 'secret-key-id-xks' });
    await new KMSClient(fake.config).send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }));
    const outputs = await Promise.all(
      ['/_fake/state', '/_fake/calls', '/_fake/cloudtrail'].map(async (path) => JSON.stringify((await fake.admin('GET', path)).body)),
    );
    for (const output of outputs) expect(output).not.toContain(XKS_CREDENTIAL.AccessKeyId);
    expect(outputs[0]).toContain('secret-key-id-xks');
  });
});
