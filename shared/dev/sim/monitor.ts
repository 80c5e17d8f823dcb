/**
 * The invariants, checked as a seed runs: before and after every port call (it is the conductor's
 * observer), after every step, and at the end. Ground truth comes from the fake (its state, the
 * events it received) and from what the simulator itself did to the world (it is the world's
 * witness); never from the reconciler's own view. A violation carries the step and a message; the
 * seed's trace shows how it came about.
 */
import { eventSchemas, type ReconcilerEvent } from '../../domain/events.js';
import { type EventDetailType, LOGIN_BUDGET_MAX, type StoreStatus } from '../../domain/types.js';
import { AwsCallError, errorMessage } from '../../errors.js';
import type { ResolvedUpdate, SaveStatusOptions } from '../../reconcile/ports.js';
import type { Call, CallObserver, CallResult } from './conductor.js';
import type { FakeAdmin, FakeCluster, FakeEvent, FakeStore, FakeWorld } from './fake-admin.js';
import { describeCall, describeResult, type Names } from './trace.js';
import type { SimStore, SimWorld, Witness } from './world.js';

/** The invariants, by the name the figures use. */
export const INVARIANTS = {
  converges: 'converges, or hands over by design, once the chaos stops',
  heals: 'heals every store once a human mends the world and releases it',
  noStateRejection: "no call rejected for the store's state",
  noDuplicateCall: 'no duplicate mutating call',
  healthyLeftAlone: 'no healthy store disconnected',
  newSecretOnly: 'no password or credential sent without a new version',
  loginBudget: 'no connect or password past the login budget',
  oneEscalation: 'exactly one Repair Escalated per incident',
  noLostEscalation: 'no recorded Repair Escalated lost',
  escalationHeld: 'an escalated store is left alone until a human acts',
  restraint: 'no mutating call in observe/plan mode, paused or under the kill switch',
  trueManualChange: 'no manual change reported that nobody made',
  manualHold: 'a store disconnected by hand (onManualDisconnect: hold) is not reconnected until released',
  validEvents: 'every event validates against its schema',
  noSecretLeak: 'no secret in any output',
} as const;

export type Invariant = keyof typeof INVARIANTS;

export interface Violation {
  invariant: Invariant;
  step: string;
  message: string;
}

/** Errors of a mutating call that mean it was made against a store (or cluster) in the wrong state. */
const STATE_REJECTIONS = new Set([
  'CustomKeyStoreInvalidStateException',
  'CustomKeyStoreNotFoundException',
  'CloudHsmClusterNotActiveException',
  'CloudHsmClusterInvalidConfigurationException',
]);

/** The port calls that change AWS (`port.method`). */
export const MUTATING = new Set(['kms.connect', 'kms.disconnect', 'kms.update', 'cloudHsm.createHsm']);
/** Calls whose arguments or answer carry a secret by design (the update sends it; the read returns it). */
const CARRIES_SECRET = new Set(['kms.update', 'secrets.getValue']);

/** Whether the reconciler knows a secret version reached the store: its answer arrived, or it did not. */
type Sent = 'confirmed' | 'unconfirmed';

export class Monitor implements CallObserver, Witness {
  readonly checks = new Map<Invariant, number>();
  /** As checked: times and ids as the product wrote them (see `report`). */
  readonly violations: Violation[] = [];
  readonly #trace: string[] = [];
  /** What the seed exercised: error codes failed, crashes, lost answers, faults, operator actions... */
  readonly coverage = new Map<string, number>();
  /** Mutating calls made and events published so far: a step that adds none was quiet. */
  activity = 0;
  step = 'setup';
  /** Kmsuser lock-outs by failed logins (not set by hand). Within one budget they are violations of `loginBudget` first; across operator resets they are counted here. */
  lockouts = 0;

  #world: SimWorld | null = null;
  #fake: FakeWorld = { nowMs: 0, stores: [], clusters: [] };
  readonly #secrets = new Set<string>();
  #eventCursor = 0;
  readonly #published: FakeEvent[] = [];
  /** Event ids received: a repeat (a run re-sending what a crashed run sent) is one event, as subscribers see it. */
  readonly #eventIds = new Set<string>();
  readonly #escalations = new Map<string, Set<string>>();
  /** Repair Escalated events recorded in a status outbox that took effect: eventId → store and incident. */
  readonly #recorded = new Map<string, string>();
  /** The last status written per store (what the table holds). */
  readonly #saved = new Map<string, StoreStatus>();
  /** Per store, how many times people may have released it, and that count when it was last escalated. */
  readonly #releases = new Map<string, number>();
  readonly #escalatedAt = new Map<string, number>();
  /** Stores disconnected by hand, not yet reported: the release count then, and whether the reconciler could tell it was not its own disconnect. */
  readonly #byHand = new Map<string, { releases: number; telling: boolean }>();
  readonly #sent = new Map<string, Map<string, Sent>>();
  /** Per cluster, kmsuser's failed logins when an operator last reset the store's budget (or lower, after a good login). */
  readonly #loginBase = new Map<string, number>();
  readonly #lockedByHand = new Set<string>();
  readonly #locked = new Set<string>();

