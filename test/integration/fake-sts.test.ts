import { execFile } from 'node:child_process';
import { DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';
import { cloudHsmStore } from '../helpers/world.js';

const CENTRAL = '111122223333';
const MEMBER = '444455556666';
const ROLE_ARN = `arn:aws:iam::${MEMBER}:role/cks-reconciler-member`;
const CALLER_ARN = `arn:aws:iam::${CENTRAL}:user/${CENTRAL}`;

const fake = await fakeForFile();

function sts(config = fake.configFor({ accountId: CENTRAL, region: 'eu-west-1' })): STSClient {
  return new STSClient({ ...config, maxAttempts: 1 });
}

async function assumeMemberRole(durationSeconds = 900) {
  const { Credentials } = await sts().send(
    new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'cks-fleet', DurationSeconds: durationSeconds }),
  );
  return {
    accessKeyId: Credentials!.AccessKeyId!,
    secretAccessKey: Credentials!.SecretAccessKey!,
    sessionToken: Credentials!.SessionToken!,
    expiration: Credentials!.Expiration!,
  };
}

describe('STS GetCallerIdentity', () => {
  it('names one principal per access key id: an IAM user for a plain key, a role session for a key that names a role', async () => {
    const user = await sts().send(new GetCallerIdentityCommand({}));
    expect(user).toMatchObject({ Account: CENTRAL, Arn: `arn:aws:iam::${CENTRAL}:user/${CENTRAL}`, UserId: CENTRAL });

    const other = await sts({ ...fake.config, credentials: { accessKeyId: 'AKIAOPERATORTWO12345', secretAccessKey: 'x' } }).send(
      new GetCallerIdentityCommand({}),
    );
    expect(other).toMatchObject({ Account: '000000000000', Arn: 'arn:aws:iam::000000000000:user/AKIAOPERATORTWO12345' });

    const role = await sts(fake.configFor({ accountId: CENTRAL, roleName: 'cks-operator' })).send(new GetCallerIdentityCommand({}));
    expect(role.Arn).toBe(`arn:aws:sts::${CENTRAL}:assumed-role/cks-operator/${CENTRAL}`);
  });

  it('answers the AWS CLI', async () => {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        '/usr/bin/aws',
        ['sts', 'get-caller-identity', '--endpoint-url', fake.url, '--output', 'json'],
        {
          env: {
            ...process.env,
            AWS_ACCESS_KEY_ID: CENTRAL,
            AWS_SECRET_ACCESS_KEY: 'x',
            AWS_DEFAULT_REGION: 'us-east-1',
            AWS_CONFIG_FILE: '/dev/null',
            AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          },
        },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      ),
    );
    expect(JSON.parse(stdout)).toEqual({ UserId: CENTRAL, Account: CENTRAL, Arn: `arn:aws:iam::${CENTRAL}:user/${CENTRAL}` });
  });
});

