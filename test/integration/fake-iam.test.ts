import { execFile } from 'node:child_process';
import { CloudHSMV2Client, DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { TABLE_KEY_SCHEMA } from '../../shared/adapters/dynamodb-store.js';
import { fakeForFile, startTestFake } from '../helpers/fake.js';

// The real AWS CLI v2: the `aws` on PATH may be a v1.
const AWS = '/usr/bin/aws';
const ACCOUNT = '000000000000';
const OTHER = '444455556666';
const TABLE = 'stores';
const TABLE_ARN = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/${TABLE}`;

const fake = await fakeForFile();

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const config = (credentials: Keys, region = 'us-east-1') => ({ endpoint: fake.url, region, credentials });

/** An IAM user of the fake with these identity policies. */
async function user(userName: string, statements: object[], accountId = ACCOUNT): Promise<Keys & { arn: string }> {
  const policies = statements.length === 0 ? [] : [{ Version: '2012-10-17', Statement: statements }];
  const { status, body } = await fake.admin('POST', '/_fake/principals', { accountId, userName, policies });
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

/** The stores table, created by an allow-all principal. */
async function createTable(): Promise<void> {
  await new DynamoDBClient(fake.config).send(new CreateTableCommand({ TableName: TABLE, BillingMode: 'PAY_PER_REQUEST', ...TABLE_KEY_SCHEMA }));
}

const item = (pk: string) => ({ pk: { S: pk }, sk: { S: 'STATUS' } });
const put = (pk: string) => new PutItemCommand({ TableName: TABLE, Item: item(pk) });
const denied = (arn: string, action: string, resource?: string) =>
  `User: ${arn} is not authorized to perform: ${action}${resource === undefined ? '' : ` on resource: ${resource}`} because no identity-based policy allows the ${action} action`;

const WRITE_SCOPES = {
  Effect: 'Allow',
  Action: ['dynamodb:PutItem', 'dynamodb:BatchWriteItem'],
  Resource: TABLE_ARN,
  Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SCOPE#*'] } },
};

describe('IAM in the fake: identity policies', () => {
  it('allows what a user’s policy allows and refuses the rest, as each service refuses it', async () => {
    const alice = await user('alice', [{ Effect: 'Allow', Action: 'kms:DescribeCustomKeyStores', Resource: '*' }]);
    await expect(new KMSClient(config(alice)).send(new DescribeCustomKeyStoresCommand({}))).resolves.toMatchObject({ CustomKeyStores: [] });

    const refusals = await Promise.all([
      new CloudHSMV2Client(config(alice)).send(new DescribeClustersCommand({})).catch((e: unknown) => e),
      new EventBridgeClient(config(alice))
        .send(new PutEventsCommand({ Entries: [{ Source: 'cks', DetailType: 'x', Detail: '{}', EventBusName: 'cks-bus' }] }))
        .catch((e: unknown) => e),
      new SecretsManagerClient(config(alice)).send(new GetSecretValueCommand({ SecretId: 'cks/pw' })).catch((e: unknown) => e),
    ]);
    expect(refusals).toEqual([
      expect.objectContaining({
        name: 'AccessDeniedException',
        $metadata: expect.objectContaining({ httpStatusCode: 400 }),
        message: denied(alice.arn, 'cloudhsm:DescribeClusters'),
      }),
      expect.objectContaining({
        name: 'AccessDeniedException',
        $metadata: expect.objectContaining({ httpStatusCode: 400 }),
        message: denied(alice.arn, 'events:PutEvents', `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/cks-bus`),
      }),
      expect.objectContaining({
        name: 'AccessDeniedException',
        $metadata: expect.objectContaining({ httpStatusCode: 400 }),
        message: denied(alice.arn, 'secretsmanager:GetSecretValue', `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:cks/pw`),
      }),
    ]);
  });

  it('names an existing secret by its ARN, and refuses KMS without naming a resource', async () => {
    await new SecretsManagerClient(fake.config).send(new CreateSecretCommand({ Name: 'cks/pw', SecretString: 'kmsuser-Passw0rd' }));
    const bob = await user('bob', [
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:cks/*` },
    ]);
    await expect(new SecretsManagerClient(config(bob)).send(new GetSecretValueCommand({ SecretId: 'cks/pw' }))).resolves.toMatchObject({
      Name: 'cks/pw',
    });
    const kms = await new KMSClient(config(bob)).send(new DescribeCustomKeyStoresCommand({})).catch((e: unknown) => e);
    expect(kms).toMatchObject({ name: 'AccessDeniedException', message: denied(bob.arn, 'kms:DescribeCustomKeyStores') });
  });

  it('answers a DynamoDB refusal in JSON 1.0 with DynamoDB’s namespaced AccessDeniedException, and logs it with the principal', async () => {
    await createTable();
    const carol = await user('carol', []);
    const response = await fetch(fake.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.PutItem',
        authorization: `AWS4-HMAC-SHA256 Credential=${carol.accessKeyId}/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: JSON.stringify({ TableName: TABLE, Item: item('SCOPE#a') }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.0');
    expect(await response.json()).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#AccessDeniedException',
      message: denied(carol.arn, 'dynamodb:PutItem', TABLE_ARN),
    });
    const { body } = await fake.admin('GET', '/_fake/calls');
    expect(body.calls.at(-1)).toMatchObject({
      service: 'DynamoDB',
      operation: 'PutItem',
      principal: carol.arn,
      error: 'AccessDeniedException',
      denied: true,
    });
  });

  it('says an explicit deny is one', async () => {
    const dave = await user('dave', [
      { Effect: 'Allow', Action: 'kms:*', Resource: '*' },
      { Effect: 'Deny', Action: 'kms:DescribeCustomKeyStores', Resource: '*' },
    ]);
    const error = await new KMSClient(config(dave)).send(new DescribeCustomKeyStoresCommand({})).catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${dave.arn} is not authorized to perform: kms:DescribeCustomKeyStores with an explicit deny in an identity-based policy`,
    });
  });
});

