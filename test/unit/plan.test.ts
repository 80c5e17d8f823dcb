import { describe, expect, it } from 'vitest';
import { decisionEvents } from '../../shared/domain/events.js';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffMs, NOT_SENT, plan, planActionFailure } from '../../shared/domain/plan.js';
import { PLAYBOOKS, playbookFor, SITUATION_RUNBOOKS } from '../../shared/domain/playbooks.js';
import {
  CONNECTION_ERROR_CODES,
  type ConnectionErrorCode,
  type ConnectionState,
  type Decision,
  describeLastAction,
  type PlanInput,
  type StoreStatus,
} from '../../shared/domain/types.js';
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
import {
  cloudHsmInput,
  decide,
  expectValidEvents,
  MINUTE,
  NOW,
  readable,
  SECOND,
  signaturesOf,
  simulate,
  types,
  xksInput,
} from './domain-fixtures.js';

const XKS_ID = 'cks-0fedcba0987654321';

/** A store first seen FAILED with `code` (CloudHSM codes on the CloudHSM store, XKS codes on the XKS store). */
function failedInput(code: ConnectionErrorCode, type: 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE', over: Partial<PlanInput> = {}): PlanInput {
  return type === 'AWS_CLOUDHSM'
    ? cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: code }), ...over })
    : xksInput({ observed: xksObserved({ connectionState: 'FAILED', connectionErrorCode: code }), ...over });
}

describe('plan: each ConnectionErrorCode on a FAILED store, first seen, nothing fixed yet', () => {
  // What the playbook does with no new secret version, no drift, a healthy cluster and allowCreateHsm false.
  const table: Array<{ code: ConnectionErrorCode; type: 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE'; expected: 'repair' | 'escalate' }> = [
    { code: 'INTERNAL_ERROR', type: 'AWS_CLOUDHSM', expected: 'repair' },
    { code: 'INTERNAL_ERROR', type: 'EXTERNAL_KEY_STORE', expected: 'repair' },
    { code: 'NETWORK_ERRORS', type: 'AWS_CLOUDHSM', expected: 'repair' },
    { code: 'NETWORK_ERRORS', type: 'EXTERNAL_KEY_STORE', expected: 'repair' },
    { code: 'INVALID_CREDENTIALS', type: 'AWS_CLOUDHSM', expected: 'escalate' },
    { code: 'INVALID_CREDENTIALS', type: 'EXTERNAL_KEY_STORE', expected: 'escalate' },
    { code: 'CLUSTER_NOT_FOUND', type: 'AWS_CLOUDHSM', expected: 'escalate' },
    // The cluster has ACTIVE HSMs again: reconnecting is the documented fix.
    { code: 'INSUFFICIENT_CLOUDHSM_HSMS', type: 'AWS_CLOUDHSM', expected: 'repair' },
    { code: 'INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET', type: 'AWS_CLOUDHSM', expected: 'escalate' },
    { code: 'SUBNET_NOT_FOUND', type: 'AWS_CLOUDHSM', expected: 'escalate' },
    { code: 'USER_LOCKED_OUT', type: 'AWS_CLOUDHSM', expected: 'escalate' },
    { code: 'USER_LOGGED_IN', type: 'AWS_CLOUDHSM', expected: 'escalate' },
    { code: 'USER_NOT_FOUND', type: 'AWS_CLOUDHSM', expected: 'escalate' },
    { code: 'XKS_PROXY_ACCESS_DENIED', type: 'EXTERNAL_KEY_STORE', expected: 'escalate' },
    { code: 'XKS_PROXY_NOT_REACHABLE', type: 'EXTERNAL_KEY_STORE', expected: 'repair' },
    { code: 'XKS_PROXY_INVALID_RESPONSE', type: 'EXTERNAL_KEY_STORE', expected: 'repair' },
    { code: 'XKS_PROXY_INVALID_CONFIGURATION', type: 'EXTERNAL_KEY_STORE', expected: 'repair' },
    { code: 'XKS_PROXY_TIMED_OUT', type: 'EXTERNAL_KEY_STORE', expected: 'repair' },
    { code: 'XKS_PROXY_INVALID_TLS_CONFIGURATION', type: 'EXTERNAL_KEY_STORE', expected: 'escalate' },
    { code: 'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND', type: 'EXTERNAL_KEY_STORE', expected: 'repair' },
    { code: 'XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION', type: 'EXTERNAL_KEY_STORE', expected: 'escalate' },
  ];

  it('covers all 18 codes', () => {
    expect(new Set(table.map((row) => row.code))).toEqual(new Set(CONNECTION_ERROR_CODES));
  });

  it.each(table.filter((row) => row.expected === 'repair'))(
    'enforce: starts a repair of a $type store FAILED with $code by disconnecting it',
    ({ code, type }) => {
      const input = failedInput(code, type);
      const decision = decide(input);
      expect(decision.action).toEqual({ kind: 'disconnect', storeId: input.observed?.id });
      expect(decision.dryRun).toBe(false);
      expect(types(decision)).toEqual(['Repair Started']);
      expect(decision.nextStatus.phase).toBe('DISCONNECTING');
      expect(decision.nextStatus.incidentId).toMatch(/^inc-[0-9a-f]{16}$/);
      expect(decision.nextStatus.attempt).toBe(0);
      expect(decision.reason).toContain(`FAILED with ${code}`);
    },
  );

  it.each(table.filter((row) => row.expected === 'escalate'))(
    'enforce: escalates a $type store FAILED with $code at once, with its runbook and no disconnect',
    ({ code, type }) => {
      const input = failedInput(code, type);
      const decision = decide(input);
      expect(decision.action.kind).toBe('none');
      expect(types(decision)).toEqual(['Repair Escalated']);
      expect(decision.events[0]?.runbook).toBe(playbookFor(code, type).runbook);
      expect(decision.nextStatus.phase).toBe('ESCALATED');
      expect(decision.nextStatus.heldInputs).toEqual({
        generation: 1,
        passwordVersion: input.passwordVersion,
        xksCredentialVersion: input.xksCredentialVersion,
        // Only a new password releases a CloudHSM credential escalation.
        ...(type === 'AWS_CLOUDHSM' && PLAYBOOKS[code].class === 'fixableByNewSecret' ? { awaitingNewPassword: true } : {}),
      });
      expect(decision.reason).toContain(`FAILED with ${code}`);
    },
  );

  it.each(table)('plan mode: reports what enforce would do for $type $code, changes nothing', ({ code, type, expected }) => {
    const input = failedInput(code, type, {});
    const planInput = { ...input, desired: { ...input.desired, mode: 'plan' as const } };
    const decision = decide(planInput);
    expect(decision.action.kind).toBe('none');
    expect(decision.dryRun).toBe(true);
    expect(decision.intended).toBe(expected === 'repair' ? 'disconnect' : 'none');
    expect(types(decision)).toEqual([expected === 'repair' ? 'Repair Started' : 'Repair Escalated']);
    expect(decisionEvents(decision, planInput).every((e) => e.detail.dryRun)).toBe(true);
    expect(decision.nextStatus.phase).toBe('IDLE');
    expect(decision.nextStatus.incidentId).toBeNull();
    expect(describeLastAction(decision.nextStatus.lastAction)).toBe(expected === 'repair' ? 'would disconnect' : 'none');
    expect(decision.reason).toMatch(/^mode plan \(dry run\)/);
  });

  it.each(table)('observe mode: reports $type $code as drift only', ({ code, type }) => {
    const input = failedInput(code, type);
    const observeInput = { ...input, desired: { ...input.desired, mode: 'observe' as const } };
    const decision = decide(observeInput);
    expect(decision.action.kind).toBe('none');
    expect(decision.dryRun).toBe(true);
    expect(types(decision)).toEqual(['Store Drift Detected']);
    expect(decision.events[0]?.drift).toEqual(['connectionState']);
    expect(decision.nextStatus.phase).toBe('IDLE');
    expect(describeLastAction(decision.nextStatus.lastAction)).toMatch(/^(none|would disconnect)$/);
  });
});

