/**
 * The safety rules of plan: a human's connect or disconnect is honoured, the reconciler never spends
 * a kmsuser's failed logins past its budget, a change of whom a store trusts waits for a second
 * principal, and an input that could not be read means "wait".
 */
import { describe, expect, it } from 'vitest';
import { planCallReturned } from '../../shared/domain/plan.js';
import { SITUATION_RUNBOOKS } from '../../shared/domain/playbooks.js';
import { DEFAULT_SETTINGS, type PlanInput } from '../../shared/domain/types.js';
import { CREDENTIAL_ARN, cloudHsmDesired, cloudHsmObserved, xksDesired, xksObserved } from '../helpers/world.js';
import { cloudHsmInput, decide, MINUTE, NOW, SECOND, signaturesOf, simulate, types, xksInput } from './domain-fixtures.js';

const connected = cloudHsmObserved();
const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });
const invalidCredentials = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS' });
const OPERATOR = 'arn:aws:sts::111122223333:assumed-role/oncall/alice';

describe('plan: a human disconnect is honoured (onManualDisconnect)', () => {
  it('holds a CONNECTED store a human disconnected: no connect, one Manual Change Detected naming who and how to release', () => {
    const manualChange = { by: OPERATOR, at: NOW + MINUTE, eventName: 'DisconnectCustomKeyStore' };
    const [, held, still] = simulate(cloudHsmInput(), [
      {},
      { now: NOW + 2 * MINUTE, observed: disconnected, manualChange },
      { now: NOW + 10 * MINUTE, observed: disconnected },
    ]);
    expect(held?.action.kind).toBe('none');
    expect(types(held!)).toEqual(['Manual Change Detected']);
    expect(held?.events[0]).toMatchObject({
      changedBy: OPERATOR,
      changedAt: new Date(NOW + MINUTE).toISOString(),
      runbook: SITUATION_RUNBOOKS.manualDisconnect,
    });
    expect(held?.reason).toContain('cks resume payments-hsm');
    expect(held?.nextStatus.phase).toBe('HELD');
    expect(held?.nextStatus.heldInputs?.manualChange).toEqual(manualChange);
    expect(still?.action.kind).toBe('none');
    expect(types(still!)).toEqual([]);
    expect(still?.nextStatus.phase).toBe('HELD');
  });

  it('says "someone other than the reconciler" when no CloudTrail event named the principal', () => {
    const [, held] = simulate(cloudHsmInput(), [{}, { now: NOW + 2 * MINUTE, observed: disconnected }]);
    expect(held?.events[0]?.changedBy).toBeNull();
    expect(held?.reason).toContain('someone other than the reconciler');
  });

  it('names who in the held status when CloudTrail reports the disconnect after the hold, with no second page', () => {
    const manualChange = { by: OPERATOR, at: NOW + MINUTE, eventName: 'DisconnectCustomKeyStore' };
    const [, held, named, later] = simulate(cloudHsmInput(), [
      {},
      { now: NOW + 2 * MINUTE, observed: disconnected },
      { now: NOW + 3 * MINUTE, observed: disconnected, manualChange },
      { now: NOW + 4 * MINUTE, observed: disconnected, manualChange: { ...manualChange, by: 'arn:aws:iam::111122223333:user/mallory' } },
    ]);
    expect(held?.nextStatus.heldInputs?.manualChange?.by).toBeNull();
    expect(types(named!)).toEqual([]);
    expect(named?.nextStatus).toMatchObject({ phase: 'HELD', heldInputs: { manualChange } });
    expect(named?.reason).toContain(`held after ${OPERATOR} (DisconnectCustomKeyStore)`);
    // Once named, a later report does not rename it.
    expect(later?.nextStatus.heldInputs?.manualChange).toEqual(manualChange);
  });

  it('releases the hold on a new desired generation (cks resume bumps it) and reconnects', () => {
    const [, , released] = simulate(cloudHsmInput(), [
      {},
      { now: NOW + 2 * MINUTE, observed: disconnected },
      { now: NOW + 3 * MINUTE, observed: disconnected, desired: cloudHsmDesired({ generation: 2 }) },
    ]);
    expect(released?.action.kind).toBe('connect');
    expect(types(released!)).toEqual(['Repair Started']);
  });

  it('reconnects at once with onManualDisconnect: reconnect, once two persons signed it', () => {
    const desired = cloudHsmDesired({ onManualDisconnect: 'reconnect' });
    const [, reconnect] = simulate(cloudHsmInput({ desired, signatures: signaturesOf(desired) }), [
      {},
      { now: NOW + 2 * MINUTE, observed: disconnected },
    ]);
    expect(reconnect?.action.kind).toBe('connect');
  });

  it('keeps hold in force while reconnect waits for a second person: the store is held, Approval Required once', () => {
    const desired = cloudHsmDesired({ onManualDisconnect: 'reconnect' });
    const signatures = signaturesOf(desired, ['principal/AROAOPS:ops-1', 'principal/AROAOPS:ops-2']);
    const [first, held] = simulate(cloudHsmInput({ desired, signatures }), [{}, { now: NOW + 2 * MINUTE, observed: disconnected }]);
    expect(types(first!)).toEqual(['Approval Required']);
    expect(first?.events[0]).toMatchObject({
      proposedBy: ['principal/AROAOPS'],
      changes: [{ field: 'onManualDisconnect', from: 'hold', to: 'reconnect' }],
    });
    expect(held?.action.kind).toBe('none');
    expect(types(held!)).toEqual(['Manual Change Detected']);
    expect(held?.nextStatus).toMatchObject({ phase: 'HELD', onManualDisconnectInForce: 'hold' });
  });

  it('puts hold in force at once: tightening needs one person', () => {
    const status = { ...decide(cloudHsmInput()).nextStatus, onManualDisconnectInForce: 'reconnect' as const };
    const decision = decide(cloudHsmInput({ status, desired: cloudHsmDesired({ generation: 2 }) }));
    expect(decision.nextStatus.onManualDisconnectInForce).toBe('hold');
    expect(types(decision)).toEqual([]);
  });

  it('does not take its own disconnect for a human one: a repair goes on to connect', () => {
    const failed = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });
    const [disconnect, connect] = simulate(cloudHsmInput({ observed: failed }), [{}, { now: NOW + 2 * MINUTE, observed: disconnected }]);
    expect(disconnect?.action.kind).toBe('disconnect');
    expect(connect?.action.kind).toBe('connect');
  });

  it('does not hold a store first seen DISCONNECTED, nor one whose desired item changed meanwhile', () => {
    expect(decide(cloudHsmInput({ observed: disconnected })).action.kind).toBe('connect');
    const [, changed] = simulate(cloudHsmInput(), [
      {},
      { now: NOW + 2 * MINUTE, observed: disconnected, desired: cloudHsmDesired({ generation: 2 }) },
    ]);
    expect(changed?.action.kind).toBe('connect');
  });

  it('holds a store desired DISCONNECTED that a human connected, instead of disconnecting it', () => {
    const desired = cloudHsmDesired({ desiredState: 'DISCONNECTED' });
    const [first, held] = simulate(cloudHsmInput({ desired, observed: disconnected }), [{}, { now: NOW + 2 * MINUTE, observed: connected }]);
    expect(first?.action.kind).toBe('none');
    expect(held?.action.kind).toBe('none');
    expect(types(held!)).toEqual(['Manual Change Detected']);
    expect(held?.events[0]?.runbook).toBe(SITUATION_RUNBOOKS.manualConnect);
  });
});

