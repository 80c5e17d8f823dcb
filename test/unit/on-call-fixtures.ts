/**
 * One example of each event the on-call rules match, as EventBridge hands it to a rule target (the
 * envelope around the detail). The detail-types the reconciler publishes today are captured from the
 * real code: `plan` and `decisionEvents` for a store whose kmsuser is locked out (escalated at once)
 * and then heals in the same incident, `sweepSummaryEvent` for the sweep that finds a regional
 * incident, `scopeUnreachableEvent` for a member account whose role refuses the reconciler,
 * `settingsApprovalRequiredEvent` for a raised blast-radius limit that waits for a second person,
 * `storeAtRiskEvent` and `storeRiskClearedEvent` for an external key store whose proxy certificate has
 * five days left (judged by `judgeFindings`) and is renewed a day later.
 * `Manual Change Detected` and `Approval Required` are written by hand to the shapes agreed for them,
 * until the code that publishes them exists: see WRITTEN_BY_HAND.
 */
import { EVENT_SOURCE } from '../../shared/adapters/eventbridge.js';
import {
  decisionEvents,
  type ReconcilerEvent,
  scopeUnreachableEvent,
  settingsApprovalRequiredEvent,
  storeAtRiskEvent,
  storeRiskClearedEvent,
  sweepSummaryEvent,
} from '../../shared/domain/events.js';
import { DEFAULT_HEALTH_THRESHOLDS, diffFindings, judgeFindings } from '../../shared/domain/health.js';
import { plan } from '../../shared/domain/plan.js';
import type { PlanInput } from '../../shared/domain/types.js';
import { cloudHsmObserved, SCOPE, xksDesired, xksObserved } from '../helpers/world.js';
import { cloudHsmInput, MINUTE, NOW } from './domain-fixtures.js';

/** An event as a rule target receives it. */
export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

function onBus(id: string, detailType: string, detail: Record<string, unknown>, time: number): BusEvent {
  return {
    version: '0',
    id,
    'detail-type': detailType,
    source: EVENT_SOURCE,
    account: String(detail.accountId),
    time: new Date(time).toISOString(),
    region: String(detail.region),
    resources: [],
    detail,
  };
}

/** The events a plan decision publishes for `input`, of one detail-type. */
function published(input: PlanInput, detailType: ReconcilerEvent['detailType']): Record<string, unknown> {
  const event = decisionEvents(plan(input), input).find((e) => e.detailType === detailType);
  if (!event) throw new Error(`the plan published no ${detailType}`);
  return event.detail;
}

const lockedOut = cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'USER_LOCKED_OUT' }) });
/** The same store ten minutes later, CONNECTED again (a crypto officer unlocked kmsuser) in the escalated incident. */
const healed = cloudHsmInput({ status: plan(lockedOut).nextStatus, now: NOW + 10 * MINUTE });

/** An external key store whose proxy's TLS certificate expires in 5 days: its finding opened, and cleared a day later. */
const expiring = (() => {
  const ctx = { scope: SCOPE, desired: xksDesired(), observed: xksObserved() };
  const xks = { certificateDaysToExpire: 5, credentialAgeDays: 10, keyManagerNotActive: 0, proxyErrors: 0, proxyLatencyMs: 40 };
  const [change] = diffFindings([], judgeFindings({ observed: ctx.observed, cluster: undefined, xks, thresholds: DEFAULT_HEALTH_THRESHOLDS })).opened;
  if (!change) throw new Error('a certificate 5 days from expiry opened no finding');
  const opened = storeAtRiskEvent(ctx, change, NOW);
  return { atRisk: opened.event.detail, cleared: storeRiskClearedEvent(ctx, opened.finding).detail };
})();

/** The detail-types written by hand. */
export const WRITTEN_BY_HAND = ['Manual Change Detected', 'Approval Required'] as const;

const ALICE = 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice';

