import { GetQueueUrlCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SqsFollowUpQueue, SqsScopeQueue } from '../../shared/adapters/sqs.js';
import { MemberCredentials, REFRESH_MARGIN_MS } from '../../shared/adapters/sts.js';
import { loadFleetConfig, loadMemberReadRoleName } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { ManualClock } from '../helpers/in-memory.js';

const stsMock = mockClient(STSClient);
const sqsMock = mockClient(SQSClient);

describe('MemberCredentials', () => {
  let clock: ManualClock;
  let members: MemberCredentials;

  beforeEach(() => {
    stsMock.reset();
    clock = new ManualClock();
    members = new MemberCredentials(new STSClient({ region: 'us-east-1' }), 'cks-reconciler-member', clock);
    stsMock.on(AssumeRoleCommand).callsFake(() => ({
      Credentials: {
        AccessKeyId: `ASIA${stsMock.calls().length}`,
        SecretAccessKey: 's',
        SessionToken: 't',
        Expiration: new Date(clock.now() + 3_600_000),
      },
    }));
  });

  it('assumes the member role once per account and reuses it, for every caller at once, until shortly before it expires', async () => {
    // Act
    const [a, b] = await Promise.all([members.get('444455556666'), members.get('444455556666')]);
    clock.advance(3600 - REFRESH_MARGIN_MS / 1000 - 1);
    const c = await members.get('444455556666');
    clock.advance(2);
    const d = await members.get('444455556666');

    // Assess
    expect([a.accessKeyId, b.accessKeyId, c.accessKeyId, d.accessKeyId]).toEqual(['ASIA1', 'ASIA1', 'ASIA1', 'ASIA2']);
    expect(stsMock.commandCalls(AssumeRoleCommand).map((call) => call.args[0].input)).toEqual([
      { RoleArn: 'arn:aws:iam::444455556666:role/cks-reconciler-member', RoleSessionName: 'cks-reconciler', DurationSeconds: 3600 },
      { RoleArn: 'arn:aws:iam::444455556666:role/cks-reconciler-member', RoleSessionName: 'cks-reconciler', DurationSeconds: 3600 },
    ]);
  });

  it('keeps one session per account', async () => {
    await members.get('444455556666');
    await members.get('777788889999');
    await members.get('444455556666');
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });

  it('does not keep a failure: the next call asks again, and the error names STS.AssumeRole', async () => {
    stsMock
      .on(AssumeRoleCommand)
      .rejectsOnce(Object.assign(new Error('User is not authorized to perform: sts:AssumeRole'), { name: 'AccessDenied' }));
    await expect(members.get('444455556666')).rejects.toMatchObject({ operation: 'STS.AssumeRole', code: 'AccessDenied' });
    stsMock
      .on(AssumeRoleCommand)
      .resolves({ Credentials: { AccessKeyId: 'ASIAOK', SecretAccessKey: 's', SessionToken: 't', Expiration: new Date(clock.now() + 3_600_000) } });
    await expect(members.get('444455556666')).resolves.toMatchObject({ accessKeyId: 'ASIAOK' });
  });

  it('renews by its own clock, not the system clock: the SDK is told to ask again before every call, and the role is assumed again once this clock nears the expiration', async () => {
    // Prepare
    const provider = members.provider('444455556666');

    // Act: the deployment's clock moves past the session's hour while the system clock barely moves.
    const first = await provider();
    clock.advance(3600 - REFRESH_MARGIN_MS / 1000 - 1);
    const beforeRenewal = await provider();
    clock.advance(2);
    const renewed = await provider();

    // Assess: an expiration the SDK finds past (it renews 5 minutes before one), so it never keeps credentials by its own clock.
    expect(first.expiration!.getTime()).toBeLessThan(Date.now() - 5 * 60_000);
    expect([first.accessKeyId, beforeRenewal.accessKeyId, renewed.accessKeyId]).toEqual(['ASIA1', 'ASIA1', 'ASIA2']);
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });
});

describe('SqsScopeQueue', () => {
  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/cks-reconciler-dev-scopes' });
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  });

  const scopes = Array.from({ length: 23 }, (_, i) => ({ accountId: String(100000000000 + i), region: 'eu-west-1' }));

  it('sends one message per scope, ten per call, after asking for the queue URL once', async () => {
    const queue = new SqsScopeQueue(new SQSClient({ region: 'us-east-1' }), 'cks-reconciler-dev-scopes');
    await queue.send(scopes);
    await queue.send(scopes.slice(0, 1));

    expect(sqsMock.commandCalls(GetQueueUrlCommand)).toHaveLength(1);
    const batches = sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries!.map((e) => JSON.parse(e.MessageBody!)));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 3, 1]);
    expect(batches.flat().slice(0, 23)).toEqual(scopes);
  });

  it('fails, naming the scopes, when SQS refuses any message', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: '2', Code: 'InternalError', SenderFault: false }] });
    const queue = new SqsScopeQueue(new SQSClient({ region: 'us-east-1' }), 'cks-reconciler-dev-scopes');
    await expect(queue.send(scopes.slice(0, 5))).rejects.toThrow(
      'SQS.SendMessageBatch failed: InternalError: 1 of 5 scope messages were not sent: 100000000002/eu-west-1',
    );
  });
});

