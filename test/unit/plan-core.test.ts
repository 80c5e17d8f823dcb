/**
 * The plan's core, row by row: pause and resume, a failed mutating call, the time limits (backoff,
 * deadlines, the settle window), the store id and the login budget's reset, as an operator reads them
 * in the decision's action, reason, status and events.
 */
import { describe, expect, it } from 'vitest';
import { CONNECTING_DEADLINE_MS, DISCONNECTING_DEADLINE_MS, plan, planActionFailure, SETTLE_MS } from '../../shared/domain/plan.js';
import { SITUATION_RUNBOOKS, type Situation } from '../../shared/domain/playbooks.js';
import { type ConnectionState, DEFAULT_SETTINGS, describeLastAction, type PlanInput, type StoreStatus } from '../../shared/domain/types.js';
import { cloudHsmDesired, cloudHsmObserved, STORE_ID, xksObserved } from '../helpers/world.js';
import { cloudHsmInput, decide, MINUTE, NOW, SECOND, signaturesOf, simulate, types, xksInput } from './domain-fixtures.js';

const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });
const failed = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });

describe('plan: pause and resume', () => {
  it('records a paused store as acted on with no call: last action none, taken, not a dry run', () => {
    const decision = decide(cloudHsmInput({ observed: failed, desired: cloudHsmDesired({ paused: true }) }));

    expect(decision).toMatchObject({ action: { kind: 'none' }, dryRun: false, intended: 'none', events: [] });
    expect(decision.nextStatus.phase).toBe('PAUSED');
    expect(decision.nextStatus.lastAction).toStrictEqual({ kind: 'none', outcome: 'taken' });
    expect(describeLastAction(decision.nextStatus.lastAction)).toBe('none');
  });

  // A transition someone else started is waited for in the phase the status is in: after a pause, IDLE.
  it.each([
    { state: 'DISCONNECTING', reason: 'DISCONNECTING (not started by the reconciler): waiting for DISCONNECTED' },
    { state: 'CONNECTING', reason: 'CONNECTING (not started by the reconciler): waiting for the result' },
  ] as const)('resumes a paused store found $state in phase IDLE, waiting', ({ state, reason }) => {
    const paused = decide(cloudHsmInput({ desired: cloudHsmDesired({ paused: true }) })).nextStatus;

    const resumed = decide(
      cloudHsmInput({
        observed: cloudHsmObserved({ connectionState: state }),
        status: paused,
        desired: cloudHsmDesired({ generation: 2 }),
        now: NOW + MINUTE,
      }),
    );

    expect(resumed.action.kind).toBe('none');
    expect(resumed.reason).toBe(reason);
    expect(resumed.nextStatus).toMatchObject({ phase: 'IDLE', phaseSince: NOW + MINUTE });
  });
});

describe('planActionFailure: what a failed call records', () => {
  const connectInput = (maxAttempts: number): PlanInput => cloudHsmInput({ observed: disconnected, desired: cloudHsmDesired({ maxAttempts }) });

  it.each([{ code: 'CustomKeyStoreInvalidStateException' }, { code: 'CustomKeyStoreNotFoundException' }])(
    'counts nothing when the call was rejected with $code (a stale view): no event, no incident, the next run observes again',
    ({ code }) => {
      const input = cloudHsmInput({ observed: failed });

      const failure = planActionFailure(input, plan(input), code, NOW);

      expect(failure.events).toEqual([]);
      expect(failure.reason).toBe(
        `disconnect was rejected with ${code}: the store changed since it was observed; nothing counted, the next run observes it again`,
      );
      expect(failure.nextStatus).toMatchObject({ phase: 'IDLE', attempt: 0, incidentId: null, nextAttemptAt: null });
    },
  );

  const escalations: ReadonlyArray<{ code: string; situation: Situation }> = [
    { code: 'CloudHsmClusterInvalidConfigurationException', situation: 'noActiveHsm' },
    { code: 'CloudHsmClusterNotActiveException', situation: 'clusterNotActive' },
    { code: 'CloudHsmClusterNotFoundException', situation: 'clusterNotFound' },
    { code: 'KMSInternalException', situation: 'actionFailing' },
    { code: 'AccessDeniedException', situation: 'actionFailing' },
  ];
  it.each(escalations)('escalates a connect that failed with $code at the last attempt with the $situation runbook', ({ code, situation }) => {
    const input = connectInput(1);

    const failure = planActionFailure(input, plan(input), code, NOW + SECOND);

    const incidentId = failure.nextStatus.incidentId;
    expect(incidentId).not.toBeNull();
    expect(failure.reason).toBe(`connect call failed with ${code} (attempt 1 of 1); no attempts left: escalated to a human`);
    expect(types(failure)).toEqual(['Repair Started', 'Repair Failed', 'Repair Escalated']);
    expect(failure.events[1]).toStrictEqual({
      detailType: 'Repair Failed',
      reason: `connect call failed with ${code} (attempt 1 of 1)`,
      action: 'connect',
      attempt: 1,
      maxAttempts: 1,
      incidentId,
    });
    expect(failure.events[2]).toMatchObject({ detailType: 'Repair Escalated', runbook: SITUATION_RUNBOOKS[situation], incidentId });
    expect(failure.nextStatus).toMatchObject({ phase: 'ESCALATED', attempt: 1, escalatedIncidentId: incidentId });
  });

  it('names the incident and the next attempt in the Repair Failed of a call that may be tried again', () => {
    const input = connectInput(3);

    const failure = planActionFailure(input, plan(input), 'KMSInternalException', NOW);

    const { incidentId, nextAttemptAt } = failure.nextStatus;
    expect(failure.events[1]).toStrictEqual({
      detailType: 'Repair Failed',
      reason: 'connect call failed with KMSInternalException (attempt 1 of 3)',
      action: 'connect',
      attempt: 1,
      maxAttempts: 3,
      incidentId,
      nextAttemptAt: new Date(nextAttemptAt ?? 0).toISOString(),
    });
  });

  it('refuses a decision that made no call: there is no failure to record', () => {
    const input = cloudHsmInput();

    expect(() => planActionFailure(input, plan(input), 'KMSInternalException', NOW)).toThrow('planActionFailure: the decision made no call');
  });
});