export const ON_CALL_EVENTS = {
  repairEscalated: onBus('4a3b7c0e-1d2f-4e5a-8b6c-7d8e9f0a1b2c', 'Repair Escalated', published(lockedOut, 'Repair Escalated'), NOW),
  repairSucceeded: onBus('5b4c8d1f-2e3a-4f6b-9c7d-8e9f0a1b2c3d', 'Repair Succeeded', published(healed, 'Repair Succeeded'), NOW + 10 * MINUTE),
  regionalIncident: onBus(
    '6c5d9e2a-3f4b-4a7c-8d8e-9f0a1b2c3d4e',
    'Sweep Summary',
    sweepSummaryEvent({
      scope: SCOPE,
      reconcileId: '7d9abd49-eb1a-4b53-8de8-4ab41bddb045',
      trigger: 'schedule',
      byState: { CONNECTED: 2, CONNECTING: 0, FAILED: 5, DISCONNECTED: 0, DISCONNECTING: 0, MISSING: 0 },
      managed: 7,
      unmanaged: 0,
      invalid: 0,
      actions: 0,
      escalations: 0,
      regionalIncident: true,
      regionalIncidentSince: NOW,
      regionalIncidentStarted: true,
      killSwitch: false,
    }).detail,
    NOW,
  ),
  // Written by hand (WRITTEN_BY_HAND): the store fields, then runbook, changedBy, changedAt, eventId.
  manualChange: onBus(
    '7d6e0f3b-4a5c-4b8d-9e9f-0a1b2c3d4e5f',
    'Manual Change Detected',
    {
      schemaVersion: 1,
      storeName: 'payments-hsm',
      storeId: 'cks-1234567890abcdef0',
      accountId: SCOPE.accountId,
      region: SCOPE.region,
      incidentId: null,
      connectionState: 'DISCONNECTED',
      connectionErrorCode: null,
      mode: 'enforce',
      dryRun: false,
      reason:
        'DisconnectCustomKeyStore by someone other than the reconciler: held, the reconciler does not act on the store until `cks resume payments-hsm`',
      runbook:
        'Someone changed this store outside the reconciler. If the change was meant, make the stores file say the same and `cks apply`; then run `cks resume <store>` and the reconciler brings the store to its desired state.',
      changedBy: ALICE,
      changedAt: '2025-03-01T02:58:12Z',
      eventId: 'evt-payments-hsm-manual-2025-03-01T02:58:12Z',
    },
    NOW,
  ),
  // Written by hand (WRITTEN_BY_HAND): the store fields, then runbook, generation, digest, proposedBy, changes, drift, command, eventId.
  approvalRequired: onBus(
    '8e7f1a4c-5b6d-4c9e-8f0a-1b2c3d4e5f6a',
    'Approval Required',
    {
      schemaVersion: 1,
      storeName: 'partner-xks',
      storeId: 'cks-0fedcba0987654321',
      accountId: SCOPE.accountId,
      region: SCOPE.region,
      incidentId: null,
      connectionState: 'CONNECTED',
      connectionErrorCode: null,
      mode: 'enforce',
      dryRun: false,
      reason:
        'generation 7 changes xksProxy.uriEndpoint https://xks.example.com → https://xks-b.example.com: not applied until two persons sign it; signed so far by principal/AIDAEXAMPLEALICE; a second person reviews it with `cks status partner-xks` and runs `cks approve partner-xks`',
      runbook:
        "A change to where the store's keys live waits for a second person. Check the change with `cks status <store>`; if it is right, someone other than the person who made it runs `cks approve <store>`, otherwise revert the stores file and `cks apply`.",
      generation: 7,
      digest: '5e8f0c2a9b7d4e6f1a3c5b7d9e0f2a4c6b8d0e2f4a6c8b0d2e4f6a8c0b2d4e6f',
      proposedBy: ['principal/AIDAEXAMPLEALICE'],
      changes: [{ field: 'xksProxy.uriEndpoint', from: 'https://xks.example.com', to: 'https://xks-b.example.com' }],
      drift: ['xksProxy.uriEndpoint'],
      command: 'cks approve partner-xks --scope 111122223333/us-east-1',
      eventId: 'evt-partner-xks-approval-7',
    },
    NOW,
  ),
  settingsApprovalRequired: onBus(
    'a0b1c2d3-7e8f-4a9b-8c0d-1e2f3a4b5c6d',
    'Approval Required',
    settingsApprovalRequiredEvent({
      scope: SCOPE,
      generation: 12,
      digest: '3f1c9a7e5b2d8c4f6a0e1b3d5c7f9a2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a',
      proposedBy: ['source/alice'],
      changes: [{ field: 'blastRadiusMaxFailedShare', from: 0.5, to: 1 }],
    }).detail,
    NOW,
  ),
  storeAtRisk: onBus('7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d', 'Store At Risk', expiring.atRisk, NOW),
  riskCleared: onBus('8b7c6d5e-4f3a-4b2c-9d0e-1f2a3b4c5d6e', 'Store Risk Cleared', expiring.cleared, NOW + 24 * 60 * MINUTE),
  scopeUnreachable: onBus(
    '9f8a2b5d-6c7e-4d0f-9a1b-2c3d4e5f6a7b',
    'Scope Unreachable',
    scopeUnreachableEvent({
      scope: { accountId: '444455556666', region: 'eu-west-1' },
      incidentId: 'scope-5c0e7a1d-9b3f-4246-8a1b-2c3d4e5f6a7b',
      errorCode: 'AccessDenied',
      operation: 'STS.AssumeRole',
      since: NOW,
    }).detail,
    NOW,
  ),
} satisfies Record<string, BusEvent>;