describe("plan: a human's disconnect while the reconciler's own connect is CONNECTING", () => {
  type Type = 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE';
  const disconnectedOf = (type: Type) =>
    type === 'AWS_CLOUDHSM' ? cloudHsmObserved({ connectionState: 'DISCONNECTED' }) : xksObserved({ connectionState: 'DISCONNECTED' });
  const connectingOf = (type: Type) =>
    type === 'AWS_CLOUDHSM' ? cloudHsmObserved({ connectionState: 'CONNECTING' }) : xksObserved({ connectionState: 'CONNECTING' });
  /** Our connect, made 0.7 s past NOW by the first run, of a store found DISCONNECTED. */
  const connectOf = (type: Type, over: Partial<PlanInput> = {}) => {
    const start = { observed: disconnectedOf(type), now: NOW + 700, ...over };
    return type === 'AWS_CLOUDHSM' ? cloudHsmInput(start) : xksInput(start);
  };
  const reported = (at: number) => ({ by: OPERATOR, at, eventName: 'DisconnectCustomKeyStore' });
  // Each row: the runs after our connect (seconds after it; what they saw; what CloudTrail reported), what the last one decides;
  // `died`: the run that recorded the connect died before its answer (the connect may never have been made).
  const table: Array<{
    case: string;
    runs: Array<{ after: number; saw: 'CONNECTING' | 'DISCONNECTED'; trail?: number }>;
    died?: true;
    expected: 'stale' | 'held' | 'reconnect';
    by: string | null;
  }> = [
    {
      case: 'DISCONNECTED inside the settle window, nothing else known: KMS catching up',
      runs: [{ after: 20, saw: 'DISCONNECTED' }],
      expected: 'stale',
      by: null,
    },
    {
      case: 'DISCONNECTED twice inside the settle window: both runs wait',
      runs: [
        { after: 10, saw: 'DISCONNECTED' },
        { after: 40, saw: 'DISCONNECTED' },
      ],
      expected: 'stale',
      by: null,
    },
    {
      case: 'CloudTrail reported a disconnect made after our connect, inside the window',
      runs: [{ after: 20, saw: 'DISCONNECTED', trail: 5 }],
      expected: 'held',
      by: OPERATOR,
    },
    {
      // Made 0.2 s after our connect: its eventTime, in whole seconds, is 0.7 s before it.
      case: 'CloudTrail reported it in the same second as our connect (eventTime has whole seconds)',
      runs: [{ after: 20, saw: 'DISCONNECTED', trail: 0 }],
      expected: 'held',
      by: OPERATOR,
    },
    {
      case: 'a stale run first, then the CloudTrail event, inside the window',
      runs: [
        { after: 10, saw: 'DISCONNECTED' },
        { after: 30, saw: 'DISCONNECTED', trail: 8 },
      ],
      expected: 'held',
      by: OPERATOR,
    },
    {
      case: 'a stale run inside the window, then the CloudTrail event after it',
      runs: [
        { after: 20, saw: 'DISCONNECTED' },
        { after: 90, saw: 'DISCONNECTED', trail: 8 },
      ],
      expected: 'held',
      by: OPERATOR,
    },
    {
      case: 'a run saw our connect CONNECTING, the next one DISCONNECTED, inside the window',
      runs: [
        { after: 10, saw: 'CONNECTING' },
        { after: 30, saw: 'DISCONNECTED' },
      ],
      expected: 'held',
      by: null,
    },
    {
      case: 'a run saw CONNECTING, then DISCONNECTED with the CloudTrail event',
      runs: [
        { after: 10, saw: 'CONNECTING' },
        { after: 30, saw: 'DISCONNECTED', trail: 15 },
      ],
      expected: 'held',
      by: OPERATOR,
    },
    {
      case: 'CloudTrail reported a disconnect made before our connect: it is not one after it',
      runs: [{ after: 20, saw: 'DISCONNECTED', trail: -5 }],
      expected: 'stale',
      by: null,
    },
    {
      // The connect answered success, so KMS made the store CONNECTING: DISCONNECTED once the window is over is someone's.
      case: 'DISCONNECTED past the settle window, no run saw CONNECTING and CloudTrail said nothing',
      runs: [
        { after: 20, saw: 'DISCONNECTED' },
        { after: 80, saw: 'DISCONNECTED' },
      ],
      expected: 'held',
      by: null,
    },
    {
      case: 'the same, but the run that recorded the connect died before its answer: no evidence, no hold',
      runs: [
        { after: 20, saw: 'DISCONNECTED' },
        { after: 80, saw: 'DISCONNECTED' },
      ],
      died: true,
      expected: 'reconnect',
      by: null,
    },
    {
      case: 'the run that recorded the connect died, but CloudTrail reported a disconnect after it',
      runs: [{ after: 80, saw: 'DISCONNECTED', trail: 5 }],
      died: true,
      expected: 'held',
      by: OPERATOR,
    },
  ];
  const cases = (['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const).flatMap((type) => table.map((row) => ({ ...row, type })));

  it.each(cases)('$type, $case: $expected', ({ type, runs, died, expected, by }) => {
    const connect = decide(connectOf(type));
    expect(connect.action.kind).toBe('connect');
    const recorded = died === true ? connect : planCallReturned(connect);
    const later = simulate(
      { ...connectOf(type), status: recorded.nextStatus },
      runs.map((run) => ({
        now: NOW + run.after * SECOND,
        observed: run.saw === 'CONNECTING' ? connectingOf(type) : disconnectedOf(type),
        manualChange: run.trail !== undefined ? reported(NOW + run.trail * SECOND) : null,
      })),
    );
    const last = later.at(-1)!;
    const events = later.flatMap(types);
    if (expected === 'stale') {
      for (const run of later) {
        expect(run.action.kind).toBe('none');
        expect(run.reason).toContain('eventually consistent');
        expect(run.nextStatus.phase).toBe('CONNECTING');
        // The stale view is no baseline: the status keeps the observation of our connect's own run.
        expect(run.nextStatus.observedState).toBe('DISCONNECTED');
      }
      expect(events).toEqual([]);
    } else if (expected === 'held') {
      expect(last.action.kind).toBe('none');
      expect(last.nextStatus.phase).toBe('HELD');
      expect(events).toEqual(['Manual Change Detected']);
      const detail = later.flatMap((d) => d.events)[0];
      expect(detail).toMatchObject({ changedBy: by, runbook: SITUATION_RUNBOOKS.manualDisconnect });
      expect(detail?.reason).toContain(by ?? 'someone other than the reconciler');
      expect(detail?.reason).toContain(`cks resume ${connect.nextStatus.name}`);
    } else {
      expect(last.action.kind).toBe('connect');
      expect(events).not.toContain('Manual Change Detected');
    }
    expect(later.slice(0, -1).every((run) => run.action.kind === 'none')).toBe(true);
  });

  it.each(['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const)('%s: stays HELD on the sweeps after, with no second event and no connect', (type) => {
    const [, held, ...after] = simulate(connectOf(type), [
      {},
      { now: NOW + 20 * SECOND, observed: disconnectedOf(type), manualChange: reported(NOW + 5 * SECOND) },
      { now: NOW + 50 * SECOND, observed: disconnectedOf(type) },
      { now: NOW + 2 * MINUTE, observed: disconnectedOf(type) },
      { now: NOW + 10 * MINUTE, observed: disconnectedOf(type), manualChange: reported(NOW + 5 * SECOND) },
    ]);
    expect(held?.nextStatus.phase).toBe('HELD');
    for (const run of after) {
      expect(run.action.kind).toBe('none');
      expect(run.events).toEqual([]);
      expect(run.nextStatus.phase).toBe('HELD');
    }
  });

  it('counts the CloudHSM connect a human cut short as a possible failed kmsuser login', () => {
    const [, held] = simulate(connectOf('AWS_CLOUDHSM'), [
      {},
      { now: NOW + 20 * SECOND, observed: disconnectedOf('AWS_CLOUDHSM'), manualChange: reported(NOW + 5 * SECOND) },
    ]);
    expect(held?.nextStatus.phase).toBe('HELD');
    expect(held?.nextStatus.failedLogins).toBe(1);
  });

  it('reconnects, without a Manual Change Detected, when onManualDisconnect is reconnect', () => {
    // `reconnect` is in force: two persons signed it.
    const desired = cloudHsmDesired({ onManualDisconnect: 'reconnect' });
    const [, again] = simulate(connectOf('AWS_CLOUDHSM', { desired, signatures: signaturesOf(desired) }), [
      {},
      { now: NOW + 20 * SECOND, observed: disconnectedOf('AWS_CLOUDHSM'), manualChange: reported(NOW + 5 * SECOND) },
    ]);
    expect(again?.action.kind).toBe('connect');
    expect(types(again!)).not.toContain('Manual Change Detected');
  });
});

describe('plan: a stale view is never recorded as the baseline', () => {
  it('keeps the observation of its own disconnect run when, right after it, KMS still shows the store as before', () => {
    const failed = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });
    const [disconnect, stale] = simulate(cloudHsmInput({ observed: failed }), [{}, { now: NOW + 20 * SECOND, observed: connected }]);
    expect(disconnect?.action.kind).toBe('disconnect');
    expect(stale?.action.kind).toBe('none');
    expect(stale?.reason).toContain('although the reconciler called disconnect');
    expect(stale?.nextStatus).toMatchObject({ observedState: 'FAILED', observedErrorCode: 'NETWORK_ERRORS', phase: 'DISCONNECTING' });
  });

  it('records no stale view either when the kill switch went on meanwhile (the run only reports)', () => {
    const failed = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });
    const killed = { ...DEFAULT_SETTINGS, killSwitch: true };
    const [, stale] = simulate(cloudHsmInput({ observed: failed }), [{}, { now: NOW + 20 * SECOND, observed: connected, settings: killed }]);
    expect(stale?.dryRun).toBe(true);
    expect(stale?.reason).toMatch(/^kill switch on: no action: CONNECTED although the reconciler called disconnect/);
    expect(stale?.nextStatus).toMatchObject({ observedState: 'FAILED', observedErrorCode: 'NETWORK_ERRORS' });
  });
});

