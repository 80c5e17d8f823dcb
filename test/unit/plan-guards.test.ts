/**
 * The guards of plan, one by one, as an operator reads them: the action each decides, the status it
 * records and the exact reason and events it gives; and the report-only decisions (modes, kill switch).
 */
import { describe, expect, it } from 'vitest';
import { plan } from '../../shared/domain/plan.js';
import { SITUATION_RUNBOOKS } from '../../shared/domain/playbooks.js';
import { DEFAULT_SETTINGS, type ManualChange, type ObservedStore, type PlanInput, type StoreStatus } from '../../shared/domain/types.js';
import { CLUSTER, cloudHsmDesired, cloudHsmObserved, cluster, clusters, PASSWORD_ARN, STORE_ID, xksDesired, xksObserved } from '../helpers/world.js';
import { cloudHsmInput, decide, MINUTE, NOW, SECOND, simulate, types, xksInput } from './domain-fixtures.js';

const INCIDENT = 'inc-00000000000000aa';
const connected = cloudHsmObserved();
const connecting = cloudHsmObserved({ connectionState: 'CONNECTING' });
const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });
const disconnecting = cloudHsmObserved({ connectionState: 'DISCONNECTING' });
const failed = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });
const at = (ms: number): string => new Date(ms).toISOString();

/** The status a healthy CONNECTED CloudHSM store has after its first run (generation 1, password v1 applied), changed by `over`. */
function statusAfterFirstRun(over: Partial<StoreStatus> = {}): StoreStatus {
  return { ...decide(cloudHsmInput()).nextStatus, ...over };
}

/** ESCALATED in {@link INCIDENT}, holding for generation 1 and password v1. */
const escalated = statusAfterFirstRun({
  phase: 'ESCALATED',
  incidentId: INCIDENT,
  attempt: 1,
  observedState: 'FAILED',
  heldInputs: { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null },
  escalatedIncidentId: INCIDENT,
});

describe('plan: paused', () => {
  it.each([
    { case: 'no incident open', incidentId: null, ending: '' },
    { case: 'an incident open', incidentId: INCIDENT, ending: `; incident ${INCIDENT} ends with the pause` },
  ])('observes only, with $case, and says so', ({ incidentId, ending }) => {
    const decision = decide(
      cloudHsmInput({ desired: cloudHsmDesired({ paused: true }), observed: failed, status: statusAfterFirstRun({ incidentId }) }),
    );
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
    expect(decision.nextStatus).toMatchObject({ phase: 'PAUSED', incidentId: null });
    expect(decision.reason).toBe(`paused by an operator: observing only, no action (\`cks resume\` restarts)${ending}`);
  });
});

describe('plan: the store is missing from KMS', () => {
  it.each([
    { case: 'by id when the desired item declares one', desired: cloudHsmDesired({ id: STORE_ID }), which: `id ${STORE_ID}` },
    { case: 'by name otherwise', desired: cloudHsmDesired(), which: 'name payments-hsm' },
  ])('names the store $case, reports it once and records the report', ({ desired, which }) => {
    const reason = `no custom key store with ${which} in KMS: reported; the reconciler never creates or deletes stores`;
    const [first, again] = simulate(cloudHsmInput({ desired, observed: null }), [{}, { now: NOW + MINUTE }]);
    expect(first?.action.kind).toBe('none');
    expect(first?.reason).toBe(reason);
    expect(first?.events).toEqual([{ detailType: 'Store Missing', reason, runbook: SITUATION_RUNBOOKS.storeMissing }]);
    expect(first?.nextStatus.lastReportKey).toBe('missing');
    expect(again?.events).toEqual([]);
  });
});

