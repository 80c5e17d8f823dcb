/** `AWSEvents.<Operation>`: parse the request, record each valid entry, answer per entry. */
import type { Operation } from '../world.js';
import { RecordedEvent } from './model.js';
import { parsePutEvents } from './requests.js';

export const eventBridgeOperations: ReadonlyMap<string, Operation> = new Map<string, Operation>([
  [
    'PutEvents',
    ({ world, scope }, input) => {
      const results = parsePutEvents(input).map((entry) => {
        if ('ErrorCode' in entry) return entry;
        const event = new RecordedEvent(scope, entry, world.now());
        world.events.push(event);
        return { EventId: event.eventId };
      });
      return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
    },
  ],
]);
