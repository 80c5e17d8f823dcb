/**
 * The `cks` commands that act on one declared store: retry, pause, resume, delete and approve. Each
 * reads the store first, says what it did to it, and exits 1 (writing nothing) when there was
 * nothing to do.
 */

import { parseDesiredItem } from '../domain/desired-schema.js';
import { describeChanges } from '../domain/plan/approval.js';
import { releasedBy } from '../domain/plan/hold.js';
import { personOf, storeChange } from '../domain/signatures.js';
import { storeSubject } from '../domain/table-keys.js';
import type { DesiredStore } from '../domain/types.js';
import { count } from '../domain/words.js';
import type { OperatorRequest, StoreRecord } from '../reconcile/ports.js';
import { approvalWaiting, signChange } from './approval.js';
import { type CliContext, CliError, type Deps } from './context.js';
import { isoTime, printable } from './table.js';

/** `cks retry|pause|resume <store>`. */
export async function requestCommand(ctx: CliContext, request: OperatorRequest, name: string): Promise<number> {
  const deps = await ctx.deps();
  const { record, desired } = await declared(deps, name);
  const effects = REQUEST_EFFECTS[request](record, desired);
  const store = printable(name);
  if (effects.length === 0) {
    ctx.io.stderr(`cks: ${store}: ${NOTHING_TO_DO[request](record, desired)}; nothing was written\n`);
    return 1;
  }
  const now = deps.clock.now();
  if (request === 'retry') {
    // The retry's generation is signed by who asks for it: a login-budget reset it makes may wait for a second person.
    const retried = { ...desired, generation: desired.generation + 1, retryRequestedAt: now };
    await signChange(deps.state, await ctx.caller(), storeChange(storeSubject(name), retried), now, store);
  }
  await deps.state.request(name, request, now);
  ctx.print(`${store}: ${DONE[request]}`);
  for (const effect of effects) ctx.print(`  ${effect}`);
  return 0;
}

const DONE: Record<OperatorRequest, string> = {
  retry: 'retry requested (new desired generation)',
  pause: 'paused: the reconciler keeps observing and reporting it but does not act (`cks resume` to undo)',
  resume: 'resumed (new desired generation)',
};

/** What each request does to this store; empty when it would do nothing. */
const REQUEST_EFFECTS: Record<OperatorRequest, (record: StoreRecord, desired: DesiredStore) => string[]> = {
  retry: (record, desired) => {
    const status = record.status;
    if (status === null) return [];
    const effects: string[] = [];
    if (status.phase === 'ESCALATED' && status.heldInputs?.awaitingNewPassword !== true) {
      effects.push(
        `releases the escalation of incident ${status.incidentId ?? '-'}: the next sweep starts a new incident with ${count(desired.maxAttempts, 'attempt')}`,
      );
    }
    if (status.phase === 'HELD') effects.push(releasesHold(record, desired));
    if (status.failedLogins > 0) {
      effects.push(
        `resets the login budget: the reconciler's connects caused ${count(status.failedLogins, 'failed kmsuser login')} (budget ${desired.loginBudget}), ` +
          'after which it stops sending the password so that kmsuser is not locked out (CloudHSM locks it at 5); ' +
          'with the budget reset, its connects send the password again: make sure the password secret holds the right one. ' +
          'Unless the password secret has a new version since, the reset waits for a second person to sign it (`cks approve`)',
      );
    }
    return effects;
  },
  pause: (_record, desired) => (desired.paused ? [] : ['the next sweep records it PAUSED; any open incident ends']),
  resume: (record, desired) => {
    const effects: string[] = [];
    if (desired.paused) effects.push('ends the pause: the next sweep acts on it again');
    if (record.status?.phase === 'HELD') effects.push(releasesHold(record, desired));
    return effects;
  },
};

/** Why a request would do nothing to this store. */
const NOTHING_TO_DO: Record<OperatorRequest, (record: StoreRecord, desired: DesiredStore) => string> = {
  retry: (record, desired) => {
    const status = record.status;
    if (status?.phase === 'ESCALATED') {
      return `nothing \`cks retry\` can release: the escalation waits for ${releasedBy(status.heldInputs, status.failedLogins, desired.loginBudget)}`;
    }
    return `nothing to retry: it is ${status?.phase ?? 'not yet seen by the reconciler'} (not ESCALATED or HELD) and no failed kmsuser login is counted against it`;
  },
  pause: () => 'already paused',
  resume: (record) => `nothing to resume: it is neither paused nor HELD (phase ${record.status?.phase ?? 'none yet'})`,
};