describe('plan: identity drift (the desired item names another store)', () => {
  const desired = xksDesired({ id: 'cks-0000000000000000a' });

  it('reports the type and id that differ, with the runbook, and never acts', () => {
    const decision = decide(xksInput({ desired, observed: connected }));
    const reason = `the store KMS returned differs from the desired item in type, id (observed type AWS_CLOUDHSM, id ${STORE_ID}); not acting on it`;
    expect(decision.action.kind).toBe('none');
    expect(decision.reason).toBe(reason);
    expect(decision.events).toEqual([
      { detailType: 'Store Drift Detected', reason, drift: ['type', 'id'], action: 'none', runbook: SITUATION_RUNBOOKS.identityMismatch },
    ]);
    expect(decision.nextStatus.lastReportKey).toMatch(/^identity:/);
  });

  it('reports again when KMS returns yet another store, not when it returns the same one', () => {
    const other = xksObserved({ id: 'cks-0000000000000000b' });
    const decisions = simulate(xksInput({ desired }), [{}, { now: NOW + MINUTE }, { now: NOW + 2 * MINUTE, observed: other }]);
    expect(decisions.map(types)).toEqual([['Store Drift Detected'], [], ['Store Drift Detected']]);
    expect(decisions[2]?.events[0]?.reason).toContain('id cks-0000000000000000b');
  });
});

describe('plan: a stale view right after our own call', () => {
  // Run 1 (at NOW) disconnects the FAILED store; run 2 comes 20 s later.
  it.each([
    { seen: connected, state: 'CONNECTED' },
    { seen: connecting, state: 'CONNECTING' },
    { seen: failed, state: 'FAILED' },
  ])('waits when KMS still shows $state after our disconnect, naming when it was called', ({ seen, state }) => {
    const [, stale] = simulate(cloudHsmInput({ observed: failed }), [{}, { now: NOW + 20 * SECOND, observed: seen }]);
    expect(stale?.action.kind).toBe('none');
    expect(stale?.events).toEqual([]);
    expect(stale?.reason).toBe(
      `${state} although the reconciler called disconnect at ${at(NOW)}: KMS is eventually consistent, waiting for it to show the change rather than calling again`,
    );
    expect(stale?.nextStatus).toMatchObject({ phase: 'DISCONNECTING', observedState: 'FAILED' });
  });

  it('connects at once when the store is DISCONNECTED after our disconnect: that is the change shown', () => {
    const [, next] = simulate(cloudHsmInput({ observed: failed }), [{}, { now: NOW + 20 * SECOND, observed: disconnected }]);
    expect(next?.action.kind).toBe('connect');
    expect(next?.nextStatus.observedState).toBe('DISCONNECTED');
  });

  it('waits when KMS still shows DISCONNECTED after our connect, naming the connect', () => {
    const [, stale] = simulate(cloudHsmInput({ observed: disconnected }), [{}, { now: NOW + 20 * SECOND }]);
    expect(stale?.action.kind).toBe('none');
    expect(stale?.reason).toBe(
      `DISCONNECTED although the reconciler called connect at ${at(NOW)}: KMS is eventually consistent, waiting for it to show the change rather than calling again`,
    );
  });
});

