/**
 * The desired-state table on DynamoDB, laid out as `domain/table-keys.ts` describes: every store's
 * DESIRED and STATUS items and the SETTINGS item in one partition per account and Region, history
 * in its own partition per store, with a TTL.
 *
 * Only single-item conditional writes: the lease, the status and the desired generation are each
 * guarded by a condition on their own item.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import type { CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { DEFAULT_SETTINGS, type Scope, type Settings, type StoreStatus } from '../domain/types.js';
import { sameData } from '../domain/same-data.js';
import {
  desiredKey,
  historyPartitionKey,
  historySortKey,
  parseStoreKey,
  partitionKey,
  SETTINGS_SK,
  statusKey,
} from '../domain/table-keys.js';
import { AwsCallError, ConflictError } from '../errors.js';
import { awsCall } from './aws-errors.js';
import type { DesiredStoreSpec } from '../domain/desired-schema.js';
import type { HistoryEntry, OperatorRequest, StatePort, StoreRecord } from '../reconcile/ports.js';

/** The optional condition of a write. */
type Condition = { ConditionExpression?: string; ExpressionAttributeValues?: Record<string, unknown> };
/** Attributes of an item that belong to the table, not to the spec or the status. */
const TABLE_ATTRIBUTES = ['pk', 'sk', 'updatedAt', 'leaseOwner', 'leaseUntil', 'retryRequestedAt'];

/** The key schema shared by `cks init` and `serverless.yml`. */
export const TABLE_KEY_SCHEMA: Pick<CreateTableCommandInput, 'AttributeDefinitions' | 'KeySchema'> = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
};

