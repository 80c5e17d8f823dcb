/**
 * The composition root: builds the core's dependencies (SDK clients, adapters, logger, metrics)
 * from configuration, once per Lambda cold start, CLI run or demo.
 */

import { type AwsClients, makeAdapters, makeAwsClients } from '../adapters/clients.js';
import { DynamoStateAdapter } from '../adapters/dynamodb-store.js';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import { makeLogger } from '../logger.js';
import { makeMetrics } from '../metrics.js';
import type { Clock, ReconcileDeps } from '../reconcile/ports.js';

/** The account the fake uses for callers whose access key id is not 12 digits. */
export const LOCAL_ACCOUNT_ID = '000000000000';

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface BuildOptions {
  accountId: string;
  owner: string;
  clock?: Clock;
  /** Emit EMF metrics (Lambda); off for the CLI. */
  metrics?: boolean;
  /** Reuse clients (tests, the demo); default: new ones from `config`. */
  clients?: AwsClients;
  logger?: ReconcileDeps['logger'];
}

export function buildDeps(config: Config, options: BuildOptions): ReconcileDeps & { state: DynamoStateAdapter } {
  const clock = options.clock ?? systemClock;
  const clients = options.clients ?? makeAwsClients(config);
  const scope = { accountId: options.accountId, region: config.region };
  return {
    ...makeAdapters(config, clients, clock),
    state: new DynamoStateAdapter(clients.dynamo, config.tableName, scope, config.historyTtlDays),
    clock,
    logger: options.logger ?? makeLogger(config),
    metrics: options.metrics ? makeMetrics() : null,
    owner: options.owner,
    leaseTtlMs: config.leaseTtlMs,
  };
}

/** The account of a Lambda function, from its ARN (`arn:aws:lambda:<region>:<account>:function:<name>`). */
export function accountFromFunctionArn(arn: string | undefined): string {
  const account = arn?.split(':')[4];
  if (!account || !/^\d{12}$/.test(account)) {
    throw new ConfigError(`CKS_ACCOUNT_ID is not set and the invocation's function ARN (${arn ?? 'none'}) names no account`);
  }
  return account;
}
