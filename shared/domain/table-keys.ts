/**
 * The key layout of the desired-state table. One partition per account and Region holds every
 * store's DESIRED and STATUS items and the SETTINGS item, so a sweep reads it all with one (paged)
 * Query. History lives in its own partition per store.
 *
 *   pk = SCOPE#<accountId>#<region>    sk = STORE#<name>#DESIRED | STORE#<name>#STATUS | SETTINGS
 *   pk = HISTORY#<accountId>#<region>#<name>    sk = <iso time>#<reconcileId>
 *
 * Shared by the table adapter, which reads and writes these keys, and the stream trigger, which
 * reads which store a changed item belongs to.
 */
import type { Scope } from './types.js';

const STORE = 'STORE#';
const DESIRED = '#DESIRED';
const STATUS = '#STATUS';

/** The sort key of the settings item. */
export const SETTINGS_SK = 'SETTINGS';

/** The partition holding one account and Region's desired, status and settings items. */
export function partitionKey(scope: Scope): string {
  return `SCOPE#${scope.accountId}#${scope.region}`;
}

/** The sort key of a store's desired item. */
export function desiredKey(name: string): string {
  return `${STORE}${name}${DESIRED}`;
}

/** The sort key of a store's status item (which also holds its lease). */
export function statusKey(name: string): string {
  return `${STORE}${name}${STATUS}`;
}

/** The partition of one store's history items. */
export function historyPartitionKey(scope: Scope, name: string): string {
  return `HISTORY#${scope.accountId}#${scope.region}#${name}`;
}

/** The sort key of a history item: its time, then the run that wrote it. */
export function historySortKey(at: number, reconcileId: string): string {
  return `${new Date(at).toISOString()}#${reconcileId}`;
}

/** The store and kind of item a sort key names, or null for an item that is not a store's. */
export function parseStoreKey(sk: string): { name: string; kind: 'desired' | 'status' } | null {
  if (!sk.startsWith(STORE)) return null;
  if (sk.endsWith(DESIRED)) return { name: sk.slice(STORE.length, -DESIRED.length), kind: 'desired' };
  if (sk.endsWith(STATUS)) return { name: sk.slice(STORE.length, -STATUS.length), kind: 'status' };
  return null;
}

/** The store a desired item's sort key names (`STORE#<name>#DESIRED`), or null for any other item. */
export function storeNameOfDesiredKey(sk: string): string | null {
  const parsed = parseStoreKey(sk);
  return parsed?.kind === 'desired' ? parsed.name : null;
}
