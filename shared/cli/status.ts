/**
 * `cks status [<store>]`: each declared store's desired state beside what KMS reports right now and
 * what the reconciler recorded (phase, attempts, last action and why, what it waits for); for one
 * store, the whole of it: every field desired and observed, the hold, the runbook and its history.
 */
import { formatFieldErrors, parseDesiredItem } from '../domain/desired-schema.js';
import { describeChanges } from '../domain/plan/approval.js';
import { releasedBy } from '../domain/plan/hold.js';
import {
  type ChangedField,
  type ConnectionErrorCode,
  type ConnectionState,
  type DesiredStore,
  describeLastAction,
  type EventDetailType,
  type ManualDisconnectPolicy,
  type Mode,
  type ObservedStore,
  type Phase,
  type Scope,
  type Settings,
  type UnreachableMark,
} from '../domain/types.js';
import { count } from '../domain/words.js';
import type { HistoryEntry, StoreRecord } from '../reconcile/ports.js';
import { approvalWaiting } from './approval.js';
import { CliError, type Deps } from './context.js';
import { isoTime, printable, renderTable, wrap } from './table.js';

/** One element of `cks status --output json`; null where unknown. */
export interface StatusRow {
  name: string;
  id: string | null;
  desiredState: string | null;
  /** Live from DescribeCustomKeyStores; `MISSING` when KMS has no such store. */
  connectionState: ConnectionState | 'MISSING';
  connectionErrorCode: ConnectionErrorCode | null;
  /** The reconciler's phase; `INVALID` when the desired item fails validation (see `error`). */
  phase: Phase | 'INVALID' | null;
  incidentId: string | null;
  attempt: number | null;
  maxAttempts: number | null;
  mode: Mode | null;
  paused: boolean | null;
  lastAction: string | null;
  lastReason: string | null;
  /** ISO time of the next repair attempt, while backing off. */
  nextAttemptAt: string | null;
  /** While ESCALATED: what releases the hold. */
  waitingFor: string | null;
  /** While HELD: the manual change the reconciler honours (who, when, which call) and how to release it. */
  held: { by: string | null; at: string | null; eventName: string | null; release: string } | null;
  /**
   * CloudHSM: failed kmsuser logins the reconciler's connects caused, and how many it may cause before it
   * stops (the budget in force: a higher desired one waits for two persons' signatures, see `approval`).
   */
  failedLogins: number | null;
  loginBudget: number | null;
  /** What the reconciler does when a human disconnects the store: the policy in force (`reconnect` only once two persons signed it). */
  onManualDisconnect: ManualDisconnectPolicy | null;
  /**
   * The change of the current generation waiting for two persons' signatures (`cks approve`): what it
   * changes, old → new, and who signed it so far.
   */
  approval: { generation: number; digest: string; fields: string[]; changes: ChangedField[]; signedBy: string[] } | null;
  /** Why the desired item is invalid. */
  error: string | null;
}

/** A store's row, with its validated desired item (for the one-store view). */
interface StoreView {
  row: StatusRow;
  desired: DesiredStore | null;
}

/** Reads the table (one Query) and KMS (DescribeCustomKeyStores pages) and joins them by store. */
export async function loadStatus(deps: Deps): Promise<StatusRow[]> {
  return (await loadScopeStatus(deps)).rows;
}

/** {@link loadStatus}, and the unreachable incident the reconciler recorded for the scope (null: none open). */
export async function loadScopeStatus(deps: Deps): Promise<{ rows: StatusRow[]; unreachable: UnreachableMark | null }> {
  const [{ records, settings, unreachable }, observed] = await Promise.all([deps.state.loadAll(), deps.kms.listStores()]);
  const find = finder(observed);
  const rows = records
    .flatMap((record) => (record.desired === null ? [] : [storeView(record, find, settings, deps.state.scope, deps.clock.now()).row]))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { rows, unreachable: unreachable ?? null };
}

