/** Who a signer is, what a signature signs, and who approved one exact change. */
import { describe, expect, it } from 'vitest';
import { approversOf, digestOf, personOf, type Signature, signerOf, storeChange, storeGuardedValues } from '../../shared/domain/signatures.js';
import { cloudHsmDesired, xksDesired } from '../helpers/world.js';

describe('personOf', () => {
  it.each([
    { signer: 'source/alice', person: 'source/alice' },
    { signer: 'principal/AIDAEXAMPLEUSER', person: 'principal/AIDAEXAMPLEUSER' },
    { signer: 'principal/AROAEXAMPLEROLE:ops-1', person: 'principal/AROAEXAMPLEROLE' },
    { signer: 'principal/AROAEXAMPLEROLE:ops-2', person: 'principal/AROAEXAMPLEROLE' },
    { signer: 'alice', person: null },
    { signer: 'source/', person: null },
    { signer: 'source/a/b', person: null },
    { signer: 'sso/AROAEXAMPLE:alice', person: null },
  ])('takes $signer for the person $person (two sessions of one role are one person)', ({ signer, person }) => {
    expect(personOf(signer)).toBe(person);
  });

  it('signs as the source identity when the caller has one, else as its aws:userid', () => {
    expect(signerOf({ userId: 'AROAEXAMPLEROLE:ops-1', sourceIdentity: 'alice' })).toBe('source/alice');
    expect(signerOf({ userId: 'AROAEXAMPLEROLE:ops-1', sourceIdentity: null })).toBe('principal/AROAEXAMPLEROLE:ops-1');
  });
});

describe('digestOf', () => {
  it('is the SHA-256 of the canonical JSON: the same for any order of keys, another for any edit of a value', () => {
    const digest = digestOf({ a: 1, b: { c: 'x', d: undefined } });

    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digestOf({ b: { c: 'x' }, a: 1 })).toBe(digest);
    expect(digestOf({ a: 1, b: { c: 'y' } })).not.toBe(digest);
  });

  it.each([
    { field: 'xksProxy.uriEndpoint', edit: { xksProxy: { ...xksDesired().xksProxy!, uriEndpoint: 'https://other.example.com' } } },
    { field: 'loginBudget', edit: { loginBudget: 3 } },
    { field: 'onManualDisconnect', edit: { onManualDisconnect: 'reconnect' as const } },
    { field: 'retryRequestedAt', edit: { retryRequestedAt: 1 } },
  ])('changes with $field, a guarded value', ({ edit }) => {
    expect(digestOf(storeGuardedValues({ ...xksDesired(), ...edit }))).not.toBe(digestOf(storeGuardedValues(xksDesired())));
  });

  it('does not change with what needs no second person (mode, maxAttempts, the credential secret)', () => {
    const desired = xksDesired();
    const edited = { ...desired, mode: 'observe' as const, maxAttempts: 5, xksProxy: { ...desired.xksProxy!, credentialSecretArn: 'arn:other' } };
    expect(digestOf(storeGuardedValues(edited))).toBe(digestOf(storeGuardedValues(desired)));
  });
});

describe('approversOf', () => {
  const desired = cloudHsmDesired({ generation: 4, loginBudget: 3 });
  const change = storeChange('STORE#payments', desired);
  const sign = (signer: string, over: Partial<Signature> = {}): Signature => ({
    signer,
    scopePk: 'DESIRED#111122223333#us-east-1',
    ...change,
    signedAt: 0,
    ...over,
  });

  it('counts the distinct persons who signed exactly this change: subject, generation and digest', () => {
    const signatures = [
      sign('principal/AROAOPS:ops-1'),
      sign('principal/AROAOPS:ops-2'),
      sign('source/bob'),
      sign('source/carol', { generation: 3 }),
      sign('source/dave', { digest: 'f'.repeat(64) }),
      sign('source/erin', { subject: 'STORE#other' }),
      sign('nobody'),
    ];

    expect(approversOf(signatures, change)).toEqual(['principal/AROAOPS', 'source/bob']);
  });
});
