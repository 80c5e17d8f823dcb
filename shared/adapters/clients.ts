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
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Config } from '../config.js';
import type { Clock, CloudHsmPort, EventsPort, HealthPort, KmsPort, SecretsPort } from '../reconcile/ports.js';
import { CloudHsmSdkAdapter } from './cloudhsm.js';
import { CloudWatchAdapter } from './cloudwatch.js';
import { EventBridgeAdapter } from './eventbridge.js';
import { KmsSdkAdapter } from './kms.js';
import { backoffMs, type CallWindow, MAX_ATTEMPTS, MutatingCalls } from './mutating-calls.js';
import { SecretsManagerAdapter } from './secrets.js';
import type { AwsCredentialIdentityProvider } from './sts.js';
import { TokenBucket } from './token-bucket.js';

/** The longest the SDK waits between a read's attempts in all (its throttling backoff). */
const MAX_BACKOFF_MS = [1, 2, 3].reduce((sum, retry) => sum + backoffMs(retry), 0);

/** The lease a run holds a store with unless configured otherwise (`CKS_LEASE_TTL_MS`). */
const DEFAULT_LEASE_TTL_MS = 60_000;

/**
 * How long one attempt of a call may take (connecting, then waiting for the response), so that a
 * call, all its attempts and backoffs included, ends well inside the lease it is made under: a call
 * slower than the lease is abandoned by this run before another run can take the store.
 */
export function callTimeouts(leaseTtlMs: number): { connectionTimeout: number; requestTimeout: number; budgetMs: number } {
  const attemptMs = Math.floor((leaseTtlMs / 2 - MAX_BACKOFF_MS) / MAX_ATTEMPTS);
  // Short leases (tests) leave no room for the backoff: an attempt then gets an eighth of the lease.
  const perAttempt = attemptMs > 0 ? attemptMs : Math.floor(leaseTtlMs / (2 * MAX_ATTEMPTS));
  const connectionTimeout = Math.floor(perAttempt / 4);
  const requestTimeout = perAttempt - connectionTimeout;
  return { connectionTimeout, requestTimeout, budgetMs: MAX_ATTEMPTS * perAttempt + MAX_BACKOFF_MS };
}

/**
 * The window of a mutating call made under a lease of `leaseTtlMs`: half the lease, which was renewed just
 * before it (the reads made in between, such as the secret value of an update, fit in the other half), and the
 * longest one attempt takes.
 */
export function callWindow(leaseTtlMs: number): CallWindow {
  const { connectionTimeout, requestTimeout } = callTimeouts(leaseTtlMs);
  return { windowMs: leaseTtlMs / 2, attemptMs: connectionTimeout + requestTimeout };
}

/** Where the clients call, and the lease their calls must fit in (default 60 s). */
export type ClientConfig = Pick<Config, 'region' | 'endpoint'> & Partial<Pick<Config, 'leaseTtlMs'>>;

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
export function makeAwsClients(config: ClientConfig, credentials?: StaticCredentials): AwsClients {
  return {
    ...makeScopeClients(config, credentials),
    eventBridge: new EventBridgeClient(clientOptions(config, credentials)),
    sts: new STSClient(clientOptions(config, credentials)),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(clientOptions(config, credentials)), {
      marshallOptions: { removeUndefinedValues: true },
      unmarshallOptions: { wrapNumbers: readNumber },
    }),
  };
}

/**
 * KMS, CloudHSM, Secrets Manager and CloudWatch clients for one Region, with the given credentials (an assumed
 * role's provider for a member account) or else the default chain.
 */
export function makeScopeClients(config: ClientConfig, credentials?: StaticCredentials | AwsCredentialIdentityProvider): ScopeClients {
  return {
    kms: new KMSClient(clientOptions(config, credentials)),
    cloudHsm: new CloudHSMV2Client(clientOptions(config, credentials)),
    secrets: new SecretsManagerClient(clientOptions(config, credentials)),
    cloudWatch: new CloudWatchClient(clientOptions(config, credentials)),
  };
}

/** One client's options: its own HTTP handler, with the timeouts that fit the lease. */
function clientOptions(config: ClientConfig, credentials?: StaticCredentials | AwsCredentialIdentityProvider) {
  const { connectionTimeout, requestTimeout } = callTimeouts(config.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS);
  return {
    region: config.region,
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'adaptive',
    requestHandler: new NodeHttpHandler({ connectionTimeout, requestTimeout, throwOnRequestTimeout: true }),
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
 * CreateHsm) goes through one {@link MutatingCalls}: a token bucket at `config.mutationRatePerSecond`,
 * burst 1, spaces them (never bunched, whichever store or service they are for), only a throttled
 * one is sent again, and none is sent too late to end within the lease.
 */
export function makeAdapters(
  config: Pick<Config, 'eventBusName' | 'mutationRatePerSecond'> & Partial<Pick<Config, 'leaseTtlMs'>>,
  clients: AwsClients,
  clock: Clock,
): AwsAdapters {
  const bucket = new TokenBucket({ ratePerSecond: config.mutationRatePerSecond, burst: 1, clock });
  const mutations = new MutatingCalls(bucket, clock, callWindow(config.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS));
  return {
    kms: new KmsSdkAdapter(clients.kms, mutations),
    cloudHsm: new CloudHsmSdkAdapter(clients.cloudHsm, mutations),
    secrets: new SecretsManagerAdapter(clients.secrets),
    health: new CloudWatchAdapter(clients.cloudWatch),
    events: new EventBridgeAdapter(clients.eventBridge, config.eventBusName),
  };
}
