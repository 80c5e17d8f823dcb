/**
 * The transition table, handler by handler: for each desired state × observed ConnectionState ×
 * phase, the action, the exact reason an operator reads, the events (types and fields) and the
 * status recorded.
 */
// @ts-nocheck

import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../shared/domain/plan/timing.js';
import { exhaustedRunbook } from '../../shared/domain/plan/transitions.js';
import { emptyStatus, plan } from '../../shared/domain/plan.js';
import { playbookFor, SITUATION_RUNBOOKS } from '../../shared/domain/playbooks.js';
import type { Action, ConnectionErrorCode, ConnectionState, EventDraft, ObservedStore, PlanInput, StoreStatus } from '../../shared/domain/types.js';
import {
  CLUSTER,
  CREDENTIAL_ARN,
  cloudHsmDesired,
  cloudHsmObserved,
  cluster,
  clusters,
  OTHER_CLUSTER,
  PASSWORD_ARN,
  STORE_ID,
  xksDesired,
  xksObserved,
} from '../helpers/world.js';
import { cloudHsmInput, decide, MINUTE, NOW, SECOND, signaturesOf, xksInput } from './domain-fixtures.js';

const XKS_ID = 'cks-0fedcba0987654321';
/** An incident the status already holds. */
const INC = 'inc-00000000000000aa';
/** An incident the decision opens (its id is a hash of the input). */
const NEW_INC = expect.stringMatching(/^inc-[0-9a-f]{16}$/);
const PHASE_SINCE = NOW - 2 * MINUTE;
const NONE: Action = { kind: 'none' };
const at = (ms: number): string => new Date(ms).toISOString();
const DRIFT_TAIL =
  'from the desired state: reported only, the reconciler never disconnects a healthy store to apply drift (it is applied at the next repair, or disconnect the store to apply it now)';

/**
 * `input` with a status of this generation: the store as the reconciler last recorded it (versions
 * baselined, no observation recorded, so no manual change is read into it), in phase IDLE since
 * {@link PHASE_SINCE}, changed by `over`.
 */
function seen(input: PlanInput, over: Partial<StoreStatus> = {}): PlanInput {
  const status: StoreStatus = {
    ...emptyStatus(input.desired.name, PHASE_SINCE),
    storeId: input.observed?.id ?? null,
    appliedPasswordVersion: input.passwordVersion,
    appliedXksCredentialVersion: input.xksCredentialVersion,
    observedGeneration: input.desired.generation,
    ...over,
  };
  return { ...input, status };
}

/** The CloudHSM store observed in `state`, FAILED with `code`. */
function cloudHsmIn(state: ConnectionState, code: ConnectionErrorCode | null = null): ObservedStore {
  return cloudHsmObserved({ connectionState: state, connectionErrorCode: code });
}

/** The external key store observed in `state`, FAILED with `code`. */
function xksIn(state: ConnectionState, code: ConnectionErrorCode | null = null): ObservedStore {
  return xksObserved({ connectionState: state, connectionErrorCode: code });
}

interface Row {
  name: string;
  input: PlanInput;
  action: Action;
  reason: string;
  events: EventDraft[];
  /** Fields of the recorded status that the step sets. */
  status: Partial<StoreStatus>;
}

/** A row of a step that only waits: no action, no event, the status in `phase`. */
function waits(name: string, input: PlanInput, reason: string, phase: StoreStatus['phase'] = 'IDLE'): Row {
  return { name, input, action: NONE, reason, events: [], status: { phase } };
}

function expectStep({ input, action, reason, events, status }: Row): void {
  const decision = decide(input);
  expect(decision.action).toEqual(action);
  expect(decision.reason).toBe(reason);
  expect(decision.events).toEqual(events);
  expect(decision.nextStatus).toMatchObject(status);
}

describe('transition: the table', () => {
  it('refuses a ConnectionState no row knows (from a newer KMS API), naming desired state, state and phase', () => {
    const input = cloudHsmInput({ observed: cloudHsmIn('REPAIRING' as ConnectionState) });
    expect(() => plan(input)).toThrow(new Error('no transition for desired CONNECTED, state REPAIRING, phase IDLE'));
  });
});

