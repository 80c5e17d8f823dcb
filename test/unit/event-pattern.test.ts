import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type EventPattern, matchesPattern } from '../../shared/dev/demo/event-pattern.js';
import { parseRoutes } from '../../shared/dev/demo/routes.js';

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
    { name: '$or: first branch', pattern: { $or: [{ a: ['1'] }, { b: ['2'] }] }, event: { a: '1' }, expected: true },
    { name: '$or: second branch', pattern: { $or: [{ a: ['1'] }, { b: ['2'] }] }, event: { b: '2' }, expected: true },
    { name: '$or: no branch', pattern: { $or: [{ a: ['1'] }, { b: ['2'] }] }, event: { a: '2', b: '1' }, expected: false },
    { name: '$or beside other keys', pattern: { c: ['x'], $or: [{ a: ['1'] }, { b: ['2'] }] }, event: { a: '1', c: 'y' }, expected: false },
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
    { name: '$or with one branch', pattern: { $or: [{ a: ['x'] }] } },
  ])('rejects $name', ({ pattern }) => {
    // Act / Assess
    expect(() => matchesPattern(pattern, { a: 'x' })).toThrow();
  });
});

describe('parseRoutes on serverless.yml', () => {
  const routes = parseRoutes(readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8'));
  const roleArn = (role: string): string => `arn:aws:iam::000000000000:role/${role}`;
  const routed = (event: unknown): boolean => routes.eventPatterns.some((pattern) => matchesPattern(pattern, event));

  it("reads each function's role, the on-event function's rules and the on-change function's stream filters", () => {
    // Assess
    expect(routes.roles).toEqual({ sweep: 'SweepRole', onEvent: 'OnEventRole', onChange: 'OnChangeRole' });
    expect(routes.eventPatterns.length).toBeGreaterThanOrEqual(2);
    expect(routes.streamFilters.length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(routes.eventPatterns)).not.toContain('Fn::GetAtt');
  });

  it.each([
    { name: "an operator's KMS call", event: cloudTrail({}), expected: true },
    {
      name: "the sweep's own KMS call",
      event: cloudTrail({ userIdentity: { sessionContext: { sessionIssuer: { arn: roleArn('SweepRole') } } } }),
      expected: false,
    },
    {
      name: "the on-event function's own KMS call",
      event: cloudTrail({ userIdentity: { sessionContext: { sessionIssuer: { arn: roleArn('OnEventRole') } } } }),
      expected: false,
    },
    {
      name: "the on-change function's own KMS call",
      event: cloudTrail({ userIdentity: { sessionContext: { sessionIssuer: { arn: roleArn('OnChangeRole') } } } }),
      expected: false,
    },
    { name: 'a KMS call by an IAM user (no session issuer)', event: cloudTrail({ userIdentity: { type: 'IAMUser' } }), expected: true },
    { name: 'a failed KMS call', event: cloudTrail({ errorCode: 'CustomKeyStoreInvalidStateException' }), expected: false },
    { name: 'another KMS operation', event: cloudTrail({ eventName: 'GenerateRandom' }), expected: false },
    {
      name: "an operator's CreateHsm",
      event: { ...cloudTrail({ eventSource: 'cloudhsm.amazonaws.com', eventName: 'CreateHsm' }), source: 'aws.cloudhsm' },
      expected: true,
    },
  ])('routes $name: $expected', ({ event, expected }) => {
    // Act / Assess
    expect(routed(event)).toBe(expected);
  });

  it.each([
    { name: 'a DESIRED item', sk: 'STORE#payments-hsm#DESIRED', image: { desiredState: { S: 'CONNECTED' } }, expected: true },
    { name: 'a STATUS item', sk: 'STORE#payments-hsm#STATUS', image: { phase: { S: 'IDLE' } }, expected: false },
    { name: 'the SETTINGS item', sk: 'SETTINGS', image: { killSwitch: { BOOL: false } }, expected: false },
  ])('lets the stream record of $name through: $expected', ({ sk, image, expected }) => {
    // Arrange
    // Operators' items (desired, approvals, settings) live under DESIRED#..., statuses under SCOPE#...
    const pk = sk.endsWith('#STATUS') ? 'SCOPE#000000000000#us-east-1' : 'DESIRED#000000000000#us-east-1';
    const keys = { pk: { S: pk }, sk: { S: sk } };
    const record = { eventName: 'MODIFY', dynamodb: { Keys: keys, NewImage: { ...keys, ...image } } };

    // Act / Assess
    expect(routes.streamFilters.some((filter) => matchesPattern(filter, record))).toBe(expected);
  });

  it('resolves !GetAtt only to a role ARN', () => {
    // Arrange
    const text = [
      'functions:',
      '  sweep: { handler: functions/sweep.handler }',
      '  onEvent:',
      '    handler: functions/on-event.handler',
      '    events:',
      '      - eventBridge: { pattern: { source: [!GetAtt Queue.QueueName] } }',
      '  onChange: { handler: functions/on-change.handler }',
    ].join('\n');

    // Act / Assess
    expect(() => parseRoutes(text)).toThrow(/Fn::GetAtt/);
  });

  it('defaults to the role the Serverless Framework generates', () => {
    // Arrange
    const text =
      'functions:\n  a: { handler: functions/sweep.handler }\n  b: { handler: functions/on-event.handler }\n  c: { handler: functions/on-change.handler }\n';

    // Act
    const parsed = parseRoutes(text);

    // Assess
    expect(parsed).toEqual({
      eventPatterns: [],
      streamFilters: [],
      roles: { sweep: 'IamRoleLambdaExecution', onEvent: 'IamRoleLambdaExecution', onChange: 'IamRoleLambdaExecution' },
    });
  });
});
