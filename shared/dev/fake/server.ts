/**
 * The local AWS: one HTTP server on one loopback port playing KMS (custom key stores), CloudHSM v2,
 * Secrets Manager, EventBridge, CloudWatch, SQS and DynamoDB, dispatched on `X-Amz-Target`, plus the admin API under
 * `/_fake/`. Every request is authorized for its principal by IAM policy evaluation (iam/) unless
 * IAM is off, and answered: an unexpected failure is logged and answered with an AWS-shaped 500.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleAdmin } from './admin.js';
import { type ClockMode, FakeClock } from './clock.js';
import { cloudHsmOperations } from './cloudhsm/operations.js';
import { cloudTrailEvent } from './cloudtrail.js';
import { answerCloudWatchQuery, cloudWatchOperations } from './cloudwatch/operations.js';
import { CLOUDWATCH_VERSION } from './cloudwatch/requests.js';
import { type Caller, DEFAULT_SCOPE, REGION_PATTERN, type Scope } from './context.js';
import { DynamoForwarder, type ForwardedResponse } from './dynamodb.js';
import {
  AwsError,
  CloudHsmInternalFailureException,
  InternalException,
  InternalFailure,
  InternalServerError,
  InternalServiceError,
  InvalidSignatureException,
  injectedStatus,
  KMSInternalException,
  queryCodeOf,
  SerializationException,
  UnknownOperationException,
  ValidationException,
} from './errors.js';
import { eventBridgeOperations } from './eventbridge/operations.js';
import { type AuthRequest, authorize, type Denial } from './iam/authorize.js';
import { dynamoRequests } from './iam/dynamodb.js';
import { jsonServiceRequests } from './iam/requests.js';
import { DEFAULT_STORE_QUOTA } from './kms/model.js';
import { kmsOperations } from './kms/operations.js';
import * as random from './random.js';
import { secretsOperations } from './secrets/operations.js';
import { sqsOperations } from './sqs/operations.js';
import { type Principal, principalArn } from './sts/model.js';
import { answerStsQuery, checkCredentials } from './sts/operations.js';
import { RawJson, type Reply } from './wire.js';
import { type CallContext, type Operation, World } from './world.js';

/** Options of {@link startFake}; the CLI flags of `npm run fake` map onto them. */
export interface FakeOptions {
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** `real` (default): fake time runs at `timeScale` × real time; `manual`: only `advance` moves it. */
  clock?: ClockMode;
  /** Fake seconds per real second with the real clock (default 1). */
  timeScale?: number;
  /** Custom key stores allowed per account and Region (default 10, as in AWS). */
  storeQuota?: number;
  /** Account-Region partitions the world holds at most (default 256). */
  maxPartitions?: number;
  /**
   * Whether every request is authorized for its principal by IAM policy evaluation (default true);
   * false (`--iam off`) allows everything.
   */
  iam?: boolean;
  /** Receives one line per call and every unexpected error; silent when absent. Never sees a secret. */
  logger?: (line: string) => void;
  /** Receives every answer of the AWS API (not the admin API) as sent, e.g. to check it against the service models. */
  onResponse?: (response: FakeResponse) => void;
}

/** One answer of the AWS API, as sent on the wire. */
export interface FakeResponse {
  /** As in `/_fake/calls`: `KMS`, `CloudHSMV2`, `SecretsManager`, `EventBridge`, `DynamoDB`, `STS`. */
  service: string;
  operation: string;
  status: number;
  contentType: string;
  body: Buffer;
}

/** A running fake. */
export interface FakeServer {
  /** `http://127.0.0.1:<port>`: the endpoint for SDK clients, the AWS CLI and the admin API. */
  readonly url: string;
  readonly port: number;
  /** Stops the server and its DynamoDB emulators. */
  close(): Promise<void>;
  /** Moves fake time forward and applies every transition that falls due (any clock mode). */
  advance(seconds: number): void;
  /** Fake time, epoch milliseconds. */
  now(): number;
}

interface Service {
  /** The name used in `/_fake/calls` (`KMS.ConnectCustomKeyStore`). */
  name: string;
  /** CloudHSM's and Secrets Manager's error shapes spell the message member `Message`. */
  messageKey: 'message' | 'Message';
  Internal: new (message: string) => AwsError;
  /** The JSON protocol version: DynamoDB speaks 1.0, the others 1.1. */
  contentType: string;
  /** Handled here, or forwarded to the DynamoDB emulator when absent. */
  operations?: ReadonlyMap<string, Operation>;
  /** JSON 1.0 services that also speak the query protocol send the query error code in `x-amzn-query-error`. */
  queryCompatible?: boolean;
}

const JSON_1_0 = 'application/x-amz-json-1.0';
const JSON_1_1 = 'application/x-amz-json-1.1';

