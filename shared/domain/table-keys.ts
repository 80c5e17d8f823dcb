/**
 * The key layout of the desired-state table. What operators write and what the reconciler writes
 * live in different partitions, so that IAM (`dynamodb:LeadingKeys`) can keep the reconciler's roles
 * from ever writing a desired item, an approval or the settings:
 *
 *   pk = DESIRED#<accountId>#<region>   sk = STORE#<name>#DESIRED | STORE#<name>#APPROVAL | SETTINGS   (operators)
 *   pk = SCOPE#<accountId>#<region>     sk = STORE#<name>#STATUS | REGIONAL | SETTINGS                 (the reconciler)
 *   pk = HISTORY#<accountId>#<region>#<name>    sk = <iso time>#<reconcileId>                          (the reconciler)
 *   pk = REGISTRY                       sk = SCOPE#<accountId>#<region>                                  (operators: `cks apply`)
 *
 * The reconciler partition also holds the settings in force (a weakening of the desired settings
 * comes into force there only with two persons' signatures) and a scope's UNREACHABLE mark while it
 * cannot be reached. The registry lists every other account and Region that stores were applied to
 * (the deployment's own is always reconciled): the fleet's coordinator reads it with one Query.
 *
 * A pass reads each of the first two partitions with one (paged) Query. Shared by the table adapter,
 * which reads and writes these keys, and the stream trigger, which reads which store a changed item
 * belongs to.
 */
import type { Scope } from './types.js';

const STORE = 'STORE#';
const DESIRED = '#DESIRED';
const APPROVAL = '#APPROVAL';
const STATUS = '#STATUS';

/** Prefixes of the partitions operators write and the reconciler writes (for IAM conditions and stream filters). */
export const OPERATOR_PARTITION_PREFIX = 'DESIRED#';
export const RECONCILER_PARTITION_PREFIXES = ['SCOPE#', 'HISTORY#'] as const;

/** The sort key of the settings item: the desired settings (operator partition), the settings in force (reconciler partition). */
export const SETTINGS_SK = 'SETTINGS';
/** The sort key of the regional-incident mark (reconciler partition). */
export const REGIONAL_SK = 'REGIONAL';
/** The sort key of the unreachable-scope mark (reconciler partition). */
export const UNREACHABLE_SK = 'UNREACHABLE';

/** The partition of the scope registry (operators' data: the reconciler reads it, never writes it). */
export const REGISTRY_PK = 'REGISTRY';

/** The registry's sort key of a scope. */
export function registryKey(scope: Scope): string {
  return `SCOPE#${scope.accountId}#${scope.region}`;
}

/** The partition of one account and Region's desired items, approvals and settings. */
export function operatorPartitionKey(scope: Scope): string {
  return `${OPERATOR_PARTITION_PREFIX}${scope.accountId}#${scope.region}`;
}

/** The account and Region of an operators' partition key (`DESIRED#<accountId>#<region>`), or null for any other key. */
export function scopeOfOperatorPartition(pk: string): Scope | null {
  const [prefix, accountId, region, ...rest] = pk.split('#');
  return `${prefix}#` === OPERATOR_PARTITION_PREFIX && accountId && region && rest.length === 0 ? { accountId, region } : null;
}

/** The partition of one account and Region's status items (which hold the leases) and regional-incident mark. */
export function partitionKey(scope: Scope): string {
  return `SCOPE#${scope.accountId}#${scope.region}`;
}

/** The sort key of a store's desired item. */
export function desiredKey(name: string): string {
  return `${STORE}${name}${DESIRED}`;
}

/** The sort key of a store's approval item (`cks approve`). */
export function approvalKey(name: string): string {
  return `${STORE}${name}${APPROVAL}`;
}

/** The sort key of a store's status item (which also holds its lease). */
export function statusKey(name: string): string {
  return `${STORE}${name}${STATUS}`;
}

/** The partition of one store's history items. */
export function historyPartitionKey(scope: Scope, name: string): string {
  return `HISTORY#${scope.accountId}#${scope.region}#${name}`;
}

/** The sort key of the lease on one KMS store, whichever desired name acts on it (reconciler partition). */
export function storeIdLeaseKey(storeId: string): string {
  return `LEASE#${storeId}`;
}

/** The sort key of a history item: its time, then the run that wrote it. */
export function historySortKey(at: number, reconcileId: string): string {
  return `${new Date(at).toISOString()}#${reconcileId}`;
}

/** The store and kind of item a sort key names, or null for an item that is not a store's. */
export function parseStoreKey(sk: string): { name: string; kind: 'desired' | 'approval' | 'status' } | null {
  if (!sk.startsWith(STORE)) return null;
  if (sk.endsWith(DESIRED)) return { name: sk.slice(STORE.length, -DESIRED.length), kind: 'desired' };
  if (sk.endsWith(APPROVAL)) return { name: sk.slice(STORE.length, -APPROVAL.length), kind: 'approval' };
  if (sk.endsWith(STATUS)) return { name: sk.slice(STORE.length, -STATUS.length), kind: 'status' };
  return null;
}

/** The store an operator's item names (`STORE#<name>#DESIRED` or `#APPROVAL`), or null for any other item. */
export function storeNameOfOperatorKey(sk: string): string | null {
  const parsed = parseStoreKey(sk);
  return parsed !== null && parsed.kind !== 'status' ? parsed.name : null;
}
