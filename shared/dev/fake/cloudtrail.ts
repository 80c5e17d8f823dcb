/**
 * CloudTrail "AWS API Call via CloudTrail" events, shaped as EventBridge delivers them, for the
 * custom key store and HSM calls the reconciler's event rule listens to (`GET /_fake/cloudtrail`).
 * The fake records them at once; real CloudTrail delivers them minutes later.
 */
import type { Caller, Scope } from './context.js';
import * as random from './random.js';
import { lowerFirst, RawJson, type Reply, SENSITIVE_MEMBERS } from './wire.js';

/** By service name: the services and operations whose calls CloudTrail events are modelled for. */
const TRAILED: ReadonlyMap<string, { source: string; eventSource: string; operations: ReadonlySet<string> }> = new Map([
  [
    'KMS',
    {
      source: 'aws.kms',
      eventSource: 'kms.amazonaws.com',
      operations: new Set([
        'CreateCustomKeyStore',
        'ConnectCustomKeyStore',
        'DisconnectCustomKeyStore',
        'UpdateCustomKeyStore',
        'DeleteCustomKeyStore',
      ]),
    },
  ],
  [
    'CloudHSMV2',
    {
      source: 'aws.cloudhsm',
      eventSource: 'cloudhsm.amazonaws.com',
      operations: new Set(['CreateHsm', 'DeleteHsm']),
    },
  ],
]);

export interface TrailedCall {
  scope: Scope;
  caller: Caller;
  service: string;
  operation: string;
  /** Fake time, epoch milliseconds. */
  time: number;
  /** The parsed request body (`undefined` when it was not JSON). */
  request: unknown;
  reply?: Reply;
  error?: { type: string; message: string };
}

/** The CloudTrail event for a call, or `undefined` when CloudTrail events of it are not modelled. */
export function cloudTrailEvent(call: TrailedCall): object | undefined {
  const service = TRAILED.get(call.service);
  if (!service?.operations.has(call.operation)) return undefined;
  const { accountId, region } = call.scope;
  const time = new Date(call.time).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const roleArn = `arn:aws:iam::${accountId}:role/${call.caller.roleName}`;
  const response = call.reply instanceof RawJson ? undefined : call.reply;
  return {
    version: '0',
    id: random.uuid(),
    'detail-type': 'AWS API Call via CloudTrail',
    source: service.source,
    account: accountId,
    time,
    region,
    resources: [],
    detail: {
      eventVersion: '1.08',
      userIdentity: {
        type: 'AssumedRole',
        arn: `arn:aws:sts::${accountId}:assumed-role/${call.caller.roleName}/fake-session`,
        accountId,
        accessKeyId: call.caller.accessKeyId,
        sessionContext: { sessionIssuer: { type: 'Role', arn: roleArn, accountId, userName: call.caller.roleName } },
      },
      eventTime: time,
      eventSource: service.eventSource,
      eventName: call.operation,
      awsRegion: region,
      sourceIPAddress: '127.0.0.1',
      requestParameters: trailed(call.request) ?? null,
      responseElements: response && Object.keys(response).length > 0 ? trailed(response) : null,
      ...(call.error && { errorCode: call.error.type, errorMessage: call.error.message }),
      requestID: random.uuid(),
      eventID: random.uuid(),
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: accountId,
    },
  };
}

/** As CloudTrail logs request and response members: lower camel case keys, secrets left out. */
function trailed(value: unknown): unknown {
  return value === undefined ? undefined : withoutSecrets(JSON.parse(JSON.stringify(value)));
}

function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !SENSITIVE_MEMBERS.has(key))
      .map(([key, member]) => [lowerFirst(key), withoutSecrets(member)]),
  );
}
