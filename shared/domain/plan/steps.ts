/**
 * The building blocks of a decision: a `Step` is one run's action, reason, events and the status it
 * leads to, before the bookkeeping every decision shares (see `finish`).
 */
import type { Action, EventDraft, Phase, PlanInput, StoreStatus } from '../types.js';
import { incidentIdFor } from './hash.js';
import { type Awaiting, closed, heldInputsOf } from './status.js';
import { iso } from './timing.js';

export interface Step {
  action: Action;
  reason: string;
  events: EventDraft[];
  status: StoreStatus;
  /** Fingerprint of the report-only event of this step (drift, missing, dry run), or null. */
  reportKey: string | null;
  /** The observation is older than our own last call: the status keeps the one it holds (see `observedStatus`). */
  staleView?: true;
}

export type MutatingAction = Exclude<Action, { kind: 'none' }>;

export const NONE: Action = { kind: 'none' };

export function wait(status: StoreStatus, reason: string): Step {
  return { action: NONE, reason, events: [], status, reportKey: null };
}

/** Adds a report-only event, sent only when its fingerprint differs from the last one reported. */
export function withReport(step: Step, stored: StoreStatus, key: string, draft: EventDraft): Step {
  return { ...step, events: stored.lastReportKey === key ? step.events : [...step.events, draft], reportKey: key };
}

/** A mutating step of a repair: opens an incident (`Repair Started`) or continues it (`Repair Step`). */
export function repairStep(
  input: PlanInput,
  cur: StoreStatus,
  action: MutatingAction,
  phase: Phase,
  reason: string,
  patch: Partial<StoreStatus> = {},
): Step {
  const incidentId = cur.incidentId ?? incidentIdFor(input, input.now);
  const status: StoreStatus = { ...cur, ...patch, phase, incidentId };
  const event: EventDraft = {
    detailType: cur.incidentId === null ? 'Repair Started' : 'Repair Step',
    reason,
    action: action.kind,
    attempt: status.attempt,
    maxAttempts: input.desired.maxAttempts,
    incidentId,
  };
  return { action, reason, events: [event], status, reportKey: null };
}

/**
 * Hands the store to a human: phase ESCALATED and exactly one `Repair Escalated` for the incident
 * (the escalation-hold guard keeps an ESCALATED store from escalating again; a released hold opens a new incident).
 */
export function escalate(
  input: PlanInput,
  cur: StoreStatus,
  reason: string,
  runbook: string,
  options: { before?: EventDraft[]; awaiting?: Awaiting } = {},
): Step {
  const incidentId = cur.incidentId ?? incidentIdFor(input, input.now);
  const status: StoreStatus = {
    ...cur,
    phase: 'ESCALATED',
    incidentId,
    nextAttemptAt: null,
    heldInputs: heldInputsOf(input, options.awaiting ?? {}),
    escalatedIncidentId: incidentId,
  };
  const event: EventDraft = {
    detailType: 'Repair Escalated',
    reason,
    runbook,
    attempt: cur.attempt,
    maxAttempts: input.desired.maxAttempts,
    incidentId,
  };
  return { action: NONE, reason, events: [...(options.before ?? []), event], status, reportKey: null };
}

/**
 * The store reached its desired state: close the incident with `Repair Succeeded`, which also names
 * the escalated incident it resolves (this one, or an earlier one whose hold was released).
 */
export function succeed(input: PlanInput, cur: StoreStatus, reason: string): Step {
  const incidentId = cur.incidentId ?? cur.escalatedIncidentId;
  const event: EventDraft = {
    detailType: 'Repair Succeeded',
    reason,
    attempt: cur.attempt,
    maxAttempts: input.desired.maxAttempts,
    ...(incidentId !== null ? { incidentId } : {}),
    ...(cur.escalatedIncidentId !== null ? { resolvesEscalation: cur.escalatedIncidentId } : {}),
  };
  return { action: NONE, reason, events: [event], status: { ...closed(cur), escalatedIncidentId: null }, reportKey: null };
}

/** `Repair Failed`: one attempt of the incident failed; `nextAttemptAt` null when none is left. */
export function repairFailed(
  input: PlanInput,
  cur: StoreStatus,
  action: MutatingAction['kind'],
  reason: string,
  nextAttemptAt: number | null,
): EventDraft {
  return {
    detailType: 'Repair Failed',
    reason,
    action,
    attempt: cur.attempt,
    maxAttempts: input.desired.maxAttempts,
    ...(cur.incidentId !== null ? { incidentId: cur.incidentId } : {}),
    ...(nextAttemptAt !== null ? { nextAttemptAt: iso(nextAttemptAt) } : {}),
  };
}
