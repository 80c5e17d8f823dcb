/** Realistic-looking identifiers, passwords and certificates, and non-reversible fingerprints. */
import { createHmac, randomBytes, randomInt, randomUUID } from 'node:crypto';

const BASE32_LOWER = 'abcdefghijklmnopqrstuvwxyz234567';
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function pick(alphabet: string, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[randomInt(alphabet.length)];
  return text;
}

function hex(length: number): string {
  return randomBytes(Math.ceil(length / 2)).toString('hex').slice(0, length);
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
export const uuid = (): string => randomUUID();
/** A kmsuser password as KMS sets it when it rotates the password on connect. */
export const password = (): string => pick(ALPHANUMERIC, 32);

/** A PEM-looking certificate; each call yields a different one. */
export function certificate(): string {
  const body = randomBytes(900).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

const fingerprintKey = randomBytes(32);

/**
 * A short fingerprint of a secret for `/_fake/state`: equal secrets give equal fingerprints within
 * one fake process, but the key is random per process, so a fingerprint cannot be brute-forced.
 */
export function fingerprint(secret: string): string {
  return `hmac:${createHmac('sha256', fingerprintKey).update(secret).digest('hex').slice(0, 8)}`;
}
