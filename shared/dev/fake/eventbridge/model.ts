/**
 * EventBridge model: the events PutEvents received. They are recorded (readable through
 * `GET /_fake/events`), not routed to rules or targets.
 */
import type { Scope } from '../context.js';
import * as random from '../random.js';
import type { EventEntry } from './requests.js';

/** A PutEvents entry as the fake recorded it. */
export class RecordedEvent {
  readonly eventId = random.uuid();
  readonly accountId: string;
  readonly region: string;
  /** Fake time the entry was received, ISO 8601. */
  readonly time: string;
  readonly Source: string;
  readonly DetailType: string;
  /** The entry's `Detail`, parsed. */
  readonly Detail: object;
  readonly EventBusName: string;
  readonly Resources: string[];

  constructor(scope: Scope, entry: EventEntry, now: number) {
    this.accountId = scope.accountId;
    this.region = scope.region;
    this.time = new Date(now).toISOString();
    this.Source = entry.Source;
    this.DetailType = entry.DetailType;
    this.Detail = entry.Detail;
    this.EventBusName = entry.EventBusName;
    this.Resources = entry.Resources;
  }
}
