/** The escalation hold: an ESCALATED store waits for a human until something it waits for changes. */
import type { HeldInputs, PlanInput, StoreStatus } from '../types.js';
import { count } from '../words.js';
import { isNew } from './compare.js';
import { type Step, wait } from './steps.js';

/**
 * Whether an escalation hold is released: the desired generation changed (an edit, `cks retry`),
 * a secret has a new version, or the cluster the hold waits for has an ACTIVE HSM. A hold that waits
 * for a new password is released by a new password version only, one that waits for the login
 * budget by an operator's reset only (`cks retry`), one that waits for a missing secret by that secret
 * existing (or a new generation). A version that was unknown (null)
 * when the hold began is adopted by {@link hold}, not taken as a release.
 */
export function holdReleased(input: PlanInput, cur: StoreStatus, held: HeldInputs): boolean {
  if (held.awaitingLoginBudgetReset === true) return cur.failedLogins < input.desired.loginBudget;
  if (held.awaitingNewPassword === true) return isNew(input.passwordVersion, cur.appliedPasswordVersion);
  if (held.awaitingSecret === true) {
    const version = input.desired.type === 'AWS_CLOUDHSM' ? input.passwordVersion : input.xksCredentialVersion;
    return held.generation !== input.desired.generation || (input.missingSecrets.length === 0 && version !== null);
  }
  const changed = (before: string | null, now: string | null): boolean => before !== null && now !== null && before !== now;
  const cluster = held.awaitingActiveHsmIn !== undefined ? input.clusters.get(held.awaitingActiveHsmIn) : undefined;
  return (
    held.generation !== input.desired.generation ||
    changed(held.passwordVersion, input.passwordVersion) ||
    changed(held.xksCredentialVersion, input.xksCredentialVersion) ||
    (cluster !== undefined && cluster.state === 'ACTIVE' && cluster.activeHsms > 0)
  );
}

/** An escalated store waits for a human. Secret versions unknown when the hold began are filled in, so only later ones release it. */
export function hold(input: PlanInput, cur: StoreStatus, held: HeldInputs, what: string): Step {
  const until = releasedBy(held, cur.failedLogins, input.desired.loginBudget);
  const status: StoreStatus = {
    ...cur,
    heldInputs: {
      ...held,
      passwordVersion: held.passwordVersion ?? input.passwordVersion,
      xksCredentialVersion: held.xksCredentialVersion ?? input.xksCredentialVersion,
    },
  };
  return wait(status, `${what}; escalated in incident ${cur.incidentId}, holding until ${until}`);
}

/** What releases an escalation hold, in words (for reasons and `cks status`). */
export function releasedBy(held: HeldInputs | null, failedLogins: number, loginBudget: number): string {
  return held?.awaitingLoginBudgetReset === true
    ? `an operator resets the login budget with \`cks retry\` (${count(failedLogins, 'failed kmsuser login')} caused, budget ${loginBudget})`
    : held?.awaitingNewPassword === true
      ? 'a new version of the password secret (a connect with the password KMS holds would fail another kmsuser login)'
      : held?.awaitingSecret === true
        ? 'the secret the desired item names exists (create it, or correct the ARN and `cks apply`)'
        : held?.awaitingActiveHsmIn !== undefined
          ? `cluster ${held.awaitingActiveHsmIn} has an ACTIVE HSM, the desired item changes or \`cks retry\``
          : 'the desired item changes, a secret gets a new version or `cks retry`';
}
