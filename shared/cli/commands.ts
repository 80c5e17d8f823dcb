/**
 * The `cks` commands that create the table or reconcile: init, plan, sweep.
 * Each returns the process exit code; expected failures are thrown and reported by `main`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsCall } from '../adapters/aws-errors.js';
import { ensureTable } from '../adapters/dynamodb-store.js';
import { formatFieldErrors } from '../domain/desired-schema.js';
import { count } from '../domain/words.js';
import type { FleetOutcome } from '../fleet/reconcile-fleet.js';
import { scopeLabel } from '../fleet/scope.js';
import { type ReconcileResult, reconcileScope } from '../reconcile/reconcile-scope.js';
import type { StoreOutcome } from '../reconcile/reconcile-store.js';
import { type CliContext, repeatUntilInterrupted } from './context.js';
import { sweepAll } from './fleet.js';
import { isoTime, printable, renderTable } from './table.js';

/** `cks init`: creates the table (the key schema `serverless.yml` uses) unless it exists. */
export async function initCommand(ctx: CliContext): Promise<number> {
  const { tableName } = ctx.config;
  const client = new DynamoDBClient(ctx.clientOptions);
  const created = await awsCall('DynamoDB.CreateTable', () => ensureTable(client, tableName));
  ctx.print(created ? `created table "${tableName}"` : `table "${tableName}" already exists; nothing to do`);
  return 0;
}

/**
 * `cks plan [--detailed-exitcode]`: a dry-run pass; prints what each store would get and why. Changes
 * nothing. With `detailedExitCode`, the exit code says it for pipelines: 0 nothing pending, 2 changes
 * pending, 1 an error (a store could not be planned, or its desired item is invalid). A store has a
 * change pending when it is not at its desired connection state (FAILED, MISSING, still connecting,
 * escalated and waiting for a human...) or the reconciler would act on it (also when its mode or the
 * kill switch holds the action back).
 */
export async function planCommand(ctx: CliContext, detailedExitCode: boolean): Promise<number> {
  const result = await reconcileScope(await ctx.deps(), { trigger: 'cli', dryRun: true });
  ctx.print(renderOutcomes(result));
  if (!detailedExitCode) return 0;
  const failed = result.outcomes.filter((o) => o.error !== null || o.skipped === 'invalid');
  if (failed.length > 0) {
    ctx.io.stderr(
      `cks: ${count(failed.length, 'store')} could not be planned (an invalid desired item, or an error): ${failed.map((o) => printable(o.name)).join(', ')}\n`,
    );
    return 1;
  }
  const pending = result.outcomes.flatMap((o) => {
    const why = pendingChange(o);
    return why === null ? [] : [`${printable(o.name)} (${why})`];
  });
  ctx.print(
    pending.length === 0
      ? 'no changes pending: every store is at its desired state and nothing is to be done'
      : `${count(pending.length, 'store')} with changes pending: ${pending.join(', ')}`,
  );
  return pending.length === 0 ? 0 : 2;
}

/** What is pending for a store: the action it would get, else how it differs from its desired state; null when nothing. */
function pendingChange(outcome: StoreOutcome): string | null {
  const { decision, desired, observed } = outcome;
  if (decision === null || desired === null) return null;
  if (decision.intended !== 'none') return decision.dryRun ? `${decision.intended}, held back` : decision.intended;
  const state = observed?.connectionState ?? 'MISSING';
  return state === desired.desiredState
    ? null
    : `${state}, desired ${desired.desiredState}${decision.nextStatus.phase === 'IDLE' ? '' : `, ${decision.nextStatus.phase}`}`;
}

/** `cks sweep [--watch --interval 5s]`: the scheduled Lambda's pass, once or until Ctrl-C. */
export async function sweepCommand(ctx: CliContext, watchIntervalMs: number | null, all = false): Promise<number> {
  const sweep = async (): Promise<void> => {
    const deps = await ctx.deps({ publishes: true });
    if (watchIntervalMs !== null) ctx.print(`sweep at ${isoTime(deps.clock.now())}`);
    if (!all) ctx.print(renderOutcomes(await reconcileScope(deps, { trigger: 'cli' })));
    else ctx.print((await sweepAll(ctx)).map(renderScopeOutcome).join('\n\n'));
  };
  if (watchIntervalMs === null) await sweep();
  else {
    await repeatUntilInterrupted(watchIntervalMs, async () => {
      await sweep();
      ctx.print();
    });
  }
  return 0;
}

/** One line per store: the action (taken, or for a dry run intended), the phase after it, and why. */
function renderOutcomes(result: ReconcileResult): string {
  const lines: string[] = [];
  if (result.outcomes.length === 0) lines.push('no stores declared: nothing to reconcile');
  else {
    lines.push(
      renderTable(
        ['NAME', result.dryRun ? 'WOULD' : 'ACTION', 'PHASE', 'REASON'],
        result.outcomes.map((o) => [
          o.name,
          action(o, result.dryRun),
          o.decision?.nextStatus.phase ?? (o.skipped === 'invalid' ? 'INVALID' : o.status?.phase),
          [o.decision?.reason ?? formatFieldErrors(o.errors), o.error && `error: ${o.error}`].filter(Boolean).join('; '),
        ]),
      ),
    );
  }
  if (result.regionalIncident) lines.push('regional incident: too many stores FAILED at once; reporting, not repairing');
  if (result.unmanaged.length > 0) {
    lines.push(`not declared (left alone): ${result.unmanaged.map((s) => `${printable(s.name)} (${s.id})`).join(', ')}`);
  }
  return lines.join('\n');
}

function action(outcome: StoreOutcome, dryRun: boolean): string {
  const decision = outcome.decision;
  if (outcome.skipped === 'invalid' || outcome.skipped === 'leased') return `skipped (${outcome.skipped})`;
  if (outcome.taken) return outcome.taken;
  if (!decision || decision.intended === 'none') return 'none';
  // Report-only: the store's mode, the kill switch or a regional incident hold the action back.
  if (decision.dryRun) return `${decision.intended} (report only)`;
  return dryRun ? decision.intended : 'none';
}

/** One scope of `cks sweep --all`: its stores, or why it could not be reconciled. */
function renderScopeOutcome(outcome: FleetOutcome): string {
  const label = scopeLabel(outcome.scope);
  switch (outcome.status) {
    case 'reconciled':
      return `${label}:\n${renderOutcomes(outcome.result)}`;
    case 'unreachable':
      return `${label}: UNREACHABLE: ${outcome.operation} failed with ${outcome.errorCode} (incident ${outcome.incidentId}${outcome.announced ? ', reported now' : ''})`;
    case 'closed':
      return `${label}: closed (no store is declared there any more; a \`cks apply\` there opens it again)`;
    case 'failed':
      return `${label}: FAILED: ${outcome.error}`;
    default: {
      const _exhaustive: never = outcome;
      throw new Error(`unknown scope outcome ${String(_exhaustive)}`);
    }
  }
}
