/**
 * The reconciler's vocabulary. Pure data: no SDK types, no clock, no environment.
 * Times are epoch milliseconds (`number`) unless a name says otherwise.
 */
import type { HealthThresholds, OpenFinding } from './health.js';
import type { Signature } from './signatures.js';

export const CONNECTION_STATES = ['CONNECTED', 'CONNECTING', 'FAILED', 'DISCONNECTED', 'DISCONNECTING'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

export const STORE_TYPES = ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;
export type StoreType = (typeof STORE_TYPES)[number];

/** All 18 values of `ConnectionErrorCode` as the KMS API defines them. */
export const CONNECTION_ERROR_CODES = [
  'INTERNAL_ERROR',
  'NETWORK_ERRORS',
  'INVALID_CREDENTIALS',
  'CLUSTER_NOT_FOUND',
  'INSUFFICIENT_CLOUDHSM_HSMS',
  'INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET',
  'SUBNET_NOT_FOUND',
  'USER_LOCKED_OUT',
  'USER_LOGGED_IN',
  'USER_NOT_FOUND',
  'XKS_PROXY_ACCESS_DENIED',
  'XKS_PROXY_NOT_REACHABLE',
  'XKS_PROXY_INVALID_RESPONSE',
  'XKS_PROXY_INVALID_CONFIGURATION',
  'XKS_PROXY_TIMED_OUT',
  'XKS_PROXY_INVALID_TLS_CONFIGURATION',
  'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND',
  'XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION',
] as const;
export type ConnectionErrorCode = (typeof CONNECTION_ERROR_CODES)[number];

export const XKS_CONNECTIVITY = ['PUBLIC_ENDPOINT', 'VPC_ENDPOINT_SERVICE'] as const;
export type XksConnectivity = (typeof XKS_CONNECTIVITY)[number];

export const MODES = ['observe', 'plan', 'enforce'] as const;
export type Mode = (typeof MODES)[number];

/** What the reconciler does when a human disconnected a store desired CONNECTED. */
export const MANUAL_DISCONNECT_POLICIES = ['hold', 'reconnect'] as const;
export type ManualDisconnectPolicy = (typeof MANUAL_DISCONNECT_POLICIES)[number];

/** Failed kmsuser logins the reconciler's own connects may cause before it stops (CloudHSM locks kmsuser at 5). */
export const LOGIN_BUDGET_DEFAULT = 2;
export const LOGIN_BUDGET_MAX = 3;

/** HELD: a human changed the store's connection by hand; the reconciler leaves it until released. */
export const PHASES = ['IDLE', 'DISCONNECTING', 'UPDATING', 'CONNECTING', 'ESCALATED', 'PAUSED', 'HELD'] as const;
export type Phase = (typeof PHASES)[number];

/** Which account and Region a store lives in. */
export interface Scope {
  accountId: string;
  region: string;
}

/** An open incident of a scope the reconciler could not reach (`Scope Unreachable`). */
export interface UnreachableMark {
  incidentId: string;
  /** Epoch ms the scope was first found unreachable in this incident. */
  since: number;
  /** The AWS error code and the call (`Service.Operation`) that first failed. */
  errorCode: string;
  operation: string;
  /** Whether its `Scope Unreachable` event went out (it is sent again until it does). */
  announced: boolean;
}

/**
 * XKS proxy settings as KMS reports them. The access key id KMS also returns is sensitive (the API
 * marks it so) and the reconciler needs none of it: it is dropped at the adapter, never held.
 */
export interface ObservedXksProxy {
  uriEndpoint: string;
  uriPath: string;
  connectivity: XksConnectivity;
  vpcEndpointServiceName?: string;
}

/** One `CustomKeyStoresListEntry`, as observed. */
export interface ObservedStore {
  id: string;
  name: string;
  type: StoreType;
  connectionState: ConnectionState;
  /** Present only when FAILED. */
  connectionErrorCode: ConnectionErrorCode | null;
  cloudHsmClusterId?: string;
  xksProxy?: ObservedXksProxy;
}

/** CloudHSM cluster states as the API documents them, and UNKNOWN for any other (or no) value. */
export const CLUSTER_STATES = [
  'CREATE_IN_PROGRESS',
  'UNINITIALIZED',
  'INITIALIZE_IN_PROGRESS',
  'INITIALIZED',
  'ACTIVE',
  'UPDATE_IN_PROGRESS',
  'MODIFY_IN_PROGRESS',
  'ROLLBACK_IN_PROGRESS',
  'DELETE_IN_PROGRESS',
  'DELETED',
  'DEGRADED',
  'UNKNOWN',
] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

/** The cluster state a CloudHSM API value names; UNKNOWN when it names none of the documented ones. */
export function clusterStateOf(value: string | undefined): ClusterState {
  return CLUSTER_STATES.find((state) => state === value) ?? 'UNKNOWN';
}

/** What the reconciler needs to know of a CloudHSM cluster. */
export interface ClusterView {
  clusterId: string;
  state: ClusterState;
  /** HSMs in state ACTIVE. */
  activeHsms: number;
  /** HSMs in CREATE_IN_PROGRESS (an HSM is already on its way). */
  creatingHsms: number;
  /** Availability Zones of the cluster's subnets (SubnetMapping keys), sorted. */
  availabilityZones: string[];
  /** Availability Zones that already hold a live (ACTIVE or CREATE_IN_PROGRESS) HSM. */
  hsmAvailabilityZones: string[];
}

export interface DesiredXksProxy {
  uriEndpoint: string;
  uriPath: string;
  connectivity: XksConnectivity;
  vpcEndpointServiceName?: string;
  /** Secret whose value is JSON `{"accessKeyId": "...", "secretAccessKey": "..."}`. */
  credentialSecretArn: string;
}

/** A validated desired item. */
export interface DesiredStore {
  name: string;
  /** The account and Region the store lives in, as a stores file names them (absent: the deployment's own). */
  accountId?: string;
  region?: string;
  id?: string;
  type: StoreType;
  desiredState: 'CONNECTED' | 'DISCONNECTED';
  cloudHsmClusterId?: string;
  /** Secret whose value (SecretString) is the kmsuser password a human set. */
  keyStorePasswordSecretArn?: string;
  xksProxy?: DesiredXksProxy;
  mode: Mode;
  maxAttempts: number;
  allowCreateHsm: boolean;
  /** `hold` (default): a store a human disconnected stays DISCONNECTED until released; `reconnect`: it is repaired. */
  onManualDisconnect: ManualDisconnectPolicy;
  /** Failed kmsuser logins the reconciler's connects may cause before it stops sending passwords (1-3, default 2). */
  loginBudget: number;
  /** The active probe: one KMS call per full pass that exercises the CONNECTED store (absent: off). */
  probe?: boolean;
  /** The KMS key in an external key store that its probe encrypts with (required with `probe` there). */
  probeKeyId?: string;
  /** Set by `cks pause`: the reconciler observes and reports but does not act. */
  paused: boolean;
  generation: number;
  /** When an operator last ran `cks retry` (epoch ms): it also resets the login budget. */
  retryRequestedAt: number | null;
  /** The principal that wrote this generation (from STS GetCallerIdentity), when known: a record for people, never a decision's input. */
  changedBy: string | null;
}

/** Who changed a store by hand and when, where a CloudTrail event said so. */
export interface ManualChange {
  by: string | null;
  at: number;
  /** The API call, e.g. DisconnectCustomKeyStore. */
  eventName: string | null;
}

/**
 * Inputs that, when they change, release an escalated store ("hold until the desired
 * item's generation changes or an operator runs `cks retry`"; a new secret version is a change too).
 */
export interface HeldInputs {
  generation: number;
  passwordVersion: string | null;
  xksCredentialVersion: string | null;
  /** Set when the escalation is for a cluster without an ACTIVE HSM: that cluster getting one releases the hold too. */
  awaitingActiveHsmIn?: string;
  /**
   * Set when only a new kmsuser password can fix the escalation (INVALID_CREDENTIALS, USER_LOCKED_OUT,
   * USER_NOT_FOUND on CloudHSM): then only a new version of the password secret releases the hold, because
   * a connect with the password KMS holds can only fail another login and move kmsuser toward lockout.
   */
  awaitingNewPassword?: boolean;
  /** Set when the login budget is spent: only `cks retry` (which resets the budget) releases the hold. */
  awaitingLoginBudgetReset?: boolean;
  /** Set when the desired item names a secret that does not exist: the secret appearing (or a new generation) releases the hold. */
  awaitingSecret?: boolean;
  /** Set while HELD: the manual change being honoured. */
  manualChange?: ManualChange;
}

/** The reconciler's own record of a store (the STATUS item). Written only by the reconciler. */
export interface StoreStatus {
  name: string;
  storeId: string | null;
  phase: Phase;
  /** When `phase` was entered (epoch ms): stuck-transition deadlines count from here. */
  phaseSince: number;
  incidentId: string | null;
  /** Connect attempts made in the current incident. */
  attempt: number;
  /** Do not start another attempt before this time (epoch ms); null: no backoff. */
  nextAttemptAt: number | null;
  observedState: ConnectionState | 'MISSING' | null;
  observedErrorCode: ConnectionErrorCode | null;
  lastAction: LastAction | null;
  lastReason: string | null;
  lastActionAt: number | null;
  /** Secret VersionIds last sent to KMS (or taken as the baseline when the store was first seen). */
  appliedPasswordVersion: string | null;
  appliedXksCredentialVersion: string | null;
  /** The desired generation the last decision was made for. */
  observedGeneration: number;
  /** Set while ESCALATED: what must change before the reconciler acts again. */
  heldInputs: HeldInputs | null;
  /** Fingerprint of the last report-only event (drift, missing, dry run), so it is sent once. */
  lastReportKey: string | null;
  /**
   * Failed kmsuser logins the reconciler's own connects may have caused since the last successful
   * connect or operator reset; kept across incidents, secret ARNs and generations.
   */
  failedLogins: number;
  /** The `cks retry` (epoch ms) that last reset `failedLogins`. */
  loginBudgetResetAt: number | null;
  /**
   * The incident last escalated to a human and not yet healed: kept when its hold is released (a new
   * incident opens), so the `Repair Succeeded` that heals the store resolves that page too.
   */
  escalatedIncidentId: string | null;
  /** Risks of a CONNECTED store open now (`Store At Risk` sent, `Store Risk Cleared` not yet); absent: none. */
  findings?: OpenFinding[];
  /**
   * The login budget and manual-disconnect policy in force: a lower budget or `hold` comes into force at
   * once, a higher budget or `reconnect` only once two persons signed it (until then these apply).
   */
  loginBudgetInForce: number;
  onManualDisconnectInForce: ManualDisconnectPolicy;
  /** The change (`<generation>:<digest>`) whose `Approval Required` went out last, so that it is sent once. */
  announcedApproval: string | null;
  /**
   * The highest desired generation a decision was made for. A generation written back below it is a
   * replay: signatures of it count for nothing, so an old signed change cannot be brought back.
   */
  highestGeneration: number;
  /**
   * The `lastActionAt` of the last mutating call the reconciler saw succeed (recorded after its answer);
   * equal to `lastActionAt` when the last call is known made. Absent: none seen.
   */
  returnedCallAt?: number;
}

/** Global settings (the SETTINGS item): data, not redeploys. */
export interface Settings {
  /** When true no store is acted on; decisions are reported only. */
  killSwitch: boolean;
  /** Regional-incident guard: if more than this share of managed stores is FAILED at once, page instead of repairing. */
  blastRadiusMaxFailedShare: number;
  /** ... and at least this many are FAILED (so one failed store of two does not count as regional). */
  blastRadiusMinFailed: number;
  /** When true, a CloudHSM cluster change or a rename also waits for a second principal's approval (XKS proxy changes always do). */
  approvalForCloudHsm?: boolean;
  /** Thresholds of the health findings; each absent one takes its default (see `DEFAULT_HEALTH_THRESHOLDS`). */
  health?: Partial<HealthThresholds>;
  /** Bumped by every `cks settings` write: a weakening's signatures name it. Absent in an item no `cks settings` wrote. */
  generation?: number;
}

export const DEFAULT_SETTINGS: Settings = {
  killSwitch: false,
  blastRadiusMaxFailedShare: 0.5,
  blastRadiusMinFailed: 3,
};

/** What `UpdateCustomKeyStore` must change. Secret values are not here: only where to read them. */
export interface UpdateChanges {
  newName?: string;
  cloudHsmClusterId?: string;
  password?: { secretArn: string; versionId: string };
  xks?: {
    uriEndpoint?: string;
    uriPath?: string;
    connectivity?: XksConnectivity;
    vpcEndpointServiceName?: string;
    credential?: { secretArn: string; versionId: string };
  };
}

/** The one step a run takes for a store. */
export type Action =
  | { kind: 'none' }
  | { kind: 'disconnect'; storeId: string }
  | { kind: 'update'; storeId: string; changes: UpdateChanges }
  | { kind: 'connect'; storeId: string }
  | { kind: 'createHsm'; clusterId: string; availabilityZone: string };

export type ActionKind = Action['kind'];

/** Every ActionKind (the type of `actionKind` in events.ts fails to compile if one is left out). */
export const ACTION_KINDS = ['none', 'disconnect', 'update', 'connect', 'createHsm'] as const satisfies readonly ActionKind[];

/** What became of a decided action: made, only reported (dry run), or rejected by AWS. */
export type ActionOutcome = 'taken' | 'dryRun' | 'failed';

/** The last decision's action as recorded in the status (kind `none`: nothing to do, or nothing would be done). */
export interface LastAction {
  kind: ActionKind;
  outcome: ActionOutcome;
}

/** One line for people: `disconnect`, `would disconnect`, `disconnect failed`, `none`. */
export function describeLastAction(last: LastAction | null): string | null {
  if (last === null) return null;
  if (last.kind === 'none') return 'none';
  switch (last.outcome) {
    case 'taken':
      return last.kind;
    case 'dryRun':
      return `would ${last.kind}`;
    case 'failed':
      return `${last.kind} failed`;
    default: {
      const _exhaustive: never = last.outcome;
      throw new Error(`unknown action outcome ${String(_exhaustive)}`);
    }
  }
}

export const EVENT_DETAIL_TYPES = [
  'Store Drift Detected',
  'Repair Started',
  'Repair Step',
  'Repair Succeeded',
  'Repair Failed',
  'Repair Escalated',
  'Store Missing',
  'Desired State Invalid',
  'Sweep Summary',
  'Manual Change Detected',
  'Approval Required',
  'Scope Unreachable',
  'Store At Risk',
  'Store Risk Cleared',
] as const;
export type EventDetailType = (typeof EVENT_DETAIL_TYPES)[number];

/** An event the plan asks to emit about one store; `shared/domain/events.ts` turns it into a full detail. */
export interface EventDraft {
  detailType: Exclude<EventDetailType, 'Sweep Summary' | 'Desired State Invalid' | 'Scope Unreachable' | 'Store At Risk' | 'Store Risk Cleared'>;
  reason: string;
  /** Documented fix in plain words (Repair Escalated only). */
  runbook?: string;
  action?: ActionKind;
  attempt?: number;
  maxAttempts?: number;
  nextAttemptAt?: string;
  drift?: string[];
  /**
   * The incident the event belongs to, when the plan names it. Needed for `Repair Succeeded`, whose
   * incident is already closed (null) in the decision's `nextStatus`.
   */
  incidentId?: string;
  /** Manual Change Detected: who changed the store and when, where known. */
  changedBy?: string | null;
  changedAt?: string;
  /** Approval Required: the generation waiting, the digest of its guarded values, who signed it and what it changes. */
  generation?: number;
  digest?: string;
  proposedBy?: string[];
  changes?: ChangedField[];
  /** Repair Succeeded: the escalated incident (paged) that this success resolves. */
  resolvesEscalation?: string;
}

/** One field of a change that needs a second person, old → new (a secret only ever by its ARN). */
export interface ChangedField {
  field: string;
  from: string | null;
  to: string | null;
}

/** The desired item's fields that name a secret. */
export type SecretField = 'keyStorePasswordSecretArn' | 'xksProxy.credentialSecretArn';

/** Everything `plan` may look at for one store. */
export interface PlanInput {
  scope: Scope;
  desired: DesiredStore;
  /** null: no store of that name (or id) in KMS. */
  observed: ObservedStore | null;
  /** Clusters by id (the observed store's and the desired one); a missing key means not found. */
  clusters: ReadonlyMap<string, ClusterView>;
  /** Current (AWSCURRENT) VersionId of the password secret / XKS credential secret; null when not read or absent. */
  passwordVersion: string | null;
  xksCredentialVersion: string | null;
  /** null: the store has never been seen by the reconciler. */
  status: StoreStatus | null;
  settings: Settings;
  /** Set by a full pass when too many stores fail at once: report, do not repair. */
  regionalIncident: boolean;
  /** Inputs of this store that could not be read in this run (e.g. `password secret version`): the run waits, never judges. */
  unreadable: readonly string[];
  /**
   * Secret fields of the desired item whose secret was read in this run and does not exist (Secrets
   * Manager answered ResourceNotFoundException, or the secret holds no current version): a finding of its own.
   */
  missingSecrets: readonly SecretField[];
  /** Every signature of this store: a change that needs a second person is applied once two persons signed it. */
  signatures: readonly Signature[];
  /** A manual change a trigger reported for this store (CloudTrail), or null. */
  manualChange: ManualChange | null;
  now: number;
}

/** The result of `plan`: one action, why, the status to record, and the events to emit. */
export interface Decision {
  action: Action;
  /** Human-readable reason; always present. */
  reason: string;
  /** True when the action is only reported (mode `plan`/`observe`, kill switch, regional incident). */
  dryRun: boolean;
  /** The action that would have been taken if this were not a dry run ('none' if nothing). */
  intended: ActionKind;
  nextStatus: StoreStatus;
  events: EventDraft[];
}
