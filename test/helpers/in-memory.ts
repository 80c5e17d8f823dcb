/**
 * In-memory twins of the core's ports, for unit tests of the reconcile core. They record every
 * call; state transitions are set by the test (they do not simulate KMS — the fake does that).
 */

import type { DesiredStoreSpec } from '../../shared/domain/desired-schema.js';
import type { ReconcilerEvent } from '../../shared/domain/events.js';
import type { XksReading } from '../../shared/domain/health.js';
import { sameData } from '../../shared/domain/same-data.js';
import {
  type Approval,
  type ClusterView,
  DEFAULT_SETTINGS,
  type ObservedStore,
  type Scope,
  type Settings,
  type StoreStatus,
  type UnreachableMark,
} from '../../shared/domain/types.js';
import { AwsCallError, ConflictError } from '../../shared/errors.js';
import { makeLogger } from '../../shared/logger.js';
import type {
  Clock,
  CloudHsmPort,
  EventsPort,
  HealthPort,
  HistoryEntry,
  KmsPort,
  OperatorRequest,
  ReconcileDeps,
  ResolvedUpdate,
  SaveStatusOptions,
  ScopeRecords,
  SecretsPort,
  StatePort,
  StoreRecord,
  XksMetricsTarget,
} from '../../shared/reconcile/ports.js';

export class InMemoryKms implements KmsPort {
  readonly stores = new Map<string, ObservedStore>();
  readonly calls: Array<{ op: string; storeId?: string; update?: ResolvedUpdate }> = [];
  /** Make the next call of an operation throw this AWS error code. */
  failNext: { op: string; code: string } | null = null;

  put(store: ObservedStore): void {
    this.stores.set(store.id, { ...store });
  }

  async listStores(): Promise<ObservedStore[]> {
    this.calls.push({ op: 'listStores' });
    return [...this.stores.values()].map((s) => ({ ...s }));
  }

  async describeStore(ref: { id?: string; name?: string }): Promise<ObservedStore | null> {
    this.calls.push({ op: 'describeStore', ...(ref.id ? { storeId: ref.id } : {}) });
    const found = [...this.stores.values()].find((s) => s.id === ref.id || s.name === ref.name);
    return found ? { ...found } : null;
  }

  async connect(storeId: string): Promise<void> {
    this.mutate('connect', storeId, 'CONNECTING');
  }

  async disconnect(storeId: string): Promise<void> {
    this.mutate('disconnect', storeId, 'DISCONNECTING');
  }

  async update(storeId: string, update: ResolvedUpdate): Promise<void> {
    this.mutate('update', storeId, null, update);
  }

  mutating(): string[] {
    return this.calls.filter((c) => ['connect', 'disconnect', 'update'].includes(c.op)).map((c) => `${c.op} ${c.storeId}`);
  }

  private mutate(op: string, storeId: string, next: ObservedStore['connectionState'] | null, update?: ResolvedUpdate): void {
    this.calls.push({ op, storeId, ...(update ? { update } : {}) });
    if (this.failNext?.op === op) {
      const { code } = this.failNext;
      this.failNext = null;
      throw new AwsCallError(`KMS.${op}`, code, false, `injected ${code}`);
    }
    const store = this.stores.get(storeId);
    if (!store) throw new AwsCallError(`KMS.${op}`, 'CustomKeyStoreNotFoundException', false, 'no such store');
    if (next) this.stores.set(storeId, { ...store, connectionState: next, connectionErrorCode: null });
    if (update?.cloudHsmClusterId) this.stores.set(storeId, { ...this.stores.get(storeId)!, cloudHsmClusterId: update.cloudHsmClusterId });
  }
}

export class InMemoryCloudHsm implements CloudHsmPort {
  readonly clusters = new Map<string, ClusterView>();
  readonly calls: string[] = [];

  async describeClusters(clusterIds: readonly string[]): Promise<Map<string, ClusterView>> {
    this.calls.push(`describeClusters ${clusterIds.join(',')}`);
    return new Map(clusterIds.flatMap((id) => (this.clusters.has(id) ? [[id, this.clusters.get(id)!] as const] : [])));
  }

