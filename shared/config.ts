/**
 * The reconciler's configuration: the only module that reads `process.env`. Everything is read and
 * checked once, at cold start; a missing or malformed variable throws a `ConfigError` naming it.
 */
import { ConfigError } from './errors.js';

/** Powertools log levels accepted by `CKS_LOG_LEVEL` / `POWERTOOLS_LOG_LEVEL`. */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything the reconciler reads from its environment, checked. */
export interface Config {
  /** `CKS_TABLE` (required): the desired-state table. */
  tableName: string;
  /** `CKS_EVENT_BUS` (default `default`): where the reconciler's events go. */
  eventBusName: string;
  /** `AWS_REGION`, else `AWS_DEFAULT_REGION` (required): the Region whose stores are reconciled. */
  region: string;
  /**
   * `CKS_ACCOUNT_ID` (optional, 12 digits). When absent the core resolves the account itself. Against
   * the local fake the account is the access key id when that is 12 digits, else `000000000000`.
   */
  accountId?: string;
  /** `AWS_ENDPOINT_URL` (optional): one endpoint for every service, e.g. the local fake. */
  endpoint?: string;
  /** `CKS_MUTATION_RATE` (default 2): mutating AWS calls per second, spaced by a token bucket. */
  mutationRatePerSecond: number;
  /** `CKS_LEASE_TTL_MS` (default 60000): how long a run holds a store's lease. */
  leaseTtlMs: number;
  /** `CKS_HISTORY_TTL_DAYS` (default 30): how long history items are kept. */
  historyTtlDays: number;
  /** `CKS_LOG_LEVEL`, else `POWERTOOLS_LOG_LEVEL` (default INFO). */
  logLevel: LogLevel;
}

/** Values that win over the environment, e.g. the CLI's `--table`, `--region`, `--endpoint-url`. */
export type ConfigOverrides = Partial<Config>;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the configuration from `env` (default `process.env`), with `overrides` taking precedence.
 * Empty variables count as unset.
 */
export function loadConfig(env: Env = process.env, overrides: ConfigOverrides = {}): Config {
  const region = overrides.region ?? optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION');
  if (region === undefined) {
    throw new ConfigError('AWS_REGION is not set: the AWS Region whose key stores are reconciled (AWS_DEFAULT_REGION also works)');
  }
  const accountId = overrides.accountId ?? optional(env, 'CKS_ACCOUNT_ID');
  if (accountId !== undefined && !/^\d{12}$/.test(accountId)) {
    throw new ConfigError(`CKS_ACCOUNT_ID must be a 12-digit AWS account id, got "${accountId}"`);
  }
  const endpoint = overrides.endpoint ?? optional(env, 'AWS_ENDPOINT_URL');
  if (endpoint !== undefined && !URL.canParse(endpoint)) {
    throw new ConfigError(`AWS_ENDPOINT_URL must be a URL, got "${endpoint}"`);
  }
  const config: Config = {
    tableName: overrides.tableName ?? required(env, 'CKS_TABLE', 'the name of the desired-state table'),
    eventBusName: overrides.eventBusName ?? optional(env, 'CKS_EVENT_BUS') ?? 'default',
    region,
    mutationRatePerSecond: overrides.mutationRatePerSecond ?? positiveNumber(env, 'CKS_MUTATION_RATE', 2),
    leaseTtlMs: overrides.leaseTtlMs ?? positiveInteger(env, 'CKS_LEASE_TTL_MS', 60_000),
    historyTtlDays: overrides.historyTtlDays ?? positiveInteger(env, 'CKS_HISTORY_TTL_DAYS', 30),
    logLevel: overrides.logLevel ?? logLevel(env),
  };
  if (accountId !== undefined) config.accountId = accountId;
  if (endpoint !== undefined) config.endpoint = endpoint;
  return config;
}