describe('IAM in the fake: condition keys and policy variables', () => {
  it('sets dynamodb:LeadingKeys from an item’s key, a Query’s key condition, every item of a batch and each transaction item', async () => {
    await createTable();
    const writer = await user('writer', [
      WRITE_SCOPES,
      {
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: TABLE_ARN,
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SCOPE#*'] } },
      },
    ]);
    const dynamo = new DynamoDBClient(config(writer));
    await expect(dynamo.send(put('SCOPE#a'))).resolves.toBeDefined();
    await expect(dynamo.send(put('DESIRED#a'))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: denied(writer.arn, 'dynamodb:PutItem', TABLE_ARN),
    });

    const query = (pk: string) =>
      dynamo.send(
        new QueryCommand({
          TableName: TABLE,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': 'pk' },
          ExpressionAttributeValues: { ':pk': { S: pk } },
        }),
      );
    await expect(query('SCOPE#a')).resolves.toMatchObject({ Count: 1 });
    await expect(query('REGISTRY')).rejects.toMatchObject({ name: 'AccessDeniedException' });

    const batch = (pks: string[]) =>
      dynamo.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: pks.map((pk) => ({ PutRequest: { Item: item(pk) } })) } }));
    await expect(batch(['SCOPE#b', 'SCOPE#c'])).resolves.toBeDefined();
    await expect(batch(['SCOPE#d', 'DESIRED#d'])).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: denied(writer.arn, 'dynamodb:BatchWriteItem', TABLE_ARN),
    });

    // A transaction is authorized item by item, each as its own action: DeleteItem is not granted.
    const transaction = await dynamo
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [{ Put: { TableName: TABLE, Item: item('SCOPE#e') } }, { Delete: { TableName: TABLE, Key: item('SCOPE#a') } }],
        }),
      )
      .catch((e: unknown) => e);
    expect(transaction).toMatchObject({ name: 'AccessDeniedException', message: denied(writer.arn, 'dynamodb:DeleteItem', TABLE_ARN) });
  });

  it('sets dynamodb:Attributes to the attributes an item writes', async () => {
    await createTable();
    const narrow = await user('narrow', [
      {
        Effect: 'Allow',
        Action: 'dynamodb:PutItem',
        Resource: TABLE_ARN,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', 'note'] } },
      },
    ]);
    const dynamo = new DynamoDBClient(config(narrow));
    await expect(dynamo.send(new PutItemCommand({ TableName: TABLE, Item: { ...item('a'), note: { S: 'x' } } }))).resolves.toBeDefined();
    await expect(dynamo.send(new PutItemCommand({ TableName: TABLE, Item: { ...item('a'), secret: { S: 'x' } } }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });

  it('substitutes policy variables: a user writes only the partition named after it', async () => {
    await createTable();
    const erin = await user('erin', [
      {
        Effect: 'Allow',
        Action: 'dynamodb:PutItem',
        Resource: TABLE_ARN,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['USER#${aws:username}'] } },
      },
    ]);
    const dynamo = new DynamoDBClient(config(erin));
    await expect(dynamo.send(put('USER#erin'))).resolves.toBeDefined();
    await expect(dynamo.send(put('USER#frank'))).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('sets aws:RequestedRegion from the credential scope', async () => {
    const regional = await user('regional', [
      { Effect: 'Allow', Action: 'kms:DescribeCustomKeyStores', Resource: '*', Condition: { StringEquals: { 'aws:RequestedRegion': 'eu-west-1' } } },
    ]);
    await expect(new KMSClient(config(regional, 'eu-west-1')).send(new DescribeCustomKeyStoresCommand({}))).resolves.toBeDefined();
    await expect(new KMSClient(config(regional, 'us-east-1')).send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });
});

describe('IAM in the fake: roles, trust and sessions', () => {
  const ROLE = `arn:aws:iam::${OTHER}:role/member`;
  const sts = (credentials: Keys) => new STSClient(config(credentials));

  it('evaluates the trust policy and the caller’s sts:AssumeRole permission, and refuses as STS does (403 AccessDenied)', async () => {
    const trusted = await user('trusted', [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: ROLE }]);
    const stranger = await user('stranger', [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: ROLE }]);
    const unpermitted = await user('unpermitted', []);
    await fake.admin('POST', '/_fake/roles', {
      accountId: OTHER,
      roleName: 'member',
      trustPolicy: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: [trusted.arn, unpermitted.arn] }, Action: 'sts:AssumeRole' }],
      },
      policies: [],
    });
    await expect(sts(trusted).send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 's1' }))).resolves.toMatchObject({
      AssumedRoleUser: { Arn: `arn:aws:sts::${OTHER}:assumed-role/member/s1` },
    });
    for (const caller of [stranger, unpermitted]) {
      const error = await sts(caller)
        .send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 's1' }))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        name: 'AccessDenied',
        $metadata: expect.objectContaining({ httpStatusCode: 403 }),
        message: `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${ROLE}`,
      });
    }
    const { body } = await fake.admin('GET', '/_fake/calls');
    expect(body.calls.at(-1)).toMatchObject({
      service: 'STS',
      operation: 'AssumeRole',
      principal: unpermitted.arn,
      error: 'AccessDenied',
      denied: true,
    });
  });

  it('gives a session its role’s policies, aws:PrincipalOrgID, aws:userid and the source identity, carried through role chaining', async () => {
    await fake.admin('POST', '/_fake/organizations', { accountId: OTHER, organizationId: 'o-abcdefghij' });
    const trust = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:root` }, Action: ['sts:AssumeRole', 'sts:SetSourceIdentity'] }],
    };
    const { body: role } = await fake.admin('POST', '/_fake/roles', {
      accountId: OTHER,
      roleName: 'member',
      trustPolicy: trust,
      policies: [
        {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'kms:DescribeCustomKeyStores',
              Resource: '*',
              Condition: { StringEquals: { 'aws:SourceIdentity': 'alice', 'aws:PrincipalOrgID': 'o-abcdefghij', 'aws:userid': '${aws:userid}' } },
            },
            { Effect: 'Allow', Action: 'sts:AssumeRole', Resource: ROLE, Condition: { StringLike: { 'aws:userid': '*:s1' } } },
          ],
        },
      ],
    });
    // Trusted through its account, the caller needs both permissions in its own policy too.
    const caller = await user('caller', [{ Effect: 'Allow', Action: ['sts:AssumeRole', 'sts:SetSourceIdentity'], Resource: ROLE }], OTHER);
    const withSource = await sts(caller).send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 's1', SourceIdentity: 'alice' }));
    expect(withSource).toMatchObject({ SourceIdentity: 'alice', AssumedRoleUser: { AssumedRoleId: `${role.roleId}:s1` } });
    const session = withSource.Credentials!;
    const keys = { accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! };
    await expect(new KMSClient(config(keys)).send(new DescribeCustomKeyStoresCommand({}))).resolves.toBeDefined();

    // Chained from the first session (aws:userid ends :s1), the source identity stays.
    const chained = await sts(keys).send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 's2' }));
    expect(chained.SourceIdentity).toBe('alice');

    const without = (await sts(caller).send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 's3' }))).Credentials!;
    const plain = { accessKeyId: without.AccessKeyId!, secretAccessKey: without.SecretAccessKey!, sessionToken: without.SessionToken! };
    await expect(new KMSClient(config(plain)).send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: denied(`arn:aws:sts::${OTHER}:assumed-role/member/s3`, 'kms:DescribeCustomKeyStores'),
    });
  });

  it('refuses a source identity the trust policy does not allow setting', async () => {
    await fake.admin('POST', '/_fake/roles', {
      accountId: OTHER,
      roleName: 'member',
      trustPolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' }] },
    });
    const error = await new STSClient(fake.config)
      .send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 's1', SourceIdentity: 'alice' }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'AccessDenied',
      message: `User: arn:aws:iam::${ACCOUNT}:user/${ACCOUNT} is not authorized to perform: sts:SetSourceIdentity on resource: ${ROLE}`,
    });
  });
});

describe('IAM in the fake: resource policies', () => {
  it('lets another account put events on a bus only as its policy allows (aws:PrincipalOrgID)', async () => {
    const BUS = `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/default`;
    const entry = { Source: 'member', DetailType: 'x', Detail: '{}', EventBusName: BUS };
    const member = new EventBridgeClient(config({ accessKeyId: OTHER, secretAccessKey: 'x' }));
    await expect(member.send(new PutEventsCommand({ Entries: [entry] }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: `User: arn:aws:iam::${OTHER}:user/${OTHER} is not authorized to perform: events:PutEvents on resource: ${BUS} because no resource-based policy allows the events:PutEvents action`,
    });
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: '*',
          Action: 'events:PutEvents',
          Resource: BUS,
          Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' } },
        },
      ],
    };
    expect((await fake.admin('POST', '/_fake/event-bus-policies', { accountId: ACCOUNT, policy })).status).toBe(200);
    await expect(member.send(new PutEventsCommand({ Entries: [entry] }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await fake.admin('POST', '/_fake/organizations', { accountId: OTHER, organizationId: 'o-abcdefghij' });
    await expect(member.send(new PutEventsCommand({ Entries: [entry] }))).resolves.toMatchObject({ FailedEntryCount: 0 });
  });

  it('refuses a malformed policy at the admin API', async () => {
    const { status, body } = await fake.admin('POST', '/_fake/principals', {
      userName: 'x',
      policies: [{ Statement: [{ Effect: 'Maybe', Action: 'kms:*', Resource: '*' }] }],
    });
    expect(status).toBe(400);
    expect(body.__type).toBe('MalformedPolicyDocument');
  });
});

describe('IAM in the fake: the AWS CLI and --iam off', () => {
  function aws(keys: Keys, ...args: string[]): Promise<{ code: number; stderr: string }> {
    const env = {
      ...process.env,
      AWS_PAGER: '',
      AWS_ACCESS_KEY_ID: keys.accessKeyId,
      AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    };
    return new Promise((resolve) => {
      execFile(AWS, [...args, '--endpoint-url', fake.url], { env }, (error, _stdout, stderr) => {
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr });
      });
    });
  }

  it('shows the AWS CLI the refusal AWS would give', async () => {
    await createTable();
    const writer = await user('cli-writer', [WRITE_SCOPES]);
    expect(await aws(writer, 'dynamodb', 'put-item', '--table-name', TABLE, '--item', JSON.stringify(item('SCOPE#cli')))).toMatchObject({ code: 0 });
    const refused = await aws(writer, 'dynamodb', 'put-item', '--table-name', TABLE, '--item', JSON.stringify(item('DESIRED#cli')));
    expect(refused.code).toBe(254);
    expect(refused.stderr.trim()).toBe(
      `An error occurred (AccessDeniedException) when calling the PutItem operation: ${denied(writer.arn, 'dynamodb:PutItem', TABLE_ARN)}`,
    );
    const assume = await aws(writer, 'sts', 'assume-role', '--role-arn', `arn:aws:iam::${OTHER}:role/none`, '--role-session-name', 'cli');
    expect(assume.stderr.trim()).toBe(
      `An error occurred (AccessDenied) when calling the AssumeRole operation: User: ${writer.arn} is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::${OTHER}:role/none`,
    );
  }, 30_000);

  it('authorizes everything with IAM off', async () => {
    const open = await startTestFake({ iam: false });
    try {
      const { body: nobody } = await open.admin('POST', '/_fake/principals', { userName: 'nobody' });
      const kms = new KMSClient({ endpoint: open.url, region: 'us-east-1', credentials: nobody });
      await expect(kms.send(new DescribeCustomKeyStoresCommand({}))).resolves.toMatchObject({ CustomKeyStores: [] });
    } finally {
      await open.close();
    }
  });
});