  async createHsm(clusterId: string, availabilityZone: string): Promise<{ hsmId: string }> {
    this.calls.push(`createHsm ${clusterId} ${availabilityZone}`);
    const cluster = this.clusters.get(clusterId);
    if (cluster) {
      this.clusters.set(clusterId, {
        ...cluster,
        creatingHsms: cluster.creatingHsms + 1,
        hsmAvailabilityZones: [...cluster.hsmAvailabilityZones, availabilityZone].sort(),
      });
    }
    return { hsmId: 'hsm-abcdefghijk' };
  }
}

export class InMemorySecrets implements SecretsPort {
  /** arn → versions, newest last; the last is AWSCURRENT. */
  readonly versions = new Map<string, Array<{ versionId: string; value: string }>>();
  readonly reads: string[] = [];
  /** Secrets whose reads fail with AccessDeniedException. */
  readonly denied = new Set<string>();

  put(arn: string, versionId: string, value: string): void {
    this.versions.set(arn, [...(this.versions.get(arn) ?? []), { versionId, value }]);
  }

  async currentVersion(secretArn: string): Promise<string | null> {
    if (this.denied.has(secretArn)) throw new AwsCallError('SecretsManager.DescribeSecret', 'AccessDeniedException', false, 'denied');
    return this.versions.get(secretArn)?.at(-1)?.versionId ?? null;
  }

  async getValue(secretArn: string, versionId: string): Promise<string> {
    this.reads.push(`${secretArn}@${versionId}`);
    const version = this.versions.get(secretArn)?.find((v) => v.versionId === versionId);
    if (!version) throw new AwsCallError('SecretsManager.GetSecretValue', 'ResourceNotFoundException', false, 'no such version');
    return version.value;
  }
}

export class InMemoryHealth implements HealthPort {
  /** The readings GetMetricData would return, by store id (stores absent have no datapoint). */
  readonly readings = new Map<string, Partial<XksReading>>();
  /** The store ids of each call. */
  readonly calls: string[][] = [];
  /** While true, every read fails as a throttled GetMetricData. */
  throttled = false;

  async readXksHealth(stores: readonly XksMetricsTarget[]): Promise<Map<string, XksReading>> {
    this.calls.push(stores.map((s) => s.storeId));
    if (this.throttled) throw new AwsCallError('CloudWatch.GetMetricData', 'Throttling', true, 'Rate exceeded');
    const none: XksReading = {
      certificateDaysToExpire: null,
      credentialAgeDays: null,
      keyManagerNotActive: null,
      proxyErrors: null,
      proxyLatencyMs: null,
    };
    return new Map(stores.map((s) => [s.storeId, { ...none, ...this.readings.get(s.storeId) }]));
  }
}

export class InMemoryEvents implements EventsPort {
  readonly published: ReconcilerEvent[] = [];
  /** While true, every publish fails as EventBridge would when unreachable. */
  down = false;

  async publish(events: readonly ReconcilerEvent[]): Promise<void> {
    if (this.down) throw new AwsCallError('EventBridge.PutEvents', 'InternalException', true, 'EventBridge unavailable');
    this.published.push(...events);
  }

  types(): string[] {
    return this.published.map((e) => e.detailType);
  }
}

export class InMemoryState implements StatePort {
  readonly desired = new Map<string, Record<string, unknown>>();
  readonly statuses = new Map<string, StoreStatus>();
  readonly approvals = new Map<string, Approval>();
  readonly outboxes = new Map<string, ReconcilerEvent[]>();
  /** Leases by store name, and by `id:<store id>` for the KMS store a name acts on. */
  readonly leases = new Map<string, { owner: string; until: number; storeId?: string | null }>();
  readonly historyEntries: Array<HistoryEntry & { name: string }> = [];
  settings: Settings = DEFAULT_SETTINGS;
  regionalIncidentSince: number | null = null;
  regionalIncidentAnnounced = false;
  /** The scope's open unreachable incident. */
  unreachable: UnreachableMark | null = null;
  /** The scope registry: shared by the states of one table (pass the same set to each). */
  readonly registry: Set<string>;
  writes = 0;
  /** Runs when a lease is taken, before the record is read: what another writer does meanwhile. */
  onLease: ((name: string) => void) | null = null;
  /** Stores whose lease write fails as a throttled DynamoDB call would, after the SDK's retries. */
  readonly throttledLeases = new Set<string>();
  /** The status writes (counted from 1) that fail as a throttled call would. */
  readonly failingSaves = new Set<number>();
  private saves = 0;