/** How one deployment reaches the other accounts and Regions of its fleet. */
export interface FleetConfig {
  /** `CKS_MEMBER_ROLE_NAME` (default `cks-reconciler-member`): the role assumed in every other account. */
  memberRoleName: string;
  /**
   * `CKS_SCOPE_QUEUE` (optional): the name of the SQS queue the coordinator sends one message per
   * other scope to. Absent (local runs), the coordinator reconciles them itself.
   */
  scopeQueueName?: string;
  /**
   * `CKS_FOLLOW_UP_QUEUE` (optional): the name of the SQS queue a pass sends its follow-ups to (a
   * store to look at again in seconds, as a delayed message). Absent, none are sent: the schedule comes.
   */
  followUpQueueName?: string;
  /** `CKS_FLEET_CONCURRENCY` (default 8): scopes reconciled at once when one process runs several. */
  concurrency: number;
}

/** Reads the fleet's configuration from `env` (default `process.env`), with `overrides` taking precedence. */
export function loadFleetConfig(env: Env = process.env, overrides: Partial<FleetConfig> = {}): FleetConfig {
  const memberRoleName = overrides.memberRoleName ?? roleName(env, 'CKS_MEMBER_ROLE_NAME', 'cks-reconciler-member');
  const scopeQueueName = overrides.scopeQueueName ?? queueName(env, 'CKS_SCOPE_QUEUE');
  const followUpQueueName = overrides.followUpQueueName ?? queueName(env, 'CKS_FOLLOW_UP_QUEUE');
  return {
    memberRoleName,
    concurrency: overrides.concurrency ?? positiveInteger(env, 'CKS_FLEET_CONCURRENCY', 8),
    ...(scopeQueueName !== undefined && { scopeQueueName }),
    ...(followUpQueueName !== undefined && { followUpQueueName }),
  };
}

/** An optional SQS queue name; a malformed one is an error naming the variable. */
function queueName(env: Env, name: string): string | undefined {
  const value = optional(env, name);
  if (value !== undefined && !/^[\w-]{1,80}$/.test(value)) {
    throw new ConfigError(`${name} must be the name of an SQS queue (1-80 of letters, digits, - and _), got "${value}"`);
  }
  return value;
}

/**
 * `CKS_MEMBER_READ_ROLE_NAME` (default `cks-reconciler-member-read`): the read-only role of member
 * accounts (cloudformation/member-role.yml) that `cks` assumes there. People never act in a member
 * account as the member role, which reads secrets and changes stores: that is the functions'.
 */
export function loadMemberReadRoleName(env: Env = process.env): string {
  return roleName(env, 'CKS_MEMBER_READ_ROLE_NAME', 'cks-reconciler-member-read');
}

function roleName(env: Env, name: string, fallback: string): string {
  const value = optional(env, name) ?? fallback;
  if (!/^[\w+=,.@-]{1,64}$/.test(value)) {
    throw new ConfigError(`${name} must be an IAM role name (1-64 of letters, digits and +=,.@_-), got "${value}"`);
  }
  return value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function required(env: Env, name: string, meaning: string): string {
  const value = optional(env, name);
  if (value === undefined) throw new ConfigError(`${name} is not set: ${meaning}`);
  return value;
}

function positiveNumber(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

function positiveInteger(env: Env, name: string, fallback: number): number {
  const value = positiveNumber(env, name, fallback);
  if (!Number.isInteger(value)) {
    throw new ConfigError(`${name} must be a positive whole number, got "${optional(env, name)}"`);
  }
  return value;
}

function logLevel(env: Env): LogLevel {
  const name = optional(env, 'CKS_LOG_LEVEL') !== undefined ? 'CKS_LOG_LEVEL' : 'POWERTOOLS_LOG_LEVEL';
  const raw = optional(env, name);
  if (raw === undefined) return 'INFO';
  const level = LOG_LEVELS.find((candidate) => candidate === raw.toUpperCase());
  if (level === undefined) {
    throw new ConfigError(`${name} must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  }
  return level;
}
