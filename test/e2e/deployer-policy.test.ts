/**
 * cloudformation/deployer-policy.json: the least a principal needs to `serverless deploy` (and
 * remove) this stack. Every resource type of the packaged template maps to the IAM actions
 * CloudFormation calls with the deployer's credentials to create, update and delete it (as each
 * type's resource schema lists its handlers' permissions, for the properties this stack sets); the
 * policy allows each of them, and nothing else, with no wildcard action.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_TIMEOUT_MS, packagedService, templateFile } from '../helpers/package.js';

interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}
const policy = JSON.parse(readFileSync(new URL('../../cloudformation/deployer-policy.json', import.meta.url), 'utf8')) as {
  Statement: Statement[];
};

/**
 * What `serverless deploy` and `remove` call themselves: the stack and its change sets, the artifacts
 * in the deployment bucket (`remove` empties it, versions included), and the deployed functions'
 * code, to skip a deployment that changes nothing.
 */
const SERVERLESS_DEPLOY = [
  'cloudformation:CreateChangeSet',
  'cloudformation:CreateStack',
  'cloudformation:DeleteChangeSet',
  'cloudformation:DeleteStack',
  'cloudformation:DescribeChangeSet',
  'cloudformation:DescribeStackEvents',
  'cloudformation:DescribeStackResource',
  'cloudformation:DescribeStackResources',
  'cloudformation:DescribeStacks',
  'cloudformation:ExecuteChangeSet',
  'cloudformation:GetTemplate',
  'cloudformation:ListStackResources',
  'cloudformation:UpdateStack',
  'cloudformation:ValidateTemplate',
  's3:DeleteObject',
  's3:GetObject',
  's3:ListBucket',
  's3:ListBucketVersions',
  's3:PutObject',
  'lambda:GetFunction',
];