/** The rows as aligned columns; the reason (or the validation error) comes last, after what waits for an operator. */
export function renderStatus(rows: readonly StatusRow[]): string {
  if (rows.length === 0) return 'no stores declared: write a stores file and run `cks apply -f stores.yaml`';
  return renderTable(
    ['NAME', 'ID', 'DESIRED', 'STATE', 'ERROR CODE', 'PHASE', 'ATTEMPT', 'MODE', 'LAST ACTION', 'NEXT ATTEMPT', 'REASON'],
    rows.map((row) => [
      row.name,
      row.id,
      row.desiredState,
      row.connectionState,
      row.connectionErrorCode,
      row.paused ? `${row.phase ?? '-'} (paused)` : row.phase,
      row.attempt === null ? null : row.maxAttempts === null ? row.attempt : `${row.attempt}/${row.maxAttempts}`,
      row.mode,
      row.lastAction,
      row.nextAttemptAt,
      [...operatorNotes(row), row.error ?? row.lastReason].filter((part) => part !== null).join(' · '),
    ]),
  );
}

/** History entries `cks status <store>` shows. */
const HISTORY_SHOWN = 10;

/** One store, whole: its row, the runbook of what it waits for, and its newest history entries. */
export interface StoreDetail extends StatusRow {
  /** The documented fix of what the store waits for (from its history, so it reads the same against AWS). */
  runbook: { type: EventDetailType; at: string | null; text: string } | null;
  /** Each field desired beside what KMS has. */
  fields: Array<{ field: string; desired: string | null; observed: string | null }>;
  history: HistoryEntry[];
}

/** A store no longer declared (deleted, pruned) whose history is still kept. */
export interface RemovedStore {
  name: string;
  history: HistoryEntry[];
}

/** `cks status <store>`; a store with neither a desired item nor history is an error. */
export async function loadStoreDetail(deps: Deps, name: string): Promise<StoreDetail | RemovedStore> {
  const [record, history, settings] = await Promise.all([
    deps.state.load(name),
    deps.state.history(name, { limit: HISTORY_SHOWN }),
    deps.state.getSettings(),
  ]);
  if (record.desired === null) {
    if (history.length === 0)
      throw new CliError(
        `no desired store named "${printable(name)}" in ${deps.state.scope.accountId}/${deps.state.scope.region}, and no history of one`,
      );
    return { name, history };
  }
  const parsed = parseDesiredItem(record.desired);
  const ref = parsed.ok && parsed.desired.id !== undefined ? { id: parsed.desired.id } : { name };
  const observed = await deps.kms.describeStore(ref);
  const { row, desired } = storeView(record, () => observed, settings, deps.state.scope, deps.clock.now());
  return { ...row, runbook: runbookOf(row, history), fields: fieldPairs(desired, observed), history };
}

/** The one-store view for people. */
export function renderStoreDetail(detail: StoreDetail | RemovedStore, width: number): string {
  if (!('phase' in detail)) {
    return [
      `${printable(detail.name)} is not declared (removed from the desired state, or never applied); its newest history:`,
      '',
      renderHistory(detail.history),
    ].join('\n');
  }
  const facts: Array<[string, string | null]> = [
    ['id', detail.id],
    [
      'phase',
      [detail.paused ? `${detail.phase ?? '-'} (paused)` : detail.phase, detail.incidentId && `incident ${detail.incidentId}`]
        .filter(Boolean)
        .join(', ') || null,
    ],
    [
      'attempt',
      detail.attempt === null || (detail.attempt === 0 && detail.incidentId === null) ? null : `${detail.attempt} of ${detail.maxAttempts ?? '-'}`,
    ],
    ['next attempt', detail.nextAttemptAt],
    ['mode', detail.mode],
    ['waiting for', detail.waitingFor],
    [
      'held',
      detail.held &&
        `after the manual change by ${detail.held.by ?? 'someone other than the reconciler'}${detail.held.eventName ? ` (${detail.held.eventName})` : ''} at ${detail.held.at ?? '-'}; ${detail.held.release}`,
    ],
    [
      'login budget',
      detail.failedLogins === null
        ? null
        : `${detail.failedLogins} of ${count(detail.loginBudget ?? 0, 'failed kmsuser login')} used by the reconciler's connects${detail.failedLogins > 0 ? ' (`cks retry` resets it)' : ''}`,
    ],
    ['approval', detail.approval && approvalText(detail.name, detail.approval)],
    ['last action', detail.lastAction],
    ['reason', detail.error ?? detail.lastReason],
  ];
  const known = facts.filter((fact): fact is [string, string] => fact[1] !== null);
  const label = Math.max(...known.map(([key]) => key.length));
  const lines = [
    printable(detail.name),
    ...known.flatMap(([key, value]) =>
      wrap(printable(value), width - label - 4).map((line, i) => `  ${(i === 0 ? key : '').padEnd(label)}  ${line.trim()}`),
    ),
    '',
    renderTable(
      ['FIELD', 'DESIRED', 'KMS'],
      detail.fields.map((f) => [f.field, f.desired, f.desired === f.observed ? f.observed : `${f.observed ?? '-'} (differs)`]),
    ),
  ];
  if (detail.runbook !== null) {
    lines.push(
      '',
      `RUNBOOK (${detail.runbook.type}${detail.runbook.at ? `, ${detail.runbook.at}` : ''})`,
      ...wrap(printable(detail.runbook.text), width - 2).map((l) => `  ${l.trim()}`),
    );
  } else if (detail.phase === 'ESCALATED' || detail.phase === 'HELD') {
    lines.push('', 'RUNBOOK: not in the history kept; docs/operations/runbook.md lists the fix for each error code');
  }
  lines.push('', `HISTORY (newest ${HISTORY_SHOWN})`, renderHistory(detail.history));
  return lines.join('\n');
}

