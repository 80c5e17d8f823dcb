/**
 * A fleet against the fake: a central deployment (account 000000000000, us-east-1) and stores in
 * other accounts and Regions, each reached through its member role.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { ensureTable } from '../../shared/adapters/dynamodb-store.js';
import { loadConfig, loadFleetConfig } from '../../shared/config.js';
import { type DesiredStoreSpec, desiredSpecSchema } from '../../shared/domain/desired-schema.js';
import type { Scope } from '../../shared/domain/types.js';
import { makeLogger } from '../../shared/logger.js';
import { FleetRuntime } from '../../shared/runtime/fleet.js';
import type { TestFake } from './fake.js';
import { cloudHsmEntry, cloudHsmStore } from './world.js';

export const HOME: Scope = { accountId: '000000000000', region: 'us-east-1' };
export const MEMBER_ROLE = 'cks-reconciler-member';

/** A fleet runtime of the central deployment, its clock the fake's. */
export function fleetRuntime(fake: TestFake, table: string, logLines: string[] = []): FleetRuntime {
  const config = loadConfig({}, { tableName: table, region: HOME.region, endpoint: fake.url, eventBusName: 'cks-fleet' });
  return new FleetRuntime(config, loadFleetConfig({}), {
    accountId: HOME.accountId,
    owner: 'fleet-test',
    clock: { now: () => fake.now(), sleep: async () => undefined },
    credentials: { accessKeyId: 'reconciler', secretAccessKey: 'fake', sessionToken: 'SweepRole' },
    logger: makeLogger({ logLevel: 'DEBUG' }, {}, (line) => logLines.push(line)),
  });
}

export async function createTable(fake: TestFake, table: string): Promise<void> {
  await ensureTable(new DynamoDBClient(fake.config), table);
}

/** The member role in `accountId`, trusted by the central account (the StackSets template's role). */
export async function createMemberRole(fake: TestFake, accountId: string, trustedAccounts = [HOME.accountId]): Promise<void> {
  const { status } = await fake.admin('POST', '/_fake/roles', { accountId, roleName: MEMBER_ROLE, trustedAccounts });
  if (status !== 200) throw new Error(`POST /_fake/roles failed with ${status}`);
}

/**
 * A CONNECTED CloudHSM store in `scope` (created by that account's own operator), its password secret,
 * and its desired item written and its scope registered as `cks apply` does.
 */
export async function connectedStore(fake: TestFake, fleet: FleetRuntime, scope: Scope, name: string): Promise<{ storeId: string }> {
  const store = await cloudHsmStore(fake, { name, ...scope, connected: true, secret: true });
  const state = fleet.deps(scope).state;
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
