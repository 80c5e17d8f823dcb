/**
 * The narrow interfaces the reconcile core talks through. Each has an SDK adapter under
 * `shared/adapters/` and an in-memory twin for tests (the state's, `InMemoryState` under
 * `shared/dev/state/`, serves the simulator too); `shared/runtime/` wires them.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { DesiredStoreSpec } from '../domain/desired-schema.js';
import type { ReconcilerEvent } from '../domain/events.js';
import type { XksReading } from '../domain/health.js';
import type { GuardedSettings } from '../domain/settings.js';
import type { Signature } from '../domain/signatures.js';
import type { ClusterView, EventDetailType, ObservedStore, Scope, Settings, StoreStatus, UnreachableMark, XksConnectivity } from '../domain/types.js';

/** UpdateCustomKeyStore parameters with secret values filled in, read just before the call. Never logged. */
export interface ResolvedUpdate {
  newName?: string;
  cloudHsmClusterId?: string;
  keyStorePassword?: string;
  xks?: {
    uriEndpoint?: string;
    uriPath?: string;
    connectivity?: XksConnectivity;
    vpcEndpointServiceName?: string;
    credential?: { accessKeyId: string; secretAccessKey: string };
  };
}

/** What the active probe of a store calls: GenerateRandom in a CloudHSM key store, Encrypt with a key of an external key store. */
export type ProbeTarget = { type: 'AWS_CLOUDHSM'; storeId: string } | { type: 'EXTERNAL_KEY_STORE'; keyId: string };

/** A probe's answer: the store served the call, or the call and the error that says it cannot. */
export type ProbeResult = { ok: true } | { ok: false; operation: string; errorCode: string; message: string };

export interface KmsPort {
  /** Every store in the account and Region: DescribeCustomKeyStores with Limit 1000, all pages. */
  listStores(): Promise<ObservedStore[]>;
  /** One store by id (preferred) or name; null when KMS has none. */
  describeStore(ref: { id?: string; name?: string }): Promise<ObservedStore | null>;
  connect(storeId: string): Promise<void>;
  disconnect(storeId: string): Promise<void>;
  update(storeId: string, update: ResolvedUpdate): Promise<void>;
  /**
   * One cryptographic call that exercises the store. A failure that says the store cannot serve it
   * is the result; any other (throttling, access denied) throws, since it says nothing of the store.
   */
  probe(target: ProbeTarget): Promise<ProbeResult>;
}

export interface CloudHsmPort {
  /** Clusters by id, DescribeClusters with at most 25 ids per call; ids not found are absent from the map. */
  describeClusters(clusterIds: readonly string[]): Promise<Map<string, ClusterView>>;
  createHsm(clusterId: string, availabilityZone: string): Promise<{ hsmId: string }>;
}

export interface SecretsPort {
  /** VersionId staged AWSCURRENT, from DescribeSecret (the value is not read); null when the secret does not exist (ResourceNotFoundException) or holds no current version. Any other failure throws. */
  currentVersion(secretArn: string): Promise<string | null>;
  /** SecretString of that version. Callers must never log it. */
  getValue(secretArn: string, versionId: string): Promise<string>;
}

/** An external key store whose CloudWatch metrics a pass reads. */
export interface XksMetricsTarget {
  storeId: string;
  /** The `XksProxyCertificateName` dimension (the proxy's host name). */
  certificateName: string;
}

/** CloudWatch, for the health of external key stores (namespace `AWS/KMS`). */
export interface HealthPort {
  /**
   * The latest external key store metrics of these stores, in one GetMetricData call (so at most
   * 500 / XKS_QUERIES_PER_STORE stores). Throws when the read fails: then nothing is known.
   */
  readXksHealth(stores: readonly XksMetricsTarget[], now: number): Promise<Map<string, XksReading>>;
}

