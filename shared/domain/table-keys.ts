/**
 * The key layout of the desired-state table. What operators write and what the reconciler writes
 * live in different partitions, so that IAM (`dynamodb:LeadingKeys`) can keep the reconciler's roles
 * from ever writing a desired item, a signature or the settings:
 *
 *   pk = DESIRED#<accountId>#<region>   sk = STORE#<name>#DESIRED | SETTINGS                            (operators)
 *   pk = SIGNER#<signer>                sk = DESIRED#<accountId>#<region>#<subject>#<generation>#<digest>  (that signer only)
 *   pk = SCOPE#<accountId>#<region>     sk = STORE#<name>#STATUS | REGIONAL | SETTINGS                 (the reconciler)
 *   pk = HISTORY#<accountId>#<region>#<name>    sk = <iso time>#<reconcileId>                          (the reconciler)
 *   pk = REGISTRY                       sk = SCOPE#<accountId>#<region>                                  (operators: `cks apply`)
 *   pk = CLOSED                         sk = SCOPE#<accountId>#<region>                                  (the reconciler)
 *
 * A signature lives in its signer's own partition, which IAM lets a principal write only under its
 * own identity (`SIGNER#source/${aws:SourceIdentity}` or `SIGNER#principal/${aws:userid}`): who signed
 * is a fact IAM proved, not an attribute anyone could write. Its sort key is what was signed; its
 * `scopePk` and `subject` attributes are the keys of the index {@link SIGNATURES_INDEX}, through which a
 * pass reads a scope's signatures with one (paged) Query.
 *
 * The reconciler partition also holds the settings in force (a weakening of the desired settings
 * comes into force there only with two persons' signatures) and a scope's UNREACHABLE mark while it
 * cannot be reached. The registry lists every other account and Region that stores were applied to
 * (the deployment's own is always reconciled): the fleet's coordinator reads it with one Query. Each
 * registration has an id, renewed by every `cks apply` there; the reconciler closes a scope none of whose
 * stores is declared any more by marking that registration closed (CLOSED partition, one Query too),
 * and a later registration, which a closed mark does not name, opens the scope again.
 *
 * A pass reads each of the first two partitions with one (paged) Query. Shared by the table adapter,
 * which reads and writes these keys, and the stream trigger, which reads which store a changed item
 * belongs to.
 */
import type { Scope } from './types.js';

const STORE = 'STORE#';
const DESIRED = '#DESIRED';
const STATUS = '#STATUS';

/** Prefixes of the partitions operators write and the reconciler writes (for IAM conditions and stream filters). */
export const OPERATOR_PARTITION_PREFIX = 'DESIRED#';
export const RECONCILER_PARTITION_PREFIXES = ['SCOPE#', 'HISTORY#'] as const;

/** The prefix of a signer's partition (`SIGNER#<signer>`). */
export const SIGNER_PARTITION_PREFIX = 'SIGNER#';
/** The index of signatures by the scope and subject they sign (pk `scopePk`, sk `subject`). */
export const SIGNATURES_INDEX = 'BySubject';

/** The sort key of the settings item: the desired settings (operator partition), the settings in force (reconciler partition). */
export const SETTINGS_SK = 'SETTINGS';
/** The sort key of the regional-incident mark (reconciler partition). */
export const REGIONAL_SK = 'REGIONAL';
/** The sort key of the unreachable-scope mark (reconciler partition). */
export const UNREACHABLE_SK = 'UNREACHABLE';

/** The partition of the scope registry (operators' data: the reconciler reads it, never writes it). */
export const REGISTRY_PK = 'REGISTRY';

/** The partition of the reconciler's marks of closed registrations (sort keys as the registry's). */
export const CLOSED_PK = 'CLOSED';

/** The registry's sort key of a scope (and of its closed mark). */
export function registryKey(scope: Scope): string {
  return `SCOPE#${scope.accountId}#${scope.region}`;
}

/** The partition of one account and Region's desired items and settings. */
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

/** The partition of one signer's signatures. */
export function signerPartitionKey(signer: string): string {
  return `${SIGNER_PARTITION_PREFIX}${signer}`;
}

/** The signer of a signer's partition key, or null for any other key. */
export function signerOfPartition(pk: string): string | null {
  return pk.startsWith(SIGNER_PARTITION_PREFIX) ? pk.slice(SIGNER_PARTITION_PREFIX.length) : null;
}

/** The subject of a store's signatures. */
export function storeSubject(name: string): string {
  return `${STORE}${name}`;
}

/** The subject of the settings' signatures. */
export const SETTINGS_SUBJECT = SETTINGS_SK;

/** The store a subject names, or null for the settings. */
export function storeOfSubject(subject: string): string | null {
  return subject.startsWith(STORE) ? subject.slice(STORE.length) : null;
}

/** The sort key of a signature: what is signed (the scope's operator partition, the subject, the generation, the digest). */
export function signatureSortKey(scopePk: string, subject: string, generation: number, digest: string): string {
  return `${scopePk}#${subject}#${generation}#${digest}`;
}

/** The scope and subject a signature's sort key signs (`DESIRED#<account>#<region>#<subject>#<generation>#<digest>`), or null for any other key. */
export function signedSubject(sk: string): { scope: Scope; subject: string } | null {
  const parts = sk.split('#');
  if (parts.length < 6) return null;
  const scope = scopeOfOperatorPartition(parts.slice(0, 3).join('#'));
  const subject = parts.slice(3, -2).join('#');
  return scope === null || parseSignatureSortKey(sk, operatorPartitionKey(scope), subject) === null ? null : { scope, subject };
}

/**
 * What a signature's sort key signs, read from both ends (a store name may hold `#`), when it signs
 * `subject` of the operator partition `scopePk`; null for any other key.
 */
export function parseSignatureSortKey(sk: string, scopePk: string, subject: string): { generation: number; digest: string } | null {
  const head = `${scopePk}#${subject}#`;
  if (!sk.startsWith(head)) return null;
  const match = /^(0|[1-9]\d{0,15})#([0-9a-f]{64})$/.exec(sk.slice(head.length));
  return match ? { generation: Number(match[1]), digest: String(match[2]) } : null;
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
export function parseStoreKey(sk: string): { name: string; kind: 'desired' | 'status' } | null {
  if (!sk.startsWith(STORE)) return null;
  if (sk.endsWith(DESIRED)) return { name: sk.slice(STORE.length, -DESIRED.length), kind: 'desired' };
  if (sk.endsWith(STATUS)) return { name: sk.slice(STORE.length, -STATUS.length), kind: 'status' };
  return null;
}

/** The store an operator's item names (`STORE#<name>#DESIRED`), or null for any other item. */
export function storeNameOfOperatorKey(sk: string): string | null {
  const parsed = parseStoreKey(sk);
  return parsed !== null && parsed.kind !== 'status' ? parsed.name : null;
}
