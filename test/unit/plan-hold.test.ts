/** The escalation hold, case by case: what releases it, what a held run records, and how `cks status` words the wait. */
import { describe, expect, it } from 'vitest';
import { hold, holdReleased, releasedBy } from '../../shared/domain/plan/hold.js';
import { emptyStatus } from '../../shared/domain/plan.js';
import type { HeldInputs, PlanInput, StoreStatus } from '../../shared/domain/types.js';
import { CLUSTER, cloudHsmDesired, cloudHsmObserved, cluster, clusters, xksDesired } from '../helpers/world.js';
import { cloudHsmInput, decide, NOW, xksInput } from './domain-fixtures.js';

/** An ESCALATED CloudHSM store after one failed login, password v1 applied. */
function escalated(over: Partial<StoreStatus> = {}): StoreStatus {
  return {
    ...emptyStatus('payments-hsm', NOW),
    phase: 'ESCALATED',
    incidentId: 'inc-00000000000000aa',
    appliedPasswordVersion: 'v1',
    failedLogins: 1,
    ...over,
  };
}

/** Held inputs of generation 1 with password v1 (CloudHSM) and no XKS credential. */
function heldAt(over: Partial<HeldInputs> = {}): HeldInputs {
  return { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null, ...over };
}

describe('holdReleased', () => {
  const cases: ReadonlyArray<{ name: string; held: HeldInputs; input: PlanInput; cur?: StoreStatus; released: boolean }> = [
    { name: 'nothing changed', held: heldAt(), input: cloudHsmInput(), released: false },
    { name: 'a new desired generation', held: heldAt(), input: cloudHsmInput({ desired: cloudHsmDesired({ generation: 2 }) }), released: true },
    { name: 'a new password version', held: heldAt(), input: cloudHsmInput({ passwordVersion: 'v2' }), released: true },
    { name: 'a password version unknown when the hold began', held: heldAt({ passwordVersion: null }), input: cloudHsmInput(), released: false },
    { name: 'a password version now unreadable', held: heldAt(), input: cloudHsmInput({ passwordVersion: null }), released: false },
    {
      name: 'a new XKS credential version',
      held: heldAt({ passwordVersion: null, xksCredentialVersion: 'c1' }),
      input: xksInput({ xksCredentialVersion: 'c2' }),
      released: true,
    },
    {
      name: 'an XKS credential version unknown when the hold began',
      held: heldAt({ passwordVersion: null }),
      input: xksInput({ xksCredentialVersion: 'c2' }),
      released: false,
    },
    {
      name: 'the awaited cluster has an ACTIVE HSM',
      held: heldAt({ awaitingActiveHsmIn: CLUSTER }),
      input: cloudHsmInput(),
      released: true,
    },
    {
      name: 'the awaited cluster has no ACTIVE HSM yet',
      held: heldAt({ awaitingActiveHsmIn: CLUSTER }),
      input: cloudHsmInput({ clusters: clusters(cluster({ activeHsms: 0 })) }),
      released: false,
    },
    {
      name: 'the awaited cluster is not ACTIVE, with HSMs',
      held: heldAt({ awaitingActiveHsmIn: CLUSTER }),
      input: cloudHsmInput({ clusters: clusters(cluster({ state: 'UPDATE_IN_PROGRESS' })) }),
      released: false,
    },
    {
      name: 'the awaited cluster is gone',
      held: heldAt({ awaitingActiveHsmIn: CLUSTER }),
      input: cloudHsmInput({ clusters: clusters() }),
      released: false,
    },
    {
      name: 'a new password version, awaited',
      held: heldAt({ awaitingNewPassword: true }),
      input: cloudHsmInput({ passwordVersion: 'v2' }),
      released: true,
    },
    {
      name: 'only a new generation while a new password is awaited',
      held: heldAt({ awaitingNewPassword: true }),
      input: cloudHsmInput({ desired: cloudHsmDesired({ generation: 2 }) }),
      released: false,
    },
    {
      name: 'a new generation while a login budget reset is awaited, the budget still spent',
      held: heldAt({ awaitingLoginBudgetReset: true }),
      input: cloudHsmInput({ desired: cloudHsmDesired({ generation: 2 }), passwordVersion: 'v2' }),
      cur: escalated({ failedLogins: 2 }),
      released: false,
    },
    {
      name: 'the login budget reset',
      held: heldAt({ awaitingLoginBudgetReset: true }),
      input: cloudHsmInput(),
      cur: escalated({ failedLogins: 0 }),
      released: true,
    },
    {
      name: 'the awaited password secret exists',
      held: heldAt({ awaitingSecret: true, passwordVersion: null }),
      input: cloudHsmInput(),
      released: true,
    },
    {
      name: 'the awaited password secret still missing, though a version was read',
      held: heldAt({ awaitingSecret: true, passwordVersion: null }),
      input: cloudHsmInput({ missingSecrets: ['keyStorePasswordSecretArn'] }),
      released: false,
    },
    {
      name: 'the awaited password secret with no version yet',
      held: heldAt({ awaitingSecret: true, passwordVersion: null }),
      input: cloudHsmInput({ passwordVersion: null }),
      released: false,
    },
    {
      name: 'the awaited XKS credential secret exists',
      held: heldAt({ awaitingSecret: true, passwordVersion: null }),
      input: xksInput({ desired: xksDesired(), xksCredentialVersion: 'c1' }),
      released: true,
    },
    {
      name: 'a new generation while a secret is awaited',
      held: heldAt({ awaitingSecret: true, passwordVersion: null }),
      input: cloudHsmInput({ desired: cloudHsmDesired({ generation: 2 }), passwordVersion: null }),
      released: true,
    },
  ];
  for (const { name, held, input, cur, released } of cases) {
    it(`${released ? 'releases' : 'keeps'} a hold on ${name}`, () => {
      expect(holdReleased(input, cur ?? escalated(), held)).toBe(released);
    });
  }
});

