/**
 * The demo's screen on a terminal: at 80×24 its header (with the whole line to paste into another
 * terminal) and its stores table fit; a wider terminal shows more columns.
 */
import { describe, expect, it } from 'vitest';
import { DemoView, reachedRows, type StoreRow } from '../../shared/dev/demo/view.js';

const HEADER = {
  endpoint: 'http://127.0.0.1:45678',
  table: 'cks-demo-stores',
  region: 'us-east-1',
  accountId: '000000000000',
  logFile: '/tmp/cks-demo-45678.log',
  storesFile: '/tmp/cks-demo-45678-stores.yaml',
};

const STORES: StoreRow[] = [
  ['orders-hsm', 'FAILED NETWORK_ERRORS'],
  ['billing-hsm', 'FAILED INVALID_CREDENTIALS'],
  ['ledger-hsm', 'FAILED INSUFFICIENT_CLOUDHSM_HSMS'],
  ['archive-hsm', 'FAILED USER_LOCKED_OUT'],
  ['reports-hsm', 'DISCONNECTED'],
  ['payments-hsm', 'CONNECTED'],
  ['partner-xks', 'CONNECTED'],
].map(([name, observed]) => ({
  name: name!,
  type: name!.endsWith('xks') ? 'XKS' : 'CloudHSM',
  desired: 'CONNECTED',
  observed: observed!,
  phase: 'IDLE',
  attempt: '1/3',
  lastAction: 'disconnect failed',
  reason: 'FAILED with NETWORK_ERRORS (retryable): disconnecting, the first step of repair attempt 1 of 3',
  risks: [],
}));

/** The screen a terminal of `columns` × `rows` shows, without its ANSI codes. */
function screen(columns: number, rows: number, stores: StoreRow[] = STORES): string[] {
  let written = '';
  const out = {
    isTTY: true,
    columns,
    rows,
    write: (text: string) => {
      written += text;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const view = new DemoView(out, HEADER);
  view.stores(stores);
  written = '';
  view.render({
    fakeTime: Date.parse('2026-11-25T12:00:03Z'),
    timeScale: 60,
    intervalSeconds: 2,
    sweeps: 12,
    onEventRuns: 3,
    onChangeRuns: 1,
    routed: 2,
    leftOut: 5,
  });
  return (
    written
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the screen's ANSI codes are taken out
      .replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')
      .split('\n')
      .slice(0, rows - 1)
  );
}

describe('the demo screen', () => {
  it('fits its header, the whole line to paste, and the stores table in 80×24', () => {
    // Act
    const lines = screen(80, 24);

    // Assess
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(80);
    const exportLines = lines.slice(lines.findIndex((line) => line.startsWith('export ')));
    const command = exportLines.slice(0, exportLines.findIndex((line) => !line.endsWith(' \\')) + 1);
    expect(command.map((line) => line.replace(/ \\$/, '').trim()).join(' ')).toBe(
      'export AWS_ENDPOINT_URL=http://127.0.0.1:45678 AWS_REGION=us-east-1 CKS_TABLE=cks-demo-stores AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test CKS_FAKE_CLOCK=1',
    );
    const table = lines.findIndex((line) => line.startsWith('NAME '));
    expect(lines[table]).toMatch(/^NAME +OBSERVED +PHASE +ATTEMPT +REASON$/);
    expect(lines.slice(table + 1, table + 8).map((line) => line.split(' ')[0])).toEqual(STORES.map((s) => s.name));
    expect(lines.join('\n')).toContain('reconciler logs: /tmp/cks-demo-45678.log');
  });

  it('shows the type, desired state and last action too on a wider terminal', () => {
    // Act
    const lines = screen(160, 40);

    // Assess
    expect(lines.find((line) => line.startsWith('NAME '))).toMatch(/^NAME +TYPE +DESIRED +OBSERVED +PHASE +ATTEMPT +LAST ACTION +REASON$/);
    expect(lines.find((line) => line.startsWith('export '))).toMatch(/AWS_SECRET_ACCESS_KEY=test CKS_FAKE_CLOCK=1$/);
  });

  it('prints a store name holding control characters escaped', () => {
    // Act
    const lines = screen(120, 40, [{ ...STORES[0]!, name: 'evil\u001b]0;owned\u0007' }]);

    // Assess
    expect(lines.join('\n')).toContain('evil\\u001b]0;owned\\u0007');
  });

  it('lists the stores at risk with each open finding, and no such section when none is', () => {
    const atRisk = { ...STORES[6]!, risks: ["xksCertificateExpiring: the XKS proxy's TLS certificate expires in 5 days (threshold 30)"] };

    const lines = screen(120, 40, [...STORES.slice(0, 6), atRisk]);

    const section = lines.indexOf('AT RISK');
    expect(section).toBeGreaterThan(0);
    expect(lines[section + 1]).toBe("partner-xks: xksCertificateExpiring: the XKS proxy's TLS certificate expires in 5 days (threshold 30)");
    expect(screen(120, 40)).not.toContain('AT RISK');
  });
});

describe('the rows of an account-Region the reconciler cannot reach', () => {
  it('are shown UNREACHABLE with the call that failed, as the Scope Unreachable page says, whatever KMS shows the operator', () => {
    const mark = {
      incidentId: 'scope-1',
      since: Date.parse('2026-12-07T05:00:00Z'),
      errorCode: 'ExpiredTokenException',
      operation: 'KMS.DescribeCustomKeyStores',
      announced: true,
    };

    const rows = reachedRows(STORES.slice(5), mark);

    expect(rows.map((row) => [row.name, row.observed, row.reason])).toEqual([
      [
        'payments-hsm',
        'UNREACHABLE',
        'the reconciler cannot reach this account-Region: KMS.DescribeCustomKeyStores failed with ExpiredTokenException',
      ],
      [
        'partner-xks',
        'UNREACHABLE',
        'the reconciler cannot reach this account-Region: KMS.DescribeCustomKeyStores failed with ExpiredTokenException',
      ],
    ]);
    expect(reachedRows(STORES.slice(5), undefined)).toEqual(STORES.slice(5));
  });
});