describe('plan: an escalated store through a transition', () => {
  it.each([
    { case: 'CONNECTING, desired CONNECTED', desiredState: 'CONNECTED', seen: connecting, result: 'the result' },
    { case: 'DISCONNECTING, desired CONNECTED', desiredState: 'CONNECTED', seen: disconnecting, result: 'DISCONNECTED' },
    { case: 'DISCONNECTING, desired DISCONNECTED', desiredState: 'DISCONNECTED', seen: disconnecting, result: 'DISCONNECTED' },
  ] as const)('waits for $result while $case, keeping the incident', ({ desiredState, seen, result }) => {
    const decision = decide(cloudHsmInput({ desired: cloudHsmDesired({ desiredState }), observed: seen, status: escalated }));
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
    expect(decision.nextStatus).toMatchObject({ phase: 'ESCALATED', incidentId: INCIDENT });
    expect(decision.reason).toBe(`${seen.connectionState}; escalated in incident ${INCIDENT}, waiting for ${result}`);
  });

  it.each([
    { case: 'has no ACTIVE HSM', clusters: clusters(cluster({ activeHsms: 0 })), observed: connected, what: `cluster ${CLUSTER} has no ACTIVE HSM` },
    { case: 'does not exist', clusters: clusters(), observed: connected, what: `cluster ${CLUSTER} does not exist` },
    {
      case: 'is not named',
      clusters: clusters(cluster()),
      observed: cloudHsmObserved({ cloudHsmClusterId: undefined }),
      what: 'cluster (none) does not exist',
    },
  ])('holds a CONNECTED store whose cluster $case, saying so', ({ clusters: views, observed, what }) => {
    const decision = decide(cloudHsmInput({ clusters: views, observed, status: escalated }));
    expect(decision.action.kind).toBe('none');
    const held = `CONNECTED, but its ${what}; escalated in incident ${INCIDENT}, holding until `;
    expect(decision.reason.slice(0, held.length)).toBe(held);
  });
});

