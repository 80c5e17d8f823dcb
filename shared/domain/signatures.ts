/**
 * Signatures: who signed one exact change, as IAM proved it. A signature lives in its signer's own
 * partition (see `table-keys.ts`), which a principal can write only under its own identity, so the
 * signer of a signature read back is a fact, not a claim. A change that needs a second person is
 * applied only when two distinct persons signed it: the same subject, generation and digest of its
 * guarded values. Who wrote the desired item does not matter.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './same-data.js';
import type { DesiredStore } from './types.js';

/** One signer's signature of one exact change. */
export interface Signature {
  /** `source/<source identity>` or `principal/<aws:userid>`: the partition only that signer can write. */
  signer: string;
  /** The operator partition of the scope signed (`DESIRED#<accountId>#<region>`). */
  scopePk: string;
  /** What is signed: `STORE#<name>` or `SETTINGS`. */
  subject: string;
  generation: number;
  /** {@link digestOf} the subject's guarded values. */
  digest: string;
  /** Epoch ms. */
  signedAt: number;
}

/** One exact change: a subject's generation and the digest of its guarded values. */
export interface SignedChange {
  subject: string;
  generation: number;
  digest: string;
}

/**
 * The signer a caller signs as: `source/<its source identity>` when its session carries one (a session's
 * source identity cannot be read back from STS, so the caller says it, and IAM refuses a wrong one),
 * else `principal/<its aws:userid>` (STS GetCallerIdentity's UserId).
 */
export function signerOf(caller: { userId: string; sourceIdentity: string | null }): string {
  return caller.sourceIdentity !== null ? `source/${caller.sourceIdentity}` : `principal/${caller.userId}`;
}

/**
 * The person behind a signer, or null for a signer no IAM policy lets anyone write. Two sessions of
 * one role are one person: `principal/<role id>:<session>` is the role (`principal/<role id>`), whatever
 * the session's name, which its caller chooses. A source identity, which STS keeps through role
 * chaining and a caller cannot change, names a person; so does an IAM user (`principal/<user id>`).
 */
export function personOf(signer: string): string | null {
  const source = /^source\/([\w+=,.@-]+)$/.exec(signer);
  if (source) return signer;
  const principal = /^principal\/([^:/]+)(?::.+)?$/.exec(signer);
  return principal ? `principal/${principal[1]}` : null;
}

/** SHA-256 (hex) of the canonical JSON of `values` (keys sorted): any edit of a value changes it. */
export function digestOf(values: unknown): string {
  return createHash('sha256').update(canonicalJson(values)).digest('hex');
}

/** The values of a desired store whose change may need a second person. */
export function storeGuardedValues(desired: DesiredStore): Record<string, unknown> {
  const xks = desired.xksProxy;
  return {
    type: desired.type,
    name: desired.name,
    cloudHsmClusterId: desired.cloudHsmClusterId,
    xksProxy:
      xks === undefined
        ? undefined
        : { uriEndpoint: xks.uriEndpoint, uriPath: xks.uriPath, connectivity: xks.connectivity, vpcEndpointServiceName: xks.vpcEndpointServiceName },
    loginBudget: desired.loginBudget,
    onManualDisconnect: desired.onManualDisconnect,
    retryRequestedAt: desired.retryRequestedAt,
  };
}

/** The exact change a desired store's generation is: what `cks apply` and `cks approve` sign. */
export function storeChange(subject: string, desired: DesiredStore): SignedChange {
  return { subject, generation: desired.generation, digest: digestOf(storeGuardedValues(desired)) };
}

/** The distinct persons who signed exactly `change`, sorted. */
export function approversOf(signatures: readonly Signature[], change: SignedChange): string[] {
  const persons = signatures
    .filter((s) => s.subject === change.subject && s.generation === change.generation && s.digest === change.digest)
    .flatMap((s) => personOf(s.signer) ?? []);
  return [...new Set(persons)].sort();
}

/** Whether two distinct persons signed exactly `change`. */
export function signedByTwo(signatures: readonly Signature[], change: SignedChange): boolean {
  return approversOf(signatures, change).length >= 2;
}