/** `cks delete <store>`: removes the store from the desired state; its history stays. */
export async function deleteCommand(ctx: CliContext, name: string): Promise<number> {
  const deps = await ctx.deps();
  if (!(await deps.state.deleteDesired(name))) throw notDeclared(deps, name);
  const store = printable(name);
  ctx.print(`${store}: removed from the desired state: no longer reported or reconciled, its status is closed`);
  ctx.print(`  the key store itself is left as it is in KMS; its history stays readable: cks events --store ${store}`);
  return 0;
}

/**
 * `cks approve <store>`: signs, as the caller, the change of the store's current desired generation
 * that needs a second person (whom the store trusts, a higher login budget, `reconnect`, a login-budget
 * reset). Refused when nothing waits, and when the caller's person already signed that change.
 */
export async function approveCommand(ctx: CliContext, name: string): Promise<number> {
  const deps = await ctx.deps();
  const { record, desired } = await declared(deps, name);
  const password = desired.keyStorePasswordSecretArn;
  const [observed, settings, caller, passwordVersion] = await Promise.all([
    deps.kms.describeStore(desired.id !== undefined ? { id: desired.id } : { name: desired.name }),
    deps.state.getSettings(),
    ctx.caller(),
    desired.type === 'AWS_CLOUDHSM' && password !== undefined ? deps.secrets.currentVersion(password) : Promise.resolve(null),
  ]);
  const store = printable(name);
  const now = deps.clock.now();
  const pending = approvalWaiting({ scope: deps.state.scope, desired, observed, settings, record, passwordVersion, now });
  if (pending === null) {
    throw new CliError(
      `${store}: nothing waits for approval (generation ${desired.generation} changes nothing that needs a second person, or two persons signed it)`,
    );
  }
  const me = personOf(caller.signer);
  if (me !== null && pending.signedBy.includes(me)) {
    throw new CliError(
      `${store}: refused: you (${me}) already signed generation ${desired.generation}; a second person must sign it (two sessions of one role are one person)`,
    );
  }
  await signChange(deps.state, caller, pending.change, now, store);
  const signedBy = [...pending.signedBy, ...(me !== null ? [me] : [])];
  ctx.print(`${store}: signed generation ${desired.generation} (${describeChanges(pending.changes)}) as ${caller.signer}`);
  ctx.print(
    signedBy.length >= 2
      ? `  approved by ${signedBy.join(' and ')}: the reconciler applies it at its next run (a healthy CONNECTED store is never disconnected for it)`
      : '  one person has signed it: it waits for a second person to run `cks approve` too',
  );
  return 0;
}

/** The store's record and valid desired item; a store that is not declared, or whose item is invalid, is an error. */
async function declared(deps: Deps, name: string): Promise<{ record: StoreRecord; desired: DesiredStore }> {
  const record = await deps.state.load(name);
  if (record.desired === null) throw notDeclared(deps, name);
  const parsed = parseDesiredItem(record.desired);
  if (!parsed.ok)
    throw new CliError(`${printable(name)}: its desired item is invalid (see \`cks status ${printable(name)}\`): fix it and \`cks apply\``);
  return { record, desired: parsed.desired };
}

function notDeclared(deps: Deps, name: string): CliError {
  return new CliError(`no desired store named "${printable(name)}" in ${deps.state.scope.accountId}/${deps.state.scope.region}`);
}

/** What a new generation does to a HELD store: `releases the hold on the manual change by <who> (<call>) at <time>...`. */
function releasesHold(record: StoreRecord, desired: DesiredStore): string {
  const change = record.status?.heldInputs?.manualChange;
  const call = change?.eventName ? ` (${change.eventName})` : '';
  const what =
    change === undefined
      ? 'a manual change'
      : `the manual change by ${change.by ?? 'someone other than the reconciler'}${call} at ${isoTime(change.at)}`;
  return `releases the hold on ${what}: the next sweep reconciles it to ${desired.desiredState}`;
}