describe('STS AssumeRole', () => {
  it('refuses a role that does not exist with AccessDenied naming the caller and the role', async () => {
    const error = await sts()
      .send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'cks-fleet' }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'AccessDenied',
      message: `User: arn:aws:iam::${CENTRAL}:user/${CENTRAL} is not authorized to perform: sts:AssumeRole on resource: ${ROLE_ARN}`,
      $metadata: { httpStatusCode: 403 },
    });
  });

  it('gives credentials that act in the role’s account as the role, until they expire', async () => {
    await fake.admin('POST', '/_fake/roles', { accountId: MEMBER, roleName: 'cks-reconciler-member', trustedAccounts: [CENTRAL] });
    await cloudHsmStore(fake, { name: 'member-hsm', accountId: MEMBER, region: 'eu-west-1' });
    const credentials = await assumeMemberRole(900);
    expect(credentials.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(credentials.expiration.getTime()).toBe(Math.floor((fake.now() + 900_000) / 1000) * 1000);

    const identity = await sts({ endpoint: fake.url, region: 'eu-west-1', credentials }).send(new GetCallerIdentityCommand({}));
    expect(identity).toMatchObject({ Account: MEMBER, Arn: `arn:aws:sts::${MEMBER}:assumed-role/cks-reconciler-member/cks-fleet` });
    expect(identity.UserId).toMatch(/^AROA[A-Z2-7]{17}:cks-fleet$/);

    const kms = new KMSClient({ endpoint: fake.url, region: 'eu-west-1', credentials, maxAttempts: 1 });
    const { CustomKeyStores } = await kms.send(new DescribeCustomKeyStoresCommand({}));
    expect(CustomKeyStores?.map((s) => s.CustomKeyStoreName)).toEqual(['member-hsm']);

    fake.advance(900);
    const expired = await kms.send(new DescribeCustomKeyStoresCommand({})).catch((e: unknown) => e);
    expect(expired).toMatchObject({ name: 'ExpiredTokenException', message: 'The security token included in the request is expired' });
    const { body } = await fake.admin('GET', `/_fake/calls?accountId=${MEMBER}`);
    expect(body.calls.map((c: { operation: string; error?: string }) => `${c.operation}${c.error ? ` ${c.error}` : ''}`)).toEqual([
      'CreateCustomKeyStore',
      'GetCallerIdentity',
      'DescribeCustomKeyStores',
      'DescribeCustomKeyStores ExpiredTokenException',
    ]);
  });

  it('answers an expired session with ExpiredToken 403 in STS and ExpiredTokenException 400 in KMS, and an unknown one likewise', async () => {
    await fake.admin('POST', '/_fake/roles', { accountId: MEMBER, roleName: 'cks-reconciler-member' });
    const credentials = await assumeMemberRole(900);
    fake.advance(900);
    const config = { endpoint: fake.url, region: 'eu-west-1', maxAttempts: 1 };
    await expect(sts({ ...config, credentials }).send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'ExpiredToken',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(new KMSClient({ ...config, credentials }).send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({
      name: 'ExpiredTokenException',
      $metadata: { httpStatusCode: 400 },
    });
    const unknown = { accessKeyId: 'ASIAUNKNOWNSESSION00', secretAccessKey: 'x', sessionToken: 'token' };
    await expect(sts({ ...config, credentials: unknown }).send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(new KMSClient({ ...config, credentials: unknown }).send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('refuses callers of accounts the role does not trust, and everyone once its trust list is empty', async () => {
    await fake.admin('POST', '/_fake/roles', { accountId: MEMBER, roleName: 'cks-reconciler-member', trustedAccounts: ['999988887777'] });
    await expect(assumeMemberRole()).rejects.toMatchObject({ name: 'AccessDenied' });
    await fake.admin('POST', '/_fake/roles', { accountId: MEMBER, roleName: 'cks-reconciler-member' });
    await expect(assumeMemberRole()).resolves.toMatchObject({ accessKeyId: expect.stringMatching(/^ASIA/) });
    await fake.admin('POST', '/_fake/roles', { accountId: MEMBER, roleName: 'cks-reconciler-member', trustedAccounts: [] });
    await expect(assumeMemberRole()).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('records each call with its role and outcome, and applies injected faults', async () => {
    await fake.admin('POST', '/_fake/roles', { accountId: MEMBER, roleName: 'cks-reconciler-member' });
    await fake.admin('POST', '/_fake/faults', { operation: 'AssumeRole', error: 'Throttling', count: 1 });
    await expect(assumeMemberRole()).rejects.toMatchObject({ name: 'Throttling', $metadata: { httpStatusCode: 400 } });
    await assumeMemberRole();
    const { body } = await fake.admin('GET', `/_fake/calls?accountId=${CENTRAL}`);
    expect(body.counts).toEqual({ 'STS.AssumeRole': 2 });
    expect(body.calls.map((c: object) => ({ ...c, time: undefined }))).toEqual([
      {
        time: undefined,
        accountId: CENTRAL,
        region: 'eu-west-1',
        service: 'STS',
        operation: 'AssumeRole',
        principal: CALLER_ARN,
        target: ROLE_ARN,
        error: 'Throttling',
      },
      { time: undefined, accountId: CENTRAL, region: 'eu-west-1', service: 'STS', operation: 'AssumeRole', principal: CALLER_ARN, target: ROLE_ARN },
    ]);
  });

  it('rejects bad input with ValidationError in the AWS wording', async () => {
    await fake.admin('POST', '/_fake/roles', { accountId: MEMBER, roleName: 'cks-reconciler-member' });
    const badName = await sts()
      .send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'has space' }))
      .catch((e: unknown) => e);
    expect(badName).toMatchObject({
      name: 'ValidationError',
      message:
        "1 validation error detected: Value 'has space' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@-]*$",
    });
    const tooLong = await sts()
      .send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'cks', DurationSeconds: 7200 }))
      .catch((e: unknown) => e);
    expect(tooLong).toMatchObject({
      name: 'ValidationError',
      message: 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
    });
    const notRole = await sts()
      .send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::444455556666:user/alice', RoleSessionName: 'cks' }))
      .catch((e: unknown) => e);
    expect(notRole).toMatchObject({ name: 'ValidationError', message: 'arn:aws:iam::444455556666:user/alice is invalid' });
  });

  it('creates roles through the admin API only with a valid account and name', async () => {
    const bad = await fake.admin('POST', '/_fake/roles', { accountId: '123', roleName: 'x y' });
    expect(bad).toEqual({
      status: 400,
      body: { __type: 'ValidationException', message: 'accountId: must be 12 digits; roleName: must be an IAM role name' },
    });
    const { body } = await fake.admin('GET', '/_fake/state');
    expect(body.roles).toEqual([]);
  });
});