describe('plan: time limits, at their edges', () => {
  /** A connect recorded at NOW (it answered), after which the store is found `state` at `at`. */
  function afterConnect(state: ConnectionState, at: number, over: Partial<PlanInput> = {}) {
    const [, after] = simulate(cloudHsmInput({ observed: disconnected, ...over }), [
      {},
      { observed: cloudHsmObserved({ connectionState: state }), now: at },
    ]);
    return after!;
  }

  it('retries a failed connect exactly when its backoff ends, not a millisecond before', () => {
    const input = cloudHsmInput({ observed: disconnected });
    const failure = planActionFailure(input, plan(input), 'KMSInternalException', NOW);
    const retryAt = failure.nextStatus.nextAttemptAt ?? 0;
    const at = (now: number) => decide({ ...input, status: failure.nextStatus, now });

    expect(at(retryAt - 1).action.kind).toBe('none');
    expect(at(retryAt - 1).reason).toBe(
      `DISCONNECTED but desired CONNECTED: backing off after attempt 1 of 3, next attempt after ${new Date(retryAt).toISOString()}`,
    );
    expect(at(retryAt).action.kind).toBe('connect');
  });

  it.each([
    { type: 'AWS_CLOUDHSM', deadline: CONNECTING_DEADLINE_MS.AWS_CLOUDHSM, words: '25 min' },
    { type: 'EXTERNAL_KEY_STORE', deadline: CONNECTING_DEADLINE_MS.EXTERNAL_KEY_STORE, words: '8 min' },
  ] as const)('escalates a $type store CONNECTING past its $words deadline, not at it', ({ type, deadline, words }) => {
    const start =
      type === 'AWS_CLOUDHSM' ? cloudHsmInput({ observed: disconnected }) : xksInput({ observed: xksObserved({ connectionState: 'DISCONNECTED' }) });
    const connecting = { ...start.observed!, connectionState: 'CONNECTING' as const };
    const [, atDeadline, past] = simulate(start, [
      {},
      { observed: connecting, now: NOW + deadline },
      { observed: connecting, now: NOW + deadline + 1 },
    ]);

    expect(atDeadline?.nextStatus.phase).toBe('CONNECTING');
    expect(types(atDeadline!)).toEqual([]);
    expect(past?.reason).toBe(`CONNECTING since ${new Date(NOW).toISOString()}, past the ${words} deadline for ${type}: stuck`);
    expect(past?.events.at(-1)).toMatchObject({ detailType: 'Repair Escalated', runbook: SITUATION_RUNBOOKS.stuckConnecting });
  });

  it('escalates a store DISCONNECTING past the 10 min deadline, not at it', () => {
    const disconnecting = cloudHsmObserved({ connectionState: 'DISCONNECTING' });
    const [, atDeadline, past] = simulate(cloudHsmInput({ observed: failed }), [
      {},
      { observed: disconnecting, now: NOW + DISCONNECTING_DEADLINE_MS },
      { observed: disconnecting, now: NOW + DISCONNECTING_DEADLINE_MS + 1 },
    ]);

    expect(atDeadline?.nextStatus.phase).toBe('DISCONNECTING');
    expect(types(atDeadline!)).toEqual([]);
    expect(past?.reason).toBe(`DISCONNECTING since ${new Date(NOW).toISOString()}, past the 10 min deadline: stuck`);
    expect(past?.nextStatus.phase).toBe('ESCALATED');
  });

  it('takes a DISCONNECTED view for KMS catching up with our connect inside the settle window only', () => {
    const inside = afterConnect('DISCONNECTED', NOW + SETTLE_MS - 1);
    const atEnd = afterConnect('DISCONNECTED', NOW + SETTLE_MS);

    expect(inside.action.kind).toBe('none');
    expect(inside.reason).toBe(
      `DISCONNECTED although the reconciler called connect at ${new Date(NOW).toISOString()}: KMS is eventually consistent, waiting for it to show the change rather than calling again`,
    );
    // Past the window the connect is known made and the store is down: someone disconnected it.
    expect(types(atEnd)).toEqual(['Manual Change Detected']);
    expect(atEnd.nextStatus.phase).toBe('HELD');
  });

  it('repairs at once after a disconnect of ours that KMS rejected: only a call that went out settles', () => {
    const input = cloudHsmInput({ observed: failed });
    const rejected = planActionFailure(input, plan(input), 'CustomKeyStoreInvalidStateException', NOW);

    const next = decide({ ...input, status: rejected.nextStatus, now: NOW + 10 * SECOND });

    expect(next.action.kind).toBe('disconnect');
    expect(types(next)).toEqual(['Repair Started']);
  });
});