describe('transition: CONNECTED', () => {
  const rows: Row[] = [
    waits('healthy and as desired: waits, no event', cloudHsmInput(), 'CONNECTED as desired'),
    {
      name: 'one setting differs: reported as drift in the singular, the store left CONNECTED',
      input: cloudHsmInput({ desired: cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER }) }),
      action: NONE,
      reason: `CONNECTED; cloudHsmClusterId differs ${DRIFT_TAIL}`,
      events: [
        {
          detailType: 'Store Drift Detected',
          reason: `CONNECTED, but cloudHsmClusterId differs ${DRIFT_TAIL}`,
          drift: ['cloudHsmClusterId'],
          action: 'none',
        },
      ],
      status: { phase: 'IDLE' },
    },
    {
      name: 'a name KMS cannot change while CONNECTED and a cluster differ: reported as drift in the plural',
      input: cloudHsmInput({ desired: cloudHsmDesired({ id: STORE_ID, name: 'payments-hsm-2', cloudHsmClusterId: OTHER_CLUSTER }) }),
      action: NONE,
      reason: `CONNECTED; name, cloudHsmClusterId differ ${DRIFT_TAIL}`,
      events: [
        {
          detailType: 'Store Drift Detected',
          reason: `CONNECTED, but name, cloudHsmClusterId differ ${DRIFT_TAIL}`,
          drift: ['name', 'cloudHsmClusterId'],
          action: 'none',
        },
      ],
      status: { phase: 'IDLE' },
    },
    {
      name: 'desired DISCONNECTED with a setting that differs: disconnects, reports no settings drift and keeps the failed logins',
      input: seen(cloudHsmInput({ desired: cloudHsmDesired({ desiredState: 'DISCONNECTED', cloudHsmClusterId: OTHER_CLUSTER }) }), {
        failedLogins: 1,
      }),
      action: { kind: 'disconnect', storeId: STORE_ID },
      reason: 'CONNECTED but desired DISCONNECTED: disconnecting as the operator declared',
      events: [
        {
          detailType: 'Store Drift Detected',
          reason: 'CONNECTED but desired DISCONNECTED: disconnecting as the operator declared',
          drift: ['connectionState'],
          action: 'disconnect',
        },
      ],
      status: { phase: 'DISCONNECTING', failedLogins: 1 },
    },
    {
      name: 'another store than the desired id: reports the identity only, no settings drift, and keeps the failed logins',
      input: seen(cloudHsmInput({ desired: cloudHsmDesired({ id: 'cks-00000000000000000', cloudHsmClusterId: OTHER_CLUSTER }) }), {
        failedLogins: 1,
      }),
      action: NONE,
      reason: `the store KMS returned differs from the desired item in id (observed type AWS_CLOUDHSM, id ${STORE_ID}); not acting on it`,
      events: [
        {
          detailType: 'Store Drift Detected',
          reason: `the store KMS returned differs from the desired item in id (observed type AWS_CLOUDHSM, id ${STORE_ID}); not acting on it`,
          drift: ['id'],
          action: 'none',
          runbook: SITUATION_RUNBOOKS.identityMismatch,
        },
      ],
      status: { failedLogins: 1 },
    },
    {
      name: 'the password version could not be read: waits, and keeps the version applied (not an unread one)',
      input: seen(cloudHsmInput({ passwordVersion: null, unreadable: ['password secret'] }), { appliedPasswordVersion: 'v1' }),
      action: NONE,
      reason: 'CONNECTED: could not read password secret in this run; waiting for the next run rather than deciding without it',
      events: [],
      status: { phase: 'IDLE', appliedPasswordVersion: 'v1' },
    },
    {
      name: 'our connect succeeded: closes the incident, counting its attempts',
      input: seen(cloudHsmInput(), { phase: 'CONNECTING', incidentId: INC, attempt: 1 }),
      action: NONE,
      reason: `CONNECTED: incident ${INC} closed after 1 connect attempt`,
      events: [
        {
          detailType: 'Repair Succeeded',
          reason: `CONNECTED: incident ${INC} closed after 1 connect attempt`,
          attempt: 1,
          maxAttempts: 3,
          incidentId: INC,
        },
      ],
      status: { phase: 'IDLE', incidentId: null, attempt: 0 },
    },
    {
      name: 'healthy again after an escalation whose incident was closed: resolves that escalation',
      input: seen(cloudHsmInput(), { escalatedIncidentId: INC }),
      action: NONE,
      reason: `CONNECTED: the store escalated in incident ${INC} is healthy again`,
      events: [
        {
          detailType: 'Repair Succeeded',
          reason: `CONNECTED: the store escalated in incident ${INC} is healthy again`,
          attempt: 0,
          maxAttempts: 3,
          incidentId: INC,
          resolvesEscalation: INC,
        },
      ],
      status: { phase: 'IDLE', escalatedIncidentId: null },
    },
  ];
  it.each(rows)('$name', expectStep);
});

