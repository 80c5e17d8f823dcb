/**
 * How the deployed stack routes events to its event functions, read from `serverless.yml` so that
 * the demo routes exactly as AWS would: the on-event function's EventBridge rules' patterns, the
 * on-change function's DynamoDB stream filter patterns, and the IAM role each function runs as
 * (whose ARN the rules leave out).
 */
import { readFile } from 'node:fs/promises';
import { type CollectionTag, parse, type ScalarTag } from 'yaml';
import { LOCAL_ACCOUNT_ID } from '../../runtime/deps.js';
import type { EventPattern } from './event-pattern.js';

/** The routing of the functions, as `serverless.yml` declares it. */
export interface Routes {
  /** Patterns of the on-event function's EventBridge rules (CloudTrail API calls). */
  eventPatterns: EventPattern[];
  /** Lambda event-filter patterns of the on-change function's DynamoDB stream. */
  streamFilters: EventPattern[];
  /** The CloudFormation logical id of each function's execution role. */
  roles: { sweep: string; onEvent: string; onChange: string };
}

const SWEEP_HANDLER = 'functions/sweep.handler';
const ON_EVENT_HANDLER = 'functions/on-event.handler';
const ON_CHANGE_HANDLER = 'functions/on-change.handler';
/** The role the Serverless Framework generates for functions that name none. */
const DEFAULT_ROLE = 'IamRoleLambdaExecution';

/**
 * `!GetAtt Logical.Attr` (and its sequence form) as the long form `{"Fn::GetAtt": [...]}`. Other
 * CloudFormation tags appear only outside what the demo reads; they parse as their plain values.
 */
const GET_ATT_TAGS: Array<ScalarTag | CollectionTag> = [
  { tag: '!GetAtt', resolve: (value: string) => ({ 'Fn::GetAtt': value.split('.') }) },
  { tag: '!GetAtt', collection: 'seq', resolve: (seq) => ({ 'Fn::GetAtt': seq.toJSON() }) },
];

/** Reads the routes from a `serverless.yml` file. */
export async function loadRoutes(file: string): Promise<Routes> {
  return parseRoutes(await readFile(file, 'utf8'));
}

/**
 * Reads the routes from the text of a `serverless.yml`. `Fn::GetAtt: [<Role>, Arn]` becomes
 * `arn:aws:iam::000000000000:role/<Role>`: the fake names a caller's role after the session token
 * its client sends, and the demo's reconciler clients send the logical id.
 */
export function parseRoutes(text: string): Routes {
  const document = parse(text, { customTags: GET_ATT_TAGS, logLevel: 'error' }) as unknown;
  const functions = Object.values(asObject(asObject(document).functions)).map(asObject);
  const sweep = functions.find((fn) => fn.handler === SWEEP_HANDLER);
  const onEvent = functions.find((fn) => fn.handler === ON_EVENT_HANDLER);
  const onChange = functions.find((fn) => fn.handler === ON_CHANGE_HANDLER);
  if (!sweep || !onEvent || !onChange) {
    throw new Error(`serverless.yml must declare functions with handlers ${SWEEP_HANDLER}, ${ON_EVENT_HANDLER} and ${ON_CHANGE_HANDLER}`);
  }
  return {
    eventPatterns: eventsOf(onEvent).flatMap((e) => {
      const pattern = asObject(e.eventBridge).pattern;
      return pattern ? [resolveGetAtt(pattern) as EventPattern] : [];
    }),
    streamFilters: eventsOf(onChange).flatMap((e) => {
      const filters = asObject(e.stream).filterPatterns;
      return Array.isArray(filters) ? (filters as EventPattern[]) : [];
    }),
    roles: { sweep: roleOf(sweep), onEvent: roleOf(onEvent), onChange: roleOf(onChange) },
  };
}

function eventsOf(fn: Record<string, unknown>): Record<string, unknown>[] {
  return Array.isArray(fn.events) ? fn.events.map(asObject) : [];
}

function roleOf(fn: Record<string, unknown>): string {
  return typeof fn.role === 'string' ? fn.role : DEFAULT_ROLE;
}

function resolveGetAtt(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolveGetAtt);
  if (typeof value !== 'object' || value === null) return value;
  const getAtt = asObject(value)['Fn::GetAtt'];
  if (getAtt !== undefined) {
    if (!Array.isArray(getAtt) || getAtt.length !== 2 || getAtt[1] !== 'Arn') {
      throw new Error(`the demo resolves only Fn::GetAtt [<Role>, Arn] in event patterns, got ${JSON.stringify(getAtt)}`);
    }
    return `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${String(getAtt[0])}`;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveGetAtt(v)]));
}

/** The value when it is a plain object, else an empty one. */
function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
