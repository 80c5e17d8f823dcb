/**
 * `cks apply -f <file> [--dry-run] [--prune]`: validates the whole file, shows what changes store by
 * store, then writes (each changed store gets a new generation recording who wrote it) and, with
 * `--prune`, removes the stores the file no longer names. Nothing is written unless everything
 * validates; a write that still fails says which stores were written and which were not.
 */
import { readFile } from 'node:fs/promises';
import { MAX_ITEM_BYTES } from '../adapters/dynamodb-store.js';
import type { DesiredStoreSpec } from '../domain/desired-schema.js';
import { type SignedChange, storeChange } from '../domain/signatures.js';
import { storeSubject } from '../domain/table-keys.js';
import type { DesiredStore, ObservedStore } from '../domain/types.js';
import { count } from '../domain/words.js';
import { errorMessage, scrubbedError } from '../errors.js';
import { sameScope, scopeLabel } from '../fleet/scope.js';
import { groupByScope } from '../fleet/targets.js';
import type { StatePort } from '../reconcile/ports.js';
import { signChange } from './approval.js';
import { type CliContext, CliError, type Deps } from './context.js';
import { diffStores, renderDiff, summarise } from './diff.js';
import { parseStoresFile } from './stores-file.js';
import { printable } from './table.js';

export interface ApplyOptions {
  dryRun: boolean;
  prune: boolean;
}

export async function applyCommand(ctx: CliContext, file: string, options: ApplyOptions): Promise<number> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  // The file alone first: a syntax or field error needs no AWS call.
  const parsed = parseStoresFile(text, file);
  if (!parsed.ok) return reject(ctx, file, parsed.errors);

  const fleet = await ctx.fleet();
  const home = ctx.scope ?? fleet.home;
  const homeDeps = fleet.deps(home);
  const kmsStores = await readKmsStores(ctx, homeDeps);
  const checked = parseStoresFile(text, file, { scope: home, secretPrefix: ctx.secretPrefix, kmsStores });
  if (!checked.ok) return reject(ctx, file, checked.errors);

  // Each store goes to the partition of the account and Region it names (default: the deployment's own).
  const groups = groupByScope(checked.specs, home);
  if (!groups.some((g) => sameScope(g.scope, home))) groups.unshift({ scope: home, specs: [] });
  const plans = await Promise.all(
    groups.map(async ({ scope, specs }) => {
      const deps = fleet.deps(scope);
      const { records } = await deps.state.loadAll();
      const current = new Map(records.flatMap((record) => (record.desired === null ? [] : [[record.name, record.desired] as const])));
      const changes = diffStores(current, specs);
      const toWrite = specs.filter((spec) => changes.some((c) => c.name === spec.name && (c.kind === 'added' || c.kind === 'changed')));
      return { scope, deps, changes, toWrite, current };
    }),
  );
  const writes = plans.flatMap((p) => p.toWrite);
  // Who writes is asked of STS only when something is written.
  const caller = options.dryRun || writes.length === 0 ? null : await ctx.caller();
  const changedBy = caller?.arn ?? null;
  const tooLarge = writes.flatMap((spec) => {
    const bytes = homeDeps.state.desiredItemBytes(spec, changedBy);
    return bytes > MAX_ITEM_BYTES
      ? [`${file}: store "${printable(spec.name)}": its item would be ${bytes} bytes, over DynamoDB's ${MAX_ITEM_BYTES}`]
      : [];
  });
  const missingSecrets = (await Promise.all(plans.map(({ deps, toWrite }) => checkSecrets(ctx, deps, file, toWrite)))).flat();
  if (tooLarge.length > 0 || missingSecrets.length > 0) return reject(ctx, file, [...tooLarge, ...missingSecrets]);

  const changes = plans.flatMap((p) => p.changes);
  for (const { scope, changes: scoped } of plans) {
    if (!sameScope(scope, home) && scoped.length > 0) ctx.print(`in ${scopeLabel(scope)}:`);
    for (const line of renderDiff(scoped, { file, prune: options.prune })) ctx.print(line);
  }
  if (options.dryRun) {
    ctx.print(`dry run of ${file}: ${summarise(changes, options.prune)}; nothing was written`);
    return 0;
  }
  // The proposer signs each change first (a change that needs a second person then waits for one more):
  // a signature IAM refuses stops the apply before anything is written.
  const now = homeDeps.clock.now();
  for (const { deps, toWrite, current } of plans) {
    for (const spec of toWrite) {
      if (caller !== null) await signChange(deps.state, caller, proposedChange(spec, current.get(spec.name)), now, `store "${printable(spec.name)}"`);
    }
  }
  // The deployment's own scope is always swept: the others get a registration, before any store is written there
  // (an apply that stops halfway leaves no store unswept) and again after (a pass that closed the scope meanwhile
  // did not see these stores: the registration it closed is no longer the scope's).
  const register = async (): Promise<void> => {
    for (const { scope, deps, toWrite } of plans) {
      if (!sameScope(scope, fleet.home) && toWrite.length > 0) await deps.state.registerScope();
    }
  };
  await register();
  const batches = plans.map(({ scope, deps, changes: scoped, toWrite }) => ({
    state: deps.state,
    where: sameScope(scope, home) ? '' : ` (${scopeLabel(scope)})`,
    specs: toWrite,
    removed: options.prune ? scoped.filter((c) => c.kind === 'removed').map((c) => c.name) : [],
  }));
  await write(file, batches, { now, changedBy });
  await register();
  ctx.print(`applied ${file}: ${summarise(changes, options.prune)}`);
  return 0;
}

