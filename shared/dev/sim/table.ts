/**
 * The desired-state table, in memory, for the simulator: the same items and conditional writes as
 * `DynamoStateAdapter` (leases taken and kept by condition, a status and its outbox in one write, the
 * generation bumped only by a changed spec or an operator request, status items validated on read),
 * without DynamoDB's HTTP round trips, which would cost most of a seed's time. Items are stored as
 * JSON, as DynamoDB stores them, so nothing the core holds is shared with the table.
 *
 * Like DynamoDB it can be made to fail: `failNext` makes the next calls of an operation fail as the
 * adapter reports a throttled or failing table once the SDK's retries are spent.
 */
import type { DesiredStoreSpec } from '../../domain/desired-schema.js';
import type { ReconcilerEvent } from '../../domain/events.js';
import { sameData } from '../../domain/same-data.js';
import { parseStatusItem } from '../../domain/table-schemas.js';
import { type Approval, DEFAULT_SETTINGS, type Scope, type Settings, type StoreStatus, type UnreachableMark } from '../../domain/types.js';
import { AwsCallError, ConflictError } from '../../errors.js';
import type { HistoryEntry, OperatorRequest, SaveStatusOptions, ScopeRecords, StatePort, StoreRecord } from '../../reconcile/ports.js';

/** The DynamoDB operation behind each table call, for its error messages and injected faults. */
const OPERATIONS = {
  loadAll: 'Query',
  load: 'GetItem',
  acquireLease: 'UpdateItem',
  saveStatus: 'PutItem',
  releaseLease: 'UpdateItem',
  appendHistory: 'PutItem',
  putDesired: 'PutItem',
  approve: 'PutItem',
  deleteDesired: 'DeleteItem',
  deleteStatus: 'DeleteItem',
  request: 'UpdateItem',
  getSettings: 'GetItem',
  putSettings: 'UpdateItem',
  setRegionalIncident: 'UpdateItem',
} as const;

export type TableOperation = (typeof OPERATIONS)[keyof typeof OPERATIONS];

interface StatusItem {
  status: Record<string, unknown> | null;
  outbox: ReconcilerEvent[];
  lease: { owner: string; until: number } | null;
}

export class SimTable implements StatePort {
  readonly #desired = new Map<string, Record<string, unknown>>();
  readonly #status = new Map<string, StatusItem>();
  readonly #approvals = new Map<string, Approval>();
  #settings: Settings = DEFAULT_SETTINGS;
  #regional: { since: number; announced: boolean } | null = null;
  #faults: Array<{ operation: TableOperation; error: string; left: number }> = [];

  constructor(readonly scope: Scope) {}

