/**
 * The coordinator's queue: one SQS message per scope, sent ten to a SendMessageBatch call. The
 * queue is named (a literal in the function's environment); its URL is asked for once.
 */
import { GetQueueUrlCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Scope } from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import type { ScopeQueuePort } from '../fleet/reconcile-fleet.js';
import { scopeMessageBody } from '../fleet/scope.js';
import { awsCall } from './aws-errors.js';

const BATCH = 10;

export class SqsScopeQueue implements ScopeQueuePort {
  #url: Promise<string> | undefined;

  constructor(
    private readonly sqs: SQSClient,
    private readonly queueName: string,
  ) {}

  async send(scopes: readonly Scope[]): Promise<void> {
    const batches: Scope[][] = [];
    for (let i = 0; i < scopes.length; i += BATCH) batches.push(scopes.slice(i, i + BATCH));
    const failed = (await Promise.all(batches.map((batch) => this.#sendBatch(batch)))).flat();
    const [first] = failed;
    if (first) {
      throw new AwsCallError(
        'SQS.SendMessageBatch',
        first.code,
        true,
        `${failed.length} of ${scopes.length} scope messages were not sent: ${failed.map((f) => f.label).join(', ')}`,
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
  async #sendBatch(batch: readonly Scope[]): Promise<Array<{ label: string; code: string }>> {
    const entries = batch.map((scope, i) => ({ Id: String(i), MessageBody: scopeMessageBody(scope) }));
    const queueUrl = await this.#queueUrl();
    const { Failed = [] } = await awsCall('SQS.SendMessageBatch', () =>
      this.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries })),
    );
    return Failed.map((f) => {
      const scope = batch[Number(f.Id)];
      return { label: scope ? `${scope.accountId}/${scope.region}` : String(f.Id), code: f.Code ?? 'Unknown' };
    });
  }
}
