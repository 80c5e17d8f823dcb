/**
 * The desired-state table adapter against the fake's embedded DynamoDB, over HTTP with the real SDK:
 * leases, conditional status writes, generations and operator requests.
 */
import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeAwsClients } from '../../shared/adapters/clients.js';
import { DynamoStateAdapter, ensureTable } from '../../shared/adapters/dynamodb-store.js';
import { desiredSpecSchema, parseDesiredItem, type DesiredStoreSpec } from '../../shared/domain/desired-schema.js';
import { emptyStatus } from '../../shared/domain/plan.js';
import { ConflictError } from '../../shared/errors.js';
import { startTestFake, type TestFake } from '../helpers/fake.js';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const SCOPE = { accountId: '000000000000', region: 'us-east-1' };
let fake: TestFake;
let state: DynamoStateAdapter;
let table = 0;

const spec = (overrides: Record<string, unknown> = {}): DesiredStoreSpec =>
  desiredSpecSchema.parse({ name: 'payments', desiredState: 'CONNECTED', cloudHsmClusterId: 'cluster-abcdefghijk', mode: 'enforce', ...overrides }) as DesiredStoreSpec;

beforeAll(async () => {
  fake = await startTestFake();
});
afterAll(() => fake.close());
beforeEach(async () => {
  const name = `stores-${(table += 1)}`;
  await ensureTable(new DynamoDBClient(fake.config), name);
  state = new DynamoStateAdapter(makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials).dynamo, name, SCOPE);
});

