/**
 * SDK clients and the adapters over them, built once per cold start (or CLI run) and passed in.
 */
import { CloudHSMV2Client } from '@aws-sdk/client-cloudhsm-v2';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config.js';
import type { Clock, CloudHsmPort, EventsPort, HealthPort, KmsPort, SecretsPort } from '../reconcile/ports.js';
import { CloudHsmSdkAdapter } from './cloudhsm.js';
import { CloudWatchAdapter } from './cloudwatch.js';
import { EventBridgeAdapter } from './eventbridge.js';
import { KmsSdkAdapter } from './kms.js';
import { SecretsManagerAdapter } from './secrets.js';
import type { AwsCredentialIdentityProvider } from './sts.js';
import { TokenBucket } from './token-bucket.js';

/**
 * Attempts per call, the first included. With `retryMode: 'adaptive'` the SDK retries throttling and
 * 5xx with backoff and rate-limits itself client-side; what still fails is retried by a later run.
 */
const MAX_ATTEMPTS = 4;

/** The SDK clients, one per service. */
export interface AwsClients {
  kms: KMSClient;
  cloudHsm: CloudHSMV2Client;
  secrets: SecretsManagerClient;
  /** GetMetricData, for the health findings of external key stores. */
  cloudWatch: CloudWatchClient;
  eventBridge: EventBridgeClient;
  /** Document client that drops `undefined` attributes when writing. */
  dynamo: DynamoDBDocumentClient;
  /** For AssumeRole into the fleet's member accounts. */
  sts: STSClient;
}

/** The clients whose calls act in one account and Region: a fleet builds them per scope. */
export type ScopeClients = Pick<AwsClients, 'kms' | 'cloudHsm' | 'secrets' | 'cloudWatch'>;

/** The adapters the reconcile core takes (the table adapter is built beside them, from `clients.dynamo`). */
export interface AwsAdapters {
  kms: KmsPort;
  cloudHsm: CloudHsmPort;
  secrets: SecretsPort;
  health: HealthPort;
  events: EventsPort;
}

/**
 * Fixed credentials for local endpoints (tests, the demo). Against the fake a 12-digit access key id
 * is the account, and the session token is the caller's role name in its CloudTrail events.
 * Absent: the SDK's default credential chain.
 */
export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * One client per service, all in `config.region`. When `config.endpoint` is set it is given to every
 * client explicitly: `@aws-sdk/client-cloudhsm-v2` 3.332 ignores `AWS_ENDPOINT_URL`.
 */
export function makeAwsClients(config: Pick<Config, 'region' | 'endpoint'>, credentials?: StaticCredentials): AwsClients {
  const options = clientOptions(config, credentials);
  return {
    ...makeScopeClients(config, credentials),
    eventBridge: new EventBridgeClient(options),
    sts: new STSClient(options),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(options), {
      marshallOptions: { removeUndefinedValues: true },
      unmarshallOptions: { wrapNumbers: readNumber },
    }),
  };
}

/**
 * KMS, CloudHSM, Secrets Manager and CloudWatch clients for one Region, with the given credentials (an assumed
 * role's provider for a member account) or else the default chain.
 */
export function makeScopeClients(
  config: Pick<Config, 'region' | 'endpoint'>,
  credentials?: StaticCredentials | AwsCredentialIdentityProvider,
): ScopeClients {
  const options = clientOptions(config, credentials);
  return {
    kms: new KMSClient(options),
    cloudHsm: new CloudHSMV2Client(options),
    secrets: new SecretsManagerClient(options),
    cloudWatch: new CloudWatchClient(options),
  };
}

function clientOptions(config: Pick<Config, 'region' | 'endpoint'>, credentials?: StaticCredentials | AwsCredentialIdentityProvider) {
  return {
    region: config.region,
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'adaptive',
    ...(config.endpoint !== undefined && { endpoint: config.endpoint }),
    ...(credentials !== undefined && { credentials }),
  };
}

/** A number attribute JavaScript cannot hold exactly, read as itself so that the item's schema rejects it. */
export interface UnsafeNumber {
  unsafeNumber: string;
}

/**
 * Reads a DynamoDB number. One beyond JavaScript's precision would make the SDK throw and fail the
 * whole Query (every store of the scope); read as an {@link UnsafeNumber} instead, it fails only its
 * own item's validation, which reports and skips that item.
 */
export function readNumber(value: string): number | UnsafeNumber {
  const number = Number(value);
  return Number.isFinite(number) && Math.abs(number) <= Number.MAX_SAFE_INTEGER ? number : { unsafeNumber: value };
}

/**
 * The AWS adapters over `clients`. Every mutating call (KMS Connect/Disconnect/Update, CloudHSM
 * CreateHsm) draws from one token bucket at `config.mutationRatePerSecond`, burst 1: calls are spaced,
 * never bunched, whichever store or service they are for.
 */
export function makeAdapters(config: Pick<Config, 'eventBusName' | 'mutationRatePerSecond'>, clients: AwsClients, clock: Clock): AwsAdapters {
  const mutations = new TokenBucket({ ratePerSecond: config.mutationRatePerSecond, burst: 1, clock });
  return {
    kms: new KmsSdkAdapter(clients.kms, mutations),
    cloudHsm: new CloudHsmSdkAdapter(clients.cloudHsm, mutations),
    secrets: new SecretsManagerAdapter(clients.secrets),
    health: new CloudWatchAdapter(clients.cloudWatch),
    events: new EventBridgeAdapter(clients.eventBridge, config.eventBusName),
  };
}