describe('transition: CONNECTING and DISCONNECTING', () => {
  const since = at(PHASE_SINCE);
  const rows: Row[] = [
    waits(
      'our connect under way: waits, naming the attempt',
      seen(cloudHsmInput({ observed: cloudHsmIn('CONNECTING') }), { phase: 'CONNECTING', incidentId: INC, attempt: 1 }),
      `CONNECTING since ${since} (repair attempt 1 of 3): waiting for CONNECTED or FAILED`,
      'CONNECTING',
    ),
    waits(
      'our disconnect of a repair under way: waits for DISCONNECTED',
      seen(cloudHsmInput({ observed: cloudHsmIn('DISCONNECTING') }), { phase: 'DISCONNECTING', incidentId: INC }),
      `DISCONNECTING since ${since} (repair): waiting for DISCONNECTED`,
      'DISCONNECTING',
    ),
    waits(
      'our disconnect toward the desired DISCONNECTED under way: waits for DISCONNECTED',
      seen(cloudHsmInput({ desired: cloudHsmDesired({ desiredState: 'DISCONNECTED' }), observed: cloudHsmIn('DISCONNECTING') }), {
        phase: 'DISCONNECTING',
      }),
      `DISCONNECTING since ${since} toward the desired DISCONNECTED: waiting for DISCONNECTED`,
      'DISCONNECTING',
    ),
    waits(
      'a disconnect toward the desired DISCONNECTED that the reconciler did not start: waits',
      seen(cloudHsmInput({ desired: cloudHsmDesired({ desiredState: 'DISCONNECTED' }), observed: cloudHsmIn('DISCONNECTING') })),
      'DISCONNECTING toward the desired DISCONNECTED: waiting',
    ),
    waits(
      'a connect the reconciler did not start: waits for the result',
      seen(cloudHsmInput({ observed: cloudHsmIn('CONNECTING') })),
      'CONNECTING (not started by the reconciler): waiting for the result',
    ),
    waits(
      'a connect while our last connect is recorded as answered (not failed): not taken as a lost answer',
      seen(cloudHsmInput({ observed: cloudHsmIn('CONNECTING') }), {
        lastAction: { kind: 'connect', outcome: 'taken' },
        lastActionAt: NOW - 5 * MINUTE,
      }),
      'CONNECTING (not started by the reconciler): waiting for the result',
    ),
    waits(
      'a disconnect the reconciler did not start: waits for DISCONNECTED',
      seen(cloudHsmInput({ observed: cloudHsmIn('DISCONNECTING') })),
      'DISCONNECTING (not started by the reconciler): waiting for DISCONNECTED',
    ),
    waits(
      'our connect recorded as failed went through after all: taken as ours (phase CONNECTING)',
      seen(cloudHsmInput({ observed: cloudHsmIn('CONNECTING') }), {
        lastAction: { kind: 'connect', outcome: 'failed' },
        lastActionAt: NOW - 5 * MINUTE,
      }),
      'CONNECTING: the connect call that failed went through after all (its answer was lost); waiting for the result',
      'CONNECTING',
    ),
    waits(
      'our disconnect recorded as failed went through after all: taken as ours (phase DISCONNECTING)',
      seen(cloudHsmInput({ observed: cloudHsmIn('DISCONNECTING') }), {
        lastAction: { kind: 'disconnect', outcome: 'failed' },
        lastActionAt: NOW - 5 * MINUTE,
      }),
      'DISCONNECTING: the disconnect call that failed went through after all (its answer was lost); waiting for DISCONNECTED',
      'DISCONNECTING',
    ),
  ];
  it.each(rows)('$name', expectStep);
});

