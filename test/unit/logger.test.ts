import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeLogger, redactSensitive } from '../../shared/logger.js';

function capture(): { lines: string[]; logs: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  return { lines, logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('makeLogger', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('prints JSON lines with the service name and persistent keys', () => {
    // Prepare
    const { lines, logs } = capture();
    const logger = makeLogger({ logLevel: 'INFO' }, { reconcileId: 'r-1', trigger: 'schedule' }, (line) => lines.push(line));

    // Act
    logger.info('store reconciled', { storeName: 'payments-hsm', storeId: 'cks-1' });
    logger.debug('not at INFO');

    // Assess
    expect(logs()).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'store reconciled',
        service: 'cks-reconciler',
        reconcileId: 'r-1',
        trigger: 'schedule',
        storeName: 'payments-hsm',
        storeId: 'cks-1',
      }),
    ]);
  });

  it('shows *** for passwords, secrets, credentials, trust anchors and tokens at any depth', () => {
    // Prepare
    const { lines } = capture();
    const logger = makeLogger({ logLevel: 'INFO' }, {}, (line) => lines.push(line));

    // Act
    logger.info('update', {
      request: {
        KeyStorePassword: 'hunter2',
        XksProxyAuthenticationCredential: { AccessKeyId: 'AKIDEXAMPLE', RawSecretAccessKey: 'raw-secret' },
        TrustAnchorCertificate: '-----BEGIN CERTIFICATE-----',
      },
      xks: { credential: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'nested-secret' } },
      list: [{ sessionToken: 'tok' }],
    });

    // Assess
    const [line] = lines;
    for (const value of ['hunter2', 'raw-secret', 'BEGIN CERTIFICATE', 'nested-secret', 'AKIDEXAMPLE', 'tok"']) {
      expect(line).not.toContain(value);
    }
    expect(JSON.parse(line ?? '{}')).toMatchObject({
      request: { KeyStorePassword: '***', XksProxyAuthenticationCredential: '***', TrustAnchorCertificate: '***' },
      xks: { credential: '***' },
      list: [{ sessionToken: '***' }],
    });
  });

  it('keeps references to secrets: ARNs and version ids', () => {
    // Prepare
    const { lines, logs } = capture();
    const logger = makeLogger({ logLevel: 'INFO' }, {}, (line) => lines.push(line));

    // Act
    logger.info('desired', {
      keyStorePasswordSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:pw',
      appliedPasswordVersion: 'v-1',
      secretVersionId: 'v-2',
    });

    // Assess
    expect(logs()[0]).toMatchObject({
      keyStorePasswordSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:pw',
      appliedPasswordVersion: 'v-1',
      secretVersionId: 'v-2',
    });
  });

  it('redacts in child loggers too, and keeps their keys', () => {
    // Prepare
    const { lines, logs } = capture();
    const logger = makeLogger({ logLevel: 'INFO' }, { trigger: 'event' }, (line) => lines.push(line));

    // Act
    logger.createChild({ persistentKeys: { reconcileId: 'r-2' } }).warn('child', { password: 'pw' });

    // Assess
    expect(logs()).toEqual([expect.objectContaining({ trigger: 'event', reconcileId: 'r-2', password: '***', level: 'WARN' })]);
  });

  it('writes to stdout, redacted, when no sink is given', () => {
    // Prepare
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const logger = makeLogger({ logLevel: 'INFO' });

    // Act
    logger.info('plain', { KeyStorePassword: 'x' });

    // Assess
    const printed = write.mock.calls.map(([chunk]) => String(chunk)).join('');
    expect(printed).toContain('"KeyStorePassword":"***"');
    expect(printed).toContain('"service":"cks-reconciler"');
  });
});

describe('redactSensitive', () => {
  it.each([
    ['KeyStorePassword', 'x', '***'],
    ['secretAccessKey', 'x', '***'],
    ['trustAnchorCertificate', 'x', '***'],
    ['NextToken', 'x', '***'],
    ['credentialSecretArn', 'arn', 'arn'],
    ['storeName', 'x', 'x'],
    ['password', undefined, undefined],
  ])('%s: %j → %j', (key, value, expected) => {
    // Act / Assess
    expect(redactSensitive(key, value)).toBe(expected);
  });
});
