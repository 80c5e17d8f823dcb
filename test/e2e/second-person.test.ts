/**
 * No single person can weaken what protects a store: against the IAM-enforcing fake, with the stack's
 * own policies and principals holding only its OperatorPolicy, each way one person could get an
 * external key store's proxy changed (a forged approval, two sessions of one role, a desired item
 * nobody signed, an edit after an approval) fails and leaves a trace, and a second person's
 * `cks approve` applies it. The same for the store's weaker safety settings (a higher login budget,
 * `reconnect`, a login-budget reset with no new password), while tightening takes effect at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeCustomKeyStoresCommand, DisconnectCustomKeyStoreCommand, KMSClient } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { cksAgainst } from '../helpers/cks.js';
import { fakeForFile } from '../helpers/fake.js';
import { deployStack, operatorPrincipal, operatorRole, roleCredentials, STACK_HOME } from '../helpers/stack.js';
import { cloudHsmEntry, cloudHsmStore, storesFiles, storesYaml, XKS_CREDENTIAL, xksEntry, xksStore } from '../helpers/world.js';

const TABLE = 'cks-second-person';
const NAMES = { table: TABLE, eventBus: 'default' };
const OPERATORS = `DESIRED#${STACK_HOME.accountId}#${STACK_HOME.region}`;
const OLD = 'https://old-proxy.example.com';
const NEW = 'https://new-proxy.example.com';
const THIRD = 'https://third-proxy.example.com';

const fake = await fakeForFile();
const dir = mkdtempSync(join(tmpdir(), 'cks-second-person-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = storesFiles(dir);
const cks = cksAgainst(fake, { CKS_TABLE: TABLE });

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Two people, each an IAM user holding the OperatorPolicy. */
let alice: Keys;
let bob: Keys;

beforeEach(async () => {
  await deployStack(fake, NAMES);
  alice = await operatorPrincipal(fake, NAMES, 'alice');
  bob = await operatorPrincipal(fake, NAMES, 'bob');
  // Creating the table is an administrator's act.
  expect((await cks(['init'], { AWS_ACCESS_KEY_ID: 'administrator' })).code).toBe(0);
});

/** `cks` as whoever holds `keys` (`sweep`: as the stack's SweepRole), signing as `sourceIdentity` when given. */
async function cksAs(keys: Keys, args: string[], sourceIdentity = '') {
  return cks(args, {
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_SESSION_TOKEN: keys.sessionToken ?? '',
    CKS_SOURCE_IDENTITY: sourceIdentity,
  });
}

async function apply(keys: Keys, text: string): Promise<void> {
  const run = await cksAs(keys, ['apply', '-f', file(text)]);
  expect(run.code, run.stderr).toBe(0);
}

/** `cks sweep` (as SweepRole) `times` times, the fake's clock moved `seconds` between them. */
async function sweeps(times: number, seconds: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const run = await cksAs(roleCredentials('SweepRole'), ['sweep']);
    expect(run.code, run.stderr).toBe(0);
    fake.advance(seconds);
  }
}

async function statusOf(name: string, keys: Keys = alice): Promise<Record<string, unknown>> {
  const run = await cksAs(keys, ['status', name, '-o', 'json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/** The reconciler's events of one type about one store, as EventBridge received them. */
async function events(type: string, storeName: string): Promise<Array<Record<string, unknown>>> {
  const received = (await fake.admin<Array<{ DetailType: string; Detail: Record<string, unknown> }>>('GET', '/_fake/events')).body;
  return received.filter((e) => e.DetailType === type && e.Detail.storeName === storeName).map((e) => e.Detail);
}

interface Call {
  service: string;
  operation: string;
  principal: string;
  error?: string;
  denied?: true;
}

async function calls(): Promise<Call[]> {
  return (await fake.admin<{ calls: Call[] }>('GET', '/_fake/calls')).body.calls;
}

async function updates(): Promise<number> {
  return (await calls()).filter((c) => c.operation === 'UpdateCustomKeyStore' && c.error === undefined).length;
}

/** `principal/<aws:userid>`: whom `keys` sign as. */
async function signerOf(keys: Keys): Promise<string> {
  const { UserId } = await new STSClient({ ...fake.config, credentials: keys }).send(new GetCallerIdentityCommand({}));
  return `principal/${UserId}`;
}

/** A session of the role `ops` (holding the OperatorPolicy), with a source identity when given. */
async function session(sessionName: string, sourceIdentity?: string): Promise<Keys> {
  const roleArn = await operatorRole(fake, NAMES, 'ops');
  const { Credentials } = await new STSClient(fake.config).send(
    new AssumeRoleCommand({
      RoleArn: roleArn,
      RoleSessionName: sessionName,
      ...(sourceIdentity !== undefined && { SourceIdentity: sourceIdentity }),
    }),
  );
  return { accessKeyId: Credentials!.AccessKeyId!, secretAccessKey: Credentials!.SecretAccessKey!, sessionToken: Credentials!.SessionToken! };
}

const dynamo = (keys: Keys) => new DynamoDBClient({ ...fake.config, credentials: keys });

/** The sort keys of the signatures in `signer`'s partition. */
async function signedBy(signer: string): Promise<string[]> {
  const { Items } = await new DynamoDBClient(fake.config).send(
    new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: `SIGNER#${signer}` } } }),
  );
  return (Items ?? []).map((item) => String(item.sk?.S));
}

