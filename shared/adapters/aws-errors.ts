/**
 * The adapters' error boundary: every SDK error leaves an adapter as an `AwsCallError` whose `code` is
 * the exception name and whose `retryable` says whether a later run may simply try again. The SDK
 * clients already retry a read's throttling and 5xx themselves (adaptive mode), and a mutating call's
 * throttling is retried by `MutatingCalls`; an error that still reaches us is retryable on the next run, not now.
 */
import { AwsCallError } from '../errors.js';

/** Exception names that mean "slow down"; all retryable. */
const THROTTLING_CODES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
]);

/** Server-side failures of the services we call (modelled as 4xx-shaped exceptions, but transient). */
const SERVER_CODES = new Set([
  'KMSInternalException',
  'CloudHsmInternalFailureException',
  'InternalFailure',
  'InternalServiceError',
  'InternalServiceErrorException',
  'InternalException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

/** Transport failures: the request may never have reached AWS. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/** The parts of an SDK (or Node) error we classify by. */
interface ErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  stack?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** True when AWS refused the call for its rate: the call did nothing, and a later attempt may succeed. */
export function isThrottling(error: unknown): boolean {
  const e = shape(error);
  const name = typeof e.name === 'string' ? e.name : '';
  return (
    THROTTLING_CODES.has(name) ||
    // LimitExceededException is throttling only when it is about the request rate; in KMS it is
    // otherwise a quota (e.g. 10 custom key stores), which waiting does not fix.
    (name === 'LimitExceededException' && /rate|throttl|too many requests/i.test(String(e.message))) ||
    e.$metadata?.httpStatusCode === 429
  );
}

/** True when a later attempt of the same call may succeed: throttling, 5xx, network trouble. */
export function isRetryable(error: unknown): boolean {
  const e = shape(error);
  const name = typeof e.name === 'string' ? e.name : '';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : 0;
  return (
    isThrottling(error) ||
    SERVER_CODES.has(name) ||
    TIMEOUT_NAMES.has(name) ||
    (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) ||
    e.$fault === 'server' ||
    e.$retryable !== undefined ||
    status >= 500
  );
}

/**
 * Wraps any error thrown by an SDK call. `operation` is `<Service>.<Operation>`, e.g.
 * `KMS.UpdateCustomKeyStore`. `secrets` are values sent in the request (a password, an XKS secret):
 * should a service echo one in its message, it is replaced by `***` in the new error *and* in the
 * original kept as `cause`. Request parameters are never added to a message.
 */
export function toAwsCallError(operation: string, error: unknown, secrets: readonly string[] = []): AwsCallError {
  if (error instanceof AwsCallError) return error;
  const e = shape(error);
  // Node's network errors are plain `Error`s with a system `code` such as ECONNREFUSED.
  const generic = typeof e.name !== 'string' || e.name === '' || e.name === 'Error';
  const code = !generic ? String(e.name) : typeof e.code === 'string' && e.code !== '' ? e.code : 'Error';
  scrubError(error, secrets);
  const message = scrub(typeof e.message === 'string' ? e.message : String(error), secrets);
  return new AwsCallError(operation, code, isRetryable(error), message, { cause: error });
}

/** Runs one SDK call, translating whatever it throws (see {@link toAwsCallError}). */
export async function awsCall<T>(operation: string, send: () => Promise<T>, secrets: readonly string[] = []): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw toAwsCallError(operation, error, secrets);
  }
}

function shape(error: unknown): ErrorShape {
  return typeof error === 'object' && error !== null ? (error as ErrorShape) : {};
}

function scrub(text: string, secrets: readonly string[]): string {
  return secrets.reduce((result, secret) => (secret === '' ? result : result.split(secret).join('***')), text);
}

/** Removes secrets from the original error's message and stack, so that logging the cause is safe too. */
function scrubError(error: unknown, secrets: readonly string[]): void {
  if (secrets.length === 0 || typeof error !== 'object' || error === null) return;
  const e = error as { message?: unknown; stack?: unknown };
  if (typeof e.message === 'string') e.message = scrub(e.message, secrets);
  if (typeof e.stack === 'string') e.stack = scrub(e.stack, secrets);
}
