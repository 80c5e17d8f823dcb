/**
 * `npm start -- --duration 45` end to end: the demo heals, escalates and exits on its own, checked by
 * what it prints (the SIGINT stop is in demo-sigint.test.ts, so the two run side by side).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanUpDemos, expectInOrder, startDemo } from '../helpers/demo.js';

afterEach(cleanUpDemos);

describe('npm start (the demo)', () => {
  it('heals, escalates with the runbook, and exits 0 after --duration', async () => {
    // Act
    const demo = startDemo(['--duration', '45', '--port', '0']);
    const { code } = await demo.exited;
    const output = demo.output();

    // Assess
    expect(code, output).toBe(0);
    expect(output).not.toContain('\u001b[');
    // NETWORK_ERRORS: disconnect, connect, CONNECTED again.
    expectInOrder(output, [
      /world\s+orders-hsm: .*NETWORK_ERRORS/,
      /state\s+orders-hsm is FAILED NETWORK_ERRORS/,
      /(sweep|on-event|on-change)\s+orders-hsm: disconnect/,
      /(sweep|on-event|on-change)\s+orders-hsm: connect/,
      /state\s+orders-hsm is CONNECTED/,
    ]);
    expect(output).toMatch(/event\s+Repair Succeeded orders-hsm/);
    // Password rotated by a human: held (escalated) until the new secret version, then updated and connected.
    expectInOrder(output, [
      /world\s+billing-hsm: .*INVALID_CREDENTIALS/,
      /event\s+Repair Escalated billing-hsm/,
      /world\s+billing-hsm: .*new secret version/,
      /(sweep|on-event|on-change)\s+billing-hsm: update · .*keyStorePassword/,
      /(sweep|on-event|on-change)\s+billing-hsm: connect/,
      /state\s+billing-hsm is CONNECTED/,
    ]);
    // HSMs lost: the reconciler adds one (allowCreateHsm), then reconnects.
    expectInOrder(output, [
      /world\s+ledger-hsm: .*INSUFFICIENT_CLOUDHSM_HSMS/,
      /(sweep|on-event|on-change)\s+ledger-hsm: createHsm/,
      /(sweep|on-event|on-change)\s+ledger-hsm: connect/,
      /state\s+ledger-hsm is CONNECTED/,
    ]);
    // USER_LOCKED_OUT needs a human: escalated once, with the documented fix.
    const [escalation] = expectInOrder(output, [/event\s+Repair Escalated archive-hsm: .*USER_LOCKED_OUT/]);
    expect(escalation).toMatch(/runbook: .*kmsuser password/);
    expect(output.match(/Repair Escalated archive-hsm/g)).toHaveLength(1);
    // The event path: an operator's call reaches on-event, a desired change on-change; the reconciler's own calls never reach either.
    // A human's disconnect is held (Manual Change Detected) until the operator resumes it. The page names
    // who when CloudTrail's event came first; a sweep that sees the disconnect before it (CloudTrail lags,
    // in AWS too) pages "someone other than the reconciler", and the event's run then names who in the status.
    expectInOrder(output, [
      /world\s+reports-hsm: .*disconnects it by hand/,
      /cloudtrail\s+DisconnectCustomKeyStore by demo-operator/,
      /event\s+Manual Change Detected reports-hsm: .*disconnected by (arn:aws:sts::000000000000:assumed-role\/demo-operator|someone other than the reconciler)/,
      /world\s+reports-hsm: .*cks resume reports-hsm/,
      /state\s+reports-hsm is CONNECTED/,
    ]);
    expect(output.match(/Manual Change Detected reports-hsm/g)).toHaveLength(1);
    expect(output).toMatch(/(sweep|on-event|on-change)\s+reports-hsm: connect/);
    expect(output).not.toMatch(/cloudtrail\s+\S+ by (SweepRole|OnEventRole|OnChangeRole)/);
    expect(output).toMatch(/cks demo stopped \(after 45 s\): 7 stores/);
  }, 75_000);
});