  /** `start`: fake time when the seed began; the trace counts time from there. */
  constructor(
    private readonly admin: FakeAdmin,
    private readonly start: number,
  ) {}

  attach(world: SimWorld): void {
    this.#world = world;
    for (const store of world.stores) this.#sent.set(store.name, new Map([[store.secret.current, 'confirmed']]));
  }

  get names(): Names {
    return {
      store: (id) => this.#world?.storeById(id)?.name ?? id,
      secret: (arn) => this.#world?.stores.find((s) => s.secret.arn === arn)?.secret.name ?? arn,
    };
  }

  #push(line: string): void {
    this.#trace.push(`[${this.step}] ${line}`);
  }

  /**
   * The trace and the violations as they read on every replay of the seed: fake time counted from
   * the seed's start, incident and event ids (hashes that include the time) numbered in order of
   * appearance. Made only when asked for: most seeds' traces are never read.
   */
  report(): { trace: string[]; violations: Violation[] } {
    const ids = new Map<string, string>();
    const counts = { inc: 0, evt: 0 };
    const relative = (text: string): string =>
      text
        .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, (iso) => `T+${Math.round((Date.parse(iso) - this.start) / 1000)}s`)
        .replace(/\b(inc|evt)-[0-9a-f]{16}\b/g, (id, kind: 'inc' | 'evt') => {
          const known = ids.get(id);
          if (known !== undefined) return known;
          counts[kind] += 1;
          const label = `${kind}#${counts[kind]}`;
          ids.set(id, label);
          return label;
        });
    const trace = this.#trace.map(relative);
    return { trace, violations: this.violations.map((v) => ({ ...v, message: relative(v.message) })) };
  }

  // ----------------------------------------------------------------------------------------------
  // Witness: what people did

  note(line: string): void {
    this.#scan(line, 'the trace');
    this.#push(line);
  }

  secret(value: string): void {
    this.#secrets.add(value);
  }

  tally(feature: string, count = 1): void {
    this.coverage.set(feature, (this.coverage.get(feature) ?? 0) + count);
  }

  released(store: string): void {
    this.#releases.set(store, (this.#releases.get(store) ?? 0) + 1);
  }

  changedByHand(store: string, generation: number): void {
    const saved = this.#saved.get(store);
    // The reconciler cannot tell a human's disconnect from its own while one of its calls is (or may be) under way: a
    // disconnect or update, a connect whose answer it has not recorded (its run may have died before the call: DISCONNECTED
    // after it is either), a call whose answer failed; nor from an operator's intent when it has not yet recorded a
    // decision for the desired generation. A connect that answered success it can tell: KMS made the store CONNECTING.
    const connectAnswered = saved?.phase === 'CONNECTING' && saved.lastActionAt !== null && saved.returnedCallAt === saved.lastActionAt;
    const own =
      saved !== undefined &&
      ((['DISCONNECTING', 'UPDATING', 'CONNECTING'].includes(saved.phase) && !connectAnswered) ||
        (saved.lastAction?.outcome === 'failed' && ['disconnect', 'connect'].includes(saved.lastAction.kind)));
    const telling = saved !== undefined && !own && saved.observedGeneration === generation;
    this.#byHand.set(store, { releases: this.#releases.get(store) ?? 0, telling });
  }

  lockedByHand(clusterId: string): void {
    this.#lockedByHand.add(clusterId);
  }

  /** `cks retry`: the failed logins so far are forgiven (the product resets its count too). */
  budgetReset(store: string): void {
    for (const clusterId of this.#world!.store(store).clusters) {
      const cluster = this.#cluster(clusterId);
      if (cluster) this.#loginBase.set(clusterId, cluster.kmsuser.failedLogins);
    }
  }

  /** The reconciler's log lines: each is an output to scan, and an INFO line is a decision for the trace. */
  log(line: string, run: number | null): void {
    this.#scan(line, 'a log line');
    const entry = JSON.parse(line) as {
      level: string;
      message: string;
      storeName?: string;
      action?: string;
      events?: Array<string | { detailType: string }>;
      error?: string;
    };
    const about = entry.storeName ? `${entry.storeName}: ` : '';
    const events = (entry.events ?? []).map((e) => (typeof e === 'string' ? e : e.detailType));
    const extra = [
      entry.action && entry.action !== 'none' ? `action ${entry.action}` : '',
      events.length > 0 ? `events ${events.join(', ')}` : '',
      entry.error ?? '',
    ]
      .filter((part) => part !== '')
      .join('; ');
    this.#push(`  run ${run ?? '?'} ${entry.level.toLowerCase()}: ${about}${entry.message}${extra ? ` (${extra})` : ''}`);
  }

  // ----------------------------------------------------------------------------------------------
  // CallObserver: every port call of every run

  async before(call: Call): Promise<void> {
    const key = `${call.port}.${call.method}`;
    if (!MUTATING.has(key)) return;
    await this.refresh();
    const stores = this.#storesOf(call);
    for (const store of stores) {
      const live = this.#fake.stores.find((s) => s.CustomKeyStoreId === store.id);
      this.#check(
        'restraint',
        store.spec.mode === 'enforce' && !store.paused && !this.#world!.settings.killSwitch,
        () =>
          `${key} on ${store.name} while ${store.paused ? 'paused' : this.#world!.settings.killSwitch ? 'the kill switch is on' : `in mode ${store.spec.mode}`}`,
      );
      const saved = this.#saved.get(store.name);
      this.#check(
        'escalationHeld',
        saved?.phase !== 'ESCALATED' || (this.#releases.get(store.name) ?? 0) !== this.#escalatedAt.get(store.name),
        () => `${key} on ${store.name}, escalated in ${saved?.incidentId}, though nobody acted on it since`,
      );
      if (live) this.#beforeStoreCall(call, store, live);
    }
    if (key === 'cloudHsm.createHsm') {
      const cluster = this.#cluster(String(call.args[0]));
      const live = cluster?.Hsms.filter((h) => h.State === 'ACTIVE' || h.State === 'CREATE_IN_PROGRESS').length ?? 0;
      this.#check('noDuplicateCall', live === 0, () => `CreateHsm in ${String(call.args[0])}, which already has ${live} ACTIVE or new HSM(s)`);
    }
  }

  after(call: Call, result: CallResult): void {
    const key = `${call.port}.${call.method}`;
    this.tally('port calls');
    this.#push(`  run ${call.run} #${call.seq} ${describeCall(call, this.names)} → ${describeResult(call, result)}`);
    if (!CARRIES_SECRET.has(key)) this.#scan(JSON.stringify(call.args), `the arguments of ${key}`);
    if (result.kind === 'error' || result.kind === 'lost') this.#scan(errorMessage(result.error), `an error of ${key}`);
    if (result.kind === 'lost')
      this.tally(`answers lost after the call went through (${MUTATING.has(key) ? 'mutating call' : 'read or table write'})`);
    if (result.kind === 'crashed') this.tally(`runs crashed at a call that ${result.madeIt ? 'took effect' : 'did not take effect'}`);
    const tookEffect = result.kind === 'ok' || result.kind === 'lost' || (result.kind === 'crashed' && result.madeIt);
    if (MUTATING.has(key)) {
      this.activity += 1;
      const code = result.kind === 'error' && result.error instanceof AwsCallError ? result.error.code : null;
      this.#check(
        'noStateRejection',
        code === null || !STATE_REJECTIONS.has(code),
        () => `${describeCall(call, this.names)} was rejected with ${code}`,
      );
    }
    if (key === 'kms.update' && tookEffect) this.#recordSent(call, result.kind === 'ok' ? 'confirmed' : 'unconfirmed');
    if (key === 'state.saveStatus' && tookEffect)
      this.#recordStatus(call.args[0] as StoreStatus, (call.args[2] as SaveStatusOptions | undefined)?.outbox ?? []);
  }

  // ----------------------------------------------------------------------------------------------
  // After every step

  /** Reads the fake's state (the ground truth for the next checks). */
  async refresh(): Promise<void> {
    this.#fake = await this.admin.world();
    for (const cluster of this.#fake.clusters) {
      const base = this.#loginBase.get(cluster.ClusterId) ?? 0;
      this.#loginBase.set(cluster.ClusterId, Math.min(base, cluster.kmsuser.failedLogins));
      if (cluster.kmsuser.lockedOut && !this.#locked.has(cluster.ClusterId) && !this.#lockedByHand.has(cluster.ClusterId)) {
        this.#locked.add(cluster.ClusterId);
        this.lockouts += 1;
      }
      if (!cluster.kmsuser.lockedOut) this.#locked.delete(cluster.ClusterId);
    }
  }

  get fake(): FakeWorld {
    return this.#fake;
  }

  /** The earliest next attempt (epoch ms) a store is backing off for, or null when none is. */
  nextAttemptAt(): number | null {
    const due = [...this.#saved.values()].flatMap((s) => (s.nextAttemptAt === null ? [] : [s.nextAttemptAt]));
    return due.length === 0 ? null : Math.min(...due);
  }

  /** The phase of the store's last status written. */
  phaseOf(store: string): string | undefined {
    return this.#saved.get(store)?.phase;
  }

  /** Events published since the last step: valid, free of secrets, one escalation per incident, no invented manual change. */
  async afterStep(runErrors: readonly unknown[]): Promise<void> {
    for (const error of runErrors) this.#scan(errorMessage(error), 'the error a run ended with');
    const events = await this.admin.events(this.#eventCursor);
    this.#eventCursor = (events.at(-1)?.seq ?? this.#eventCursor - 1) + 1;
    for (const event of events) {
      if (event.Source !== 'cks-reconciler') continue;
      this.#published.push(event);
      this.#scan(JSON.stringify(event.Detail), `a published ${event.DetailType} event`);
      const type = event.DetailType as EventDetailType;
      const valid = type in eventSchemas && eventSchemas[type].safeParse(event.Detail).success;
      this.#check('validEvents', valid, () => `a published ${event.DetailType} event does not validate: ${JSON.stringify(event.Detail)}`);
      const detail = event.Detail as { storeName?: string; incidentId?: string; eventId?: string; dryRun?: boolean };
      if (detail.storeName === undefined) continue;
      if (this.#eventIds.has(String(detail.eventId))) {
        this.tally('events delivered again with the same eventId');
        continue;
      }
      this.#eventIds.add(String(detail.eventId));
      this.activity += 1;
      if (detail.dryRun === true) continue;
      this.#push(`  published ${event.DetailType} ${detail.storeName}${detail.incidentId ? ` ${detail.incidentId}` : ''} ${detail.eventId}`);
      if (type === 'Repair Escalated') {
        const incident = `${detail.storeName} ${detail.incidentId}`;
        const ids = this.#escalations.get(incident) ?? new Set<string>();
        ids.add(String(detail.eventId));
        this.#escalations.set(incident, ids);
        this.#check(
          'oneEscalation',
          ids.size === 1,
          () => `${ids.size} different Repair Escalated events (${[...ids].join(', ')}) for incident ${incident}`,
        );
      }
      if (type === 'Manual Change Detected') {
        const made = this.#byHand.delete(detail.storeName);
        this.#check('trueManualChange', made, () => `Manual Change Detected for ${detail.storeName}, which nobody changed by hand`);
      }
    }
  }

  // ----------------------------------------------------------------------------------------------
  // At the end

  /** The stores that stand nowhere acceptable, and where they stand; `healed`: only the desired state will do. */
  unsettled(healed: boolean): Array<{ store: SimStore; where: string }> {
    const world = this.#world!;
    const failed = this.#fake.stores.filter((s) => s.ConnectionState === 'FAILED').length;
    const { blastRadiusMinFailed, blastRadiusMaxFailedShare, killSwitch } = world.settings;
    // A full pass's regional-incident guard: reporting, not repairing, by design.
    const regional = failed >= blastRadiusMinFailed && failed / world.stores.length > blastRadiusMaxFailedShare;
    return world.stores.flatMap((store) => {
      const live = this.#fake.stores.find((s) => s.CustomKeyStoreId === store.id);
      const status = this.#saved.get(store.name);
      const where = `${store.name} is ${live ? `${live.ConnectionState}${live.ConnectionErrorCode ? ` ${live.ConnectionErrorCode}` : ''}` : 'MISSING'}, phase ${status?.phase ?? 'none'}, desired ${store.spec.desiredState}`;
      if (this.#inDesiredState(store, live) && (!healed || status?.phase === 'IDLE' || status === undefined)) return [];
      if (healed) return [{ store, where }];
      if (store.spec.mode !== 'enforce' || store.paused || killSwitch || regional) return [];
      if (status?.phase === 'ESCALATED' && this.#wasPublished('Repair Escalated', store.name, (d) => d.incidentId === status.incidentId)) return [];
      if (status?.phase === 'HELD' && this.#wasPublished('Manual Change Detected', store.name, () => true)) return [];
      if (this.#wasPublished('Approval Required', store.name, (d) => d.generation === status?.observedGeneration)) return [];
      return [{ store, where: `${where}: neither there nor handed to a human` }];
    });
  }

  settledCheck(healed: boolean): void {
    const invariant: Invariant = healed ? 'heals' : 'converges';
    const unsettled = this.unsettled(healed);
    this.#check(invariant, unsettled.length === 0, () => unsettled.map((u) => u.where).join('; '));
  }

  /** Every Repair Escalated recorded with a status went out; no secret in the fake's call log. */
  async finalChecks(): Promise<void> {
    const published = new Set(this.#published.map((e) => String((e.Detail as { eventId?: unknown }).eventId)));
    for (const [eventId, incident] of this.#recorded) {
      this.#check(
        'noLostEscalation',
        published.has(eventId),
        () => `Repair Escalated ${eventId} of ${incident} was recorded in a status outbox but never published`,
      );
    }
    this.#scan(await this.admin.callLog(), "the fake's call log");
  }

  // ----------------------------------------------------------------------------------------------

  #check(invariant: Invariant, holds: boolean, message: () => string): void {
    this.checks.set(invariant, (this.checks.get(invariant) ?? 0) + 1);
    if (holds) return;
    const violation = { invariant, step: this.step, message: message() };
    this.violations.push(violation);
    this.#push(`VIOLATION ${invariant}: ${violation.message}`);
  }

  /** A secret is never printed, only where it was found. */
  #scan(text: string, where: string): void {
    let leaked = false;
    for (const secret of this.#secrets) leaked ||= text.includes(secret);
    this.#check('noSecretLeak', !leaked, () => `a secret value appeared in ${where}`);
  }

  #storesOf(call: Call): SimStore[] {
    const world = this.#world!;
    if (call.port === 'cloudHsm') {
      const clusterId = String(call.args[0]);
      return world.stores.filter((s) => s.clusters.includes(clusterId));
    }
    const store = world.storeById(String(call.args[0]));
    return store ? [store] : [];
  }

  #cluster(clusterId: string | undefined): FakeCluster | undefined {
    return this.#fake.clusters.find((c) => c.ClusterId === clusterId);
  }

  #beforeStoreCall(call: Call, store: SimStore, live: FakeStore): void {
    const state = live.ConnectionState;
    switch (call.method) {
      case 'disconnect': {
        this.#check(
          'noDuplicateCall',
          state !== 'DISCONNECTING' && state !== 'DISCONNECTED',
          () => `DisconnectCustomKeyStore ${store.name}, which is already ${state}`,
        );
        this.#check(
          'healthyLeftAlone',
          !(store.spec.desiredState === 'CONNECTED' && this.#healthy(store, live)),
          () => `DisconnectCustomKeyStore ${store.name}, CONNECTED and healthy, desired CONNECTED`,
        );
        return;
      }
      case 'connect': {
        this.#check(
          'noDuplicateCall',
          state !== 'CONNECTING' && state !== 'CONNECTED',
          () => `ConnectCustomKeyStore ${store.name}, which is already ${state}`,
        );
        const byHand = this.#byHand.get(store.name);
        const held = byHand?.telling && byHand.releases === (this.#releases.get(store.name) ?? 0) && store.spec.onManualDisconnect === 'hold';
        this.#check(
          'manualHold',
          !held,
          () => `ConnectCustomKeyStore ${store.name}, which a human disconnected (onManualDisconnect: hold) and nobody released since`,
        );
        this.#checkBudget(store, live, 'ConnectCustomKeyStore');
        return;
      }
      case 'update': {
        const update = call.args[1] as ResolvedUpdate;
        this.#check(
          'noDuplicateCall',
          changesSomething(update, live),
          () => `UpdateCustomKeyStore ${store.name} changes nothing it does not already have`,
        );
        this.#checkSecret(store, update);
        if (update.keyStorePassword !== undefined) this.#checkBudget(store, live, 'UpdateCustomKeyStore with a password');
        return;
      }
      default:
        return;
    }
  }

  #healthy(store: SimStore, live: FakeStore): boolean {
    if (live.ConnectionState !== 'CONNECTED') return false;
    if (store.type === 'EXTERNAL_KEY_STORE') return true;
    return this.#cluster(live.CloudHsmClusterId)?.Hsms.some((h) => h.State === 'ACTIVE') === true;
  }

  /** CloudHSM: kmsuser's failed logins since the budget was last reset stay below the store's budget when it logs in again. */
  #checkBudget(store: SimStore, live: FakeStore, what: string): void {
    if (store.type !== 'AWS_CLOUDHSM') return;
    const cluster = this.#cluster(live.CloudHsmClusterId);
    if (!cluster) return;
    const failures = cluster.kmsuser.failedLogins - (this.#loginBase.get(cluster.ClusterId) ?? 0);
    const budget = Math.min(store.spec.loginBudget, LOGIN_BUDGET_MAX);
    this.#check(
      'loginBudget',
      failures < budget,
      () => `${what} ${store.name} after ${failures} failed kmsuser login(s) in ${cluster.ClusterId}, login budget ${budget}`,
    );
  }

  /** The secret sent is a version of the store's secret that it was never sent before (nor held when declared). */
  #checkSecret(store: SimStore, update: ResolvedUpdate): void {
    const version = sentVersion(store, update);
    if (version === undefined) return;
    const sent = this.#sent.get(store.name)?.get(version ?? '');
    this.#check('newSecretOnly', version !== null && sent !== 'confirmed', () =>
      version === null
        ? `${store.name} was sent a secret that is no version of its secret`
        : `${store.name} was sent secret version ${version} again; it already had it`,
    );
  }

  #recordSent(call: Call, how: Sent): void {
    const store = this.#world!.storeById(String(call.args[0]));
    const version = store && sentVersion(store, call.args[1] as ResolvedUpdate);
    if (!store || !version) return;
    const sent = this.#sent.get(store.name) ?? new Map<string, Sent>();
    if (sent.get(version) !== 'confirmed') sent.set(version, how);
    this.#sent.set(store.name, sent);
  }

  #recordStatus(status: StoreStatus, outbox: readonly ReconcilerEvent[]): void {
    const before = this.#saved.get(status.name);
    this.#saved.set(status.name, status);
    if (status.phase === 'ESCALATED' && (before?.phase !== 'ESCALATED' || before.incidentId !== status.incidentId)) {
      this.#escalatedAt.set(status.name, this.#releases.get(status.name) ?? 0);
    }
    for (const event of outbox) {
      if (event.detailType === 'Repair Escalated' && !event.detail.dryRun)
        this.#recorded.set(event.detail.eventId, `${event.detail.storeName} ${event.detail.incidentId}`);
    }
  }

  #inDesiredState(store: SimStore, live: FakeStore | undefined): boolean {
    if (!live) return false;
    return store.spec.desiredState === 'CONNECTED' ? this.#healthy(store, live) : live.ConnectionState === 'DISCONNECTED';
  }

  #wasPublished(type: EventDetailType, store: string, match: (detail: Record<string, unknown>) => boolean): boolean {
    return this.#published.some((e) => e.DetailType === type && e.Detail.storeName === store && e.Detail.dryRun !== true && match(e.Detail));
  }
}