/** By `X-Amz-Target` prefix. */
const SERVICES: ReadonlyMap<string, Service> = new Map<string, Service>([
  ['TrentService', { name: 'KMS', messageKey: 'message', Internal: KMSInternalException, contentType: JSON_1_1, operations: kmsOperations }],
  [
    'BaldrApiService',
    { name: 'CloudHSMV2', messageKey: 'Message', Internal: CloudHsmInternalFailureException, contentType: JSON_1_1, operations: cloudHsmOperations },
  ],
  [
    'secretsmanager',
    { name: 'SecretsManager', messageKey: 'Message', Internal: InternalServiceError, contentType: JSON_1_1, operations: secretsOperations },
  ],
  [
    'AWSEvents',
    { name: 'EventBridge', messageKey: 'message', Internal: InternalException, contentType: JSON_1_1, operations: eventBridgeOperations },
  ],
  [
    'GraniteServiceVersion20100801',
    {
      name: 'CloudWatch',
      messageKey: 'message',
      Internal: InternalFailure,
      contentType: JSON_1_0,
      operations: cloudWatchOperations,
      queryCompatible: true,
    },
  ],
  [
    'AmazonSQS',
    { name: 'SQS', messageKey: 'message', Internal: InternalFailure, contentType: JSON_1_0, operations: sqsOperations, queryCompatible: true },
  ],
  ['DynamoDB_20120810', { name: 'DynamoDB', messageKey: 'message', Internal: InternalServerError, contentType: JSON_1_0 }],
]);

