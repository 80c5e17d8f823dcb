/**
 * Follow-ups leave a pass as delayed messages on the follow-up queue, each naming its scope and store;
 * the on-event function reconciles that store alone, under the same lease, outbox and exactly-once
 * rules as any run. A follow-up lost or sent twice changes nothing but timing: the schedule stays the safety net.
 */
import type { Scope } from '../domain/types.js';
import { scrubbedError } from '../errors.js';
import type { FollowUp } from '../reconcile/reconcile-scope.js';
import type { ScopeRuntime } from './reach-scope.js';
import type { FleetOutcome } from './reconcile-fleet.js';
import { scopeLabel } from './scope.js';

/** Where follow-ups go (the follow-up queue, with a delay per message). */
export interface FollowUpPort {
  /** One message per follow-up, delivered after its delay; throws when any could not be sent. */
  followUp(scope: Scope, followUps: readonly FollowUp[]): Promise<void>;
}

/** A follow-up's message: the scope and the one store of it to look at again. */
export function followUpMessageBody(scope: Scope, store: string): string {
  return JSON.stringify({ accountId: scope.accountId, region: scope.region, store });
}

/**
 * Sends the follow-ups a scope's pass asked for. Never throws: a follow-up that cannot be sent is
 * logged, and the store waits for the schedule as it would without follow-ups.
 */
export async function sendFollowUps(runtime: ScopeRuntime, port: FollowUpPort | null, outcome: FleetOutcome): Promise<void> {
  if (port === null || outcome.status !== 'reconciled' || outcome.result.followUps.length === 0) return;
  const { followUps } = outcome.result;
  try {
    await port.followUp(outcome.scope, followUps);
  } catch (error) {
    runtime.deps(outcome.scope).logger.warn('follow-ups not sent; these stores wait for the next scheduled run', {
      scope: scopeLabel(outcome.scope),
      stores: followUps.map((f) => f.store),
      error: scrubbedError(error),
    });
  }
}
