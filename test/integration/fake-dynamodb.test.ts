import { CreateTableCommand, DynamoDBClient, GetItemCommand, ListTablesCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';

const fake = await fakeForFile();
const dynamo = new DynamoDBClient({ ...fake.config, maxAttempts: 1 });

async function createTable(client: DynamoDBClient): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: 'cks-state',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

describe('DynamoDB (forwarded to the embedded emulator)', () => {
  it('creates a table, puts, gets and queries items through the SDK', async () => {
    await createTable(dynamo);
    const pk = { S: 'STORE#000000000000#us-east-1#payments' };
    await dynamo.send(new PutItemCommand({ TableName: 'cks-state', Item: { pk, sk: { S: 'DESIRED' }, generation: { N: '1' } } }));
    await dynamo.send(new PutItemCommand({ TableName: 'cks-state', Item: { pk, sk: { S: 'STATUS' }, phase: { S: 'IDLE' } } }));
    const item = await dynamo.send(new GetItemCommand({ TableName: 'cks-state', Key: { pk, sk: { S: 'DESIRED' } } }));
    expect(item.Item).toEqual({ pk, sk: { S: 'DESIRED' }, generation: { N: '1' } });
    const query = await dynamo.send(
      new QueryCommand({ TableName: 'cks-state', KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk } }),
    );
    expect(query.Items!.map((i) => i.sk!.S)).toEqual(['DESIRED', 'STATUS']);
    const { body } = await fake.admin('GET', '/_fake/calls');
    expect(body.counts).toMatchObject({ 'DynamoDB.CreateTable': 1, 'DynamoDB.PutItem': 2, 'DynamoDB.GetItem': 1, 'DynamoDB.Query': 1 });
    expect(body.calls.find((c: { operation: string }) => c.operation === 'PutItem')).not.toHaveProperty('target');
  });

  it('passes DynamoDB errors through, and records their type', async () => {
    await expect(dynamo.send(new GetItemCommand({ TableName: 'no-such-table', Key: { pk: { S: 'x' } } }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    const { body } = await fake.admin('GET', '/_fake/calls');
    expect(body.calls.at(-1)).toMatchObject({ service: 'DynamoDB', operation: 'GetItem', error: 'ResourceNotFoundException' });
  });

  it('answers the errors the fake raises itself in JSON 1.0 with the namespaced error type, as DynamoDB does', async () => {
    await fake.admin('POST', '/_fake/faults', { operation: 'ListTables', error: 'ThrottlingException', count: 1 });
    const response = await fetch(fake.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        authorization: 'AWS4-HMAC-SHA256 Credential=000000000000/20260101/us-east-1/dynamodb/aws4_request',
      },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.0');
    expect(await response.json()).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
      message: 'Injected fault: ThrottlingException.',
    });
  });

  it('lets the calls before `after` through, then hits `count` calls', async () => {
    await fake.admin('POST', '/_fake/faults', { operation: 'ListTables', error: 'ThrottlingException', count: 1, after: 2 });
    const client = new DynamoDBClient({ ...fake.config, maxAttempts: 1 });
    const outcomes = [];
    for (let i = 0; i < 4; i++)
      outcomes.push(
        await client.send(new ListTablesCommand({})).then(
          () => 'ok',
          (e: { name?: string }) => e.name,
        ),
      );
    expect(outcomes).toEqual(['ok', 'ok', 'ThrottlingException', 'ok']);
  });

  it('keeps tables apart per account and Region, and empties them on reset', async () => {
    await createTable(dynamo);
    const other = new DynamoDBClient({ ...fake.configFor({ accountId: '111122223333' }), maxAttempts: 1 });
    expect((await other.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    expect((await dynamo.send(new ListTablesCommand({}))).TableNames).toEqual(['cks-state']);
    await fake.admin('POST', '/_fake/reset');
    expect((await dynamo.send(new ListTablesCommand({}))).TableNames).toEqual([]);
  });
});
