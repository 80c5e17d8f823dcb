/**
 * A fleet against the fake: a central deployment (account 000000000000, us-east-1) and stores in
 * other accounts and Regions, each reached through its member role (cloudformation/member-role.yml),
 * all under the stack's own policies (see `stack.ts`).
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { makeAwsClients } from '../../shared/adapters/clients.js';
import { ensureTable } from '../../shared/adapters/dynamodb-store.js';
import { loadConfig, loadFleetConfig } from '../../shared/config.js';
import type { FunctionRole, PrincipalKeys } from '../../shared/dev/iam/stack.js';
import { type DesiredStoreSpec, desiredSpecSchema } from '../../shared/domain/desired-schema.js';
import type { Scope } from '../../shared/domain/types.js';
import { makeLogger } from '../../shared/logger.js';
import { FleetRuntime } from '../../shared/runtime/fleet.js';
import type { TestFake } from './fake.js';
import { deployMember, deployStack, roleCredentials } from './stack.js';
import { cloudHsmEntry, cloudHsmStore } from './world.js';

export const HOME: Scope = { accountId: '000000000000', region: 'us-east-1' };
export const MEMBER_ROLE = 'cks-reconciler-member';

/**
 * Which of the stack's roles a fleet runtime acts as: `home` for the deployment's own scope, `reach`
 * for assuming member roles. The deployed sweep reconciles its own scope and the worker the others;
 * run without a queue, one runtime does both, each part as the role that does it when deployed.
 */
export interface FleetRoles {
  home: FunctionRole;
  reach: FunctionRole;
}

/** A fleet runtime of the central deployment, its clock the fake's. */
export function fleetRuntime(
  fake: TestFake,
  table: string,
  logLines: string[] = [],
  roles: FleetRoles = { home: 'SweepRole', reach: 'WorkerRole' },
): FleetRuntime {
  return runtimeAs(fake, table, logLines, {
    ...makeAwsClients(configOf(fake, table), roleCredentials(roles.home)),
    sts: stsOf(fake, table, roles.reach),
  });
}

/** A fleet runtime whose calls an operator holding the OperatorPolicy makes: what `cks` writes. */
export function operatorRuntime(fake: TestFake, table: string, operator: PrincipalKeys): FleetRuntime {
  return runtimeAs(fake, table, [], makeAwsClients(configOf(fake, table), operator));
}

function configOf(fake: TestFake, table: string) {
  return loadConfig({}, { tableName: table, region: HOME.region, endpoint: fake.url, eventBusName: 'cks-fleet' });
}

function stsOf(fake: TestFake, table: string, role: FunctionRole) {
  return makeAwsClients(configOf(fake, table), roleCredentials(role)).sts;
}

function runtimeAs(fake: TestFake, table: string, logLines: string[], clients: ReturnType<typeof makeAwsClients>): FleetRuntime {
  return new FleetRuntime(configOf(fake, table), loadFleetConfig({}), {
    accountId: HOME.accountId,
    owner: 'fleet-test',
    clock: { now: () => fake.now(), sleep: async () => undefined },
    clients,
    logger: makeLogger({ logLevel: 'DEBUG' }, {}, (line) => logLines.push(line)),
  });
}

/** The table (created by an administrator, as `cks init` is run) and the stack's IAM; returns the operator's keys. */
export async function createTable(fake: TestFake, table: string): Promise<PrincipalKeys> {
  await ensureTable(new DynamoDBClient(fake.config), table);
  return deployStack(fake, { table, eventBus: 'cks-fleet' });
}

/** The Regions the fleet tests' member roles allow. */
const FLEET_REGIONS = ['us-east-1', 'eu-west-1'];

/**
 * The member template's roles in `accountId` (cloudformation/member-role.yml: the member role trusted
 * by the function roles that act there, the read-only role by the home account); with
 * `trustedAccounts` given, only a member role of that name those accounts may assume instead.
 */
export async function createMemberRole(fake: TestFake, accountId: string, trustedAccounts?: string[]): Promise<void> {
  if (trustedAccounts === undefined) return deployMember(fake, accountId, FLEET_REGIONS);
  const { status } = await fake.admin('POST', '/_fake/roles', { accountId, roleName: MEMBER_ROLE, trustedAccounts });
  if (status !== 200) throw new Error(`POST /_fake/roles failed with ${status}`);
}

/**
 * A CONNECTED CloudHSM store in `scope` (created by that account's own operator), its password secret,
 * and its desired item written and its scope registered as `cks apply` does (`operator`: see {@link operatorRuntime}).
 */
export async function connectedStore(fake: TestFake, operator: FleetRuntime, scope: Scope, name: string): Promise<{ storeId: string }> {
  const store = await cloudHsmStore(fake, { name, ...scope, connected: true, secret: true });
  const state = operator.deps(scope).state;
  await state.putDesired([desiredSpecSchema.parse(cloudHsmEntry(store)) as DesiredStoreSpec], fake.now());
  await state.registerScope();
  return store;
}

/** A store's connection state and error code, as its own account sees it. */
export async function storeState(fake: TestFake, scope: Scope, name: string): Promise<string> {
  const out = await new KMSClient(fake.configFor(scope)).send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: name }));
  const store = out.CustomKeyStores![0]!;
  return `${store.ConnectionState}${store.ConnectionErrorCode ? ` ${store.ConnectionErrorCode}` : ''}`;
}