describe('plan: a manual change', () => {
  const OPERATOR = 'arn:aws:sts::111122223333:assumed-role/oncall/alice';
  const unnamed: ManualChange = { by: null, at: NOW - MINUTE, eventName: null };
  const heldStatus = (manualChange?: ManualChange): StoreStatus =>
    statusAfterFirstRun({
      phase: 'HELD',
      observedState: 'DISCONNECTED',
      heldInputs: { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null, ...(manualChange ? { manualChange } : {}) },
    });
  const release = '`cks resume payments-hsm` or a new desired generation releases it';

  it.each([
    { case: 'a status that recorded no change', status: heldStatus(), report: null, who: 'a manual change' },
    {
      case: 'a change nobody was named for',
      status: heldStatus(unnamed),
      report: null,
      who: `someone other than the reconciler at ${at(NOW - MINUTE)}`,
    },
    {
      case: 'a later report that names nobody either',
      status: heldStatus(unnamed),
      report: { by: null, at: NOW, eventName: 'DisconnectCustomKeyStore' },
      who: `someone other than the reconciler at ${at(NOW - MINUTE)}`,
    },
  ])('keeps a HELD store held after $case, and says after what', ({ status, report, who }) => {
    const decision = decide(cloudHsmInput({ observed: disconnected, status, manualChange: report }));
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
    expect(decision.nextStatus.heldInputs).toEqual(status.heldInputs);
    expect(decision.reason).toBe(`DISCONNECTED but desired CONNECTED: held after ${who}; ${release}`);
  });

  it('says whom CloudTrail named, with the call, and that a repair incident ends', () => {
    // Our repair: disconnect, connect, CONNECTING seen; then a human disconnects the store.
    const manualChange = { by: OPERATOR, at: NOW + 5 * MINUTE, eventName: 'DisconnectCustomKeyStore' };
    const decisions = simulate(cloudHsmInput({ observed: failed }), [
      {},
      { now: NOW + MINUTE, observed: disconnected },
      { now: NOW + 3 * MINUTE, observed: connecting },
      { now: NOW + 6 * MINUTE, observed: disconnected, manualChange },
    ]);
    const incident = decisions[0]?.nextStatus.incidentId;
    const held = decisions[3];
    const reason = `DISCONNECTED but desired CONNECTED: disconnected by ${OPERATOR} (DisconnectCustomKeyStore), not by the reconciler; held DISCONNECTED (onManualDisconnect: hold) until \`cks resume payments-hsm\` or a new desired generation; repair incident ${incident} ends`;
    expect(held?.reason).toBe(reason);
    expect(held?.events).toEqual([
      {
        detailType: 'Manual Change Detected',
        reason,
        runbook: SITUATION_RUNBOOKS.manualDisconnect,
        changedBy: OPERATOR,
        changedAt: at(NOW + 5 * MINUTE),
      },
    ]);
    expect(held?.nextStatus).toMatchObject({ phase: 'HELD', incidentId: null });
  });

  it.each([connected, connecting])(
    'holds a store desired DISCONNECTED that someone connected ($connectionState), naming nobody when CloudTrail did not',
    (seen) => {
      const desired = cloudHsmDesired({ desiredState: 'DISCONNECTED' });
      const [, held] = simulate(cloudHsmInput({ desired, observed: disconnected }), [{}, { now: NOW + 2 * MINUTE, observed: seen }]);
      expect(held?.action.kind).toBe('none');
      expect(held?.nextStatus.phase).toBe('HELD');
      expect(held?.reason).toBe(
        `${seen.connectionState} but desired DISCONNECTED: connected by someone other than the reconciler, not by the reconciler; held CONNECTED until \`cks resume payments-hsm\` or a new desired generation`,
      );
      expect(held?.events[0]).toMatchObject({ changedBy: null, changedAt: at(NOW + 2 * MINUTE) });
    },
  );

  // What is not a human's change: the reconciler's own calls, a released hold, a change the desired state wants.
  it.each<{ case: string; input: PlanInput; action: string; events: string[] }>([
    {
      case: 'DISCONNECTED after our own update (phase UPDATING)',
      input: cloudHsmInput({
        observed: disconnected,
        status: statusAfterFirstRun({
          phase: 'UPDATING',
          observedState: 'FAILED',
          incidentId: INCIDENT,
          lastAction: { kind: 'update', outcome: 'taken' },
          lastActionAt: NOW - 5 * MINUTE,
        }),
      }),
      action: 'connect',
      events: ['Repair Step'],
    },
    {
      case: 'DISCONNECTED when an escalation hold is released (a new password version)',
      input: cloudHsmInput({ observed: disconnected, passwordVersion: 'v2', status: escalated }),
      action: 'update',
      events: ['Repair Started'],
    },
    {
      case: 'CONNECTED again, desired CONNECTED, after a DISCONNECTED run that backed off',
      input: cloudHsmInput({
        status: statusAfterFirstRun({
          observedState: 'DISCONNECTED',
          incidentId: INCIDENT,
          attempt: 1,
          nextAttemptAt: NOW + MINUTE,
          lastAction: { kind: 'none', outcome: 'taken' },
        }),
      }),
      action: 'none',
      events: ['Repair Succeeded'],
    },
    {
      case: 'FAILED, desired DISCONNECTED, after a DISCONNECTED run',
      input: cloudHsmInput({
        desired: cloudHsmDesired({ desiredState: 'DISCONNECTED' }),
        observed: failed,
        status: statusAfterFirstRun({ observedState: 'DISCONNECTED' }),
      }),
      action: 'disconnect',
      events: ['Store Drift Detected'],
    },
    {
      case: 'still CONNECTED, desired DISCONNECTED, past the settle window of our disconnect',
      input: cloudHsmInput({
        desired: cloudHsmDesired({ desiredState: 'DISCONNECTED' }),
        status: statusAfterFirstRun({
          phase: 'DISCONNECTING',
          phaseSince: NOW - 2 * MINUTE,
          lastAction: { kind: 'disconnect', outcome: 'taken' },
          lastActionAt: NOW - 2 * MINUTE,
        }),
      }),
      action: 'disconnect',
      events: ['Store Drift Detected'],
    },
    {
      case: 'CONNECTING, desired DISCONNECTED, after our own connect',
      input: cloudHsmInput({
        desired: cloudHsmDesired({ desiredState: 'DISCONNECTED' }),
        observed: connecting,
        status: statusAfterFirstRun({
          phase: 'CONNECTING',
          observedState: 'DISCONNECTED',
          lastAction: { kind: 'connect', outcome: 'taken' },
          lastActionAt: NOW - 2 * MINUTE,
        }),
      }),
      action: 'disconnect',
      events: ['Store Drift Detected'],
    },
  ])('is not held: $case', ({ input, action, events }) => {
    const decision = decide(input);
    expect(decision.action.kind).toBe(action);
    expect(types(decision)).toEqual(events);
    expect(decision.nextStatus.phase).not.toBe('HELD');
  });

  it('is reported, as plan mode would, when a human disconnects a store plan mode would have disconnected', () => {
    const desired = cloudHsmDesired({ mode: 'plan' });
    const [wouldDisconnect, held] = simulate(cloudHsmInput({ desired, observed: failed }), [{}, { now: NOW + 2 * MINUTE, observed: disconnected }]);
    expect(wouldDisconnect?.intended).toBe('disconnect');
    expect(held?.intended).toBe('none');
    expect(types(held!)).toEqual(['Manual Change Detected']);
  });
});

