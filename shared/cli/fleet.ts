/**
 * The fleet's commands: `cks status --all` (every scope, grouped by account and Region, with totals)
 * and `cks sweep --all` (every scope, through the same per-scope pass as the coordinator and the
 * worker, `CKS_FLEET_CONCURRENCY` scopes at a time).
 */
import { loadFleetConfig } from '../config.js';
import type { Scope } from '../domain/types.js';
import { errorMessage } from '../errors.js';
import { isUnreachable } from '../fleet/reach-scope.js';
import { type FleetOutcome, listFleet, mapConcurrently, reconcileScopes } from '../fleet/reconcile-fleet.js';
import { scopeLabel } from '../fleet/scope.js';
import type { CliContext } from './context.js';
import { loadScopeStatus, renderStatus, type StatusRow } from './status.js';
import { isoTime } from './table.js';

/** One scope of `cks status --all --output json`. */
export interface ScopeStatus {
  accountId: string;
  region: string;
  /**
   * false: its stores could not be read by `cks` (`stores` is empty), or the reconciler recorded that it
   * cannot reach the scope (`unreachableSince` is set; `stores` are as `cks` reads them); `error` says why.
   */
  reachable: boolean;
  error: string | null;
  /** ISO time the reconciler's open unreachable incident began (the `Scope Unreachable` page), or null. */
  unreachableSince: string | null;
  stores: StatusRow[];
}

/**
 * Reads every scope's status, `concurrency` scopes at a time; a scope that cannot be reached, by
 * `cks` or (as its open `Scope Unreachable` incident records) by the reconciler, is listed as such.
 */
export async function loadFleetStatus(ctx: CliContext): Promise<ScopeStatus[]> {
  const fleet = await ctx.fleet();
  return mapConcurrently(await listFleet(fleet), loadFleetConfig(ctx.io.env).concurrency, async (scope: Scope): Promise<ScopeStatus> => {
    try {
      await fleet.reach(scope);
      const { rows, unreachable } = await loadScopeStatus(fleet.deps(scope));
      if (unreachable === null) return { ...scope, reachable: true, error: null, unreachableSince: null, stores: rows };
      const error = `the reconciler cannot reach it: ${unreachable.operation} failed with ${unreachable.errorCode}, incident ${unreachable.incidentId}`;
      return { ...scope, reachable: false, error, unreachableSince: isoTime(unreachable.since), stores: rows };
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      return { ...scope, reachable: false, error: errorMessage(error), unreachableSince: null, stores: [] };
    }
  });
}

/** Per scope a heading with its counts and its stores' table, then the fleet's totals. */
export function renderFleetStatus(scopes: readonly ScopeStatus[]): string {
  const blocks = scopes.map((scope) => {
    const since = scope.unreachableSince !== null ? ` since ${scope.unreachableSince}` : '';
    const seen = scope.stores.length > 0 ? `; as cks reads them: ${countsOf(scope.stores)}` : '';
    const heading = `${scopeLabel(scope)}: ${scope.reachable ? countsOf(scope.stores) : `UNREACHABLE${since} (${scope.error})${seen}`}`;
    return scope.stores.length > 0 ? `${heading}\n${renderStatus(scope.stores)}` : heading;
  });
  const all = scopes.flatMap((scope) => scope.stores);
  const accounts = new Set(scopes.map((scope) => scope.accountId)).size;
  const unreachable = scopes.filter((scope) => !scope.reachable).length;
  const totals =
    `total: ${scopes.length} scopes in ${accounts} accounts` + `${unreachable > 0 ? ` (${unreachable} unreachable)` : ''}; ${countsOf(all)}`;
  return [...blocks, totals].join('\n\n');
}

/** `3 stores (2 CONNECTED, 1 FAILED)`. */
function countsOf(rows: readonly StatusRow[]): string {
  const byState = new Map<string, number>();
  for (const row of rows) byState.set(row.connectionState, (byState.get(row.connectionState) ?? 0) + 1);
  const states = [...byState.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `${n} ${state}`);
  return `${rows.length} ${rows.length === 1 ? 'store' : 'stores'}${states.length > 0 ? ` (${states.join(', ')})` : ''}`;
}

/** `cks sweep --all`: one pass over every scope; returns the outcomes (rendered by the caller). */
export async function sweepAll(ctx: CliContext): Promise<FleetOutcome[]> {
  const fleet = await ctx.fleet();
  return reconcileScopes(fleet, await listFleet(fleet), { trigger: 'cli', concurrency: loadFleetConfig(ctx.io.env).concurrency });
}