  /** The next `count` calls that use `operation` fail with `error` (retryable, as the SDK gave up on it). */
  failNext(operation: TableOperation, error: string, count: number): void {
    this.#faults.push({ operation, error, left: count });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  async loadAll(): Promise<ScopeRecords> {
    this.#fault('loadAll');
    const names = new Set([...this.#desired.keys(), ...this.#status.keys(), ...this.#approvals.keys()]);
    return {
      records: [...names].map((name) => this.#record(name)),
      settings: copy(this.#settings),
      settingsError: null,
      regionalIncidentSince: this.#regional?.since ?? null,
      regionalIncidentAnnounced: this.#regional?.announced ?? false,
    };
  }

  async load(name: string): Promise<StoreRecord> {
    this.#fault('load');
    return this.#record(name);
  }

  async acquireLease(name: string, owner: string, now: number, ttlMs: number): Promise<StoreRecord | null> {
    this.#fault('acquireLease');
    const item = this.#status.get(name) ?? { status: null, outbox: [], lease: null };
    if (item.lease !== null && item.lease.until >= now && item.lease.owner !== owner) return null;
    this.#status.set(name, { ...item, lease: { owner, until: now + ttlMs } });
    return this.#record(name);
  }

  async saveStatus(status: StoreStatus, owner: string, options: SaveStatusOptions = { outbox: [] }): Promise<void> {
    this.#fault('saveStatus');
    if (this.#status.get(status.name)?.lease?.owner !== owner)
      throw new ConflictError(`lease on store "${status.name}" was lost before its status was written`);
    const lease = options.holdLeaseUntil !== undefined ? { owner, until: options.holdLeaseUntil } : null;
    this.#status.set(status.name, { status: copy(status) as unknown as Record<string, unknown>, outbox: copy([...options.outbox]), lease });
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    this.#fault('releaseLease');
    const item = this.#status.get(name);
    if (item?.lease?.owner === owner) this.#status.set(name, { ...item, lease: null });
  }

  /** History is not kept: the simulator reads what the core writes as the call's argument. */
  async appendHistory(_name: string, _entry: HistoryEntry): Promise<void> {
    this.#fault('appendHistory');
  }

  async putDesired(specs: readonly DesiredStoreSpec[], _now: number, changedBy: string | null = null): Promise<string[]> {
    this.#fault('putDesired');
    const written: string[] = [];
    for (const spec of specs) {
      const existing = this.#desired.get(spec.name);
      if (existing) {
        const { generation: _g, paused: _p, retryRequestedAt: _r, changedBy: _c, ...current } = existing;
        if (sameData(current, spec)) continue;
      }
      this.#desired.set(spec.name, {
        ...copy(spec),
        generation: Number(existing?.generation ?? 0) + 1,
        paused: existing?.paused === true,
        ...(typeof existing?.retryRequestedAt === 'number' ? { retryRequestedAt: existing.retryRequestedAt } : {}),
        changedBy,
      });
      written.push(spec.name);
    }
    return written;
  }

  async approve(name: string, approval: Approval): Promise<void> {
    this.#fault('approve');
    this.#approvals.set(name, copy(approval));
  }

  async deleteDesired(name: string): Promise<boolean> {
    this.#fault('deleteDesired');
    if (!this.#desired.delete(name)) return false;
    this.#approvals.delete(name);
    return true;
  }

  async deleteStatus(name: string, now: number): Promise<boolean> {
    this.#fault('deleteStatus');
    const item = this.#status.get(name);
    if (item === undefined || (item.lease !== null && item.lease.until >= now)) return false;
    this.#status.delete(name);
    return true;
  }

  /** The simulator runs one account and Region: the fleet's marks and registry are never asked for. */
  async openUnreachable(mark: UnreachableMark): Promise<UnreachableMark> {
    return mark;
  }

  async announceUnreachable(_incidentId: string): Promise<void> {}

  async clearUnreachable(): Promise<void> {}

  async registerScope(): Promise<boolean> {
    return false;
  }

  async listScopes(): Promise<Scope[]> {
    return [];
  }

  async request(name: string, request: OperatorRequest, now: number): Promise<void> {
    this.#fault('request');
    const item = this.#desired.get(name);
    if (!item) throw new ConflictError(`no desired store named "${name}" in ${this.scope.accountId}/${this.scope.region}`);
    const set = request === 'retry' ? { retryRequestedAt: now } : { paused: request === 'pause' };
    this.#desired.set(name, { ...item, ...set, generation: Number(item.generation ?? 0) + 1 });
  }

  async getSettings(): Promise<Settings> {
    this.#fault('getSettings');
    return copy(this.#settings);
  }

  async putSettings(settings: Settings): Promise<void> {
    this.#fault('putSettings');
    this.#settings = copy(settings);
  }

  async setRegionalIncident(since: number | null, announced = false): Promise<void> {
    this.#fault('setRegionalIncident');
    this.#regional = since === null ? null : { since, announced };
  }

  #record(name: string): StoreRecord {
    const desired = this.#desired.get(name);
    const item = this.#status.get(name);
    const approval = this.#approvals.get(name);
    const parsed = item?.status ? parseStatusItem(copy(item.status)) : null;
    return {
      name,
      desired: desired ? copy(desired) : null,
      status: parsed?.ok ? parsed.status : null,
      statusError: parsed && !parsed.ok ? parsed.error : null,
      approval: approval ? copy(approval) : null,
      outbox: copy(item?.outbox ?? []),
    };
  }

  #fault(call: keyof typeof OPERATIONS): void {
    const operation = OPERATIONS[call];
    const fault = this.#faults.find((f) => f.operation === operation);
    if (!fault) return;
    fault.left -= 1;
    if (fault.left === 0) this.#faults = this.#faults.filter((f) => f !== fault);
    throw new AwsCallError(`DynamoDB.${operation}`, fault.error, true, `Injected fault: ${fault.error}.`);
  }
}

/** A copy as DynamoDB would give it back: JSON, `undefined` members dropped. */
function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