describe('plan: the login budget', () => {
  /** A repair with a new password that ends INVALID_CREDENTIALS again: disconnect, update, connect, FAILED. */
  function wrongPasswordRound(start: PlanInput, version: string, at: number): PlanInput {
    const [, update, connect, failed] = simulate({ ...start, passwordVersion: version }, [
      { now: at, observed: invalidCredentials },
      { now: at + 2 * MINUTE, observed: disconnected },
      { now: at + 4 * MINUTE, observed: disconnected },
      { now: at + 30 * MINUTE, observed: invalidCredentials },
    ]);
    expect(update?.action.kind).toBe('update');
    expect(connect?.action.kind).toBe('connect');
    return { ...start, status: failed!.nextStatus, passwordVersion: version };
  }

  it('counts a connect that ended INVALID_CREDENTIALS as a failed login, across secret versions and generations', () => {
    const escalated = decide(cloudHsmInput({ observed: invalidCredentials }));
    let input: PlanInput = { ...cloudHsmInput({ observed: invalidCredentials }), status: escalated.nextStatus };
    input = wrongPasswordRound(input, 'v2', NOW + 10 * MINUTE);
    expect(input.status?.failedLogins).toBe(1);
    input = wrongPasswordRound({ ...input, desired: cloudHsmDesired({ generation: 2 }) }, 'v3', NOW + 100 * MINUTE);
    expect(input.status?.failedLogins).toBe(2);
  });

  it('stops at the budget: a third new password version sends nothing, connects nothing, and pages no more', () => {
    const escalated = decide(cloudHsmInput({ observed: invalidCredentials }));
    let input: PlanInput = { ...cloudHsmInput({ observed: invalidCredentials }), status: escalated.nextStatus };
    input = wrongPasswordRound(input, 'v2', NOW + 10 * MINUTE);
    input = wrongPasswordRound(input, 'v3', NOW + 100 * MINUTE);
    expect(input.status?.phase).toBe('ESCALATED');
    expect(input.status?.heldInputs?.awaitingLoginBudgetReset).toBe(true);
    for (const [i, version] of ['v4', 'v5', 'v6'].entries()) {
      const decision = decide({ ...input, passwordVersion: version, now: NOW + (200 + i) * MINUTE });
      expect(decision.action.kind).toBe('none');
      expect(decision.events).toEqual([]);
      expect(decision.reason).toContain('cks retry');
    }
  });

  it('says in the escalation that the budget is spent and why that protects the cluster', () => {
    const escalated = decide(cloudHsmInput({ observed: invalidCredentials }));
    let input: PlanInput = { ...cloudHsmInput({ observed: invalidCredentials }), status: escalated.nextStatus };
    input = wrongPasswordRound(input, 'v2', NOW + 10 * MINUTE);
    const [, , , failed] = simulate({ ...input, passwordVersion: 'v3' }, [
      { now: NOW + 100 * MINUTE, observed: invalidCredentials },
      { now: NOW + 102 * MINUTE, observed: disconnected },
      { now: NOW + 104 * MINUTE, observed: disconnected },
      { now: NOW + 130 * MINUTE, observed: invalidCredentials },
    ]);
    expect(types(failed!)).toEqual(['Repair Failed', 'Repair Escalated']);
    expect(failed?.events[1]?.runbook).toBe(SITUATION_RUNBOOKS.loginBudgetSpent);
    expect(failed?.events[1]?.reason).toMatch(/login budget of 2.*locks kmsuser out after 5 failed logins/);
  });

  it('is reset by an operator retry (retryRequestedAt) two persons signed, not by a new generation', () => {
    const status = { ...decide(cloudHsmInput()).nextStatus, failedLogins: 2 };
    const spent = decide(cloudHsmInput({ observed: disconnected, status, desired: cloudHsmDesired({ generation: 5 }) }));
    expect(spent.action.kind).toBe('none');
    expect(types(spent)).toEqual(['Repair Escalated']);
    const retried = cloudHsmDesired({ generation: 6, retryRequestedAt: NOW });
    const reset = decide(cloudHsmInput({ observed: disconnected, status, desired: retried, signatures: signaturesOf(retried) }));
    expect(reset.action.kind).toBe('connect');
    expect(reset.nextStatus.failedLogins).toBe(0);
    expect(reset.nextStatus.loginBudgetResetAt).toBe(NOW);
  });

  it('is not reset by one person’s retry while the password secret has no new version: Approval Required names the reset', () => {
    const status = { ...decide(cloudHsmInput()).nextStatus, failedLogins: 2 };
    const retried = cloudHsmDesired({ generation: 6, retryRequestedAt: NOW });
    const decision = decide(
      cloudHsmInput({ observed: disconnected, status, desired: retried, signatures: signaturesOf(retried, ['principal/AIDAOPERATORALICE']) }),
    );
    expect(decision.action.kind).toBe('none');
    expect(decision.nextStatus).toMatchObject({ failedLogins: 2, loginBudgetResetAt: null });
    expect(types(decision)).toContain('Approval Required');
    expect(decision.events.find((e) => e.detailType === 'Approval Required')?.changes).toEqual([{ field: 'failedLogins', from: '2', to: '0' }]);
  });

  it('is reset by one person’s retry when the password secret has a new version', () => {
    const status = { ...decide(cloudHsmInput()).nextStatus, failedLogins: 2 };
    const decision = decide(
      cloudHsmInput({ observed: disconnected, status, passwordVersion: 'v2', desired: cloudHsmDesired({ generation: 6, retryRequestedAt: NOW }) }),
    );
    expect(decision.nextStatus.loginBudgetResetAt).toBe(NOW);
    expect(types(decision)).not.toContain('Approval Required');
  });

  it('raises the login budget only once two persons signed it, and lowers it at once', () => {
    const status = { ...decide(cloudHsmInput()).nextStatus, failedLogins: 2 };
    const raised = cloudHsmDesired({ generation: 3, loginBudget: 3 });
    const waiting = decide(cloudHsmInput({ observed: disconnected, status, desired: raised }));
    const signed = decide(cloudHsmInput({ observed: disconnected, status, desired: raised, signatures: signaturesOf(raised) }));
    const lowered = decide(cloudHsmInput({ observed: disconnected, status, desired: cloudHsmDesired({ generation: 3, loginBudget: 1 }) }));
    expect(waiting.action.kind).toBe('none');
    expect(types(waiting)).toEqual(['Repair Escalated', 'Approval Required']);
    expect(waiting.nextStatus.loginBudgetInForce).toBe(2);
    expect(signed.action.kind).toBe('connect');
    expect(signed.nextStatus.loginBudgetInForce).toBe(3);
    expect(lowered.nextStatus.loginBudgetInForce).toBe(1);
  });

  it('is reset when a connect succeeds', () => {
    const status = { ...decide(cloudHsmInput()).nextStatus, failedLogins: 1 };
    expect(decide(cloudHsmInput({ status, now: NOW + MINUTE })).nextStatus.failedLogins).toBe(0);
  });
});

