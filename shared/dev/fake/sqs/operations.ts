/**
 * SQS in the JSON protocol (`AmazonSQS.<Operation>`, the SDK for JavaScript v3): what the reconciler
 * and its local runners use of a standard queue. Long polling is not modelled: a receive answers at once.
 */
import type { Operation } from '../world.js';
import { InvalidParameterValue, invalidDelay } from './model.js';
import { parseCreateQueue, parseDeleteMessage, parseGetQueueUrl, parseReceiveMessage, parseSendMessage, parseSendMessageBatch } from './requests.js';

export const sqsOperations: ReadonlyMap<string, Operation> = new Map<string, Operation>([
  ['CreateQueue', ({ partition }, input) => ({ QueueUrl: partition.sqs.create(parseCreateQueue(input).QueueName).url })],
  ['GetQueueUrl', ({ partition }, input) => ({ QueueUrl: partition.sqs.byName(parseGetQueueUrl(input).QueueName).url })],
  [
    'SendMessage',
    ({ world, partition }, input) => {
      const { QueueUrl, MessageBody, DelaySeconds = 0 } = parseSendMessage(input);
      const queue = partition.sqs.byUrl(QueueUrl);
      const invalid = invalidDelay(DelaySeconds);
      if (invalid !== null) throw new InvalidParameterValue(invalid);
      return queue.send(MessageBody, DelaySeconds, world.now());
    },
  ],
  [
    'SendMessageBatch',
    ({ world, partition }, input) => {
      const { QueueUrl, Entries } = parseSendMessageBatch(input);
      const queue = partition.sqs.byUrl(QueueUrl);
      const Successful: object[] = [];
      const Failed: object[] = [];
      for (const { Id, MessageBody, DelaySeconds = 0 } of Entries) {
        const invalid = invalidDelay(DelaySeconds);
        if (invalid === null) Successful.push({ Id, ...queue.send(MessageBody, DelaySeconds, world.now()) });
        else Failed.push({ Id, SenderFault: true, Code: 'InvalidParameterValue', Message: invalid });
      }
      return { Successful, Failed };
    },
  ],
  [
    'ReceiveMessage',
    ({ world, partition }, input) => {
      const { QueueUrl, MaxNumberOfMessages = 1, VisibilityTimeout } = parseReceiveMessage(input);
      const messages = partition.sqs.byUrl(QueueUrl).receive(MaxNumberOfMessages, VisibilityTimeout, world.now());
      return {
        Messages: messages.map((m) => ({
          MessageId: m.id,
          ReceiptHandle: m.receipt,
          MD5OfBody: m.md5,
          Body: m.body,
          Attributes: { ApproximateReceiveCount: String(m.receiveCount), SentTimestamp: String(m.sentAt) },
        })),
      };
    },
  ],
  [
    'DeleteMessage',
    ({ partition }, input) => {
      const { QueueUrl, ReceiptHandle } = parseDeleteMessage(input);
      partition.sqs.byUrl(QueueUrl).delete(ReceiptHandle);
      return {};
    },
  ],
]);
