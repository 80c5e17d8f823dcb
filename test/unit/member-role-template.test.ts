/**
 * The StackSets template of member accounts (cloudformation/member-role.yml): its role may do
 * exactly what the central reconciler's own policy lets it do in its own Region, is trusted only by
 * the roles it names from inside the organization, and its rule forwards exactly the CloudTrail
 * events the central onEvent rules listen to, less the member role's own.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Pair, parse, Scalar, type Tags, YAMLMap } from 'yaml';
import { type EventPattern, matchesPattern } from '../../shared/dev/demo/event-pattern.js';
import { CLOUDHSM_EVENT_NAMES, KMS_EVENT_NAMES } from '../../shared/runtime/triggers.js';

/** CloudFormation's short forms, read as their long forms (`!Ref X` → `{ Ref: X }`). */
const CFN_TAGS: Tags = ['Ref', 'Sub', 'GetAtt', 'Equals', 'And', 'Not', 'If', 'Join', 'Select', 'Split', 'FindInMap'].flatMap((name) => {
  const key = name === 'Ref' ? 'Ref' : `Fn::${name}`;
  return (['scalar', 'seq', 'map'] as const).map((kind) => ({
    tag: `!${name}`,
    ...(kind === 'scalar' ? {} : { collection: kind }),
    // A collection becomes a map node of one pair, so that anchors and aliases inside it resolve as everywhere else.
    resolve: (value: unknown) => {
      if (kind === 'scalar') return { [key]: value };
      const map = new YAMLMap();
      map.items.push(new Pair(new Scalar(key), value));
      return map;
    },
  }));
}) as Tags;

// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template, walked as the tests need
const load = (file: string): any => parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'), { customTags: CFN_TAGS });
const member = load('cloudformation/member-role.yml');
/** The central stack's IAM, as serverless.yml includes it. */
const centralIam = load('cloudformation/stack/iam.yml');
const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

