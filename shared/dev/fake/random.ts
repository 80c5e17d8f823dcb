/**
 * Realistic-looking identifiers, passwords and certificates, and non-reversible fingerprints.
 *
 * Drawn from `node:crypto` unless {@link seedRandom} gave a seed: then from a PRNG seeded with it, so
 * that a run of the fake (the deterministic simulator's) can be reproduced exactly. The source is
 * process-wide: every fake in the process draws from it.
 */
import { createHmac, randomBytes, randomInt, randomUUID } from 'node:crypto';

const BASE32_LOWER = 'abcdefghijklmnopqrstuvwxyz234567';
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The seeded source (a number in [0, 1) per call), or null for `node:crypto`. */
let seeded: (() => number) | null = null;

/** From now on draw from a PRNG seeded with `seed` (a 32-bit integer), or from `node:crypto` again (null). */
export function seedRandom(seed: number | null): void {
  seeded = seed === null ? null : mulberry32(seed);
}

/** A number in [0, 1), e.g. whether a fault with a probability hits. */
export function unit(): number {
  return seeded ? seeded() : randomInt(2 ** 47) / 2 ** 47;
}

function index(length: number): number {
  return seeded ? Math.floor(seeded() * length) : randomInt(length);
}

function bytes(length: number): Buffer {
  return seeded ? Buffer.from(Array.from({ length }, () => index(256))) : randomBytes(length);
}

function pick(alphabet: string, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[index(alphabet.length)];
  return text;
}

function hex(length: number): string {
  return bytes(Math.ceil(length / 2))
    .toString('hex')
    .slice(0, length);
}

/** `cks-` + 17 hex characters, like `cks-1234567890abcdef0`. */
export const storeId = (): string => `cks-${hex(17)}`;
/** `cluster-` + 11 characters of `[2-7a-z]`. */
export const clusterId = (): string => `cluster-${pick(BASE32_LOWER, 11)}`;
/** `hsm-` + 11 characters of `[2-7a-z]`. */
export const hsmId = (): string => `hsm-${pick(BASE32_LOWER, 11)}`;
/** EC2-style resource ids: `eni-…`, `subnet-…`, `vpc-…`, `sg-…`. */
export const ec2Id = (prefix: string): string => `${prefix}-${hex(17)}`;
/** The 6-character suffix Secrets Manager appends to a secret's name in its ARN. */
export const secretSuffix = (): string => pick(ALPHANUMERIC, 6);
/** A version 4 UUID. */
export function uuid(): string {
  if (!seeded) return randomUUID();
  const b = bytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
/** A kmsuser password as KMS sets it when it rotates the password on connect. */
export const password = (): string => pick(ALPHANUMERIC, 32);

/** A PEM-looking certificate; each call yields a different one. */
export function certificate(): string {
  const body = bytes(900).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

const fingerprintKey = randomBytes(32);

/**
 * A short fingerprint of a secret for `/_fake/state`: equal secrets give equal fingerprints within
 * one fake process, but the key is random per process (never seeded), so a fingerprint cannot be
 * brute-forced.
 */
export function fingerprint(secret: string): string {
  return `hmac:${createHmac('sha256', fingerprintKey).update(secret).digest('hex').slice(0, 8)}`;
}

/** mulberry32: a small, fast PRNG of 32-bit state; each call returns a number in [0, 1). Plenty for identifiers and fault draws. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