describe('SqsFollowUpQueue', () => {
  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/cks-reconciler-dev-follow-ups' });
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  });
  const scope = { accountId: '444455556666', region: 'eu-west-1' };

  it('sends one message per follow-up naming its scope and store, delayed by its seconds', async () => {
    const queue = new SqsFollowUpQueue(new SQSClient({ region: 'us-east-1' }), 'cks-reconciler-dev-follow-ups');
    await queue.followUp(scope, [
      { store: 'finance-hsm', afterSeconds: 5 },
      { store: 'partner-xks', afterSeconds: 15 },
    ]);

    const [entries] = sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries!);
    expect(entries?.map((e) => ({ body: JSON.parse(e.MessageBody!), delay: e.DelaySeconds }))).toEqual([
      { body: { ...scope, store: 'finance-hsm' }, delay: 5 },
      { body: { ...scope, store: 'partner-xks' }, delay: 15 },
    ]);
  });

  it('fails, naming the scope and store, when SQS refuses a follow-up', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: '0', Code: 'InvalidParameterValue', SenderFault: true }] });
    const queue = new SqsFollowUpQueue(new SQSClient({ region: 'us-east-1' }), 'cks-reconciler-dev-follow-ups');

    await expect(queue.followUp(scope, [{ store: 'finance-hsm', afterSeconds: 5 }])).rejects.toThrow(
      'SQS.SendMessageBatch failed: InvalidParameterValue: 1 of 1 follow-up messages were not sent: 444455556666/eu-west-1 finance-hsm',
    );
  });
});

describe('loadFleetConfig', () => {
  it('defaults to the member role cks-reconciler-member, no queue and 8 scopes at once', () => {
    expect(loadFleetConfig({})).toEqual({ memberRoleName: 'cks-reconciler-member', concurrency: 8 });
    expect(loadFleetConfig({ CKS_MEMBER_ROLE_NAME: 'ops-cks', CKS_SCOPE_QUEUE: 'cks-scopes', CKS_FLEET_CONCURRENCY: '16' })).toEqual({
      memberRoleName: 'ops-cks',
      scopeQueueName: 'cks-scopes',
      concurrency: 16,
    });
  });

  it('reads the follow-up queue from CKS_FOLLOW_UP_QUEUE, and refuses a malformed one naming the variable', () => {
    expect(loadFleetConfig({ CKS_FOLLOW_UP_QUEUE: 'cks-follow-ups' })).toMatchObject({ followUpQueueName: 'cks-follow-ups' });
    expect(() => loadFleetConfig({ CKS_FOLLOW_UP_QUEUE: 'https://sqs/x' })).toThrow(
      new ConfigError('CKS_FOLLOW_UP_QUEUE must be the name of an SQS queue (1-80 of letters, digits, - and _), got "https://sqs/x"'),
    );
  });

  it('refuses a malformed role name, queue name or concurrency, naming the variable', () => {
    expect(() => loadFleetConfig({ CKS_MEMBER_ROLE_NAME: 'bad role' })).toThrow(
      new ConfigError('CKS_MEMBER_ROLE_NAME must be an IAM role name (1-64 of letters, digits and +=,.@_-), got "bad role"'),
    );
    expect(() => loadFleetConfig({ CKS_SCOPE_QUEUE: 'https://sqs/x' })).toThrow(/^CKS_SCOPE_QUEUE must be the name of an SQS queue/);
    expect(() => loadFleetConfig({ CKS_FLEET_CONCURRENCY: '0' })).toThrow('CKS_FLEET_CONCURRENCY must be a positive number, got "0"');
  });
});

describe('loadMemberReadRoleName', () => {
  it('names the read-only member role cks assumes, cks-reconciler-member-read unless CKS_MEMBER_READ_ROLE_NAME says', () => {
    expect(loadMemberReadRoleName({})).toBe('cks-reconciler-member-read');
    expect(loadMemberReadRoleName({ CKS_MEMBER_READ_ROLE_NAME: 'ops-cks-read', CKS_MEMBER_ROLE_NAME: 'ops-cks' })).toBe('ops-cks-read');
  });

  it('refuses a malformed role name, naming the variable', () => {
    expect(() => loadMemberReadRoleName({ CKS_MEMBER_READ_ROLE_NAME: 'role/x' })).toThrow(
      new ConfigError('CKS_MEMBER_READ_ROLE_NAME must be an IAM role name (1-64 of letters, digits and +=,.@_-), got "role/x"'),
    );
  });
});
