import { describe, expect, it } from 'vitest';
import { followUpSeconds, MAX_FOLLOW_UP_SECONDS } from '../../shared/domain/follow-up.js';
import { emptyStatus, plan } from '../../shared/domain/plan.js';
import type { Action, ConnectionState, Decision, Phase } from '../../shared/domain/types.js';
import { cloudHsmObserved } from '../helpers/world.js';
import { cloudHsmInput, NOW } from './domain-fixtures.js';

const STORE = 'cks-0123456789abcdef0';

function decision(action: Action, phase: Phase, observedState: ConnectionState | null, dryRun = false): Decision {
  return {
    action,
    reason: 'test',
    dryRun,
    intended: action.kind,
    nextStatus: { ...emptyStatus('finance-hsm', NOW), phase, observedState },
    events: [],
  };
}

describe('followUpSeconds: the delay a decision asks for, by what it waits on', () => {
  const table: Array<{ when: string; decision: Decision; seconds: number | null }> = [
    {
      when: 'a disconnect was made (DISCONNECTING lasts seconds)',
      decision: decision({ kind: 'disconnect', storeId: STORE }, 'DISCONNECTING', 'FAILED'),
      seconds: 5,
    },
    {
      when: 'an update was made (the connect follows)',
      decision: decision({ kind: 'update', storeId: STORE, changes: {} }, 'UPDATING', 'DISCONNECTED'),
      seconds: 5,
    },
    {
      when: 'a connect was made (CONNECTING lasts minutes)',
      decision: decision({ kind: 'connect', storeId: STORE }, 'CONNECTING', 'DISCONNECTED'),
      seconds: 10,
    },
    {
      when: 'an HSM was created (it comes up in minutes)',
      decision: decision({ kind: 'createHsm', clusterId: 'cluster-1', availabilityZone: 'us-east-1a' }, 'UPDATING', 'FAILED'),
      seconds: 10,
    },
    { when: 'waiting in DISCONNECTING', decision: decision({ kind: 'none' }, 'DISCONNECTING', 'DISCONNECTING'), seconds: 5 },
    { when: 'waiting in UPDATING (an HSM coming up)', decision: decision({ kind: 'none' }, 'UPDATING', 'FAILED'), seconds: 10 },
    { when: 'waiting in CONNECTING', decision: decision({ kind: 'none' }, 'CONNECTING', 'CONNECTING'), seconds: 10 },
    { when: 'someone else’s disconnect seen DISCONNECTING', decision: decision({ kind: 'none' }, 'IDLE', 'DISCONNECTING'), seconds: 5 },
    { when: 'someone else’s connect seen CONNECTING', decision: decision({ kind: 'none' }, 'IDLE', 'CONNECTING'), seconds: 10 },
    { when: 'healthy: CONNECTED and IDLE', decision: decision({ kind: 'none' }, 'IDLE', 'CONNECTED'), seconds: null },
    { when: 'backing off: FAILED and IDLE', decision: decision({ kind: 'none' }, 'IDLE', 'FAILED'), seconds: null },
    { when: 'escalated to a human', decision: decision({ kind: 'none' }, 'ESCALATED', 'FAILED'), seconds: null },
    { when: 'held after a human’s change, even while CONNECTING', decision: decision({ kind: 'none' }, 'HELD', 'CONNECTING'), seconds: null },
    { when: 'paused', decision: decision({ kind: 'none' }, 'PAUSED', 'DISCONNECTING'), seconds: null },
    {
      when: 'a dry run (mode plan or observe) of a disconnect',
      decision: decision({ kind: 'disconnect', storeId: STORE }, 'DISCONNECTING', 'FAILED', true),
      seconds: null,
    },
  ];

  it.each(table)('$when: $seconds', ({ decision: d, seconds }) => {
    expect(followUpSeconds(d)).toBe(seconds);
  });

  it('never asks for more than SQS can delay a message', () => {
    const asked = table.map((row) => followUpSeconds(row.decision)).filter((s): s is number => s !== null);
    expect(Math.max(...asked)).toBeLessThanOrEqual(MAX_FOLLOW_UP_SECONDS);
  });

  it('asks for a follow-up after plan disconnects a FAILED store, and none for a healthy one', () => {
    const failed = plan(cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' }) }));
    const healthy = plan(cloudHsmInput());

    expect(failed.action.kind).toBe('disconnect');
    expect(followUpSeconds(failed)).toBe(5);
    expect(followUpSeconds(healthy)).toBeNull();
  });
});
