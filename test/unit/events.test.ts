import { describe, expect, it } from 'vitest';
import { eventSchemas, invalidDesiredEvent, type SweepSummaryInput, storeEvent, sweepSummaryEvent } from '../../shared/domain/events.js';
import { SITUATION_RUNBOOKS } from '../../shared/domain/playbooks.js';
import { EVENT_DETAIL_TYPES, type EventDraft } from '../../shared/domain/types.js';
import { cloudHsmDesired, cloudHsmObserved, SCOPE, STORE_ID } from '../helpers/world.js';
import { expectValidEvents } from './domain-fixtures.js';

const ctx = {
  scope: SCOPE,
  desired: cloudHsmDesired(),
  observed: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }),
  incidentId: 'inc-0123456789abcdef',
  dryRun: false,
  decidedAt: Date.parse('2025-03-01T03:00:00.000Z'),
  index: 0,
};

const drafts: EventDraft[] = [
  { detailType: 'Store Drift Detected', reason: 'cloudHsmClusterId differs', drift: ['cloudHsmClusterId'], action: 'none' },
  { detailType: 'Repair Started', reason: 'disconnecting', action: 'disconnect', attempt: 0, maxAttempts: 3 },
  { detailType: 'Repair Step', reason: 'connecting', action: 'connect', attempt: 1, maxAttempts: 3 },
  { detailType: 'Repair Succeeded', reason: 'CONNECTED', attempt: 1, maxAttempts: 3, incidentId: 'inc-closed' },
  {
    detailType: 'Repair Failed',
    reason: 'attempt 1 failed',
    action: 'connect',
    attempt: 1,
    maxAttempts: 3,
    nextAttemptAt: '2025-03-01T03:04:00.000Z',
  },
  { detailType: 'Repair Escalated', reason: 'needs a human', runbook: 'Do the thing.', attempt: 3, maxAttempts: 3 },
  { detailType: 'Store Missing', reason: 'not in KMS', runbook: SITUATION_RUNBOOKS.storeMissing },
];

const summary: SweepSummaryInput = {
  scope: SCOPE,
  reconcileId: 'r-1',
  trigger: 'schedule',
  byState: { CONNECTED: 3, CONNECTING: 0, FAILED: 1, DISCONNECTED: 0, DISCONNECTING: 0, MISSING: 1 },
  managed: 5,
  unmanaged: 2,
  invalid: 1,
  actions: 1,
  escalations: 0,
  regionalIncident: false,
  regionalIncidentSince: null,
  regionalIncidentStarted: false,
  killSwitch: false,
};