describe('plan: codes fixable from a secret version, the desired state or CreateHsm', () => {
  it.each(['INVALID_CREDENTIALS', 'USER_LOCKED_OUT', 'USER_NOT_FOUND'] as const)(
    'repairs a CloudHSM store FAILED with %s once the password secret has a version newer than the baseline',
    (code) => {
      const first = decide(failedInput(code, 'AWS_CLOUDHSM'));
      expect(first.nextStatus.appliedPasswordVersion).toBe('v1');
      const [, disconnect, update, connect] = simulate(failedInput(code, 'AWS_CLOUDHSM'), [
        {},
        { passwordVersion: 'v2', now: NOW + MINUTE },
        { passwordVersion: 'v2', now: NOW + 3 * MINUTE, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) },
        { passwordVersion: 'v2', now: NOW + 4 * MINUTE, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) },
      ]);
      expect(disconnect?.action.kind).toBe('disconnect');
      expect(types(disconnect!)).toEqual(['Repair Started']);
      expect(update?.action).toEqual({
        kind: 'update',
        storeId: STORE_ID,
        changes: { password: { secretArn: PASSWORD_ARN, versionId: 'v2' } },
      });
      expect(update?.nextStatus.appliedPasswordVersion).toBe('v2');
      expect(connect?.action.kind).toBe('connect');
    },
  );

  it('never sends the password version that existed when an INVALID_CREDENTIALS store was first seen, nor connects without a newer one', () => {
    const input = failedInput('INVALID_CREDENTIALS', 'AWS_CLOUDHSM');
    const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });
    const gen2 = cloudHsmDesired({ generation: 2 });
    const decisions = simulate(input, [
      {},
      // A human disconnects it and an operator runs `cks retry` (generation bump), but the secret is unchanged.
      { now: NOW + 5 * MINUTE, observed: disconnected, desired: gen2 },
      { now: NOW + 10 * MINUTE, observed: disconnected, desired: gen2 },
      // Then a human sets a new password and stores it as v2.
      { now: NOW + 15 * MINUTE, observed: disconnected, desired: gen2, passwordVersion: 'v2' },
      { now: NOW + 16 * MINUTE, observed: disconnected, desired: gen2, passwordVersion: 'v2' },
    ]);
    expect(decisions.map((d) => d.action.kind)).toEqual(['none', 'none', 'none', 'update', 'connect']);
    expect(decisions[1]?.reason).toContain('holding until a new version of the password secret');
    expect(decisions[3]?.action).toMatchObject({ changes: { password: { versionId: 'v2' } } });
    expect(decisions.map(types)).toEqual([['Repair Escalated'], [], [], ['Repair Started'], ['Repair Step']]);
  });

  it('connects a first-seen DISCONNECTED store without sending the current password version', () => {
    const decision = decide(cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) }));
    expect(decision.action).toEqual({ kind: 'connect', storeId: STORE_ID });
    expect(types(decision)).toEqual(['Repair Started']);
    expect(decision.nextStatus.attempt).toBe(1);
    expect(decision.nextStatus.phase).toBe('CONNECTING');
  });

  it('keeps a CloudHSM credential escalation held on a generation bump without a new password version', () => {
    const [escalated, bumped] = simulate(failedInput('USER_LOCKED_OUT', 'AWS_CLOUDHSM'), [
      {},
      { now: NOW + MINUTE, desired: cloudHsmDesired({ generation: 2 }) },
    ]);
    expect(types(escalated!)).toEqual(['Repair Escalated']);
    expect(bumped?.action.kind).toBe('none');
    expect(bumped?.events).toEqual([]);
    expect(bumped?.nextStatus.phase).toBe('ESCALATED');
    expect(bumped?.nextStatus.incidentId).toBe(escalated?.nextStatus.incidentId);
    expect(bumped?.nextStatus.heldInputs).toMatchObject({ generation: 1, awaitingNewPassword: true });
    expect(bumped?.reason).toContain('holding until a new version of the password secret');
  });

  it('escalates USER_LOGGED_IN even when the password secret has a new version: only a logout fixes it', () => {
    const decision = decide(failedInput('USER_LOGGED_IN', 'AWS_CLOUDHSM', { passwordVersion: 'v2', status: null }));
    // First sight takes v2 as the baseline; seen later, a new version still does not prove the logout.
    const later = decide({
      ...failedInput('USER_LOGGED_IN', 'AWS_CLOUDHSM'),
      passwordVersion: 'v3',
      status: { ...decision.nextStatus, phase: 'IDLE', incidentId: null, heldInputs: null },
    });
    expect(types(decision)).toEqual(['Repair Escalated']);
    expect(types(later)).toEqual(['Repair Escalated']);
  });

  it('tries a USER_LOGGED_IN store once more after `cks retry`, in a new incident, and escalates it again if it fails', () => {
    const input = failedInput('USER_LOGGED_IN', 'AWS_CLOUDHSM');
    const gen2 = cloudHsmDesired({ generation: 2 });
    const failedAgain = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'USER_LOGGED_IN' });
    const [escalated, retried, , connect, , refailed, held] = simulate(input, [
      {},
      { now: NOW + 10 * MINUTE, desired: gen2 },
      { now: NOW + 11 * MINUTE, desired: gen2, observed: cloudHsmObserved({ connectionState: 'DISCONNECTING' }) },
      { now: NOW + 12 * MINUTE, desired: gen2, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) },
      { now: NOW + 13 * MINUTE, desired: gen2, observed: cloudHsmObserved({ connectionState: 'CONNECTING' }) },
      { now: NOW + 15 * MINUTE, desired: gen2, observed: failedAgain },
      { now: NOW + 60 * MINUTE, desired: gen2, observed: failedAgain },
    ]);
    expect(retried?.action.kind).toBe('disconnect');
    expect(types(retried!)).toEqual(['Repair Started']);
    expect(retried?.nextStatus.incidentId).not.toBe(escalated?.nextStatus.incidentId);
    expect(connect?.action.kind).toBe('connect');
    expect(types(refailed!)).toEqual(['Repair Failed', 'Repair Escalated']);
    expect(refailed?.nextStatus.incidentId).toBe(retried?.nextStatus.incidentId);
    expect(held?.events).toEqual([]);
  });

  it('repairs an XKS store FAILED with INVALID_CREDENTIALS by sending the new credential version', () => {
    const disconnected = xksObserved({ connectionState: 'DISCONNECTED' });
    const [disconnect, update] = simulate(failedInput('INVALID_CREDENTIALS', 'EXTERNAL_KEY_STORE', { status: null }), [
      { xksCredentialVersion: 'c1' },
      { xksCredentialVersion: 'c1', now: NOW + 2 * MINUTE, observed: disconnected },
    ]);
    expect(disconnect?.action.kind).toBe('none'); // c1 is the baseline: escalated
    const fresh = simulate(failedInput('INVALID_CREDENTIALS', 'EXTERNAL_KEY_STORE'), [
      {},
      { xksCredentialVersion: 'c2', now: NOW + MINUTE },
      { xksCredentialVersion: 'c2', now: NOW + 3 * MINUTE, observed: disconnected },
    ]);
    expect(update?.action.kind).toBe('none');
    expect(fresh[1]?.action.kind).toBe('disconnect');
    expect(fresh[2]?.action).toEqual({
      kind: 'update',
      storeId: XKS_ID,
      changes: { xks: { credential: { secretArn: CREDENTIAL_ARN, versionId: 'c2' } } },
    });
  });

  it('tries an XKS INVALID_CREDENTIALS store once more on `cks retry` without a new credential (the proxy may have been fixed)', () => {
    const [, retried] = simulate(failedInput('INVALID_CREDENTIALS', 'EXTERNAL_KEY_STORE'), [
      {},
      { now: NOW + MINUTE, desired: xksDesired({ generation: 2 }) },
    ]);
    expect(retried?.action.kind).toBe('disconnect');
  });

  it.each(['CLUSTER_NOT_FOUND', 'SUBNET_NOT_FOUND'] as const)(
    'repairs a store FAILED with %s when the desired state names another cluster that exists',
    (code) => {
      const desired = cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER });
      const world = clusters(cluster({ clusterId: OTHER_CLUSTER }));
      const [disconnect, update, connect] = simulate(failedInput(code, 'AWS_CLOUDHSM', { desired, clusters: world }), [
        {},
        { now: NOW + 2 * MINUTE, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) },
        { now: NOW + 3 * MINUTE, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED', cloudHsmClusterId: OTHER_CLUSTER }) },
      ]);
      expect(disconnect?.action.kind).toBe('disconnect');
      expect(disconnect?.reason).toContain(OTHER_CLUSTER);
      expect(update?.action).toEqual({ kind: 'update', storeId: STORE_ID, changes: { cloudHsmClusterId: OTHER_CLUSTER } });
      expect(update?.nextStatus.phase).toBe('UPDATING');
      expect(connect?.action.kind).toBe('connect');
    },
  );

  it('escalates CLUSTER_NOT_FOUND when the desired cluster does not exist either', () => {
    const decision = decide(
      failedInput('CLUSTER_NOT_FOUND', 'AWS_CLOUDHSM', { desired: cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER }), clusters: new Map() }),
    );
    expect(types(decision)).toEqual(['Repair Escalated']);
    expect(decision.events[0]?.runbook).toBe(PLAYBOOKS.CLUSTER_NOT_FOUND.runbook);
  });

  it('escalates INSUFFICIENT_CLOUDHSM_HSMS when the cluster has no ACTIVE HSM and allowCreateHsm is false, and holds', () => {
    const empty = clusters(cluster({ activeHsms: 0, hsmAvailabilityZones: [] }));
    const [escalated, held] = simulate(failedInput('INSUFFICIENT_CLOUDHSM_HSMS', 'AWS_CLOUDHSM', { clusters: empty }), [
      {},
      { now: NOW + 5 * MINUTE },
    ]);
    expect(types(escalated!)).toEqual(['Repair Escalated']);
    expect(escalated?.nextStatus.heldInputs?.awaitingActiveHsmIn).toBe(CLUSTER);
    expect(held?.action.kind).toBe('none');
    expect(held?.events).toEqual([]);
  });

  it('releases an INSUFFICIENT_CLOUDHSM_HSMS escalation by itself once the cluster has an ACTIVE HSM again', () => {
    const empty = clusters(cluster({ activeHsms: 0, hsmAvailabilityZones: [] }));
    const [escalated, released] = simulate(failedInput('INSUFFICIENT_CLOUDHSM_HSMS', 'AWS_CLOUDHSM', { clusters: empty }), [
      {},
      { now: NOW + 30 * MINUTE, clusters: clusters(cluster({ activeHsms: 1 })) },
    ]);
    expect(released?.action.kind).toBe('disconnect');
    expect(types(released!)).toEqual(['Repair Started']);
    expect(released?.nextStatus.incidentId).not.toBe(escalated?.nextStatus.incidentId);
  });

  it('creates an HSM for INSUFFICIENT_CLOUDHSM_HSMS when allowCreateHsm, in the first Availability Zone without a live HSM', () => {
    const empty = cluster({ activeHsms: 0, hsmAvailabilityZones: [], availabilityZones: ['us-east-1a', 'us-east-1b'] });
    const input = failedInput('INSUFFICIENT_CLOUDHSM_HSMS', 'AWS_CLOUDHSM', {
      desired: cloudHsmDesired({ allowCreateHsm: true }),
      clusters: clusters(empty),
    });
    const [create, justAsked, creating, ready] = simulate(input, [
      {},
      { now: NOW + 20 * SECOND },
      { now: NOW + 2 * MINUTE, clusters: clusters({ ...empty, creatingHsms: 1, hsmAvailabilityZones: ['us-east-1a'] }) },
      { now: NOW + 7 * MINUTE, clusters: clusters({ ...empty, activeHsms: 1, hsmAvailabilityZones: ['us-east-1a'] }) },
    ]);
    expect(create?.action).toEqual({ kind: 'createHsm', clusterId: CLUSTER, availabilityZone: 'us-east-1a' });
    expect(types(create!)).toEqual(['Repair Started']);
    expect(justAsked?.action.kind).toBe('none');
    expect(justAsked?.reason).toContain('waiting for CloudHSM to show it');
    expect(creating?.action.kind).toBe('none');
    expect(creating?.reason).toContain('being created');
    expect(ready?.action.kind).toBe('disconnect');
    expect(types(ready!)).toEqual(['Repair Step']);
  });

  it.each(['XKS_PROXY_NOT_REACHABLE', 'XKS_PROXY_INVALID_CONFIGURATION', 'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND'] as const)(
    'applies drifted XKS settings to a store FAILED with %s',
    (code) => {
      const desired = xksDesired({
        xksProxy: {
          uriEndpoint: 'https://xks.example.com',
          uriPath: '/tenant/kms/xks/v1',
          connectivity: 'VPC_ENDPOINT_SERVICE',
          vpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0',
          credentialSecretArn: CREDENTIAL_ARN,
        },
      });
      // Two persons signed the proxy change (generation 1), so the reconciler may apply it.
      const [disconnect, update] = simulate(failedInput(code, 'EXTERNAL_KEY_STORE', { desired, signatures: signaturesOf(desired) }), [
        {},
        { now: NOW + 2 * MINUTE, observed: xksObserved({ connectionState: 'DISCONNECTED' }) },
      ]);
      expect(disconnect?.reason).toContain('xksProxy.uriPath');
      expect(update?.action).toEqual({
        kind: 'update',
        storeId: XKS_ID,
        changes: {
          xks: {
            uriPath: '/tenant/kms/xks/v1',
            connectivity: 'VPC_ENDPOINT_SERVICE',
            vpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0',
          },
        },
      });
    },
  );
});

