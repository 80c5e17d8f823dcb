/** EventBridge PutEvents: entries are recorded (readable through `GET /_fake/events`), not routed. */
import { z } from 'zod';
import { ValidationException } from './errors.js';
import * as random from './random.js';
import { parseInput, type Reply } from './wire.js';
import type { CallContext } from './world.js';

/** A PutEvents entry as recorded by the fake. */
export interface RecordedEvent {
  eventId: string;
  accountId: string;
  region: string;
  /** Fake time the entry was received, ISO 8601. */
  time: string;
  Source: string;
  DetailType: string;
  /** The entry's `Detail`, parsed. */
  Detail: unknown;
  EventBusName: string;
  Resources: string[];
}

const Entry = z.object({
  Source: z.string().min(1).max(256).optional(),
  DetailType: z.string().min(1).max(128).optional(),
  Detail: z.string().max(262144).optional(),
  EventBusName: z.string().min(1).max(1600).optional(),
  Resources: z.array(z.string().min(1).max(2048)).optional(),
  Time: z.number().optional(),
  TraceHeader: z.string().min(1).max(500).optional(),
});

const PutEventsInput = z.object({ Entries: z.array(Entry).min(1).max(10) });

function putEvents(call: CallContext, input: unknown): Reply {
  const { Entries } = parseInput(PutEventsInput, input, ValidationException);
  const results = Entries.map((entry) => {
    // As in AWS, a bad entry fails on its own (ErrorCode in the result) and the others go through.
    if (entry.Source === undefined || entry.DetailType === undefined || entry.Detail === undefined) {
      return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameters Source, DetailType and Detail are required.' };
    }
    const detail = parseDetail(entry.Detail);
    if (detail === undefined) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    const event: RecordedEvent = {
      eventId: random.uuid(),
      accountId: call.scope.accountId,
      region: call.scope.region,
      time: new Date(call.world.now()).toISOString(),
      Source: entry.Source,
      DetailType: entry.DetailType,
      Detail: detail,
      EventBusName: entry.EventBusName ?? 'default',
      Resources: entry.Resources ?? [],
    };
    call.world.events.push(event);
    return { EventId: event.eventId };
  });
  return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
}

/** Detail must be a JSON object. */
function parseDetail(text: string): object | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `AWSEvents.<Operation>` handlers. */
export const eventBridgeOperations: Record<string, (call: CallContext, input: unknown) => Reply> = {
  PutEvents: putEvents,
};