/** DynamoDB's exception names carry its namespace, as the emulator's do. */
const DYNAMODB_NAMESPACE = 'com.amazonaws.dynamodb.v20120810#';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Starts the fake and resolves once it listens. */
export async function startFake(options: FakeOptions = {}): Promise<FakeServer> {
  const clock = new FakeClock(options.clock ?? 'real', options.timeScale ?? 1);
  const world = new World(clock, options.storeQuota ?? DEFAULT_STORE_QUOTA, options.maxPartitions);
  const dynamo = new DynamoForwarder();
  const iamEnabled = options.iam ?? true;
  const log = options.logger ?? ((): void => undefined);
  const observe = options.onResponse;
  const stamp = (): string => new Date(world.now()).toISOString();

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (body === undefined) return sendError(res, new AwsError('SerializationException', 'Request body too large.', 413));
    const url = URL.parse(req.url ?? '/', 'http://127.0.0.1');
    if (url === null) return sendError(res, new ValidationException(`The request target ${req.url} is not a valid URL.`));
    if (url.pathname.startsWith('/_fake/')) return admin(req, res, url, body);
    if (isQueryProtocol(req)) return query(req, res, body);
    return aws(req, res, body);
  }

  async function admin(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer): Promise<void> {
    world.sync();
    const method = req.method ?? 'GET';
    let status: number;
    let text: string;
    try {
      const input = body.length === 0 ? undefined : parseJson(body, 'The request body is not valid JSON.');
      const reply = await handleAdmin(world, dynamo, method, url, input);
      status = reply.status;
      text = JSON.stringify(reply.body);
    } catch (error) {
      if (!(error instanceof AwsError)) throw error;
      status = error.status;
      text = errorBody(error.type, 'message', error.message);
    }
    log(`${stamp()} admin ${method} ${url.pathname} -> ${status}`);
    send(res, status, text, 'application/json');
  }

  async function aws(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const target = req.headers['x-amz-target'];
    const [prefix = '', operation = ''] = typeof target === 'string' ? target.split(/\.(.*)/s) : [];
    const service = SERVICES.get(prefix);
    const { scope, caller, principal } = identify(req.headers, world);
    let request: unknown;
    let reply: Reply | undefined;
    let forwarded: ForwardedResponse | undefined;
    let error: AwsError | undefined;
    let denial: Denial | undefined;
    /** The call reached an operation of a partition: it counts in `/_fake/calls` counts. */
    let counted = false;
    try {
      if (!REGION_PATTERN.test(scope.region)) {
        throw new InvalidSignatureException(
          `Credential should be scoped to a valid Region, not '${scope.region}' (a Region matches ${REGION_PATTERN.source}).`,
        );
      }
      if (!service || (service.operations && !service.operations.has(operation))) {
        throw new UnknownOperationException(`Unknown operation ${String(target ?? '(no X-Amz-Target)')}.`);
      }
      const call: CallContext = { world, partition: world.partition(scope), scope, caller };
      counted = service.operations !== undefined;
      if (service.operations) request = parseJson(body, 'The request body is not valid JSON.');
      const fault = world.takeFault(operation, scope);
      if (fault && fault.latencyMs > 0) await sleep(fault.latencyMs);
      world.sync();
      if (fault?.error) throw new AwsError(fault.error, `Injected fault: ${fault.error}.`, injectedStatus(fault.error));
      checkCredentials(principal, world.now(), 'json');
      if (iamEnabled) {
        denial = await authorize(world, principal, scope, await authRequests(service, operation, call, request, req.headers, body));
        if (denial) throw new AwsError('AccessDeniedException', denial.message, 400);
      }
      if (service.operations) reply = service.operations.get(operation)!(call, request);
      else {
        forwarded = await dynamo.forward(scope, req.headers, body);
        counted = forwarded.errorType !== 'UnknownOperationException';
        if (['CreateTable', 'UpdateTable', 'DeleteTable'].includes(operation)) dynamo.forgetTable(scope, dynamoTable(body) ?? '');
      }
    } catch (thrown) {
      if (thrown instanceof AwsError) error = thrown;
      else {
        log(`${stamp()} internal error in ${prefix}.${operation}: ${thrown instanceof Error ? thrown.stack : String(thrown)}`);
        error = new (service?.Internal ?? InternalFailure)('An internal error occurred in the fake.');
      }
    }

    const serviceName = service?.name ?? 'Unknown';
    const errorType = error?.type ?? forwarded?.errorType;
    const targetName = targetOf(request);
    const record = {
      time: stamp(),
      ...scope,
      service: serviceName,
      operation,
      principal: principalArn(principal),
      ...(targetName !== undefined && { target: targetName }),
      ...(errorType !== undefined && { error: errorType }),
      ...(denial !== undefined && { denied: true as const }),
    };
    world.recordCall(record, counted);
    const trail = cloudTrailEvent({
      scope,
      caller,
      service: serviceName,
      operation,
      time: world.now(),
      request,
      reply,
      error: error && { type: error.type, message: error.message },
    });
    if (trail) world.cloudtrail.push({ scope, event: trail });
    const status = error?.status ?? forwarded?.status ?? 200;
    log(
      `${stamp()} ${scope.accountId}/${scope.region} ${serviceName}.${operation}` +
        `${targetName === undefined ? '' : ` ${targetName}`} -> ${status}${errorType === undefined ? '' : ` ${errorType}`}`,
    );

    const contentType = service?.contentType ?? JSON_1_1;
    let sent: string | readonly Buffer[];
    if (error) {
      const type = service?.name === 'DynamoDB' ? `${DYNAMODB_NAMESPACE}${error.type}` : error.type;
      sent = errorBody(type, service?.messageKey ?? 'message', error.message);
      const queryError = service?.queryCompatible === true ? `${queryCodeOf(error)};${error.status >= 500 ? 'Receiver' : 'Sender'}` : undefined;
      send(res, error.status, sent, contentType, error.type, queryError);
    } else if (forwarded) {
      sent = [forwarded.body];
      res.writeHead(forwarded.status, { ...forwarded.headers, 'content-length': forwarded.body.length });
      res.end(forwarded.body);
    } else {
      sent = reply instanceof RawJson ? reply.parts : JSON.stringify(reply);
      send(res, 200, sent, contentType);
    }
    observe?.({
      service: serviceName,
      operation,
      status,
      contentType: forwarded?.headers['content-type'] ?? contentType,
      body: typeof sent === 'string' ? Buffer.from(sent) : Buffer.concat(sent),
    });
  }

  /** What IAM evaluates for a call: DynamoDB's from its request body and the table's key schema. */
  async function authRequests(
    service: Service,
    operation: string,
    call: CallContext,
    request: unknown,
    headers: http.IncomingHttpHeaders,
    body: Buffer,
  ): Promise<AuthRequest[]> {
    if (service.operations)
      return jsonServiceRequests(service.name, operation, request as Record<string, unknown>, call.scope, call.partition, world.iam);
    let input: Record<string, unknown> = {};
    try {
      input = parseJson(body, '');
    } catch {
      // A body that is not JSON: the emulator answers it with its own SerializationException.
    }
    return dynamoRequests(operation, input, call.scope, (table, index) => dynamo.hashKey(call.scope, headers, table, index));
  }

  /** STS and CloudWatch (by the API version) in the query protocol: recorded and logged like every other call, answered in XML. */
  async function query(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const { scope, principal } = identify(req.headers, world);
    const params = new URLSearchParams(body.toString('utf8'));
    const service = params.get('Version') === CLOUDWATCH_VERSION ? 'CloudWatch' : 'STS';
    const reply =
      service === 'CloudWatch'
        ? await answerCloudWatchQuery(world, scope, principal, params, iamEnabled)
        : await answerStsQuery(world, scope, principal, body, iamEnabled);
    const { operation, status, error, target } = reply;
    const record = {
      time: stamp(),
      ...scope,
      service,
      operation,
      principal: principalArn(principal),
      ...(target !== undefined && { target }),
      ...(error !== undefined && { error }),
      ...(reply.denied && { denied: true as const }),
    };
    world.recordCall(record, reply.counted);
    log(`${stamp()} ${scope.accountId}/${scope.region} ${service}.${operation} -> ${status}${error === undefined ? '' : ` ${error}`}`);
    send(res, status, reply.body, 'text/xml');
    observe?.({ service, operation, status, contentType: 'text/xml', body: Buffer.from(reply.body) });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (req.socket.destroyed) return; // the client went away: nobody to answer
      log(`${stamp()} internal error: ${error instanceof Error ? error.stack : String(error)}`);
      if (res.headersSent) res.destroy();
      else sendError(res, new InternalFailure('An internal error occurred in the fake.'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await dynamo.close();
    },
    advance: (seconds) => {
      clock.advance(seconds);
      world.sync();
    },
    now: () => clock.now(),
  };
}

