/**
 * The desired-state table adapter against the fake's embedded DynamoDB, over HTTP with the real SDK:
 * the StatePort contract (leases, conditional status writes, generations, operator requests), and
 * what only the table has.
 */
import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeAwsClients } from '../../shared/adapters/clients.js';
import { DynamoStateAdapter, ensureTable, itemBytes } from '../../shared/adapters/dynamodb-store.js';
import { parseDesiredItem } from '../../shared/domain/desired-schema.js';
import { emptyStatus } from '../../shared/domain/plan.js';
import type { Scope } from '../../shared/domain/types.js';
import type { HistoryEntry } from '../../shared/reconcile/ports.js';
import { fakeForFile } from '../helpers/fake.js';
import { describeStatePort, NOW, paymentsSpec } from '../helpers/state-contract.js';

const SCOPE = { accountId: '000000000000', region: 'us-east-1' };
const fake = await fakeForFile();
let state: DynamoStateAdapter;
/** Each test gets a table of its own: resetting the fake leaves its tables as they are. */
let table = 0;

const spec = paymentsSpec;

/** A new, empty table: the adapter of any scope on it. */
async function freshTable(): Promise<(scope: Scope) => DynamoStateAdapter> {
  table += 1;
  const name = `stores-${table}`;
  await ensureTable(new DynamoDBClient(fake.config), name);
  const { dynamo } = makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials);
  return (scope) => new DynamoStateAdapter(dynamo, name, scope);
}

/** An adapter on a new, empty table. */
async function freshAdapter(): Promise<DynamoStateAdapter> {
  return (await freshTable())(SCOPE);
}

describeStatePort('DynamoStateAdapter', freshTable);

/** A history line of a run that made `action` at `at`. */
function historyEntry(at: number, action: string): HistoryEntry {
  return {
    at,
    reconcileId: `run-${at}`,
    trigger: 'schedule',
    action,
    dryRun: false,
    reason: `${action} at ${at}`,
    connectionState: 'FAILED',
    connectionErrorCode: 'USER_LOCKED_OUT',
    incidentId: 'inc-1',
    events: [{ type: 'Repair Escalated', reason: 'locked out', runbook: 'change the kmsuser password' }],
  };
}