describe('plan: a secret the desired item names does not exist', () => {
  const missingPassword = { passwordVersion: null, missingSecrets: ['keyStorePasswordSecretArn'] } as const;
  const missingCredential = { xksCredentialVersion: null, missingSecrets: ['xksProxy.credentialSecretArn'] } as const;
  const cloudHsm = (state: ConnectionState, code: ConnectionErrorCode | null = null): PlanInput =>
    cloudHsmInput({ observed: cloudHsmObserved({ connectionState: state, connectionErrorCode: code }), ...missingPassword });
  const xks = (state: ConnectionState, code: ConnectionErrorCode | null = null): PlanInput =>
    xksInput({ observed: xksObserved({ connectionState: state, connectionErrorCode: code }), ...missingCredential });

  it.each([
    {
      store: 'CloudHSM FAILED with INVALID_CREDENTIALS',
      input: cloudHsm('FAILED', 'INVALID_CREDENTIALS'),
      named: `keyStorePasswordSecretArn ${PASSWORD_ARN}`,
    },
    { store: 'CloudHSM FAILED with NETWORK_ERRORS', input: cloudHsm('FAILED', 'NETWORK_ERRORS'), named: `keyStorePasswordSecretArn ${PASSWORD_ARN}` },
    { store: 'CloudHSM DISCONNECTED', input: cloudHsm('DISCONNECTED'), named: `keyStorePasswordSecretArn ${PASSWORD_ARN}` },
    {
      store: 'XKS FAILED with XKS_PROXY_ACCESS_DENIED',
      input: xks('FAILED', 'XKS_PROXY_ACCESS_DENIED'),
      named: `xksProxy.credentialSecretArn ${CREDENTIAL_ARN}`,
    },
    { store: 'XKS DISCONNECTED', input: xks('DISCONNECTED'), named: `xksProxy.credentialSecretArn ${CREDENTIAL_ARN}` },
  ])('escalates a $store at once, naming the field and the ARN, with the missing-secret runbook and never "no newer version"', ({ input, named }) => {
    const decision = decide(input);
    expect(decision.action.kind).toBe('none');
    expect(types(decision)).toEqual(['Repair Escalated']);
    expect(decision.events[0]?.runbook).toBe(SITUATION_RUNBOOKS.secretMissing);
    expect(decision.reason).toContain(`${named} names no secret in Secrets Manager`);
    expect(decision.reason).not.toContain('no version newer');
    expect(decision.nextStatus.phase).toBe('ESCALATED');
    expect(decision.nextStatus.heldInputs?.awaitingSecret).toBe(true);
  });

  it.each([
    { store: 'a CONNECTED store desired CONNECTED', input: cloudHsm('CONNECTED'), action: 'none' },
    {
      store: 'a store desired DISCONNECTED',
      input: { ...cloudHsm('CONNECTED'), desired: cloudHsmDesired({ desiredState: 'DISCONNECTED' }) },
      action: 'disconnect',
    },
    { store: 'a CONNECTING store', input: cloudHsm('CONNECTING'), action: 'none' },
  ])('does not escalate $store, which needs no repair: the secret is not needed now', ({ input, action }) => {
    const decision = decide(input);
    expect(decision.action.kind).toBe(action);
    expect(types(decision)).not.toContain('Repair Escalated');
  });

  it('waits, never judges, when the secret could not be read (it is unreadable, not missing)', () => {
    const decision = decide(
      cloudHsmInput({
        observed: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS' }),
        passwordVersion: null,
        unreadable: [`the version of secret ${PASSWORD_ARN}`],
      }),
    );
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
    expect(decision.reason).toContain('could not read');
  });

  it('pages once per incident: holds without another event while the secret stays missing, then repairs once it exists', () => {
    const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });
    const decisions = simulate(cloudHsm('FAILED', 'INVALID_CREDENTIALS'), [
      {},
      { now: NOW + MINUTE },
      { now: NOW + 2 * MINUTE },
      // The secret is created with the kmsuser password.
      { now: NOW + 3 * MINUTE, passwordVersion: 'v1', missingSecrets: [] },
      { now: NOW + 5 * MINUTE, passwordVersion: 'v1', missingSecrets: [], observed: disconnected },
    ]);
    expect(decisions.map(types)).toEqual([['Repair Escalated'], [], [], ['Repair Started'], ['Repair Step']]);
    expect(decisions[1]?.reason).toContain('holding until the secret the desired item names exists');
    expect(decisions.map((d) => d.action.kind)).toEqual(['none', 'none', 'none', 'disconnect', 'update']);
    expect(decisions[4]?.action).toMatchObject({ changes: { password: { secretArn: PASSWORD_ARN, versionId: 'v1' } } });
  });

  it('escalates again, in a new incident, when a new generation still names a missing secret', () => {
    const [first, second, third] = simulate(cloudHsm('FAILED', 'NETWORK_ERRORS'), [
      {},
      { now: NOW + MINUTE, desired: cloudHsmDesired({ generation: 2 }) },
      { now: NOW + 2 * MINUTE, desired: cloudHsmDesired({ generation: 2 }) },
    ]);
    expect([types(first!), types(second!), types(third!)]).toEqual([['Repair Escalated'], ['Repair Escalated'], []]);
    expect(second?.nextStatus.incidentId).not.toBe(first?.nextStatus.incidentId);
  });
});

