/**
 * The desired-state table on DynamoDB, laid out as `domain/table-keys.ts` describes: every store's
 * DESIRED and STATUS items and the SETTINGS item in one partition per account and Region, history
 * in its own partition per store, with a TTL.
 *
 * Only single-item conditional writes: the lease, the status and the desired generation are each
 * guarded by a condition on their own item.
 */

import { randomUUID } from 'node:crypto';
import type { CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateTableCommand, DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DesiredStoreSpec } from '../domain/desired-schema.js';
import type { ReconcilerEvent } from '../domain/events.js';
import { sameData } from '../domain/same-data.js';
import { BASELINE_IN_FORCE, guardedOf } from '../domain/settings.js';
import { personOf, type Signature } from '../domain/signatures.js';
import {
  CLOSED_PK,
  desiredKey,
  historyPartitionKey,
  historySortKey,
  operatorPartitionKey,
  parseSignatureSortKey,
  parseStoreKey,
  partitionKey,
  REGIONAL_SK,
  REGISTRY_PK,
  registryKey,
  SETTINGS_SK,
  SETTINGS_SUBJECT,
  SIGNATURES_INDEX,
  signatureSortKey,
  signerOfPartition,
  signerPartitionKey,
  statusKey,
  storeIdLeaseKey,
  storeOfSubject,
  storeSubject,
  UNREACHABLE_SK,
} from '../domain/table-keys.js';
import { parseSettingsItem, parseStatusItem } from '../domain/table-schemas.js';
import { DEFAULT_SETTINGS, type Scope, type Settings, type StoreStatus, type UnreachableMark } from '../domain/types.js';
import { AwsCallError, ConflictError } from '../errors.js';
import type {
  HistoryEntry,
  OperatorRequest,
  RegionalIncident,
  SaveStatusOptions,
  ScopeRecords,
  SettingsInForce,
  SettingsRecords,
  StatePort,
  StoreRecord,
} from '../reconcile/ports.js';
import { awsCall } from './aws-errors.js';

/** The optional condition of a write. */
type Condition = { ConditionExpression?: string; ExpressionAttributeValues?: Record<string, unknown> };
/** Attributes of an item that belong to the table, not to the spec or the status. */
const TABLE_ATTRIBUTES = ['pk', 'sk', 'updatedAt', 'leaseOwner', 'leaseUntil', 'leaseStoreId', 'outbox'];

