/**
 * The desired-state table in memory: the one `StatePort` double, used by the unit tests and the
 * simulator, held to the same contract suite as `DynamoStateAdapter`. It keeps every promise of the
 * port: a lease per store name and per KMS store id (taken in the adapter's order, name first),
 * status writes only by the lease holder with their outbox, generations moved only by a changed spec
 * or an operator request, the settings and regional-incident mark, the scope's unreachable mark, and
 * the table-wide scope registry. Items are copied as JSON on the way in and out, as DynamoDB stores
 * them, so nothing a caller holds is shared with the table; there are no HTTP round trips, which
 * would cost most of a simulated seed's time.
 *
 * Its items are open, for tests to arrange and inspect (`desired`, `statuses`, `leases`, ...). Status
 * items are typed here, so they are not validated on read as the adapter validates raw ones: a test
 * that puts a corrupt status shows the core exactly that status.
 *
 * Faults: {@link InMemoryState.faults} makes the table's calls fail as the adapter reports a throttled
 * or failing DynamoDB call once the SDK's retries are spent. That is the only way to break the state
 * double; AWS API faults of the other services (each attempt, before the SDK retries) are the fake's
 * `/_fake/faults`, which never touches this table.
 */
import { randomUUID } from 'node:crypto';
import type { DesiredStoreSpec } from '../../domain/desired-schema.js';
import type { ReconcilerEvent } from '../../domain/events.js';
import { sameData } from '../../domain/same-data.js';
import { personOf, type Signature } from '../../domain/signatures.js';
import { operatorPartitionKey, SETTINGS_SUBJECT, signatureSortKey, storeSubject } from '../../domain/table-keys.js';
import { DEFAULT_SETTINGS, type Scope, type Settings, type StoreStatus, type UnreachableMark } from '../../domain/types.js';
import { AwsCallError, ConflictError } from '../../errors.js';
import { scopeLabel } from '../../fleet/scope.js';
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
} from '../../reconcile/ports.js';

/** The DynamoDB operation behind each call of the port, named in the errors of injected faults. */
const DYNAMODB_OPERATIONS = {
  loadAll: 'Query',
  load: 'GetItem',
  acquireLease: 'UpdateItem',
  saveStatus: 'PutItem',
  releaseLease: 'UpdateItem',
  appendHistory: 'PutItem',
  putDesired: 'PutItem',
  sign: 'PutItem',
  deleteDesired: 'DeleteItem',
  deleteStatus: 'DeleteItem',
  request: 'UpdateItem',
  getSettings: 'GetItem',
  putSettings: 'UpdateItem',
  loadSettings: 'Query',
  recordSettingsInForce: 'PutItem',
  announceSettings: 'UpdateItem',
  openRegionalIncident: 'UpdateItem',
  announceRegionalIncident: 'UpdateItem',
  endRegionalIncident: 'UpdateItem',
  openUnreachable: 'UpdateItem',
  announceUnreachable: 'UpdateItem',
  clearUnreachable: 'UpdateItem',
  registerScope: 'PutItem',
  listScopes: 'Query',
  closeScope: 'PutItem',
} as const satisfies Record<Exclude<keyof StatePort, 'scope'>, string>;

/** A call of the state port that a fault can break. */
export type StateOperation = keyof typeof DYNAMODB_OPERATIONS;

/** Which calls of an operation a fault breaks. */
export interface FaultOptions {
  /** How many calls fail (default 1); `Infinity` for every call until {@link StateFaults.clear}. */
  count?: number;
  /** Only calls for this store name (the calls that take one: `load`, `acquireLease`, `saveStatus`, ...). */
  store?: string;
  /** How many matching calls succeed before the first failure (default 0). */
  after?: number;
  /** The error's message (default `injected fault`). */
  message?: string;
}

interface Fault {
  operation: StateOperation;
  error: string;
  store: string | undefined;
  message: string;
  skip: number;
  left: number;
}

/** The faults armed on one {@link InMemoryState}. */
export class StateFaults {
  #armed: Fault[] = [];