/**
 * A CONNECTED external key store behind OLD, declared by alice and seen by the reconciler, with
 * proxies at NEW and THIRD ready to take it; returns its stores-file entry for an endpoint.
 */
async function proxyStore(): Promise<(uriEndpoint: string) => string> {
  const xks = await xksStore(fake, { name: 'partner-xks', host: 'old-proxy.example.com', connected: true, secret: true });
  for (const uriEndpoint of [NEW, THIRD]) {
    const proxy = { uriEndpoint, uriPath: xks.uriPath, accessKeyId: XKS_CREDENTIAL.AccessKeyId, secretAccessKey: XKS_CREDENTIAL.RawSecretAccessKey };
    expect((await fake.admin('POST', '/_fake/xks-proxies', proxy)).status).toBe(200);
  }
  const entry = (uriEndpoint: string) => storesYaml(xksEntry({ ...xks, uriEndpoint }));
  await apply(alice, entry(OLD));
  await sweeps(1, 60);
  return entry;
}

/** The store stops reaching its proxy: a repair would now apply whatever proxy change is allowed. */
async function failProxy(): Promise<void> {
  expect((await fake.admin('POST', '/_fake/stores/partner-xks/fail', { errorCode: 'XKS_PROXY_NOT_REACHABLE' })).status).toBe(200);
}

/** Where KMS has the store's proxy, and its connection state. */
async function proxyOf(): Promise<{ endpoint: unknown; state: unknown }> {
  const { CustomKeyStores } = await new KMSClient(fake.config).send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'partner-xks' }));
  return { endpoint: CustomKeyStores?.[0]?.XksProxyConfiguration?.UriEndpoint, state: CustomKeyStores?.[0]?.ConnectionState };
}

/** A second person signs: the change is applied by the next repair and the store connects behind `endpoint`. */
async function approvedAndApplied(approver: Keys, endpoint: string, sourceIdentity = ''): Promise<void> {
  const approved = await cksAs(approver, ['approve', 'partner-xks'], sourceIdentity);
  expect(approved.code, approved.stderr).toBe(0);
  expect(approved.stdout).toMatch(/\n {2}approved by \S+ and \S+: the reconciler applies it at its next run/);
  await sweeps(6, 120);
  expect(await updates()).toBeGreaterThan(0);
  expect(await proxyOf()).toEqual({ endpoint, state: 'CONNECTED' });
  expect((await statusOf('partner-xks')).approval).toBeNull();
}