describe('DynamoStateAdapter', () => {
  it('creates the table once: ensureTable says whether it created it', async () => {
    const client = new DynamoDBClient(fake.config);
    expect(await ensureTable(client, 'once')).toBe(true);
    expect(await ensureTable(client, 'once')).toBe(false);
  });

  it('gives a store lease to one owner at a time, and to another once it expires', async () => {
    expect(await state.acquireLease('payments', 'run-a', NOW, 60_000)).toMatchObject({ name: 'payments', status: null });
    expect(await state.acquireLease('payments', 'run-b', NOW + 1_000, 60_000)).toBeNull();
    expect(await state.acquireLease('payments', 'run-b', NOW + 61_000, 60_000)).not.toBeNull();
  });

  it('writes a status only for the lease holder, and releases the lease with it', async () => {
    await state.acquireLease('payments', 'run-a', NOW, 60_000);
    await expect(state.saveStatus(emptyStatus('payments', NOW), 'run-b')).rejects.toThrow(ConflictError);
    await state.saveStatus(emptyStatus('payments', NOW), 'run-a');

    expect((await state.load('payments')).status).toEqual(emptyStatus('payments', NOW));
    expect(await state.acquireLease('payments', 'run-b', NOW + 1, 60_000)).not.toBeNull();
  });

  it('bumps the generation only when a spec changes, and keeps a pause across applies', async () => {
    expect(await state.putDesired([spec()], NOW)).toEqual(['payments']);
    expect(await state.putDesired([spec()], NOW)).toEqual([]);
    await state.request('payments', 'pause', NOW);
    expect(await state.putDesired([spec({ maxAttempts: 5 })], NOW)).toEqual(['payments']);

    expect((await state.load('payments')).desired).toMatchObject({ generation: 3, paused: true, maxAttempts: 5 });
  });

  it('takes a desired item written by other means, with no generation, as generation 0', async () => {
    const { dynamo } = makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials);
    await dynamo.send(new PutCommand({ TableName: `stores-${table}`, Item: { pk: 'DESIRED#000000000000#us-east-1', sk: 'STORE#payments#DESIRED', name: 'payments', desiredState: 'CONNECTED' } }));

    await state.request('payments', 'retry', NOW);
    expect(await state.putDesired([spec()], NOW)).toEqual(['payments']);

    expect((await state.load('payments')).desired).toMatchObject({ generation: 2 });
  });

  it('refuses an operator request for a store that is not declared', async () => {
    await expect(state.request('ghost', 'retry', NOW)).rejects.toThrow(/no desired store named "ghost"/);
  });

  it('reads every store, the settings and the regional-incident mark in one partition', async () => {
    await state.putDesired([spec(), spec({ name: 'ledger' })], NOW);
    await state.putSettings({ killSwitch: true, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2 });
    await state.setRegionalIncident(NOW);

    const all = await state.loadAll();

    expect(all.records.map((r) => r.name).sort()).toEqual(['ledger', 'payments']);
    expect(all.settings).toEqual({ killSwitch: true, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2 });
    expect(all.regionalIncidentSince).toBe(NOW);
  });

  it('reads a scope whose items hold numbers beyond JavaScript precision: only those items are invalid, the Query does not fail', async () => {
    // Prepare: a healthy store, and a desired item and a status item of another store, each with a number no double holds.
    await state.putDesired([spec(), spec({ name: 'ledger' })], NOW);
    const dynamo = new DynamoDBClient(fake.config);
    await dynamo.send(
      new PutItemCommand({
        TableName: `stores-${table}`,
        Item: {
          pk: { S: 'DESIRED#000000000000#us-east-1' },
          sk: { S: 'STORE#huge#DESIRED' },
          name: { S: 'huge' },
          desiredState: { S: 'CONNECTED' },
          cloudHsmClusterId: { S: 'cluster-abcdefghijk' },
          generation: { N: '123456789012345678901234567890' },
        },
      }),
    );
    await state.acquireLease('ledger', 'run-a', NOW, 60_000);
    await state.saveStatus({ ...emptyStatus('ledger', NOW), attempt: 1 }, 'run-a');
    await dynamo.send(
      new UpdateItemCommand({
        TableName: `stores-${table}`,
        Key: { pk: { S: 'SCOPE#000000000000#us-east-1' }, sk: { S: 'STORE#ledger#STATUS' } },
        UpdateExpression: 'SET attempt = :n',
        ExpressionAttributeValues: { ':n': { N: '99999999999999999999' } },
      }),
    );

    // Act
    const all = await state.loadAll();

    // Assess: the huge generation fails its item's validation; the huge attempt resets that status, with the reason.
    const byName = new Map(all.records.map((r) => [r.name, r]));
    expect(parseDesiredItem(byName.get('payments')!.desired).ok).toBe(true);
    const huge = parseDesiredItem(byName.get('huge')!.desired);
    expect(huge.ok ? [] : huge.errors.map((e) => e.path)).toEqual(['generation']);
    expect(byName.get('ledger')).toMatchObject({ status: null, statusError: expect.stringMatching(/^status item invalid at attempt/) });
  });

  it('holds a lease per KMS store id as well as per name, and frees both with the status write or a release', async () => {
    expect(await state.acquireLease('a', 'run-1', NOW, 60_000, 'cks-1')).not.toBeNull();
    expect(await state.acquireLease('b', 'run-2', NOW + 1_000, 60_000, 'cks-1')).toBeNull();
    // The failed attempt took nothing: b's own name lease was given back.
    expect(await state.acquireLease('b', 'run-3', NOW + 1_000, 60_000)).not.toBeNull();
    await state.releaseLease('b', 'run-3');
    await state.saveStatus({ ...emptyStatus('a', NOW), storeId: 'cks-1' }, 'run-1');
    expect(await state.acquireLease('b', 'run-2', NOW + 2_000, 60_000, 'cks-1')).not.toBeNull();
    await state.releaseLease('b', 'run-2');
    expect(await state.acquireLease('a', 'run-4', NOW + 3_000, 60_000, 'cks-1')).not.toBeNull();
  });

  it('reads a malformed settings item as the kill switch on, with the reason', async () => {
    await new DynamoDBClient(fake.config).send(
      new PutItemCommand({
        TableName: `stores-${table}`,
        Item: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: 'SETTINGS' }, killSwitch: { S: 'off' } },
      }),
    );
    const all = await state.loadAll();
    expect(all.settings.killSwitch).toBe(true);
    expect(all.settingsError).toMatch(/^settings item invalid at killSwitch: .*acting as if the kill switch were on$/);
    expect((await state.getSettings()).killSwitch).toBe(true);
  });
});
