/**
 * `cks status`: each declared store's desired state beside what KMS reports right now and what the
 * reconciler recorded (phase, attempts, last action and why).
 */
import { formatFieldErrors, parseDesiredItem } from '../domain/desired-schema.js';
import { type ConnectionErrorCode, type ConnectionState, describeLastAction, type Mode, type ObservedStore, type Phase } from '../domain/types.js';
import type { Deps } from './context.js';
import { isoTime, renderTable } from './table.js';

/** One element of `cks status --output json` (DESIGN.md §5); null where unknown. */
export interface StatusRow {
  name: string;
  id: string | null;
  desiredState: string | null;
  /** Live from DescribeCustomKeyStores; `MISSING` when KMS has no such store. */
  connectionState: ConnectionState | 'MISSING';
  connectionErrorCode: ConnectionErrorCode | null;
  /** The reconciler's phase; `INVALID` when the desired item fails validation (see `error`). */
  phase: Phase | 'INVALID' | null;
  attempt: number | null;
  maxAttempts: number | null;
  mode: Mode | null;
  paused: boolean | null;
  lastAction: string | null;
  lastReason: string | null;
  /** ISO time of the next repair attempt, while backing off. */
  nextAttemptAt: string | null;
  /** Why the desired item is invalid. */
  error: string | null;
}

/** Reads the table (one Query) and KMS (DescribeCustomKeyStores pages) and joins them by store. */
export async function loadStatus(deps: Deps): Promise<StatusRow[]> {
  const [{ records }, observed] = await Promise.all([deps.state.loadAll(), deps.kms.listStores()]);
  const now = deps.clock.now();
  const byId = new Map(observed.map((store) => [store.id, store]));
  const byName = new Map(observed.map((store) => [store.name, store]));
  const find = (id: unknown, name: string): ObservedStore | null =>
    (typeof id === 'string' ? byId.get(id) : byName.get(name)) ?? null;

  const rows = records.flatMap((record): StatusRow[] => {
    if (record.desired === null) return [];
    const status = record.status;
    const parsed = parseDesiredItem(record.desired);
    const desired = parsed.ok ? parsed.desired : null;
    const store = find(desired ? desired.id : record.desired.id, record.name);
    const raw = (key: string): string | null => (typeof record.desired?.[key] === 'string' ? String(record.desired[key]) : null);
    return [
      {
        name: record.name,
        id: store?.id ?? desired?.id ?? status?.storeId ?? null,
        desiredState: desired?.desiredState ?? raw('desiredState'),
        connectionState: store?.connectionState ?? 'MISSING',
        connectionErrorCode: store?.connectionErrorCode ?? null,
        phase: parsed.ok ? (status?.phase ?? null) : 'INVALID',
        attempt: status?.attempt ?? null,
        maxAttempts: desired?.maxAttempts ?? null,
        mode: desired?.mode ?? null,
        paused: desired?.paused ?? null,
        lastAction: describeLastAction(status?.lastAction ?? null),
        lastReason: status?.lastReason ?? null,
        nextAttemptAt: status?.nextAttemptAt && status.nextAttemptAt > now ? isoTime(status.nextAttemptAt) : null,
        error: parsed.ok ? null : formatFieldErrors(parsed.errors),
      },
    ];
  });
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

/** The rows as aligned columns; the reason (or the validation error) comes last. */
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
      row.error ?? row.lastReason,
    ]),
  );
}