describe('plan: the repair cycle', () => {
  const failed = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });
  const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });
  const connecting = cloudHsmObserved({ connectionState: 'CONNECTING' });
  const connected = cloudHsmObserved();

  it('disconnects a FAILED store, connects it once DISCONNECTED, and closes the incident when CONNECTED', () => {
    const decisions = simulate(cloudHsmInput({ observed: failed }), [
      {},
      { now: NOW + 30 * SECOND, observed: cloudHsmObserved({ connectionState: 'DISCONNECTING' }) },
      { now: NOW + 2 * MINUTE, observed: disconnected },
      { now: NOW + 3 * MINUTE, observed: connecting },
      { now: NOW + 6 * MINUTE, observed: connected },
      { now: NOW + 7 * MINUTE, observed: connected },
    ]);
    expect(decisions.map((d) => d.action.kind)).toEqual(['disconnect', 'none', 'connect', 'none', 'none', 'none']);
    expect(decisions.map((d) => d.nextStatus.phase)).toEqual(['DISCONNECTING', 'DISCONNECTING', 'CONNECTING', 'CONNECTING', 'IDLE', 'IDLE']);
    expect(decisions.map(types)).toEqual([['Repair Started'], [], ['Repair Step'], [], ['Repair Succeeded'], []]);
    const incident = decisions[0]?.nextStatus.incidentId;
    expect(decisions[2]?.nextStatus.incidentId).toBe(incident);
    expect(decisions[4]?.events[0]?.incidentId).toBe(incident);
    expect(decisions[4]?.nextStatus).toMatchObject({ incidentId: null, attempt: 0, nextAttemptAt: null, heldInputs: null });
    expect(decisions[2]?.nextStatus.attempt).toBe(1);
  });

  it('records a failed connect, backs off, retries, and escalates exactly once at maxAttempts', () => {
    let status: StoreStatus | null = null;
    let now = NOW;
    const all: Decision[] = [];
    const run = (observed: PlanInput['observed']): Decision => {
      const decision = decide(cloudHsmInput({ observed, status, now }));
      all.push(decision);
      status = decision.nextStatus;
      return decision;
    };
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      now += 2 * MINUTE;
      while (run(failed).action.kind !== 'disconnect') now += 10 * MINUTE;
      now += 2 * MINUTE;
      expect(run(disconnected).action.kind).toBe('connect');
      now += 2 * MINUTE;
      const result = run(failed);
      expect(result.events[0]).toMatchObject({ detailType: 'Repair Failed', attempt, maxAttempts: 3 });
      if (attempt < 3) {
        expect(types(result)).toEqual(['Repair Failed']);
        expect(result.nextStatus.nextAttemptAt).toBeGreaterThan(now);
        expect(result.events[0]?.nextAttemptAt).toBe(new Date(result.nextStatus.nextAttemptAt!).toISOString());
        const waiting = run(failed);
        expect(waiting.action.kind).toBe('none');
        expect(waiting.reason).toContain('backing off');
      } else {
        expect(types(result)).toEqual(['Repair Failed', 'Repair Escalated']);
        expect(result.events[1]?.runbook).toContain(SITUATION_RUNBOOKS.retriesExhausted);
        expect(result.events[1]?.runbook).toContain(PLAYBOOKS.NETWORK_ERRORS.runbook);
      }
    }
    // Many more runs of the same incident: no second escalation, no action.
    for (let i = 0; i < 20; i += 1) {
      now += 15 * MINUTE;
      expect(run(i % 2 === 0 ? failed : disconnected).events).toEqual([]);
    }
    expect(all.flatMap(types).filter((t) => t === 'Repair Escalated')).toHaveLength(1);
    expect(all.flatMap(types).filter((t) => t === 'Repair Started')).toHaveLength(1);
    expect(new Set(all.map((d) => d.nextStatus.incidentId).filter((id) => id !== null)).size).toBe(1);
  });

  it('escalates at once when a connect ends FAILED with a human-only code, without waiting for the backoff', () => {
    const [, , result] = simulate(cloudHsmInput({ observed: failed }), [
      {},
      { now: NOW + 2 * MINUTE, observed: disconnected },
      { now: NOW + 5 * MINUTE, observed: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'USER_LOCKED_OUT' }) },
    ]);
    expect(types(result!)).toEqual(['Repair Failed', 'Repair Escalated']);
    expect(result?.events[0]?.nextAttemptAt).toBeUndefined();
    expect(result?.events[1]?.runbook).toBe(PLAYBOOKS.USER_LOCKED_OUT.runbook);
  });

  it('releases an escalated hold when the desired generation changes, with a fresh incident and attempts', () => {
    const status: StoreStatus = {
      ...decide(cloudHsmInput({ observed: failed })).nextStatus,
      phase: 'ESCALATED',
      attempt: 3,
      heldInputs: { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null },
    };
    const held = decide(cloudHsmInput({ observed: failed, status, now: NOW + MINUTE }));
    const released = decide(cloudHsmInput({ observed: failed, status, now: NOW + MINUTE, desired: cloudHsmDesired({ generation: 2 }) }));
    expect(held.action.kind).toBe('none');
    expect(held.events).toEqual([]);
    expect(released.action.kind).toBe('disconnect');
    expect(types(released)).toEqual(['Repair Started']);
    expect(released.nextStatus.attempt).toBe(0);
    expect(released.nextStatus.incidentId).not.toBe(status.incidentId);
  });

  it('releases an escalated hold when a secret gets a new version, but not when a version was merely unknown', () => {
    const status: StoreStatus = {
      ...decide(cloudHsmInput({ observed: failed })).nextStatus,
      phase: 'ESCALATED',
      heldInputs: { generation: 1, passwordVersion: null, xksCredentialVersion: null },
    };
    const adopted = decide(cloudHsmInput({ observed: failed, status, passwordVersion: 'v1', now: NOW + MINUTE }));
    expect(adopted.action.kind).toBe('none');
    expect(adopted.nextStatus.heldInputs?.passwordVersion).toBe('v1');
    const released = decide(cloudHsmInput({ observed: failed, status: adopted.nextStatus, passwordVersion: 'v2', now: NOW + 2 * MINUTE }));
    expect(released.action.kind).toBe('disconnect');
  });

  it('does not count a DISCONNECTED store as a failure when it was never connected: it connects and opens an incident', () => {
    const decision = decide(cloudHsmInput({ observed: disconnected }));
    expect(decision.action.kind).toBe('connect');
    expect(types(decision)).toEqual(['Repair Started']);
  });

  it('updates only what differs before connecting: the cluster id, not an unchanged password', () => {
    const decision = decide(
      cloudHsmInput({
        observed: disconnected,
        desired: cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER }),
        clusters: clusters(cluster(), cluster({ clusterId: OTHER_CLUSTER })),
      }),
    );
    expect(decision.action).toEqual({ kind: 'update', storeId: STORE_ID, changes: { cloudHsmClusterId: OTHER_CLUSTER } });
  });
});