  constructor(
    readonly scope = { accountId: '111122223333', region: 'us-east-1' },
    registry = new Set<string>(),
  ) {
    this.registry = registry;
  }

  async loadAll(): Promise<ScopeRecords> {
    const names = new Set([...this.desired.keys(), ...this.statuses.keys()]);
    const records = await Promise.all([...names].map((n) => this.load(n)));
    return {
      records,
      settings: this.settings,
      settingsError: null,
      regionalIncidentSince: this.regionalIncidentSince,
      regionalIncidentAnnounced: this.regionalIncidentAnnounced,
      ...(this.unreachable && { unreachable: { ...this.unreachable } }),
    };
  }

  async load(name: string): Promise<StoreRecord> {
    const desired = this.desired.get(name);
    const status = this.statuses.get(name);
    const approval = this.approvals.get(name);
    return {
      name,
      desired: desired ? structuredClone(desired) : null,
      status: status ? structuredClone(status) : null,
      statusError: null,
      approval: approval ? { ...approval } : null,
      outbox: structuredClone(this.outboxes.get(name) ?? []),
    };
  }

  async acquireLease(name: string, owner: string, now: number, ttlMs: number, storeId: string | null = null): Promise<StoreRecord | null> {
    if (this.throttledLeases.has(name)) throw new AwsCallError('DynamoDB.UpdateItem', 'ThrottlingException', true, 'throttled');
    const free = (key: string) => {
      const lease = this.leases.get(key);
      return !lease || lease.owner === owner || lease.until < now;
    };
    if (!free(name) || (storeId !== null && !free(`id:${storeId}`))) return null;
    this.leases.set(name, { owner, until: now + ttlMs, storeId });
    if (storeId !== null) this.leases.set(`id:${storeId}`, { owner, until: now + ttlMs, storeId });
    this.onLease?.(name);
    return this.load(name);
  }

  async saveStatus(status: StoreStatus, owner: string, options: SaveStatusOptions = { outbox: [] }): Promise<void> {
    if (this.leases.get(status.name)?.owner !== owner) throw new ConflictError(`lease on "${status.name}" lost`);
    this.saves += 1;
    if (this.failingSaves.has(this.saves)) throw new AwsCallError('DynamoDB.PutItem', 'ThrottlingException', true, 'throttled');
    this.writes += 1;
    this.statuses.set(status.name, structuredClone(status));
    this.outboxes.set(status.name, structuredClone([...options.outbox]));
    if (options.holdLeaseUntil !== undefined)
      this.leases.set(status.name, { owner, until: options.holdLeaseUntil, storeId: this.leases.get(status.name)?.storeId ?? null });
    else this.releaseLease(status.name, owner);
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    const lease = this.leases.get(name);
    if (lease?.owner !== owner) return;
    this.leases.delete(name);
    if (lease.storeId != null && this.leases.get(`id:${lease.storeId}`)?.owner === owner) this.leases.delete(`id:${lease.storeId}`);
  }

  async appendHistory(name: string, entry: HistoryEntry): Promise<void> {
    this.historyEntries.push({ name, ...entry });
  }

