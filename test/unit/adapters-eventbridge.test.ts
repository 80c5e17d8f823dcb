import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeAdapter } from '../../shared/adapters/eventbridge.js';
import type { ReconcilerEvent } from '../../shared/domain/events.js';
import { AwsCallError, EventsRefusedError } from '../../shared/errors.js';

const eventsMock = mockClient(EventBridgeClient);

/** Only `detailType` and `detail` matter to the adapter; the rest of a detail is the domain's business. */
function event(n: number): ReconcilerEvent {
  return { detailType: 'Repair Step', detail: { storeName: `store-${n}`, reason: `step ${n}` } } as unknown as ReconcilerEvent;
}

function entriesOf(call: number): PutEventsRequestEntry[] {
  return eventsMock.commandCalls(PutEventsCommand)[call]?.args[0].input.Entries ?? [];
}

describe('EventBridgeAdapter', () => {
  let adapter: EventBridgeAdapter;

  beforeEach(() => {
    eventsMock.reset();
    adapter = new EventBridgeAdapter(new EventBridgeClient({ region: 'us-east-1' }), 'ops-bus');
  });

  it('publishes in batches of at most 10 entries', async () => {
    // Prepare
    eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });

    // Act
    await adapter.publish(Array.from({ length: 23 }, (_, i) => event(i)));

    // Assess
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect([0, 1, 2].map((call) => entriesOf(call).length)).toEqual([10, 10, 3]);
    expect(entriesOf(2).map((entry) => JSON.parse(entry.Detail ?? '{}').storeName)).toEqual(['store-20', 'store-21', 'store-22']);
  });

  it('sends the source, detail-type, bus and the detail as JSON', async () => {
    // Prepare
    eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });

    // Act
    await adapter.publish([event(1)]);

    // Assess
    expect(eventsMock).toHaveReceivedCommandExactlyOnceWith(PutEventsCommand, {
      Entries: [
        {
          Source: 'cks-reconciler',
          DetailType: 'Repair Step',
          Detail: JSON.stringify({ storeName: 'store-1', reason: 'step 1' }),
          EventBusName: 'ops-bus',
        },
      ],
    });
  });

  it('makes no call for no events', async () => {
    // Act
    await adapter.publish([]);

    // Assess
    expect(eventsMock).not.toHaveReceivedAnyCommand();
  });

  it('names the refused events as the ones still unsent, and only those (it used to leave the whole batch owed)', async () => {
    // Prepare
    eventsMock
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'e-1' }, { ErrorCode: 'InternalFailure' }, { EventId: 'e-3' }] })
      .resolves({ FailedEntryCount: 0, Entries: [] });
    const events = Array.from({ length: 3 }, (_, i) => event(i));

    // Act
    const error: unknown = await adapter.publish(events).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EventsRefusedError);
    expect((error as EventsRefusedError).unsent).toEqual([events[1]]);
  });

  it('sends every batch, then fails retryably naming the refused entries’ error codes', async () => {
    // Prepare
    eventsMock
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }, { EventId: 'e-2' }, { ErrorCode: 'InternalFailure' }],
      })
      .resolves({ FailedEntryCount: 0, Entries: [] });

    // Act
    const error: unknown = await adapter.publish(Array.from({ length: 12 }, (_, i) => event(i))).catch((e: unknown) => e);

    // Assess
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ operation: 'EventBridge.PutEvents', code: 'FailedEntries', retryable: true });
    expect((error as Error).message).toContain('2 of 12');
    expect((error as Error).message).toContain('ThrottlingException, InternalFailure');
  });
});
