/**
 * Scopes (an account and a Region) as operators write them (`--scope 111122223333/eu-west-1`) and as
 * the coordinator sends them to the worker (one SQS message each).
 */
import type { Scope } from '../domain/types.js';

/** A 12-digit account id. */
export const ACCOUNT_PATTERN = /^\d{12}$/;
/** A Region name, e.g. eu-west-1. */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** `<account>/<region>`. */
export function scopeLabel(scope: Scope): string {
  return `${scope.accountId}/${scope.region}`;
}

export function sameScope(a: Scope, b: Scope): boolean {
  return a.accountId === b.accountId && a.region === b.region;
}

/** Reads `--scope <account>/<region>`; a malformed one is an error that says what was expected. */
export function parseScope(text: string): Scope {
  const [accountId = '', region = '', ...rest] = text.trim().split('/');
  if (rest.length > 0 || !ACCOUNT_PATTERN.test(accountId) || !REGION_PATTERN.test(region)) {
    throw new ScopeSyntaxError(`--scope must be <12-digit account>/<region>, e.g. 111122223333/eu-west-1, got "${text}"`);
  }
  return { accountId, region };
}

/** A `--scope` (or a queue message's scope) that is not `<account>/<region>`. */
export class ScopeSyntaxError extends Error {
  override readonly name = 'ScopeSyntaxError';
}

export function scopeMessageBody(scope: Scope): string {
  return JSON.stringify({ accountId: scope.accountId, region: scope.region });
}

/** The scopes a fleet pass covers: every registered one and the deployment's own, once each, sorted. */
export function fleetScopes(registered: readonly Scope[], home: Scope): Scope[] {
  const byLabel = new Map([home, ...registered].map((scope) => [scopeLabel(scope), { accountId: scope.accountId, region: scope.region }]));
  return [...byLabel.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, scope]) => scope);
}
