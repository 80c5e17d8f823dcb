/** Report-only decisions: mode observe or plan, the kill switch, a regional incident. */
import { SITUATION_RUNBOOKS } from '../playbooks.js';
import type { EventDraft, PlanInput, StoreStatus } from '../types.js';
import { observedDrift } from './compare.js';
import { fingerprint } from './hash.js';
import { NONE, type Step, wait } from './steps.js';

/** Why a store must not be acted on, and what is reported instead. */
export interface Restraint {
  why: string;
  /** plan mode reports what enforce would emit; observe and the kill switch report drift; a regional incident stays quiet (the Sweep Summary pages). */
  reporting: 'proposal' | 'drift' | 'none';
}

export function restraintOf(input: PlanInput): Restraint | null {
  if (input.regionalIncident) return { why: 'regional incident: too many stores FAILED at once, not repairing (the sweep pages)', reporting: 'none' };
  if (input.settings.killSwitch) return { why: 'kill switch on', reporting: 'drift' };
  const mode = input.desired.mode;
  switch (mode) {
    case 'enforce':
      return null;
    case 'plan':
      return { why: 'mode plan (dry run)', reporting: 'proposal' };
    case 'observe':
      return { why: 'mode observe (report only)', reporting: 'drift' };
    default: {
      const _exhaustive: never = mode;
      throw new Error(`unknown mode ${String(_exhaustive)}`);
    }
  }
}

/** The proposal reported, not taken: phases, incidents and attempts stay where they are (and a stale view unrecorded). */
export function reportOnly(input: PlanInput, cur: StoreStatus, proposal: Step, restraint: Restraint): Step {
  const kind = proposal.action.kind;
  const reason = `${restraint.why}: ${kind === 'none' ? 'no action' : `would ${kind}`}: ${proposal.reason}`;
  const events = reportEvents(input, proposal, restraint, reason);
  const stale = proposal.staleView === true ? { staleView: true as const } : {};
  if (events.length === 0) return { ...wait(cur, reason), ...stale };
  const key = `${restraint.reporting}:${fingerprint([
    kind,
    events.map((e) => [e.detailType, e.drift ?? null]),
    input.observed?.connectionState ?? null,
    input.observed?.connectionErrorCode ?? null,
    observedDrift(input, input.observed),
  ])}`;
  return { action: NONE, reason, events: cur.lastReportKey === key ? [] : events, status: cur, reportKey: key, ...stale };
}

function reportEvents(input: PlanInput, proposal: Step, restraint: Restraint, reason: string): EventDraft[] {
  const { observed } = input;
  switch (restraint.reporting) {
    case 'none':
      return [];
    case 'proposal':
      return proposal.events.map((event) => ({ ...event, reason: `${restraint.why}: ${event.reason}` }));
    case 'drift': {
      if (observed === null) return [{ detailType: 'Store Missing', reason, runbook: SITUATION_RUNBOOKS.storeMissing }];
      const drift = observedDrift(input, observed);
      return drift.length > 0 ? [{ detailType: 'Store Drift Detected', reason, drift, action: 'none' }] : [];
    }
    default: {
      const _exhaustive: never = restraint.reporting;
      throw new Error(`unknown reporting ${String(_exhaustive)}`);
    }
  }
}