describe('transition: our connect ended FAILED', () => {
  const connecting = { phase: 'CONNECTING', incidentId: INC, attempt: 1 } as const;
  const nextAttemptAt = NOW + backoffMs(1, 'payments-hsm');
  const loginBudget =
    "FAILED with INVALID_CREDENTIALS: the reconciler's connects caused 2 failed kmsuser logins since the last successful connect, its login budget of 2; " +
    'it sends no password and makes no connect until an operator resets the budget with `cks retry`, because CloudHSM locks kmsuser out after 5 failed logins';
  const clusterGone =
    'FAILED with CLUSTER_NOT_FOUND: KMS cannot find the CloudHSM cluster of the store (it was deleted). The desired state names no other existing cluster, so a human must act.';
  const rows: Row[] = [
    {
      name: 'attempts left: backs off, Repair Failed names the connect and the next attempt',
      input: seen(cloudHsmInput({ observed: cloudHsmIn('FAILED', 'NETWORK_ERRORS') }), connecting),
      action: NONE,
      reason: `FAILED with NETWORK_ERRORS: connect attempt 1 of 3 failed (retryable); next attempt after ${at(nextAttemptAt)}`,
      events: [
        {
          detailType: 'Repair Failed',
          reason: 'connect attempt 1 of 3 ended FAILED with NETWORK_ERRORS',
          action: 'connect',
          attempt: 1,
          maxAttempts: 3,
          incidentId: INC,
          nextAttemptAt: at(nextAttemptAt),
        },
      ],
      status: { phase: 'IDLE', nextAttemptAt, incidentId: INC },
    },
    {
      name: 'the last attempt: escalates with the retries-exhausted runbook for the code',
      input: seen(cloudHsmInput({ observed: cloudHsmIn('FAILED', 'NETWORK_ERRORS') }), { ...connecting, attempt: 3 }),
      action: NONE,
      reason: 'FAILED with NETWORK_ERRORS: failed 3 of 3 attempts, none left',
      events: [
        {
          detailType: 'Repair Failed',
          reason: 'connect attempt 3 of 3 ended FAILED with NETWORK_ERRORS',
          action: 'connect',
          attempt: 3,
          maxAttempts: 3,
          incidentId: INC,
        },
        {
          detailType: 'Repair Escalated',
          reason: 'FAILED with NETWORK_ERRORS: failed 3 of 3 attempts, none left',
          runbook: exhaustedRunbook('NETWORK_ERRORS', 'AWS_CLOUDHSM'),
          attempt: 3,
          maxAttempts: 3,
          incidentId: INC,
        },
      ],
      status: { phase: 'ESCALATED', escalatedIncidentId: INC },
    },
    {
      name: 'a code only a human can fix: escalates at once with its playbook',
      input: seen(cloudHsmInput({ observed: cloudHsmIn('FAILED', 'CLUSTER_NOT_FOUND') }), connecting),
      action: NONE,
      reason: clusterGone,
      events: [
        {
          detailType: 'Repair Failed',
          reason: 'connect attempt 1 of 3 ended FAILED with CLUSTER_NOT_FOUND',
          action: 'connect',
          attempt: 1,
          maxAttempts: 3,
          incidentId: INC,
        },
        {
          detailType: 'Repair Escalated',
          reason: clusterGone,
          runbook: playbookFor('CLUSTER_NOT_FOUND', 'AWS_CLOUDHSM').runbook,
          attempt: 1,
          maxAttempts: 3,
          incidentId: INC,
        },
      ],
      status: { phase: 'ESCALATED' },
    },
    {
      name: 'a CloudHSM failed login that spends the login budget: escalates until an operator resets it',
      input: seen(cloudHsmInput({ observed: cloudHsmIn('FAILED', 'INVALID_CREDENTIALS') }), { ...connecting, failedLogins: 1 }),
      action: NONE,
      reason: loginBudget,
      events: [
        {
          detailType: 'Repair Failed',
          reason: 'connect attempt 1 of 3 ended FAILED with INVALID_CREDENTIALS',
          action: 'connect',
          attempt: 1,
          maxAttempts: 3,
          incidentId: INC,
        },
        {
          detailType: 'Repair Escalated',
          reason: loginBudget,
          runbook: SITUATION_RUNBOOKS.loginBudgetSpent,
          attempt: 1,
          maxAttempts: 3,
          incidentId: INC,
        },
      ],
      status: {
        phase: 'ESCALATED',
        failedLogins: 2,
        heldInputs: { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null, awaitingLoginBudgetReset: true },
      },
    },
    {
      name: 'an XKS connect rejected for its credential is no kmsuser login: backs off, counts no failed login',
      input: seen(xksInput({ observed: xksIn('FAILED', 'INVALID_CREDENTIALS'), xksCredentialVersion: 'c2' }), {
        ...connecting,
        appliedXksCredentialVersion: 'c1',
      }),
      action: NONE,
      reason: `FAILED with INVALID_CREDENTIALS: connect attempt 1 of 3 failed (the XKS credential secret has a new version to apply); next attempt after ${at(NOW + backoffMs(1, 'partner-xks'))}`,
      events: [
        {
          detailType: 'Repair Failed',
          reason: 'connect attempt 1 of 3 ended FAILED with INVALID_CREDENTIALS',
          action: 'connect',
          attempt: 1,
          maxAttempts: 3,
          incidentId: INC,
          nextAttemptAt: at(NOW + backoffMs(1, 'partner-xks')),
        },
      ],
      status: { phase: 'IDLE', failedLogins: 0 },
    },
  ];
  it.each(rows)('$name', expectStep);
});