/** The actions CloudFormation needs to create, update and delete each resource type this stack uses. */
const RESOURCE_TYPE_ACTIONS: Record<string, string[]> = {
  'AWS::S3::Bucket': [
    's3:CreateBucket',
    's3:DeleteBucket',
    's3:GetBucketLocation',
    's3:GetBucketPublicAccessBlock',
    's3:GetEncryptionConfiguration',
    's3:PutBucketPublicAccessBlock',
    's3:PutEncryptionConfiguration',
  ],
  'AWS::CloudWatch::Dashboard': ['cloudwatch:DeleteDashboards', 'cloudwatch:GetDashboard', 'cloudwatch:PutDashboard'],
  'AWS::S3::BucketPolicy': ['s3:DeleteBucketPolicy', 's3:GetBucketPolicy', 's3:PutBucketPolicy'],
  'AWS::Logs::LogGroup': [
    'logs:CreateLogGroup',
    'logs:DeleteLogGroup',
    'logs:DeleteRetentionPolicy',
    'logs:DescribeLogGroups',
    'logs:ListTagsForResource',
    'logs:PutRetentionPolicy',
    'logs:TagResource',
    'logs:UntagResource',
  ],
  'AWS::Lambda::Function': [
    'iam:PassRole',
    'lambda:CreateFunction',
    'lambda:DeleteFunction',
    'lambda:DeleteFunctionConcurrency',
    'lambda:GetFunction',
    'lambda:GetFunctionConfiguration',
    'lambda:ListTags',
    'lambda:ListVersionsByFunction',
    'lambda:PutFunctionConcurrency',
    'lambda:TagResource',
    'lambda:UntagResource',
    'lambda:UpdateFunctionCode',
    'lambda:UpdateFunctionConfiguration',
  ],
  'AWS::Lambda::EventInvokeConfig': [
    'lambda:DeleteFunctionEventInvokeConfig',
    'lambda:GetFunctionEventInvokeConfig',
    'lambda:PutFunctionEventInvokeConfig',
    'lambda:UpdateFunctionEventInvokeConfig',
  ],
  'AWS::Lambda::Permission': ['lambda:AddPermission', 'lambda:GetPolicy', 'lambda:RemovePermission'],
  'AWS::Lambda::EventSourceMapping': [
    'dynamodb:DescribeStream',
    'dynamodb:ListStreams',
    'lambda:CreateEventSourceMapping',
    'lambda:DeleteEventSourceMapping',
    'lambda:GetEventSourceMapping',
    'lambda:UpdateEventSourceMapping',
    'sqs:GetQueueAttributes',
  ],
  'AWS::Events::Rule': [
    'events:DeleteRule',
    'events:DescribeRule',
    'events:DisableRule',
    'events:EnableRule',
    'events:ListTargetsByRule',
    'events:PutRule',
    'events:PutTargets',
    'events:RemoveTargets',
    'iam:PassRole',
  ],
  'AWS::Events::EventBus': [
    'events:CreateEventBus',
    'events:DeleteEventBus',
    'events:DescribeEventBus',
    'events:ListTagsForResource',
    'events:TagResource',
    'events:UntagResource',
  ],
  'AWS::Events::EventBusPolicy': ['events:DescribeEventBus', 'events:PutPermission', 'events:RemovePermission'],
  'AWS::Events::Connection': [
    'events:CreateConnection',
    'events:DeleteConnection',
    'events:DescribeConnection',
    'events:UpdateConnection',
    'secretsmanager:CreateSecret',
    'secretsmanager:DeleteSecret',
    'secretsmanager:DescribeSecret',
    'secretsmanager:PutSecretValue',
    'secretsmanager:UpdateSecret',
  ],
  'AWS::Events::ApiDestination': [
    'events:CreateApiDestination',
    'events:DeleteApiDestination',
    'events:DescribeApiDestination',
    'events:UpdateApiDestination',
  ],
  'AWS::DynamoDB::Table': [
    'dynamodb:CreateTable',
    'dynamodb:DeleteTable',
    'dynamodb:DescribeContinuousBackups',
    'dynamodb:DescribeTable',
    'dynamodb:DescribeTimeToLive',
    'dynamodb:ListTagsOfResource',
    'dynamodb:TagResource',
    'dynamodb:UntagResource',
    'dynamodb:UpdateContinuousBackups',
    'dynamodb:UpdateTable',
    'dynamodb:UpdateTimeToLive',
  ],
  'AWS::SQS::Queue': [
    'sqs:CreateQueue',
    'sqs:DeleteQueue',
    'sqs:GetQueueAttributes',
    'sqs:GetQueueUrl',
    'sqs:ListQueueTags',
    'sqs:SetQueueAttributes',
    'sqs:TagQueue',
    'sqs:UntagQueue',
  ],
  'AWS::SQS::QueuePolicy': ['sqs:GetQueueAttributes', 'sqs:SetQueueAttributes'],
  'AWS::IAM::Role': [
    'iam:AttachRolePolicy',
    'iam:CreateRole',
    'iam:DeleteRole',
    'iam:DeleteRolePolicy',
    'iam:DetachRolePolicy',
    'iam:GetRole',
    'iam:GetRolePolicy',
    'iam:ListAttachedRolePolicies',
    'iam:ListRolePolicies',
    'iam:PutRolePolicy',
    'iam:TagRole',
    'iam:UntagRole',
    'iam:UpdateAssumeRolePolicy',
    'iam:UpdateRole',
    'iam:UpdateRoleDescription',
  ],
  'AWS::IAM::ManagedPolicy': [
    'iam:CreatePolicy',
    'iam:CreatePolicyVersion',
    'iam:DeletePolicy',
    'iam:DeletePolicyVersion',
    'iam:GetPolicy',
    'iam:GetPolicyVersion',
    'iam:ListEntitiesForPolicy',
    'iam:ListPolicyVersions',
    'iam:TagPolicy',
    'iam:UntagPolicy',
  ],
  'AWS::KMS::Key': [
    'kms:CreateKey',
    'kms:DescribeKey',
    'kms:EnableKeyRotation',
    'kms:GetKeyPolicy',
    'kms:GetKeyRotationStatus',
    'kms:ListResourceTags',
    'kms:PutKeyPolicy',
    'kms:ScheduleKeyDeletion',
    'kms:TagResource',
    'kms:UntagResource',
    'kms:UpdateKeyDescription',
  ],
  'AWS::SNS::Topic': [
    'sns:CreateTopic',
    'sns:DeleteTopic',
    'sns:GetTopicAttributes',
    'sns:ListSubscriptionsByTopic',
    'sns:ListTagsForResource',
    'sns:SetTopicAttributes',
    'sns:TagResource',
    'sns:UntagResource',
  ],
  'AWS::SNS::TopicPolicy': ['sns:SetTopicAttributes'],
  'AWS::SNS::Subscription': ['sns:GetSubscriptionAttributes', 'sns:Subscribe', 'sns:Unsubscribe'],
  'AWS::CloudWatch::Alarm': [
    'cloudwatch:DeleteAlarms',
    'cloudwatch:DescribeAlarms',
    'cloudwatch:ListTagsForResource',
    'cloudwatch:PutMetricAlarm',
    'cloudwatch:TagResource',
    'cloudwatch:UntagResource',
  ],
};