describe('plan: a second principal for a new proxy', () => {
  const moved = xksDesired({
    generation: 2,
    changedBy: OPERATOR,
    xksProxy: {
      uriEndpoint: 'https://xks2.example.com',
      uriPath: '/kms/xks/v1',
      connectivity: 'PUBLIC_ENDPOINT',
      credentialSecretArn: CREDENTIAL_ARN,
    },
  });
  const xksDisconnected = xksObserved({ connectionState: 'DISCONNECTED' });

  it('does not apply an XKS uriEndpoint change nobody signed: Approval Required, once per change', () => {
    const [first, second] = simulate(xksInput({ desired: moved, observed: xksDisconnected }), [{}, { now: NOW + MINUTE }]);
    expect(first?.action.kind).toBe('none');
    expect(types(first!)).toEqual(['Approval Required']);
    expect(first?.events[0]).toMatchObject({
      drift: ['xksProxy.uriEndpoint'],
      generation: 2,
      proposedBy: [],
      changes: [{ field: 'xksProxy.uriEndpoint', from: 'https://xks.example.com', to: 'https://xks2.example.com' }],
    });
    expect(types(second!)).toEqual([]);
  });

  const edited = { ...moved, xksProxy: { ...moved.xksProxy!, uriEndpoint: 'https://xks3.example.com' } };
  it.each([
    { case: 'one person (its writer)', signatures: signaturesOf(moved, ['principal/AIDAOPERATORALICE']), applies: false },
    {
      case: 'two sessions of one role: one person',
      signatures: signaturesOf(moved, ['principal/AROAOPS:ops-1', 'principal/AROAOPS:ops-2']),
      applies: false,
    },
    { case: 'two persons, of an older generation', signatures: signaturesOf({ ...moved, generation: 1 }), applies: false },
    { case: 'two persons, of other values at this generation', signatures: signaturesOf(edited), applies: false },
    { case: 'two persons, a source identity and an IAM user', signatures: signaturesOf(moved), applies: true },
    { case: 'two persons, one role with two source identities', signatures: signaturesOf(moved, ['source/alice', 'source/bob']), applies: true },
  ])('signed by $case: applies the change = $applies', ({ signatures, applies }) => {
    const decision = decide(xksInput({ desired: moved, observed: xksDisconnected, signatures }));
    expect(decision.action.kind).toBe(applies ? 'update' : 'none');
  });

  it('does not start a repair (no disconnect) of a FAILED store whose fix is an unapproved proxy change', () => {
    const failed = xksObserved({ connectionState: 'FAILED', connectionErrorCode: 'XKS_PROXY_NOT_REACHABLE' });
    const decision = decide(xksInput({ desired: moved, observed: failed }));
    expect(decision.action.kind).toBe('none');
    expect(types(decision)).toEqual(['Approval Required']);
  });

  it('extends the rule to CloudHSM cluster changes only when the settings flag is on', () => {
    const other = 'cluster-zyxwvutsrqp';
    const input = cloudHsmInput({
      observed: disconnected,
      desired: cloudHsmDesired({ cloudHsmClusterId: other, generation: 2 }),
      clusters: new Map([
        [
          'cluster-abcdefghijk',
          { clusterId: 'cluster-abcdefghijk', state: 'ACTIVE', activeHsms: 2, creatingHsms: 0, availabilityZones: [], hsmAvailabilityZones: [] },
        ],
        [other, { clusterId: other, state: 'ACTIVE', activeHsms: 2, creatingHsms: 0, availabilityZones: [], hsmAvailabilityZones: [] }],
      ]),
    });
    expect(decide(input).action.kind).toBe('update');
    const flagged = decide({ ...input, settings: { ...input.settings, approvalForCloudHsm: true } });
    expect(flagged.action.kind).toBe('none');
    expect(types(flagged)).toEqual(['Approval Required']);
  });

  it('counts no signature of a generation written back below one already seen: an old signed change cannot be brought back', () => {
    const seen = { ...decide(xksInput()).nextStatus, highestGeneration: 3 };
    const decision = decide(xksInput({ desired: moved, observed: xksDisconnected, status: seen, signatures: signaturesOf(moved) }));
    expect(decision.action.kind).toBe('none');
    expect(decision.events.find((e) => e.detailType === 'Approval Required')?.reason).toContain(
      'written back below 3, which the reconciler already saw',
    );
    expect(decision.nextStatus.highestGeneration).toBe(3);
  });

  it('announces a change waiting for a second person whatever the store is doing: CONNECTED, paused, in mode observe', () => {
    const connected = xksObserved();
    const cases = [
      xksInput({ desired: moved, observed: connected }),
      xksInput({ desired: { ...moved, paused: true }, observed: connected }),
      xksInput({ desired: { ...moved, mode: 'observe' }, observed: xksDisconnected }),
    ];
    for (const input of cases) expect(types(decide(input))).toContain('Approval Required');
  });
});