describe('transition: a FAILED store, our repair not under way', () => {
  const disconnect = { kind: 'disconnect', storeId: STORE_ID } as const;
  const started = (reason: string, attempt = 0): EventDraft[] => [
    { detailType: 'Repair Started', reason, action: 'disconnect', attempt, maxAttempts: 3, incidentId: NEW_INC },
  ];
  const escalated = (reason: string, runbook: string, attempt = 0): EventDraft[] => [
    { detailType: 'Repair Escalated', reason, runbook, attempt, maxAttempts: 3, incidentId: NEW_INC },
  ];
  const failedNetwork = cloudHsmIn('FAILED', 'NETWORK_ERRORS');
  const noCode = 'FAILED (FAILED without an error code, treated as retryable): disconnecting, the first step of repair attempt 1 of 3';
  const notForXks =
    'FAILED with CLUSTER_NOT_FOUND: KMS cannot find the CloudHSM cluster of the store (it was deleted). KMS does not document CLUSTER_NOT_FOUND for EXTERNAL_KEY_STORE stores; a human must look';
  const released =
    'FAILED with CLUSTER_NOT_FOUND (the escalation hold was released, so the reconciler tries once more): disconnecting, the first step of repair attempt 1 of 3';
  const unreachable =
    'FAILED with XKS_PROXY_NOT_REACHABLE (retryable: no desired XKS setting differs): disconnecting, the first step of repair attempt 1 of 3';
  const movedProxy = xksDesired({
    xksProxy: {
      uriEndpoint: 'https://xks2.example.com',
      uriPath: '/kms/xks/v2',
      connectivity: 'PUBLIC_ENDPOINT',
      credentialSecretArn: CREDENTIAL_ARN,
    },
  });
  const toMovedProxy =
    'FAILED with XKS_PROXY_NOT_REACHABLE (the desired xksProxy.uriEndpoint, xksProxy.uriPath will be applied): disconnecting, the first step of repair attempt 1 of 3';
  const newPassword =
    'FAILED with INVALID_CREDENTIALS (the password secret has a new version to apply): disconnecting, the first step of repair attempt 1 of 3';
  const oldPassword =
    'FAILED with USER_NOT_FOUND: There is no kmsuser crypto user in the cluster. The password secret has no version newer than the one last applied, and re-sending an old one cannot help (it counts toward locking kmsuser out).';
  const oldCredential = `FAILED with INVALID_CREDENTIALS: ${playbookFor('INVALID_CREDENTIALS', 'EXTERNAL_KEY_STORE').description} The XKS credential secret has no version newer than the one last applied, and re-sending an old one cannot help.`;
  const rows: Row[] = [
    {
      name: 'FAILED without an error code: repaired as retryable',
      input: cloudHsmInput({ observed: cloudHsmIn('FAILED') }),
      action: disconnect,
      reason: noCode,
      events: started(noCode),
      status: { phase: 'DISCONNECTING', incidentId: NEW_INC },
    },
    {
      name: 'backing off: waits, naming the attempt and the next one',
      input: seen(cloudHsmInput({ observed: failedNetwork }), { incidentId: INC, attempt: 1, nextAttemptAt: NOW + 5 * MINUTE }),
      action: NONE,
      reason: `FAILED with NETWORK_ERRORS (retryable): backing off after attempt 1 of 3, next attempt after ${at(NOW + 5 * MINUTE)}`,
      events: [],
      status: { phase: 'IDLE', nextAttemptAt: NOW + 5 * MINUTE },
    },
    {
      name: 'the attempts are used up: escalates with the retries-exhausted runbook for the code',
      input: seen(cloudHsmInput({ observed: failedNetwork }), { incidentId: INC, attempt: 3 }),
      action: NONE,
      reason: 'FAILED with NETWORK_ERRORS (retryable): failed 3 of 3 attempts, none left',
      events: [
        {
          detailType: 'Repair Escalated',
          reason: 'FAILED with NETWORK_ERRORS (retryable): failed 3 of 3 attempts, none left',
          runbook: exhaustedRunbook('NETWORK_ERRORS', 'AWS_CLOUDHSM'),
          attempt: 3,
          maxAttempts: 3,
          incidentId: INC,
        },
      ],
      status: { phase: 'ESCALATED' },
    },
    {
      name: 'one attempt left: disconnects for the last attempt',
      input: seen(cloudHsmInput({ observed: failedNetwork }), { incidentId: INC, attempt: 2 }),
      action: disconnect,
      reason: 'FAILED with NETWORK_ERRORS (retryable): disconnecting, the first step of repair attempt 3 of 3',
      events: [
        {
          detailType: 'Repair Step',
          reason: 'FAILED with NETWORK_ERRORS (retryable): disconnecting, the first step of repair attempt 3 of 3',
          action: 'disconnect',
          attempt: 2,
          maxAttempts: 3,
          incidentId: INC,
        },
      ],
      status: { phase: 'DISCONNECTING' },
    },
    {
      name: 'a code KMS does not document for the store type: a human must look',
      input: xksInput({ observed: xksIn('FAILED', 'CLUSTER_NOT_FOUND') }),
      action: NONE,
      reason: notForXks,
      events: escalated(notForXks, playbookFor('CLUSTER_NOT_FOUND', 'EXTERNAL_KEY_STORE').runbook),
      status: { phase: 'ESCALATED' },
    },
    {
      name: 'a human-only code whose escalation hold was released: tries once more',
      input: seen(cloudHsmInput({ desired: cloudHsmDesired({ generation: 2 }), observed: cloudHsmIn('FAILED', 'CLUSTER_NOT_FOUND') }), {
        phase: 'ESCALATED',
        incidentId: INC,
        escalatedIncidentId: INC,
        observedGeneration: 1,
        heldInputs: { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null },
      }),
      action: disconnect,
      reason: released,
      events: started(released),
      status: { phase: 'DISCONNECTING' },
    },
    {
      name: 'an XKS proxy not reachable, no desired setting differs: retried',
      input: xksInput({ observed: xksIn('FAILED', 'XKS_PROXY_NOT_REACHABLE') }),
      action: { kind: 'disconnect', storeId: XKS_ID },
      reason: unreachable,
      events: started(unreachable),
      status: { phase: 'DISCONNECTING' },
    },
    {
      name: 'an XKS proxy not reachable, the signed desired endpoint and path differ: repaired to apply them',
      input: xksInput({ desired: movedProxy, observed: xksIn('FAILED', 'XKS_PROXY_NOT_REACHABLE'), signatures: signaturesOf(movedProxy) }),
      action: { kind: 'disconnect', storeId: XKS_ID },
      reason: toMovedProxy,
      events: started(toMovedProxy),
      status: { phase: 'DISCONNECTING' },
    },
    {
      name: 'a CloudHSM credential code with a new password version: repaired',
      input: seen(cloudHsmInput({ observed: cloudHsmIn('FAILED', 'INVALID_CREDENTIALS'), passwordVersion: 'v2' }), { appliedPasswordVersion: 'v1' }),
      action: disconnect,
      reason: newPassword,
      events: started(newPassword),
      status: { phase: 'DISCONNECTING' },
    },
    {
      name: 'a CloudHSM credential code without a new password version: escalated, saying a resend counts toward the lockout',
      input: cloudHsmInput({ observed: cloudHsmIn('FAILED', 'USER_NOT_FOUND') }),
      action: NONE,
      reason: oldPassword,
      events: escalated(oldPassword, playbookFor('USER_NOT_FOUND', 'AWS_CLOUDHSM').runbook),
      status: { phase: 'ESCALATED', heldInputs: { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null, awaitingNewPassword: true } },
    },
    {
      name: 'an XKS credential code without a new credential version: escalated',
      input: xksInput({ observed: xksIn('FAILED', 'INVALID_CREDENTIALS') }),
      action: NONE,
      reason: oldCredential,
      events: escalated(oldCredential, playbookFor('INVALID_CREDENTIALS', 'EXTERNAL_KEY_STORE').runbook),
      status: { phase: 'ESCALATED', heldInputs: { generation: 1, passwordVersion: null, xksCredentialVersion: 'c1' } },
    },
  ];
  it.each(rows)('$name', expectStep);
});

