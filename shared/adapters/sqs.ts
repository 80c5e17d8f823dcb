/** The coordinator's queue: one SQS message per scope, sent ten to a SendMessageBatch call. */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Scope } from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import { scopeMessageBody } from '../fleet/scope.js';
import type { ScopeQueuePort } from '../fleet/fan-out.js';
import { awsCall } from './aws-errors.js';

const BATCH = 10;

export class SqsScopeQueue implements ScopeQueuePort {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(scopes: readonly Scope[]): Promise<void> {
    const batches: Scope[][] = [];
    for (let i = 0; i < scopes.length; i += BATCH) batches.push(scopes.slice(i, i + BATCH));
    const failed = (await Promise.all(batches.map((batch) => this.#sendBatch(batch)))).flat();
    if (failed.length > 0) {
      throw new AwsCallError('SQS.SendMessageBatch', failed[0]!.code, true, `${failed.length} of ${scopes.length} scope messages were not sent: ${failed.map((f) => f.label).join(', ')}`);
    }
  }

  /** Sends one batch; returns the entries SQS refused. */
  async #sendBatch(batch: readonly Scope[]): Promise<Array<{ label: string; code: string }>> {
    const entries = batch.map((scope, i) => ({ Id: String(i), MessageBody: scopeMessageBody(scope) }));
    const { Failed = [] } = await awsCall('SQS.SendMessageBatch', () =>
      this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries })),
    );
    return Failed.map((f) => {
      const scope = batch[Number(f.Id)];
      return { label: scope ? `${scope.accountId}/${scope.region}` : String(f.Id), code: f.Code ?? 'Unknown' };
    });
  }
}