/**
 * Account and Region from the SigV4 credential scope (`Credential=<key>/<date>/<region>/...`): the
 * account is the access key id when that is 12 digits, or the role's account for a key from STS
 * AssumeRole. Signatures are not verified.
 *
 * The caller's role name is taken from `x-amz-security-token` when it looks like a role name — a
 * fake simplification (a real token is opaque) that lets tests act as different roles.
 */
function identify(headers: http.IncomingHttpHeaders, world: World): { scope: Scope; caller: Caller; principal: Principal } {
  const match = /Credential=([^/,\s]+)\/\d{8}\/([^/,\s]+)\//.exec(headers.authorization ?? '');
  const accessKeyId = match?.[1] ?? 'anonymous';
  const token = headers['x-amz-security-token'];
  const namedRole = typeof token === 'string' && /^[\w+=,.@-]{1,64}$/.test(token) ? token : null;
  // Credentials from STS AssumeRole act in the role's account, as the role.
  const principal = world.sts.principal(accessKeyId, namedRole, DEFAULT_SCOPE.accountId, world.iam.user(accessKeyId));
  const scope: Scope = { accountId: principal.accountId, region: match?.[2] ?? DEFAULT_SCOPE.region };
  return { scope, caller: { accessKeyId, roleName: principal.roleName ?? 'fake-caller' }, principal };
}

/** STS's query protocol: a form-encoded POST with no `X-Amz-Target`. */
function isQueryProtocol(req: http.IncomingMessage): boolean {
  return req.headers['x-amz-target'] === undefined && (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

/** The TableName of a DynamoDB request body, when it has one. */
function dynamoTable(body: Buffer): string | undefined {
  try {
    const { TableName } = parseJson(body, '');
    return typeof TableName === 'string' ? TableName : undefined;
  } catch {
    return undefined;
  }
}

/** The store, cluster or secret a call is about (for `/_fake/calls`); DynamoDB calls have none. */
function targetOf(request: unknown): string | undefined {
  if (typeof request !== 'object' || request === null) return undefined;
  const fields = request as Record<string, unknown>;
  for (const key of ['CustomKeyStoreId', 'CustomKeyStoreName', 'ClusterId', 'SecretId', 'Name']) {
    if (typeof fields[key] === 'string') return fields[key];
  }
  return undefined;
}

/** A JSON object body; JSON `null` members count as absent, as in AWS. */
function parseJson(body: Buffer, message: string): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'), (_key, member: unknown) => (member === null ? undefined : member));
  } catch {
    throw new SerializationException(message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SerializationException('The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

function errorBody(type: string, messageKey: 'message' | 'Message', message: string): string {
  return JSON.stringify({ __type: type, [messageKey]: message });
}

/** An error answered before the request is dispatched to a service. */
function sendError(res: http.ServerResponse, error: AwsError): void {
  send(res, error.status, errorBody(error.type, 'message', error.message), JSON_1_1, error.type);
}

function send(
  res: http.ServerResponse,
  status: number,
  body: string | readonly Buffer[],
  contentType = JSON_1_1,
  errorType?: string,
  queryError?: string,
): void {
  const parts = typeof body === 'string' ? [Buffer.from(body)] : body;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': parts.reduce((length, part) => length + part.length, 0),
    'x-amzn-requestid': random.uuid(),
    ...(errorType !== undefined && { 'x-amzn-errortype': errorType }),
    ...(queryError !== undefined && { 'x-amzn-query-error': queryError }),
  });
  res.cork();
  for (const part of parts) res.write(part);
  res.uncork();
  res.end();
}

/** The whole request body, or `undefined` when it exceeds the limit. */
async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
