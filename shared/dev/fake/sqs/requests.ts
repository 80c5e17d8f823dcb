/** SQS requests in the JSON protocol (`AmazonSQS.<Operation>`), with the model's constraints. */
import { z } from 'zod';
import { QueryCompatibleError } from '../errors.js';
import { parseInput } from '../wire.js';
import { InvalidParameterValue, MAX_VISIBILITY_TIMEOUT_SECONDS } from './model.js';

/** SendMessageBatch takes 1 to 10 entries with distinct ids. */
export const MAX_BATCH_ENTRIES = 10;

class BatchError extends QueryCompatibleError {
  constructor(type: string, message: string) {
    super(type, `AWS.SimpleQueueService.${type}`, message);
  }
}

const QueueName = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[A-Za-z0-9_-]+$/);
const QueueUrl = z.string().min(1);
const MessageBody = z.string().min(1).max(262_144);
const DelaySeconds = z.number().int().optional();

const createQueue = z.object({ QueueName, Attributes: z.record(z.string(), z.string()).optional() });
const getQueueUrl = z.object({ QueueName, QueueOwnerAWSAccountId: z.string().optional() });
const sendMessage = z.object({ QueueUrl, MessageBody, DelaySeconds });
const sendMessageBatch = z.object({
  QueueUrl,
  Entries: z.array(
    z.object({
      Id: z
        .string()
        .min(1)
        .max(80)
        .regex(/^[A-Za-z0-9_-]+$/),
      MessageBody,
      DelaySeconds,
    }),
  ),
});
const receiveMessage = z.object({
  QueueUrl,
  MaxNumberOfMessages: z.number().int().min(1).max(10).optional(),
  VisibilityTimeout: z.number().int().min(0).max(MAX_VISIBILITY_TIMEOUT_SECONDS).optional(),
  WaitTimeSeconds: z.number().int().min(0).max(20).optional(),
});
const deleteMessage = z.object({ QueueUrl, ReceiptHandle: z.string().min(1) });

export const parseCreateQueue = (input: unknown) => parseInput(createQueue, input, InvalidParameterValue);
export const parseGetQueueUrl = (input: unknown) => parseInput(getQueueUrl, input, InvalidParameterValue);
export const parseSendMessage = (input: unknown) => parseInput(sendMessage, input, InvalidParameterValue);
export const parseReceiveMessage = (input: unknown) => parseInput(receiveMessage, input, InvalidParameterValue);
export const parseDeleteMessage = (input: unknown) => parseInput(deleteMessage, input, InvalidParameterValue);

/** A batch as SQS checks it before any entry: not empty, at most ten, ids distinct. */
export function parseSendMessageBatch(input: unknown): z.output<typeof sendMessageBatch> {
  const request = parseInput(sendMessageBatch, input, InvalidParameterValue);
  const { Entries } = request;
  if (Entries.length === 0) throw new BatchError('EmptyBatchRequest', 'There should be at least one SendMessageBatchRequestEntry in the request.');
  if (Entries.length > MAX_BATCH_ENTRIES) {
    throw new BatchError(
      'TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are ${MAX_BATCH_ENTRIES}. You have sent ${Entries.length}.`,
    );
  }
  const ids = new Set(Entries.map((entry) => entry.Id));
  if (ids.size !== Entries.length) throw new BatchError('BatchEntryIdsNotDistinct', 'Two or more batch entries in the request have the same Id.');
  return request;
}
