/** Deterministic hashing (FNV-1a, 64 bit): jitter, incident ids and report fingerprints, with no randomness. */
import type { PlanInput } from '../types.js';

function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

/** A number in [0, 1) derived from `text`. */
export function unitHash(text: string): number {
  return Number(fnv1a64(text) >> 11n) / 2 ** 53;
}

/** 16 hex digits naming `parts`. */
export function fingerprint(parts: unknown[]): string {
  return fnv1a64(JSON.stringify(parts)).toString(16).padStart(16, '0');
}

/** The id of an incident opened for this store at `now`. */
export function incidentIdFor(input: PlanInput, now: number): string {
  return `inc-${fingerprint([input.scope.accountId, input.scope.region, input.desired.name, now])}`;
}
