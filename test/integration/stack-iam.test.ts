/**
 * The stack under its own policies: the reconciler's roles and the OperatorPolicy read from the
 * stack's resources (serverless.yml, as `serverless print` resolves it), the member role from
 * cloudformation/member-role.yml, all enforced by the fake's IAM.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudHSMV2Client, DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  ConnectCustomKeyStoreCommand,
  CreateKeyCommand,
  DescribeCustomKeyStoresCommand,
  DisconnectCustomKeyStoreCommand,
  EncryptCommand,
  KMSClient,
  UpdateCustomKeyStoreCommand,
} from '@aws-sdk/client-kms';
import { DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SqsFollowUpQueue } from '../../shared/adapters/sqs.js';
import { FakeAdmin } from '../../shared/dev/demo/admin.js';
import {
  deployMemberRole,
  deployStackIam,
  FAKE_ORGANIZATION_ID,
  FUNCTION_ROLES,
  memberRoles,
  type PrincipalKeys,
  stackTemplate,
} from '../../shared/dev/iam/stack.js';
import { cksAgainst } from '../helpers/cks.js';
import { followUpRig } from '../helpers/follow-ups.js';
import { type ReconcilerEnv, startReconcilerEnv, TABLE } from '../helpers/reconciler.js';
import { deployMember, operatorPrincipal, operatorRole, roleCredentials } from '../helpers/stack.js';
import { cloudHsmStore, xksStore } from '../helpers/world.js';

const HOME = '000000000000';
const MEMBER = '444455556666';
const ORGANIZATION = 'o-abcdefghij';

let env: ReconcilerEnv;
let operator: PrincipalKeys;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cks-stack-iam-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  // The environment deploys the stack's roles and an operator holding the OperatorPolicy.
  env = await startReconcilerEnv();
  operator = env.operator;
});
afterEach(() => env.close());

const cks = () =>
  cksAgainst(env.fake, {
    CKS_TABLE: TABLE,
    CKS_EVENT_BUS: 'cks-it',
    AWS_ACCESS_KEY_ID: operator.accessKeyId,
    AWS_SECRET_ACCESS_KEY: operator.secretAccessKey,
  });

const admin = () => new DynamoDBClient(env.fake.config);
const item = (pk: string, sk: string) => ({ pk: { S: pk }, sk: { S: sk } });
const denials = async () => (await env.calls()).calls.filter((call) => (call as { denied?: boolean }).denied);

/** A CONNECTED CloudHSM store of `accountId`, and its stores-file entry (its password under the stack's secret prefix). */
async function connectedStore(name: string, accountId = HOME): Promise<string> {
  const scope = { accountId, region: 'us-east-1' };
  const { clusterId, secretArn: ARN } = await cloudHsmStore(env.fake, { name, ...scope, connected: true, secret: `cks/${name}` });
  const target = accountId === HOME ? '' : `    accountId: '${accountId}'\n    region: us-east-1\n`;
  return `  - name: ${name}\n${target}    desiredState: CONNECTED\n    cloudHsmClusterId: ${clusterId}\n    keyStorePasswordSecretArn: ${ARN}\n    mode: enforce\n`;
}

function storesFile(...entries: string[]): string {
  const file = join(dir, `stores-${entries.length}-${Date.now()}.yaml`);
  writeFileSync(file, entries.length === 0 ? 'stores: []\n' : `stores:\n${entries.join('')}`);
  return file;
}

