/**
 * CloudWatch `GetMetricData`: as JSON 1.0 (`GraniteServiceVersion20100801.<Operation>`, the SDK) and
 * in the query protocol (the AWS CLI), answered in XML as CloudWatch answers it.
 */
import { REGION_PATTERN, type Scope } from '../context.js';
import { AwsError } from '../errors.js';
import { authorize } from '../iam/authorize.js';
import * as random from '../random.js';
import type { Principal } from '../sts/model.js';
import { AccessDenied, admitQueryCall, type QueryReply, queryErrorReply } from '../sts/operations.js';
import { epochSeconds } from '../wire.js';
import type { Operation, World } from '../world.js';
import { element, leaf } from '../xml.js';
import type { MetricDataResult } from './model.js';
import { CLOUDWATCH_VERSION, parseGetMetricData, queryToJson } from './requests.js';

const XMLNS = `http://monitoring.amazonaws.com/doc/${CLOUDWATCH_VERSION}/`;

export const cloudWatchOperations: ReadonlyMap<string, Operation> = new Map<string, Operation>([
  [
    'GetMetricData',
    ({ world, partition }, input) => ({
      MetricDataResults: partition.cloudWatch.getMetricData(parseGetMetricData(input), world.now()).map((result) => ({
        ...result,
        Timestamps: result.Timestamps.map(epochSeconds),
      })),
      Messages: [],
    }),
  ],
]);

/** Answers one query-protocol CloudWatch request; never throws for a bad request (it becomes an XML error). */
export async function answerCloudWatchQuery(
  world: World,
  scope: Scope,
  principal: Principal,
  params: URLSearchParams,
  iam: boolean,
): Promise<QueryReply> {
  const operation = params.get('Action') ?? '';
  let counted = false;
  try {
    if (!REGION_PATTERN.test(scope.region)) {
      throw new AwsError('InvalidSignatureException', `Credential should be scoped to a valid Region, not '${scope.region}'.`, 403);
    }
    if (operation !== 'GetMetricData')
      throw new AwsError('InvalidAction', `Could not find operation ${operation} for version ${CLOUDWATCH_VERSION}`, 400);
    counted = true;
    await admitQueryCall(world, scope, principal, operation);
    if (iam) {
      const denial = await authorize(world, principal, scope, [
        { action: `cloudwatch:${operation}`, resource: '*', resourceAccount: scope.accountId },
      ]);
      if (denial) throw new AccessDenied(denial.message);
    }
    const results = world.partition(scope).cloudWatch.getMetricData(parseGetMetricData(queryToJson(params)), world.now());
    return {
      operation,
      counted,
      status: 200,
      body:
        `<GetMetricDataResponse xmlns="${XMLNS}">` +
        element('GetMetricDataResult', `${element('MetricDataResults', results.map(resultXml).join(''))}<Messages/>`) +
        element('ResponseMetadata', leaf('RequestId', random.uuid())) +
        '</GetMetricDataResponse>',
    };
  } catch (error) {
    return queryErrorReply(XMLNS, error, operation, counted);
  }
}

function resultXml(result: MetricDataResult): string {
  const members = (values: readonly string[]): string => values.map((value) => leaf('member', value)).join('');
  return element(
    'member',
    leaf('Id', result.Id) +
      leaf('Label', result.Label) +
      element('Timestamps', members(result.Timestamps.map((ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')))) +
      element('Values', members(result.Values.map(String))) +
      leaf('StatusCode', result.StatusCode),
  );
}
