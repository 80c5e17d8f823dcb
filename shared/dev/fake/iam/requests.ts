/**
 * What IAM evaluates for a call of the JSON services the fake models (KMS, CloudHSM, Secrets
 * Manager, EventBridge, CloudWatch, SQS): the action, the resource ARN as AWS defines it for that action, and the
 * condition keys the service sets. KMS custom key store actions and CloudHSM's DescribeClusters have
 * no resource type (`*`).
 */
import type { Scope } from '../context.js';
import type { Partition } from '../world.js';
import type { AuthRequest } from './authorize.js';
import type { IamBackend } from './model.js';

/** IAM's service prefix by the fake's service name. */
const PREFIXES: Readonly<Record<string, string>> = {
  KMS: 'kms',
  CloudHSMV2: 'cloudhsm',
  SecretsManager: 'secretsmanager',
  EventBridge: 'events',
  CloudWatch: 'cloudwatch',
  SQS: 'sqs',
};

type Fields = Record<string, unknown>;

const text = (fields: Fields, key: string): string | undefined => (typeof fields[key] === 'string' ? fields[key] : undefined);

/** The requests to authorize for one call of a modelled JSON service. */
export function jsonServiceRequests(
  service: string,
  operation: string,
  input: Fields,
  scope: Scope,
  partition: Partition,
  iam: IamBackend,
): AuthRequest[] {
  const prefix = PREFIXES[service];
  if (prefix === undefined) throw new Error(`No IAM service prefix for ${service}.`);
  const action = `${prefix}:${operation}`;
  const own = (resource: string): AuthRequest => ({ action, resource, resourceAccount: scope.accountId });
  switch (prefix) {
    case 'kms': {
      // Custom key store actions, CreateKey and GenerateRandom have no resource type; a key's actions are on the key.
      const keyRef = text(input, 'KeyId');
      if (keyRef === undefined) return [{ ...own('*'), context: { 'kms:CallerAccount': scope.accountId } }];
      const arn = keyRef.startsWith('arn:') ? keyRef : `arn:aws:kms:${scope.region}:${scope.accountId}:key/${keyRef}`;
      const key = partition.keys.all().find((k) => k.arn === arn);
      return [
        {
          ...own(arn),
          context: { 'kms:CallerAccount': scope.accountId, ...(key && { 'kms:KeyOrigin': key.origin }) },
          resourcePolicy: key?.policy,
        },
      ];
    }
    // GetMetricData has no resource type.
    case 'cloudwatch':
      return [own('*')];
    case 'cloudhsm': {
      const clusterId = text(input, 'ClusterId');
      return [own(clusterId === undefined ? '*' : `arn:aws:cloudhsm:${scope.region}:${scope.accountId}:cluster/${clusterId}`)];
    }
    // A queue by its URL, or by its name in the caller's account (CreateQueue, GetQueueUrl). A batch
    // action is authorized as its single action (SendMessageBatch as sqs:SendMessage), as in SQS.
    case 'sqs': {
      const [name = '', accountId = scope.accountId] = (text(input, 'QueueUrl') ?? text(input, 'QueueName') ?? '').split('/').reverse();
      return [{ action: action.replace(/Batch$/, ''), resource: `arn:aws:sqs:${scope.region}:${accountId}:${name}`, resourceAccount: accountId }];
    }
    case 'secretsmanager': {
      const id = text(input, 'SecretId') ?? text(input, 'Name') ?? '';
      const arn =
        partition.secrets.find(id)?.arn ?? (id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${scope.region}:${scope.accountId}:secret:${id}`);
      return [{ ...own(arn), resourceAccount: arn.split(':')[4] ?? scope.accountId }];
    }
    default:
      return busRequests(action, input, scope, iam);
  }
}

/** PutEvents: one request per event bus its entries name (a name in this account and Region, or an ARN). */
function busRequests(action: string, input: Fields, scope: Scope, iam: IamBackend): AuthRequest[] {
  const entries = Array.isArray(input.Entries) ? (input.Entries as Fields[]) : [];
  const buses = new Set(
    entries.map((entry) => {
      const name = typeof entry === 'object' && entry !== null ? (text(entry, 'EventBusName') ?? 'default') : 'default';
      return name.startsWith('arn:') ? name : `arn:aws:events:${scope.region}:${scope.accountId}:event-bus/${name}`;
    }),
  );
  return [...buses].map((arn) => ({
    action,
    resource: arn,
    resourceAccount: arn.split(':')[4] ?? scope.accountId,
    resourcePolicy: iam.busPolicy(arn),
  }));
}