describe('DynamoStateAdapter', () => {
  beforeEach(async () => {
    state = await freshAdapter();
  });

  it('creates the table once: ensureTable says whether it created it', async () => {
    const client = new DynamoDBClient(fake.config);
    expect(await ensureTable(client, 'once')).toBe(true);
    expect(await ensureTable(client, 'once')).toBe(false);
  });

  it("reads a store's history newest first, at most a limit, and from a time on; the events it kept come back whole", async () => {
    for (const [i, action] of ['disconnect', 'connect', 'none'].entries())
      await state.appendHistory('payments', historyEntry(NOW + i * 60_000, action));

    const newest = await state.history('payments', { limit: 2 });
    const since = await state.history('payments', { limit: 10, since: NOW + 60_000 });

    expect(newest.map((e) => e.action)).toEqual(['none', 'connect']);
    expect(newest[0]).toEqual(historyEntry(NOW + 120_000, 'none'));
    expect(since.map((e) => e.action)).toEqual(['none', 'connect']);
  });

  it('counts the bytes of an item as DynamoDB does, and never less for a desired item than it writes', async () => {
    const writer = 'arn:aws:iam::000000000000:user/alice';
    await state.putDesired([spec()], NOW, writer);
    const { Item } = await makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials).dynamo.send(
      new GetCommand({ TableName: `stores-${table}`, Key: { pk: 'DESIRED#000000000000#us-east-1', sk: 'STORE#payments#DESIRED' } }),
    );

    expect([itemBytes({ a: 'xy' }), itemBytes({ n: 12345 }), itemBytes({ b: true, z: null }), itemBytes({ m: { k: 'v' }, l: ['a', 'b'] })]).toEqual([
      3, 5, 4, 15,
    ]);
    expect(state.desiredItemBytes(spec(), writer)).toBeGreaterThanOrEqual(itemBytes(Item ?? {}));
    expect(state.desiredItemBytes(spec(), writer)).toBeLessThan(itemBytes(Item ?? {}) + 64);
  });

  it('takes a desired item written by other means, with no generation, as generation 0', async () => {
    const { dynamo } = makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials);
    await dynamo.send(
      new PutCommand({
        TableName: `stores-${table}`,
        Item: { pk: 'DESIRED#000000000000#us-east-1', sk: 'STORE#payments#DESIRED', name: 'payments', desiredState: 'CONNECTED' },
      }),
    );

    await state.request('payments', 'retry', NOW);
    expect(await state.putDesired([spec()], NOW)).toEqual(['payments']);

    expect((await state.load('payments')).desired).toMatchObject({ generation: 2 });
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
    await state.saveStatus({ ...emptyStatus('ledger', NOW), attempt: 1 }, 'run-a', { now: NOW, outbox: [] });
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

  it('leaves no lease owner on a status item whose write released the lease', async () => {
    await state.acquireLease('payments', 'run-a', NOW, 60_000);
    await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [] });

    const { Item } = await makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials).dynamo.send(
      new GetCommand({ TableName: `stores-${table}`, Key: { pk: 'SCOPE#000000000000#us-east-1', sk: 'STORE#payments#STATUS' } }),
    );
    expect(Item).not.toHaveProperty('leaseOwner');
    expect(Item).not.toHaveProperty('leaseUntil');
  });

  // Only a refused condition reads as "not written"; any other failure of a conditional write is the call's own error.
  const writes: ReadonlyArray<{ method: string; operation: string; write: (s: DynamoStateAdapter) => Promise<unknown> }> = [
    { method: 'acquireLease', operation: 'DynamoDB.UpdateItem', write: (s) => s.acquireLease('payments', 'run-a', NOW, 60_000) },
    {
      method: 'saveStatus',
      operation: 'DynamoDB.PutItem',
      write: (s) => s.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [] }),
    },
    { method: 'releaseLease', operation: 'DynamoDB.UpdateItem', write: (s) => s.releaseLease('payments', 'run-a') },
    { method: 'deleteStatus', operation: 'DynamoDB.DeleteItem', write: (s) => s.deleteStatus('payments', 'run-a', NOW) },
    { method: 'registerScope', operation: 'DynamoDB.PutItem', write: (s) => s.registerScope() },
    { method: 'appendHistory', operation: 'DynamoDB.PutItem', write: (s) => s.appendHistory('payments', historyEntry(NOW, 'disconnect')) },
  ];
  for (const { method, operation, write } of writes) {
    it(`fails ${method} on a table that does not exist as ${operation}, naming \`cks init\`, rather than as a refused condition`, async () => {
      const { dynamo } = makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials);
      const missing = new DynamoStateAdapter(dynamo, 'no-such-table', SCOPE);

      await expect(write(missing)).rejects.toMatchObject({
        name: 'AwsCallError',
        operation,
        code: 'ResourceNotFoundException',
        message: expect.stringContaining('table "no-such-table" does not exist (run `cks init`'),
      });
    });
  }

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

  it('keeps a scope open when `cks apply` registers it again while a pass closes it: the pass closes the registration it read first', async () => {
    // Prepare: the table as the closing pass sees it, and an operator whose apply lands right after the pass read the registration.
    const { dynamo } = makeAwsClients({ region: 'us-east-1', endpoint: fake.url }, fake.config.credentials);
    const tableName = `stores-${table}`;
    const operator = new DynamoStateAdapter(dynamo, tableName, SCOPE);
    await operator.registerScope();
    let applied = false;
    const racing = {
      send: async (command: unknown) => {
        const reply = await dynamo.send(command as GetCommand);
        if (command instanceof GetCommand && !applied) {
          applied = true;
          await operator.registerScope();
        }
        return reply;
      },
    } as unknown as typeof dynamo;
    const pass = new DynamoStateAdapter(racing, tableName, SCOPE);

    // Act
    const closed = await pass.closeScope(NOW);

    // Assess: the pass closed the registration it read, which is no longer the scope's.
    expect([applied, closed]).toEqual([true, true]);
    expect(await operator.listScopes()).toEqual([SCOPE]);
    expect(await pass.closeScope(NOW)).toBe(true);
    expect(await operator.listScopes()).toEqual([]);
  });
});