interface Statement {
  Sid: string;
  Action: string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
const memberStatements = member.Resources.MemberRole.Properties.Policies[0].PolicyDocument.Statement as Statement[];
const actions = (statements: readonly Statement[]) => statements.flatMap((s) => list(s.Action)).sort();
/** aws:ResourceOrgID when the central stack names an organization, no condition otherwise. */
const ORG_BOUND = {
  'Fn::If': ['HasOrganization', { StringEquals: { 'aws:ResourceOrgID': '${self:custom.organizationId}' } }, { Ref: 'AWS::NoValue' }],
};

describe('the member account template', () => {
  it('lets the member role do exactly what the central reconciler does in its own account and Region', () => {
    const centralStatements = centralIam.Resources.ReconcilerPolicy.Properties.PolicyDocument.Statement as Statement[];
    expect(actions(memberStatements)).toEqual(actions(centralStatements));
    // Beyond the stores' services, only the read of the external key store metrics KMS publishes.
    expect(actions(memberStatements).filter((a) => !/^(kms|cloudhsm|secretsmanager):/.test(a))).toEqual(['cloudwatch:GetMetricData']);
  });

  it('binds every statement of the member role to the fleet’s Regions, and secrets to the prefix in this account', () => {
    for (const statement of memberStatements) {
      expect(statement.Condition?.StringEquals?.['aws:RequestedRegion'], statement.Sid).toEqual({ Ref: 'FleetRegions' });
    }
    const secrets = memberStatements.find((s) => s.Sid === 'ReadStoreSecrets')!;
    expect(secrets.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:${SecretPrefix}*' });
  });

  it('is trusted only by the named reconciler roles, from inside the organization, with one-hour sessions', () => {
    const role = member.Resources.MemberRole;
    expect(role.Condition).toBe('CreateRole');
    expect(role.Properties.RoleName).toEqual({ Ref: 'MemberRoleName' });
    expect(member.Parameters.MemberRoleName.Default).toBe('cks-reconciler-member');
    expect(role.Properties.MaxSessionDuration).toBe(3600);
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: { Ref: 'ReconcilerRoleArns' } },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'aws:PrincipalOrgID': { Ref: 'OrganizationId' } } },
      },
    ]);
    // The central stack lets the roles that act in member accounts assume it, by its name, in the
    // organization's accounts when it names one.
    for (const roleId of ['WorkerRole', 'OnEventRole', 'OnChangeRole']) {
      const statements = centralIam.Resources[roleId].Properties.Policies[0].PolicyDocument.Statement as Statement[];
      const assume = statements.find((s) => list(s.Action).includes('sts:AssumeRole'));
      expect(assume?.Resource, roleId).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:iam::*:role/${self:custom.memberRoleName}' });
      expect(assume?.Condition, roleId).toEqual(ORG_BOUND);
    }
  });

  it('gives people a read-only role: stores, clusters and secrets described, no secret value, no change', () => {
    const role = member.Resources.ReadOnlyRole;
    expect(role.Condition).toBe('CreateRole');
    expect(role.Properties.RoleName).toEqual({ Ref: 'ReadOnlyRoleName' });
    expect(member.Parameters.ReadOnlyRoleName.Default).toBe('cks-reconciler-member-read');
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: { Ref: 'ReadOnlyPrincipals' } },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'aws:PrincipalOrgID': { Ref: 'OrganizationId' } } },
      },
    ]);
    const statements = role.Properties.Policies[0].PolicyDocument.Statement as Statement[];
    expect(actions(statements)).toEqual([
      'cloudhsm:DescribeClusters',
      'kms:DescribeCustomKeyStores',
      'secretsmanager:DescribeSecret',
      'secretsmanager:ListSecretVersionIds',
    ]);
    expect(statements.find((s) => s.Sid === 'DescribeStoreSecrets')?.Resource).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:${SecretPrefix}*',
    });
    expect(member.Outputs.ReadOnlyRoleArn.Value).toEqual({ 'Fn::GetAtt': 'ReadOnlyRole.Arn' });
    // The operators' policy may assume it, and never the member role.
    const operator = centralIam.Resources.OperatorPolicy.Properties.PolicyDocument.Statement as Statement[];
    const assumable = operator.filter((s) => list(s.Action).includes('sts:AssumeRole'));
    expect(assumable.map((s) => [s.Resource, s.Condition])).toEqual([
      [{ 'Fn::Sub': 'arn:${AWS::Partition}:iam::*:role/${self:custom.memberReadRoleName}' }, ORG_BOUND],
    ]);
  });

  it('forwards the custom key store and HSM calls the central rules listen to, by anyone but the member role, to the central bus', () => {
    const rule = member.Resources.ForwardEventsRule;
    const pattern = rule.Properties.EventPattern;
    expect([...pattern.detail.eventName].sort()).toEqual([...KMS_EVENT_NAMES, ...CLOUDHSM_EVENT_NAMES].sort());
    expect(rule.Properties.Targets[0].Arn).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:events:${CentralRegion}:${CentralAccountId}:event-bus/default',
    });
    expect(member.Conditions.ForwardEvents).toEqual({
      'Fn::Not': [
        {
          'Fn::And': [
            { 'Fn::Equals': [{ Ref: 'AWS::AccountId' }, { Ref: 'CentralAccountId' }] },
            { 'Fn::Equals': [{ Ref: 'AWS::Region' }, { Ref: 'CentralRegion' }] },
          ],
        },
      ],
    });

    const memberRole = 'arn:aws:iam::444455556666:role/cks-reconciler-member';
    const resolved = JSON.parse(
      JSON.stringify(pattern).replace(
        /\{"Fn::Sub":"arn:\$\{AWS::Partition\}:iam::\$\{AWS::AccountId\}:role\/\$\{MemberRoleName\}"\}/,
        JSON.stringify(memberRole),
      ),
    ) as EventPattern;
    const call = (eventName: string, issuer?: string, errorCode?: string) => ({
      source: eventName.includes('Hsm') || eventName === 'DeleteCluster' ? 'aws.cloudhsm' : 'aws.kms',
      'detail-type': 'AWS API Call via CloudTrail',
      account: '444455556666',
      region: 'eu-west-1',
      detail: {
        eventSource: eventName.includes('Hsm') || eventName === 'DeleteCluster' ? 'cloudhsm.amazonaws.com' : 'kms.amazonaws.com',
        eventName,
        ...(errorCode && { errorCode }),
        userIdentity: issuer ? { sessionContext: { sessionIssuer: { arn: issuer } } } : { type: 'IAMUser' },
      },
    });
    const operator = 'arn:aws:iam::444455556666:role/AWSReservedSSO_Admin_0123456789abcdef';
    expect(matchesPattern(resolved, call('DisconnectCustomKeyStore', operator))).toBe(true);
    expect(matchesPattern(resolved, call('DeleteHsm'))).toBe(true);
    expect(matchesPattern(resolved, call('ConnectCustomKeyStore', memberRole))).toBe(false);
    // The member role is left out by its exact ARN: the read-only role's calls (its name begins with the
    // member role's) and a role of the member role's name under a path are people's, forwarded.
    expect(matchesPattern(resolved, call('DisconnectCustomKeyStore', `${memberRole}-read`))).toBe(true);
    expect(matchesPattern(resolved, call('DisconnectCustomKeyStore', 'arn:aws:iam::444455556666:role/ops/cks-reconciler-member'))).toBe(true);
    expect(matchesPattern(resolved, call('ConnectCustomKeyStore', operator, 'AccessDeniedException'))).toBe(false);
    expect(matchesPattern(resolved, call('Encrypt', operator))).toBe(false);
  });
});
