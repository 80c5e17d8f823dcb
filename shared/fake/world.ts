/**
 * The fake's whole state: one {@link Partition} per account and Region, the timeline of pending
 * transitions, the call / CloudTrail / EventBridge logs and the injected faults.
 *
 * Time is applied lazily: before each request the world is advanced to the current fake time,
 * running every due transition in due order with the world's time set to its due time — so no
 * timers run, and an outcome decided "when CONNECTING ends" sees the world as it was then.
 */
import type { FakeClock } from './clock.js';
import { CloudHsmBackend } from './cloudhsm.js';
import type { RecordedEvent } from './eventbridge.js';
import { KmsBackend } from './kms.js';
import { BoundedLog } from './log.js';
import * as random from './random.js';
import { SecretsBackend } from './secrets.js';
import type { XksProxy } from './xks.js';

/** An account and Region: the unit the fake partitions state by. */
export interface Scope {
  accountId: string;
  region: string;
}

export const DEFAULT_SCOPE: Readonly<Scope> = { accountId: '000000000000', region: 'us-east-1' };

/** What the service models need from the world. */
export interface WorldContext {
  /** Fake time, epoch milliseconds. */
  now(): number;
  /** A world-wide increasing sequence number (creation order, paging cursors). */
  nextSeq(): number;
  /** Runs `run` when fake time reaches now + `delaySeconds`. */
  schedule(delaySeconds: number, run: () => void): void;
  /** Custom key stores allowed per account and Region. */
  readonly storeQuota: number;
}

/** Who made an AWS call, from its signature headers. */
export interface Caller {
  accessKeyId: string;
  /** The role name (the fake takes it from `x-amz-security-token`; see `server.ts`). */
  roleName: string;
}

/** Everything an operation handler gets besides its input. */
export interface CallContext {
  world: World;
  partition: Partition;
  scope: Scope;
  caller: Caller;
}

/** One entry of `GET /_fake/calls`: never a request body or a secret. */
export interface CallRecord {
  time: string;
  accountId: string;
  region: string;
  service: string;
  operation: string;
  /** The store id/name, cluster id or secret the call was about, when any. */
  target?: string;
  /** The exception's `__type` when the call failed. */
  error?: string;
}

/** A transient API fault injected through `POST /_fake/faults`. */
export interface Fault {
  /** An operation name (e.g. `ConnectCustomKeyStore`) or `*` for every operation. */
  operation: string;
  /** The exception to return; absent for a latency-only fault. */
  error?: string;
  /** How many more calls it applies to; absent: until `DELETE /_fake/faults`. */
  count?: number;
  /** Chance (0-1) that a matching call is hit. */
  probability: number;
  latencyMs: number;
  /** Only calls of this account / Region; absent: every one. */
  accountId?: string;
  region?: string;
}

export class Partition {
  readonly clusters: CloudHsmBackend;
  readonly kms: KmsBackend;
  readonly secrets: SecretsBackend;
  /** XKS proxies by `uriEndpoint`. */
  readonly xksProxies = new Map<string, XksProxy>();

  constructor(
    readonly scope: Scope,
    world: WorldContext,
  ) {
    this.clusters = new CloudHsmBackend(world, scope.region);
    this.kms = new KmsBackend(world, this);
    this.secrets = new SecretsBackend(world, scope);
  }

  get isEmpty(): boolean {
    return (
      this.clusters.all().length === 0 &&
      this.kms.all().length === 0 &&
      this.xksProxies.size === 0 &&
      this.secrets.all().length === 0
    );
  }

  /** The admin view (`GET /_fake/state`): secrets appear only as fingerprints. */
  toState(): object {
    return {
      ...this.scope,
      clusters: this.clusters.all().map((cluster) => cluster.toState()),
      stores: this.kms.all().map((store) => {
        const clusterId = store.fields.cloudHsm?.clusterId;
        return store.toState(clusterId === undefined ? undefined : this.clusters.get(clusterId)?.kmsuser);
      }),
      xksProxies: [...this.xksProxies.values()].map((proxy) => proxy.toState()),
      secrets: this.secrets.all().map((secret) => secret.toState()),
    };
  }
}

interface Transition {
  due: number;
  run: () => void;
}

export function scopeKey(scope: Scope): string {
  return `${scope.accountId}/${scope.region}`;
}

export class World implements WorldContext {
  readonly partitions = new Map<string, Partition>();
  readonly calls = new BoundedLog<CallRecord>();
  /** Call counts per scope key, then per `Service.Operation` (complete, unlike the bounded log). */
  readonly counts = new Map<string, Map<string, number>>();
  readonly events = new BoundedLog<RecordedEvent>();
  readonly cloudtrail = new BoundedLog<{ scope: Scope; event: object }>();
  faults: Fault[] = [];
  #time: number;
  #seq = 0;
  /** Pending transitions, sorted by due time, then scheduling order (inserted after equal dues). */
  #timeline: Transition[] = [];

  constructor(
    readonly clock: FakeClock,
    readonly storeQuota: number,
  ) {
    this.#time = clock.now();
  }

  now(): number {
    return this.#time;
  }

  nextSeq(): number {
    return ++this.#seq;
  }

  schedule(delaySeconds: number, run: () => void): void {
    const transition = { due: this.#time + delaySeconds * 1000, run };
    let index = this.#timeline.length;
    while (index > 0 && this.#timeline[index - 1]!.due > transition.due) index--;
    this.#timeline.splice(index, 0, transition);
  }

  /** Applies every transition due by the clock's current time, in due order. */
  sync(): void {
    const target = Math.max(this.#time, this.clock.now());
    while (this.#timeline.length > 0 && this.#timeline[0]!.due <= target) {
      const transition = this.#timeline.shift()!;
      this.#time = transition.due;
      transition.run();
    }
    this.#time = target;
  }

  get pendingTransitions(): number {
    return this.#timeline.length;
  }

  partition(scope: Scope): Partition {
    const key = scopeKey(scope);
    let partition = this.partitions.get(key);
    if (!partition) {
      partition = new Partition({ accountId: scope.accountId, region: scope.region }, this);
      this.partitions.set(key, partition);
    }
    return partition;
  }

  recordCall(record: CallRecord): void {
    this.calls.push(record);
    const key = scopeKey(record);
    let counts = this.counts.get(key);
    if (!counts) this.counts.set(key, (counts = new Map()));
    const name = `${record.service}.${record.operation}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }

  /** The fault that hits this call, if any; a fault with a count is used up by its last hit. */
  takeFault(operation: string, scope: Scope): Fault | undefined {
    const fault = this.faults.find(
      (f) =>
        (f.operation === '*' || f.operation === operation) &&
        (f.accountId === undefined || f.accountId === scope.accountId) &&
        (f.region === undefined || f.region === scope.region) &&
        random.unit() < f.probability,
    );
    if (fault?.count !== undefined && --fault.count === 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault;
  }

  /** An empty world. Fake time keeps running; log cursors stay valid. */
  reset(): void {
    this.partitions.clear();
    this.#timeline = [];
    this.calls.clear();
    this.counts.clear();
    this.events.clear();
    this.cloudtrail.clear();
    this.faults = [];
  }
}