describe('transition: DISCONNECTED, desired CONNECTED', () => {
  const what = 'DISCONNECTED but desired CONNECTED';
  const disconnected = cloudHsmIn('DISCONNECTED');
  const bothClusters = clusters(cluster(), cluster({ clusterId: OTHER_CLUSTER }));
  const movedAndRotated = cloudHsmInput({
    desired: cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER }),
    observed: disconnected,
    clusters: bothClusters,
    passwordVersion: 'v2',
  });
  const updatedAt = NOW - 10 * SECOND;
  /** Our update answered 10 s ago; password v1 is the one applied. */
  const afterUpdate = { lastAction: { kind: 'update', outcome: 'taken' }, lastActionAt: updatedAt, appliedPasswordVersion: 'v1' } as const;
  const fields = 'cloudHsmClusterId, keyStorePassword (secret version v2)';
  const update = {
    kind: 'update',
    storeId: STORE_ID,
    changes: { cloudHsmClusterId: OTHER_CLUSTER, password: { secretArn: PASSWORD_ARN, versionId: 'v2' } },
  } as const;
  const { cloudHsmClusterId: _declared, ...noClusterDesired } = cloudHsmDesired();
  const { cloudHsmClusterId: _observed, ...noClusterObserved } = disconnected;
  const noHsm = (over: Parameters<typeof cluster>[0] = {}): PlanInput =>
    cloudHsmInput({
      desired: cloudHsmDesired({ allowCreateHsm: true }),
      observed: disconnected,
      clusters: clusters(cluster({ activeHsms: 0, hsmAvailabilityZones: [], ...over })),
    });
  const noHsmWhat = `${what}: pre-flight: cluster ${CLUSTER} has no ACTIVE HSM`;
  const noZone = `${noHsmWhat}; the cluster has no Availability Zone to add an HSM in`;
  const humanAdds = `${noHsmWhat}; allowCreateHsm is false, so a human must add an HSM`;
  const awaitingHsm = { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null, awaitingActiveHsmIn: CLUSTER };
  const rows: Row[] = [
    waits(
      'our update is settling: waits while KMS still shows the old values',
      seen(movedAndRotated, { phase: 'UPDATING', incidentId: INC, ...afterUpdate }),
      `${what}: updated at ${at(updatedAt)} but KMS still shows old ${fields}: waiting for it to show the change`,
      'UPDATING',
    ),
    {
      name: 'an update of ours outside phase UPDATING (a rename) is no reason to wait: updates what differs',
      input: seen(movedAndRotated, afterUpdate),
      action: update,
      reason: `${what}: updating ${fields} before connecting`,
      events: [
        {
          detailType: 'Repair Started',
          reason: `${what}: updating ${fields} before connecting`,
          action: 'update',
          attempt: 0,
          maxAttempts: 3,
          incidentId: NEW_INC,
        },
      ],
      status: { phase: 'UPDATING', appliedPasswordVersion: 'v2' },
    },
    {
      name: 'a new XKS credential version: updates it and records it as applied',
      input: seen(xksInput({ observed: xksIn('DISCONNECTED'), xksCredentialVersion: 'c2' }), { appliedXksCredentialVersion: 'c1' }),
      action: { kind: 'update', storeId: XKS_ID, changes: { xks: { credential: { secretArn: CREDENTIAL_ARN, versionId: 'c2' } } } },
      reason: `${what}: updating xksProxy.credential (secret version c2) before connecting`,
      events: [
        {
          detailType: 'Repair Started',
          reason: `${what}: updating xksProxy.credential (secret version c2) before connecting`,
          action: 'update',
          attempt: 0,
          maxAttempts: 3,
          incidentId: NEW_INC,
        },
      ],
      status: { phase: 'UPDATING', appliedXksCredentialVersion: 'c2' },
    },
    {
      name: 'no cluster declared or observed: the pre-flight escalates',
      input: cloudHsmInput({ desired: noClusterDesired, observed: noClusterObserved }),
      action: NONE,
      reason: `${what}: pre-flight: cluster (none declared) does not exist, so a connect would fail`,
      events: [
        {
          detailType: 'Repair Escalated',
          reason: `${what}: pre-flight: cluster (none declared) does not exist, so a connect would fail`,
          runbook: SITUATION_RUNBOOKS.clusterNotFound,
          attempt: 0,
          maxAttempts: 3,
          incidentId: NEW_INC,
        },
      ],
      status: { phase: 'ESCALATED' },
    },
    waits(
      'no ACTIVE HSM and our CreateHsm is settling: waits for CloudHSM to show it',
      seen(noHsm(), { lastAction: { kind: 'createHsm', outcome: 'taken' }, lastActionAt: updatedAt }),
      `${noHsmWhat}; an HSM was requested at ${at(updatedAt)}, waiting for CloudHSM to show it`,
    ),
    {
      name: 'no ACTIVE HSM and allowCreateHsm false: escalates, held until the cluster has one',
      input: cloudHsmInput({ observed: disconnected, clusters: clusters(cluster({ activeHsms: 0 })) }),
      action: NONE,
      reason: humanAdds,
      events: [
        {
          detailType: 'Repair Escalated',
          reason: humanAdds,
          runbook: SITUATION_RUNBOOKS.noActiveHsm,
          attempt: 0,
          maxAttempts: 3,
          incidentId: NEW_INC,
        },
      ],
      status: { phase: 'ESCALATED', heldInputs: awaitingHsm },
    },
    {
      name: 'no ACTIVE HSM and every Availability Zone already has an HSM: escalates, held until the cluster has one',
      input: noHsm({ hsmAvailabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'] }),
      action: NONE,
      reason: noZone,
      events: [
        { detailType: 'Repair Escalated', reason: noZone, runbook: SITUATION_RUNBOOKS.noActiveHsm, attempt: 0, maxAttempts: 3, incidentId: NEW_INC },
      ],
      status: { phase: 'ESCALATED', heldInputs: awaitingHsm },
    },
    {
      name: 'no ACTIVE HSM and allowCreateHsm: creates one in a free Availability Zone, phase UPDATING',
      input: noHsm({ hsmAvailabilityZones: ['us-east-1a', 'us-east-1b'] }),
      action: { kind: 'createHsm', clusterId: CLUSTER, availabilityZone: 'us-east-1c' },
      reason: `${noHsmWhat}: creating an HSM in us-east-1c (allowCreateHsm)`,
      events: [
        {
          detailType: 'Repair Started',
          reason: `${noHsmWhat}: creating an HSM in us-east-1c (allowCreateHsm)`,
          action: 'createHsm',
          attempt: 0,
          maxAttempts: 3,
          incidentId: NEW_INC,
        },
      ],
      status: { phase: 'UPDATING' },
    },
  ];
  it.each(rows)('$name', expectStep);
});

