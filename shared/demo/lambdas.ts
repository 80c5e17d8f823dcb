/**
 * The two Lambda functions, run in-process as the deployed stack would run them: the real handlers
 * (`functions/sweep.ts`, `functions/on-event.ts`), each with its own dependencies and IAM role, fed
 * by the routes of `serverless.yml`.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { makeHandler as makeOnEventHandler } from '../../functions/on-event.js';
import { makeHandler as makeSweepHandler } from '../../functions/sweep.js';
import type { Config } from '../config.js';
import { buildDeps, LOCAL_ACCOUNT_ID } from '../reconcile/deps.js';
import type { DepsFactory, HandlerResult, LambdaContext } from '../reconcile/lambda.js';
import type { Clock } from '../reconcile/ports.js';
import { demoClients } from './clients.js';
import { matchesPattern } from './event-pattern.js';
import type { Routes } from './routes.js';

/** What the on-event handler returns: a result, or why it did nothing. */
export type OnEventResult = HandlerResult | { skipped: string };

/** The deployed functions and their triggers, in-process. */
export interface DemoLambdas {
  /** One scheduled invocation of the sweep function. */
  sweep(): Promise<HandlerResult>;
  /** Delivers a CloudTrail event as the on-event rules would: null when no rule matches it. */
  cloudTrail(event: unknown): Promise<OnEventResult | null>;
  /**
   * Delivers desired-state changes as the table's stream would (dynalite has none): one batch of
   * stream records, filtered by the stream's filter patterns; null when every record is filtered out.
   */
  desiredChanged(changes: ReadonlyArray<{ name: string; eventName: 'INSERT' | 'MODIFY' }>): Promise<OnEventResult | null>;
}

/** Builds both functions against the fake at `config.endpoint`, each calling as its role from `routes`. */
export function makeLambdas(config: Config, routes: Routes, options: { clock: Clock; logger: Logger }): DemoLambdas {
  const { region, endpoint = '' } = config;
  const depsFactory = (role: string): DepsFactory => {
    const deps = buildDeps(config, {
      accountId: LOCAL_ACCOUNT_ID,
      owner: role,
      clock: options.clock,
      clients: demoClients(endpoint, region, role),
      logger: options.logger,
    });
    return (context) => ({ ...deps, owner: context.awsRequestId });
  };
  const context = (fn: string): LambdaContext => ({
    awsRequestId: randomUUID(),
    invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:cks-reconciler-demo-${fn}`,
  });
  const sweep = makeSweepHandler(depsFactory(routes.roles.sweep));
  const onEvent = makeOnEventHandler(depsFactory(routes.roles.onEvent));
  const pk = `SCOPE#${LOCAL_ACCOUNT_ID}#${region}`;

  return {
    sweep: () => sweep({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, context('sweep')),
    async cloudTrail(event) {
      if (!routes.eventPatterns.some((pattern) => matchesPattern(pattern, event))) return null;
      return onEvent(event, context('on-event'));
    },
    async desiredChanged(changes) {
      const Records = changes
        .map(({ name, eventName }) => ({
          eventName,
          eventSource: 'aws:dynamodb',
          dynamodb: { Keys: { pk: { S: pk }, sk: { S: `STORE#${name}#DESIRED` } } },
        }))
        .filter((record) => routes.streamFilters.length === 0 || routes.streamFilters.some((p) => matchesPattern(p, record)));
      return Records.length === 0 ? null : onEvent({ Records }, context('on-event'));
    },
  };
}