/** The key schema and the signatures' index, shared by `cks init` and `serverless.yml`. */
export const TABLE_KEY_SCHEMA: Pick<CreateTableCommandInput, 'AttributeDefinitions' | 'KeySchema' | 'GlobalSecondaryIndexes'> = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
    { AttributeName: 'scopePk', AttributeType: 'S' },
    { AttributeName: 'subject', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: SIGNATURES_INDEX,
      KeySchema: [
        { AttributeName: 'scopePk', KeyType: 'HASH' },
        { AttributeName: 'subject', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
};

/** A key of the table. */
type Key = { pk: string; sk: string };

export class DynamoStateAdapter implements StatePort {
  /** Where operators write (desired items, settings) and where the reconciler writes (statuses, leases). */
  private readonly operatorPk: string;
  private readonly reconcilerPk: string;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly scope: Scope,
    private readonly historyTtlDays = 30,
  ) {
    this.operatorPk = operatorPartitionKey(scope);
    this.reconcilerPk = partitionKey(scope);
  }

  async loadAll(): Promise<ScopeRecords> {
    const byName = new Map<string, StoreRecord>();
    let settings = DEFAULT_SETTINGS;
    let regionalIncident: RegionalIncident | null = null;
    let unreachable: UnreachableMark | null = null;
    let settingsError: string | null = null;
    let settingsInForce: SettingsInForce | null = null;
    const [operatorItems, reconcilerItems, signatures] = await Promise.all([
      this.queryAll(this.operatorPk),
      this.queryAll(this.reconcilerPk),
      this.signatures(),
    ]);
    for (const item of [...operatorItems, ...reconcilerItems]) {
      const sk = String(item.sk);
      if (item.pk === this.operatorPk && sk === SETTINGS_SK) {
        ({ settings, error: settingsError } = parseSettingsItem(stripTableAttributes(item)));
        continue;
      }
      if (item.pk === this.reconcilerPk && sk === SETTINGS_SK) {
        settingsInForce = toSettingsInForce(item);
        continue;
      }
      if (item.pk === this.reconcilerPk && sk === REGIONAL_SK) {
        regionalIncident = toRegionalIncident(item);
        continue;
      }
      if (item.pk === this.reconcilerPk && sk === UNREACHABLE_SK) {
        unreachable = toUnreachable(item);
        continue;
      }
      const parsed = parseStoreKey(sk);
      if (!parsed) continue;
      const record = byName.get(parsed.name) ?? { name: parsed.name, desired: null, status: null, statusError: null, signatures: [], outbox: [] };
      if (parsed.kind === 'desired' && item.pk === this.operatorPk) record.desired = stripTableAttributes(item);
      if (parsed.kind === 'status' && item.pk === this.reconcilerPk) Object.assign(record, toStatus(item), { outbox: toOutbox(item) });
      byName.set(parsed.name, record);
    }
    // A signature counts only beside what it signs: a store's with its record, the settings' with them.
    for (const signature of signatures) byName.get(storeOfSubject(signature.subject) ?? '')?.signatures.push(signature);
    return {
      records: [...byName.values()],
      settings,
      settingsSignatures: signatures.filter((signature) => signature.subject === SETTINGS_SUBJECT),
      settingsError,
      settingsInForce,
      regionalIncident,
      ...(unreachable && { unreachable }),
    };
  }

  async load(name: string): Promise<StoreRecord> {
    const [desired, status, signatures] = await Promise.all([
      this.get(this.operator(desiredKey(name))),
      this.get(this.reconciler(statusKey(name))),
      this.signatures(storeSubject(name)),
    ]);
    return {
      name,
      desired: desired ? stripTableAttributes(desired) : null,
      ...(status ? toStatus(status) : { status: null, statusError: null }),
      signatures,
      outbox: status ? toOutbox(status) : [],
    };
  }

  async acquireLease(name: string, owner: string, now: number, ttlMs: number, storeId: string | null = null): Promise<StoreRecord | null> {
    const lease = {
      ConditionExpression: 'attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner',
      ExpressionAttributeValues: { ':owner': owner, ':until': now + ttlMs, ':now': now },
    };
    const taken = await this.update(this.reconciler(statusKey(name)), {
      UpdateExpression:
        storeId === null
          ? 'SET leaseOwner = :owner, leaseUntil = :until REMOVE leaseStoreId'
          : 'SET leaseOwner = :owner, leaseUntil = :until, leaseStoreId = :id',
      ...lease,
      ExpressionAttributeValues: { ...lease.ExpressionAttributeValues, ...(storeId === null ? {} : { ':id': storeId }) },
    });
    if (!taken) return null;
    if (
      storeId !== null &&
      !(await this.update(this.reconciler(storeIdLeaseKey(storeId)), { UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until', ...lease }))
    ) {
      await this.releaseLease(name, owner);
      return null;
    }
    // Read after the lease is ours, so the record reflects every write of the previous holder.
    return this.load(name);
  }

  async saveStatus(status: StoreStatus, owner: string, options: SaveStatusOptions): Promise<void> {
    const key = this.reconciler(statusKey(status.name));
    const lease = options.holdLeaseUntil !== undefined ? { leaseOwner: owner, leaseUntil: options.holdLeaseUntil } : {};
    const previous = await this.conditionalSend('PutItem', () =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, ...status, outbox: options.outbox, ...lease },
          ConditionExpression: 'leaseOwner = :owner AND leaseUntil >= :now',
          ExpressionAttributeValues: { ':owner': owner, ':now': options.now },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    if (previous === null) throw new ConflictError(`lease on store "${status.name}" ran out or was lost before its status was written`);
    // The KMS store leased with the name, whatever store the status now names: the put replaced the item that recorded it.
    const storeId = previous.Attributes?.leaseStoreId;
    if (typeof storeId !== 'string') return;
    if (options.holdLeaseUntil === undefined) await this.releaseStoreIdLease(storeId, owner);
    else
      await this.update(key, {
        UpdateExpression: 'SET leaseStoreId = :id',
        ConditionExpression: 'leaseOwner = :owner',
        ExpressionAttributeValues: { ':id': storeId, ':owner': owner },
      });
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    // Not released when someone else holds it now: nothing of ours to release.
    const released = await this.conditionalSend('UpdateItem', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.reconciler(statusKey(name)),
          UpdateExpression: 'REMOVE leaseOwner, leaseUntil, leaseStoreId',
          ConditionExpression: 'leaseOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    const storeId = released?.Attributes?.leaseStoreId;
    if (typeof storeId === 'string') await this.releaseStoreIdLease(storeId, owner);
  }

  private async releaseStoreIdLease(storeId: string, owner: string): Promise<void> {
    await this.update(this.reconciler(storeIdLeaseKey(storeId)), {
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

  /**
   * The newest history entries of one store, newest first: at most `limit`, and with `since` (epoch ms)
   * only those from then on (the sort key starts with the entry's time, so that is a key condition).
   * A store removed from the desired state keeps its history until the TTL.
   */
  async history(name: string, options: { limit: number; since?: number }): Promise<HistoryEntry[]> {
    const since = options.since === undefined ? {} : { ':since': new Date(options.since).toISOString() };
    const page = await this.call('Query', () =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: options.since === undefined ? 'pk = :pk' : 'pk = :pk AND sk >= :since',
          ExpressionAttributeValues: { ':pk': historyPartitionKey(this.scope, name), ...since },
          ScanIndexForward: false,
          Limit: options.limit,
        }),
      ),
    );
    return (page.Items ?? []).map((item) => {
      const { pk: _pk, sk: _sk, ttl: _ttl, ...entry } = item;
      return entry as HistoryEntry;
    });
  }

  async putDesired(specs: readonly DesiredStoreSpec[], now: number, changedBy: string | null = null): Promise<string[]> {
    const written: string[] = [];
    for (const spec of specs) {
      const existing = await this.get(this.operator(desiredKey(spec.name)));
      const current = existing ? stripOperatorFields(stripTableAttributes(existing)) : null;
      if (current && sameData(current, spec)) continue;
      const generation = existing ? Number(existing.generation ?? 0) : 0;
      await this.conditionalPut(this.desiredItem(spec, { generation: generation + 1, existing, changedBy, now }), existing ? generation : null);
      written.push(spec.name);
    }
    return written;
  }

  /**
   * The bytes DynamoDB counts for the desired item `spec` would be written as (with the longest
   * bookkeeping it can get), to check against {@link MAX_ITEM_BYTES} before anything is written.
   */
  desiredItemBytes(spec: DesiredStoreSpec, changedBy: string | null): number {
    const largest = { paused: true, retryRequestedAt: Number.MAX_SAFE_INTEGER };
    return itemBytes(this.desiredItem(spec, { generation: Number.MAX_SAFE_INTEGER, existing: largest, changedBy, now: 0 }));
  }

  private desiredItem(
    spec: DesiredStoreSpec,
    options: { generation: number; existing: Record<string, unknown> | undefined; changedBy: string | null; now: number },
  ): Record<string, unknown> {
    const { existing } = options;
    return {
      ...this.operator(desiredKey(spec.name)),
      ...spec,
      generation: options.generation,
      paused: existing?.paused === true,
      // An operator's retry stays the one it was: a new generation does not reset the login budget.
      ...(typeof existing?.retryRequestedAt === 'number' ? { retryRequestedAt: existing.retryRequestedAt } : {}),
      changedBy: options.changedBy,
      updatedAt: new Date(options.now).toISOString(),
    };
  }

  async deleteDesired(name: string): Promise<boolean> {
    return this.delete(this.operator(desiredKey(name)), { ConditionExpression: 'attribute_exists(pk)' });
  }

  async deleteStatus(name: string, owner: string, now: number): Promise<boolean> {
    return this.delete(this.reconciler(statusKey(name)), {
      ConditionExpression: 'leaseOwner = :owner AND leaseUntil >= :now AND (attribute_not_exists(outbox) OR size(outbox) = :empty)',
      ExpressionAttributeValues: { ':owner': owner, ':now': now, ':empty': 0 },
    });
  }

  async request(name: string, request: OperatorRequest, now: number): Promise<void> {
    const [set, value] = request === 'retry' ? ['retryRequestedAt = :v', now] : request === 'pause' ? ['paused = :v', true] : ['paused = :v', false];
    const found = await this.update(this.operator(desiredKey(name)), {
      UpdateExpression: `SET ${set}, generation = if_not_exists(generation, :zero) + :one, updatedAt = :iso`,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':v': value, ':zero': 0, ':one': 1, ':iso': new Date(now).toISOString() },
    });
    if (!found) throw new ConflictError(`no desired store named "${name}" in ${this.scope.accountId}/${this.scope.region}`);
  }

  async sign(signature: Signature): Promise<void> {
    const { signer, scopePk, subject, generation, digest, signedAt } = signature;
    await this.put({
      pk: signerPartitionKey(signer),
      sk: signatureSortKey(scopePk, subject, generation, digest),
      scopePk,
      subject,
      generation,
      digest,
      signedAt,
    });
  }

  /**
   * The scope's signatures (of one subject, when given): one paged Query of the index. The signer is
   * the partition it was written in; what it signs is its sort key, whatever its other attributes claim.
   */
  private async signatures(subject?: string): Promise<Signature[]> {
    const items = await this.query({
      IndexName: SIGNATURES_INDEX,
      KeyConditionExpression: subject === undefined ? 'scopePk = :pk' : 'scopePk = :pk AND subject = :subject',
      ExpressionAttributeValues: { ':pk': this.operatorPk, ...(subject === undefined ? {} : { ':subject': subject }) },
    });
    return items.flatMap((item) => toSignature(item, this.operatorPk) ?? []);
  }

  async getSettings(): Promise<Settings> {
    const item = await this.get(this.operator(SETTINGS_SK));
    return item ? parseSettingsItem(stripTableAttributes(item)).settings : DEFAULT_SETTINGS;
  }

  async putSettings(settings: Settings): Promise<void> {
    await this.update(this.operator(SETTINGS_SK), {
      UpdateExpression:
        'SET killSwitch = :k, blastRadiusMaxFailedShare = :s, blastRadiusMinFailed = :m, approvalForCloudHsm = :a, ' +
        'generation = if_not_exists(generation, :zero) + :one',
      ExpressionAttributeValues: {
        ':k': settings.killSwitch,
        ':s': settings.blastRadiusMaxFailedShare,
        ':m': settings.blastRadiusMinFailed,
        ':a': settings.approvalForCloudHsm === true,
        ':zero': 0,
        ':one': 1,
      },
    });
  }

  async loadSettings(): Promise<SettingsRecords> {
    const [desired, inForce, signatures] = await Promise.all([
      this.get(this.operator(SETTINGS_SK)),
      this.settingsInForce(),
      this.signatures(SETTINGS_SUBJECT),
    ]);
    const { settings, error } = desired ? parseSettingsItem(stripTableAttributes(desired)) : { settings: DEFAULT_SETTINGS, error: null };
    return { settings, settingsError: error, settingsInForce: inForce, settingsSignatures: signatures };
  }

  private async settingsInForce(): Promise<SettingsInForce | null> {
    const item = await this.get(this.reconciler(SETTINGS_SK));
    return item ? toSettingsInForce(item) : null;
  }

  async recordSettingsInForce(
    record: Omit<SettingsInForce, 'revision'>,
    revision: number | null,
  ): Promise<{ record: SettingsInForce | null; written: boolean }> {
    const next: SettingsInForce = { ...record, revision: (revision ?? 0) + 1 };
    const written = await this.put(
      { ...this.reconciler(SETTINGS_SK), ...next.values, revision: next.revision, announced: next.announced, outbox: next.outbox },
      // A record without a revision (none yet, or a malformed one) reads as revision 0 when it exists.
      { ConditionExpression: 'attribute_not_exists(revision) OR revision = :r', ExpressionAttributeValues: { ':r': revision ?? 0 } },
    );
    return written ? { record: next, written } : { record: await this.settingsInForce(), written };
  }

  async announceSettings(announced: string): Promise<void> {
    await this.update(this.reconciler(SETTINGS_SK), {
      UpdateExpression: 'REMOVE outbox',
      ConditionExpression: 'announced = :a',
      ExpressionAttributeValues: { ':a': announced },
    });
  }

  async openRegionalIncident(since: number, page: ReconcilerEvent): Promise<RegionalIncident & { opened: boolean }> {
    const opened = await this.update(this.reconciler(REGIONAL_SK), {
      UpdateExpression: 'SET since = :since, outbox = :outbox',
      ConditionExpression: 'attribute_not_exists(since)',
      ExpressionAttributeValues: { ':since': since, ':outbox': [page] },
    });
    if (opened) return { since, outbox: [page], opened: true };
    const open = toRegionalIncident((await this.get(this.reconciler(REGIONAL_SK))) ?? {});
    // Ended between the two calls: this pass opens the next incident.
    return open ? { ...open, opened: false } : this.openRegionalIncident(since, page);
  }

  async announceRegionalIncident(since: number): Promise<void> {
    await this.update(this.reconciler(REGIONAL_SK), {
      UpdateExpression: 'REMOVE outbox',
      ConditionExpression: 'since = :since',
      ExpressionAttributeValues: { ':since': since },
    });
  }

  async endRegionalIncident(since: number): Promise<void> {
    await this.update(this.reconciler(REGIONAL_SK), {
      UpdateExpression: 'REMOVE since, outbox, announced',
      ConditionExpression: 'since = :since',
      ExpressionAttributeValues: { ':since': since },
    });
  }

  async openUnreachable(mark: UnreachableMark): Promise<UnreachableMark> {
    const opened = await this.update(this.reconciler(UNREACHABLE_SK), {
      UpdateExpression: 'SET incidentId = :i, since = :s, errorCode = :c, operation = :o, announced = :a',
      ConditionExpression: 'attribute_not_exists(incidentId)',
      ExpressionAttributeValues: { ':i': mark.incidentId, ':s': mark.since, ':c': mark.errorCode, ':o': mark.operation, ':a': mark.announced },
    });
    if (opened) return mark;
    const open = toUnreachable((await this.get(this.reconciler(UNREACHABLE_SK))) ?? {});
    // Cleared between the two calls: the scope was reached meanwhile; this failure opens the next incident.
    return open ?? this.openUnreachable(mark);
  }

  async announceUnreachable(incidentId: string): Promise<void> {
    await this.update(this.reconciler(UNREACHABLE_SK), {
      UpdateExpression: 'SET announced = :true',
      ConditionExpression: 'incidentId = :i',
      ExpressionAttributeValues: { ':true': true, ':i': incidentId },
    });
  }

  async clearUnreachable(incidentId: string): Promise<void> {
    await this.update(this.reconciler(UNREACHABLE_SK), {
      UpdateExpression: 'REMOVE incidentId, since, errorCode, operation, announced',
      ConditionExpression: 'incidentId = :i',
      ExpressionAttributeValues: { ':i': incidentId },
    });
  }

  async registerScope(): Promise<boolean> {
    const previous = await this.call('PutItem', () =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: REGISTRY_PK, sk: registryKey(this.scope), ...this.scope, registration: randomUUID() },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    return previous.Attributes === undefined;
  }

  async listScopes(): Promise<Scope[]> {
    const [registered, closed] = await Promise.all([this.queryAll(REGISTRY_PK), this.queryAll(CLOSED_PK)]);
    const closedRegistration = new Map(closed.map((item) => [String(item.sk), registrationOf(item)]));
    return registered
      .filter((item) => closedRegistration.get(String(item.sk)) !== registrationOf(item))
      .flatMap((item) =>
        typeof item.accountId === 'string' && typeof item.region === 'string' ? [{ accountId: item.accountId, region: item.region }] : [],
      )
      .sort((a, b) => `${a.accountId}/${a.region}`.localeCompare(`${b.accountId}/${b.region}`));
  }

  async closeScope(now: number): Promise<boolean> {
    // The registration first: one a `cks apply` writes after this read is not the one closed below.
    const registered = await this.get({ pk: REGISTRY_PK, sk: registryKey(this.scope) });
    if (!registered) return false;
    const [operatorItems, reconcilerItems] = await Promise.all([this.queryAll(this.operatorPk), this.queryAll(this.reconcilerPk)]);
    if (operatorItems.some((item) => parseStoreKey(String(item.sk))?.kind === 'desired') || reconcilerItems.some(holdsScopeOpen)) return false;
    await this.put({
      pk: CLOSED_PK,
      sk: registryKey(this.scope),
      ...this.scope,
      registration: registrationOf(registered),
      closedAt: new Date(now).toISOString(),
    });
    return true;
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

  /** UpdateItem on one item; false when its condition does not hold. */
  private update(key: Key, input: Condition & { UpdateExpression: string }): Promise<boolean> {
    return this.conditional('UpdateItem', () => this.doc.send(new UpdateCommand({ TableName: this.tableName, Key: key, ...input })));
  }

  /** DeleteItem; false when its condition does not hold. */
  private delete(key: Key, condition: Condition = {}): Promise<boolean> {
    return this.conditional('DeleteItem', () => this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: key, ...condition })));
  }

  /** PutItem; false when its condition does not hold. */
  private put(item: Record<string, unknown>, condition: Condition = {}): Promise<boolean> {
    return this.conditional('PutItem', () => this.doc.send(new PutCommand({ TableName: this.tableName, Item: item, ...condition })));
  }

  private async conditional(operation: string, send: () => Promise<unknown>): Promise<boolean> {
    return (await this.conditionalSend(operation, send)) !== null;
  }

  /** A conditional write's response; null when its condition does not hold. */
  private async conditionalSend<T>(operation: string, send: () => Promise<T>): Promise<T | null> {
    try {
      return await this.call(operation, send);
    } catch (error) {
      if (error instanceof AwsCallError && error.code === 'ConditionalCheckFailedException') return null;
      throw error;
    }
  }

  private async get(key: Key): Promise<Record<string, unknown> | undefined> {
    const result = await this.call('GetItem', () => this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })));
    return result.Item;
  }

  /** Every item of one partition (paged Query). */
  private queryAll(pk: string): Promise<Array<Record<string, unknown>>> {
    return this.query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk } });
  }

  /** Every item a Query (of the table, or of an index) finds, all pages. */
  private async query(input: {
    IndexName?: string;
    KeyConditionExpression: string;
    ExpressionAttributeValues: Record<string, unknown>;
  }): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.call('Query', () =>
        this.doc.send(new QueryCommand({ TableName: this.tableName, ...input, ExclusiveStartKey: startKey })),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  private operator(sk: string): Key {
    return { pk: this.operatorPk, sk };
  }

  private reconciler(sk: string): Key {
    return { pk: this.reconcilerPk, sk };
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

/** DynamoDB's limit on the size of one item. */
export const MAX_ITEM_BYTES = 400 * 1024;

/**
 * The size DynamoDB counts for an item: each attribute's name plus its value (a string's UTF-8
 * bytes, a number's significant digits halved plus one, one for a boolean or null, three plus the
 * contents for a map or list, with each element one more byte).
 */
export function itemBytes(item: Record<string, unknown>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + valueBytes(value), 0);
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number')
    return (
      Math.ceil(
        String(Math.abs(value))
          .replace(/[.e+-]/g, '')
          .replace(/^0+/, '').length / 2,
      ) + 1
    );
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, element) => sum + 1 + valueBytes(element), 0);
  if (typeof value === 'object' && value !== null) return 3 + itemBytes(value as Record<string, unknown>) + Object.keys(value).length;
  return 1;
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
  const { generation: _g, paused: _p, retryRequestedAt: _r, changedBy: _c, ...spec } = item;
  return spec;
}

