/**
 * The `cks` commands that write or reconcile: init, apply, plan, sweep, retry / pause / resume.
 * Each returns the process exit code; expected failures are thrown and reported by `main`.
 */
import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsCall } from '../adapters/aws-errors.js';
import { ensureTable } from '../adapters/dynamodb-store.js';
import { formatFieldErrors } from '../domain/desired-schema.js';
import type { OperatorRequest } from '../reconcile/ports.js';
import type { StoreOutcome } from '../reconcile/reconcile-store.js';
import { reconcile, type ReconcileResult } from '../reconcile/sweep.js';
import { CliError, repeatUntilInterrupted, type CliContext } from './context.js';
import { parseStoresFile } from './stores-file.js';
import type { FleetOutcome } from '../fleet/fan-out.js';
import { sameScope, scopeLabel } from '../fleet/scope.js';
import { groupByScope } from '../fleet/targets.js';
import { sweepAll } from './fleet.js';
import { isoTime, renderTable } from './table.js';

/** `cks init`: creates the table (the key schema `serverless.yml` uses) unless it exists. */
export async function initCommand(ctx: CliContext): Promise<number> {
  const { tableName, region, endpoint } = ctx.config;
  const client = new DynamoDBClient({ region, ...(endpoint !== undefined && { endpoint }), ...(ctx.credentials && { credentials: ctx.credentials }) });
  const created = await awsCall('DynamoDB.CreateTable', () => ensureTable(client, tableName));
  ctx.print(created ? `created table "${tableName}"` : `table "${tableName}" already exists; nothing to do`);
  return 0;
}

/**
 * `cks apply -f <file>`: validates the whole file first; if any store is invalid, prints every error
 * on stderr and writes nothing. Otherwise writes the desired items and says which changed.
 */
export async function applyCommand(ctx: CliContext, file: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  const parsed = parseStoresFile(text, file);
  if (!parsed.ok) {
    for (const error of parsed.errors) ctx.io.stderr(`${error}\n`);
    const count = parsed.errors.length === 1 ? '1 error' : `${parsed.errors.length} errors`;
    ctx.io.stderr(`cks: ${file} rejected (${count}); nothing was written\n`);
    return 1;
  }
  const fleet = await ctx.fleet();
  let changedCount = 0;
  // Each store goes to the partition of the account and Region it names.
  for (const { scope, specs } of groupByScope(parsed.specs, ctx.scope ?? fleet.home)) {
    const state = fleet.deps(scope).state;
    const home = sameScope(scope, fleet.home);
    const changed = new Set(await state.putDesired(specs, fleet.deps(scope).clock.now()));
    // The deployment's own scope is always swept: only the others need a registry entry.
    if (!home) await state.registerScope();
    const where = home ? '' : ` (${scopeLabel(scope)})`;
    for (const spec of specs) ctx.print(`${spec.name}${where}: ${changed.has(spec.name) ? 'changed (generation bumped)' : 'unchanged'}`);
    changedCount += changed.size;
  }
  ctx.print(`applied ${file}: ${changedCount} changed, ${parsed.specs.length - changedCount} unchanged`);
  return 0;
}

/** `cks plan`: a dry-run pass; prints what each store would get and why. Changes nothing. */
export async function planCommand(ctx: CliContext): Promise<number> {
  const result = await reconcile(await ctx.deps(), { trigger: 'cli', dryRun: true });
  ctx.print(renderOutcomes(result));
  return 0;
}

/** `cks sweep [--all] [--watch --interval 5s]`: the scheduled Lambda's pass (every scope with --all), once or until Ctrl-C. */
export async function sweepCommand(ctx: CliContext, watchIntervalMs: number | null, all = false): Promise<number> {
  const sweep = async (): Promise<void> => {
    const deps = await ctx.deps();
    if (watchIntervalMs !== null) ctx.print(`sweep at ${isoTime(deps.clock.now())}`);
    if (!all) ctx.print(renderOutcomes(await reconcile(deps, { trigger: 'cli' })));
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

const REQUEST_DONE: Record<OperatorRequest, string> = {
  retry:
    'retry requested: the next sweep releases the escalation and starts a new incident (a store held for INVALID_CREDENTIALS, USER_LOCKED_OUT or USER_NOT_FOUND waits for a new password secret version instead)',
  pause: 'paused: the reconciler keeps observing and reporting but does not act (`cks resume` to undo)',
  resume: 'resumed: the next sweep acts on it again',
};

/** `cks retry|pause|resume <store>`; an unknown store fails with one line (ConflictError). */
export async function requestCommand(ctx: CliContext, request: OperatorRequest, name: string): Promise<number> {
  const deps = await ctx.deps();
  await deps.state.request(name, request, deps.clock.now());
  ctx.print(`${name}: ${REQUEST_DONE[request]}`);
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
          [o.decision?.reason ?? formatFieldErrors(o.errors), o.error && `error: ${o.error}`]
            .filter(Boolean)
            .join('; '),
        ]),
      ),
    );
  }
  if (result.regionalIncident) lines.push('regional incident: too many stores FAILED at once; reporting, not repairing');
  if (result.unmanaged.length > 0) {
    lines.push(`not declared (left alone): ${result.unmanaged.map((s) => `${s.name} (${s.id})`).join(', ')}`);
  }
  return lines.join('\n');
}

/** A scope's heading, then its stores' outcomes, or why it was not reconciled. */
function renderScopeOutcome(outcome: FleetOutcome): string {
  const label = scopeLabel(outcome.scope);
  switch (outcome.status) {
    case 'reconciled':
      return `${label}:\n${renderOutcomes(outcome.result)}`;
    case 'unreachable':
      return `${label}: UNREACHABLE: ${outcome.operation} failed with ${outcome.errorCode} (incident ${outcome.incidentId}${outcome.announced ? ', reported now' : ''})`;
    case 'failed':
      return `${label}: FAILED: ${outcome.error}`;
    default: {
      const _exhaustive: never = outcome;
      throw new Error(`unknown scope outcome ${String(_exhaustive)}`);
    }
  }
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
