/**
 * Lambda's SQS event source, for local runs (the demo, serverless offline, tests, benchmarks): takes
 * the messages of a queue that are visible now (in the fake, on its clock: a delayed message only
 * once its delay has passed), hands each to a handler as an SQS event of one record, and deletes it
 * once the handler returned. A message whose handler threw stays, and comes back after its
 * visibility timeout, as in AWS.
 */
import { DeleteMessageCommand, GetQueueUrlCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** One record of an SQS event, as Lambda delivers it. */
export interface SqsEventRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  eventSource: 'aws:sqs';
}

/** The stack's visibility timeout of the follow-up queue (six times the on-event function's timeout). */
const VISIBILITY_SECONDS = 720;

export class QueuePump {
  #url: string | undefined;

  constructor(
    private readonly sqs: SQSClient,
    private readonly queueName: string,
    private readonly deliver: (event: { Records: SqsEventRecord[] }) => Promise<unknown>,
  ) {}

  /** Delivers every message visible now, and those the deliveries make visible at once; returns how many were handled. */
  async drain(): Promise<{ delivered: number; failed: number }> {
    const url = await this.#queueUrl();
    let delivered = 0;
    let failed = 0;
    for (;;) {
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: VISIBILITY_SECONDS }),
      );
      if (Messages.length === 0) return { delivered, failed };
      for (const message of Messages) {
        const record: SqsEventRecord = {
          messageId: message.MessageId ?? '',
          receiptHandle: message.ReceiptHandle ?? '',
          body: message.Body ?? '',
          eventSource: 'aws:sqs',
        };
        try {
          await this.deliver({ Records: [record] });
        } catch {
          failed += 1;
          continue;
        }
        await this.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: record.receiptHandle }));
        delivered += 1;
      }
    }
  }

  async #queueUrl(): Promise<string> {
    this.#url ??= (await this.sqs.send(new GetQueueUrlCommand({ QueueName: this.queueName }))).QueueUrl;
    if (this.#url === undefined) throw new Error(`no URL for queue ${this.queueName}`);
    return this.#url;
  }
}
