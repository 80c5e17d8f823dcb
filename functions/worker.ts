/**
 * The fleet's worker: reconciles the scope each SQS message names (and sends the follow-ups its pass
 * asks for). An unreachable scope is reported and its message done; a message whose pass fails (the table or the bus) goes back to the
 * queue alone (partial batch failure), and to the dead-letter queue after its last receive.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { sendFollowUps } from '../shared/fleet/follow-ups.js';
import { reachAndReconcile } from '../shared/fleet/reach-scope.js';
import { type InvocationFactory, type LambdaContext, lambdaInvocation } from '../shared/runtime/lambda.js';
import { parseScopeMessage } from '../shared/runtime/triggers.js';

/** The parts of an SQS event the worker reads. */
interface SqsRecord {
  messageId: string;
  body: string;
}
interface SqsEvent {
  Records: SqsRecord[];
}
/** The messages to receive again (partial batch failure). */
interface SqsBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

export function makeHandler(factory: InvocationFactory) {
  const processor = new BatchProcessor(EventType.SQS);
  return async (event: SqsEvent, context: LambdaContext): Promise<SqsBatchResponse> => {
    const { runtime, followUps } = factory(context);
    const record = async (message: SqsRecord): Promise<string> => {
      const outcome = await reachAndReconcile(runtime, parseScopeMessage(message.body), { trigger: 'schedule' });
      await sendFollowUps(runtime, followUps, outcome);
      return outcome.status;
    };
    return processPartialResponse(event, record, processor);
  };
}

export const handler = makeHandler(lambdaInvocation);