describe('plan: every connection state against every phase of our status (desired CONNECTED)', () => {
  type Phase = 'IDLE' | 'DISCONNECTING' | 'UPDATING' | 'CONNECTING' | 'ESCALATED';
  // The phase was entered 2 minutes ago (inside every deadline); the last call was 5 minutes ago (outside the settle window).
  function statusIn(phase: Phase): StoreStatus {
    return {
      ...decide(cloudHsmInput()).nextStatus,
      phase,
      phaseSince: NOW - 2 * MINUTE,
      incidentId: phase === 'IDLE' ? null : 'inc-00000000000000aa',
      attempt: phase === 'IDLE' ? 0 : 1,
      lastAction: { kind: 'none', outcome: 'taken' },
      lastActionAt: NOW - 5 * MINUTE,
      heldInputs: phase === 'ESCALATED' ? { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null } : null,
      onManualDisconnectInForce: 'reconnect',
    };
  }
  const observed: Record<ConnectionState, PlanInput['observed']> = {
    CONNECTED: cloudHsmObserved(),
    CONNECTING: cloudHsmObserved({ connectionState: 'CONNECTING' }),
    FAILED: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
    DISCONNECTED: cloudHsmObserved({ connectionState: 'DISCONNECTED' }),
    DISCONNECTING: cloudHsmObserved({ connectionState: 'DISCONNECTING' }),
  };
  const table: Array<{ state: ConnectionState; phase: Phase; action: string; events: string[]; next: string }> = [
    { state: 'CONNECTED', phase: 'IDLE', action: 'none', events: [], next: 'IDLE' },
    { state: 'CONNECTED', phase: 'DISCONNECTING', action: 'none', events: ['Repair Succeeded'], next: 'IDLE' },
    { state: 'CONNECTED', phase: 'UPDATING', action: 'none', events: ['Repair Succeeded'], next: 'IDLE' },
    { state: 'CONNECTED', phase: 'CONNECTING', action: 'none', events: ['Repair Succeeded'], next: 'IDLE' },
    { state: 'CONNECTED', phase: 'ESCALATED', action: 'none', events: ['Repair Succeeded'], next: 'IDLE' },
    { state: 'CONNECTING', phase: 'IDLE', action: 'none', events: [], next: 'IDLE' },
    { state: 'CONNECTING', phase: 'DISCONNECTING', action: 'none', events: [], next: 'DISCONNECTING' },
    { state: 'CONNECTING', phase: 'UPDATING', action: 'none', events: [], next: 'UPDATING' },
    { state: 'CONNECTING', phase: 'CONNECTING', action: 'none', events: [], next: 'CONNECTING' },
    { state: 'CONNECTING', phase: 'ESCALATED', action: 'none', events: [], next: 'ESCALATED' },
    { state: 'FAILED', phase: 'IDLE', action: 'disconnect', events: ['Repair Started'], next: 'DISCONNECTING' },
    { state: 'FAILED', phase: 'DISCONNECTING', action: 'disconnect', events: ['Repair Step'], next: 'DISCONNECTING' },
    { state: 'FAILED', phase: 'UPDATING', action: 'disconnect', events: ['Repair Step'], next: 'DISCONNECTING' },
    { state: 'FAILED', phase: 'CONNECTING', action: 'none', events: ['Repair Failed'], next: 'IDLE' },
    { state: 'FAILED', phase: 'ESCALATED', action: 'none', events: [], next: 'ESCALATED' },
    { state: 'DISCONNECTED', phase: 'IDLE', action: 'connect', events: ['Repair Started'], next: 'CONNECTING' },
    { state: 'DISCONNECTED', phase: 'DISCONNECTING', action: 'connect', events: ['Repair Step'], next: 'CONNECTING' },
    { state: 'DISCONNECTED', phase: 'UPDATING', action: 'connect', events: ['Repair Step'], next: 'CONNECTING' },
    // Someone disconnected our CONNECTING store: the next attempt starts at once (bounded by maxAttempts).
    { state: 'DISCONNECTED', phase: 'CONNECTING', action: 'connect', events: ['Repair Step'], next: 'CONNECTING' },
    { state: 'DISCONNECTED', phase: 'ESCALATED', action: 'none', events: [], next: 'ESCALATED' },
    { state: 'DISCONNECTING', phase: 'IDLE', action: 'none', events: [], next: 'IDLE' },
    { state: 'DISCONNECTING', phase: 'DISCONNECTING', action: 'none', events: [], next: 'DISCONNECTING' },
    { state: 'DISCONNECTING', phase: 'UPDATING', action: 'none', events: [], next: 'UPDATING' },
    { state: 'DISCONNECTING', phase: 'CONNECTING', action: 'none', events: [], next: 'CONNECTING' },
    { state: 'DISCONNECTING', phase: 'ESCALATED', action: 'none', events: [], next: 'ESCALATED' },
  ];

  it.each(table)('$state in phase $phase: $action, events $events, phase $next', ({ state, phase, action, events, next }) => {
    // A DISCONNECTED store is reconnected here (onManualDisconnect: reconnect, in force); the hold has its own tests.
    const decision = decide(
      cloudHsmInput({ observed: observed[state], status: statusIn(phase), desired: cloudHsmDesired({ onManualDisconnect: 'reconnect' }) }),
    );
    expect(decision.action.kind).toBe(action);
    expect(types(decision)).toEqual(events);
    expect(decision.nextStatus.phase).toBe(next);
  });
});

describe('plan: pre-flight before connecting a CloudHSM store', () => {
  const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });

  it.each([
    { name: 'the cluster does not exist', world: clusters(), runbook: SITUATION_RUNBOOKS.clusterNotFound },
    { name: 'the cluster is not ACTIVE', world: clusters(cluster({ state: 'DEGRADED' })), runbook: SITUATION_RUNBOOKS.clusterNotActive },
    {
      name: 'the cluster has no ACTIVE HSM',
      world: clusters(cluster({ activeHsms: 0, hsmAvailabilityZones: [] })),
      runbook: SITUATION_RUNBOOKS.noActiveHsm,
    },
  ])('escalates instead of connecting when $name', ({ world, runbook }) => {
    const decision = decide(cloudHsmInput({ observed: disconnected, clusters: world }));
    expect(decision.action.kind).toBe('none');
    expect(types(decision)).toEqual(['Repair Escalated']);
    expect(decision.events[0]?.runbook).toBe(runbook);
  });

  it('waits while an HSM is being created instead of connecting', () => {
    const decision = decide(
      cloudHsmInput({
        observed: disconnected,
        clusters: clusters(cluster({ activeHsms: 0, creatingHsms: 1, hsmAvailabilityZones: ['us-east-1a'] })),
      }),
    );
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
  });

  it('escalates instead of updating the cluster id when the desired cluster has no ACTIVE HSM', () => {
    const decision = decide(
      cloudHsmInput({
        observed: disconnected,
        desired: cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER }),
        clusters: clusters(cluster(), cluster({ clusterId: OTHER_CLUSTER, activeHsms: 0, hsmAvailabilityZones: [] })),
      }),
    );
    expect(decision.action.kind).toBe('none');
    expect(types(decision)).toEqual(['Repair Escalated']);
    expect(decision.reason).toContain(OTHER_CLUSTER);
  });

  it('escalates a FAILED store before disconnecting it when its cluster is not ACTIVE', () => {
    const decision = decide(failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM', { clusters: clusters(cluster({ state: 'UPDATE_IN_PROGRESS' })) }));
    expect(decision.action.kind).toBe('none');
    expect(types(decision)).toEqual(['Repair Escalated']);
  });
});

describe('plan: stuck transitions', () => {
  it.each([
    { type: 'AWS_CLOUDHSM' as const, deadline: 25 },
    { type: 'EXTERNAL_KEY_STORE' as const, deadline: 8 },
  ])('escalates a $type store the reconciler connected that is still CONNECTING after $deadline minutes', ({ type, deadline }) => {
    const base =
      type === 'AWS_CLOUDHSM'
        ? cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) })
        : xksInput({ observed: xksObserved({ connectionState: 'DISCONNECTED' }) });
    const connecting = { ...base.observed!, connectionState: 'CONNECTING' as const };
    const [connect, within, past, after] = simulate(base, [
      {},
      { now: NOW + (deadline - 1) * MINUTE, observed: connecting },
      { now: NOW + (deadline + 1) * MINUTE, observed: connecting },
      { now: NOW + (deadline + 30) * MINUTE, observed: connecting },
    ]);
    expect(connect?.action.kind).toBe('connect');
    expect(within?.action.kind).toBe('none');
    expect(within?.events).toEqual([]);
    expect(types(past!)).toEqual(['Repair Escalated']);
    expect(past?.events[0]?.runbook).toBe(SITUATION_RUNBOOKS.stuckConnecting);
    expect(after?.events).toEqual([]);
  });

  it('escalates a store the reconciler disconnected that is still DISCONNECTING after 10 minutes', () => {
    const disconnecting = cloudHsmObserved({ connectionState: 'DISCONNECTING' });
    const [, within, past] = simulate(failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM'), [
      {},
      { now: NOW + 9 * MINUTE, observed: disconnecting },
      { now: NOW + 11 * MINUTE, observed: disconnecting },
    ]);
    expect(within?.action.kind).toBe('none');
    expect(types(past!)).toEqual(['Repair Escalated']);
    expect(past?.events[0]?.runbook).toBe(SITUATION_RUNBOOKS.stuckDisconnecting);
  });

  it.each(['CONNECTING', 'DISCONNECTING'] as const)('waits on a store %s that the reconciler did not start, however long', (state) => {
    const status = { ...decide(cloudHsmInput()).nextStatus, phaseSince: NOW - 600 * MINUTE };
    const decision = decide(cloudHsmInput({ observed: cloudHsmObserved({ connectionState: state }), status }));
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
    expect(decision.reason).toContain('not started by the reconciler');
  });
});

describe('plan: eventual consistency', () => {
  it('waits when, right after a disconnect, KMS still reports the store FAILED', () => {
    const [, stale, later] = simulate(failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM'), [{}, { now: NOW + 20 * SECOND }, { now: NOW + 2 * MINUTE }]);
    expect(stale?.action.kind).toBe('none');
    expect(stale?.reason).toContain('eventually consistent');
    expect(stale?.events).toEqual([]);
    // Past the settle window a still-FAILED store is disconnected again (harmless in FAILED).
    expect(later?.action.kind).toBe('disconnect');
    expect(types(later!)).toEqual(['Repair Step']);
  });

  it('waits when, right after a connect, KMS still reports the store DISCONNECTED', () => {
    const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });
    const [connect, stale] = simulate(cloudHsmInput({ observed: disconnected }), [{}, { now: NOW + 30 * SECOND }]);
    expect(connect?.action.kind).toBe('connect');
    expect(stale?.action.kind).toBe('none');
    expect(stale?.nextStatus.attempt).toBe(1);
  });

  it('waits when, right after an update, KMS still shows the old cluster id', () => {
    const input = cloudHsmInput({
      observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }),
      desired: cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER }),
      clusters: clusters(cluster(), cluster({ clusterId: OTHER_CLUSTER })),
    });
    const [update, stale, later] = simulate(input, [{}, { now: NOW + 10 * SECOND }, { now: NOW + 2 * MINUTE }]);
    expect(update?.action.kind).toBe('update');
    expect(stale?.action.kind).toBe('none');
    expect(stale?.reason).toContain('still shows old cloudHsmClusterId');
    expect(later?.action.kind).toBe('update');
  });
});