describe('an external key store’s proxy change needs two persons', { timeout: 120_000 }, () => {
  it('A: refuses an operator’s forged approval for a colleague (AccessDenied); the change waits, announced; the colleague’s cks approve applies it', async () => {
    const entry = await proxyStore();
    await apply(alice, entry(NEW));
    await failProxy();
    const [signed] = await signedBy(await signerOf(alice));

    // The colleague's partition, and the old approval item (operators' data: written, and it decides nothing).
    const forged = dynamo(alice).send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          pk: { S: `SIGNER#${await signerOf(bob)}` },
          sk: { S: signed! },
          scopePk: { S: OPERATORS },
          subject: { S: 'STORE#partner-xks' },
        },
      }),
    );
    await expect(forged).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await dynamo(alice).send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          pk: { S: OPERATORS },
          sk: { S: 'STORE#partner-xks#APPROVAL' },
          generation: { N: '2' },
          approvedBy: { S: 'arn:aws:iam::000000000000:user/bob' },
        },
      }),
    );
    await sweeps(3, 120);

    expect(await updates()).toBe(0);
    const announced = await events('Approval Required', 'partner-xks');
    expect(announced).toHaveLength(1);
    expect(announced[0]).toMatchObject({
      generation: 2,
      proposedBy: [await signerOf(alice)],
      changes: [{ field: 'xksProxy.uriEndpoint', from: OLD, to: NEW }],
      command: `cks approve partner-xks --scope ${STACK_HOME.accountId}/${STACK_HOME.region}`,
    });
    expect((await calls()).filter((c) => c.denied).map((c) => `${c.principal} ${c.operation}`)).toEqual([
      'arn:aws:iam::000000000000:user/alice PutItem',
    ]);
    await approvedAndApplied(bob, NEW);
  });

  it('B: counts two sessions of one role (ops-1 applies, ops-2 approves) as one person: refused, not applied; a second human applies it', async () => {
    const entry = await proxyStore();
    const [ops1, ops2] = [await session('ops-1'), await session('ops-2')];
    await apply(ops1, entry(NEW));
    await failProxy();

    const refused = await cksAs(ops2, ['approve', 'partner-xks']);
    // IAM lets ops-2 sign in its own partition; it is the same person all the same.
    const [signed] = await signedBy(await signerOf(ops1));
    await dynamo(ops2).send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { pk: { S: `SIGNER#${await signerOf(ops2)}` }, sk: { S: signed! }, scopePk: { S: OPERATORS }, subject: { S: 'STORE#partner-xks' } },
      }),
    );
    await sweeps(3, 120);

    const role = (await signerOf(ops1)).split(':')[0];
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `cks: partner-xks: refused: you (${role}) already signed generation 2; a second person must sign it (two sessions of one role are one person)\n`,
    );
    expect(await updates()).toBe(0);
    expect((await statusOf('partner-xks')).approval).toMatchObject({ signedBy: [role] });
    expect((await events('Approval Required', 'partner-xks')).map((e) => e.proposedBy)).toEqual([[role]]);
    // A human of the same role, told apart by the source identity their session carries (and says).
    const carol = await session('ops-3', 'carol');
    const unsaid = await cksAs(carol, ['approve', 'partner-xks']);
    const wrong = await cksAs(carol, ['approve', 'partner-xks'], 'dave');
    expect(unsaid.stderr).toMatch(/^cks: partner-xks: refused: you \(principal\/AROA\w+\) already signed generation 2/);
    expect(wrong.stderr).toBe(
      "cks: partner-xks: IAM refused your signature as source/dave (AccessDenied): CKS_SOURCE_IDENTITY must be your session's source identity (dave is not)\n",
    );
    await approvedAndApplied(carol, NEW, 'carol');
  });

  it('C: a desired item written without changedBy (nobody signed) needs two signers: one approver alone is not enough', async () => {
    await proxyStore();
    const key = { pk: { S: OPERATORS }, sk: { S: 'STORE#partner-xks#DESIRED' } };
    const { Item } = await dynamo(alice).send(new GetItemCommand({ TableName: TABLE, Key: key }));
    const { changedBy: _changedBy, ...item } = Item!;
    const proxy = item.xksProxy!.M!;
    await dynamo(alice).send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { ...item, generation: { N: '2' }, xksProxy: { M: { ...proxy, uriEndpoint: { S: NEW } } } },
      }),
    );
    await failProxy();
    await sweeps(2, 120);
    const unsigned = await events('Approval Required', 'partner-xks');

    const first = await cksAs(alice, ['approve', 'partner-xks']);
    await sweeps(3, 120);

    expect(unsigned).toHaveLength(1);
    expect(unsigned[0]).toMatchObject({ generation: 2, proposedBy: [] });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/\n {2}one person has signed it: it waits for a second person to run `cks approve` too\n$/);
    expect(await updates()).toBe(0);
    expect((await statusOf('partner-xks')).approval).toMatchObject({ signedBy: [await signerOf(alice)] });
    await approvedAndApplied(bob, NEW);
  });

  it('D: an edit of the proxy after two persons signed, same generation, is not applied: a new Approval Required names it', async () => {
    const entry = await proxyStore();
    await apply(alice, entry(NEW));
    expect((await cksAs(bob, ['approve', 'partner-xks'])).code).toBe(0);

    await dynamo(alice).send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { pk: { S: OPERATORS }, sk: { S: 'STORE#partner-xks#DESIRED' } },
        UpdateExpression: 'SET xksProxy.uriEndpoint = :third',
        ExpressionAttributeValues: { ':third': { S: THIRD } },
      }),
    );
    await failProxy();
    await sweeps(3, 120);

    expect(await updates()).toBe(0);
    const announced = await events('Approval Required', 'partner-xks');
    expect(announced).toHaveLength(1);
    expect(announced[0]).toMatchObject({ generation: 2, proposedBy: [], changes: [{ field: 'xksProxy.uriEndpoint', from: OLD, to: THIRD }] });
    expect((await cksAs(alice, ['approve', 'partner-xks'])).code).toBe(0);
    await approvedAndApplied(bob, THIRD);
  });
});