describe('enforcement is on', () => {
  it('keeps the reconciler’s roles from writing a desired item', async () => {
    const write = env.clients.dynamo.send(new PutItemCommand({ TableName: TABLE, Item: item(`DESIRED#${HOME}#us-east-1`, 'STORE#x#DESIRED') }));
    await expect(write).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: `User: arn:aws:sts::${HOME}:assumed-role/SweepRole/reconciler is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:${HOME}:table/${TABLE} because no identity-based policy allows the dynamodb:PutItem action`,
    });
  });

  it('keeps an operator from writing a status', async () => {
    const dynamo = new DynamoDBClient({ ...env.fake.config, credentials: operator });
    await expect(
      dynamo.send(new PutItemCommand({ TableName: TABLE, Item: item(`SCOPE#${HOME}#us-east-1`, 'STORE#x#STATUS') })),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });

  it('lets only the roles the member role trusts, from inside the organization, assume it', async () => {
    const { member: role } = memberRoles(MEMBER, {
      CentralAccountId: HOME,
      CentralRegion: 'us-east-1',
      ReconcilerRoleArns: [`arn:aws:iam::${HOME}:role/WorkerRole`, `arn:aws:iam::${HOME}:role/OnEventRole`],
      ReadOnlyPrincipals: [HOME],
      OrganizationId: ORGANIZATION,
      FleetRegions: ['us-east-1'],
    });
    await env.fake.admin('POST', '/_fake/roles', { accountId: MEMBER, ...role });
    await env.fake.admin('POST', '/_fake/organizations', { accountId: HOME, organizationId: ORGANIZATION });
    const assume = (credentials: Credentials) => assumeRole(credentials, `arn:aws:iam::${MEMBER}:role/${role.roleName}`);
    await expect(assume({ accessKeyId: 'worker', secretAccessKey: 'x', sessionToken: 'WorkerRole' })).resolves.toMatchObject({
      Credentials: expect.anything(),
    });
    await expect(assume({ accessKeyId: '999988887777', secretAccessKey: 'x' })).rejects.toMatchObject({ name: 'AccessDenied' });
    await expect(assume({ accessKeyId: 'sweep', secretAccessKey: 'x', sessionToken: 'SweepRole' })).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});

describe('signatures are bound to their signer by IAM (the OperatorPolicy)', () => {
  type Keys = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  const SIGNED = `DESIRED#${HOME}#us-east-1#STORE#partner-xks#2#${'a'.repeat(64)}`;
  /** A PutItem of a signature in the partition `SIGNER#<signer>`, as `credentials`; the refusal's name, or 'signed'. */
  const sign = (credentials: Keys, signer: string) =>
    new DynamoDBClient({ ...env.fake.config, credentials })
      .send(
        new PutItemCommand({
          TableName: TABLE,
          Item: { ...item(`SIGNER#${signer}`, SIGNED), scopePk: { S: `DESIRED#${HOME}#us-east-1` }, subject: { S: 'STORE#partner-xks' } },
        }),
      )
      .then(
        () => 'signed',
        (error: { name?: string }) => error.name,
      );
  const userId = async (credentials: Keys) =>
    (await new STSClient({ ...env.fake.config, credentials }).send(new GetCallerIdentityCommand({}))).UserId!;
  /** A session of a role holding the OperatorPolicy, with a source identity when one is given. */
  async function session(sessionName: string, sourceIdentity?: string): Promise<Keys> {
    const roleArn = await operatorRole(env.fake, { table: TABLE, eventBus: 'cks-it' }, 'ops');
    const assumed = await new STSClient(env.fake.config).send(
      new AssumeRoleCommand({
        RoleArn: roleArn,
        RoleSessionName: sessionName,
        ...(sourceIdentity !== undefined && { SourceIdentity: sourceIdentity }),
      }),
    );
    const { AccessKeyId, SecretAccessKey, SessionToken } = assumed.Credentials!;
    return { accessKeyId: AccessKeyId!, secretAccessKey: SecretAccessKey!, sessionToken: SessionToken! };
  }

  it('lets an operator sign in its own partition only, never in another principal’s or a source identity’s', async () => {
    const colleague = await operatorPrincipal(env.fake, { table: TABLE, eventBus: 'cks-it' }, 'colleague');

    const results = [
      await sign(operator, `principal/${await userId(operator)}`),
      await sign(operator, `principal/${await userId(colleague)}`),
      await sign(operator, 'source/colleague'),
    ];

    expect(results).toEqual(['signed', 'AccessDeniedException', 'AccessDeniedException']);
  });

  it('lets a session with a source identity sign as that identity only: not as another, and not as its principal', async () => {
    const alice = await session('ops-1', 'alice');

    const results = [await sign(alice, 'source/alice'), await sign(alice, 'source/bob'), await sign(alice, `principal/${await userId(alice)}`)];

    expect(results).toEqual(['signed', 'AccessDeniedException', 'AccessDeniedException']);
  });

  it('lets a session without a source identity sign as its aws:userid only (role id and session name), never as a source identity', async () => {
    const plain = await session('ops-2');
    const id = await userId(plain);

    const results = [
      await sign(plain, `principal/${id}`),
      await sign(plain, `principal/${id.split(':')[0]}:ops-1`),
      await sign(plain, 'source/ops-2'),
    ];

    expect(id).toMatch(/^AROA\w+:ops-2$/);
    expect(results).toEqual(['signed', 'AccessDeniedException', 'AccessDeniedException']);
  });

  it('keeps the reconciler’s roles from signing, and lets them read the signatures’ index', async () => {
    const write = env.clients.dynamo.send(new PutItemCommand({ TableName: TABLE, Item: item('SIGNER#principal/reconciler', SIGNED) }));
    const read = env.clients.dynamo.send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: 'BySubject',
        KeyConditionExpression: 'scopePk = :pk',
        ExpressionAttributeValues: { ':pk': { S: `DESIRED#${HOME}#us-east-1` } },
      }),
    );

    await expect(write).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(read).resolves.toMatchObject({ Items: [] });
  });
});

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

