import type { ReconcilerEvent } from './domain/events.js';

/**
 * Errors crossing the adapter boundary. Adapters translate SDK errors into these, keeping the
 * original as `cause`; the core decides on `retryable` and `code` only.
 */

/** A failed AWS call: `code` is the exception name (e.g. `CustomKeyStoreInvalidStateException`). */
export class AwsCallError extends Error {
  override readonly name = 'AwsCallError';
  constructor(
    readonly operation: string,
    readonly code: string,
    readonly retryable: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation} failed: ${code}: ${message}`, options);
  }
}

/** PutEvents took some entries and refused the others: `unsent` are the refused events, in order (the others went out). */
export class EventsRefusedError extends AwsCallError {
  constructor(
    readonly unsent: readonly ReconcilerEvent[],
    message: string,
  ) {
    super('EventBridge.PutEvents', 'FailedEntries', true, message);
  }
}

/** A conditional write lost: another run holds the store's lease or changed the item first. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Configuration that cannot work: fails at cold start, naming what is wrong. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The message of anything thrown: an Error's message, or the thrown value as a string. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What of an error may be kept (history items, function results, logs): an AWS error's operation and
 * exception name only, since AWS messages may echo the request (a password, a credential); the
 * messages of this project's own errors, which never carry a value.
 */
export function scrubbedError(error: unknown): string {
  return error instanceof AwsCallError ? `${error.operation} failed: ${error.code}` : errorMessage(error);
}