/** The version of the store's secret an update sends; undefined: it sends none; null: a value that is no version of it. */
function sentVersion(store: SimStore, update: ResolvedUpdate): string | null | undefined {
  const password = update.keyStorePassword;
  const credential = update.xks?.credential;
  if (password === undefined && credential === undefined) return undefined;
  for (const [version, value] of store.secret.values) {
    if (password !== undefined && value === password) return version;
    if (credential !== undefined && value === JSON.stringify(credential)) return version;
  }
  return null;
}

/** Whether an update would change the store: a secret always may; a setting only when it differs. */
function changesSomething(update: ResolvedUpdate, live: FakeStore): boolean {
  if (update.keyStorePassword !== undefined || update.xks?.credential !== undefined) return true;
  const xks = live.XksProxyConfiguration;
  return (
    (update.newName !== undefined && update.newName !== live.CustomKeyStoreName) ||
    (update.cloudHsmClusterId !== undefined && update.cloudHsmClusterId !== live.CloudHsmClusterId) ||
    (update.xks?.uriEndpoint !== undefined && update.xks.uriEndpoint !== xks?.UriEndpoint) ||
    (update.xks?.uriPath !== undefined && update.xks.uriPath !== xks?.UriPath) ||
    update.xks?.connectivity !== undefined ||
    update.xks?.vpcEndpointServiceName !== undefined
  );
}