function assumeRole(credentials: Credentials, roleArn: string) {
  return new STSClient({ ...env.fake.config, credentials }).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'cks' }));
}

/** The credentials a role's session gives, for the SDK. */
async function sessionOf(credentials: Credentials, roleArn: string): Promise<Credentials> {
  const { Credentials: given } = await assumeRole(credentials, roleArn);
  return { accessKeyId: given!.AccessKeyId!, secretAccessKey: given!.SecretAccessKey!, sessionToken: given!.SessionToken! };
}

describe('member accounts', () => {
  it('let a person through the read-only role describe stores, clusters and secrets, but never read a secret or change a store', async () => {
    await deployMember(env.fake, MEMBER, ['us-east-1']);
    const { storeId, secretArn, clusterId } = await cloudHsmStore(env.fake, {
      name: 'ledger',
      accountId: MEMBER,
      region: 'us-east-1',
      connected: true,
      secret: 'cks/ledger',
    });
    // The operator holds only the stack's OperatorPolicy.
    const session = await sessionOf(operator, `arn:aws:iam::${MEMBER}:role/cks-reconciler-member-read`);
    const kms = new KMSClient({ ...env.fake.config, credentials: session });
    const secrets = new SecretsManagerClient({ ...env.fake.config, credentials: session });

    const described = await kms.send(new DescribeCustomKeyStoresCommand({}));
    expect(described.CustomKeyStores?.map((store) => store.CustomKeyStoreId)).toEqual([storeId]);
    const clusters = await new CloudHSMV2Client({ ...env.fake.config, credentials: session }).send(new DescribeClustersCommand({}));
    expect(clusters.Clusters?.map((cluster) => cluster.ClusterId)).toEqual([clusterId]);
    await expect(secrets.send(new DescribeSecretCommand({ SecretId: secretArn }))).resolves.toMatchObject({ ARN: secretArn });
    await expect(secrets.send(new ListSecretVersionIdsCommand({ SecretId: secretArn }))).resolves.toMatchObject({ ARN: secretArn });

    await expect(secrets.send(new GetSecretValueCommand({ SecretId: secretArn }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    for (const change of [
      new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }),
      new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }),
      new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, NewCustomKeyStoreName: 'renamed' }),
    ]) {
      // biome-ignore lint/suspicious/noExplicitAny: three commands of one client, sent alike
      await expect(kms.send(change as any), change.constructor.name).rejects.toMatchObject({ name: 'AccessDeniedException' });
    }
    // Nor may the person assume the member role, which may.
    await expect(assumeRole(operator, `arn:aws:iam::${MEMBER}:role/cks-reconciler-member`)).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('bind the reconciler to the organization when the stack names one: no member role outside it, and none for a role outside it', async () => {
    const admin = new FakeAdmin(env.fake.url);
    const orgHome = { accountId: '121212121212', region: 'us-east-1' };
    const inside = '232323232323';
    const outside = '343434343434';
    await deployStackIam(admin, await stackTemplate({ organizationId: FAKE_ORGANIZATION_ID }), orgHome);
    await deployMemberRole(admin, orgHome, inside, ['us-east-1']);
    // A member role as the template makes it, in an account that left the organization.
    const { member } = memberRoles(outside, {
      CentralAccountId: orgHome.accountId,
      CentralRegion: 'us-east-1',
      ReconcilerRoleArns: [`arn:aws:iam::${orgHome.accountId}:role/WorkerRole`],
      ReadOnlyPrincipals: [orgHome.accountId],
      OrganizationId: FAKE_ORGANIZATION_ID,
      FleetRegions: ['us-east-1'],
    });
    await admin.createRole({ accountId: outside, ...member });
    const worker = { accessKeyId: orgHome.accountId, secretAccessKey: 'x', sessionToken: 'WorkerRole' };

    await expect(assumeRole(worker, `arn:aws:iam::${inside}:role/cks-reconciler-member`)).resolves.toMatchObject({ Credentials: expect.anything() });
    // The role's trust would let the worker in (it is named, from inside the organization): its own policy does not.
    await expect(assumeRole(worker, `arn:aws:iam::${outside}:role/cks-reconciler-member`)).rejects.toMatchObject({ name: 'AccessDenied' });
    // Without an organization the stack binds none: the default stack's worker may assume a member role outside it.
    const loose = '565656565656';
    const { member: looseRole } = memberRoles(loose, {
      CentralAccountId: HOME,
      CentralRegion: 'us-east-1',
      ReconcilerRoleArns: [`arn:aws:iam::${HOME}:role/WorkerRole`],
      ReadOnlyPrincipals: [HOME],
      OrganizationId: FAKE_ORGANIZATION_ID,
      FleetRegions: ['us-east-1'],
    });
    await admin.createRole({ accountId: loose, ...looseRole });
    await expect(
      assumeRole({ accessKeyId: 'worker', secretAccessKey: 'x', sessionToken: 'WorkerRole' }, `arn:aws:iam::${loose}:role/cks-reconciler-member`),
    ).resolves.toMatchObject({ Credentials: expect.anything() });

    // The reconciler's own role, from an account outside the organization, is refused by the member role's trust.
    const stray = '454545454545';
    await deployStackIam(admin, await stackTemplate(), { accountId: stray, region: 'us-east-1' });
    await env.fake.admin('POST', '/_fake/organizations', { accountId: stray, organizationId: null });
    const { member: trusting } = memberRoles(inside, {
      CentralAccountId: stray,
      CentralRegion: 'us-east-1',
      ReconcilerRoleArns: [`arn:aws:iam::${stray}:role/WorkerRole`],
      ReadOnlyPrincipals: [stray],
      OrganizationId: FAKE_ORGANIZATION_ID,
      FleetRegions: ['us-east-1'],
      MemberRoleName: 'cks-reconciler-member-stray',
    });
    await admin.createRole({ accountId: inside, ...trusting });
    await expect(
      assumeRole({ accessKeyId: stray, secretAccessKey: 'x', sessionToken: 'WorkerRole' }, `arn:aws:iam::${inside}:role/cks-reconciler-member-stray`),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
  }, 120_000);
});

