import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

const MINIMAL = { CKS_TABLE: 'cks-desired', AWS_REGION: 'eu-west-1' };

describe('loadConfig', () => {
  it('applies the defaults to a minimal environment', () => {
    // Act
    const config = loadConfig(MINIMAL);

    // Assess
    expect(config).toEqual({
      tableName: 'cks-desired',
      eventBusName: 'default',
      region: 'eu-west-1',
      mutationRatePerSecond: 2,
      leaseTtlMs: 60_000,
      historyTtlDays: 30,
      logLevel: 'INFO',
    });
  });

  it('reads every variable', () => {
    // Act
    const config = loadConfig({
      CKS_TABLE: 't',
      CKS_EVENT_BUS: 'ops',
      AWS_DEFAULT_REGION: 'us-west-2',
      CKS_ACCOUNT_ID: '111122223333',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      CKS_MUTATION_RATE: '0.5',
      CKS_LEASE_TTL_MS: '30000',
      CKS_HISTORY_TTL_DAYS: '7',
      POWERTOOLS_LOG_LEVEL: 'debug',
    });

    // Assess
    expect(config).toEqual({
      tableName: 't',
      eventBusName: 'ops',
      region: 'us-west-2',
      accountId: '111122223333',
      endpoint: 'http://127.0.0.1:4566',
      mutationRatePerSecond: 0.5,
      leaseTtlMs: 30_000,
      historyTtlDays: 7,
      logLevel: 'DEBUG',
    });
  });

  it('prefers AWS_REGION to AWS_DEFAULT_REGION and CKS_LOG_LEVEL to POWERTOOLS_LOG_LEVEL', () => {
    // Act
    const config = loadConfig({ ...MINIMAL, AWS_DEFAULT_REGION: 'us-west-2', CKS_LOG_LEVEL: 'WARN', POWERTOOLS_LOG_LEVEL: 'DEBUG' });

    // Assess
    expect(config.region).toBe('eu-west-1');
    expect(config.logLevel).toBe('WARN');
  });

  it('lets overrides win over the environment and stand in for required variables', () => {
    // Act
    const config = loadConfig(
      { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' },
      {
        tableName: 'from-flag',
        region: 'ap-south-1',
        endpoint: 'http://127.0.0.1:2',
      },
    );

    // Assess
    expect(config).toMatchObject({ tableName: 'from-flag', region: 'ap-south-1', endpoint: 'http://127.0.0.1:2' });
  });

  it.each([
    [{ AWS_REGION: 'eu-west-1' }, 'CKS_TABLE is not set: the name of the desired-state table'],
    [{ CKS_TABLE: 't' }, 'AWS_REGION is not set'],
    [{ ...MINIMAL, CKS_TABLE: '  ' }, 'CKS_TABLE is not set'],
    [{ ...MINIMAL, CKS_MUTATION_RATE: 'fast' }, 'CKS_MUTATION_RATE must be a positive number, got "fast"'],
    [{ ...MINIMAL, CKS_MUTATION_RATE: '0' }, 'CKS_MUTATION_RATE must be a positive number'],
    [{ ...MINIMAL, CKS_HISTORY_TTL_DAYS: '1.5' }, 'CKS_HISTORY_TTL_DAYS must be a positive whole number, got "1.5"'],
    [{ ...MINIMAL, CKS_LEASE_TTL_MS: '-5' }, 'CKS_LEASE_TTL_MS must be a positive number'],
    [{ ...MINIMAL, CKS_ACCOUNT_ID: 'abc' }, 'CKS_ACCOUNT_ID must be a 12-digit AWS account id'],
    [{ ...MINIMAL, AWS_ENDPOINT_URL: 'localhost' }, 'AWS_ENDPOINT_URL must be a URL'],
    [{ ...MINIMAL, CKS_LOG_LEVEL: 'LOUD' }, 'CKS_LOG_LEVEL must be one of'],
  ])('fails naming the variable: %j', (env, message) => {
    // Act / Assess
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
