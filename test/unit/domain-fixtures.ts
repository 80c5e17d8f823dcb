/** Plan inputs and assertions for the pure-domain unit tests (plan, events); the stores and clusters in them come from `../helpers/world.ts`. */
import { expect } from 'vitest';
import { decisionEvents, eventSchemas, type ReconcilerEvent } from '../../shared/domain/events.js';
import { plan, planCallReturned } from '../../shared/domain/plan.js';
import { type Signature, storeChange } from '../../shared/domain/signatures.js';
import { operatorPartitionKey, storeSubject } from '../../shared/domain/table-keys.js';
import {
  DEFAULT_SETTINGS,
  type Decision,
  type DesiredStore,
  describeLastAction,
  type PlanInput,
  type StoreStatus,
} from '../../shared/domain/types.js';
import { cloudHsmDesired, cloudHsmObserved, cluster, clusters, SCOPE, xksDesired, xksObserved } from '../helpers/world.js';

export const NOW = Date.parse('2025-03-01T03:00:00.000Z');
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
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
    signatures: [],
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
    signatures: [],
    manualChange: null,
    now: NOW,
    ...over,
  };
}

/** Two persons: an operator's IAM user, and a human's session with a source identity. */
export const TWO_PERSONS = ['principal/AIDAOPERATORALICE', 'source/bob'] as const;

/** Signatures of exactly this desired generation's change, by `signers` (default: two persons). */
export function signaturesOf(desired: DesiredStore, signers: readonly string[] = TWO_PERSONS): Signature[] {
  const change = storeChange(storeSubject(desired.name), desired);
  return signers.map((signer) => ({ signer, scopePk: operatorPartitionKey(SCOPE), ...change, signedAt: NOW }));
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
 * status back in as the core does after a successful call (`planCallReturned` when it made one).
 */
export function simulate(start: PlanInput, runs: ReadonlyArray<Partial<PlanInput>>): Decision[] {
  const decisions: Decision[] = [];
  let status = start.status;
  for (const change of runs) {
    const input: PlanInput = { ...start, ...change, status };
    const decision = decide(input);
    decisions.push(decision);
    status = (decision.action.kind === 'none' ? decision : planCallReturned(decision)).nextStatus;
  }
  return decisions;
}