export interface EventsPort {
  /** PutEvents, in batches of at most 10 entries. */
  publish(events: readonly ReconcilerEvent[]): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** One store's rows of the table: the raw desired item (validated by the core), the status item and its signatures. */
export interface StoreRecord {
  name: string;
  /** The DESIRED item's attributes as stored (unvalidated); null when only a status exists. */
  desired: Record<string, unknown> | null;
  status: StoreStatus | null;
  /** Why the status item could not be read (it is then taken as absent and replaced by the next write); null when it could. */
  statusError: string | null;
  /** Every signature of this store (any generation): who signed which exact change. */
  signatures: Signature[];
  /** Events recorded with the status but not yet published (the outbox): published first by the next run. */
  outbox: ReconcilerEvent[];
}

/** Everything a pass reads of one scope's table items. */
export interface ScopeRecords {
  records: StoreRecord[];
  settings: Settings;
  /** Every signature of the scope's settings. */
  settingsSignatures: Signature[];
  /** Why the settings item could not be read (the settings then act as the kill switch on); null when it could. */
  settingsError: string | null;
  /** The guarded settings in force as the reconciler recorded them; null when it recorded none yet. */
  settingsInForce: SettingsInForce | null;
  /** The scope's open regional incident, null when there is none. */
  regionalIncident: RegionalIncident | null;
  /** The scope's open unreachable incident, when there is one (the fleet clears it once the scope is reached). */
  unreachable?: UnreachableMark;
}

/** What a scope's table items say of its settings. */
export type SettingsRecords = Pick<ScopeRecords, 'settings' | 'settingsSignatures' | 'settingsError' | 'settingsInForce'>;

/**
 * The guarded settings in force (an item of the reconciler's partition, which operators cannot
 * write), with the `Approval Required` of a waiting weakening it still owes (its outbox).
 */
export interface SettingsInForce {
  values: GuardedSettings;
  /** Moved by every write: the condition that makes concurrent passes agree on one record. */
  revision: number;
  /** The `eventId` of the last waiting weakening announced (each is announced once); null: none yet. */
  announced: string | null;
  /** Events recorded but not yet published: published first by the next pass. */
  outbox: ReconcilerEvent[];
}

/** A regional incident: when it began (epoch ms, which also names it) and the page it still owes (its outbox, empty once sent). */
export interface RegionalIncident {
  since: number;
  outbox: ReconcilerEvent[];
}

/** How a status is written: with the events still to publish, and whether the lease is kept. */
export interface SaveStatusOptions {
  /** The time of the write (epoch ms): the lease must not have run out by then. */
  now: number;
  /** Events recorded with this status that are not yet published; empty once they went out. */
  outbox: readonly ReconcilerEvent[];
  /** Keep (renew) the lease until this time (epoch ms) instead of releasing it: more writes of this run follow. */
  holdLeaseUntil?: number;
}

/** An event a run emitted for a store, as its history keeps it: enough to read an incident back without EventBridge. */
export interface HistoryEvent {
  type: EventDetailType;
  reason: string;
  /** The documented fix (Repair Escalated, Store Missing, Manual Change Detected, Approval Required). */
  runbook?: string;
  /** Fields that differ, or that wait for approval. */
  drift?: string[];
}

/** A line of a store's history (HISTORY items, kept with a TTL). */
export interface HistoryEntry {
  at: number;
  reconcileId: string;
  trigger: string;
  action: string;
  dryRun: boolean;
  reason: string;
  connectionState: string | null;
  connectionErrorCode: string | null;
  error?: string;
  /** The incident the run belonged to, if any. */
  incidentId?: string | null;
  /** The events the run emitted for the store, in order (absent in entries written before they were kept). */
  events?: HistoryEvent[];
}

/** Operator intent written beside the desired spec by `cks retry|pause|resume` (each bumps the generation). */
export type OperatorRequest = 'retry' | 'pause' | 'resume';

/** The desired-state table, for one account and Region. */
export interface StatePort {
  readonly scope: Scope;
  /**
   * Every desired and status item of the scope, the settings, when the current regional incident
   * began (null: none), and the scope's signatures: one Query (paged) of each partition and one of the
   * signatures' index, never one call per store.
   */
  loadAll(): Promise<ScopeRecords>;
  /** One store's items (event-triggered runs). */
  load(name: string): Promise<StoreRecord>;
  /**
   * Take the store's lease by conditional write, and with `storeId` the lease of that KMS store too (two
   * desired names can never act on one store at once). Returns the store's fresh record, or null when
   * another run holds an unexpired lease on either. Writing the status or releasing frees both.
   */
  acquireLease(name: string, owner: string, now: number, ttlMs: number, storeId?: string | null): Promise<StoreRecord | null>;
  /**
   * Write the status item with its outbox and release the lease (or keep it, see `holdLeaseUntil`);
   * ConflictError if `owner` no longer holds it or its lease ran out before `now`. One conditional
   * single-item write: a status and the events it owes are recorded together or not at all.
   */
  saveStatus(status: StoreStatus, owner: string, options: SaveStatusOptions): Promise<void>;
  /** Release without writing (nothing to record). */
  releaseLease(name: string, owner: string): Promise<void>;
  appendHistory(name: string, entry: HistoryEntry): Promise<void>;
  /**
   * Write validated desired specs. A spec equal to the stored one is left alone; a changed or new one
   * gets generation + 1 and records `changedBy` (the principal, or null when unknown). Operator fields
   * (`paused`, the last retry) are kept. Returns the names written.
   */
  putDesired(specs: readonly DesiredStoreSpec[], now: number, changedBy?: string | null): Promise<string[]>;
  /**
   * Writes a signature in its signer's own partition (`cks apply`, `cks approve`). IAM refuses
   * (AccessDenied) a signer that is not the caller: a signature can fail, never be forged.
   */
  sign(signature: Signature): Promise<void>;
  /**
   * Removes a store from the desired state (`cks delete`, `cks apply --prune`): its desired item, so
   * that it is neither reported nor reconciled again. The reconciler then closes its
   * status ({@link deleteStatus}); its history is kept (until its TTL). False when no desired item of
   * that name exists.
   */
  deleteDesired(name: string): Promise<boolean>;
  /**
   * Closes the status of a store removed from the desired state: deletes the item only while `owner`
   * holds its unexpired lease (at `now`) and its outbox is empty, so that no event it owes is lost
   * (false then, nothing deleted).
   */
  deleteStatus(name: string, owner: string, now: number): Promise<boolean>;
  /** retry / pause / resume a store: sets the operator field and bumps the generation. */
  request(name: string, request: OperatorRequest, now: number): Promise<void>;
  getSettings(): Promise<Settings>;
  /** Writes the desired settings (operators), with the next generation (whatever `settings.generation` says). */
  putSettings(settings: Settings): Promise<void>;
  /** The desired settings, the settings in force and the settings' signatures: what `cks settings` shows (no store is read). */
  loadSettings(): Promise<SettingsRecords>;
  /**
   * Records the settings in force by conditional write, with the next revision: only while the
   * recorded revision is still `revision` (null: none recorded), so that concurrent passes agree.
   * Returns the record now there: this one (`written` true) or the one another pass wrote first.
   */
  recordSettingsInForce(
    record: Omit<SettingsInForce, 'revision'>,
    revision: number | null,
  ): Promise<{ record: SettingsInForce | null; written: boolean }>;
  /** Empties the outbox of the settings in force once the event `announced` names went out; nothing when a newer one is owed. */
  announceSettings(announced: string): Promise<void>;
  /**
   * Opens the scope's regional incident, begun at `since`, with `page` in its outbox, by conditional
   * write: unless one is open (then that one is returned, with `opened` false), so that concurrent
   * passes agree on one incident and one page.
   */
  openRegionalIncident(since: number, page: ReconcilerEvent): Promise<RegionalIncident & { opened: boolean }>;
  /** Empties the outbox of the regional incident begun at `since` (its page went out); nothing for another incident. */
  announceRegionalIncident(since: number): Promise<void>;
  /** Ends the regional incident begun at `since`; nothing for another incident. */
  endRegionalIncident(since: number): Promise<void>;
  /**
   * Opens an unreachable incident with `mark` unless one is open; returns the open one (its first
   * mark wins, so concurrent runs agree on the incident).
   */
  openUnreachable(mark: UnreachableMark): Promise<UnreachableMark>;
  /** Records that the open incident's `Scope Unreachable` event went out. */
  announceUnreachable(incidentId: string): Promise<void>;
  /** Ends the unreachable incident `incidentId` (the scope was reached); a newer incident another run opened stays open. */
  clearUnreachable(incidentId: string): Promise<void>;
  /**
   * Adds this account and Region to the table's scope registry (operators, `cks apply`) with a new
   * registration, which opens the scope again if the reconciler had closed it; false when it was there.
   */
  registerScope(): Promise<boolean>;
  /**
   * Every open account and Region of the registry, sorted: the registered ones whose registration is not
   * closed (one paged Query of the registry and one of the closed marks; table-wide, whatever this
   * adapter's scope).
   */
  listScopes(): Promise<Scope[]>;
  /**
   * Closes this scope's registration (the reconciler) while the scope holds no desired store, no status
   * item (whose outbox could owe events), no open regional incident and no settings page owed, so that
   * it is no longer swept; true when closed. The registration is read before the scope is, so a
   * `cks apply` that lands meanwhile (its new registration) keeps the scope open. False when the scope
   * is not registered or not empty.
   */
  closeScope(now: number): Promise<boolean>;
}

/** Everything the core talks to: one plain object, built once per cold start. */
export interface ReconcileDeps {
  kms: KmsPort;
  cloudHsm: CloudHsmPort;
  secrets: SecretsPort;
  /** CloudWatch reads for the health findings. */
  health: HealthPort;
  events: EventsPort;
  state: StatePort;
  clock: Clock;
  logger: Logger;
  metrics: Metrics | null;
  /** Lease owner id of this process (e.g. the Lambda request id or `cli-<pid>`). */
  owner: string;
  leaseTtlMs: number;
}