describe('plan: an input that could not be read means wait', () => {
  it('waits, with no event and no escalation, when the password secret version could not be read', () => {
    const decision = decide(cloudHsmInput({ observed: invalidCredentials, passwordVersion: null, unreadable: ['the version of secret x'] }));
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
    expect(decision.nextStatus.phase).toBe('IDLE');
    expect(decision.reason).toContain('could not read the version of secret x');
  });
});

describe('plan: a healed store resolves the escalation that paged', () => {
  it('names the escalated incident in Repair Succeeded even when a released hold healed it in a new incident', () => {
    const locked = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'USER_LOCKED_OUT' });
    const [escalated, released, , , healed] = simulate(cloudHsmInput({ observed: locked }), [
      {},
      { now: NOW + 10 * MINUTE, passwordVersion: 'v2' },
      { now: NOW + 12 * MINUTE, passwordVersion: 'v2', observed: disconnected },
      { now: NOW + 14 * MINUTE, passwordVersion: 'v2', observed: disconnected },
      { now: NOW + 40 * MINUTE, passwordVersion: 'v2', observed: connected },
    ]);
    const paged = escalated!.nextStatus.incidentId;
    expect(types(escalated!)).toEqual(['Repair Escalated']);
    expect(released?.nextStatus.incidentId).not.toBe(paged);
    expect(types(healed!)).toEqual(['Repair Succeeded']);
    expect(healed?.events[0]?.resolvesEscalation).toBe(paged);
    expect(healed?.nextStatus.escalatedIncidentId).toBeNull();
  });
});
