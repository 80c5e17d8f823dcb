/**
 * The reconciler's events onto EventBridge over `@aws-sdk/client-eventbridge`.
 */
import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { ReconcilerEvent } from '../domain/events.js';
import { EventsRefusedError } from '../errors.js';
import type { EventsPort } from '../reconcile/ports.js';
import { awsCall } from './aws-errors.js';

/** `Source` of every event the reconciler publishes: the on-call rules match on it. */
export const EVENT_SOURCE = 'cks-reconciler';

/** PutEvents takes at most 10 entries per call. */
const BATCH_SIZE = 10;

/** {@link EventsPort} over an `EventBridgeClient`, onto the bus named by `CKS_EVENT_BUS`. */
export class EventBridgeAdapter implements EventsPort {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  /**
   * Sends every batch, then throws (retryable) if any entry was refused, naming the entries' error
   * codes, with the refused events as `unsent` ({@link EventsRefusedError}): only those are owed
   * still. Entries of other batches are not re-sent: delivery is at least once, never silently lost.
   */
  async publish(events: readonly ReconcilerEvent[]): Promise<void> {
    const unsent: ReconcilerEvent[] = [];
    let failed = 0;
    const failedCodes = new Set<string>();
    for (let start = 0; start < events.length; start += BATCH_SIZE) {
      const batch = events.slice(start, start + BATCH_SIZE);
      const entries: PutEventsRequestEntry[] = batch.map((event) => ({
        Source: EVENT_SOURCE,
        DetailType: event.detailType,
        Detail: JSON.stringify(event.detail),
        EventBusName: this.eventBusName,
      }));
      const result = await awsCall('EventBridge.PutEvents', () => this.client.send(new PutEventsCommand({ Entries: entries })));
      if ((result.FailedEntryCount ?? 0) === 0) continue;
      failed += result.FailedEntryCount ?? 0;
      // Entries answer the request's entries in order; without them, no entry of the batch is known to have gone out.
      const answers = result.Entries ?? [];
      const refused = answers.length === batch.length ? batch.filter((_, i) => answers[i]?.ErrorCode !== undefined) : batch;
      unsent.push(...refused);
      for (const entry of answers) {
        if (entry.ErrorCode !== undefined) failedCodes.add(entry.ErrorCode);
      }
    }
    if (unsent.length > 0) {
      const codes = failedCodes.size > 0 ? [...failedCodes].join(', ') : 'no error code given';
      throw new EventsRefusedError(unsent, `${failed} of ${events.length} events were not accepted: ${codes}`);
    }
  }
}