describe('plan: a CloudHSM connect that ended without a run seeing how', () => {
  it('is over and counts as a failed login even when nothing may be done (kill switch): phase IDLE', () => {
    const killSwitch = { ...DEFAULT_SETTINGS, killSwitch: true };
    const [, after] = simulate(cloudHsmInput({ observed: disconnected }), [
      {},
      { observed: disconnected, now: NOW + 5 * MINUTE, settings: killSwitch },
    ]);

    expect(after?.action.kind).toBe('none');
    expect(after?.nextStatus).toMatchObject({ phase: 'IDLE', failedLogins: 1 });
  });
});

describe('plan: the store id it records', () => {
  it('records no store id for a store first seen missing from KMS', () => {
    expect(decide(cloudHsmInput({ observed: null })).nextStatus.storeId).toBeNull();
  });

  it('records the id KMS shows now, not the one recorded before (the store was re-created)', () => {
    const before: StoreStatus = { ...plan(cloudHsmInput()).nextStatus, storeId: 'cks-0000000000000000a' };

    expect(decide(cloudHsmInput({ status: before, now: NOW + MINUTE })).nextStatus.storeId).toBe(STORE_ID);
  });
});

describe('plan: an operator resets the login budget with `cks retry`', () => {
  const HONOURED = NOW - 10 * MINUTE;
  const spent = (resetAt: number | null): StoreStatus => ({
    ...plan(cloudHsmInput({ observed: disconnected })).nextStatus,
    phase: 'IDLE',
    failedLogins: 2,
    loginBudgetResetAt: resetAt,
  });
  const rows: ReadonlyArray<{ name: string; resetAt: number | null; retry: number; resets: boolean }> = [
    { name: 'a first retry', resetAt: null, retry: HONOURED, resets: true },
    { name: 'a retry newer than the one honoured', resetAt: HONOURED, retry: HONOURED + 1, resets: true },
    { name: 'the retry already honoured', resetAt: HONOURED, retry: HONOURED, resets: false },
    { name: 'a retry older than the one honoured', resetAt: HONOURED, retry: HONOURED - 1, resets: false },
  ];
  it.each(rows)('$name: reset $resets', ({ resetAt, retry, resets }) => {
    const desired = cloudHsmDesired({ retryRequestedAt: retry, generation: 2 });
    const decision = decide(
      cloudHsmInput({ observed: disconnected, desired, signatures: signaturesOf(desired), status: spent(resetAt), now: NOW + MINUTE }),
    );

    if (resets) {
      expect(decision.action.kind).toBe('connect');
      expect(decision.nextStatus).toMatchObject({ failedLogins: 0, loginBudgetResetAt: retry });
    } else {
      expect(decision.action.kind).toBe('none');
      expect(decision.nextStatus).toMatchObject({ phase: 'ESCALATED', failedLogins: 2, loginBudgetResetAt: resetAt });
      expect(decision.events.at(-1)).toMatchObject({ detailType: 'Repair Escalated', runbook: SITUATION_RUNBOOKS.loginBudgetSpent });
    }
  });
});
