/**
 * In-memory twins of the core's ports, for unit tests of the reconcile core. They record every
 * call; state transitions are set by the test (they do not simulate KMS — the fake does that). The
 * table's twin is `InMemoryState` (`shared/dev/state/`), which the simulator uses too.
 */

import { InMemoryState } from '../../shared/dev/state/in-memory-state.js';
import type { ReconcilerEvent } from '../../shared/domain/events.js';
import type { XksReading } from '../../shared/domain/health.js';
import type { ClusterView, ObservedStore } from '../../shared/domain/types.js';
import { AwsCallError, EventsRefusedError } from '../../shared/errors.js';
import { makeLogger } from '../../shared/logger.js';
import type {
  Clock,
  CloudHsmPort,
  EventsPort,
  HealthPort,
  KmsPort,
  ProbeResult,
  ProbeTarget,
  ReconcileDeps,
  ResolvedUpdate,
  SecretsPort,
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

  /** The probe's answer per store id (CloudHSM) or key id (XKS); absent: the store serves it. */
  readonly probeFailures = new Map<string, { errorCode: string; message: string }>();

  async probe(target: ProbeTarget): Promise<ProbeResult> {
    const ref = target.type === 'AWS_CLOUDHSM' ? target.storeId : target.keyId;
    const operation = target.type === 'AWS_CLOUDHSM' ? 'KMS.GenerateRandom' : 'KMS.Encrypt';
    this.calls.push({ op: 'probe', storeId: ref });
    const failure = this.probeFailures.get(ref);
    return failure ? { ok: false, operation, ...failure } : { ok: true };
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
  /** The ARNs of each DescribeSecret (a version read), in order. */
  readonly described: string[] = [];
  /** Secrets whose reads fail with AccessDeniedException. */
  readonly denied = new Set<string>();

  put(arn: string, versionId: string, value: string): void {
    this.versions.set(arn, [...(this.versions.get(arn) ?? []), { versionId, value }]);
  }

  async currentVersion(secretArn: string): Promise<string | null> {
    this.described.push(secretArn);
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

  /** Events (by eventId) EventBridge refuses, as PutEvents refuses single entries and takes the others. */
  readonly refused = new Set<string>();

  async publish(events: readonly ReconcilerEvent[]): Promise<void> {
    if (this.down) throw new AwsCallError('EventBridge.PutEvents', 'InternalException', true, 'EventBridge unavailable');
    const unsent = events.filter((e) => this.refused.has(e.detail.eventId));
    this.published.push(...events.filter((e) => !unsent.includes(e)));
    if (unsent.length > 0) throw new EventsRefusedError(unsent, `${unsent.length} of ${events.length} events were not accepted: InternalFailure`);
  }

  types(): string[] {
    return this.published.map((e) => e.detailType);
  }
}

/** A clock moved by hand; a sleep returns at once, moves it on and is recorded in `slept`. */
export class ManualClock implements Clock {
  readonly slept: number[] = [];
  constructor(public current = Date.parse('2026-11-25T12:00:00Z')) {}
  now(): number {
    return this.current;
  }
  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
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