/** Actions AWS defines no resource type for: only these may have Resource '*'. */
const NO_RESOURCE_TYPE = ['cloudformation:ValidateTemplate', 'kms:CreateKey', 'lambda:CreateEventSourceMapping'];

const allowed = new Set(policy.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => s.Action));
let types: string[];

beforeAll(async () => {
  const template = JSON.parse(readFileSync(templateFile(await packagedService()), 'utf8')) as { Resources: Record<string, { Type: string }> };
  types = [...new Set(Object.values(template.Resources).map((r) => r.Type))].sort();
}, PACKAGE_TIMEOUT_MS);

describe('the deployer policy', () => {
  it('knows the actions of every resource type in the packaged template', () => {
    expect(types.filter((type) => !(type in RESOURCE_TYPE_ACTIONS))).toEqual([]);
  });

  it('allows every action CloudFormation needs for each resource type, and what serverless deploy calls itself', () => {
    for (const type of types) {
      expect(
        RESOURCE_TYPE_ACTIONS[type]!.filter((action) => !allowed.has(action)),
        type,
      ).toEqual([]);
    }
    expect(SERVERLESS_DEPLOY.filter((action) => !allowed.has(action))).toEqual([]);
  });

  it('allows nothing the stack does not need', () => {
    const needed = new Set([...SERVERLESS_DEPLOY, ...types.flatMap((type) => RESOURCE_TYPE_ACTIONS[type]!)]);
    expect([...allowed].filter((action) => !needed.has(action))).toEqual([]);
  });

  it("grants no wildcard action, and Resource '*' only to actions AWS defines no resource type for", () => {
    for (const statement of policy.Statement) {
      expect(statement.Effect, statement.Sid).toBe('Allow');
      for (const action of statement.Action) expect(action, statement.Sid).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
      if ([statement.Resource].flat().includes('*')) expect(NO_RESOURCE_TYPE, statement.Sid).toEqual(expect.arrayContaining(statement.Action));
    }
  });

  it("scopes every named resource to the stack's names (cks-reconciler-<stage>...), and passes roles only to Lambda and EventBridge", () => {
    const named = policy.Statement.flatMap((s) => [s.Resource].flat()).filter((arn) => arn !== '*');
    expect(named.filter((arn) => !/cks-reconciler-|event-bus\/default$|:key\/\*$|event-source-mapping:\*$|:log-group:\*$/.test(arn))).toEqual([]);
    const passRole = policy.Statement.find((s) => s.Action.includes('iam:PassRole'))!;
    expect(passRole.Resource).toBe('arn:aws:iam::*:role/cks-reconciler-*');
    expect(passRole.Condition).toEqual({ StringEquals: { 'iam:PassedToService': ['lambda.amazonaws.com', 'events.amazonaws.com'] } });
  });
});
