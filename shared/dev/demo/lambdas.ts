/**
 * The Lambda functions, run in-process as the deployed stack would run them: the real handlers
 * (`functions/sweep.ts`, `functions/on-event.ts`, `functions/on-change.ts`), each with its own dependencies and IAM role, fed
 * by the routes of `serverless.yml`, their follow-ups delivered from the fake's SQS queue once due
 * (as Lambda's event source delivers them to onEvent). The sweep has no scope queue here: the fleet's other scopes are
 * reconciled in the same invocation, as the worker's role, as the worker reconciles them in AWS.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { makeHandler as makeOnChangeHandler } from '../../../functions/on-change.js';
import { makeHandler as makeOnEventHandler } from '../../../functions/on-event.js';
import { makeHandler as makeSweepHandler, type SweepResult } from '../../../functions/sweep.js';
import { makeAwsClients } from '../../adapters/clients.js';
import { SqsFollowUpQueue } from '../../adapters/sqs.js';
import { type Config, loadFleetConfig } from '../../config.js';
import { desiredKey, operatorPartitionKey } from '../../domain/table-keys.js';
import type { Scope } from '../../domain/types.js';
import type { FollowUpPort } from '../../fleet/follow-ups.js';
import type { ScopeRuntime } from '../../fleet/reach-scope.js';
import { sameScope } from '../../fleet/scope.js';
import type { Clock } from '../../reconcile/ports.js';
import { LOCAL_ACCOUNT_ID } from '../../runtime/deps.js';
import { FleetRuntime } from '../../runtime/fleet.js';
import type { LambdaContext, TargetedResult } from '../../runtime/lambda.js';
import { QueuePump } from '../queue/pump.js';
import { demoCredentials } from './clients.js';
import { matchesPattern } from './event-pattern.js';
import type { Routes } from './routes.js';

/** A desired item as written to the table (its attributes, without the keys). */
export interface DesiredChange {
  name: string;
  eventName: 'INSERT' | 'MODIFY';
  item: Record<string, unknown>;
}

/** The deployed functions and their triggers, in-process. */
export interface DemoLambdas {
  /** One scheduled invocation of the sweep function (the fleet's coordinator). */
  sweep(): Promise<SweepResult>;
  /** One invocation of the on-event function (a CloudTrail event). */
  onEvent(event: unknown): Promise<TargetedResult>;
  /** One invocation of the on-change function (a stream batch). */
  onChange(event: unknown): Promise<TargetedResult>;
  /**
   * The follow-up queue's event source: delivers each follow-up whose delay has passed (on the fake's
   * clock) to the on-event function; the results of those runs.
   */
  deliverFollowUps(): Promise<TargetedResult[]>;
  /** Whether one of the on-event function's EventBridge rules matches a CloudTrail event. */
  ruleMatches(event: unknown): boolean;
  /**
   * The batch the table's stream would deliver for written desired items (dynalite has none): their
   * records with new images, less those the stream's filter patterns drop; null when none is left.
   */
  streamBatch(changes: readonly DesiredChange[]): { Records: unknown[] } | null;
}

/**
 * Builds the functions against the fake at `config.endpoint`, each calling as its role from `routes`,
 * each sending its follow-ups to `followUpQueue` (which the fake must hold).
 */