describe('transition: desired DISCONNECTED', () => {
  const desired = cloudHsmDesired({ desiredState: 'DISCONNECTED' });
  const declared = 'CONNECTED but desired DISCONNECTED: disconnecting as the operator declared';
  const rows: Row[] = [
    waits(
      'CONNECTED while backing off: waits for the backoff',
      seen(cloudHsmInput({ desired }), { nextAttemptAt: NOW + 5 * MINUTE }),
      `CONNECTED but desired DISCONNECTED: disconnecting after ${at(NOW + 5 * MINUTE)} (backing off)`,
    ),
    {
      name: 'CONNECTED during a repair: disconnects, and the repair incident ends',
      input: seen(cloudHsmInput({ desired }), { incidentId: INC, attempt: 1 }),
      action: { kind: 'disconnect', storeId: STORE_ID },
      reason: `${declared}; repair incident ${INC} ends`,
      events: [
        { detailType: 'Store Drift Detected', reason: `${declared}; repair incident ${INC} ends`, drift: ['connectionState'], action: 'disconnect' },
      ],
      status: { phase: 'DISCONNECTING', incidentId: null, attempt: 0 },
    },
    {
      name: 'DISCONNECTED with a repair incident open: closes it',
      input: seen(cloudHsmInput({ desired, observed: cloudHsmIn('DISCONNECTED') }), { incidentId: INC, attempt: 1 }),
      action: NONE,
      reason: `DISCONNECTED as desired: incident ${INC} closed`,
      events: [
        { detailType: 'Repair Succeeded', reason: `DISCONNECTED as desired: incident ${INC} closed`, attempt: 1, maxAttempts: 3, incidentId: INC },
      ],
      status: { phase: 'IDLE', incidentId: null },
    },
    waits(
      'DISCONNECTED, nothing open: waits, no event',
      seen(cloudHsmInput({ desired, observed: cloudHsmIn('DISCONNECTED') })),
      'DISCONNECTED as desired',
    ),
  ];
  it.each(rows)('$name', expectStep);
});