  /**
   * Makes calls of `operation` fail with the DynamoDB exception `error` (a retryable `AwsCallError`
   * naming the DynamoDB operation behind the call), before the call changes anything.
   *
   * @example state.faults.fail('saveStatus', 'ThrottlingException', { after: 1 }) // the second status write fails
   */
  fail(operation: StateOperation, error: string, options: FaultOptions = {}): void {
    this.#armed.push({
      operation,
      error,
      store: options.store,
      message: options.message ?? 'injected fault',
      skip: options.after ?? 0,
      left: options.count ?? 1,
    });
  }

  /** Disarms every fault. */
  clear(): void {
    this.#armed = [];
  }

  /** Throws when an armed fault takes this call (the table calls it first thing in each operation). */
  check(operation: StateOperation, store?: string): void {
    const fault = this.#armed.find((f) => f.operation === operation && (f.store === undefined || f.store === store));
    if (!fault) return;
    if (fault.skip > 0) {
      fault.skip -= 1;
      return;
    }
    fault.left -= 1;
    if (fault.left <= 0) this.#armed = this.#armed.filter((f) => f !== fault);
    throw new AwsCallError(`DynamoDB.${DYNAMODB_OPERATIONS[operation]}`, fault.error, true, fault.message);
  }
}

/** The table-wide scope registry: per `<account>/<region>`, its registration and the registration the reconciler closed (if any). */
export type ScopeRegistry = Map<string, { registration: string; closed: string | null }>;

/** A lease: by store name, or by `id:<store id>` for the KMS store a name acts on. */
export interface Lease {
  owner: string;
  until: number;
  /** The KMS store id leased with a name lease. */
  storeId?: string | null;
}

/** The key of the lease on a KMS store id in {@link InMemoryState.leases}. */
const idLease = (storeId: string): string => `id:${storeId}`;

export class InMemoryState implements StatePort {
  readonly desired = new Map<string, Record<string, unknown>>();
  readonly statuses = new Map<string, StoreStatus>();
  /** Signatures by signer and what they sign (the table's key), of every scope: see {@link InMemoryState.registry}. */
  readonly signatures: Map<string, Signature>;
  readonly outboxes = new Map<string, ReconcilerEvent[]>();
  readonly leases = new Map<string, Lease>();
  readonly historyEntries: Array<HistoryEntry & { name: string }> = [];
  settings: Settings = DEFAULT_SETTINGS;
  /** The guarded settings in force, as the reconciler recorded them. */
  settingsInForce: SettingsInForce | null = null;
  /** The scope's open regional incident. */
  regionalIncident: RegionalIncident | null = null;
  /** The scope's open unreachable incident. */
  unreachable: UnreachableMark | null = null;
  /** The table's scope registry: pass one to the states of every scope of one table. */
  readonly registry: ScopeRegistry;
  /** Status writes made. */
  writes = 0;
  /** Runs when a lease is taken, before the record is read: what another writer does meanwhile. */
  onLease: ((name: string) => void) | null = null;
  /** The faults armed on this table: the one way to make its calls fail. */
  readonly faults = new StateFaults();

  constructor(
    readonly scope: Scope = { accountId: '111122223333', region: 'us-east-1' },
    registry: ScopeRegistry = new Map(),
    signatures = new Map<string, Signature>(),
  ) {
    this.registry = registry;
    this.signatures = signatures;
  }