describe('event schemas', () => {
  it('has a schema for every detail-type of the on-call contract', () => {
    expect(Object.keys(eventSchemas).sort()).toEqual([...EVENT_DETAIL_TYPES].sort());
  });

  it.each(drafts.map((draft) => ({ type: draft.detailType, draft })))('storeEvent builds a $type that passes its schema', ({ draft }) => {
    const event = storeEvent(draft, ctx);
    expect(event.detailType).toBe(draft.detailType);
    expectValidEvents([event]);
    expect(event.detail).toMatchObject({
      schemaVersion: 1,
      storeName: 'payments-hsm',
      storeId: STORE_ID,
      accountId: SCOPE.accountId,
      region: SCOPE.region,
      mode: 'enforce',
      dryRun: false,
      reason: draft.reason,
    });
  });

  it('carries the connection state and error code of the observation', () => {
    const event = storeEvent(drafts[1]!, ctx);
    expect(event.detail).toMatchObject({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS', incidentId: ctx.incidentId });
  });

  it("uses the draft's incident id over the context's (a success closes the incident)", () => {
    const event = storeEvent(drafts[3]!, { ...ctx, incidentId: null });
    expect(event.detail).toMatchObject({ incidentId: 'inc-closed' });
  });

  it('marks a store that is not in KMS as MISSING with a null id', () => {
    const event = storeEvent(drafts[6]!, { ...ctx, observed: null, incidentId: null });
    expect(event.detail).toMatchObject({ connectionState: 'MISSING', storeId: null, connectionErrorCode: null, incidentId: null });
    expectValidEvents([event]);
  });

  it('keeps the dry-run flag', () => {
    expect(storeEvent(drafts[1]!, { ...ctx, dryRun: true }).detail.dryRun).toBe(true);
  });

  it.each([
    { name: 'a Repair Escalated without runbook', type: 'Repair Escalated' as const, change: { runbook: undefined } },
    { name: 'a Repair Started outside an incident', type: 'Repair Started' as const, change: { incidentId: null } },
    { name: 'another schemaVersion', type: 'Repair Step' as const, change: { schemaVersion: 2 } },
    { name: 'an unknown connection error code', type: 'Repair Failed' as const, change: { connectionErrorCode: 'SOMETHING' } },
    { name: 'a drift without fields', type: 'Store Drift Detected' as const, change: { drift: [] } },
    { name: 'an empty reason', type: 'Store Missing' as const, change: { reason: '' } },
    { name: 'a non-ISO nextAttemptAt', type: 'Repair Failed' as const, change: { nextAttemptAt: 'soon' } },
  ])('rejects $name', ({ type, change }) => {
    const draft = drafts.find((d) => d.detailType === type)!;
    const event = storeEvent(draft, ctx);
    expect(eventSchemas[type].safeParse({ ...event.detail, ...change }).success).toBe(false);
  });

  it('accepts extra fields so that additions stay compatible within schemaVersion 1', () => {
    const event = storeEvent(drafts[0]!, ctx);
    expect(eventSchemas['Store Drift Detected'].safeParse({ ...event.detail, newField: 1 }).success).toBe(true);
  });

  it('tells a subscriber what is wrong, in English, field by field', () => {
    const draft = drafts.find((d) => d.detailType === 'Repair Failed')!;
    const result = eventSchemas['Repair Failed'].safeParse({ ...storeEvent(draft, ctx).detail, reason: '', attempt: -1 });
    expect(result.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['reason', 'Too small: expected string to have >=1 characters'],
      ['attempt', 'Too small: expected number to be >=0'],
    ]);
  });
});

describe('invalidDesiredEvent', () => {
  it('lists every field error and passes its schema', () => {
    const event = invalidDesiredEvent({
      scope: SCOPE,
      generation: 1,
      storeName: 'payments-hsm',
      errors: [
        { path: 'desiredstate', message: 'unknown field (did you mean desiredState?)' },
        { path: 'cloudHsmClusterId', message: 'must match cluster-[2-7a-zA-Z]{11,16}' },
      ],
    });
    expectValidEvents([event]);
    expect(event.detailType).toBe('Desired State Invalid');
    expect(event.detail.reason).toContain('desiredstate: unknown field');
    expect(event.detail.reason).toContain('cloudHsmClusterId: must match');
    expect(event.detail).toMatchObject({ storeName: 'payments-hsm', mode: null, incidentId: null, dryRun: false });
  });

  it('accepts an item without a usable name', () => {
    const event = invalidDesiredEvent({ scope: SCOPE, generation: 1, storeName: null, errors: [{ path: '', message: 'must be an object' }] });
    expectValidEvents([event]);
    expect(event.detail.reason).toContain('(without a usable name)');
  });
});

describe('sweepSummaryEvent', () => {
  it('summarises a normal sweep and passes its schema', () => {
    const event = sweepSummaryEvent(summary);
    expectValidEvents([event]);
    expect(event.detail).toMatchObject({ schemaVersion: 1, reconcileId: 'r-1', managed: 5, dryRun: false, regionalIncident: false });
    expect(event.detail).not.toHaveProperty('runbook');
    expect(event.detail.reason).toBe('5 managed stores (3 CONNECTED, 1 FAILED), 1 actions, 0 escalations');
  });

  it('pages a regional incident with its runbook, as a dry run', () => {
    const event = sweepSummaryEvent({ ...summary, byState: { ...summary.byState, FAILED: 4, CONNECTED: 0 }, regionalIncident: true });
    expectValidEvents([event]);
    expect(event.detail).toMatchObject({ regionalIncident: true, dryRun: true, runbook: SITUATION_RUNBOOKS.regionalIncident });
    expect(event.detail.reason).toContain('regional incident: 4 of 5');
  });

  it('says when the kill switch is on', () => {
    const event = sweepSummaryEvent({ ...summary, actions: 0, killSwitch: true });
    expectValidEvents([event]);
    expect(event.detail).toMatchObject({ killSwitch: true, dryRun: true });
    expect(event.detail.reason).toContain('kill switch on');
  });
});