describe('hold', () => {
  it('adopts the secret versions that were unknown when the hold began, keeps the known ones, and says what it waits for', () => {
    const step = hold(xksInput({ passwordVersion: 'v9', xksCredentialVersion: 'c2' }), escalated(), heldAt({ passwordVersion: 'v1' }), 'FAILED');

    expect(step.status.heldInputs).toEqual(heldAt({ passwordVersion: 'v1', xksCredentialVersion: 'c2' }));
    expect(step.reason).toBe(
      'FAILED; escalated in incident inc-00000000000000aa, holding until the desired item changes, a secret gets a new version or `cks retry`',
    );
  });

  it('releases an ESCALATED status that records no held inputs, as plan sees it', () => {
    const failed = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });
    const decision = decide(cloudHsmInput({ observed: failed, status: escalated({ heldInputs: null }) }));

    expect(decision.action.kind).toBe('disconnect');
    expect(decision.nextStatus.phase).not.toBe('ESCALATED');
  });
});

describe('releasedBy', () => {
  const cases: ReadonlyArray<{ held: HeldInputs | null; words: string }> = [
    { held: null, words: 'the desired item changes, a secret gets a new version or `cks retry`' },
    { held: heldAt(), words: 'the desired item changes, a secret gets a new version or `cks retry`' },
    {
      held: heldAt({ awaitingLoginBudgetReset: true }),
      words: 'an operator resets the login budget with `cks retry` (2 failed kmsuser logins caused, budget 2)',
    },
    {
      held: heldAt({ awaitingNewPassword: true }),
      words: 'a new version of the password secret (a connect with the password KMS holds would fail another kmsuser login)',
    },
    { held: heldAt({ awaitingSecret: true }), words: 'the secret the desired item names exists (create it, or correct the ARN and `cks apply`)' },
    { held: heldAt({ awaitingActiveHsmIn: CLUSTER }), words: `cluster ${CLUSTER} has an ACTIVE HSM, the desired item changes or \`cks retry\`` },
  ];
  for (const { held, words } of cases) {
    it(`words the wait: ${words}`, () => {
      expect(releasedBy(held, 2, 2)).toBe(words);
    });
  }
});
