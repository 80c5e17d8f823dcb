/**
 * `POST /` in the query protocol: STS `GetCallerIdentity` and `AssumeRole`, answered in XML as STS
 * answers them. Injected faults apply as to every other call.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { REGION_PATTERN, type Scope } from '../context.js';
import { AwsError, injectedStatus, queryCodeOf } from '../errors.js';
import { type AuthRequest, authorize } from '../iam/authorize.js';
import * as random from '../random.js';
import type { World } from '../world.js';
import { element, errorResponse, leaf } from '../xml.js';
import { type Principal, principalArn, principalUserId, roleArn } from './model.js';
import { parseAssumeRole, parseQuery, parseRoleArn, STS_VERSION, ValidationError } from './requests.js';

/** What the server sends back and records of one STS call. */
export interface QueryReply {
  operation: string;
  status: number;
  /** The XML body. */
  body: string;
  /** The error code when the call failed. */
  error?: string;
  /** The role ARN an AssumeRole is about (for `/_fake/calls`). */
  target?: string;
  /** The call named a known action: it counts in `/_fake/calls` counts. */
  counted: boolean;
  /** IAM refused the call. */
  denied?: boolean;
}

const XMLNS = `https://sts.amazonaws.com/doc/${STS_VERSION}/`;

/** The refusal of a query-protocol service (STS, CloudWatch): HTTP 403, code `AccessDenied`. */
export class AccessDenied extends AwsError {
  constructor(message: string) {
    super('AccessDenied', message, 403);
  }
}

interface ActionContext {
  world: World;
  scope: Scope;
  principal: Principal;
  params: URLSearchParams;
  /** Whether IAM policies are evaluated (`--iam off`: not). */
  iam: boolean;
}

type Action = (context: ActionContext) => Promise<string>;

