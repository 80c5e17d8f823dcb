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
import type { ResolvedUpdate } from '../../reconcile/ports.js';
import type { InMemoryState } from '../state/in-memory-state.js';
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
  onePage: 'exactly one page per incident, for every detail-type that pages (re-sends of one eventId aside)',
  writeAhead: 'every event recorded in an outbox (or the unreachable mark) before it is published',
  noLostUpdate: "no status write forgets the reconciler's last mutating call (each is made on the status as it is)",
  noLostPage: 'no page recorded in an outbox lost',
  outboxCleared: 'every event published is cleared from its outbox',
  removal: 'a store removed from the desired state has its status closed, and nothing it owed is lost',
  escalationHeld: 'an escalated store is left alone until a human acts',
  restraint: 'no mutating call in observe/plan mode, paused, under the kill switch, with an invalid or shared desired entry, or removed',
  trueManualChange: 'no manual change reported that nobody made',
  manualHold: 'a HELD store (a manual change, onManualDisconnect: hold) gets no mutating call until a new desired generation releases it',
  noLockout: 'no kmsuser locked out by failed logins',
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
  /** Pages published, by incident (store or scope, detail-type, incident): their eventIds. */
  readonly #pages = new Map<string, Set<string>>();
  /** Every event ever recorded in an outbox, by eventId. */
  readonly #written = new Set<string>();
  /** Pages recorded in an outbox (a status's, the regional incident's, the settings'): eventId → what and whose incident. */
  readonly #recorded = new Map<string, string>();
  /** The incident of a page recorded with a status, by eventId (a Manual Change Detected's hold is the status's). */
  readonly #recordedIncident = new Map<string, string>();
  /** Events a store still owed when it was removed from the desired state: eventId → store and detail-type. */
  readonly #owedAtRemoval = new Map<string, string>();
  /** Per store, the desired generation its HELD status was written at: held until the generation moves. */
  readonly #held = new Map<string, number>();
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
  /** `table`: the seed's table, read as the ground truth of what is declared and owed. */
  constructor(
    private readonly admin: FakeAdmin,
    private readonly table: InMemoryState,
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
    if (key === 'events.publish') {
      for (const event of call.args[0] as ReconcilerEvent[]) this.#checkWrittenAhead(event);
      return;
    }
    if (!MUTATING.has(key)) return;
    await this.refresh();
    const stores = this.#storesOf(call);
    for (const store of stores) {
      const live = this.#fake.stores.find((s) => s.CustomKeyStoreId === store.id);
      const restrained = store.removed
        ? 'removed from the desired state'
        : store.entry !== 'valid'
          ? `its desired entry is ${store.entry}`
          : store.paused
            ? 'paused'
            : this.#world!.settings.killSwitch
              ? 'the kill switch is on'
              : store.spec.mode !== 'enforce'
                ? `in mode ${store.spec.mode}`
                : null;
      this.#check('restraint', restrained === null, () => `${key} on ${store.name} while ${restrained}`);
      const heldAt = this.#held.get(store.name);
      this.#check(
        'manualHold',
        heldAt === undefined || heldAt !== this.#generation(store.name),
        () => `${key} on ${store.name}, HELD at desired generation ${heldAt} and not released since`,
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
    if (key === 'state.saveStatus' && tookEffect) this.#recordStatus(call.args[0] as StoreStatus);
    if (key === 'state.deleteStatus' && result.kind === 'ok' && result.value === true) this.#saved.delete(String(call.args[0]));
    if (call.port === 'state' && tookEffect) this.#readOutboxes();
  }

  /**
   * Every page the table holds in an outbox (a status's, the regional incident's, the settings'),
   * read from the table itself after each of its calls: each must be published in the end, and a
   * Manual Change Detected belongs to the hold of the status it was first written with.
   */
  #readOutboxes(): void {
    const owed: Array<[ReconcilerEvent, StoreStatus | undefined]> = [
      ...[...this.table.outboxes].flatMap(([name, events]) =>
        events.map((e) => [e, this.table.statuses.get(name)] as [ReconcilerEvent, StoreStatus | undefined]),
      ),
      ...(this.table.regionalIncident?.outbox ?? []).map((e) => [e, undefined] as [ReconcilerEvent, undefined]),
      ...(this.table.settingsInForce?.outbox ?? []).map((e) => [e, undefined] as [ReconcilerEvent, undefined]),
    ];
    for (const [event, status] of owed) {
      const id = event.detail.eventId;
      this.#written.add(id);
      if (this.#recorded.has(id) || pageKind(event) === null) continue;
      this.#recorded.set(id, `${event.detailType} ${pageKey(event, status?.phase === 'HELD' ? status.heldInputs?.generation : undefined)}`);
      if (event.detailType === 'Manual Change Detected' && status?.phase === 'HELD')
        this.#recordedIncident.set(id, pageKey(event, status.heldInputs?.generation));
    }
  }

  /** An event goes out only once it is recorded (a plain Sweep Summary, which nothing owes, aside). */
  #checkWrittenAhead(event: ReconcilerEvent): void {
    const recorded =
      this.#written.has(event.detail.eventId) ||
      (event.detailType === 'Sweep Summary' && !event.detail.regionalIncidentStarted) ||
      (event.detailType === 'Scope Unreachable' && this.table.unreachable?.incidentId === event.detail.incidentId);
    this.#check('writeAhead', recorded, () => `${event.detailType} ${event.detail.eventId} is published before it was recorded anywhere`);
  }

  // ----------------------------------------------------------------------------------------------
  // After every step

  /** Reads the fake's state (the ground truth for the next checks). */
  async refresh(): Promise<void> {
    this.#fake = await this.admin.world();
    const lockouts = this.lockouts;
    for (const cluster of this.#fake.clusters) {
      const base = this.#loginBase.get(cluster.ClusterId) ?? 0;
      this.#loginBase.set(cluster.ClusterId, Math.min(base, cluster.kmsuser.failedLogins));
      if (cluster.kmsuser.lockedOut && !this.#locked.has(cluster.ClusterId) && !this.#lockedByHand.has(cluster.ClusterId)) {
        this.#locked.add(cluster.ClusterId);
        this.lockouts += 1;
      }
      if (!cluster.kmsuser.lockedOut) this.#locked.delete(cluster.ClusterId);
    }
    this.#check('noLockout', this.lockouts === lockouts, () => `kmsuser locked out by failed logins (${this.lockouts} so far)`);
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

  /**
   * Events published since the last step: valid, free of secrets, one page per incident (a page
   * delivered again with its eventId is a re-send, counted, not a second page), no invented manual change.
   */
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
      const published = { detailType: type, detail: event.Detail } as ReconcilerEvent;
      const eventId = String(published.detail.eventId);
      if (this.#eventIds.has(eventId)) {
        this.tally(`events delivered again with the same eventId (${type})`);
        continue;
      }
      this.#eventIds.add(eventId);
      const kind = pageKind(published);
      if (kind !== null) this.#page(published, kind, eventId);
      const detail = event.Detail as { storeName?: string; incidentId?: string };
      if (detail.storeName === undefined) continue;
      this.activity += 1;
      if (kind === null && published.detail.dryRun === true) continue;
      this.#push(`  published ${event.DetailType} ${detail.storeName}${detail.incidentId ? ` ${detail.incidentId}` : ''} ${eventId}`);
      if (type === 'Manual Change Detected') {
        const made = this.#byHand.delete(detail.storeName);
        this.#check('trueManualChange', made, () => `Manual Change Detected for ${detail.storeName}, which nobody changed by hand`);
      }
    }
  }

  /** A page: the first of its incident, or a second one (another eventId) for an incident already paged. */
  #page(event: ReconcilerEvent, kind: string, eventId: string): void {
    const heldAt = event.detailType === 'Manual Change Detected' ? this.#generation(event.detail.storeName) : undefined;
    const incident = this.#recordedIncident.get(eventId) ?? pageKey(event, heldAt);
    this.tally(`pages (${kind})`);
    if (event.detailType !== 'Manual Change Detected' && event.detailType !== 'Repair Escalated')
      this.#push(`  published ${kind} ${incident} ${eventId}`);
    const ids = this.#pages.get(`${kind} ${incident}`) ?? new Set<string>();
    ids.add(eventId);
    this.#pages.set(`${kind} ${incident}`, ids);
    this.#check('onePage', ids.size === 1, () => `${ids.size} different ${kind} events (${[...ids].join(', ')}) for incident ${incident}`);
  }

  // ----------------------------------------------------------------------------------------------
  // At the end

  /** The stores that stand nowhere acceptable, and where they stand; `healed`: only the desired state will do. */
  unsettled(healed: boolean): Array<{ store: SimStore; where: string }> {
    const world = this.#world!;
    const managed = world.declared.filter((s) => s.entry === 'valid');
    const failed = managed.filter((s) => this.#fake.stores.find((l) => l.CustomKeyStoreId === s.id)?.ConnectionState === 'FAILED').length;
    const { blastRadiusMinFailed, blastRadiusMaxFailedShare, killSwitch } = world.settings;
    // A full pass's regional-incident guard: reporting, not repairing, by design.
    const regional = failed >= blastRadiusMinFailed && failed / Math.max(managed.length, 1) > blastRadiusMaxFailedShare;
    return world.declared.flatMap((store) => {
      const live = this.#fake.stores.find((s) => s.CustomKeyStoreId === store.id);
      const status = this.#saved.get(store.name);
      const where = `${store.name} is ${live ? `${live.ConnectionState}${live.ConnectionErrorCode ? ` ${live.ConnectionErrorCode}` : ''}` : 'MISSING'}, phase ${status?.phase ?? 'none'}, desired ${store.spec.desiredState}`;
      if (this.#inDesiredState(store, live) && (!healed || status?.phase === 'IDLE' || status === undefined)) return [];
      if (healed) return [{ store, where }];
      if (store.spec.mode !== 'enforce' || store.paused || killSwitch || regional) return [];
      if (store.entry !== 'valid' && this.#wasPublished('Desired State Invalid', store.name, () => true)) return [];
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

  /**
   * Every page recorded in an outbox went out; nothing published is still owed; each removed store's
   * status is closed and what it owed went out; no secret in the fake's call log.
   */
  async finalChecks(): Promise<void> {
    for (const [eventId, page] of this.#recorded) {
      this.#check('noLostPage', this.#eventIds.has(eventId), () => `${page} (${eventId}) was recorded in an outbox but never published`);
    }
    const owed = [
      ...[...this.table.outboxes].flatMap(([name, events]) => events.map((e) => [`${name}'s status`, e] as const)),
      ...(this.table.regionalIncident?.outbox ?? []).map((e) => ['the regional incident', e] as const),
      ...(this.table.settingsInForce?.outbox ?? []).map((e) => ['the settings in force', e] as const),
    ];
    const stale = owed.filter(([, event]) => this.#eventIds.has(event.detail.eventId));
    this.#check('outboxCleared', stale.length === 0, () =>
      stale.map(([where, event]) => `${event.detailType} ${event.detail.eventId}, published, is still owed in the outbox of ${where}`).join('; '),
    );
    for (const store of this.#world!.stores.filter((s) => s.removed)) {
      this.#check(
        'removal',
        !this.table.statuses.has(store.name),
        () => `${store.name} was removed from the desired state, but its status is still there`,
      );
    }
    for (const [eventId, what] of this.#owedAtRemoval) {
      this.#check('removal', this.#eventIds.has(eventId), () => `${what} (${eventId}), owed when the store was removed, was never published`);
    }
    this.#scan(await this.admin.callLog(), "the fake's call log");
  }

  /** An operator removes the store from the desired state: what its status owes now must still go out. */
  removed(store: string): void {
    for (const event of this.table.outboxes.get(store) ?? []) this.#owedAtRemoval.set(event.detail.eventId, `${store}'s ${event.detailType}`);
    this.tally('removals with events still owed', (this.table.outboxes.get(store) ?? []).length > 0 ? 1 : 0);
  }

  /** The store's desired generation in the table (NaN once removed). */
  #generation(store: string): number {
    return Number(this.table.desired.get(store)?.generation);
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

  #recordStatus(status: StoreStatus): void {
    const before = this.#saved.get(status.name);
    // A write made on a status older than the one it replaces would forget what happened since.
    const last = before?.lastActionAt ?? null;
    this.#check(
      'noLostUpdate',
      last === null || (status.lastActionAt !== null && status.lastActionAt >= last),
      () =>
        `${status.name}'s status written with its last call at ${iso(status.lastActionAt)}, though the status it replaced had one at ${iso(last)}`,
    );
    this.#saved.set(status.name, status);
    if (status.phase === 'ESCALATED' && (before?.phase !== 'ESCALATED' || before.incidentId !== status.incidentId)) {
      this.#escalatedAt.set(status.name, this.#releases.get(status.name) ?? 0);
    }
    // Held from here until the desired generation moves, whatever later writes say.
    if (status.phase === 'HELD' && status.heldInputs !== null && this.#held.get(status.name) !== this.#generation(status.name))
      this.#held.set(status.name, status.heldInputs.generation);
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

/** The page an event is, by its on-call name; null when it pages nobody (a plan-mode preview, a plain summary, a report). */
function pageKind(event: ReconcilerEvent): string | null {
  switch (event.detailType) {
    case 'Repair Escalated':
    case 'Manual Change Detected':
    case 'Approval Required':
    case 'Scope Unreachable':
      return event.detail.dryRun ? null : event.detailType;
    case 'Sweep Summary':
      return event.detail.regionalIncidentStarted ? 'Regional Incident' : null;
    default:
      return null;
  }
}

/**
 * The incident a page is for, whatever its eventId: the store's escalation incident; the store's hold
 * (the desired generation it was held at: only a new one releases it); the change waiting for a
 * second person; the scope's unreachable or regional incident.
 */
function pageKey(event: ReconcilerEvent, heldAt: number | undefined): string {
  switch (event.detailType) {
    case 'Repair Escalated':
      return `${event.detail.storeName} ${event.detail.incidentId}`;
    case 'Manual Change Detected':
      return `${event.detail.storeName} held at generation ${heldAt}`;
    case 'Approval Required':
      return 'subject' in event.detail
        ? `settings generation ${event.detail.generation} ${event.detail.digest}`
        : `${event.detail.storeName} generation ${event.detail.generation} ${event.detail.digest}`;
    case 'Scope Unreachable':
      return `${event.detail.accountId}/${event.detail.region} ${event.detail.incidentId}`;
    case 'Sweep Summary':
      return `${event.detail.accountId}/${event.detail.region} since ${event.detail.regionalIncidentSince}`;
    default:
      return event.detail.eventId;
  }
}

function iso(ms: number | null): string {
  return ms === null ? 'none' : new Date(ms).toISOString();
}
