/**
 * SDK clients against the in-process fake, with fixed credentials. The session token names the
 * caller's IAM role: the fake reports it in CloudTrail events as
 * `arn:aws:iam::000000000000:role/<token>`, which is how the on-event rules tell the reconciler's own
 * calls (its roles' logical ids in `serverless.yml`) from everybody else's.
 */
import { CloudHSMV2Client } from '@aws-sdk/client-cloudhsm-v2';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AwsClients } from '../adapters/clients.js';

/** SDK client configuration for `endpoint`, calling as the role `roleName`. */
export function demoClientOptions(endpoint: string, region: string, roleName: string) {
  return { endpoint, region, credentials: { accessKeyId: 'demo', secretAccessKey: 'demo', sessionToken: roleName } };
}

/** One client per service at `endpoint`, calling as the role `roleName`. */
export function demoClients(endpoint: string, region: string, roleName: string): AwsClients {
  const options = demoClientOptions(endpoint, region, roleName);
  return {
    kms: new KMSClient(options),
    cloudHsm: new CloudHSMV2Client(options),
    secrets: new SecretsManagerClient(options),
    eventBridge: new EventBridgeClient(options),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(options), { marshallOptions: { removeUndefinedValues: true } }),
  };
}
