/**
 * Authorizes a call for its principal with a real IAM policy evaluation engine
 * (`@cloud-copilot/iam-simulate`, which carries AWS's action, resource-type and condition-key data):
 * the principal's identity policies, the resource's policy (a role's trust policy, an event bus
 * policy), and the global condition keys AWS sets on every request, added to the keys the service
 * sets for the call. A call is one or more {@link AuthRequest}s (a DynamoDB transaction is one per
 * item); the first one denied refuses the call.
 */
import { runSimulation, type SingleResourceSimulationResult } from '@cloud-copilot/iam-simulate';
import type { Scope } from '../context.js';
import { type Principal, principalArn, principalUserId, roleArn } from '../sts/model.js';
import { ALLOW_ALL, type IamBackend, type PolicyDocument } from './model.js';

/** One action on one resource, as IAM evaluates it. */
export interface AuthRequest {
  /** `service:Action`, e.g. `dynamodb:PutItem`. */
  action: string;
  /** The resource ARN, or `*` for actions without a resource type. */
  resource: string;
  /** The account that owns the resource. */
  resourceAccount: string;
  /** Service-specific condition keys (`dynamodb:LeadingKeys`, `sts:RoleSessionName`, …). */
  context?: Record<string, string | string[]>;
  /** The resource's own policy (a trust policy, an event bus policy), when it has one. */
  resourcePolicy?: PolicyDocument | undefined;
}

/** A refused request, worded as AWS words it. */
export interface Denial {
  action: string;
  resource: string;
  message: string;
}

/** What the authorizer reads of the world. */
export interface IamView {
  iam: IamBackend;
  sts: { role(arn: string): { policies: PolicyDocument[] | null } | undefined };
}

/** The ARN IAM matches against `aws:PrincipalArn`: the role of a session, else the principal itself. */
export function principalArnKey(principal: Principal): string {
  const { session, roleName, accountId } = principal;
  if (session) return roleArn(session);
  if (!principal.user && roleName !== null) return roleArn({ accountId, roleName });
  return principalArn(principal);
}

/**
 * The identity policies that apply to the principal's requests: a user's own, a session's role's, and
 * for a caller that names a role in its session token (see `server.ts`) that role's when the account
 * has it; everyone else may do everything.
 */
function identityPolicies(view: IamView, principal: Principal): PolicyDocument[] {
  if (principal.user) return principal.user.policies;
  const { session, roleName, accountId } = principal;
  const role = session ? view.sts.role(roleArn(session)) : roleName === null ? undefined : view.sts.role(roleArn({ accountId, roleName }));
  return role?.policies ?? [ALLOW_ALL];
}

/**
 * The global condition keys of a request by this principal in this scope. Not the time keys
 * (`aws:CurrentTime`, `aws:EpochTime`): decisions are remembered, and no policy here uses them.
 */
function globalContext(view: IamView, principal: Principal, scope: Scope, resourceAccount: string): Record<string, string> {
  const principalOrg = view.iam.organizationOf(principal.accountId);
  const resourceOrg = view.iam.organizationOf(resourceAccount);
  const sourceIdentity = principal.session?.sourceIdentity ?? null;
  return {
    'aws:PrincipalArn': principalArnKey(principal),
    'aws:PrincipalAccount': principal.accountId,
    'aws:PrincipalType': principal.session || principal.roleName !== null ? 'AssumedRole' : 'User',
    'aws:userid': principalUserId(principal),
    ...(principal.user && { 'aws:username': principal.user.userName }),
    'aws:RequestedRegion': scope.region,
    'aws:ResourceAccount': resourceAccount,
    ...(principalOrg !== undefined && { 'aws:PrincipalOrgID': principalOrg }),
    ...(resourceOrg !== undefined && { 'aws:ResourceOrgID': resourceOrg }),
    ...(sourceIdentity !== null && { 'aws:SourceIdentity': sourceIdentity }),
  };
}

/** The first request the principal may not make, or undefined when every one is allowed. */
export async function authorize(view: IamView, principal: Principal, scope: Scope, requests: readonly AuthRequest[]): Promise<Denial | undefined> {
  const policies = identityPolicies(view, principal);
  for (const request of requests) {
    // Everything allowed, nothing else to consult: the engine would say Allowed.
    const trivial = policies.length === 1 && policies[0] === ALLOW_ALL && !request.resourcePolicy && request.resourceAccount === principal.accountId;
    if (trivial) continue;
    const context = { ...globalContext(view, principal, scope, request.resourceAccount), ...request.context };
    // The ARN names whose policies apply, but a user the admin API made and an unknown key may share one.
    const key = JSON.stringify([
      principalArn(principal),
      principal.user?.userId ?? null,
      request.action,
      request.resource,
      request.resourceAccount,
      context,
      request.resourcePolicy ?? null,
    ]);
    let denial = view.iam.decision(key);
    if (denial === undefined) {
      denial = (await evaluate(principal, policies, request, context)) ?? null;
      view.iam.remember(key, denial);
    }
    if (denial) return denial;
  }
  return undefined;
}

async function evaluate(
  principal: Principal,
  policies: PolicyDocument[],
  request: AuthRequest,
  context: Record<string, string | string[]>,
): Promise<Denial | undefined> {
  const arn = principalArn(principal);
  const result = await runSimulation(
    {
      request: {
        principal: arn,
        action: request.action,
        resource: { resource: request.resource, accountId: request.resourceAccount },
        contextVariables: context,
      },
      identityPolicies: policies.map((policy, i) => ({ name: `policy-${i + 1}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(request.resourcePolicy && { resourcePolicy: request.resourcePolicy }),
    },
    { simulationMode: 'Strict' },
  );
  if (result.resultType === 'error') {
    throw new Error(`IAM evaluation of ${request.action} on ${request.resource} failed: ${result.errors.message} ${JSON.stringify(result.errors)}`);
  }
  if (result.overallResult === 'Allowed') return undefined;
  const analysis = result.resultType === 'single' ? (result as SingleResourceSimulationResult).result.analysis : result.results[0]?.analysis;
  return { action: request.action, resource: request.resource, message: denialMessage(arn, request, analysis) };
}

/**
 * "User: <arn> is not authorized to perform: <action> on resource: <arn> because no identity-based
 * policy allows the <action> action", or "… with an explicit deny in an identity-based policy".
 * Actions without a resource type name none.
 */
function denialMessage(arn: string, request: AuthRequest, analysis: SingleResourceSimulationResult['result']['analysis'] | undefined): string {
  const head = `User: ${arn} is not authorized to perform: ${request.action}${request.resource === '*' ? '' : ` on resource: ${request.resource}`}`;
  if (analysis?.identityAnalysis?.result === 'ExplicitlyDenied') return `${head} with an explicit deny in an identity-based policy`;
  if (analysis?.resourceAnalysis?.result === 'ExplicitlyDenied') return `${head} with an explicit deny in a resource-based policy`;
  const identityAllows = analysis?.identityAnalysis?.result === 'Allowed';
  return `${head} because no ${identityAllows ? 'resource-based' : 'identity-based'} policy allows the ${request.action} action`;
}