/**
 * The status of a status item. An item written only by a lease holds no status yet; a malformed one
 * is read as none (the store starts afresh, and its next write replaces the item) with the reason.
 */
function toStatus(item: Record<string, unknown>): { status: StoreStatus | null; statusError: string | null } {
  if (item.phase === undefined) return { status: null, statusError: null };
  const parsed = parseStatusItem(stripTableAttributes(item));
  return parsed.ok ? { status: parsed.status, statusError: null } : { status: null, statusError: parsed.error };
}

/** The events a status item still owes (validated by the core before they are published again). */
function toOutbox(item: Record<string, unknown>): ReconcilerEvent[] {
  return Array.isArray(item.outbox) ? (item.outbox as ReconcilerEvent[]) : [];
}

/** The open regional incident the REGIONAL item holds; null when none is open. */
function toRegionalIncident(item: Record<string, unknown>): RegionalIncident | null {
  return typeof item.since === 'number' ? { since: item.since, outbox: toOutbox(item) } : null;
}

/** The settings in force a reconciler's SETTINGS item holds; a malformed one holds the defaults (its revision kept, so it can be replaced). */
function toSettingsInForce(item: Record<string, unknown>): SettingsInForce {
  const parsed = parseSettingsItem(stripTableAttributes(item));
  return {
    values: parsed.error === null ? guardedOf(parsed.settings) : BASELINE_IN_FORCE,
    revision: typeof item.revision === 'number' ? item.revision : 0,
    announced: typeof item.announced === 'string' ? item.announced : null,
    outbox: toOutbox(item),
  };
}

