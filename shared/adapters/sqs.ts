/**
 * The reconciler's queues: the coordinator's (one message per scope, for the worker) and the
 * follow-ups' (one message per store to look at again, delivered after its delay, for the on-event
 * function). Messages go ten to a SendMessageBatch call. A queue is named (a literal in the
 * function's environment); its URL is asked for once.
 */
import { GetQueueUrlCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Scope } from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import { type FollowUpPort, followUpMessageBody } from '../fleet/follow-ups.js';
import type { ScopeQueuePort } from '../fleet/reconcile-fleet.js';
import { scopeLabel, scopeMessageBody } from '../fleet/scope.js';
import type { FollowUp } from '../reconcile/reconcile-scope.js';
import { awsCall } from './aws-errors.js';

const BATCH = 10;

/** One message to send: what a refusal names, its body, and its delay. */
interface Outgoing {
  label: string;
  body: string;
  delaySeconds?: number;
}

/** Sends messages to one named queue. */
class SqsSender {
  #url: Promise<string> | undefined;

  constructor(
    private readonly sqs: SQSClient,
    private readonly queueName: string,
  ) {}

  /** Sends every message; throws, naming those SQS refused, when any was. */
  async sendAll(messages: readonly Outgoing[], kind: string): Promise<void> {
    const batches: Outgoing[][] = [];
    for (let i = 0; i < messages.length; i += BATCH) batches.push(messages.slice(i, i + BATCH));
    const failed = (await Promise.all(batches.map((batch) => this.#sendBatch(batch)))).flat();
    const [first] = failed;
    if (first) {
      throw new AwsCallError(
        'SQS.SendMessageBatch',
        first.code,
        true,
        `${failed.length} of ${messages.length} ${kind} messages were not sent: ${failed.map((f) => f.label).join(', ')}`,
      );
    }
  }

  /** The queue's URL, asked for once (a failure is asked again next time). */
  #queueUrl(): Promise<string> {
    this.#url ??= awsCall('SQS.GetQueueUrl', () => this.sqs.send(new GetQueueUrlCommand({ QueueName: this.queueName }))).then(
      ({ QueueUrl }) => {
        if (!QueueUrl) throw new Error(`SQS GetQueueUrl of ${this.queueName} returned no URL`);
        return QueueUrl;
      },
      (error: unknown) => {
        this.#url = undefined;
        throw error;
      },
    );
    return this.#url;
  }

  /** Sends one batch; returns the entries SQS refused. */
  async #sendBatch(batch: readonly Outgoing[]): Promise<Array<{ label: string; code: string }>> {
    const entries = batch.map((message, i) => ({
      Id: String(i),
      MessageBody: message.body,
      ...(message.delaySeconds !== undefined && { DelaySeconds: message.delaySeconds }),
    }));
    const queueUrl = await this.#queueUrl();
    const { Failed = [] } = await awsCall('SQS.SendMessageBatch', () =>
      this.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries })),
    );
    return Failed.map((f) => ({ label: batch[Number(f.Id)]?.label ?? String(f.Id), code: f.Code ?? 'Unknown' }));
  }
}

export class SqsScopeQueue implements ScopeQueuePort {
  readonly #sender: SqsSender;

  constructor(sqs: SQSClient, queueName: string) {
    this.#sender = new SqsSender(sqs, queueName);
  }

  send(scopes: readonly Scope[]): Promise<void> {
    return this.#sender.sendAll(
      scopes.map((scope) => ({ label: scopeLabel(scope), body: scopeMessageBody(scope) })),
      'scope',
    );
  }
}

export class SqsFollowUpQueue implements FollowUpPort {
  readonly #sender: SqsSender;

  constructor(sqs: SQSClient, queueName: string) {
    this.#sender = new SqsSender(sqs, queueName);
  }

  followUp(scope: Scope, followUps: readonly FollowUp[]): Promise<void> {
    return this.#sender.sendAll(
      followUps.map(({ store, afterSeconds }) => ({
        label: `${scopeLabel(scope)} ${store}`,
        body: followUpMessageBody(scope, store),
        delaySeconds: afterSeconds,
      })),
      'follow-up',
    );
  }
}