export function makeLambdas(config: Config, routes: Routes, options: { clock: Clock; logger: Logger; followUpQueue: string }): DemoLambdas {
  const { region } = config;
  const fleetOf = (role: string): FleetRuntime =>
    new FleetRuntime(config, loadFleetConfig({}), {
      accountId: LOCAL_ACCOUNT_ID,
      owner: role,
      clock: options.clock,
      clients: makeAwsClients(config, demoCredentials(role)),
      logger: options.logger,
    });
  const context = (fn: string): LambdaContext => ({
    awsRequestId: randomUUID(),
    invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:cks-reconciler-demo-${fn}`,
  });
  const sqsAs = (role: string) => new SQSClient({ region, endpoint: config.endpoint, credentials: demoCredentials(role) });
  const followUpsAs = (role: string): FollowUpPort => new SqsFollowUpQueue(sqsAs(role), options.followUpQueue);
  const sweepFollowUps = followUpsAs(routes.roles.sweep);
  const onEventFollowUps = followUpsAs(routes.roles.onEvent);
  const onChangeFollowUps = followUpsAs(routes.roles.onChange);
  const sweepRoleFleet = fleetOf(routes.roles.sweep);
  const workerFleet = fleetOf(WORKER_ROLE);
  const onEventFleet = fleetOf(routes.roles.onEvent);
  const onChangeFleet = fleetOf(routes.roles.onChange);
  const sweep = makeSweepHandler((context) => ({
    runtime: asWorkerElsewhere(sweepRoleFleet.withOwner(context.awsRequestId), workerFleet.withOwner(context.awsRequestId)),
    queue: null,
    followUps: sweepFollowUps,
    concurrency: 4,
  }));
  const onEvent = makeOnEventHandler((context) => ({
    runtime: onEventFleet.withOwner(context.awsRequestId),
    queue: null,
    followUps: onEventFollowUps,
    concurrency: 1,
  }));
  const onChange = makeOnChangeHandler((context) => ({
    runtime: onChangeFleet.withOwner(context.awsRequestId),
    queue: null,
    followUps: onChangeFollowUps,
    concurrency: 1,
  }));
  const pk = operatorPartitionKey({ accountId: LOCAL_ACCOUNT_ID, region });
  const followUpResults: TargetedResult[] = [];
  // Lambda's event source mapping receives with the function's role.
  const followUpPump = new QueuePump(sqsAs(routes.roles.onEvent), options.followUpQueue, async (event) => {
    followUpResults.push(await onEvent(event, context('on-event')));
  });

  return {
    sweep: () => sweep({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, context('sweep')),
    onEvent: (event) => onEvent(event, context('on-event')),
    onChange: (event) => onChange(event, context('on-change')),
    async deliverFollowUps() {
      await followUpPump.drain();
      return followUpResults.splice(0);
    },
    ruleMatches: (event) => routes.eventPatterns.some((pattern) => matchesPattern(pattern, event)),
    streamBatch(changes) {
      const Records = changes
        .map(({ name, eventName, item }) => {
          const keys = { pk, sk: desiredKey(name) };
          return {
            eventName,
            eventSource: 'aws:dynamodb',
            dynamodb: { Keys: attributeValues(keys), NewImage: attributeValues({ ...keys, ...item }) },
          };
        })
        .filter((record) => routes.streamFilters.length === 0 || routes.streamFilters.some((p) => matchesPattern(p, record)));
      return Records.length === 0 ? null : { Records };
    },
  };
}

/** The worker's role (its logical id in `serverless.yml`): it reaches every account-Region but the deployment's own. */
const WORKER_ROLE = 'WorkerRole';

/** The sweep's runtime in its own scope, the worker's in every other one. */
function asWorkerElsewhere(sweep: ScopeRuntime, worker: ScopeRuntime): ScopeRuntime {
  const of = (scope: Scope): ScopeRuntime => (sameScope(scope, sweep.home) ? sweep : worker);
  return { home: sweep.home, deps: (scope) => of(scope).deps(scope), reach: (scope) => of(scope).reach(scope) };
}

/** Plain attributes as DynamoDB attribute values, the shape of stream records' keys and images. */
function attributeValues(item: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).map(([key, value]) => [key, attributeValue(value)]));
}

function attributeValue(value: unknown): unknown {
  if (value === null || value === undefined) return { NULL: true };
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') return { N: String(value) };
  if (typeof value === 'boolean') return { BOOL: value };
  if (Array.isArray(value)) return { L: value.map(attributeValue) };
  return { M: attributeValues(value as Record<string, unknown>) };
}
