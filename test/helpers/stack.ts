/**
 * The stack's IAM deployed into a test's fake, as in a real account: each function's role with the
 * stack's policies, an operator holding the OperatorPolicy (what `cks` runs as), and member accounts'
 * roles from cloudformation/member-role.yml. What an administrator or AWS itself does to set a test
 * up (tables, clusters, stores, secrets) keeps the fake's allow-all keys; every call the product
 * makes runs under these.
 */
import { FakeAdmin } from '../../shared/dev/demo/admin.js';
import { deployMemberRole, deployStackIam, type FunctionRole, type PrincipalKeys, stackPolicies, stackTemplate } from '../../shared/dev/iam/stack.js';
import type { TestFake } from './fake.js';

/** The account and Region the stack is deployed in. */
export const STACK_HOME = { accountId: '000000000000', region: 'us-east-1' };

/**
 * Deploys the stack's IAM into the fake, its table and event bus named as the test names them;
 * returns the keys of an operator holding the OperatorPolicy.
 */
export async function deployStack(fake: TestFake, names: StackNames): Promise<PrincipalKeys> {
  return deployStackIam(new FakeAdmin(fake.url), await stackTemplate(), world(names));
}

/** How a test names the stack's table and event bus. */
export interface StackNames {
  table: string;
  eventBus?: string;
  /** The follow-up queue's name, when the functions run with another stage's (default: the template's). */
  followUpQueue?: string;
}

function world(names: StackNames) {
  return {
    ...STACK_HOME,
    names: {
      StoresTable: names.table,
      ...(names.eventBus !== undefined && { ReconcilerEventBus: names.eventBus }),
      ...(names.followUpQueue !== undefined && { FollowUpQueue: names.followUpQueue }),
    },
  };
}

/** Another operator (an IAM user named `userName`) holding the OperatorPolicy; returns its keys. */
export async function operatorPrincipal(fake: TestFake, names: StackNames, userName: string): Promise<PrincipalKeys> {
  const { operator } = stackPolicies(await stackTemplate(), world(names));
  return new FakeAdmin(fake.url).createPrincipal({ accountId: STACK_HOME.accountId, userName, policies: [operator] });
}

/**
 * A role holding the OperatorPolicy (as humans' roles hold it), which principals of the stack's account
 * may assume and give a source identity; returns its ARN.
 */
export async function operatorRole(fake: TestFake, names: StackNames, roleName: string): Promise<string> {
  const { operator } = stackPolicies(await stackTemplate(), world(names));
  await new FakeAdmin(fake.url).createRole({
    accountId: STACK_HOME.accountId,
    roleName,
    trustedAccounts: [STACK_HOME.accountId],
    policies: [operator],
  });
  return `arn:aws:iam::${STACK_HOME.accountId}:role/${roleName}`;
}

/** Deploys the member roles into `accountId` (the write role trusted by the function roles that act there, the read-only one by the home account), for the fleet's Regions. */
export async function deployMember(fake: TestFake, accountId: string, regions: string[]): Promise<void> {
  await deployMemberRole(new FakeAdmin(fake.url), STACK_HOME, accountId, regions);
}

/** Credentials of a function of the stack, as its role (the fake reads the session token as the role's name). */
export function roleCredentials(role: FunctionRole): {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
} {
  return { accessKeyId: 'reconciler', secretAccessKey: 'fake', sessionToken: role };
}