export class DynamoStateAdapter implements StatePort {
  private readonly pk: string;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly scope: Scope,
    private readonly historyTtlDays = 30,
  ) {
    this.pk = partitionKey(scope);
  }

  async loadAll(): Promise<{ records: StoreRecord[]; settings: Settings; regionalIncidentSince: number | null }> {
    const byName = new Map<string, StoreRecord>();
    let settings = DEFAULT_SETTINGS;
    let regionalIncidentSince: number | null = null;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.call('Query', () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': this.pk },
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        const sk = String(item.sk);
        if (sk === SETTINGS_SK) {
          settings = toSettings(item);
          regionalIncidentSince = typeof item.regionalIncidentSince === 'number' ? item.regionalIncidentSince : null;
          continue;
        }
        const parsed = parseStoreKey(sk);
        if (!parsed) continue;
        const record = byName.get(parsed.name) ?? { name: parsed.name, desired: null, status: null };
        if (parsed.kind === 'desired') record.desired = stripTableAttributes(item);
        else record.status = toStatus(item);
        byName.set(parsed.name, record);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return { records: [...byName.values()], settings, regionalIncidentSince };
  }

  async load(name: string): Promise<StoreRecord> {
    const [desired, status] = await Promise.all([this.get(desiredKey(name)), this.get(statusKey(name))]);
    return { name, desired: desired ? stripTableAttributes(desired) : null, status: status ? toStatus(status) : null };
  }

  async acquireLease(name: string, owner: string, now: number, ttlMs: number): Promise<StoreRecord | null> {
    const taken = await this.update(statusKey(name), {
      UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until',
      ConditionExpression: 'attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner',
      ExpressionAttributeValues: { ':owner': owner, ':until': now + ttlMs, ':now': now },
    });
    // Read after the lease is ours, so the record reflects every write of the previous holder.
    return taken ? this.load(name) : null;
  }

  async saveStatus(status: StoreStatus, owner: string): Promise<void> {
    const saved = await this.put(
      { ...this.key(statusKey(status.name)), ...status },
      { ConditionExpression: 'leaseOwner = :owner', ExpressionAttributeValues: { ':owner': owner } },
    );
    if (!saved) throw new ConflictError(`lease on store "${status.name}" was lost before its status was written`);
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    // Not released when someone else holds it now: nothing of ours to release.
    await this.update(statusKey(name), {
      UpdateExpression: 'REMOVE leaseOwner, leaseUntil',
      ConditionExpression: 'leaseOwner = :owner',
      ExpressionAttributeValues: { ':owner': owner },
    });
  }

  async appendHistory(name: string, entry: HistoryEntry): Promise<void> {
    await this.put({
      pk: historyPartitionKey(this.scope, name),
      sk: historySortKey(entry.at, entry.reconcileId),
      ttl: Math.floor(entry.at / 1000) + this.historyTtlDays * 86_400,
      ...entry,
    });
  }

  /** The newest history entries of one store, newest first. */
  async history(name: string, limit: number): Promise<HistoryEntry[]> {
    const page = await this.call('Query', () =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': historyPartitionKey(this.scope, name) },
          ScanIndexForward: false,
          Limit: limit,
        }),
      ),
    );
    return (page.Items ?? []).map((item) => {
      const { pk: _pk, sk: _sk, ttl: _ttl, ...entry } = item;
      return entry as HistoryEntry;
    });
  }

  async putDesired(specs: readonly DesiredStoreSpec[], now: number): Promise<string[]> {
    const written: string[] = [];
    for (const spec of specs) {
      const existing = await this.get(desiredKey(spec.name));
      const current = existing ? stripOperatorFields(stripTableAttributes(existing)) : null;
      if (current && sameData(current, spec)) continue;
      const generation = existing ? Number(existing.generation ?? 0) : 0;
      await this.conditionalPut(
        {
          ...this.key(desiredKey(spec.name)),
          ...spec,
          generation: generation + 1,
          paused: existing?.paused === true,
          updatedAt: new Date(now).toISOString(),
        },
        existing ? generation : null,
      );
      written.push(spec.name);
    }
    return written;
  }

  async request(name: string, request: OperatorRequest, now: number): Promise<void> {
    const [set, value] =
      request === 'retry' ? ['retryRequestedAt = :v', now] : request === 'pause' ? ['paused = :v', true] : ['paused = :v', false];
    const found = await this.update(desiredKey(name), {
      UpdateExpression: `SET ${set}, generation = if_not_exists(generation, :zero) + :one, updatedAt = :iso`,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':v': value, ':zero': 0, ':one': 1, ':iso': new Date(now).toISOString() },
    });
    if (!found) throw new ConflictError(`no desired store named "${name}" in ${this.scope.accountId}/${this.scope.region}`);
  }

  async getSettings(): Promise<Settings> {
    const item = await this.get(SETTINGS_SK);
    return item ? toSettings(item) : DEFAULT_SETTINGS;
  }

  async putSettings(settings: Settings): Promise<void> {
    await this.update(SETTINGS_SK, {
      UpdateExpression: 'SET killSwitch = :k, blastRadiusMaxFailedShare = :s, blastRadiusMinFailed = :m',
      ExpressionAttributeValues: {
        ':k': settings.killSwitch,
        ':s': settings.blastRadiusMaxFailedShare,
        ':m': settings.blastRadiusMinFailed,
      },
    });
  }

  async setRegionalIncident(since: number | null): Promise<void> {
    await this.update(
      SETTINGS_SK,
      since === null
        ? { UpdateExpression: 'REMOVE regionalIncidentSince' }
        : { UpdateExpression: 'SET regionalIncidentSince = :since', ExpressionAttributeValues: { ':since': since } },
    );
  }

  private async conditionalPut(item: Record<string, unknown>, expectedGeneration: number | null): Promise<void> {
    const written = await this.put(
      item,
      expectedGeneration === null
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            // An item written by other means may have no generation yet (read as 0).
            ConditionExpression: 'attribute_not_exists(generation) OR generation = :g',
            ExpressionAttributeValues: { ':g': expectedGeneration },
          },
    );
    if (!written) throw new ConflictError(`desired store "${String(item.name)}" changed while it was being written; apply again`);
  }

  /** UpdateItem on one item of the scope; false when its condition does not hold. */
  private update(sk: string, input: Condition & { UpdateExpression: string }): Promise<boolean> {
    return this.conditional('UpdateItem', () =>
      this.doc.send(new UpdateCommand({ TableName: this.tableName, Key: this.key(sk), ...input })),
    );
  }

  /** PutItem; false when its condition does not hold. */
  private put(item: Record<string, unknown>, condition: Condition = {}): Promise<boolean> {
    return this.conditional('PutItem', () => this.doc.send(new PutCommand({ TableName: this.tableName, Item: item, ...condition })));
  }

  private async conditional(operation: string, send: () => Promise<unknown>): Promise<boolean> {
    try {
      await this.call(operation, send);
      return true;
    } catch (error) {
      if (error instanceof AwsCallError && error.code === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  private async get(sk: string): Promise<Record<string, unknown> | undefined> {
    const result = await this.call('GetItem', () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: this.key(sk), ConsistentRead: true })),
    );
    return result.Item;
  }

  private key(sk: string): { pk: string; sk: string } {
    return { pk: this.pk, sk };
  }

  /** Translates SDK errors (see `awsCall`); a missing table names `cks init`. */
  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await awsCall(`DynamoDB.${operation}`, send);
    } catch (error) {
      if (error instanceof AwsCallError && error.code === 'ResourceNotFoundException') {
        throw new AwsCallError(
          error.operation,
          error.code,
          false,
          `table "${this.tableName}" does not exist (run \`cks init\` to create it, or deploy the stack)`,
          { cause: error.cause },
        );
      }
      throw error;
    }
  }
}

/** Creates the table where it does not exist (`cks init`); returns false when it was already there. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return false;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await client.send(new CreateTableCommand({ TableName: tableName, BillingMode: 'PAY_PER_REQUEST', ...TABLE_KEY_SCHEMA }));
  return true;
}

function stripTableAttributes(item: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).filter(([k]) => !TABLE_ATTRIBUTES.includes(k)));
}

function stripOperatorFields(item: Record<string, unknown>): Record<string, unknown> {
  const { generation: _g, paused: _p, ...spec } = item;
  return spec;
}

/** A status item written only by a lease holds no status yet. */
function toStatus(item: Record<string, unknown>): StoreStatus | null {
  if (typeof item.phase !== 'string') return null;
  return stripTableAttributes(item) as unknown as StoreStatus;
}

function toSettings(item: Record<string, unknown>): Settings {
  return {
    killSwitch: typeof item.killSwitch === 'boolean' ? item.killSwitch : DEFAULT_SETTINGS.killSwitch,
    blastRadiusMaxFailedShare:
      typeof item.blastRadiusMaxFailedShare === 'number' ? item.blastRadiusMaxFailedShare : DEFAULT_SETTINGS.blastRadiusMaxFailedShare,
    blastRadiusMinFailed:
      typeof item.blastRadiusMinFailed === 'number' ? item.blastRadiusMinFailed : DEFAULT_SETTINGS.blastRadiusMinFailed,
  };
}

