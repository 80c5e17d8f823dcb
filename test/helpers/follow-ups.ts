/**
 * The deployed follow-up path against the fake: the stack's follow-up queue (created as CloudFormation
 * would), the sweep (as SweepRole) and the on-event function (as OnEventRole) each sending their
 * follow-ups there, and the queue's event source (a {@link QueuePump}) delivering them to on-event.
 */
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { makeHandler as makeOnEventHandler } from '../../functions/on-event.js';
import { makeHandler as makeSweepHandler, type SweepResult } from '../../functions/sweep.js';
import { SqsFollowUpQueue } from '../../shared/adapters/sqs.js';
import { type FunctionRole, stackTemplate } from '../../shared/dev/iam/stack.js';
import { QueuePump } from '../../shared/dev/queue/pump.js';
import type { FollowUpPort } from '../../shared/fleet/follow-ups.js';
import { singleScope } from '../../shared/runtime/lambda.js';
import { LAMBDA_CONTEXT, type ReconcilerEnv } from './reconciler.js';
import { roleCredentials } from './stack.js';

export interface FollowUpRig {
  /** One scheduled invocation of the sweep function. */
  sweep(): Promise<SweepResult>;
  /** Delivers the follow-ups whose delay has passed to the on-event function; how many. */
  drain(): Promise<{ delivered: number; failed: number }>;
  /** Where the functions send follow-ups, as `role`. */
  queueAs(role: FunctionRole): FollowUpPort;
  queueName: string;
}

export async function followUpRig(env: ReconcilerEnv, options: { followUps: boolean } = { followUps: true }): Promise<FollowUpRig> {
  const queueName = String((await stackTemplate()).Resources.FollowUpQueue?.Properties?.QueueName);
  await new SQSClient(env.fake.config).send(new CreateQueueCommand({ QueueName: queueName }));
  const sqsAs = (role: FunctionRole) => new SQSClient({ ...env.fake.config, credentials: roleCredentials(role), maxAttempts: 1 });
  const queueAs = (role: FunctionRole): FollowUpPort => new SqsFollowUpQueue(sqsAs(role), queueName);
  const invocation = (role: FunctionRole, owner: string) => ({
    ...singleScope(env.deps(owner, role)),
    followUps: options.followUps ? queueAs(role) : null,
  });
  let invocations = 0;
  const sweep = makeSweepHandler(() => invocation('SweepRole', `sweep-${++invocations}`));
  const onEvent = makeOnEventHandler(() => invocation('OnEventRole', `on-event-${++invocations}`));
  const pump = new QueuePump(sqsAs('OnEventRole'), queueName, (event) => onEvent(event, LAMBDA_CONTEXT));
  return {
    sweep: () => sweep({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, LAMBDA_CONTEXT),
    drain: () => pump.drain(),
    queueAs,
    queueName,
  };
}