function renderHistory(history: readonly HistoryEntry[]): string {
  if (history.length === 0) return 'no history yet';
  return renderTable(
    ['TIME', 'ACTION', 'EVENTS', 'REASON'],
    history.map((entry) => [
      isoTime(entry.at),
      entry.dryRun ? `${entry.action} (dry run)` : entry.action,
      (entry.events ?? []).map((event) => event.type).join(', '),
      entry.error ? `${entry.reason}; error: ${entry.error}` : entry.reason,
    ]),
  );
}

/** Builds a store's row from its record and what KMS has. */
function storeView(
  record: StoreRecord,
  find: (id: unknown, name: string) => ObservedStore | null,
  settings: Settings,
  scope: Scope,
  now: number,
): StoreView {
  const status = record.status;
  const parsed = parseDesiredItem(record.desired);
  const desired = parsed.ok ? parsed.desired : null;
  const store = find(desired ? desired.id : record.desired?.id, record.name);
  const raw = (key: string): string | null => (typeof record.desired?.[key] === 'string' ? String(record.desired[key]) : null);
  const change = status?.phase === 'HELD' ? status.heldInputs?.manualChange : undefined;
  // The password version is not read here: a reset waiting for a second person may yet be released by a new password the sweep sees.
  const pending = desired === null ? null : approvalWaiting({ scope, desired, observed: store, settings, record, passwordVersion: null, now });
  const cloudHsm = desired?.type === 'AWS_CLOUDHSM';
  const row: StatusRow = {
    name: record.name,
    id: store?.id ?? desired?.id ?? status?.storeId ?? null,
    desiredState: desired?.desiredState ?? raw('desiredState'),
    connectionState: store?.connectionState ?? 'MISSING',
    connectionErrorCode: store?.connectionErrorCode ?? null,
    phase: parsed.ok ? (status?.phase ?? null) : 'INVALID',
    incidentId: status?.incidentId ?? null,
    attempt: status?.attempt ?? null,
    maxAttempts: desired?.maxAttempts ?? null,
    mode: desired?.mode ?? null,
    paused: desired?.paused ?? null,
    lastAction: describeLastAction(status?.lastAction ?? null),
    lastReason: status?.lastReason ?? null,
    nextAttemptAt: status?.nextAttemptAt && status.nextAttemptAt > now ? isoTime(status.nextAttemptAt) : null,
    waitingFor: status?.phase === 'ESCALATED' && desired ? releasedBy(status.heldInputs, status.failedLogins, desired.loginBudget) : null,
    held:
      status?.phase === 'HELD'
        ? {
            by: change?.by ?? null,
            at: isoTime(change?.at),
            eventName: change?.eventName ?? null,
            release: `\`cks resume ${record.name}\` (or a new desired generation) releases it`,
          }
        : null,
    failedLogins: cloudHsm ? (status?.failedLogins ?? 0) : null,
    loginBudget: cloudHsm ? (status?.loginBudgetInForce ?? desired?.loginBudget ?? null) : null,
    onManualDisconnect: status?.onManualDisconnectInForce ?? null,
    approval:
      pending === null
        ? null
        : {
            generation: pending.change.generation,
            digest: pending.change.digest,
            fields: pending.changes.map((c) => c.field),
            changes: pending.changes,
            signedBy: pending.signedBy,
          },
    error: parsed.ok ? null : formatFieldErrors(parsed.errors),
  };
  return { row, desired };
}

