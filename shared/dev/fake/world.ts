/**
 * The fake's whole state: one {@link Partition} per account and Region, the timeline of pending
 * transitions, the call / CloudTrail / EventBridge logs and the injected faults.
 *
 * Time is applied lazily: before each request the world is advanced to the current fake time,
 * running every due transition in due order with the world's time set to its due time — so no
 * timers run, and an outcome decided "when CONNECTING ends" sees the world as it was then.
 */

import type { FakeClock } from './clock.js';
import { CloudHsmBackend } from './cloudhsm/model.js';
import { CloudWatchBackend } from './cloudwatch/model.js';
import { type Caller, type Scope, scopeKey, type WorldContext } from './context.js';
import { LimitExceededException } from './errors.js';
import type { RecordedEvent } from './eventbridge/model.js';
import { IamBackend } from './iam/model.js';
import { KeyBackend } from './kms/keys.js';
import { KmsBackend } from './kms/model.js';
import type { XksProxy } from './kms/xks-proxy.js';
import { BoundedLog } from './log.js';
import * as random from './random.js';
import { SecretsBackend } from './secrets/model.js';
import { SqsBackend } from './sqs/model.js';
import { StsBackend } from './sts/model.js';
import type { Reply } from './wire.js';

/** The most account-Region partitions one world holds by default (`POST /_fake/reset` empties them). */
export const MAX_PARTITIONS = 256;

const MiB = 1024 * 1024;
/** Byte budgets of the logs: the newest entries that fit are kept. */
export const CALL_LOG_BYTES = 4 * MiB;
export const EVENT_LOG_BYTES = 8 * MiB;
export const CLOUDTRAIL_LOG_BYTES = 8 * MiB;

/** Everything an operation handler gets besides its input. */
export interface CallContext {
  world: World;
  partition: Partition;
  scope: Scope;
  caller: Caller;
}

/** An AWS operation: parse the input, call the model, return the reply to serialise. */
export type Operation = (call: CallContext, input: unknown) => Reply;

/** One entry of `GET /_fake/calls`: never a request body or a secret. */
export interface CallRecord {
  time: string;
  accountId: string;
  region: string;
  service: string;
  operation: string;
  /** The caller's ARN (an IAM user, or an assumed-role session). */
  principal: string;
  /** The store id/name, cluster id or secret the call was about, when any. */
  target?: string;
  /** The exception's `__type` when the call failed. */
  error?: string;
  /** IAM refused the call. */
  denied?: true;
}

/**
 * A transient API fault injected through `POST /_fake/faults`: the AWS side, hitting each attempt of
 * a real SDK client against the fake (DynamoDB through `DynamoStateAdapter` included). Code running
 * on the in-memory state double breaks its table with `InMemoryState.faults` (`shared/dev/state/`) instead.
 */
export interface Fault {
  /** An operation name (e.g. `ConnectCustomKeyStore`) or `*` for every operation. */
  operation: string;
  /** The exception to return; absent for a latency-only fault. */
  error?: string;
  /** How many more calls it applies to; absent: until `DELETE /_fake/faults`. */
  count?: number;
  /** How many matching calls still pass before it starts to hit; absent: none. */
  after?: number;
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
  /** The KMS keys in the custom key stores. */
  readonly keys: KeyBackend;
  readonly secrets: SecretsBackend;
  readonly cloudWatch: CloudWatchBackend;
  readonly sqs: SqsBackend;
  /** XKS proxies by `uriEndpoint`. */
  readonly xksProxies = new Map<string, XksProxy>();

  constructor(
    readonly scope: Scope,
    world: WorldContext,
  ) {
    this.clusters = new CloudHsmBackend(world, scope.region);
    this.kms = new KmsBackend(world, this.clusters, this.xksProxies);
    this.keys = new KeyBackend(world, scope, this.kms, this.clusters, this.xksProxies);
    this.secrets = new SecretsBackend(world, scope);
    this.cloudWatch = new CloudWatchBackend(this.kms, this.xksProxies);
    this.sqs = new SqsBackend(scope);
  }

  get isEmpty(): boolean {
    return (
      this.clusters.all().length === 0 &&
      this.kms.all().length === 0 &&
      this.keys.all().length === 0 &&
      this.xksProxies.size === 0 &&
      this.secrets.all().length === 0 &&
      this.cloudWatch.isEmpty &&
      this.sqs.isEmpty
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
      keys: this.keys.all().map(({ id, arn, origin, customKeyStoreId, xksKeyId }) => ({ id, arn, origin, customKeyStoreId, xksKeyId })),
      xksProxies: [...this.xksProxies.values()].map((proxy) => proxy.toState()),
      secrets: this.secrets.all().map((secret) => secret.toState()),
      metrics: this.cloudWatch.toState(),
    };
  }
}

interface Transition {
  due: number;
  run: () => void;
}

export class World implements WorldContext {
  readonly partitions = new Map<string, Partition>();
  readonly calls = new BoundedLog<CallRecord>(CALL_LOG_BYTES);
  /** Call counts per scope key, then per `Service.Operation` (complete, unlike the bounded log). */
  readonly counts = new Map<string, Map<string, number>>();
  readonly events = new BoundedLog<RecordedEvent>(EVENT_LOG_BYTES);
  readonly cloudtrail = new BoundedLog<{ scope: Scope; event: object }>(CLOUDTRAIL_LOG_BYTES);
  faults: Fault[] = [];
  /** Roles and assumed-role sessions: account-wide, not per Region. */
  readonly sts = new StsBackend();
  /** IAM users, organizations and event bus policies: account-wide. */
  readonly iam = new IamBackend();
  #time: number;
  #seq = 0;
  /** Pending transitions, sorted by due time, then scheduling order (inserted after equal dues). */
  #timeline: Transition[] = [];

  constructor(
    readonly clock: FakeClock,
    readonly storeQuota: number,
    /** A fleet benchmark raises it; everything else keeps the default. */
    readonly maxPartitions = MAX_PARTITIONS,
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

  /** The partition of an account and Region, created empty on first use (at most `maxPartitions`). */
  partition(scope: Scope): Partition {
    const key = scopeKey(scope);
    let partition = this.partitions.get(key);
    if (!partition) {
      if (this.partitions.size >= this.maxPartitions) {
        throw new LimitExceededException(
          `The fake holds at most ${this.maxPartitions} account-Region partitions; ${key} would be one more. ` +
            'Reset the fake (POST /_fake/reset) to start again.',
        );
      }
      partition = new Partition({ accountId: scope.accountId, region: scope.region }, this);
      this.partitions.set(key, partition);
    }
    return partition;
  }

  /** Logs a call; `counted` also adds it to the per-operation counts (calls that reached an operation). */
  recordCall(record: CallRecord, counted: boolean): void {
    this.calls.push(record);
    if (!counted) return;
    const key = scopeKey(record);
    const counts = this.counts.get(key) ?? new Map<string, number>();
    this.counts.set(key, counts);
    const name = `${record.service}.${record.operation}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }

  /** The fault that hits this call, if any (one still letting `after` calls pass lets this one pass); a fault with a count is used up by its last hit. */
  takeFault(operation: string, scope: Scope): Fault | undefined {
    const fault = this.faults.find(
      (f) =>
        (f.operation === '*' || f.operation === operation) &&
        (f.accountId === undefined || f.accountId === scope.accountId) &&
        (f.region === undefined || f.region === scope.region) &&
        random.unit() < f.probability,
    );
    if (fault?.after !== undefined && fault.after > 0) {
      fault.after -= 1;
      return undefined;
    }
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
    this.sts.reset();
    this.iam.reset();
  }
}
