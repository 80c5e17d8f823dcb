/**
 * CloudWatch `GetMetricData` requests, in both protocols clients use: JSON 1.0 (`X-Amz-Target:
 * GraniteServiceVersion20100801.GetMetricData`, the SDK for JavaScript v3) and the query protocol
 * (`Action=GetMetricData&Version=2010-08-01`, form-encoded, the AWS CLI v2). A query request is
 * decoded into the JSON shape first, so one schema checks both, with the model's constraints.
 */
import { z } from 'zod';
import { QueryCompatibleError } from '../errors.js';
import { parseInput } from '../wire.js';

/** CloudWatch's exceptions: the JSON protocol's shape name and the query protocol's code. */
export class ValidationError extends QueryCompatibleError {
  constructor(message: string) {
    super('ValidationException', 'ValidationError', message);
  }
}
export class InvalidParameterValue extends QueryCompatibleError {
  constructor(message: string) {
    super('InvalidParameterValueException', 'InvalidParameterValue', message);
  }
}
export class InvalidNextToken extends QueryCompatibleError {
  constructor(message: string) {
    super('InvalidNextToken', 'InvalidNextToken', message);
  }
}

/** The only API version CloudWatch has. */
export const CLOUDWATCH_VERSION = '2010-08-01';

/** GetMetricData takes at most this many queries per call. */
export const MAX_QUERIES = 500;

const STANDARD_UNITS = [
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
] as const;

/** SampleCount, Average, Sum, Minimum, Maximum and the percentile family (p99, p99.9, tm90, ...). */
const STAT = /^(SampleCount|Average|Sum|Minimum|Maximum|(p|tm|wm|tc|ts|pr)\d{1,2}(\.\d{1,10})?)$/;

const Metric = z.object({
  Namespace: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^:].*$/),
  MetricName: z.string().min(1).max(255),
  Dimensions: z
    .array(z.object({ Name: z.string().min(1).max(255), Value: z.string().min(1).max(1024) }))
    .max(30)
    .optional(),
});

const MetricStat = z.object({
  Metric,
  Period: z.number().int().min(1),
  Stat: z.string(),
  Unit: z.enum(STANDARD_UNITS).optional(),
});

const MetricDataQuery = z.object({
  Id: z.string().min(1).max(255),
  MetricStat: MetricStat.optional(),
  Expression: z.string().min(1).max(2048).optional(),
  Label: z.string().optional(),
  ReturnData: z.boolean().optional(),
  Period: z.number().int().min(1).optional(),
  AccountId: z.string().min(1).max(255).optional(),
});

const GetMetricDataInput = z.object({
  MetricDataQueries: z.array(MetricDataQuery),
  /** Epoch seconds (the JSON protocol's timestamps; query-protocol ISO times are converted). */
  StartTime: z.number(),
  EndTime: z.number(),
  NextToken: z.string().optional(),
  ScanBy: z.enum(['TimestampDescending', 'TimestampAscending']).optional(),
  MaxDatapoints: z.number().int().optional(),
  LabelOptions: z.object({ Timezone: z.string().optional() }).optional(),
});

export type MetricStatQuery = z.output<typeof MetricDataQuery> & { MetricStat: z.output<typeof MetricStat> };
export type GetMetricDataRequest = Omit<z.output<typeof GetMetricDataInput>, 'MetricDataQueries'> & { MetricDataQueries: MetricStatQuery[] };

/** Validates a GetMetricData request (JSON shape), then the rules CloudWatch checks beyond the model. */
export function parseGetMetricData(input: unknown): GetMetricDataRequest {
  const request = parseInput(GetMetricDataInput, input, ValidationError);
  const queries = request.MetricDataQueries;
  if (queries.length === 0) throw new ValidationError('The collection MetricDataQueries must not be empty.');
  if (queries.length > MAX_QUERIES) {
    throw new ValidationError(`The collection MetricDataQueries must not have a size greater than ${MAX_QUERIES}.`);
  }
  if (request.StartTime >= request.EndTime) throw new ValidationError('The parameter StartTime must be less than the parameter EndTime.');
  if (request.NextToken !== undefined) throw new InvalidNextToken('The service returned an invalid next token.');
  const ids = new Set<string>();
  queries.forEach((query, index) => {
    const member = `MetricDataQueries.member.${index + 1}`;
    if (!/^[a-z][a-zA-Z0-9_]*$/.test(query.Id)) {
      throw new ValidationError(
        `The value ${query.Id} for parameter ${member}.Id is not valid: it must start with a lowercase letter and hold only letters, digits and underscores.`,
      );
    }
    if (ids.has(query.Id)) throw new ValidationError(`The values for parameter id in MetricDataQueries are not unique: ${query.Id}.`);
    ids.add(query.Id);
    if ((query.MetricStat === undefined) === (query.Expression === undefined)) {
      throw new ValidationError(`Exactly one element of MetricStat or Expression must be set in ${member}.`);
    }
    if (query.Expression !== undefined) {
      throw new InvalidParameterValue(`${member}.Expression: the fake evaluates no metric math or search expressions; query with MetricStat.`);
    }
    const stat = query.MetricStat!;
    if (!STAT.test(stat.Stat))
      throw new InvalidParameterValue(`The value ${stat.Stat} for parameter ${member}.MetricStat.Stat is not a valid statistic.`);
    if (![1, 5, 10, 30].includes(stat.Period) && stat.Period % 60 !== 0) {
      throw new InvalidParameterValue(`The parameter ${member}.MetricStat.Period must be 1, 5, 10, 30 or a multiple of 60.`);
    }
  });
  return request as GetMetricDataRequest;
}

const NUMBER_MEMBERS = new Set(['Period', 'MaxDatapoints']);
const BOOLEAN_MEMBERS = new Set(['ReturnData']);
const TIME_MEMBERS = new Set(['StartTime', 'EndTime']);

/**
 * A query-protocol body as the JSON shape: `A.member.1.B=x` becomes `{A: [{B: "x"}]}`; numbers,
 * booleans and ISO 8601 times are read for the members that have them. A value of the wrong form
 * is left as text, so the schema reports it.
 */
export function queryToJson(params: URLSearchParams): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, raw] of params) {
    if (key === 'Action' || key === 'Version') continue;
    const path = key.split('.');
    let node: Record<string, unknown> | unknown[] = root;
    for (let i = 0; i < path.length; i++) {
      const part = path[i]!;
      const last = i === path.length - 1;
      if (part === 'member' && Array.isArray(node)) continue;
      const index = Array.isArray(node) ? Number(part) - 1 : part;
      const holder = node as Record<string | number, unknown>;
      if (last) {
        holder[index] = member(part, raw);
        break;
      }
      const isList = path[i + 1] === 'member';
      holder[index] ??= isList ? [] : {};
      node = holder[index] as Record<string, unknown> | unknown[];
    }
  }
  return root;
}

function member(name: string, raw: string): unknown {
  if (NUMBER_MEMBERS.has(name) && /^-?\d+$/.test(raw)) return Number(raw);
  if (BOOLEAN_MEMBERS.has(name) && (raw === 'true' || raw === 'false')) return raw === 'true';
  if (TIME_MEMBERS.has(name)) {
    const ms = Date.parse(raw);
    return Number.isNaN(ms) ? raw : ms / 1000;
  }
  return raw;
}