const ACTIONS: ReadonlyMap<string, Action> = new Map<string, Action>([
  [
    // Needs no permission, in AWS as here.
    'GetCallerIdentity',
    async ({ principal }) => leaf('Arn', principalArn(principal)) + leaf('UserId', principalUserId(principal)) + leaf('Account', principal.accountId),
  ],
  [
    'AssumeRole',
    async ({ world, scope, principal, params, iam }) => {
      const input = parseAssumeRole(params);
      const role = world.sts.role(roleArn(parseRoleArn(input.RoleArn)));
      const refused = `User: ${principalArn(principal)} is not authorized to perform: sts:AssumeRole on resource: ${input.RoleArn}`;
      if (!role) throw new AccessDenied(refused);
      // A source identity, once set, stays with every session assumed from it.
      const sourceIdentity = principal.session?.sourceIdentity ?? input.SourceIdentity ?? null;
      if (iam) {
        const trust = (action: string): AuthRequest => ({
          action,
          resource: roleArn(role),
          resourceAccount: role.accountId,
          resourcePolicy: role.trustPolicy,
          context: {
            'sts:RoleSessionName': input.RoleSessionName,
            ...(input.SourceIdentity !== undefined && { 'sts:SourceIdentity': input.SourceIdentity }),
          },
        });
        // Setting a source identity is its own permission, granted by the trust policy.
        const requests = [trust('sts:AssumeRole'), ...(input.SourceIdentity === undefined ? [] : [trust('sts:SetSourceIdentity')])];
        const denial = await authorize(world, principal, scope, requests);
        if (denial)
          throw new AccessDenied(`User: ${principalArn(principal)} is not authorized to perform: ${denial.action} on resource: ${input.RoleArn}`);
      }
      // Every role here has the default MaxSessionDuration of one hour.
      if (input.DurationSeconds > 3600) {
        throw new ValidationError('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
      }
      const session = world.sts.startSession(role, input.RoleSessionName, sourceIdentity, input.DurationSeconds, world.now());
      const credentials =
        leaf('AccessKeyId', session.accessKeyId) +
        leaf('SecretAccessKey', session.secretAccessKey) +
        leaf('SessionToken', session.sessionToken) +
        leaf('Expiration', new Date(session.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'));
      const user =
        leaf('AssumedRoleId', `${role.roleId}:${session.sessionName}`) +
        leaf('Arn', `arn:aws:sts::${role.accountId}:assumed-role/${role.roleName}/${session.sessionName}`);
      return (
        element('Credentials', credentials) +
        element('AssumedRoleUser', user) +
        (sourceIdentity === null ? '' : leaf('SourceIdentity', sourceIdentity))
      );
    },
  ],
]);

/** Answers one query-protocol request; never throws for a bad request (it becomes an XML error). */
export async function answerStsQuery(world: World, scope: Scope, principal: Principal, body: Buffer, iam: boolean): Promise<QueryReply> {
  let operation = '';
  let target: string | undefined;
  let counted = false;
  try {
    if (!REGION_PATTERN.test(scope.region)) {
      throw new AwsError('InvalidSignatureException', `Credential should be scoped to a valid Region, not '${scope.region}'.`, 403);
    }
    const query = parseQuery(body);
    operation = query.action;
    target = query.params.get('RoleArn') ?? undefined;
    const action = ACTIONS.get(operation);
    if (!action) throw new AwsError('InvalidAction', `Could not find operation ${operation} for version ${STS_VERSION}`, 400);
    counted = true;
    await admitQueryCall(world, scope, principal, operation);
    const result = await action({ world, scope, principal, params: query.params, iam });
    const requestId = random.uuid();
    return {
      operation,
      counted,
      status: 200,
      body:
        `<${operation}Response xmlns="${XMLNS}">` +
        element(`${operation}Result`, result) +
        element('ResponseMetadata', leaf('RequestId', requestId)) +
        `</${operation}Response>`,
      ...(target !== undefined && { target }),
    };
  } catch (error) {
    return { ...queryErrorReply(XMLNS, error, operation, counted), ...(target !== undefined && { target }) };
  }
}

/** A query-protocol call that failed with an AWS error, as an XML error reply; anything else is rethrown. */
export function queryErrorReply(xmlns: string, error: unknown, operation: string, counted: boolean): QueryReply {
  if (!(error instanceof AwsError)) throw error;
  return {
    operation,
    counted,
    status: error.status,
    body: errorResponse(xmlns, error),
    error: queryCodeOf(error),
    ...(error instanceof AccessDenied && { denied: true }),
  };
}

/**
 * What every query-protocol call goes through once its action is known: an injected fault (latency,
 * error), the world brought to the current time, and the caller's credentials checked.
 */
export async function admitQueryCall(world: World, scope: Scope, principal: Principal, operation: string): Promise<void> {
  const fault = world.takeFault(operation, scope);
  if (fault && fault.latencyMs > 0) await sleep(fault.latencyMs);
  world.sync();
  if (fault?.error) throw new AwsError(fault.error, `Injected fault: ${fault.error}.`, injectedStatus(fault.error));
  checkCredentials(principal, world.now(), 'query');
}

/**
 * Refuses credentials that no longer work: an expired session, or an `ASIA…` key id the fake never
 * handed out (e.g. from before a reset). Codes and statuses differ by protocol, as in AWS: the JSON
 * services answer 400, STS (query) 403.
 */
export function checkCredentials(principal: Principal, now: number, protocol: 'json' | 'query'): void {
  const status = protocol === 'json' ? 400 : 403;
  if (principal.session && principal.session.expiresAt <= now) {
    throw new AwsError(
      protocol === 'json' ? 'ExpiredTokenException' : 'ExpiredToken',
      'The security token included in the request is expired',
      status,
    );
  }
  if (!principal.session && principal.accessKeyId.startsWith('ASIA')) {
    const message = 'The security token included in the request is invalid.';
    throw new AwsError(protocol === 'json' ? 'UnrecognizedClientException' : 'InvalidClientTokenId', message, status);
  }
}
