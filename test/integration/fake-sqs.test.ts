/**
 * The fake's SQS through @aws-sdk/client-sqs (JSON 1.0, query-compatible errors): a message sent
 * with DelaySeconds stays invisible until that much fake time has passed, a received one comes back
 * after its visibility timeout unless deleted, and requests are checked against SQS's limits.
 */
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';

const fake = await fakeForFile();
const sqs = new SQSClient({ ...fake.config, maxAttempts: 1 });

async function queue(name = 'cks-it-scopes'): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
}

async function receive(url: string, visibility?: number): Promise<string[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, ...(visibility !== undefined && { VisibilityTimeout: visibility }) }),
  );
  return (out.Messages ?? []).map((m) => m.Body!);
}

describe('SQS in the fake', () => {
  it('finds a created queue by name, and answers QueueDoesNotExist for any other', async () => {
    const url = await queue();

    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: 'cks-it-scopes' }))).QueueUrl).toBe(url);
    expect(url).toBe('https://sqs.us-east-1.amazonaws.com/000000000000/cks-it-scopes');
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'absent' }))).rejects.toMatchObject({
      name: 'QueueDoesNotExist',
      message: 'The specified queue does not exist.',
    });
  });

  it('keeps a message sent with DelaySeconds invisible until that much fake time has passed', async () => {
    const url = await queue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'later', DelaySeconds: 15 }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'now' }));

    const first = await receive(url);
    fake.advance(14);
    const early = await receive(url);
    fake.advance(1);
    const due = await receive(url);

    expect(first).toEqual(['now']);
    expect(early).toEqual([]);
    expect(due).toEqual(['later']);
  });

  it('delays each entry of a batch by its own DelaySeconds, and fails only an entry out of 0-900 as SQS does', async () => {
    const url = await queue();
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'a', MessageBody: 'five', DelaySeconds: 5 },
          { Id: 'b', MessageBody: 'too-late', DelaySeconds: 901 },
          { Id: 'c', MessageBody: 'max', DelaySeconds: 900 },
        ],
      }),
    );

    expect(out.Successful?.map((s) => s.Id)).toEqual(['a', 'c']);
    expect(out.Failed).toEqual([
      {
        Id: 'b',
        SenderFault: true,
        Code: 'InvalidParameterValue',
        Message: 'Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.',
      },
    ]);
    fake.advance(5);
    // Received for longer than the test runs: it does not come back.
    expect(await receive(url, 3600)).toEqual(['five']);
    fake.advance(895);
    expect(await receive(url)).toEqual(['max']);
  });

  it('refuses a SendMessage whose DelaySeconds is out of 0-900 with InvalidParameterValue', async () => {
    const url = await queue();

    await expect(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', DelaySeconds: -1 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: 'Value -1 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.',
    });
  });

  it('refuses an empty batch, one of eleven entries, and one whose ids repeat', async () => {
    const url = await queue();
    const batch = (ids: string[]) => sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: ids.map((Id) => ({ Id, MessageBody: Id })) }));

    await expect(batch([])).rejects.toMatchObject({ name: 'EmptyBatchRequest' });
    await expect(batch(Array.from({ length: 11 }, (_, i) => `m${i}`))).rejects.toMatchObject({ name: 'TooManyEntriesInBatchRequest' });
    await expect(batch(['x', 'x'])).rejects.toMatchObject({ name: 'BatchEntryIdsNotDistinct' });
  });

  it('hides a received message for its visibility timeout, and a deleted one for good', async () => {
    const url = await queue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'kept' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'deleted' }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }));
    const deleted = received.Messages!.find((m) => m.Body === 'deleted')!;
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: deleted.ReceiptHandle! }));

    const hidden = await receive(url);
    fake.advance(30);
    const back = await receive(url);

    expect(hidden).toEqual([]);
    expect(back).toEqual(['kept']);
    await expect(sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: deleted.ReceiptHandle! }))).rejects.toMatchObject({
      name: 'ReceiptHandleIsInvalid',
    });
  });
});