describe('the stack works under its own policies', () => {
  it('lets every function send a follow-up and only the on-event function receive one; an operator neither', async () => {
    const { queueName } = await followUpRig(env);
    const sqsAs = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) =>
      new SQSClient({ ...env.fake.config, credentials, maxAttempts: 1 });
    const url = `https://sqs.us-east-1.amazonaws.com/${HOME}/${queueName}`;
    const send = (credentials: Parameters<typeof sqsAs>[0]) =>
      new SqsFollowUpQueue(sqsAs(credentials), queueName).followUp({ accountId: HOME, region: 'us-east-1' }, [{ store: 'x', afterSeconds: 5 }]).then(
        () => 'sent',
        (error: { code?: string }) => error.code,
      );
    const receive = (credentials: Parameters<typeof sqsAs>[0]) =>
      sqsAs(credentials)
        .send(new ReceiveMessageCommand({ QueueUrl: url }))
        .then(
          () => 'received',
          (error: { name?: string }) => error.name,
        );

    const sent = await Promise.all(FUNCTION_ROLES.map((role) => send(roleCredentials(role))));
    const received = await Promise.all(FUNCTION_ROLES.map((role) => receive(roleCredentials(role))));

    expect(Object.fromEntries(FUNCTION_ROLES.map((role, i) => [role, [sent[i], received[i]]]))).toEqual({
      SweepRole: ['sent', 'AccessDeniedException'],
      WorkerRole: ['sent', 'AccessDeniedException'],
      OnEventRole: ['sent', 'received'],
      OnChangeRole: ['sent', 'AccessDeniedException'],
    });
    expect([await send(operator), await receive(operator)]).toEqual(['AccessDeniedException', 'AccessDeniedException']);
  });

  // Failed under enforcement before SweepRole could delete a status in its own partition: the
  // DeleteItem was refused, the status stayed, and every sweep logged a warning.
  it('closes the status of a store removed from the desired state', async () => {
    const applied = await cks()(['apply', '-f', storesFile(await connectedStore('gone'))]);
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    await env.run();
    const status = () => admin().send(new GetItemCommand({ TableName: TABLE, Key: item(`SCOPE#${HOME}#us-east-1`, 'STORE#gone#STATUS') }));
    expect((await status()).Item).toBeDefined();

    expect(await cks()(['delete', 'gone'])).toMatchObject({ code: 0 });
    await env.run();
    expect((await status()).Item).toBeUndefined();
    expect(await denials()).toEqual([]);
  });

  it('probes stores with exactly what the probe needs: GenerateRandom in a CloudHSM key store, Encrypt with keys in an external key store only', async () => {
    // Prepare: a probed store of each type, and a key outside any external key store.
    const { clusterId, secretArn } = await cloudHsmStore(env.fake, { name: 'hsm-probed', connected: true, secret: 'cks/hsm-probed' });
    const { storeId, uriEndpoint, uriPath, credentialSecretArn } = await xksStore(env.fake, {
      name: 'xks-probed',
      connected: true,
      secret: 'cks/xks-probed',
    });
    const { KeyMetadata: probeKey } = await env.kms.send(
      new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'probe-key' }),
    );
    const { KeyMetadata: plainKey } = await env.kms.send(new CreateKeyCommand({}));
    await env.apply(
      { name: 'hsm-probed', desiredState: 'CONNECTED', cloudHsmClusterId: clusterId, keyStorePasswordSecretArn: secretArn, probe: true },
      {
        name: 'xks-probed',
        type: 'EXTERNAL_KEY_STORE',
        desiredState: 'CONNECTED',
        xksProxy: { uriEndpoint, uriPath, connectivity: 'PUBLIC_ENDPOINT', credentialSecretArn },
        probe: true,
        probeKeyId: probeKey!.Arn,
      },
    );

    // Act
    await env.run();

    // Assess
    const probes = (await env.calls()).calls.filter((c) => ['GenerateRandom', 'Encrypt'].includes((c as { operation: string }).operation));
    expect(probes.map((c) => (c as { operation: string }).operation).sort()).toEqual(['Encrypt', 'GenerateRandom']);
    expect(await denials()).toEqual([]);
    await expect(env.clients.kms.send(new EncryptCommand({ KeyId: plainKey!.Arn, Plaintext: new Uint8Array([0]) }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining('kms:Encrypt'),
    });
  });

  // Failed under enforcement before the OperatorPolicy granted the registry write: `cks apply`
  // of a store of another account was refused at PutItem on pk = REGISTRY.
  it('onboards a store of another account with what an operator may do', async () => {
    const applied = await cks()(['apply', '-f', storesFile(await connectedStore('home'), await connectedStore('member', MEMBER))]);
    // This member account has no read-only role for the operator to assume, so the member store's
    // secret cannot be looked up: one warning line, and the apply goes on.
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stderr).toMatch(
      /^cks: warning: \S+: store "member": keyStorePasswordSecretArn \S+ could not be checked \(STS\.AssumeRole failed: AccessDenied\); applied without knowing whether the secret exists\n$/,
    );
    const registered = await admin().send(new GetItemCommand({ TableName: TABLE, Key: item('REGISTRY', `SCOPE#${MEMBER}#us-east-1`) }));
    expect(registered.Item).toBeDefined();
    expect((await denials()).map((call) => `${(call as { service: string }).service}.${(call as { operation: string }).operation}`)).toEqual([
      'STS.AssumeRole',
    ]);
  });
});
