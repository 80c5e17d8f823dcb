/**
 * The reconciler's events onto EventBridge over `@aws-sdk/client-eventbridge`.
 */
import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { ReconcilerEvent } from '../domain/events.js';
import { AwsCallError } from '../errors.js';
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
   * codes. Entries of other batches are not re-sent: delivery is at least once, never silently lost.
   */
  async publish(events: readonly ReconcilerEvent[]): Promise<void> {
    let failed = 0;
    const failedCodes = new Set<string>();
    for (let start = 0; start < events.length; start += BATCH_SIZE) {
      const entries: PutEventsRequestEntry[] = events.slice(start, start + BATCH_SIZE).map((event) => ({
        Source: EVENT_SOURCE,
        DetailType: event.detailType,
        Detail: JSON.stringify(event.detail),
        EventBusName: this.eventBusName,
      }));
      const result = await awsCall('EventBridge.PutEvents', () => this.client.send(new PutEventsCommand({ Entries: entries })));
      failed += result.FailedEntryCount ?? 0;
      for (const entry of result.Entries ?? []) {
        if (entry.ErrorCode !== undefined) failedCodes.add(entry.ErrorCode);
      }
    }
    if (failed > 0) {
      const codes = failedCodes.size > 0 ? [...failedCodes].join(', ') : 'no error code given';
      throw new AwsCallError('EventBridge.PutEvents', 'FailedEntries', true, `${failed} of ${events.length} events were not accepted: ${codes}`);
    }
  }
}