describe('plan: CONNECTED stores', () => {
  it('does nothing for a healthy CONNECTED store and keeps its status unchanged', () => {
    const first = decide(cloudHsmInput());
    const second = decide(cloudHsmInput({ status: first.nextStatus, now: NOW + MINUTE }));
    expect(first.action.kind).toBe('none');
    expect(first.events).toEqual([]);
    expect(first.reason).toBe('CONNECTED as desired');
    expect(second.nextStatus).toEqual(first.nextStatus);
  });

  it('reports cluster id drift on a CONNECTED store once and never disconnects it', () => {
    const input = cloudHsmInput({
      desired: cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER }),
      clusters: clusters(cluster(), cluster({ clusterId: OTHER_CLUSTER })),
    });
    const [first, second, third] = simulate(input, [{}, { now: NOW + MINUTE }, { now: NOW + 2 * MINUTE }]);
    expect(first?.action.kind).toBe('none');
    expect(types(first!)).toEqual(['Store Drift Detected']);
    expect(first?.events[0]?.drift).toEqual(['cloudHsmClusterId']);
    expect(first?.reason).toContain('never disconnects a healthy store');
    expect(second?.events).toEqual([]);
    expect(third?.events).toEqual([]);
  });

  it('reports a new, different drift again', () => {
    const other = 'cluster-mnopqrstuvw';
    const world = clusters(cluster(), cluster({ clusterId: OTHER_CLUSTER }), cluster({ clusterId: other }));
    const [first, second] = simulate(cloudHsmInput({ desired: cloudHsmDesired({ cloudHsmClusterId: OTHER_CLUSTER }), clusters: world }), [
      {},
      { now: NOW + MINUTE, desired: cloudHsmDesired({ cloudHsmClusterId: other, generation: 2 }) },
    ]);
    expect(types(first!)).toEqual(['Store Drift Detected']);
    expect(types(second!)).toEqual(['Store Drift Detected']);
  });

  it.each([
    { field: 'xksProxy.uriEndpoint', proxy: { uriEndpoint: 'https://xks2.example.com' } },
    { field: 'xksProxy.uriPath', proxy: { uriPath: '/v2/kms/xks/v1' } },
    {
      field: 'xksProxy.connectivity',
      proxy: { connectivity: 'VPC_ENDPOINT_SERVICE' as const, vpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0' },
    },
  ])('reports $field drift on a CONNECTED XKS store without acting, even once two persons signed it', ({ field, proxy }) => {
    const desired = xksDesired();
    const moved = { ...desired, xksProxy: { ...desired.xksProxy!, ...proxy } };
    const decision = decide(xksInput({ desired: moved, signatures: signaturesOf(moved) }));
    expect(decision.action.kind).toBe('none');
    expect(types(decision)).toEqual(['Store Drift Detected']);
    expect(decision.events[0]?.drift).toContain(field);
  });

  it.each([
    { store: 'a DISCONNECTED CloudHSM key store', input: () => cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) }) },
    { store: 'a CONNECTED external key store', input: () => xksInput({ desired: xksDesired({ id: XKS_ID }) }) },
  ])('renames $store whose declared id now carries another name (states where the KMS model allows it)', ({ input }) => {
    const start = input();
    const desired = { ...start.desired, id: start.observed!.id, name: 'renamed-v2' };
    const decision = decide({ ...start, desired });
    expect(decision.action).toEqual({ kind: 'update', storeId: start.observed!.id, changes: { newName: 'renamed-v2' } });
    expect(types(decision)).toEqual(['Store Drift Detected']);
    expect(decision.events[0]).toMatchObject({ drift: ['name'], action: 'update' });
  });

  it('never disconnects a healthy CONNECTED CloudHSM key store to rename it (KMS renames it only DISCONNECTED): reports the name once', () => {
    const [first, second] = simulate(cloudHsmInput({ desired: cloudHsmDesired({ id: STORE_ID, name: 'payments-hsm-v2' }) }), [
      {},
      { now: NOW + MINUTE },
    ]);
    expect(first?.action.kind).toBe('none');
    expect(first?.events).toEqual([
      expect.objectContaining({
        detailType: 'Store Drift Detected',
        drift: ['name'],
        action: 'none',
        reason: expect.stringContaining('never disconnects a healthy store'),
      }),
    ]);
    expect(second?.action.kind).toBe('none');
    expect(second?.events).toEqual([]);
  });

  it.each(['CONNECTING', 'DISCONNECTING'] as const)('does not rename a CloudHSM key store while %s', (connectionState) => {
    const decision = decide(
      cloudHsmInput({ desired: cloudHsmDesired({ id: STORE_ID, name: 'payments-hsm-v2' }), observed: cloudHsmObserved({ connectionState }) }),
    );
    expect(decision.action.kind).not.toBe('update');
  });

  it.each([
    { type: 'AWS_CLOUDHSM', observed: cloudHsmObserved, desired: cloudHsmDesired },
    { type: 'EXTERNAL_KEY_STORE', observed: xksObserved, desired: xksDesired },
  ] as const)('renames a FAILED $type store only once its repair has disconnected it, then connects it', ({ type, observed, desired }) => {
    const id = observed().id;
    const want = desired({ id, name: 'renamed-v2' });
    const start = type === 'AWS_CLOUDHSM' ? cloudHsmInput({ desired: want }) : xksInput({ desired: want });
    const decisions = simulate({ ...start, observed: observed({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }) }, [
      {},
      { now: NOW + 30 * SECOND, observed: observed({ connectionState: 'DISCONNECTING' }) },
      { now: NOW + 2 * MINUTE, observed: observed({ connectionState: 'DISCONNECTED' }) },
      { now: NOW + 3 * MINUTE, observed: observed({ connectionState: 'DISCONNECTED', name: 'renamed-v2' }) },
    ]);
    expect(decisions.map((d) => d.action)).toEqual([
      { kind: 'disconnect', storeId: id },
      { kind: 'none' },
      { kind: 'update', storeId: id, changes: { newName: 'renamed-v2' } },
      { kind: 'connect', storeId: id },
    ]);
  });

  it('renames a CONNECTED CloudHSM key store desired DISCONNECTED after disconnecting it as declared', () => {
    const decisions = simulate(cloudHsmInput({ desired: cloudHsmDesired({ id: STORE_ID, name: 'payments-hsm-v2', desiredState: 'DISCONNECTED' }) }), [
      {},
      { now: NOW + 2 * MINUTE, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) },
    ]);
    expect(decisions.map((d) => d.action)).toEqual([
      { kind: 'disconnect', storeId: STORE_ID },
      { kind: 'update', storeId: STORE_ID, changes: { newName: 'payments-hsm-v2' } },
    ]);
  });

  it.each([
    { name: 'another type', over: { desired: xksDesired({ name: 'payments-hsm' }) }, drift: ['type'] },
    { name: 'another id', over: { desired: cloudHsmDesired({ id: 'cks-aaaaaaaaaaaaaaaaa' }) }, drift: ['id'] },
  ])('does not act on a store of $name than declared, and reports it once', ({ over, drift }) => {
    const [first, second] = simulate(
      cloudHsmInput({ ...over, observed: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }) }),
      [{}, { now: NOW + MINUTE }],
    );
    expect(first?.action.kind).toBe('none');
    expect(first?.events[0]).toMatchObject({ detailType: 'Store Drift Detected', drift, runbook: SITUATION_RUNBOOKS.identityMismatch });
    expect(second?.events).toEqual([]);
  });

  it('creates an HSM for a CONNECTED store whose cluster has no ACTIVE HSM when allowCreateHsm', () => {
    const empty = cluster({ activeHsms: 0, hsmAvailabilityZones: ['us-east-1a'], availabilityZones: ['us-east-1a', 'us-east-1b'] });
    const [create, creating, healthy] = simulate(cloudHsmInput({ desired: cloudHsmDesired({ allowCreateHsm: true }), clusters: clusters(empty) }), [
      {},
      { now: NOW + 2 * MINUTE, clusters: clusters({ ...empty, creatingHsms: 1, hsmAvailabilityZones: ['us-east-1a', 'us-east-1b'] }) },
      { now: NOW + 8 * MINUTE, clusters: clusters({ ...empty, activeHsms: 1 }) },
    ]);
    expect(create?.action).toEqual({ kind: 'createHsm', clusterId: CLUSTER, availabilityZone: 'us-east-1b' });
    expect(types(create!)).toEqual(['Repair Started']);
    expect(create?.reason).toContain('CONNECTED, but its cluster');
    expect(creating?.action.kind).toBe('none');
    expect(types(healthy!)).toEqual(['Repair Succeeded']);
  });

  it('escalates a CONNECTED store whose cluster has no ACTIVE HSM once, holds, and closes the incident when an HSM is back', () => {
    const empty = clusters(cluster({ activeHsms: 0, hsmAvailabilityZones: [] }));
    const decisions = simulate(cloudHsmInput({ clusters: empty }), [
      {},
      { now: NOW + MINUTE },
      { now: NOW + 30 * MINUTE },
      { now: NOW + 40 * MINUTE, clusters: clusters(cluster()) },
    ]);
    expect(decisions.map(types)).toEqual([['Repair Escalated'], [], [], ['Repair Succeeded']]);
    expect(decisions[0]?.events[0]?.runbook).toBe(SITUATION_RUNBOOKS.connectedWithoutActiveHsm);
    expect(decisions.every((d) => d.action.kind === 'none')).toBe(true);
    expect(decisions[3]?.nextStatus.phase).toBe('IDLE');
  });

  it('escalates a CONNECTED store whose cluster no longer exists', () => {
    const decision = decide(cloudHsmInput({ clusters: new Map() }));
    expect(types(decision)).toEqual(['Repair Escalated']);
    expect(decision.reason).toContain('does not exist');
  });

  it('takes the password version seen while CONNECTED as applied: KMS rotated the password at connect', () => {
    const first = decide(cloudHsmInput());
    const later = decide(cloudHsmInput({ status: first.nextStatus, passwordVersion: 'v2', now: NOW + MINUTE }));
    expect(later.nextStatus.appliedPasswordVersion).toBe('v2');
  });
});

