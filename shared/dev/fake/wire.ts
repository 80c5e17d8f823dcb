/**
 * JSON 1.1 wire helpers shared by every service: request validation with AWS-style messages,
 * pre-serialised bodies, opaque paging cursors, timestamps.
 */
import type { z } from 'zod';
import { type AwsError, SerializationException } from './errors.js';

/**
 * A response body already serialised, in parts written out as they are (used where serialisation
 * is cached: no per-response copy of a large page).
 */
export class RawJson {
  constructor(readonly parts: readonly Buffer[]) {}
}

/** What an operation handler returns: an object serialised as is, or raw JSON text. */
export type Reply = object | RawJson;

/** Members whose values never appear in an error message, a log line or a CloudTrail event. */
export const SENSITIVE_MEMBERS: ReadonlySet<string> = new Set([
  'KeyStorePassword',
  // The XKS access key id: the KMS API marks the whole XksProxyAuthenticationCredential sensitive.
  'AccessKeyId',
  'RawSecretAccessKey',
  'SecretString',
  'SecretBinary',
]);

/**
 * Validates a request against its schema. A member of the wrong JSON type is a
 * `SerializationException` (as the AWS front end reports it); constraint violations are reported
 * together, in the AWS wording, by the service's validation exception.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, Invalid: new (message: string) => AwsError): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const value = valueAt(input, issue.path);
    const member = memberPath(issue.path);
    if (issue.code === 'invalid_type' && value !== undefined) {
      throw new SerializationException(`Expected ${issue.expected} at '${member}'`);
    }
    return `Value ${shown(issue.path, value)} at '${member}' failed to satisfy constraint: ${constraint(issue)}`;
  });
  const count = problems.length;
  throw new Invalid(`${count} validation error${count === 1 ? '' : 's'} detected: ${problems.join('; ')}`);
}

function constraint(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return 'Member must not be null';
    case 'too_small':
      return issue.origin === 'string' || issue.origin === 'array'
        ? `Member must have length greater than or equal to ${issue.minimum}`
        : `Member must have value greater than or equal to ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'string' || issue.origin === 'array'
        ? `Member must have length less than or equal to ${issue.maximum}`
        : `Member must have value less than or equal to ${issue.maximum}`;
    case 'invalid_format':
      return `Member must satisfy regular expression pattern: ${issue.pattern?.replace(/^\/|\/$/g, '') ?? issue.format}`;
    case 'invalid_value':
      return `Member must satisfy enum value set: [${issue.values.join(', ')}]`;
    default:
      return issue.message;
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
  return value;
}

/** AWS names members in messages in lower camel case: `xksProxyAuthenticationCredential.accessKeyId`. */
function memberPath(path: readonly PropertyKey[]): string {
  return path.map((key) => (typeof key === 'string' ? lowerFirst(key) : String(key))).join('.');
}

function shown(path: readonly PropertyKey[], value: unknown): string {
  if (value === undefined) return 'null';
  if (path.some((key) => typeof key === 'string' && SENSITIVE_MEMBERS.has(key))) return "'***'";
  return `'${typeof value === 'string' ? value : JSON.stringify(value)}'`;
}

export function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** AWS JSON timestamps are epoch seconds as numbers (e.g. `1499288695.918`). */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

/**
 * Paging cursors (KMS `Marker`, CloudHSM `NextToken`): opaque to callers, they carry the sequence
 * number of the last item returned, so that the next page starts with a direct seek.
 */
export function encodeCursor(lastSeq: number): string {
  return Buffer.from(`after:${lastSeq}`).toString('base64url');
}

/** The sequence number inside a cursor, or `undefined` when the cursor is not one of ours. */
export function decodeCursor(cursor: string): number | undefined {
  const match = /^after:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  return match ? Number(match[1]) : undefined;
}

/**
 * Index of the first item whose `seq` is greater than `afterSeq` in a list sorted by `seq`
 * (binary search: a page costs the same whatever the size of the list).
 */
export function firstAfter(items: readonly { readonly seq: number }[], afterSeq: number): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (items[mid]!.seq <= afterSeq) low = mid + 1;
    else high = mid;
  }
  return low;
}