/** The open unreachable incident a mark item holds; null once it was cleared (or for a malformed item). */
function toUnreachable(item: Record<string, unknown>): UnreachableMark | null {
  const { incidentId, since, errorCode, operation, announced } = item;
  return typeof incidentId === 'string' && typeof since === 'number' && typeof errorCode === 'string' && typeof operation === 'string'
    ? { incidentId, since, errorCode, operation, announced: announced === true }
    : null;
}

/** A registry entry's registration id (an entry written before registrations had ids has the empty one). */
function registrationOf(item: Record<string, unknown>): string {
  return typeof item.registration === 'string' ? item.registration : '';
}

/**
 * True for a reconciler item that keeps its scope open: a store's status (its outbox may owe events), an
 * open regional incident, settings in force that owe a page. A lease alone (no status) holds nothing.
 */
function holdsScopeOpen(item: Record<string, unknown>): boolean {
  const sk = String(item.sk);
  if (sk === REGIONAL_SK) return toRegionalIncident(item) !== null;
  if (sk === SETTINGS_SK) return toOutbox(item).length > 0;
  return parseStoreKey(sk)?.kind === 'status' && (item.phase !== undefined || toOutbox(item).length > 0);
}

/** The signature an index item holds, or null for an item that signs nothing a policy lets its signer sign. */
function toSignature(item: Record<string, unknown>, scopePk: string): Signature | null {
  const signer = signerOfPartition(String(item.pk));
  const subject = item.subject;
  if (signer === null || personOf(signer) === null || typeof subject !== 'string') return null;
  const signed = parseSignatureSortKey(String(item.sk), scopePk, subject);
  return signed === null ? null : { signer, scopePk, subject, ...signed, signedAt: typeof item.signedAt === 'number' ? item.signedAt : 0 };
}
