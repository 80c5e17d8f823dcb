import { describe, expect, it } from 'vitest';
import { matchesPattern, type EventPattern } from '../../shared/demo/event-pattern.js';

const ROLE = 'arn:aws:iam::000000000000:role/ReconcilerRole';

/** An EventBridge "AWS API Call via CloudTrail" event, as the fake emits them. */
function cloudTrail(detail: Record<string, unknown>): Record<string, unknown> {
  return {
    version: '0',
    source: 'aws.kms',
    'detail-type': 'AWS API Call via CloudTrail',
    account: '000000000000',
    region: 'us-east-1',
    detail: {
      eventSource: 'kms.amazonaws.com',
      eventName: 'ConnectCustomKeyStore',
      userIdentity: { sessionContext: { sessionIssuer: { arn: 'arn:aws:iam::000000000000:role/operator' } } },
      requestParameters: { customKeyStoreId: 'cks-1234567890abcdef0' },
      ...detail,
    },
  };
}

/** The shape of the on-event rule in serverless.yml. */
const ON_EVENT: EventPattern = {
  source: ['aws.kms'],
  'detail-type': ['AWS API Call via CloudTrail'],
  detail: {
    eventSource: ['kms.amazonaws.com'],
    eventName: ['ConnectCustomKeyStore', 'DisconnectCustomKeyStore'],
    errorCode: [{ exists: false }],
    userIdentity: { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': ROLE }] } } },
  },
};

describe('matchesPattern', () => {
  const cases: Array<{ name: string; pattern: EventPattern; event: unknown; expected: boolean }> = [
    { name: 'exact string', pattern: { source: ['aws.kms'] }, event: { source: 'aws.kms' }, expected: true },
    { name: 'exact string, other value', pattern: { source: ['aws.kms'] }, event: { source: 'aws.s3' }, expected: false },
    { name: 'one of several values', pattern: { source: ['aws.s3', 'aws.kms'] }, event: { source: 'aws.kms' }, expected: true },
    { name: 'exact number', pattern: { n: [5] }, event: { n: 5 }, expected: true },
    { name: 'a number is not its string', pattern: { n: [5] }, event: { n: '5' }, expected: false },
    { name: 'null matches null', pattern: { a: [null] }, event: { a: null }, expected: true },
    { name: 'null does not match an absent field', pattern: { a: [null] }, event: {}, expected: false },
    { name: 'absent field fails an exact value', pattern: { source: ['aws.kms'] }, event: {}, expected: false },
    { name: 'event array: any element', pattern: { tags: ['b'] }, event: { tags: ['a', 'b'] }, expected: true },
    { name: 'event array: no element', pattern: { tags: ['c'] }, event: { tags: ['a', 'b'] }, expected: false },
    { name: 'every key must match', pattern: { a: ['1'], b: ['2'] }, event: { a: '1', b: '3' }, expected: false },
    { name: 'exists: true, present', pattern: { a: [{ exists: true }] }, event: { a: 'x' }, expected: true },
    { name: 'exists: true, absent', pattern: { a: [{ exists: true }] }, event: {}, expected: false },
    { name: 'exists: false, absent', pattern: { a: [{ exists: false }] }, event: { b: 1 }, expected: true },
    { name: 'exists: false, present', pattern: { a: [{ exists: false }] }, event: { a: 'AccessDenied' }, expected: false },
    { name: 'exists: false, parent absent', pattern: { d: { e: [{ exists: false }] } }, event: {}, expected: true },
    { name: 'prefix', pattern: { r: [{ prefix: 'us-' }] }, event: { r: 'us-east-1' }, expected: true },
    { name: 'prefix, no match', pattern: { r: [{ prefix: 'us-' }] }, event: { r: 'eu-west-1' }, expected: false },
    { name: 'prefix on a number', pattern: { r: [{ prefix: '1' }] }, event: { r: 12 }, expected: false },
    { name: 'anything-but value', pattern: { s: [{ 'anything-but': 'x' }] }, event: { s: 'y' }, expected: true },
    { name: 'anything-but value, same', pattern: { s: [{ 'anything-but': 'x' }] }, event: { s: 'x' }, expected: false },
    { name: 'anything-but list', pattern: { s: [{ 'anything-but': ['x', 'y'] }] }, event: { s: 'y' }, expected: false },
    { name: 'anything-but list, other', pattern: { s: [{ 'anything-but': ['x', 'y'] }] }, event: { s: 'z' }, expected: true },
    { name: 'anything-but prefix', pattern: { s: [{ 'anything-but': { prefix: 'us-' } }] }, event: { s: 'eu-west-1' }, expected: true },
    { name: 'anything-but prefix, excluded', pattern: { s: [{ 'anything-but': { prefix: 'us-' } }] }, event: { s: 'us-east-1' }, expected: false },
    { name: 'anything-but needs the field', pattern: { s: [{ 'anything-but': 'x' }] }, event: {}, expected: false },
    { name: 'nested objects', pattern: { a: { b: { c: ['x'] } } }, event: { a: { b: { c: 'x' } } }, expected: true },
    { name: 'nested objects, other leaf', pattern: { a: { b: { c: ['x'] } } }, event: { a: { b: { c: 'y' } } }, expected: false },
    { name: 'nested pattern, event leaf is a value', pattern: { a: { b: ['x'] } }, event: { a: 'x' }, expected: false },
    { name: 'rule: an operator call', pattern: ON_EVENT, event: cloudTrail({}), expected: true },
    { name: 'rule: another operation', pattern: ON_EVENT, event: cloudTrail({ eventName: 'GenerateRandom' }), expected: false },
    { name: 'rule: a failed call', pattern: ON_EVENT, event: cloudTrail({ errorCode: 'CustomKeyStoreInvalidStateException' }), expected: false },
    {
      name: "rule: the reconciler's own call",
      pattern: ON_EVENT,
      event: cloudTrail({ userIdentity: { sessionContext: { sessionIssuer: { arn: ROLE } } } }),
      expected: false,
    },
    { name: 'rule: another source', pattern: ON_EVENT, event: { ...cloudTrail({}), source: 'aws.cloudhsm' }, expected: false },
  ];

  it.each(cases)('$name → $expected', ({ pattern, event, expected }) => {
    // Act
    const matched = matchesPattern(pattern, event);

    // Assess
    expect(matched).toBe(expected);
  });

  it.each([
    { name: 'an unsupported operator', pattern: { a: [{ suffix: '.png' }] } },
    { name: 'an operator object with two keys', pattern: { a: [{ prefix: 'x', exists: true }] } },
    { name: 'a leaf that is neither array nor object', pattern: { a: 'x' } as unknown as EventPattern },
    { name: 'exists with a non-boolean', pattern: { a: [{ exists: 'yes' }] } },
    { name: 'anything-but with an unsupported operator', pattern: { a: [{ 'anything-but': { suffix: 'x' } }] } },
  ])('rejects $name', ({ pattern }) => {
    // Act / Assess
    expect(() => matchesPattern(pattern, { a: 'x' })).toThrow();
  });
});
