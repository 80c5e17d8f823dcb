import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';

const fake = await fakeForFile();
const events = new EventBridgeClient({ ...fake.config, maxAttempts: 1 });

const entry = (n: number) => ({
  Source: 'cks-reconciler',
  DetailType: 'Repair Started',
  Detail: JSON.stringify({ storeName: `store-${n}`, attempt: n }),
  EventBusName: 'cks-events',
});

describe('EventBridge PutEvents', () => {
  it('records the entries, readable oldest first through /_fake/events', async () => {
    const first = await events.send(new PutEventsCommand({ Entries: [entry(1), entry(2)] }));
    await events.send(new PutEventsCommand({ Entries: [{ ...entry(3), EventBusName: undefined }] }));
    expect(first.FailedEntryCount).toBe(0);
    expect(first.Entries).toEqual([{ EventId: expect.any(String) }, { EventId: expect.any(String) }]);
    const { body } = await fake.admin('GET', '/_fake/events');
    expect(body).toEqual([
      expect.objectContaining({
        seq: 0,
        Source: 'cks-reconciler',
        DetailType: 'Repair Started',
        Detail: { storeName: 'store-1', attempt: 1 },
        EventBusName: 'cks-events',
        eventId: first.Entries![0]!.EventId,
      }),
      expect.objectContaining({ seq: 1, Detail: { storeName: 'store-2', attempt: 2 } }),
      expect.objectContaining({ seq: 2, Detail: { storeName: 'store-3', attempt: 3 }, EventBusName: 'default' }),
    ]);
    expect(body[0]).toMatchObject({ accountId: '000000000000', region: 'us-east-1', time: new Date(fake.now()).toISOString() });
    expect((await fake.admin('GET', '/_fake/events?since=2')).body.map((e: { seq: number }) => e.seq)).toEqual([2]);
  });

  it('fails an entry with malformed Detail on its own, as EventBridge does', async () => {
    const result = await events.send(new PutEventsCommand({ Entries: [entry(1), { ...entry(2), Detail: 'not json' }] }));
    expect(result.FailedEntryCount).toBe(1);
    expect(result.Entries![1]).toEqual({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
    expect((await fake.admin('GET', '/_fake/events')).body).toHaveLength(1);
  });

  it('rejects more than 10 entries with ValidationException', async () => {
    const Entries = Array.from({ length: 11 }, (_, n) => entry(n));
    await expect(events.send(new PutEventsCommand({ Entries }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"),
    });
  });
});