describe('transition: our connect ended FAILED with INSUFFICIENT_CLOUDHSM_HSMS', () => {
  const connecting = { phase: 'CONNECTING', incidentId: INC, attempt: 1 } as const;
  const nextAttemptAt = NOW + backoffMs(1, 'payments-hsm');
  const failed = (over: Partial<PlanInput>): PlanInput =>
    seen(cloudHsmInput({ observed: cloudHsmIn('FAILED', 'INSUFFICIENT_CLOUDHSM_HSMS'), ...over }), connecting);
  const repairFailed = (next: boolean): EventDraft => ({
    detailType: 'Repair Failed',
    reason: 'connect attempt 1 of 3 ended FAILED with INSUFFICIENT_CLOUDHSM_HSMS',
    action: 'connect',
    attempt: 1,
    maxAttempts: 3,
    incidentId: INC,
    ...(next ? { nextAttemptAt: at(nextAttemptAt) } : {}),
  });
  const retried = (name: string, input: PlanInput, why: string): Row => {
    const reason = `FAILED with INSUFFICIENT_CLOUDHSM_HSMS: connect attempt 1 of 3 failed (${why}); next attempt after ${at(nextAttemptAt)}`;
    return { name, input, action: NONE, reason, events: [repairFailed(true)], status: { phase: 'IDLE', nextAttemptAt } };
  };
  const noHsm = `FAILED with INSUFFICIENT_CLOUDHSM_HSMS: ${playbookFor('INSUFFICIENT_CLOUDHSM_HSMS', 'AWS_CLOUDHSM').description} The cluster has no ACTIVE HSM and allowCreateHsm is false.`;
  const escalated = (name: string, input: PlanInput, awaiting: Partial<NonNullable<StoreStatus['heldInputs']>>): Row => ({
    name,
    input,
    action: NONE,
    reason: noHsm,
    events: [
      repairFailed(false),
      {
        detailType: 'Repair Escalated',
        reason: noHsm,
        runbook: playbookFor('INSUFFICIENT_CLOUDHSM_HSMS', 'AWS_CLOUDHSM').runbook,
        attempt: 1,
        maxAttempts: 3,
        incidentId: INC,
      },
    ],
    status: { phase: 'ESCALATED', heldInputs: { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null, ...awaiting } },
  });
  const rows: Row[] = [
    retried('the cluster has an ACTIVE HSM now: retried', failed({}), `cluster ${CLUSTER} has an ACTIVE HSM now`),
    retried(
      'an HSM is being created: retried',
      failed({ clusters: clusters(cluster({ activeHsms: 0, creatingHsms: 1 })) }),
      `an HSM is being created in cluster ${CLUSTER}`,
    ),
    retried(
      'no HSM, allowCreateHsm: retried, the reconciler adds one',
      failed({ desired: cloudHsmDesired({ allowCreateHsm: true }), clusters: clusters(cluster({ activeHsms: 0 })) }),
      'allowCreateHsm: the reconciler adds an HSM',
    ),
    escalated(
      'no HSM, allowCreateHsm false: escalated, held until the cluster has an ACTIVE HSM',
      failed({ clusters: clusters(cluster({ activeHsms: 0 })) }),
      {
        awaitingActiveHsmIn: CLUSTER,
      },
    ),
    escalated('the cluster is gone: escalated', failed({ clusters: new Map() }), {}),
    escalated(
      'the cluster is gone, allowCreateHsm: escalated (there is no cluster to add an HSM to)',
      failed({ desired: cloudHsmDesired({ allowCreateHsm: true }), clusters: new Map() }),
      {},
    ),
  ];
  it.each(rows)('$name', expectStep);

  it('a code only a human can fix (kmsuser logged in): escalated at once with its playbook', () => {
    const reason = `FAILED with USER_LOGGED_IN: ${playbookFor('USER_LOGGED_IN', 'AWS_CLOUDHSM').description} Only a human can fix this.`;
    expectStep({
      name: 'USER_LOGGED_IN',
      input: cloudHsmInput({ observed: cloudHsmIn('FAILED', 'USER_LOGGED_IN') }),
      action: NONE,
      reason,
      events: [
        {
          detailType: 'Repair Escalated',
          reason,
          runbook: playbookFor('USER_LOGGED_IN', 'AWS_CLOUDHSM').runbook,
          attempt: 0,
          maxAttempts: 3,
          incidentId: NEW_INC,
        },
      ],
      status: { phase: 'ESCALATED' },
    });
  });
});
