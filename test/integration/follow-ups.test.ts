/**
 * Follow-ups end to end, against the fake with the real SDK clients under the stack's own policies:
 * the sweep repairs a FAILED store one step, and the follow-ups it asks for (delayed messages on the
 * follow-up queue, delivered to the on-event function) carry the repair through disconnect → connect
 * → CONNECTED without waiting for the schedule. A follow-up sent twice or lost changes only timing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONNECT_SECONDS, DISCONNECT_SECONDS } from '../../shared/dev/fake/kms/model.js';
import { followUpRig } from '../helpers/follow-ups.js';
import { failedCloudHsmStore, type ReconcilerEnv, startReconcilerEnv } from '../helpers/reconciler.js';

const HOME = { accountId: '000000000000', region: 'us-east-1' };
const NAME = 'finance-hsm';

let env: ReconcilerEnv;
beforeEach(async () => {
  env = await startReconcilerEnv();
});
afterEach(() => env.close());

/** The incident's events, in order. */
async function repairEvents(): Promise<string[]> {
  return (await env.events()).map((e) => e.DetailType).filter((type) => type.startsWith('Repair'));
}

/** The connects and disconnects the reconciler's roles made (not the test's setup), by operation. */
async function storeCalls(): Promise<string[]> {
  const { calls } = await env.calls();
  return calls
    .filter((c) => c.principal.includes(':assumed-role/') && /^(Connect|Disconnect)CustomKeyStore$/.test(c.operation))
    .map((c) => c.operation);
}

/** Moves fake time a second at a time, delivering due follow-ups, until the repair succeeded; the seconds it took. */
async function followUntilHealed(drain: () => Promise<unknown>, limitSeconds: number): Promise<number> {
  for (let second = 1; second <= limitSeconds; second++) {
    env.fake.advance(1);
    await drain();
    if ((await repairEvents()).includes('Repair Succeeded')) return second;
  }
  throw new Error(`not healed within ${limitSeconds} s`);
}

describe('follow-ups', () => {
  it('heal a FAILED store with NETWORK_ERRORS through disconnect → connect after a single scheduled run, adding at most 15 s to KMS’s own transitions', async () => {
    await failedCloudHsmStore(env, NAME);
    const rig = await followUpRig(env);

    const swept = await rig.sweep();
    const seconds = await followUntilHealed(rig.drain, 300);

    expect(swept).toMatchObject({ status: 'reconciled', stores: [{ name: NAME, action: 'disconnect' }] });
    expect(seconds).toBeLessThanOrEqual(DISCONNECT_SECONDS + CONNECT_SECONDS.AWS_CLOUDHSM + 15);
    expect(await env.state(NAME)).toEqual({ connectionState: 'CONNECTED', connectionErrorCode: null });
    expect(await repairEvents()).toEqual(['Repair Started', 'Repair Step', 'Repair Succeeded']);
    expect(await storeCalls()).toEqual(['DisconnectCustomKeyStore', 'ConnectCustomKeyStore']);
    expect(await env.denials()).toEqual([]);
  });

  it('sent twice, make the same single disconnect, connect and events: a duplicate costs only reads', async () => {
    await failedCloudHsmStore(env, NAME);
    const rig = await followUpRig(env);
    await rig.sweep();
    await rig.queueAs('SweepRole').followUp(HOME, [{ store: NAME, afterSeconds: DISCONNECT_SECONDS }]);

    await followUntilHealed(rig.drain, 300);

    expect(await repairEvents()).toEqual(['Repair Started', 'Repair Step', 'Repair Succeeded']);
    expect(await storeCalls()).toEqual(['DisconnectCustomKeyStore', 'ConnectCustomKeyStore']);
    expect(await env.denials()).toEqual([]);
  });

  it('lost, leave the repair to the schedule: the same steps and events, only later', async () => {
    await failedCloudHsmStore(env, NAME);
    const lost = await followUpRig(env, { followUps: false });

    let seconds = 0;
    while (!(await repairEvents()).includes('Repair Succeeded')) {
      await lost.sweep();
      env.fake.advance(60);
      seconds += 60;
      if (seconds > 1800) throw new Error('not healed by the schedule');
    }

    expect(seconds).toBeGreaterThan(DISCONNECT_SECONDS + CONNECT_SECONDS.AWS_CLOUDHSM + 15);
    expect(await repairEvents()).toEqual(['Repair Started', 'Repair Step', 'Repair Succeeded']);
    expect(await storeCalls()).toEqual(['DisconnectCustomKeyStore', 'ConnectCustomKeyStore']);
  });
});