/**
 * The change writing `spec` over the stored item `existing` makes: its next generation, with the
 * operator fields `putDesired` keeps (the last retry), as the reconciler will read it.
 */
function proposedChange(spec: DesiredStoreSpec, existing: Record<string, unknown> | undefined): SignedChange {
  const retryRequestedAt = typeof existing?.retryRequestedAt === 'number' ? existing.retryRequestedAt : null;
  const desired: DesiredStore = {
    ...spec,
    generation: Number(existing?.generation ?? 0) + 1,
    paused: existing?.paused === true,
    retryRequestedAt,
    changedBy: null,
  };
  return storeChange(storeSubject(spec.name), desired);
}

/** The stores to write to one state (one account and Region), and those to remove from it; `where` names that scope in messages. */
export interface WriteBatch {
  state: Pick<StatePort, 'putDesired' | 'deleteDesired'>;
  where: string;
  specs: readonly DesiredStoreSpec[];
  removed: readonly string[];
}

/**
 * Writes the stores one by one, then removes the removed ones, batch after batch. Every check that
 * can fail has passed, but a write can still fail (throttling past the SDK's retries, a lost
 * condition): the error then says which stores were written and which were not, in every scope, and
 * applying the same file again finishes the job.
 */
export async function write(file: string, batches: readonly WriteBatch[], at: { now: number; changedBy: string | null }): Promise<void> {
  const steps = batches.flatMap(({ state, where, specs, removed }) => [
    ...specs.map((spec) => ({
      name: `"${printable(spec.name)}"${where}`,
      done: 'written',
      run: () => state.putDesired([spec], at.now, at.changedBy),
    })),
    ...removed.map((name) => ({ name: `"${printable(name)}"${where}`, done: 'removed', run: () => state.deleteDesired(name) })),
  ]);
  for (const [index, step] of steps.entries()) {
    try {
      await step.run();
    } catch (error) {
      const list = (part: typeof steps, what: (s: (typeof steps)[number]) => string): string =>
        part.length === 0 ? 'none' : part.map((s) => `${s.name}${what(s)}`).join(', ');
      const done = steps.slice(0, index);
      const left = steps.slice(index);
      throw new CliError(
        `${file} was applied only in part: store ${step.name} failed: ${errorMessage(error)}. ` +
          `Done (${count(done.length, 'store')}): ${list(done, (s) => ` ${s.done}`)}. ` +
          `Not done (${count(left.length, 'store')}): ${list(left, (s) => ` not ${s.done}`)}. Apply the file again to finish.`,
      );
    }
  }
}

/**
 * The stores KMS has, so that entries naming one store by its id and another by its name are found
 * out. When KMS cannot be read (no permission), entries are compared by declared ids and names only.
 */
async function readKmsStores(ctx: CliContext, deps: Deps): Promise<ObservedStore[] | null> {
  try {
    return await deps.kms.listStores();
  } catch (error) {
    ctx.io.stderr(`cks: note: KMS stores not read (${errorMessage(error)}); entries are compared by their declared ids and names only\n`);
    return null;
  }
}

/**
 * The secrets the written stores name, looked up (DescribeSecret, never the value) in their own
 * account and Region: one error line per secret that does not exist. A secret that cannot be looked
 * up (no permission, throttling) is not taken as missing: a warning says so and the apply goes on.
 */
async function checkSecrets(ctx: CliContext, deps: Deps, file: string, specs: readonly DesiredStoreSpec[]): Promise<string[]> {
  const named = specs.flatMap((spec) => [
    ...(spec.keyStorePasswordSecretArn !== undefined
      ? [{ store: spec.name, field: 'keyStorePasswordSecretArn', arn: spec.keyStorePasswordSecretArn }]
      : []),
    ...(spec.xksProxy !== undefined ? [{ store: spec.name, field: 'xksProxy.credentialSecretArn', arn: spec.xksProxy.credentialSecretArn }] : []),
  ]);
  // One lookup per secret, however many stores name it.
  const lookups = new Map(
    [...new Set(named.map(({ arn }) => arn))].map((arn) => [
      arn,
      deps.secrets.currentVersion(arn).then(
        (version) => ({ exists: version !== null, error: null }),
        (error: unknown) => ({ exists: true, error: scrubbedError(error) }),
      ),
    ]),
  );
  const errors: string[] = [];
  for (const { store, field, arn } of named) {
    const where = `${file}: store "${printable(store)}": ${field} ${arn}`;
    const { exists, error } = await lookups.get(arn)!;
    if (error !== null) ctx.io.stderr(`cks: warning: ${where} could not be checked (${error}); applied without knowing whether the secret exists\n`);
    else if (!exists) errors.push(`${where} names no secret: Secrets Manager has no such secret (or it holds no current version)`);
  }
  return errors;
}

function reject(ctx: CliContext, file: string, errors: readonly string[]): number {
  for (const error of errors) ctx.io.stderr(`${error}\n`);
  ctx.io.stderr(`cks: ${file} rejected (${count(errors.length, 'error')}); nothing was written\n`);
  return 1;
}