/** The store KMS has for a desired item: by id when it declares one (an invalid item too, if its id is a string), else by name. */
function finder(observed: readonly ObservedStore[]): (id: unknown, name: string) => ObservedStore | null {
  const byId = new Map(observed.map((store) => [store.id, store]));
  const byName = new Map(observed.map((store) => [store.name, store]));
  return (id, name) => (typeof id === 'string' ? byId.get(id) : byName.get(name)) ?? null;
}

/** What in a row waits for an operator, ahead of its reason in the table. */
function operatorNotes(row: StatusRow): string[] {
  return [
    ...(row.approval ? [approvalText(row.name, row.approval)] : []),
    ...(row.failedLogins !== null && row.failedLogins > 0 ? [`kmsuser logins ${row.failedLogins}/${row.loginBudget ?? '-'} of its budget`] : []),
  ];
}

function approvalText(name: string, approval: NonNullable<StatusRow['approval']>): string {
  const who =
    approval.signedBy.length === 0
      ? `signed by nobody yet; two persons each run \`cks approve ${name}\``
      : `signed by ${approval.signedBy.join(', ')}; a second person runs \`cks approve ${name}\``;
  return `approval waiting: ${describeChanges(approval.changes)} of generation ${approval.generation}, ${who}`;
}

/** The event whose runbook fits what the store waits for now, newest first from its history. */
function runbookOf(row: StatusRow, history: readonly HistoryEntry[]): StoreDetail['runbook'] {
  const type: EventDetailType | null =
    row.phase === 'ESCALATED'
      ? 'Repair Escalated'
      : row.phase === 'HELD'
        ? 'Manual Change Detected'
        : row.approval !== null
          ? 'Approval Required'
          : row.connectionState === 'MISSING'
            ? 'Store Missing'
            : null;
  for (const entry of history) {
    const event = entry.events?.find((e) => e.type === type && e.runbook !== undefined);
    if (event?.runbook !== undefined) return { type: event.type, at: isoTime(entry.at), text: event.runbook };
  }
  return null;
}

/** Every field the reconciler keeps in line, desired beside observed. */
function fieldPairs(desired: DesiredStore | null, observed: ObservedStore | null): StoreDetail['fields'] {
  const state = observed ? [observed.connectionState, observed.connectionErrorCode].filter(Boolean).join(' ') : 'MISSING';
  const pairs: Array<[string, string | undefined, string | undefined]> = [
    ['connectionState', desired?.desiredState, state],
    ['type', desired?.type, observed?.type],
    ['name', desired?.name, observed?.name],
  ];
  if (desired?.type === 'EXTERNAL_KEY_STORE') {
    const want = desired.xksProxy;
    const have = observed?.xksProxy;
    pairs.push(
      ['xksProxy.uriEndpoint', want?.uriEndpoint, have?.uriEndpoint],
      ['xksProxy.uriPath', want?.uriPath, have?.uriPath],
      ['xksProxy.connectivity', want?.connectivity, have?.connectivity],
      ['xksProxy.vpcEndpointServiceName', want?.vpcEndpointServiceName, have?.vpcEndpointServiceName],
    );
  } else {
    pairs.push(['cloudHsmClusterId', desired?.cloudHsmClusterId, observed?.cloudHsmClusterId]);
  }
  return pairs.map(([field, want, have]) => ({ field, desired: want ?? null, observed: have ?? null }));
}
