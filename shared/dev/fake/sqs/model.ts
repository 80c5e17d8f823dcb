/**
 * SQS standard queues of one account and Region, on the fake's clock: a message sent with
 * `DelaySeconds` stays invisible until that much fake time has passed; a received one is invisible
 * for its visibility timeout, and comes back unless deleted with its receipt handle.
 */
import { createHash } from 'node:crypto';
import type { Scope } from '../context.js';
import { QueryCompatibleError } from '../errors.js';
import * as random from '../random.js';

/** SQS's bounds (seconds) on a message's delay and a received message's visibility timeout. */
export const MAX_DELAY_SECONDS = 900;
export const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;
const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;

export class QueueDoesNotExist extends QueryCompatibleError {
  constructor() {
    super('QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
  }
}
export class InvalidParameterValue extends QueryCompatibleError {
  constructor(message: string) {
    super('InvalidParameterValueException', 'InvalidParameterValue', message);
  }
}
export class ReceiptHandleIsInvalid extends QueryCompatibleError {
  constructor(handle: string) {
    super('ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', `The input receipt handle "${handle}" is not a valid receipt handle.`);
  }
}

/** The message of an invalid DelaySeconds, as SQS words it. */
export function invalidDelay(value: number): string | null {
  return Number.isInteger(value) && value >= 0 && value <= MAX_DELAY_SECONDS
    ? null
    : `Value ${value} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= ${MAX_DELAY_SECONDS}.`;
}

interface StoredMessage {
  id: string;
  body: string;
  md5: string;
  sentAt: number;
  /** Epoch ms from which a receive may return it. */
  visibleAt: number;
  receiveCount: number;
  /** The handle of its latest receive (the only one a delete accepts). */
  receipt: string | null;
}

export class Queue {
  readonly #messages: StoredMessage[] = [];

  constructor(
    readonly name: string,
    readonly url: string,
    readonly arn: string,
  ) {}

  send(body: string, delaySeconds: number, now: number): { MessageId: string; MD5OfMessageBody: string } {
    const message: StoredMessage = {
      id: random.uuid(),
      body,
      md5: createHash('md5').update(body).digest('hex'),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
      receipt: null,
    };
    this.#messages.push(message);
    return { MessageId: message.id, MD5OfMessageBody: message.md5 };
  }

  /** Up to `max` visible messages, oldest visible first, each hidden again for `visibilitySeconds`. */
  receive(max: number, visibilitySeconds: number | undefined, now: number): StoredMessage[] {
    const visible = this.#messages.filter((m) => m.visibleAt <= now).sort((a, b) => a.visibleAt - b.visibleAt);
    return visible.slice(0, max).map((message) => {
      message.visibleAt = now + (visibilitySeconds ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS) * 1000;
      message.receiveCount += 1;
      message.receipt = random.uuid();
      return message;
    });
  }

  delete(receipt: string): void {
    const index = this.#messages.findIndex((m) => m.receipt === receipt);
    if (index < 0) throw new ReceiptHandleIsInvalid(receipt);
    this.#messages.splice(index, 1);
  }
}

export class SqsBackend {
  readonly #queues = new Map<string, Queue>();

  constructor(private readonly scope: Scope) {}

  get isEmpty(): boolean {
    return this.#queues.size === 0;
  }

  /** Creates the queue, or returns the one of that name (CreateQueue is idempotent). */
  create(name: string): Queue {
    let queue = this.#queues.get(name);
    if (!queue) {
      const { accountId, region } = this.scope;
      queue = new Queue(name, `https://sqs.${region}.amazonaws.com/${accountId}/${name}`, `arn:aws:sqs:${region}:${accountId}:${name}`);
      this.#queues.set(name, queue);
    }
    return queue;
  }

  byName(name: string): Queue {
    const queue = this.#queues.get(name);
    if (!queue) throw new QueueDoesNotExist();
    return queue;
  }

  /** The queue a QueueUrl names: its last path segment, in this account. */
  byUrl(url: string): Queue {
    const [name, accountId] = url.split('/').reverse();
    if (accountId !== this.scope.accountId || name === undefined) throw new QueueDoesNotExist();
    return this.byName(name);
  }
}
