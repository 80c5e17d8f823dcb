/**
 * Fan-out over the fleet's scopes. The coordinator (the scheduled `sweep` function) lists the scopes
 * and hands each other scope to the worker through SQS, one message each, then reconciles its
 * own scope itself; without a queue (local runs, `cks sweep --all`) the same per-scope pass runs here,
 * a bounded number of scopes at a time.
 */
import type { Scope } from '../domain/types.js';
import { errorMessage } from '../errors.js';
import type { Trigger } from '../reconcile/reconcile-store.js';
import { reachAndReconcile, type ScopeOutcome, type ScopeRuntime } from './reach-scope.js';
import { fleetScopes, sameScope, scopeLabel } from './scope.js';

/** Where the coordinator sends the scopes for the worker (an SQS queue). */
export interface ScopeQueuePort {
  /** One message per scope; throws when any could not be sent. */
  send(scopes: readonly Scope[]): Promise<void>;
}

/** A scope's pass, or the deployment failure that stopped it (its table or bus), kept apart from the others. */
export type FleetOutcome = ScopeOutcome | { scope: Scope; status: 'failed'; error: string };

/** Runs `work` on every item, at most `limit` at once; results in the items' order. */
export async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(limit, 1), items.length) }, lane));
  return results;
}

/** Every scope of the fleet: the registry's and the deployment's own. */
export async function listFleet(runtime: ScopeRuntime): Promise<Scope[]> {
  return fleetScopes(await runtime.deps(runtime.home).state.listScopes(), runtime.home);
}

/**
 * Reconciles `scopes` here, `concurrency` at a time, each through {@link reachAndReconcile}: what the worker
 * does with one message. A scope whose pass throws is reported as `failed` and the others go on.
 */
export async function reconcileScopes(
  runtime: ScopeRuntime,
  scopes: readonly Scope[],
  request: { trigger: Trigger; dryRun?: boolean; concurrency: number },
): Promise<FleetOutcome[]> {
  return mapConcurrently(scopes, request.concurrency, async (scope): Promise<FleetOutcome> => {
    try {
      return await reachAndReconcile(runtime, scope, request);
    } catch (error) {
      runtime.deps(scope).logger.error('fleet pass: scope failed', { scope: scopeLabel(scope), error: errorMessage(error) });
      return { scope, status: 'failed', error: errorMessage(error) };
    }
  });
}

/** What one coordinator run did: its own scope's pass, and the other scopes sent to the worker or swept here. */
export interface FleetRun {
  home: ScopeOutcome;
  /** Scopes handed to the worker through the queue. */
  queued: Scope[];
  /** Scopes swept here because no queue is configured. */
  swept: FleetOutcome[];
}

/**
 * The coordinator: sends every other scope to the queue first (so that nothing here delays them),
 * then reconciles its own scope. Without a queue it reconciles the other scopes itself, `concurrency`
 * at a time, beside its own. Its own scope's failure is thrown, as a single scope's pass always was.
 */
export async function reconcileFleet(
  runtime: ScopeRuntime,
  options: { trigger: Trigger; queue: ScopeQueuePort | null; concurrency: number },
): Promise<FleetRun> {
  const others = (await listFleet(runtime)).filter((scope) => !sameScope(scope, runtime.home));
  if (options.queue) {
    await options.queue.send(others);
    return { home: await reachAndReconcile(runtime, runtime.home, options), queued: others, swept: [] };
  }
  const [home, swept] = await Promise.all([
    reachAndReconcile(runtime, runtime.home, options),
    reconcileScopes(runtime, others, { trigger: options.trigger, concurrency: Math.max(options.concurrency - 1, 1) }),
  ]);
  return { home, queued: [], swept };
}