describe('plan: an input that could not be read', () => {
  const unreadable = ['the version of secret a', 'the version of secret b'];
  const waiting =
    'could not read the version of secret a, the version of secret b in this run; waiting for the next run rather than deciding without it';

  it.each<{ desiredState: 'CONNECTED' | 'DISCONNECTED'; observed: ObservedStore; situation: string }>([
    { desiredState: 'CONNECTED', observed: connected, situation: 'CONNECTED' },
    { desiredState: 'CONNECTED', observed: failed, situation: 'FAILED with NETWORK_ERRORS' },
    { desiredState: 'CONNECTED', observed: disconnected, situation: 'DISCONNECTED but desired CONNECTED' },
    { desiredState: 'DISCONNECTED', observed: failed, situation: 'FAILED with NETWORK_ERRORS but desired DISCONNECTED' },
  ])('waits, desired $desiredState, saying "$situation" and what it could not read', ({ desiredState, observed, situation }) => {
    const decision = decide(cloudHsmInput({ desired: cloudHsmDesired({ desiredState }), observed, unreadable }));
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
    expect(decision.reason).toBe(`${situation}: ${waiting}`);
  });
});

describe('plan: a secret the desired item names is missing', () => {
  it.each<{ case: string; desiredState: 'CONNECTED' | 'DISCONNECTED'; observed: ObservedStore; action: string }>([
    { case: 'a CONNECTED store desired CONNECTED (nothing to repair)', desiredState: 'CONNECTED', observed: connected, action: 'none' },
    { case: 'a FAILED store desired DISCONNECTED (disconnected as declared)', desiredState: 'DISCONNECTED', observed: failed, action: 'disconnect' },
  ])('does not escalate $case', ({ desiredState, observed, action }) => {
    const decision = decide(cloudHsmInput({ desired: cloudHsmDesired({ desiredState }), observed, missingSecrets: ['keyStorePasswordSecretArn'] }));
    expect(decision.action.kind).toBe(action);
    expect(types(decision)).not.toContain('Repair Escalated');
  });

  it('names each missing field with its ARN, and (none) for a field the desired item leaves empty', () => {
    const decision = decide(cloudHsmInput({ observed: failed, missingSecrets: ['keyStorePasswordSecretArn', 'xksProxy.credentialSecretArn'] }));
    expect(types(decision)).toEqual(['Repair Escalated']);
    expect(decision.reason).toBe(
      `FAILED with NETWORK_ERRORS: the desired item's keyStorePasswordSecretArn ${PASSWORD_ARN} and xksProxy.credentialSecretArn (none) names no secret in Secrets Manager (it does not exist or holds no current version), so the store cannot be repaired`,
    );
  });
});