describe('plan: store missing from KMS', () => {
  it('reports a missing store once, never creates it, and reports it again after it came back and left', () => {
    const decisions = simulate(cloudHsmInput({ observed: null }), [
      {},
      { now: NOW + MINUTE },
      { now: NOW + 2 * MINUTE, observed: cloudHsmObserved() },
      { now: NOW + 3 * MINUTE },
    ]);
    expect(decisions.map(types)).toEqual([['Store Missing'], [], [], ['Store Missing']]);
    expect(decisions.every((d) => d.action.kind === 'none')).toBe(true);
    expect(decisions[0]?.nextStatus.observedState).toBe('MISSING');
    expect(decisions[0]?.events[0]?.runbook).toBe(SITUATION_RUNBOOKS.storeMissing);
  });
});

describe('plan: desired DISCONNECTED', () => {
  it.each(['CONNECTED', 'CONNECTING', 'FAILED'] as const)('disconnects a %s store as the operator declared', (state) => {
    const decision = decide(
      cloudHsmInput({
        desired: cloudHsmDesired({ desiredState: 'DISCONNECTED' }),
        observed: cloudHsmObserved({ connectionState: state, connectionErrorCode: state === 'FAILED' ? 'NETWORK_ERRORS' : null }),
      }),
    );
    expect(decision.action).toEqual({ kind: 'disconnect', storeId: STORE_ID });
    expect(decision.events[0]).toMatchObject({ detailType: 'Store Drift Detected', drift: ['connectionState'], action: 'disconnect' });
    expect(decision.nextStatus.phase).toBe('DISCONNECTING');
  });

  it('escalates a disconnect the operator asked for that is stuck DISCONNECTING, once, and closes it when DISCONNECTED', () => {
    const desired = cloudHsmDesired({ desiredState: 'DISCONNECTED' });
    const disconnecting = cloudHsmObserved({ connectionState: 'DISCONNECTING' });
    const decisions = simulate(cloudHsmInput({ desired }), [
      {},
      { now: NOW + 5 * MINUTE, observed: disconnecting },
      { now: NOW + 11 * MINUTE, observed: disconnecting },
      { now: NOW + 30 * MINUTE, observed: disconnecting },
      { now: NOW + 40 * MINUTE, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) },
    ]);
    expect(decisions.map((d) => d.action.kind)).toEqual(['disconnect', 'none', 'none', 'none', 'none']);
    expect(decisions.map(types)).toEqual([['Store Drift Detected'], [], ['Repair Escalated'], [], ['Repair Succeeded']]);
  });

  it('does nothing for a DISCONNECTED store that should be DISCONNECTED', () => {
    const decision = decide(
      cloudHsmInput({ desired: cloudHsmDesired({ desiredState: 'DISCONNECTED' }), observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) }),
    );
    expect(decision.action.kind).toBe('none');
    expect(decision.events).toEqual([]);
    expect(decision.nextStatus.phase).toBe('IDLE');
  });

  it('ends an escalated repair when the operator declares DISCONNECTED, and closes it when DISCONNECTED', () => {
    const desired = cloudHsmDesired({ desiredState: 'DISCONNECTED', generation: 2 });
    const [escalated, disconnect, , done] = simulate(failedInput('USER_LOGGED_IN', 'AWS_CLOUDHSM'), [
      {},
      { now: NOW + MINUTE, desired },
      { now: NOW + 90 * SECOND, desired, observed: cloudHsmObserved({ connectionState: 'DISCONNECTING' }) },
      { now: NOW + 3 * MINUTE, desired, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) },
    ]);
    expect(types(escalated!)).toEqual(['Repair Escalated']);
    expect(disconnect?.action.kind).toBe('disconnect');
    expect(disconnect?.nextStatus.incidentId).toBeNull();
    expect(done?.action.kind).toBe('none');
    expect(done?.nextStatus.phase).toBe('IDLE');
  });
});

describe('plan: modes, kill switch, regional incident, pause', () => {
  const failed = cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });

  it('observe: reports drift once per distinct observation, takes no action and stays IDLE', () => {
    const desired = cloudHsmDesired({ mode: 'observe' });
    const decisions = simulate(cloudHsmInput({ desired, observed: failed }), [
      {},
      { now: NOW + MINUTE },
      { now: NOW + 2 * MINUTE, observed: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'INTERNAL_ERROR' }) },
      { now: NOW + 3 * MINUTE, observed: cloudHsmObserved() },
    ]);
    expect(decisions.map(types)).toEqual([['Store Drift Detected'], [], ['Store Drift Detected'], []]);
    expect(decisions.every((d) => d.action.kind === 'none' && d.dryRun)).toBe(true);
    expect(decisions.map((d) => d.nextStatus.phase)).toEqual(['IDLE', 'IDLE', 'IDLE', 'IDLE']);
    expect(describeLastAction(decisions[0]?.nextStatus.lastAction ?? null)).toBe('would disconnect');
    expect(decisions[0]?.nextStatus.lastReason).toContain('would disconnect');
    expect(decisions[0]?.nextStatus.lastActionAt).toBeNull();
  });

  it('plan: emits the events enforce would emit, as dry run, once per distinct decision', () => {
    const desired = cloudHsmDesired({ mode: 'plan' });
    const input = cloudHsmInput({ desired, observed: failed });
    const decisions = simulate(input, [{}, { now: NOW + MINUTE }, { now: NOW + 2 * MINUTE }]);
    expect(decisions.map(types)).toEqual([['Repair Started'], [], []]);
    expect(decisions.map((d) => d.intended)).toEqual(['disconnect', 'disconnect', 'disconnect']);
    expect(decisions.every((d) => d.action.kind === 'none' && d.dryRun)).toBe(true);
    expect(decisionEvents(decisions[0]!, input)[0]?.detail.dryRun).toBe(true);
    expect(decisions[2]?.nextStatus.phase).toBe('IDLE');
  });

  it('kill switch: no action on any store, reason says so, drift is still reported', () => {
    const decision = decide(
      cloudHsmInput({ observed: failed, settings: { killSwitch: true, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 } }),
    );
    expect(decision.action.kind).toBe('none');
    expect(decision.dryRun).toBe(true);
    expect(decision.intended).toBe('disconnect');
    expect(decision.reason).toMatch(/^kill switch on: would disconnect/);
    expect(types(decision)).toEqual(['Store Drift Detected']);
  });

  it.each([
    ['a repairable failure', () => cloudHsmInput({ observed: failed })],
    ['a human-only failure', () => failedInput('USER_LOCKED_OUT', 'AWS_CLOUDHSM')],
  ])('regional incident: holds a store with %s quietly (the sweep pages)', (_case, input) => {
    const decision = decide({ ...input(), regionalIncident: true });
    expect(decision.action.kind).toBe('none');
    expect(decision.dryRun).toBe(true);
    expect(decision.events).toEqual([]);
    expect(decision.reason).toMatch(/^regional incident/);
    expect(decision.nextStatus.phase).toBe('IDLE');
  });

  it('pause: no action and no events while paused; resume starts afresh', () => {
    const decisions = simulate(cloudHsmInput({ observed: failed, desired: cloudHsmDesired({ paused: true }) }), [
      {},
      { now: NOW + MINUTE },
      { now: NOW + 2 * MINUTE, desired: cloudHsmDesired({ paused: false, generation: 2 }) },
    ]);
    expect(decisions.map((d) => d.action.kind)).toEqual(['none', 'none', 'disconnect']);
    expect(decisions.map((d) => d.nextStatus.phase)).toEqual(['PAUSED', 'PAUSED', 'DISCONNECTING']);
    expect(decisions.map(types)).toEqual([[], [], ['Repair Started']]);
    expect(decisions[0]?.reason).toContain('paused by an operator');
    expect(decisions[1]?.nextStatus.phaseSince).toBe(NOW);
  });

  it('pause ends an open incident, so a later escalation after resume is a new incident', () => {
    const [started, paused] = simulate(cloudHsmInput({ observed: failed }), [
      {},
      { now: NOW + MINUTE, desired: cloudHsmDesired({ paused: true, generation: 2 }) },
    ]);
    expect(started?.nextStatus.incidentId).not.toBeNull();
    expect(paused?.nextStatus).toMatchObject({ phase: 'PAUSED', incidentId: null, attempt: 0 });
    expect(paused?.reason).toContain(`incident ${started?.nextStatus.incidentId} ends`);
  });
});