describe('weaker safety settings of a store need two persons; tightening needs one', { timeout: 120_000 }, () => {
  /** A CONNECTED CloudHSM store declared by alice (with `extra`) and seen by the reconciler; returns its entry with other fields. */
  async function hsmStore(name: string): Promise<(extra: Record<string, unknown>) => string> {
    const store = await cloudHsmStore(fake, { name, connected: true, secret: `cks/${name}` });
    const entry = (extra: Record<string, unknown>) => storesYaml(cloudHsmEntry(store, extra));
    await apply(alice, entry({}));
    await sweeps(1, 60);
    return entry;
  }

  it('keeps the login budget in force until a second person signs a higher one; a lower one is in force at once', async () => {
    const entry = await hsmStore('ledger-hsm');
    await apply(alice, entry({ loginBudget: 3 }));
    await sweeps(1, 60);
    const waiting = await statusOf('ledger-hsm');
    const byProposer = await cksAs(alice, ['approve', 'ledger-hsm']);

    const bySecond = await cksAs(bob, ['approve', 'ledger-hsm']);
    await sweeps(1, 60);
    const raised = await statusOf('ledger-hsm');
    await apply(alice, entry({ loginBudget: 1 }));
    await sweeps(1, 60);

    expect(waiting).toMatchObject({ loginBudget: 2, approval: { changes: [{ field: 'loginBudget', from: '2', to: '3' }] } });
    expect(byProposer.code).toBe(1);
    expect(bySecond.code, bySecond.stderr).toBe(0);
    expect(raised).toMatchObject({ loginBudget: 3, approval: null });
    expect(await statusOf('ledger-hsm')).toMatchObject({ loginBudget: 1, approval: null });
    expect((await events('Approval Required', 'ledger-hsm')).map((e) => e.changes)).toEqual([[{ field: 'loginBudget', from: '2', to: '3' }]]);
  });

  it('holds a store a human disconnected while reconnect waits for a second person; once signed, it is reconnected; hold is in force at once', async () => {
    const entry = await hsmStore('reports-hsm');
    const disconnect = async () => {
      const { id } = await statusOf('reports-hsm');
      await new KMSClient(fake.config).send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: String(id) }));
      fake.advance(10);
      await sweeps(3, 120);
    };
    await apply(alice, entry({ onManualDisconnect: 'reconnect' }));
    await sweeps(1, 60);
    await disconnect();
    const held = await statusOf('reports-hsm');

    expect((await cksAs(bob, ['approve', 'reports-hsm'])).code).toBe(0);
    await sweeps(1, 60);
    expect((await cksAs(alice, ['resume', 'reports-hsm'])).code).toBe(0);
    await sweeps(3, 120);
    await disconnect();
    const reconnected = await statusOf('reports-hsm');
    await apply(alice, entry({ onManualDisconnect: 'hold' }));
    await sweeps(1, 60);

    expect(held).toMatchObject({ phase: 'HELD', connectionState: 'DISCONNECTED', onManualDisconnect: 'hold' });
    expect(reconnected).toMatchObject({ onManualDisconnect: 'reconnect' });
    expect(['CONNECTED', 'CONNECTING']).toContain(reconnected.connectionState);
    expect(await events('Manual Change Detected', 'reports-hsm')).toHaveLength(1);
    expect((await events('Approval Required', 'reports-hsm')).map((e) => e.changes)).toEqual([
      [{ field: 'onManualDisconnect', from: 'hold', to: 'reconnect' }],
    ]);
    expect(await statusOf('reports-hsm')).toMatchObject({ onManualDisconnect: 'hold', approval: null });
  });

  it('does not reset a used login budget on one person’s cks retry while the password secret has no new version; a second person’s approve does', async () => {
    await hsmStore('billing-hsm');
    // A repair whose connect fails one kmsuser login.
    await fake.admin('POST', '/_fake/stores/billing-hsm/outcome', { errorCode: 'INVALID_CREDENTIALS' });
    await fake.admin('POST', '/_fake/stores/billing-hsm/fail', { errorCode: 'NETWORK_ERRORS' });
    await sweeps(1, 10);
    await sweeps(1, 130);
    await sweeps(1, 60);
    expect(await statusOf('billing-hsm')).toMatchObject({ failedLogins: 1 });

    expect((await cksAs(alice, ['retry', 'billing-hsm'])).code).toBe(0);
    await sweeps(1, 60);
    const waiting = await statusOf('billing-hsm');
    const byProposer = await cksAs(alice, ['approve', 'billing-hsm']);
    const bySecond = await cksAs(bob, ['approve', 'billing-hsm']);
    await sweeps(1, 60);

    expect(waiting).toMatchObject({ failedLogins: 1, approval: { changes: [{ field: 'failedLogins', from: '1', to: '0' }] } });
    expect(byProposer.code).toBe(1);
    expect(bySecond.code, bySecond.stderr).toBe(0);
    expect(await statusOf('billing-hsm')).toMatchObject({ failedLogins: 0, approval: null });
    expect(await events('Approval Required', 'billing-hsm')).toHaveLength(1);
  });
});
