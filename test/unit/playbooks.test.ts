import { describe, expect, it } from 'vitest';
import { PLAYBOOKS, type PlaybookClass, playbookFor, SITUATION_RUNBOOKS } from '../../shared/domain/playbooks.js';
import { CONNECTION_ERROR_CODES, type ConnectionErrorCode, type StoreType } from '../../shared/domain/types.js';

// Reference §4, row by row.
const expected: Record<ConnectionErrorCode, { appliesTo: StoreType[]; class: PlaybookClass }> = {
  INTERNAL_ERROR: { appliesTo: ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'], class: 'retryable' },
  NETWORK_ERRORS: { appliesTo: ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'], class: 'retryable' },
  INVALID_CREDENTIALS: { appliesTo: ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'], class: 'fixableByNewSecret' },
  CLUSTER_NOT_FOUND: { appliesTo: ['AWS_CLOUDHSM'], class: 'fixableFromDesired' },
  INSUFFICIENT_CLOUDHSM_HSMS: { appliesTo: ['AWS_CLOUDHSM'], class: 'fixableByCreateHsm' },
  INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET: { appliesTo: ['AWS_CLOUDHSM'], class: 'humanOnly' },
  SUBNET_NOT_FOUND: { appliesTo: ['AWS_CLOUDHSM'], class: 'fixableFromDesired' },
  USER_LOCKED_OUT: { appliesTo: ['AWS_CLOUDHSM'], class: 'fixableByNewSecret' },
  USER_LOGGED_IN: { appliesTo: ['AWS_CLOUDHSM'], class: 'humanOnly' },
  USER_NOT_FOUND: { appliesTo: ['AWS_CLOUDHSM'], class: 'fixableByNewSecret' },
  XKS_PROXY_ACCESS_DENIED: { appliesTo: ['EXTERNAL_KEY_STORE'], class: 'humanOnly' },
  XKS_PROXY_NOT_REACHABLE: { appliesTo: ['EXTERNAL_KEY_STORE'], class: 'fixableFromDesiredOrRetryable' },
  XKS_PROXY_INVALID_RESPONSE: { appliesTo: ['EXTERNAL_KEY_STORE'], class: 'retryable' },
  XKS_PROXY_INVALID_CONFIGURATION: { appliesTo: ['EXTERNAL_KEY_STORE'], class: 'fixableFromDesiredOrRetryable' },
  XKS_PROXY_TIMED_OUT: { appliesTo: ['EXTERNAL_KEY_STORE'], class: 'retryable' },
  XKS_PROXY_INVALID_TLS_CONFIGURATION: { appliesTo: ['EXTERNAL_KEY_STORE'], class: 'humanOnly' },
  XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND: { appliesTo: ['EXTERNAL_KEY_STORE'], class: 'fixableFromDesiredOrRetryable' },
  XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION: { appliesTo: ['EXTERNAL_KEY_STORE'], class: 'humanOnly' },
};

describe('PLAYBOOKS', () => {
  it('has a playbook for each of the 18 codes and nothing else', () => {
    expect(Object.keys(PLAYBOOKS).sort()).toEqual([...CONNECTION_ERROR_CODES].sort());
  });

  it.each(CONNECTION_ERROR_CODES.map((code) => ({ code })))(
    'classifies $code as the KMS guide says, for the store types KMS reports it for',
    ({ code }) => {
      expect(PLAYBOOKS[code].class).toBe(expected[code].class);
      expect([...PLAYBOOKS[code].appliesTo]).toEqual(expected[code].appliesTo);
    },
  );

  it.each(CONNECTION_ERROR_CODES.map((code) => ({ code })))('gives $code a one-line description and a runbook in plain words', ({ code }) => {
    const { description, runbook } = PLAYBOOKS[code];
    expect(description.length).toBeGreaterThan(10);
    expect(description).not.toContain('\n');
    expect(runbook.length).toBeGreaterThan(40);
  });

  it.each(['INVALID_CREDENTIALS', 'USER_LOCKED_OUT', 'USER_NOT_FOUND'] as const)(
    'tells the on-call engineer to put the new %s password in the secret as a new version, never to re-use an old one',
    (code) => {
      const runbook = playbookFor(code, 'AWS_CLOUDHSM').runbook;
      expect(runbook).toContain('kmsuser');
      expect(runbook).toContain('as a new version');
      expect(runbook).toContain('never re-sent');
    },
  );

  it('tells how to log kmsuser out for USER_LOGGED_IN, and that `cks retry` reconnects once', () => {
    expect(PLAYBOOKS.USER_LOGGED_IN.runbook).toContain('Log kmsuser out');
    expect(PLAYBOOKS.USER_LOGGED_IN.runbook).toContain('cks retry');
  });

  it.each(['CLUSTER_NOT_FOUND', 'SUBNET_NOT_FOUND'] as const)('tells how to restore from backup and name the new cluster for %s', (code) => {
    expect(PLAYBOOKS[code].runbook).toContain('backup');
    expect(PLAYBOOKS[code].runbook).toContain('cloudHsmClusterId');
  });
});

describe('playbookFor', () => {
  it('narrows INVALID_CREDENTIALS to the CloudHSM password fix', () => {
    const playbook = playbookFor('INVALID_CREDENTIALS', 'AWS_CLOUDHSM');
    expect(playbook.runbook).toContain('kmsuser');
    expect(playbook.runbook).not.toContain('XKS proxy');
    expect(playbook.description).toContain('kmsuser password');
  });

  it('narrows INVALID_CREDENTIALS to the XKS credential fix', () => {
    const playbook = playbookFor('INVALID_CREDENTIALS', 'EXTERNAL_KEY_STORE');
    expect(playbook.runbook).toContain('credential secret');
    expect(playbook.runbook).not.toContain('kmsuser');
    expect(playbook.class).toBe('fixableByNewSecret');
  });

  it('returns the shared playbook for every other code', () => {
    expect(playbookFor('NETWORK_ERRORS', 'EXTERNAL_KEY_STORE')).toBe(PLAYBOOKS.NETWORK_ERRORS);
  });
});

describe('SITUATION_RUNBOOKS', () => {
  it.each(Object.entries(SITUATION_RUNBOOKS).map(([situation, runbook]) => ({ situation, runbook })))(
    'has a plain runbook for $situation',
    ({ runbook }) => {
      expect(runbook.length).toBeGreaterThan(60);
    },
  );

  it('covers stuck transitions, a missing store, an unhealthy CONNECTED store, pre-flight, exhausted retries and a regional incident', () => {
    expect(Object.keys(SITUATION_RUNBOOKS)).toEqual(
      expect.arrayContaining([
        'stuckConnecting',
        'stuckDisconnecting',
        'storeMissing',
        'connectedWithoutActiveHsm',
        'clusterNotFound',
        'clusterNotActive',
        'retriesExhausted',
        'regionalIncident',
      ]),
    );
  });

  it('says the reconciler never creates or deletes a missing store', () => {
    expect(SITUATION_RUNBOOKS.storeMissing).toContain('never creates or deletes');
  });
});
