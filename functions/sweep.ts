/** Scheduled sweep: reconcile every managed store. */
import { lambdaDeps, toHandlerResult, type DepsFactory, type HandlerResult, type LambdaContext } from '../shared/runtime/lambda.js';
import { reconcile } from '../shared/reconcile/sweep.js';

export function makeHandler(deps: DepsFactory) {
  return async (_event: unknown, context: LambdaContext): Promise<HandlerResult> =>
    toHandlerResult(await reconcile(deps(context), { trigger: 'schedule' }));
}

export const handler = makeHandler(lambdaDeps);