describe('plan: a store renamed outside the desired state', () => {
  const desired = xksDesired({ id: 'cks-0fedcba0987654321' });
  const renamedStore = xksObserved({ name: 'old-xks' });
  const what = 'CONNECTED, named old-xks but desired partner-xks';

  it.each<{ case: string; status: Partial<StoreStatus>; reason: string }>([
    {
      case: 'waits for KMS to show a rename of ours',
      status: { lastAction: { kind: 'update', outcome: 'taken' }, lastActionAt: NOW - 20 * SECOND },
      reason: `${what}: renamed at ${at(NOW - 20 * SECOND)}, waiting for KMS to show it`,
    },
    {
      case: 'waits while backing off',
      status: { lastAction: { kind: 'none', outcome: 'taken' }, nextAttemptAt: NOW + MINUTE },
      reason: `${what}: renaming after ${at(NOW + MINUTE)} (backing off)`,
    },
  ])('$case', ({ status, reason }) => {
    const first = decide(xksInput({ desired, observed: renamedStore })).nextStatus;
    const decision = decide(xksInput({ desired, observed: renamedStore, status: { ...first, ...status } }));
    expect(decision.action.kind).toBe('none');
    expect(decision.reason).toBe(reason);
  });

  it('renames a CONNECTED external key store, reporting the name as drift', () => {
    const decision = decide(xksInput({ desired, observed: renamedStore }));
    const reason = `${what}: renaming the store`;
    expect(decision.action).toEqual({ kind: 'update', storeId: 'cks-0fedcba0987654321', changes: { newName: 'partner-xks' } });
    expect(decision.reason).toBe(reason);
    expect(decision.events).toEqual([{ detailType: 'Store Drift Detected', reason, drift: ['name'], action: 'update' }]);
  });
});

describe('plan: report-only decisions', () => {
  it('says mode observe in its reason', () => {
    const decision = decide(cloudHsmInput({ desired: cloudHsmDesired({ mode: 'observe' }), observed: failed }));
    expect(decision.reason).toMatch(/^mode observe \(report only\): would disconnect: /);
  });

  it('records what it observed (a view that is not stale)', () => {
    const decision = decide(cloudHsmInput({ observed: failed, settings: { ...DEFAULT_SETTINGS, killSwitch: true } }));
    expect(decision.nextStatus).toMatchObject({ observedState: 'FAILED', observedErrorCode: 'NETWORK_ERRORS' });
  });

  it('records no report key when it has nothing to report', () => {
    const decision = decide(cloudHsmInput({ observed: failed, regionalIncident: true }));
    expect(decision.events).toEqual([]);
    expect(decision.nextStatus.lastReportKey).toBeNull();
  });

  it('reports drift again when only the connection state changed (CONNECTED, then CONNECTING, desired DISCONNECTED)', () => {
    const desired = cloudHsmDesired({ desiredState: 'DISCONNECTED' });
    const settings = { ...DEFAULT_SETTINGS, killSwitch: true };
    const decisions = simulate(cloudHsmInput({ desired, settings }), [{}, { now: NOW + MINUTE }, { now: NOW + 2 * MINUTE, observed: connecting }]);
    expect(decisions.map(types)).toEqual([['Store Drift Detected'], [], ['Store Drift Detected']]);
  });

  it('reports again in mode plan when the same observation leads to other events (a manual change, then an escalation)', () => {
    // The cluster loses its HSMs as a human disconnects the store: plan mode reports the change, then the escalation enforce would make.
    const desired = cloudHsmDesired({ mode: 'plan' });
    const noHsm = clusters(cluster({ activeHsms: 0 }));
    const decisions = simulate(cloudHsmInput({ desired }), [
      {},
      { now: NOW + MINUTE, observed: disconnected, clusters: noHsm },
      { now: NOW + 2 * MINUTE, observed: disconnected, clusters: noHsm },
    ]);
    expect(decisions.map(types)).toEqual([[], ['Manual Change Detected'], ['Repair Escalated']]);
    expect(decisions.map((d) => d.intended)).toEqual(['none', 'none', 'none']);
  });

  it('refuses a mode it does not know', () => {
    const desired = { ...cloudHsmDesired(), mode: 'bogus' as never };
    expect(() => plan(cloudHsmInput({ desired }))).toThrow('unknown mode bogus');
  });
});