describe('plan: status bookkeeping', () => {
  it('records observation, action time, generation and store id; moves phaseSince only when the phase changes', () => {
    const input = failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM', { desired: cloudHsmDesired({ generation: 7 }) });
    const [first, second] = simulate(input, [{}, { now: NOW + 5 * MINUTE, observed: cloudHsmObserved({ connectionState: 'DISCONNECTING' }) }]);
    expect(readable(first?.nextStatus)).toMatchObject({
      name: 'payments-hsm',
      storeId: STORE_ID,
      observedState: 'FAILED',
      observedErrorCode: 'NETWORK_ERRORS',
      observedGeneration: 7,
      lastAction: 'disconnect',
      lastActionAt: NOW,
      phaseSince: NOW,
    });
    expect(first?.nextStatus.lastReason).toBe(first?.reason);
    expect(readable(second?.nextStatus)).toMatchObject({
      lastAction: 'none',
      lastActionAt: NOW,
      phaseSince: NOW,
      observedState: 'DISCONNECTING',
      observedErrorCode: null,
    });
  });

  it('never writes undefined values into the status (the table rejects them)', () => {
    const decisions = [
      decide(failedInput('INSUFFICIENT_CLOUDHSM_HSMS', 'AWS_CLOUDHSM', { clusters: clusters(cluster({ activeHsms: 0 })) })),
      decide(failedInput('USER_LOGGED_IN', 'AWS_CLOUDHSM')),
      decide(cloudHsmInput()),
    ];
    for (const decision of decisions)
      expect(JSON.stringify(decision.nextStatus)).toBe(JSON.stringify(decision.nextStatus, (_k, v: unknown) => v ?? null));
  });
});

describe('plan: determinism', () => {
  const inputs: PlanInput[] = [
    cloudHsmInput(),
    failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM'),
    failedInput('USER_LOCKED_OUT', 'AWS_CLOUDHSM'),
    failedInput('XKS_PROXY_TIMED_OUT', 'EXTERNAL_KEY_STORE'),
    cloudHsmInput({ observed: null }),
    cloudHsmInput({ desired: cloudHsmDesired({ mode: 'plan' }), observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) }),
  ];

  it.each(inputs.map((input, i) => ({ i, input })))('gives the same decision for the same input (#$i)', ({ input }) => {
    expect(plan(input)).toEqual(plan(structuredClone({ ...input, clusters: new Map(input.clusters) })));
  });

  it('derives different incident ids for different stores or times', () => {
    const a = plan(failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM')).nextStatus.incidentId;
    const b = plan(failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM', { now: NOW + 1 })).nextStatus.incidentId;
    const c = plan(failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM', { desired: cloudHsmDesired({ name: 'other' }) })).nextStatus.incidentId;
    expect(new Set([a, b, c]).size).toBe(3);
  });
});

describe('backoffMs', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 10, 20])('is deterministic and between half and all of the exponential delay for attempt %i', (attempt) => {
    const full = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    const delay = backoffMs(attempt, 'payments-hsm');
    expect(delay).toBe(backoffMs(attempt, 'payments-hsm'));
    expect(delay).toBeGreaterThanOrEqual(full / 2);
    expect(delay).toBeLessThanOrEqual(full);
  });

  it('never exceeds one hour', () => {
    expect(backoffMs(1000, 'x')).toBeLessThanOrEqual(60 * MINUTE);
  });

  it('spreads stores that fail together', () => {
    const delays = new Set(['a', 'b', 'c', 'd', 'e'].map((name) => backoffMs(2, name)));
    expect(delays.size).toBeGreaterThan(1);
  });
});

describe('planActionFailure', () => {
  const disconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });

  it('counts a connect that failed synchronously as an attempt, backs off and emits Repair Failed', () => {
    const input = cloudHsmInput({ observed: disconnected });
    const decision = plan(input);
    const failure = planActionFailure(input, decision, 'CloudHsmClusterInvalidConfigurationException', NOW + SECOND);
    expectValidEvents(decisionEvents(failure, input));
    expect(failure.action.kind).toBe('none');
    expect(failure.intended).toBe('connect');
    expect(types(failure)).toEqual(['Repair Started', 'Repair Failed']);
    expect(failure.reason).toContain('CloudHsmClusterInvalidConfigurationException');
    expect(readable(failure.nextStatus)).toMatchObject({ phase: 'IDLE', attempt: 1, lastAction: 'connect failed', lastActionAt: NOW + SECOND });
    expect(failure.nextStatus.nextAttemptAt).toBeGreaterThan(NOW + SECOND);
    const waiting = decide({ ...input, status: failure.nextStatus, now: NOW + 30 * SECOND });
    expect(waiting.action.kind).toBe('none');
    expect(waiting.reason).toContain('backing off');
  });

  it('escalates at maxAttempts with the runbook for the exception', () => {
    const input = cloudHsmInput({ observed: disconnected, desired: cloudHsmDesired({ maxAttempts: 1 }) });
    const failure = planActionFailure(input, plan(input), 'CloudHsmClusterNotActiveException', NOW);
    expectValidEvents(decisionEvents(failure, input));
    expect(types(failure)).toEqual(['Repair Started', 'Repair Failed', 'Repair Escalated']);
    expect(failure.events[2]?.runbook).toBe(SITUATION_RUNBOOKS.clusterNotActive);
    expect(failure.nextStatus.phase).toBe('ESCALATED');
    expect(failure.events[1]?.nextAttemptAt).toBeUndefined();
  });

  it('counts nothing when the call was rejected because our view was stale', () => {
    const input = failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM');
    const failure = planActionFailure(input, plan(input), 'CustomKeyStoreInvalidStateException', NOW);
    expect(failure.events).toEqual([]);
    expect(readable(failure.nextStatus)).toMatchObject({
      phase: 'IDLE',
      attempt: 0,
      incidentId: null,
      nextAttemptAt: null,
      lastAction: 'disconnect failed',
    });
    expect(failure.reason).toContain('CustomKeyStoreInvalidStateException');
  });

  it('counts nothing when the call was not sent, its turn coming too late to end within the lease', () => {
    const input = failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM');
    const failure = planActionFailure(input, plan(input), NOT_SENT, NOW);
    expect(failure.events).toEqual([]);
    expect(readable(failure.nextStatus)).toMatchObject({ phase: 'IDLE', attempt: 0, incidentId: null, lastAction: 'disconnect failed' });
    expect(failure.reason).toBe(
      'disconnect was not sent: its turn came too late to end within the lease; nothing counted, the next run decides again',
    );
  });

  it('counts a throttled update as an attempt of the incident and records nothing as applied', () => {
    const input = cloudHsmInput({
      observed: disconnected,
      desired: cloudHsmDesired({ onManualDisconnect: 'reconnect' }),
      passwordVersion: 'v2',
      status: { ...plan(cloudHsmInput()).nextStatus, onManualDisconnectInForce: 'reconnect' },
      now: NOW + MINUTE,
    });
    const decision = plan(input);
    expect(decision.action.kind).toBe('update');
    const failure = planActionFailure(input, decision, 'ThrottlingException', NOW);
    expect(failure.nextStatus.appliedPasswordVersion).toBe('v1');
    expect(failure.nextStatus.attempt).toBe(1);
    expect(types(failure)).toEqual(['Repair Started', 'Repair Failed']);
  });

  it('keeps an open incident: no second Repair Started', () => {
    const [first, second] = simulate(failedInput('NETWORK_ERRORS', 'AWS_CLOUDHSM'), [{}, { now: NOW + 2 * MINUTE, observed: disconnected }]);
    const input = cloudHsmInput({ observed: disconnected, status: first!.nextStatus, now: NOW + 2 * MINUTE });
    const failure = planActionFailure(input, second!, 'KMSInternalException', NOW + 2 * MINUTE);
    expect(types(failure)).toEqual(['Repair Failed']);
    expect(failure.nextStatus.incidentId).toBe(first?.nextStatus.incidentId);
  });
});

describe('plan: reasons and events', () => {
  it('never puts a secret ARN version or password into an event reason beyond its version id', () => {
    const [, , update] = simulate(failedInput('INVALID_CREDENTIALS', 'AWS_CLOUDHSM'), [
      {},
      { passwordVersion: 'v2', now: NOW + MINUTE },
      { passwordVersion: 'v2', now: NOW + 3 * MINUTE, observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }) },
    ]);
    expect(update?.reason).toBe('DISCONNECTED but desired CONNECTED: updating keyStorePassword (secret version v2) before connecting');
  });

  it('names the cluster id in pre-flight reasons', () => {
    const decision = decide(cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'DISCONNECTED' }), clusters: new Map() }));
    expect(decision.reason).toContain(CLUSTER);
  });
});