  async loadAll(): Promise<ScopeRecords> {
    this.faults.check('loadAll');
    const names = new Set([...this.desired.keys(), ...this.statuses.keys()]);
    return {
      records: [...names].map((name) => this.#record(name)),
      settings: copy(this.settings),
      settingsSignatures: this.#signaturesOf(SETTINGS_SUBJECT),
      settingsError: null,
      settingsInForce: copy(this.settingsInForce),
      regionalIncident: copy(this.regionalIncident),
      ...(this.unreachable && { unreachable: copy(this.unreachable) }),
    };
  }

  async load(name: string): Promise<StoreRecord> {
    this.faults.check('load', name);
    return this.#record(name);
  }

  async acquireLease(name: string, owner: string, now: number, ttlMs: number, storeId: string | null = null): Promise<StoreRecord | null> {
    this.faults.check('acquireLease', name);
    const lease = { owner, until: now + ttlMs };
    if (!this.#take(name, { ...lease, storeId }, now)) return null;
    if (storeId !== null && !this.#take(idLease(storeId), lease, now)) {
      this.#release(name, owner);
      return null;
    }
    this.onLease?.(name);
    // Read after the lease is ours, so the record reflects every write of the previous holder.
    return this.#record(name);
  }

  async saveStatus(status: StoreStatus, owner: string, options: SaveStatusOptions): Promise<void> {
    this.faults.check('saveStatus', status.name);
    const lease = this.leases.get(status.name);
    if (lease?.owner !== owner || lease.until < options.now) {
      throw new ConflictError(`lease on store "${status.name}" ran out or was lost before its status was written`);
    }
    this.writes += 1;
    this.statuses.set(status.name, copy(status));
    this.outboxes.set(status.name, copy([...options.outbox]));
    if (options.holdLeaseUntil !== undefined) this.leases.set(status.name, { ...lease, until: options.holdLeaseUntil });
    else this.#release(status.name, owner);
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    this.faults.check('releaseLease', name);
    this.#release(name, owner);
  }

  async appendHistory(name: string, entry: HistoryEntry): Promise<void> {
    this.faults.check('appendHistory', name);
    this.historyEntries.push({ name, ...copy(entry) });
  }

  async putDesired(specs: readonly DesiredStoreSpec[], _now: number, changedBy: string | null = null): Promise<string[]> {
    const written: string[] = [];
    for (const spec of specs) {
      const existing = this.desired.get(spec.name);
      if (existing) {
        const { generation: _g, paused: _p, retryRequestedAt: _r, changedBy: _c, ...current } = existing;
        if (sameData(current, spec)) continue;
      }
      // A fault breaks the write of a changed spec: the stores before it stay written.
      this.faults.check('putDesired', spec.name);
      this.desired.set(spec.name, {
        ...copy(spec),
        generation: Number(existing?.generation ?? 0) + 1,
        paused: existing?.paused === true,
        // An operator's retry stays the one it was: a new generation does not reset the login budget.
        ...(typeof existing?.retryRequestedAt === 'number' ? { retryRequestedAt: existing.retryRequestedAt } : {}),
        changedBy,
      });
      written.push(spec.name);
    }
    return written;
  }

  async sign(signature: Signature): Promise<void> {
    this.faults.check('sign');
    const { signer, scopePk, subject, generation, digest } = signature;
    this.signatures.set(`${signer}|${signatureSortKey(scopePk, subject, generation, digest)}`, copy(signature));
  }

  async deleteDesired(name: string): Promise<boolean> {
    this.faults.check('deleteDesired', name);
    return this.desired.delete(name);
  }

  async deleteStatus(name: string, owner: string, now: number): Promise<boolean> {
    this.faults.check('deleteStatus', name);
    const lease = this.leases.get(name);
    if (lease?.owner !== owner || lease.until < now || (this.outboxes.get(name) ?? []).length > 0) return false;
    this.statuses.delete(name);
    this.outboxes.delete(name);
    this.#release(name, owner);
    return true;
  }

  async request(name: string, request: OperatorRequest, now: number): Promise<void> {
    this.faults.check('request', name);
    const item = this.desired.get(name);
    if (!item) throw new ConflictError(`no desired store named "${name}" in ${this.scope.accountId}/${this.scope.region}`);
    const set = request === 'retry' ? { retryRequestedAt: now } : { paused: request === 'pause' };
    this.desired.set(name, { ...item, ...set, generation: Number(item.generation ?? 0) + 1 });
  }

  async getSettings(): Promise<Settings> {
    this.faults.check('getSettings');
    return copy(this.settings);
  }

  async putSettings(settings: Settings): Promise<void> {
    this.faults.check('putSettings');
    const { approvalForCloudHsm, generation: _written, ...rest } = settings;
    // As the adapter reads it back: the approval rule is present only when on.
    this.settings = {
      ...copy(rest),
      ...(approvalForCloudHsm === true ? { approvalForCloudHsm } : {}),
      generation: (this.settings.generation ?? 0) + 1,
    };
  }

  async loadSettings(): Promise<SettingsRecords> {
    this.faults.check('loadSettings');
    return {
      settings: copy(this.settings),
      settingsSignatures: this.#signaturesOf(SETTINGS_SUBJECT),
      settingsError: null,
      settingsInForce: copy(this.settingsInForce),
    };
  }

  async recordSettingsInForce(
    record: Omit<SettingsInForce, 'revision'>,
    revision: number | null,
  ): Promise<{ record: SettingsInForce | null; written: boolean }> {
    this.faults.check('recordSettingsInForce');
    if ((this.settingsInForce?.revision ?? null) !== revision) return { record: copy(this.settingsInForce), written: false };
    this.settingsInForce = copy({ ...record, revision: (revision ?? 0) + 1 });
    return { record: copy(this.settingsInForce), written: true };
  }

  async announceSettings(announced: string): Promise<void> {
    this.faults.check('announceSettings');
    if (this.settingsInForce?.announced === announced) this.settingsInForce = { ...this.settingsInForce, outbox: [] };
  }

  async openRegionalIncident(since: number, page: ReconcilerEvent): Promise<RegionalIncident & { opened: boolean }> {
    this.faults.check('openRegionalIncident');
    const opened = this.regionalIncident === null;
    this.regionalIncident ??= { since, outbox: copy([page]) };
    return { ...copy(this.regionalIncident), opened };
  }

  async announceRegionalIncident(since: number): Promise<void> {
    this.faults.check('announceRegionalIncident');
    if (this.regionalIncident?.since === since) this.regionalIncident = { since, outbox: [] };
  }

  async endRegionalIncident(since: number): Promise<void> {
    this.faults.check('endRegionalIncident');
    if (this.regionalIncident?.since === since) this.regionalIncident = null;
  }

  async openUnreachable(mark: UnreachableMark): Promise<UnreachableMark> {
    this.faults.check('openUnreachable');
    this.unreachable ??= copy(mark);
    return copy(this.unreachable);
  }

  async announceUnreachable(incidentId: string): Promise<void> {
    this.faults.check('announceUnreachable');
    if (this.unreachable?.incidentId === incidentId) this.unreachable = { ...this.unreachable, announced: true };
  }

  async clearUnreachable(incidentId: string): Promise<void> {
    this.faults.check('clearUnreachable');
    if (this.unreachable?.incidentId === incidentId) this.unreachable = null;
  }

  async registerScope(): Promise<boolean> {
    this.faults.check('registerScope');
    const key = scopeLabel(this.scope);
    const there = this.registry.has(key);
    this.registry.set(key, { registration: randomUUID(), closed: null });
    return !there;
  }

  async listScopes(): Promise<Scope[]> {
    this.faults.check('listScopes');
    return [...this.registry.entries()]
      .filter(([, entry]) => entry.closed !== entry.registration)
      .map(([key]) => key)
      .sort()
      .map((key) => {
        const [accountId = '', region = ''] = key.split('/');
        return { accountId, region };
      });
  }

  async closeScope(_now: number): Promise<boolean> {
    this.faults.check('closeScope');
    const entry = this.registry.get(scopeLabel(this.scope));
    const owesPage = (this.settingsInForce?.outbox.length ?? 0) > 0 || [...this.outboxes.values()].some((outbox) => outbox.length > 0);
    if (!entry || this.desired.size > 0 || this.statuses.size > 0 || this.regionalIncident !== null || owesPage) return false;
    entry.closed = entry.registration;
    return true;
  }

  /** Takes the lease `key` for `lease.owner` unless another owner holds it unexpired at `now`. */
  #take(key: string, lease: Lease, now: number): boolean {
    const held = this.leases.get(key);
    if (held !== undefined && held.owner !== lease.owner && held.until >= now) return false;
    this.leases.set(key, lease);
    return true;
  }

  /** Frees the name lease of `owner` and the KMS store id lease taken with it; nothing when another owner holds it. */
  #release(name: string, owner: string): void {
    const lease = this.leases.get(name);
    if (lease?.owner !== owner) return;
    this.leases.delete(name);
    if (lease.storeId != null && this.leases.get(idLease(lease.storeId))?.owner === owner) this.leases.delete(idLease(lease.storeId));
  }

  /** This scope's signatures of one subject (as the adapter reads them: only those of a signer a policy lets sign). */
  #signaturesOf(subject: string): Signature[] {
    const scopePk = operatorPartitionKey(this.scope);
    return [...this.signatures.values()].filter((s) => s.scopePk === scopePk && s.subject === subject && personOf(s.signer) !== null).map(copy);
  }

  #record(name: string): StoreRecord {
    const desired = this.desired.get(name);
    const status = this.statuses.get(name);
    return {
      name,
      desired: desired ? copy(desired) : null,
      status: status ? copy(status) : null,
      statusError: null,
      signatures: this.#signaturesOf(storeSubject(name)),
      outbox: copy(this.outboxes.get(name) ?? []),
    };
  }
}

/** A copy as DynamoDB would give it back: JSON, `undefined` members dropped. */
function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