  async putDesired(specs: readonly DesiredStoreSpec[], _now: number, changedBy: string | null = null): Promise<string[]> {
    const written: string[] = [];
    for (const spec of specs) {
      const previous = this.desired.get(spec.name);
      if (previous) {
        const { generation: _g, paused: _p, retryRequestedAt: _r, changedBy: _c, ...current } = previous;
        if (sameData(current, spec)) continue;
      }
      this.desired.set(spec.name, {
        ...spec,
        generation: Number(previous?.generation ?? 0) + 1,
        paused: previous?.paused ?? false,
        ...(typeof previous?.retryRequestedAt === 'number' && { retryRequestedAt: previous.retryRequestedAt }),
        changedBy,
      });
      written.push(spec.name);
    }
    return written;
  }

  async deleteDesired(name: string): Promise<boolean> {
    if (!this.desired.delete(name)) return false;
    this.approvals.delete(name);
    return true;
  }

  async deleteStatus(name: string, now: number): Promise<boolean> {
    const lease = this.leases.get(name);
    if (!this.statuses.has(name) || (lease !== undefined && lease.until >= now)) return false;
    this.statuses.delete(name);
    this.outboxes.delete(name);
    return true;
  }

  async request(name: string, request: OperatorRequest, now: number): Promise<void> {
    const item = this.desired.get(name);
    if (!item) throw new ConflictError(`no desired store named "${name}" in ${this.scope.accountId}/${this.scope.region}`);
    this.desired.set(name, {
      ...item,
      generation: Number(item.generation) + 1,
      ...(request === 'retry' ? { retryRequestedAt: now } : { paused: request === 'pause' }),
    });
  }

  async approve(name: string, approval: Approval): Promise<void> {
    this.approvals.set(name, { ...approval });
  }

  async getSettings(): Promise<Settings> {
    return this.settings;
  }

  async putSettings(settings: Settings): Promise<void> {
    this.settings = settings;
  }

  async setRegionalIncident(since: number | null, announced = false): Promise<void> {
    this.regionalIncidentSince = since;
    this.regionalIncidentAnnounced = since !== null && announced;
  }

  async openUnreachable(mark: UnreachableMark): Promise<UnreachableMark> {
    this.unreachable ??= { ...mark };
    return { ...this.unreachable };
  }

  async announceUnreachable(incidentId: string): Promise<void> {
    if (this.unreachable?.incidentId === incidentId) this.unreachable.announced = true;
  }

  async clearUnreachable(): Promise<void> {
    this.unreachable = null;
  }

  async registerScope(): Promise<boolean> {
    const key = `${this.scope.accountId}/${this.scope.region}`;
    if (this.registry.has(key)) return false;
    this.registry.add(key);
    return true;
  }

  async listScopes(): Promise<Scope[]> {
    return [...this.registry].sort().map((key) => {
      const [accountId = '', region = ''] = key.split('/');
      return { accountId, region };
    });
  }
}

export class ManualClock implements Clock {
  constructor(public current = Date.parse('2026-11-25T12:00:00Z')) {}
  now(): number {
    return this.current;
  }
  async sleep(ms: number): Promise<void> {
    this.current += ms;
  }
  advance(seconds: number): void {
    this.current += seconds * 1000;
  }
}

export interface InMemoryWorld {
  kms: InMemoryKms;
  cloudHsm: InMemoryCloudHsm;
  secrets: InMemorySecrets;
  health: InMemoryHealth;
  events: InMemoryEvents;
  state: InMemoryState;
  clock: ManualClock;
  logLines: string[];
  deps(owner?: string): ReconcileDeps;
}

/** A fresh in-memory world and a factory for the core's dependencies over it. */
export function inMemoryWorld(): InMemoryWorld {
  const world = {
    kms: new InMemoryKms(),
    cloudHsm: new InMemoryCloudHsm(),
    secrets: new InMemorySecrets(),
    health: new InMemoryHealth(),
    events: new InMemoryEvents(),
    state: new InMemoryState(),
    clock: new ManualClock(),
    logLines: [] as string[],
  };
  const logger = makeLogger({ logLevel: 'DEBUG' }, {}, (line) => world.logLines.push(line));
  return {
    ...world,
    deps: (owner = 'test-run') => ({ ...world, logger, metrics: null, owner, leaseTtlMs: 60_000 }),
  };
}
