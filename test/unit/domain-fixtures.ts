/** Builders for the pure-domain unit tests (plan, events): small valid defaults, overridden per test. */
import { expect } from 'vitest';
import { decisionEvents, eventSchemas, type ReconcilerEvent } from '../../shared/domain/events.js';
import { plan } from '../../shared/domain/plan.js';
import {
  type ClusterView,
  DEFAULT_SETTINGS,
  type Decision,
  type DesiredStore,
  describeLastAction,
  type ObservedStore,
  type PlanInput,
  type StoreStatus,
} from '../../shared/domain/types.js';

export const NOW = Date.parse('2025-03-01T03:00:00.000Z');
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const SCOPE = { accountId: '111122223333', region: 'us-east-1' };
export const STORE_ID = 'cks-1234567890abcdef0';
export const CLUSTER = 'cluster-abcdefghijk';
export const OTHER_CLUSTER = 'cluster-zyxwvutsrqp';
export const PASSWORD_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser';
export const CREDENTIAL_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:partner-xks';

export function cloudHsmDesired(over: Partial<DesiredStore> = {}): DesiredStore {
  return {
    name: 'payments-hsm',
    type: 'AWS_CLOUDHSM',
    desiredState: 'CONNECTED',
    cloudHsmClusterId: CLUSTER,
    keyStorePasswordSecretArn: PASSWORD_ARN,
    mode: 'enforce',
    maxAttempts: 3,
    allowCreateHsm: false,
    onManualDisconnect: 'hold',
    loginBudget: 2,
    paused: false,
    generation: 1,
    retryRequestedAt: null,
    changedBy: null,
    ...over,
  };
}

export function xksDesired(over: Partial<DesiredStore> = {}): DesiredStore {
  return {
    name: 'partner-xks',
    type: 'EXTERNAL_KEY_STORE',
    desiredState: 'CONNECTED',
    xksProxy: {
      uriEndpoint: 'https://xks.example.com',
      uriPath: '/kms/xks/v1',
      connectivity: 'PUBLIC_ENDPOINT',
      credentialSecretArn: CREDENTIAL_ARN,
    },
    mode: 'enforce',
    maxAttempts: 3,
    allowCreateHsm: false,
    onManualDisconnect: 'hold',
    loginBudget: 2,
    paused: false,
    generation: 1,
    retryRequestedAt: null,
    changedBy: null,
    ...over,
  };
}

export function cloudHsmObserved(over: Partial<ObservedStore> = {}): ObservedStore {
  return {
    id: STORE_ID,
    name: 'payments-hsm',
    type: 'AWS_CLOUDHSM',
    connectionState: 'CONNECTED',
    connectionErrorCode: null,
    cloudHsmClusterId: CLUSTER,
    ...over,
  };
}

export function xksObserved(over: Partial<ObservedStore> = {}): ObservedStore {
  return {
    id: 'cks-0fedcba0987654321',
    name: 'partner-xks',
    type: 'EXTERNAL_KEY_STORE',
    connectionState: 'CONNECTED',
    connectionErrorCode: null,
    xksProxy: {
      uriEndpoint: 'https://xks.example.com',
      uriPath: '/kms/xks/v1',
      connectivity: 'PUBLIC_ENDPOINT',
    },
    ...over,
  };
}

/** An ACTIVE cluster with two ACTIVE HSMs in two of three Availability Zones. */
export function cluster(over: Partial<ClusterView> = {}): ClusterView {
  return {
    clusterId: CLUSTER,
    state: 'ACTIVE',
    activeHsms: 2,
    creatingHsms: 0,
    availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
    hsmAvailabilityZones: ['us-east-1a', 'us-east-1b'],
    ...over,
  };
}

export function clusters(...views: ClusterView[]): ReadonlyMap<string, ClusterView> {
  return new Map(views.map((v) => [v.clusterId, v]));
}

/** A CloudHSM store, first seen (no status), CONNECTED, cluster healthy, password secret at v1. */
export function cloudHsmInput(over: Partial<PlanInput> = {}): PlanInput {
  return {
    scope: SCOPE,
    desired: cloudHsmDesired(),
    observed: cloudHsmObserved(),
    clusters: clusters(cluster()),
    passwordVersion: 'v1',
    xksCredentialVersion: null,
    status: null,
    settings: DEFAULT_SETTINGS,
    regionalIncident: false,
    unreadable: [],
    missingSecrets: [],
    approval: null,
    manualChange: null,
    now: NOW,
    ...over,
  };
}

/** An external key store, first seen, CONNECTED, credential secret at c1. */
export function xksInput(over: Partial<PlanInput> = {}): PlanInput {
  return {
    scope: SCOPE,
    desired: xksDesired(),
    observed: xksObserved(),
    clusters: new Map(),
    passwordVersion: null,
    xksCredentialVersion: 'c1',
    status: null,
    settings: DEFAULT_SETTINGS,
    regionalIncident: false,
    unreadable: [],
    missingSecrets: [],
    approval: null,
    manualChange: null,
    now: NOW,
    ...over,
  };
}

/** Asserts that every event passes its own schema. */
export function expectValidEvents(events: readonly ReconcilerEvent[]): void {
  for (const event of events) {
    const result = eventSchemas[event.detailType].safeParse(event.detail);
    expect(result.success, `${event.detailType}: ${result.success ? '' : JSON.stringify(result.error.issues)}`).toBe(true);
  }
}

/** `plan`, asserting that every event it asks for validates. */
export function decide(input: PlanInput): Decision {
  const decision = plan(input);
  expectValidEvents(decisionEvents(decision, input));
  return decision;
}

/** A status with its last action in words (`would disconnect`), as people read it. */
export function readable(status: StoreStatus | undefined): Record<string, unknown> {
  return { ...status, lastAction: describeLastAction(status?.lastAction ?? null) };
}

/** Detail-types of a decision's events, in order. */
export function types(decision: Decision): string[] {
  return decision.events.map((e) => e.detailType);
}

/**
 * Runs plan once per entry of `runs` (each the input changes of that run), feeding each decision's
 * status back in as the core does after a successful call.
 */
export function simulate(start: PlanInput, runs: ReadonlyArray<Partial<PlanInput>>): Decision[] {
  const decisions: Decision[] = [];
  let status = start.status;
  for (const change of runs) {
    const input: PlanInput = { ...start, ...change, status };
    const decision = decide(input);
    decisions.push(decision);
    status = decision.nextStatus;
  }
  return decisions;
}
