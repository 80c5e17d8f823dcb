/**
 * `serverless package` as CI runs it: offline, with no AWS credentials. Proves the CloudFormation
 * template it generates (functions, triggers, table, dead letters, alarms, on-call routing, least
 * privilege) and that the bundled handlers load on their own, without node_modules.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { TABLE_KEY_SCHEMA } from '../../shared/adapters/dynamodb-store.js';
import { EVENT_SOURCE } from '../../shared/adapters/eventbridge.js';
import { loadConfig, loadFleetConfig } from '../../shared/config.js';
import { type EventPattern, matchesPattern } from '../../shared/dev/demo/event-pattern.js';
import { makeMetrics, recordRepair, recordScopeUnreachable } from '../../shared/metrics.js';
import { onCallPages, onCallTransformers, type PageName } from '../../shared/on-call/pages.js';
import { CLOUDHSM_EVENT_NAMES, KMS_EVENT_NAMES } from '../../shared/runtime/triggers.js';
import {
  PACKAGE_TIMEOUT_MS,
  type PackagedService,
  packagedService,
  runServerless,
  STAGE,
  serverlessEnv,
  templateFile,
  unpackFunction,
} from '../helpers/package.js';

/** A value of the template read without a schema: CloudFormation JSON, checked field by field below. */
// biome-ignore lint/suspicious/noExplicitAny: the template is untyped JSON; the assertions are its schema
type Json = any;

interface Resource {
  Type: string;
  Properties?: Record<string, Json>;
  DependsOn?: string | string[];
  Condition?: string;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown }>;
  Conditions?: Record<string, unknown>;
}
interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const ref = (id: string) => ({ Ref: id });
const getAtt = (id: string, attribute: string) => ({ 'Fn::GetAtt': [id, attribute] });
const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
/** The queues functions consume (not dead-letter queues). */
const WORK_QUEUES = ['ScopeQueue', 'FollowUpQueue'];

let service: PackagedService;
let work: string;
let template: Template;
let packageOutput: string;
/** The scrubbed environment every `serverless` run gets. */
let env: NodeJS.ProcessEnv;

function resourcesOfType(type: string, from: Template = template): Array<[string, Resource]> {
  return Object.entries(from.Resources).filter(([, resource]) => resource.Type === type);
}

function resource(id: string, from: Template = template): Resource {
  const found = from.Resources[id];
  if (!found) throw new Error(`no resource ${id} in the template`);
  return found;
}

/** The logical id of the function with this handler. */
function functionId(handler: string): string {
  const found = resourcesOfType('AWS::Lambda::Function').filter(([, fn]) => fn.Properties?.Handler === handler);
  expect(found, `one function with handler ${handler}`).toHaveLength(1);
  return found[0]![0];
}

/** The logical id of the role a function runs as (`Role: !GetAtt <id>.Arn`). */
function roleIdOf(fnId: string): string {
  const role = resource(fnId).Properties?.Role as { 'Fn::GetAtt'?: [string, string] };
  expect(role['Fn::GetAtt']?.[1]).toBe('Arn');
  return role['Fn::GetAtt']![0];
}

/** EventBridge rules with a target invoking the function. */
function rulesInvoking(fnId: string): Array<[string, Resource]> {
  return resourcesOfType('AWS::Events::Rule').filter(([, rule]) =>
    list(rule.Properties?.Targets).some((target: Json) => JSON.stringify(target.Arn) === JSON.stringify(getAtt(fnId, 'Arn'))),
  );
}

/** Every policy document in the template, with where it comes from and whether it is an identity policy. */
function policyDocuments(): Array<{ where: string; identity: boolean; statements: Statement[] }> {
  const documents: Array<{ where: string; identity: boolean; statements: Statement[] }> = [];
  const add = (where: string, identity: boolean, document: Json) => {
    if (document) documents.push({ where, identity, statements: list(document.Statement) });
  };
  for (const [id, res] of Object.entries(template.Resources)) {
    const p = res.Properties ?? {};
    if (res.Type === 'AWS::IAM::Role') {
      add(`${id} trust policy`, false, p.AssumeRolePolicyDocument);
      for (const policy of list<Json>(p.Policies)) add(`${id}/${policy.PolicyName}`, true, policy.PolicyDocument);
    } else if (res.Type === 'AWS::IAM::ManagedPolicy' || res.Type === 'AWS::IAM::Policy') {
      add(id, true, p.PolicyDocument);
    } else if (res.Type === 'AWS::KMS::Key') {
      add(`${id} key policy`, false, p.KeyPolicy);
    } else if (p.PolicyDocument) {
      add(`${id} resource policy`, false, p.PolicyDocument);
    }
  }
  return documents;
}

/** The identity-policy statements that apply to a role: its inline policies and attached managed policies. */
function statementsOfRole(roleId: string): Statement[] {
  const p = resource(roleId).Properties ?? {};
  const inline = list<Json>(p.Policies).flatMap((policy) => list<Statement>(policy.PolicyDocument.Statement));
  const attached = list<Json>(p.ManagedPolicyArns).flatMap((arn) => {
    expect(arn, `${roleId} attaches only policies of this stack`).toHaveProperty('Ref');
    return list<Statement>(resource(arn.Ref).Properties?.PolicyDocument.Statement);
  });
  return [...inline, ...attached];
}

/** True when an Allow statement of the role grants `action` on a resource equal to `resourceArn`. */
function grants(roleId: string, action: string, resourceArn: unknown): boolean {
  return statementsOfRole(roleId).some(
    (s) => s.Effect === 'Allow' && list(s.Action).includes(action) && list(s.Resource).some((r) => JSON.stringify(r) === JSON.stringify(resourceArn)),
  );
}

/** Replaces `Fn::GetAtt [<Role>, Arn]` with the ARN CloudTrail reports as the session issuer. */
function withRoleArns(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withRoleArns);
  if (typeof value !== 'object' || value === null) return value;
  const att = (value as Record<string, unknown>)['Fn::GetAtt'];
  if (Array.isArray(att)) return `arn:aws:iam::111122223333:role/${String(att[0])}`;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withRoleArns(v)]));
}

/** An EventBridge "AWS API Call via CloudTrail" event for a call made by `issuer` (undefined: an IAM user). */
function cloudTrailEvent(source: string, eventSource: string, eventName: string, issuer?: string, extra: object = {}) {
  return {
    version: '0',
    source,
    'detail-type': 'AWS API Call via CloudTrail',
    account: '111122223333',
    region: 'us-east-1',
    detail: {
      eventSource,
      eventName,
      userIdentity: issuer
        ? { type: 'AssumedRole', sessionContext: { sessionIssuer: { type: 'Role', arn: issuer } } }
        : { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/alice' },
      requestParameters: { customKeyStoreId: 'cks-1234567890abcdef0', clusterId: 'cluster-1a23b4cdefg' },
      ...extra,
    },
  };
}

beforeAll(async () => {
  // Prepare: this run's package, built once (offline, no AWS configuration) on a copy of the project.
  service = await packagedService();
  ({ work, output: packageOutput } = service);
  env = serverlessEnv(work);
  template = JSON.parse(readFileSync(templateFile(service), 'utf8'));
}, PACKAGE_TIMEOUT_MS);

describe('serverless package', () => {
  it('packages offline, without AWS credentials, one artifact per function', () => {
    expect(packageOutput).toMatch(/Service packaged/);
    for (const fnId of [functionId('functions/sweep.handler'), functionId('functions/on-event.handler'), functionId('functions/on-change.handler')]) {
      const key = String(resource(fnId).Properties?.Code?.S3Key);
      expect(existsSync(join(work, 'project', '.serverless', basename(key))), key).toBe(true);
    }
  });

  it('deploys the functions on Node.js 22 arm64, each with its own role', () => {
    const sweep = functionId('functions/sweep.handler');
    const onEvent = functionId('functions/on-event.handler');
    const onChange = functionId('functions/on-change.handler');
    for (const id of [sweep, onEvent, onChange]) {
      expect(resource(id).Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
      expect(resource(roleIdOf(id)).Type).toBe('AWS::IAM::Role');
    }
    expect(new Set([sweep, onEvent, onChange].map(roleIdOf)).size).toBe(3);
    expect(resourcesOfType('AWS::IAM::Role').map(([id]) => id)).not.toContain('IamRoleLambdaExecution');
    expect(resource(sweep).Properties?.Timeout).toBeGreaterThanOrEqual(120);
    expect(resource(onEvent).Properties?.Timeout).toBeGreaterThanOrEqual(60);
    expect(resource(onChange).Properties?.Timeout).toBeGreaterThanOrEqual(60);
  });

  it("gives both functions literal names of the stack's table and bus, which the config accepts", () => {
    const table = resourcesOfType('AWS::DynamoDB::Table');
    const bus = resourcesOfType('AWS::Events::EventBus');
    expect(table).toHaveLength(1);
    expect(bus).toHaveLength(1);
    for (const id of [functionId('functions/sweep.handler'), functionId('functions/on-event.handler')]) {
      const variables = resource(id).Properties?.Environment?.Variables as Record<string, unknown>;
      for (const [name, value] of Object.entries(variables)) expect(typeof value, name).toBe('string');
      expect(variables.CKS_TABLE).toBe(`cks-reconciler-${STAGE}-stores`);
      expect(variables.CKS_TABLE).toBe(table[0]![1].Properties?.TableName);
      expect(variables.CKS_EVENT_BUS).toBe(bus[0]![1].Properties?.Name);
      const config = loadConfig({ ...(variables as Record<string, string>), AWS_REGION: 'us-east-1' });
      expect(config).toMatchObject({ tableName: variables.CKS_TABLE, eventBusName: variables.CKS_EVENT_BUS, logLevel: 'INFO' });
    }
  });

  it('runs the sweep on a 1-5 minute schedule, never two at once', () => {
    const sweep = functionId('functions/sweep.handler');
    const schedules = rulesInvoking(sweep).filter(([, rule]) => rule.Properties?.ScheduleExpression);
    expect(schedules).toHaveLength(1);
    expect(schedules[0]![1].Properties?.ScheduleExpression).toMatch(/^rate\((1 minute|[2-5] minutes)\)$/);
    expect(schedules[0]![1].Properties?.State).toBe('ENABLED');
    expect(resource(sweep).Properties?.ReservedConcurrentExecutions).toBe(1);
  });

  describe('CloudTrail rules', () => {
    const cases = [
      { service: 'KMS', source: 'aws.kms', eventSource: 'kms.amazonaws.com', names: KMS_EVENT_NAMES },
      { service: 'CloudHSM', source: 'aws.cloudhsm', eventSource: 'cloudhsm.amazonaws.com', names: CLOUDHSM_EVENT_NAMES },
    ];

    function ruleFor(source: string): Resource {
      const rules = rulesInvoking(functionId('functions/on-event.handler')).filter(([, rule]) =>
        list(rule.Properties?.EventPattern?.source).includes(source),
      );
      expect(rules, `one rule for ${source}`).toHaveLength(1);
      return rules[0]![1];
    }

    it.each(cases)(
      'listens on the default bus for exactly the successful $service calls the trigger parser reads',
      ({ source, eventSource, names }) => {
        const rule = ruleFor(source);
        const pattern = rule.Properties?.EventPattern;
        expect(rule.Properties?.EventBusName).toBeUndefined();
        expect(pattern.source).toEqual([source]);
        expect(pattern['detail-type']).toEqual(['AWS API Call via CloudTrail']);
        expect(pattern.detail.eventSource).toEqual([eventSource]);
        expect([...pattern.detail.eventName].sort()).toEqual([...names].sort());
        expect(pattern.detail.errorCode).toEqual([{ exists: false }]);
      },
    );

    it.each(cases)("leaves out $service calls made by the reconciler's own roles (anything-but on the session issuer)", ({ source }) => {
      const detail = ruleFor(source).Properties?.EventPattern.detail;
      const issuerMatchers = [detail, ...list<Json>(detail.$or)].flatMap((branch) =>
        list(branch?.userIdentity?.sessionContext?.sessionIssuer?.arn),
      ) as Array<Record<string, unknown>>;
      const anythingBut = issuerMatchers.find((m) => 'anything-but' in m)?.['anything-but'];
      const roles = [functionId('functions/sweep.handler'), functionId('functions/on-event.handler'), functionId('functions/on-change.handler')].map(
        roleIdOf,
      );
      expect(anythingBut).toEqual(expect.arrayContaining(roles.map((role) => getAtt(role, 'Arn'))));
      expect(list(anythingBut)).toHaveLength(roles.length);
    });

    it.each(cases)('matches $service calls by operators and IAM users, not failed calls nor its own', ({ source, eventSource, names }) => {
      const rule = ruleFor(source);
      const pattern = withRoleArns(rule.Properties?.EventPattern) as EventPattern;
      const [sweepRole, onEventRole, onChangeRole] = [
        functionId('functions/sweep.handler'),
        functionId('functions/on-event.handler'),
        functionId('functions/on-change.handler'),
      ].map((id) => `arn:aws:iam::111122223333:role/${roleIdOf(id)}`);
      const operator = 'arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0123456789abcdef';
      for (const name of names) {
        expect(matchesPattern(pattern, cloudTrailEvent(source, eventSource, name, operator)), `${name} by an operator`).toBe(true);
        expect(matchesPattern(pattern, cloudTrailEvent(source, eventSource, name)), `${name} by an IAM user`).toBe(true);
        expect(matchesPattern(pattern, cloudTrailEvent(source, eventSource, name, sweepRole)), `${name} by the sweep`).toBe(false);
        expect(matchesPattern(pattern, cloudTrailEvent(source, eventSource, name, onEventRole)), `${name} by on-event`).toBe(false);
        expect(matchesPattern(pattern, cloudTrailEvent(source, eventSource, name, onChangeRole)), `${name} by on-change`).toBe(false);
        expect(
          matchesPattern(pattern, cloudTrailEvent(source, eventSource, name, operator, { errorCode: 'AccessDenied' })),
          `${name} that failed`,
        ).toBe(false);
      }
      expect(matchesPattern(pattern, cloudTrailEvent(source, eventSource, 'DescribeClusters', operator))).toBe(false);
    });

    it('sends events EventBridge cannot deliver to the dead-letter queue, which lets only these rules in', () => {
      // The dead-letter queues (the fleet's scope queue and the follow-up queue are work queues, see 'the fleet' and 'follow-ups').
      const queues = resourcesOfType('AWS::SQS::Queue').filter(([id]) => !WORK_QUEUES.includes(id));
      expect(queues).toHaveLength(1);
      const dlq = queues[0]![0];
      const policy = resourcesOfType('AWS::SQS::QueuePolicy').find(([, p]) => JSON.stringify(p.Properties?.Queues) === JSON.stringify([ref(dlq)]));
      expect(policy, 'a queue policy on the DLQ').toBeDefined();
      const allowed = JSON.stringify(list<Statement>(policy![1].Properties?.PolicyDocument.Statement));
      for (const { source } of cases) {
        const rule = ruleFor(source);
        expect(rule.Properties?.Targets[0].DeadLetterConfig).toEqual({ Arn: getAtt(dlq, 'Arn') });
        expect(allowed).toContain(`rule/${rule.Properties?.Name}`);
      }
    });
  });

  it('reconciles desired-state changes from the table stream on onChange alone, keeping only store items', () => {
    const onChange = functionId('functions/on-change.handler');
    const [table] = resourcesOfType('AWS::DynamoDB::Table')[0]!;
    const [dlq] = resourcesOfType('AWS::SQS::Queue')[0]!;
    // The table stream's mappings (the SQS mappings are checked under 'the fleet' and 'follow-ups').
    const mappings = resourcesOfType('AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => !WORK_QUEUES.some((queue) => JSON.stringify(m.Properties?.EventSourceArn) === JSON.stringify(getAtt(queue, 'Arn'))),
    );
    expect(mappings).toHaveLength(1);
    const mapping = mappings[0]![1].Properties!;
    expect(mapping).toMatchObject({
      EventSourceArn: getAtt(table, 'StreamArn'),
      FunctionName: getAtt(onChange, 'Arn'),
      StartingPosition: 'LATEST',
      BisectBatchOnFunctionError: true,
      DestinationConfig: { OnFailure: { Destination: getAtt(dlq, 'Arn') } },
    });
    expect(mapping.MaximumRetryAttempts).toBeGreaterThanOrEqual(0);
    const filters = list<Json>(mapping.FilterCriteria?.Filters).map((f) => JSON.parse(f.Pattern) as EventPattern);
    expect(filters.length).toBeGreaterThan(0);
    // Operators write under DESIRED#..., the reconciler under SCOPE#... and HISTORY#... (see shared/domain/table-keys.ts).
    const record = (sk: string, image: Record<string, unknown>, signer?: string) => {
      const pk =
        signer !== undefined
          ? `SIGNER#${signer}`
          : sk.endsWith('#DESIRED') || sk === 'SETTINGS'
            ? 'DESIRED#111122223333#us-east-1'
            : 'SCOPE#111122223333#us-east-1';
      const keys = { pk: { S: pk }, sk: { S: sk } };
      return { eventName: 'MODIFY', dynamodb: { Keys: keys, NewImage: { ...keys, ...image } } };
    };
    const desired = { desiredState: { S: 'CONNECTED' } };
    expect(filters.some((f) => matchesPattern(f, record('STORE#payments-hsm#DESIRED', desired)))).toBe(true);
    // A signature of a store wakes it; one of the settings does not.
    const signed = (subject: string) => `DESIRED#111122223333#us-east-1#${subject}#2#${'a'.repeat(64)}`;
    expect(
      filters.some((f) => matchesPattern(f, record(signed('STORE#payments-hsm'), { subject: { S: 'STORE#payments-hsm' } }, 'source/alice'))),
    ).toBe(true);
    expect(filters.some((f) => matchesPattern(f, record(signed('SETTINGS'), { subject: { S: 'SETTINGS' } }, 'source/alice')))).toBe(false);
    expect(filters.some((f) => matchesPattern(f, record('STORE#payments-hsm#STATUS', { phase: { S: 'IDLE' } })))).toBe(false);
    expect(filters.some((f) => matchesPattern(f, record('SETTINGS', {})))).toBe(false);
    expect(filters.some((f) => matchesPattern(f, record('2026-01-01T00:00:00.000Z#r-1', {})))).toBe(false);
  });

  it('keeps desired state in a retained table with a stream and TTL on `ttl`', () => {
    const tables = resourcesOfType('AWS::DynamoDB::Table');
    expect(tables).toHaveLength(1);
    const table = tables[0]![1];
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    // The same key schema and signatures' index `cks init` creates.
    expect(table.Properties?.KeySchema).toEqual(TABLE_KEY_SCHEMA.KeySchema);
    expect(table.Properties?.AttributeDefinitions).toEqual(TABLE_KEY_SCHEMA.AttributeDefinitions);
    expect(table.Properties?.GlobalSecondaryIndexes).toEqual(TABLE_KEY_SCHEMA.GlobalSecondaryIndexes);
  });

  it('sends async invocations that give up to an encrypted dead-letter queue both roles may write to', () => {
    const [dlq, queue] = resourcesOfType('AWS::SQS::Queue')[0]!;
    expect(queue.Properties?.SqsManagedSseEnabled === true || queue.Properties?.KmsMasterKeyId !== undefined).toBe(true);
    for (const fnId of [functionId('functions/sweep.handler'), functionId('functions/on-event.handler')]) {
      const configs = resourcesOfType('AWS::Lambda::EventInvokeConfig').filter(
        ([, c]) => JSON.stringify(c.Properties?.FunctionName) === JSON.stringify(ref(fnId)),
      );
      expect(configs, `${fnId} has an async invoke config`).toHaveLength(1);
      expect(configs[0]![1].Properties?.DestinationConfig?.OnFailure?.Destination).toEqual(getAtt(dlq, 'Arn'));
      expect(grants(roleIdOf(fnId), 'sqs:SendMessage', getAtt(dlq, 'Arn'))).toBe(true);
    }
  });

  it('alarms on errors of each function and on dead letters, to the on-call topic', () => {
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties!);
    const topics = resourcesOfType('AWS::SNS::Topic');
    expect(topics).toHaveLength(1);
    const topic = topics[0]![0];
    for (const alarm of alarms) expect(alarm.AlarmActions, alarm.AlarmName).toContainEqual(ref(topic));
    for (const fnId of [functionId('functions/sweep.handler'), functionId('functions/on-event.handler')]) {
      const errors = alarms.filter(
        (a) =>
          a.Namespace === 'AWS/Lambda' &&
          a.MetricName === 'Errors' &&
          JSON.stringify(a.Dimensions) === JSON.stringify([{ Name: 'FunctionName', Value: ref(fnId) }]),
      );
      expect(errors, `an Errors alarm for ${fnId}`).toHaveLength(1);
    }
    const [dlq] = resourcesOfType('AWS::SQS::Queue')[0]!;
    const depth = alarms.filter((a) => a.Namespace === 'AWS/SQS' && a.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(depth).toHaveLength(1);
    expect(depth[0]).toMatchObject({
      Dimensions: [{ Name: 'QueueName', Value: getAtt(dlq, 'QueueName') }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarms on escalations with the metric the reconciler emits, dimensions included', () => {
    // Prepare: the EMF line the reconciler prints for one escalation.
    const previous = process.env.POWERTOOLS_METRICS_DISABLED;
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    const printed: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      recordRepair(makeMetrics(), 'Escalated', 'USER_LOCKED_OUT');
    } finally {
      write.mockRestore();
      if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
      else process.env.POWERTOOLS_METRICS_DISABLED = previous;
    }
    const emf = printed.map((line) => JSON.parse(line)).find((line) => line._aws);
    const [
      {
        Namespace: namespace,
        Dimensions: [dimensions],
        Metrics: [{ Name: metric }],
      },
    ] = emf._aws.CloudWatchMetrics;

    // Act: the alarm's Metrics Insights query.
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm')
      .map(([, a]) => a.Properties!)
      .filter((a) => list<Json>(a.Metrics).some((m) => String(m.Expression).includes(metric)));
    expect(alarms, `one alarm on ${metric}`).toHaveLength(1);
    const query = list<Json>(alarms[0]!.Metrics).find((m) => m.ReturnData !== false);
    const parsed = /^SELECT\s+SUM\((\w+)\)\s+FROM\s+SCHEMA\(\s*"?([\w./-]+)"?\s*,\s*([^)]*)\)\s+WHERE\s+"?service"?\s*=\s*'([^']+)'\s*$/i.exec(
      String(query.Expression),
    );

    // Assess
    expect(parsed, String(query.Expression)).not.toBeNull();
    const [, queriedMetric, queriedNamespace, schemaDimensions, service] = parsed!;
    expect(queriedMetric).toBe(metric);
    expect(queriedNamespace).toBe(namespace);
    expect(
      schemaDimensions!
        .split(',')
        .map((d) => d.trim().replace(/"/g, ''))
        .sort(),
    ).toEqual([...dimensions].sort());
    expect(service).toBe(emf.service);
    expect(query.Period).toBeGreaterThan(0);
    expect(alarms[0]).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold' });
  });

  it("routes Repair Escalated and regional incidents on the reconciler's bus to the on-call topic", () => {
    const [bus] = resourcesOfType('AWS::Events::EventBus')[0]!;
    const [topic, topicResource] = resourcesOfType('AWS::SNS::Topic')[0]!;
    expect(topicResource.Properties?.KmsMasterKeyId).toBeDefined();
    const onCall = resourcesOfType('AWS::Events::Rule').filter(([, rule]) =>
      list(rule.Properties?.Targets).some((t: Json) => JSON.stringify(t.Arn) === JSON.stringify(ref(topic))),
    );
    for (const [, rule] of onCall) expect(rule.Properties?.EventBusName).toEqual(ref(bus));
    const patterns = onCall.map(([, rule]) => rule.Properties?.EventPattern as EventPattern);
    const event = (detailType: string, detail: object) => ({ source: EVENT_SOURCE, 'detail-type': detailType, detail });
    const routed = (e: object) => patterns.some((p) => matchesPattern(p, e));
    expect(routed(event('Repair Escalated', { storeName: 'payments-hsm', runbook: '...', dryRun: false }))).toBe(true);
    expect(routed(event('Repair Escalated', { storeName: 'payments-hsm', runbook: '...', dryRun: true }))).toBe(false);
    expect(routed(event('Sweep Summary', { regionalIncident: true, regionalIncidentStarted: true }))).toBe(true);
    expect(routed(event('Sweep Summary', { regionalIncident: true, regionalIncidentStarted: false }))).toBe(false);
    expect(routed(event('Sweep Summary', { regionalIncident: false, regionalIncidentStarted: false }))).toBe(false);
    expect(routed(event('Repair Step', { storeName: 'payments-hsm' }))).toBe(false);
    expect(routed({ ...event('Repair Escalated', {}), source: 'someone.else' })).toBe(false);

    // EventBridge may publish to the topic for these rules only.
    const topicPolicy = resourcesOfType('AWS::SNS::TopicPolicy').find(
      ([, p]) => JSON.stringify(p.Properties?.Topics) === JSON.stringify([ref(topic)]),
    );
    expect(topicPolicy).toBeDefined();
    const fromEvents = list<Statement>(topicPolicy![1].Properties?.PolicyDocument.Statement).filter(
      (s: Json) => s.Effect === 'Allow' && list(s.Principal?.Service).includes('events.amazonaws.com'),
    );
    expect(fromEvents).toHaveLength(1);
    expect(fromEvents[0]!.Condition?.ArnEquals?.['aws:SourceArn']).toEqual(onCall.map(([id]) => getAtt(id, 'Arn')));
  });

  it('grants no wildcard action anywhere, and no action at all to a wildcard in identity policies', () => {
    const wildcard = (action: string) => action === '*' || action.endsWith(':*');
    const documents = policyDocuments();
    expect(documents.filter((d) => d.identity).length).toBeGreaterThanOrEqual(2);
    for (const { where, identity, statements } of documents) {
      for (const statement of statements) {
        const label = `${where} ${statement.Sid ?? JSON.stringify(statement.Action)}`;
        if (statement.Effect === 'Allow' || identity) {
          expect(statement.NotAction, label).toBeUndefined();
          expect(list(statement.Action).filter(wildcard), label).toEqual([]);
        }
      }
    }
  });

  it("grants Resource '*' only for actions AWS does not scope by resource, and only in this Region", () => {
    const unscopable = new Set([
      'kms:DescribeCustomKeyStores',
      'kms:ConnectCustomKeyStore',
      'kms:DisconnectCustomKeyStore',
      'kms:UpdateCustomKeyStore',
      'kms:GenerateRandom',
      'cloudhsm:DescribeClusters',
      'cloudwatch:GetMetricData',
    ]);
    for (const { where, statements } of policyDocuments().filter((d) => d.identity)) {
      for (const statement of statements.filter((s) => list(s.Resource).includes('*'))) {
        const label = `${where} ${statement.Sid ?? ''}`;
        for (const action of list(statement.Action)) expect(unscopable.has(action), `${label}: ${action}`).toBe(true);
        expect(statement.Condition?.StringEquals?.['aws:RequestedRegion'], label).toEqual(ref('AWS::Region'));
      }
    }
  });

  it('scopes each role to its own log group, the stack’s resources, and only on-change to the stream', () => {
    const [table] = resourcesOfType('AWS::DynamoDB::Table')[0]!;
    const [bus] = resourcesOfType('AWS::Events::EventBus')[0]!;
    for (const [handler, readsStream] of [
      ['functions/sweep.handler', false],
      ['functions/on-event.handler', false],
      ['functions/on-change.handler', true],
    ] as const) {
      const fnId = functionId(handler);
      const role = roleIdOf(fnId);
      const statements = statementsOfRole(role);
      const logs = statements.filter((s) => list(s.Action).some((a) => a.startsWith('logs:')));
      const logGroup = `log-group:/aws/lambda/${resource(fnId).Properties?.FunctionName}:*`;
      expect(logs.length, role).toBeGreaterThan(0);
      for (const s of logs) expect(JSON.stringify(s.Resource), role).toContain(logGroup);
      for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query']) {
        expect(grants(role, action, getAtt(table, 'Arn')), `${role} ${action}`).toBe(true);
      }
      expect(grants(role, 'events:PutEvents', getAtt(bus, 'Arn')), `${role} events:PutEvents`).toBe(true);
      expect(grants(role, 'dynamodb:GetRecords', getAtt(table, 'StreamArn')), `${role} reads the stream`).toBe(readsStream);
      const secrets = statements.filter((s) => list(s.Action).includes('secretsmanager:GetSecretValue'));
      expect(secrets).toHaveLength(1);
      expect(JSON.stringify(secrets[0]!.Resource)).toMatch(/:secret:[^"*]+\*/);
      const createHsm = statements.filter((s) => list(s.Action).includes('cloudhsm:CreateHsm'));
      expect(createHsm).toHaveLength(1);
      expect(JSON.stringify(createHsm[0]!.Resource)).toContain(':cluster/*');
    }
  });

  it('lets neither reconciler role write a desired item, a signature or the settings (IAM dynamodb:LeadingKeys)', () => {
    const [table] = resourcesOfType('AWS::DynamoDB::Table')[0]!;
    const likePattern = (pattern: string) =>
      new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      );
    for (const handler of ['functions/sweep.handler', 'functions/on-event.handler', 'functions/on-change.handler']) {
      const role = roleIdOf(functionId(handler));
      const writes = statementsOfRole(role).filter(
        (s) =>
          s.Effect === 'Allow' &&
          list(s.Action).some((a) => ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'].includes(a)),
      );
      expect(writes.length, role).toBeGreaterThan(0);
      for (const statement of writes) {
        expect(JSON.stringify(statement.Resource), role).toBe(JSON.stringify(getAtt(table, 'Arn')));
        const leading = list<string>((statement.Condition as Json)?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']);
        expect(leading.length, `${role} ${statement.Sid}: writes are bound to leading keys`).toBeGreaterThan(0);
        // The reconciler's own partitions may be written; the operators' partition may not.
        expect(
          leading.some((p) => likePattern(p).test('SCOPE#111122223333#us-east-1')),
          role,
        ).toBe(true);
        for (const operatorKey of ['DESIRED#111122223333#us-east-1', 'SIGNER#principal/AIDAOPERATOR', 'SIGNER#source/alice']) {
          expect(
            leading.some((p) => likePattern(p).test(operatorKey)),
            `${role} may write ${operatorKey}`,
          ).toBe(false);
        }
      }
    }
  });

  it("ships an operator policy as an output: read the table and the stores, write only the operators' partition, one's own signatures and register scopes", () => {
    const [table] = resourcesOfType('AWS::DynamoDB::Table')[0]!;
    const output = (template as Json).Outputs?.OperatorPolicyArn;
    expect(output?.Value).toEqual(ref('OperatorPolicy'));
    const statements = list<Statement>(resource('OperatorPolicy').Properties?.PolicyDocument.Statement);
    const writes = statements.filter((s) =>
      list(s.Action).some((a) => ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'].includes(a)),
    );
    expect(writes.map((s) => s.Sid)).toEqual(['SignAsSourceIdentity', 'SignAsPrincipal', 'WriteDesiredState', 'RegisterScopes']);
    for (const statement of writes) expect(JSON.stringify(statement.Resource)).toBe(JSON.stringify(getAtt(table, 'Arn')));
    const [asSource, asPrincipal, desired, registry] = writes as [Statement, Statement, Statement, Statement];
    // Signatures in one's own partition only, named by IAM's policy variables; a source identity, when the session has one, and nothing else.
    const signerKeys = (statement: Statement) =>
      JSON.stringify((statement.Condition as Json)?.['ForAllValues:StringEquals']?.['dynamodb:LeadingKeys']);
    expect(signerKeys(asSource)).toBe(JSON.stringify([{ 'Fn::Join': ['', ['SIGNER#source/$', '{aws:SourceIdentity}']] }]));
    expect((asSource.Condition as Json)?.Null).toEqual({ 'aws:SourceIdentity': 'false' });
    expect(signerKeys(asPrincipal)).toBe(JSON.stringify([{ 'Fn::Join': ['', ['SIGNER#principal/$', '{aws:userid}']] }]));
    expect((asPrincipal.Condition as Json)?.Null).toEqual({ 'aws:SourceIdentity': 'true' });
    expect((desired.Condition as Json)?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']).toEqual(['DESIRED#*']);
    // The scope registry (cks apply in another account or Region): a put of exactly pk = REGISTRY, nothing else.
    expect(list(registry.Action)).toEqual(['dynamodb:PutItem']);
    expect((registry.Condition as Json)?.['ForAllValues:StringEquals']?.['dynamodb:LeadingKeys']).toEqual(['REGISTRY']);
    // Nothing that acts on a store or publishes.
    const actions = statements.flatMap((s) => list<string>(s.Action));
    for (const forbidden of [
      'kms:ConnectCustomKeyStore',
      'kms:DisconnectCustomKeyStore',
      'kms:UpdateCustomKeyStore',
      'cloudhsm:CreateHsm',
      'events:PutEvents',
      'secretsmanager:GetSecretValue',
    ]) {
      expect(actions).not.toContain(forbidden);
    }
  });

  it("binds the on-call key to this account's alarms and this stack's rules", () => {
    const [, key] = resourcesOfType('AWS::KMS::Key').find(([id]) => id === 'OnCallTopicKey')!;
    const services = list<Json>(key.Properties?.KeyPolicy.Statement).filter((s) => s.Principal?.Service);
    expect(services.length).toBeGreaterThan(0);
    for (const statement of services) {
      expect(statement.Condition?.StringEquals?.['aws:SourceAccount'], statement.Sid).toEqual(ref('AWS::AccountId'));
      expect(JSON.stringify(statement.Condition?.ArnLike?.['aws:SourceArn']), statement.Sid).toMatch(/:(alarm|rule\/)/);
    }
  });

  it('gives CloudTrail events and operators’ changes separate functions, each with its own reserved concurrency, within six for the stack', () => {
    const [onEvent, onChange, sweep] = ['functions/on-event.handler', 'functions/on-change.handler', 'functions/sweep.handler'].map(functionId) as [
      string,
      string,
      string,
    ];
    const reserved = (id: string) => resource(id).Properties?.ReservedConcurrentExecutions as number;
    // A burst of CloudTrail events can take all of onEvent's, and none of onChange's: the stream is never queued behind it.
    expect(reserved(onEvent)).toBeGreaterThan(0);
    expect(reserved(onChange)).toBeGreaterThan(0);
    expect(reserved(onEvent) + reserved(onChange) + reserved(sweep)).toBeLessThanOrEqual(6);
    // The CloudTrail rules invoke onEvent only; the stream's mapping feeds onChange only; onEvent's one mapping is the follow-ups'.
    expect(rulesInvoking(onChange)).toEqual([]);
    expect(rulesInvoking(onEvent).length).toBe(2);
    const mappingsOf = (id: string) =>
      resourcesOfType('AWS::Lambda::EventSourceMapping').filter(
        ([, m]) => JSON.stringify(m.Properties?.FunctionName) === JSON.stringify(getAtt(id, 'Arn')),
      );
    expect(mappingsOf(onEvent).map(([, m]) => m.Properties?.EventSourceArn)).toEqual([getAtt('FollowUpQueue', 'Arn')]);
    expect(mappingsOf(onChange).map(([, m]) => m.Properties?.EventSourceArn)).toEqual([getAtt('StoresTable', 'StreamArn')]);
    expect(roleIdOf(onEvent)).not.toBe(roleIdOf(onChange));
  });

  it('ships self-contained bundles that load without node_modules and export the handler', () => {
    const bundles = mkdtempSync(join(tmpdir(), 'cks-sls-bundles-'));
    try {
      for (const handler of ['functions/sweep.handler', 'functions/worker.handler', 'functions/on-event.handler', 'functions/on-change.handler']) {
        // Prepare: the function's artifact, unpacked where no node_modules can be found.
        const dir = join(bundles, functionId(handler));
        const { artifact, files, entry } = unpackFunction(service, handler, dir);
        expect([...files.keys()].filter((name) => name.startsWith('node_modules/'))).toEqual([]);
        // The Node.js runtime resolves `<file>.<export>` to <file>.js, .mjs or .cjs.
        const exported = handler.slice(handler.lastIndexOf('.') + 1);
        expect(entry, `${handler} in ${artifact}`).toBeDefined();
        // The pinned CloudHSM v2 client ships inside the bundle (its JSON target prefix).
        expect(files.get(entry!)!.toString()).toContain('BaldrApiService');
        // Nothing of the developer tooling (shared/dev/: the fake, demo, offline runner, simulator) is bundled.
        const sources = (JSON.parse(files.get(`${entry!}.map`)!.toString()) as { sources: string[] }).sources;
        expect(sources.some((source) => source.includes('shared/reconcile/'))).toBe(true);
        expect(sources.filter((source) => source.includes('shared/dev/') || /node_modules\/(dynalite|tsx)\//.test(source))).toEqual([]);

        // Act: import it in a fresh Node.js process, and invoke on-change with a record it ignores.
        const probe =
          handler === 'functions/on-change.handler'
            ? { Records: [{ eventName: 'MODIFY', dynamodb: { Keys: { pk: { S: 'SCOPE#111122223333#us-east-1' }, sk: { S: 'STORE#x#STATUS' } } } }] }
            : null;
        const script = `
          const module = await import(${JSON.stringify(pathToFileURL(join(dir, entry!)).href)});
          const handler = module[${JSON.stringify(exported)}];
          const result = ${probe ? `await handler(${JSON.stringify(probe)}, { awsRequestId: 'r-1', invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:f' })` : 'null'};
          process.stdout.write(JSON.stringify({ type: typeof handler, result }));
        `;
        const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
          cwd: dir,
          encoding: 'utf8',
          timeout: 30_000,
          env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', CKS_TABLE: 'cks-reconciler-ci-stores', POWERTOOLS_METRICS_DISABLED: 'true' },
        });

        // Assess
        expect(run.status, `${handler}: ${run.stderr}`).toBe(0);
        const loaded = JSON.parse(run.stdout);
        expect(loaded.type, handler).toBe('function');
        if (probe) expect(loaded.result).toHaveProperty('skipped');
      }
    } finally {
      rmSync(bundles, { recursive: true, force: true });
    }
  });
});

describe('the fleet', () => {
  it('sends every other account-Region to a scope queue whose failed messages go to the dead-letter queue', () => {
    const sweep = functionId('functions/sweep.handler');
    const queue = resource('ScopeQueue');
    const [dlq] = resourcesOfType('AWS::SQS::Queue')[0]!;
    expect(queue.Properties).toMatchObject({
      QueueName: `cks-reconciler-${STAGE}-scopes`,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: getAtt(dlq, 'Arn'), maxReceiveCount: 3 },
    });
    const variables = resource(sweep).Properties?.Environment?.Variables as Record<string, string>;
    expect(variables.CKS_SCOPE_QUEUE).toBe(queue.Properties?.QueueName);
    expect(loadFleetConfig(variables)).toMatchObject({ scopeQueueName: queue.Properties?.QueueName, memberRoleName: 'cks-reconciler-member' });
    expect(grants(roleIdOf(sweep), 'sqs:SendMessage', getAtt('ScopeQueue', 'Arn'))).toBe(true);
    expect(grants(roleIdOf(sweep), 'sqs:GetQueueUrl', getAtt('ScopeQueue', 'Arn'))).toBe(true);
  });

  it('runs the worker on the scope queue with partial batch failures and a capped concurrency', () => {
    const worker = functionId('functions/worker.handler');
    const mappings = resourcesOfType('AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => JSON.stringify(m.Properties?.FunctionName) === JSON.stringify(getAtt(worker, 'Arn')),
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0]![1].Properties).toMatchObject({
      EventSourceArn: getAtt('ScopeQueue', 'Arn'),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 16 },
    });
    // A message stays invisible while the worker may still be on it.
    expect(resource('ScopeQueue').Properties?.VisibilityTimeout).toBeGreaterThanOrEqual(resource(worker).Properties?.Timeout);
    expect(resource(worker).Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
    expect(resource(worker).Properties?.Environment?.Variables).toMatchObject({ CKS_MEMBER_ROLE_NAME: 'cks-reconciler-member' });
  });

  it('lets the worker consume the queue and assume the member role by name, and call KMS, CloudHSM and secrets only through it', () => {
    const role = roleIdOf(functionId('functions/worker.handler'));
    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) {
      expect(grants(role, action, getAtt('ScopeQueue', 'Arn')), action).toBe(true);
    }
    const memberRole = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::*:role/cks-reconciler-member' };
    expect(grants(role, 'sts:AssumeRole', memberRole)).toBe(true);
    expect(grants(roleIdOf(functionId('functions/on-event.handler')), 'sts:AssumeRole', memberRole)).toBe(true);
    expect(grants(roleIdOf(functionId('functions/on-change.handler')), 'sts:AssumeRole', memberRole)).toBe(true);
    expect(grants(roleIdOf(functionId('functions/sweep.handler')), 'sts:AssumeRole', memberRole)).toBe(false);
    const actions = statementsOfRole(role).flatMap((s) => list<string>(s.Action));
    expect(actions.filter((a) => /^(kms|cloudhsm|secretsmanager):/.test(a))).toEqual([]);
    expect(actions.filter((a) => a === 'sts:AssumeRole')).toHaveLength(1);
    expect((template as { Outputs?: Record<string, { Value?: unknown }> }).Outputs?.WorkerRoleArn?.Value).toEqual(getAtt(role, 'Arn'));
  });

  it('delivers follow-ups from their own delayed queue to onEvent, which every function may send to and only onEvent receive from', () => {
    const queue = resource('FollowUpQueue');
    const [dlq] = resourcesOfType('AWS::SQS::Queue')[0]!;
    const onEvent = functionId('functions/on-event.handler');
    expect(queue.Properties).toMatchObject({
      QueueName: `cks-reconciler-${STAGE}-follow-ups`,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: getAtt(dlq, 'Arn'), maxReceiveCount: 3 },
    });
    expect(queue.Properties?.VisibilityTimeout).toBeGreaterThanOrEqual(resource(onEvent).Properties?.Timeout);
    const mapping = resourcesOfType('AWS::Lambda::EventSourceMapping').find(
      ([, m]) => JSON.stringify(m.Properties?.EventSourceArn) === JSON.stringify(getAtt('FollowUpQueue', 'Arn')),
    );
    expect(mapping?.[1].Properties).toMatchObject({ FunctionName: getAtt(onEvent, 'Arn'), BatchSize: 1, ScalingConfig: { MaximumConcurrency: 2 } });
    // Follow-ups never take all of onEvent's reserved concurrency: one is left to CloudTrail events.
    expect(resource(onEvent).Properties?.ReservedConcurrentExecutions).toBeGreaterThan(2);
    for (const handler of ['sweep', 'worker', 'on-event', 'on-change']) {
      const fn = functionId(`functions/${handler}.handler`);
      const variables = resource(fn).Properties?.Environment?.Variables as Record<string, string>;
      expect(loadFleetConfig(variables).followUpQueueName, handler).toBe(queue.Properties?.QueueName);
      expect(grants(roleIdOf(fn), 'sqs:SendMessage', getAtt('FollowUpQueue', 'Arn')), handler).toBe(true);
      expect(grants(roleIdOf(fn), 'sqs:GetQueueUrl', getAtt('FollowUpQueue', 'Arn')), handler).toBe(true);
      expect(grants(roleIdOf(fn), 'sqs:ReceiveMessage', getAtt('FollowUpQueue', 'Arn')), handler).toBe(handler === 'on-event');
    }
  });

  it('alarms on worker errors, scopes waiting for the worker and unreachable scopes, to the on-call topic', () => {
    const [topic] = resourcesOfType('AWS::SNS::Topic')[0]!;
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties!);
    const workerErrors = alarms.filter(
      (a) =>
        a.MetricName === 'Errors' &&
        JSON.stringify(a.Dimensions) === JSON.stringify([{ Name: 'FunctionName', Value: ref(functionId('functions/worker.handler')) }]),
    );
    expect(workerErrors).toHaveLength(1);
    const age = alarms.find((a) => a.MetricName === 'ApproximateAgeOfOldestMessage');
    expect(age?.Dimensions).toEqual([{ Name: 'QueueName', Value: getAtt('ScopeQueue', 'QueueName') }]);
    const unreachable = alarms.find((a) => JSON.stringify(a.Metrics ?? []).includes('ScopesUnreachable'));
    expect(unreachable?.Metrics[0].Expression).toBe(
      "SELECT SUM(ScopesUnreachable) FROM SCHEMA(CksReconciler, ErrorCode, service) WHERE service = 'cks-reconciler'",
    );
    for (const alarm of [...workerErrors, age, unreachable]) expect(alarm?.AlarmActions).toContainEqual(ref(topic));
    // What the reconciler emits matches the alarm's schema: metric, namespace and dimensions.
    const previous = process.env.POWERTOOLS_METRICS_DISABLED;
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    const printed: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      recordScopeUnreachable(makeMetrics(), 'AccessDenied');
    } finally {
      write.mockRestore();
      if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
      else process.env.POWERTOOLS_METRICS_DISABLED = previous;
    }
    const emf = printed.map((line) => JSON.parse(line)).find((line) => line._aws);
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'CksReconciler',
      Dimensions: [expect.arrayContaining(['ErrorCode', 'service'])],
    });
    expect(emf).toMatchObject({ ScopesUnreachable: 1, ErrorCode: 'AccessDenied', service: 'cks-reconciler' });
  });

  it('accepts member accounts’ events on the default bus only with an organization id', () => {
    expect(holds(template.Conditions?.HasOrganization)).toBe(false);
    expect(resource('OrganizationEventsPolicy').Condition).toBe('HasOrganization');
  });
});

/** The value of a template condition built from Fn::Equals and Fn::Not (all the on-call ones use). */
function holds(condition: unknown): boolean {
  const c = condition as Record<string, unknown[]>;
  if (c['Fn::Not']) return !holds(c['Fn::Not'][0]);
  if (c['Fn::Equals']) return JSON.stringify(c['Fn::Equals'][0]) === JSON.stringify(c['Fn::Equals'][1]);
  throw new Error(`cannot evaluate condition ${JSON.stringify(condition)}`);
}

/** A rule's targets as deployed: `Fn::If [condition, target, AWS::NoValue]` resolved with the template's conditions. */
function deployedTargets(rule: Resource, from: Template): Json[] {
  return list<Json>(rule.Properties?.Targets).flatMap((target) => {
    const branch = target['Fn::If'];
    if (!branch) return [target];
    return holds(from.Conditions?.[branch[0]]) ? [branch[1]] : [];
  });
}

/** The on-call page rules (those targeting the on-call topic), each with the page its detail-type makes. */
function pageRules(from: Template): Array<{ id: string; rule: Resource; page: PageName }> {
  const [topic] = resourcesOfType('AWS::SNS::Topic', from).find(([, t]) => t.Properties?.TopicName === `cks-reconciler-${STAGE}-on-call`)!;
  // A page is named by its detail-type and, where one detail-type has a page per subject, the subject its rule matches.
  const key = (detailType: string, subject: string | undefined) => `${detailType}/${subject ?? ''}`;
  const byKey = new Map(Object.entries(onCallPages(STAGE)).map(([name, page]) => [key(page.detailType, page.detailSubject), name as PageName]));
  return resourcesOfType('AWS::Events::Rule', from)
    .filter(([, rule]) => list(rule.Properties?.Targets).some((t: Json) => JSON.stringify(t.Arn) === JSON.stringify(ref(topic))))
    .map(([id, rule]) => {
      const pattern = rule.Properties?.EventPattern;
      const detailType = String(pattern['detail-type'][0]);
      const page = byKey.get(key(detailType, pattern.detail?.subject?.[0]));
      if (!page) throw new Error(`${id} pages ${detailType}, which has no page`);
      return { id, rule, page };
    });
}

describe('on-call pages', () => {
  const values = onCallTransformers(STAGE);

  it('gives every on-call target the input transformer of its page, and its dead letters to the queue', () => {
    const [topic] = resourcesOfType('AWS::SNS::Topic')[0]!;
    const [dlq] = resourcesOfType('AWS::SQS::Queue')[0]!;
    const rules = pageRules(template);
    expect(rules.map(({ page }) => page).sort()).toEqual(Object.keys(onCallPages(STAGE)).sort());
    for (const { id, rule, page } of rules) {
      const targets = deployedTargets(rule, template);
      expect(targets, id).toHaveLength(1);
      expect(targets[0].Arn).toEqual(ref(topic));
      expect(targets[0].InputTransformer, id).toEqual(values[page].topic);
      expect(targets[0].DeadLetterConfig, id).toEqual({ Arn: getAtt(dlq, 'Arn') });
    }
    const queuePolicy = resourcesOfType('AWS::SQS::QueuePolicy')[0]![1];
    const fromOnCall = list<Statement>(queuePolicy.Properties?.PolicyDocument.Statement).find((s) => s.Sid === 'OnCallRulesDeliveryFailures');
    expect(fromOnCall?.Condition?.ArnEquals?.['aws:SourceArn']).toEqual(expect.arrayContaining(rules.map(({ id }) => getAtt(id, 'Arn'))));
  });

  it('pages store events only when live (dryRun false), and a fleet’s Scope Unreachable always', () => {
    const patterns = pageRules(template).map(({ rule }) => rule.Properties?.EventPattern as EventPattern);
    const routed = (detailType: string, detail: object) =>
      patterns.some((p) => matchesPattern(p, { source: EVENT_SOURCE, 'detail-type': detailType, detail }));
    for (const detailType of ['Repair Escalated', 'Manual Change Detected', 'Approval Required']) {
      expect(routed(detailType, { storeName: 'payments-hsm', dryRun: false }), detailType).toBe(true);
      expect(routed(detailType, { storeName: 'payments-hsm', dryRun: true }), `${detailType} in plan mode`).toBe(false);
    }
    expect(routed('Scope Unreachable', { accountId: '444455556666', region: 'eu-west-1', errorCode: 'AccessDenied' })).toBe(true);
    const settings = { accountId: '444455556666', region: 'eu-west-1', subject: 'SETTINGS', dryRun: false };
    expect(patterns.filter((p) => matchesPattern(p, { source: EVENT_SOURCE, 'detail-type': 'Approval Required', detail: settings }))).toHaveLength(1);
    expect(routed('Repair Succeeded', { storeName: 'payments-hsm', dryRun: false })).toBe(false);
  });

  it('leaves chat and PagerDuty out without their parameters, with no secret reference in the template', () => {
    expect(holds(template.Conditions?.HasOnCallChat)).toBe(false);
    expect(holds(template.Conditions?.HasPagerDuty)).toBe(false);
    const optional = ['AWS::Events::Connection', 'AWS::Events::ApiDestination'].flatMap((type) => resourcesOfType(type));
    expect(optional.length).toBeGreaterThan(0);
    for (const [id, res] of optional) expect(res.Condition, id).toBe('HasPagerDuty');
    expect(JSON.stringify(template)).not.toContain('{{resolve:');
  });

  it('alarms on escalations per hour above a threshold, never on a single incident', () => {
    const escalations = resourcesOfType('AWS::CloudWatch::Alarm')
      .map(([, a]) => a.Properties!)
      .filter((a) => list<Json>(a.Metrics).some((m) => String(m.Expression).includes('RepairEscalated')));
    expect(escalations).toHaveLength(1);
    expect(escalations[0]).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1 });
    expect(list<Json>(escalations[0]!.Metrics)[0].Period).toBe(3600);
  });
});

/**
 * A copy of the packaged project for a variant `serverless package` (other parameters): serverless
 * rewrites the project's `.serverless` and `.esbuild` as it builds, which other tests read meanwhile.
 */
function variantProject(name: string): string {
  const copy = join(work, name);
  cpSync(join(work, 'project'), copy, { recursive: true, filter: (src) => !['.serverless', '.esbuild'].includes(basename(src)) });
  return copy;
}

describe('on-call pages with chat and PagerDuty', () => {
  const CHAT_TOPIC = 'arn:aws:sns:us-east-1:111122223333:on-call-chat';
  const SECRET = 'on-call/pagerduty-routing-key';
  const values = onCallTransformers(STAGE);
  let withBoth: Template;

  beforeAll(async () => {
    const output = join(work, 'with-chat-and-pagerduty');
    await runServerless(
      variantProject('with-chat-and-pagerduty-project'),
      ['package', '--stage', STAGE, '--package', output, `--param=onCallChatTopicArn=${CHAT_TOPIC}`, `--param=pagerDutyRoutingKeySecret=${SECRET}`],
      env,
    );
    withBoth = JSON.parse(readFileSync(join(output, 'cloudformation-template-update-stack.json'), 'utf8'));
  }, PACKAGE_TIMEOUT_MS);

  /** The one resource of a type. */
  function only(type: string): [string, Resource] {
    const found = resourcesOfType(type, withBoth);
    expect(found, type).toHaveLength(1);
    return found[0]!;
  }

  it.each([
    ['pagerDutyRoutingKeySecret=0123456789abcdef0123456789abcdef', 'pagerDutyRoutingKeySecret looks like a PagerDuty integration key'],
    ['onCallChatTopicArn=on-call-chat', 'onCallChatTopicArn must be the ARN of an SNS topic'],
  ])('refuses --param=%s and writes no template', async (param, error) => {
    const output = join(work, `refused-${param.split('=')[0]}`);
    const project = variantProject(`refused-${param.split('=')[0]}-project`);
    await expect(runServerless(project, ['package', '--stage', STAGE, '--package', output, `--param=${param}`], env)).rejects.toThrow(error);
    expect(existsSync(join(output, 'cloudformation-template-update-stack.json'))).toBe(false);
  });

  it('sends the same pages to the chat topic, as AWS Chatbot custom notifications', () => {
    expect(resourcesOfType('AWS::SNS::Topic', withBoth)).toHaveLength(1);
    const [dlq] = resourcesOfType('AWS::SQS::Queue', withBoth)[0]!;
    for (const { id, rule, page } of pageRules(withBoth)) {
      const toChat = deployedTargets(rule, withBoth).filter((t) => t.Arn === CHAT_TOPIC);
      expect(toChat, id).toHaveLength(1);
      expect(toChat[0].InputTransformer, id).toEqual(values[page].chat);
      expect(toChat[0].DeadLetterConfig, id).toEqual({ Arn: getAtt(dlq, 'Arn') });
    }
  });

  it('sends the pages to PagerDuty through an API destination whose connection reads the routing key from Secrets Manager', () => {
    const [connection, connectionResource] = only('AWS::Events::Connection');
    const [destination, destinationResource] = only('AWS::Events::ApiDestination');
    expect(connectionResource.Properties?.AuthorizationType).toBe('API_KEY');
    expect(connectionResource.Properties?.AuthParameters.InvocationHttpParameters.BodyParameters).toEqual([
      { Key: 'routing_key', Value: `{{resolve:secretsmanager:${SECRET}:SecretString}}`, IsValueSecret: true },
    ]);
    // The template names the secret once, in the connection, and holds no other reference to a secret value.
    expect(JSON.stringify(withBoth).match(/\{\{resolve:/g)).toHaveLength(1);
    expect(destinationResource.Properties).toMatchObject({
      ConnectionArn: getAtt(connection, 'Arn'),
      HttpMethod: 'POST',
      InvocationEndpoint: 'https://events.pagerduty.com/v2/enqueue',
    });
    expect(destinationResource.Properties?.InvocationRateLimitPerSecond).toBeLessThanOrEqual(2);
    const [dlq] = resourcesOfType('AWS::SQS::Queue', withBoth)[0]!;
    for (const { id, rule, page } of pageRules(withBoth)) {
      const toPagerDuty = deployedTargets(rule, withBoth).filter((t) => JSON.stringify(t.Arn) === JSON.stringify(getAtt(destination, 'Arn')));
      expect(toPagerDuty, id).toHaveLength(1);
      expect(toPagerDuty[0].InputTransformer, id).toEqual(values[page].pagerDuty);
      expect(toPagerDuty[0].DeadLetterConfig, id).toEqual({ Arn: getAtt(dlq, 'Arn') });
      expect(toPagerDuty[0].RetryPolicy.MaximumEventAgeInSeconds, id).toBeGreaterThan(0);
    }
  });

  it("pages a live Store At Risk by its eventId, and resolves that alert with its Store Risk Cleared's `resolves`", () => {
    const [destination] = only('AWS::Events::ApiDestination');
    const rules = pageRules(withBoth);
    const finding = (detailType: string, detail: Record<string, unknown>) => ({ source: EVENT_SOURCE, 'detail-type': detailType, detail });
    const matching = (event: object) => rules.filter(({ rule }) => matchesPattern(rule.Properties?.EventPattern, event)).map(({ page }) => page);
    const toPagerDuty = (page: PageName) =>
      deployedTargets(rules.find((r) => r.page === page)!.rule, withBoth).find(
        (t) => JSON.stringify(t.Arn) === JSON.stringify(getAtt(destination, 'Arn')),
      );

    expect(matching(finding('Store At Risk', { finding: 'xksCertificateExpiring', dryRun: false }))).toEqual(['storeAtRisk']);
    expect(matching(finding('Store At Risk', { finding: 'xksCertificateExpiring', dryRun: true }))).toEqual([]);
    expect(matching(finding('Store Risk Cleared', { finding: 'xksCertificateExpiring', dryRun: false }))).toEqual(['riskCleared']);
    const trigger = toPagerDuty('storeAtRisk').InputTransformer;
    const resolve = toPagerDuty('riskCleared').InputTransformer;
    expect(JSON.parse(trigger.InputTemplate)).toMatchObject({ event_action: 'trigger', dedup_key: '<eventId>' });
    expect(trigger.InputPathsMap.eventId).toBe('$.detail.eventId');
    expect(JSON.parse(resolve.InputTemplate)).toEqual({ event_action: 'resolve', dedup_key: '<resolves>' });
    expect(resolve.InputPathsMap).toEqual({ resolves: '$.detail.resolves' });
  });

  it('binds dedup_key to the incident id, and resolves the alert when the incident closes', () => {
    const [destination] = only('AWS::Events::ApiDestination');
    const escalated = pageRules(withBoth).find(({ page }) => page === 'escalated')!;
    const trigger = deployedTargets(escalated.rule, withBoth).find((t) => JSON.stringify(t.Arn) === JSON.stringify(getAtt(destination, 'Arn')));
    expect(JSON.parse(trigger.InputTransformer.InputTemplate)).toMatchObject({ event_action: 'trigger', dedup_key: '<incidentId>' });
    expect(trigger.InputTransformer.InputPathsMap.incidentId).toBe('$.detail.incidentId');

    // The resolve path: a rule on Repair Succeeded of live stores that heals an escalated incident (named in
    // resolvesEscalation, also after a released hold opened a new incident), resolving by the escalation's key.
    const succeeded = (detail: Record<string, unknown>) => ({ source: EVENT_SOURCE, 'detail-type': 'Repair Succeeded', detail });
    const healed = resourcesOfType('AWS::Events::Rule', withBoth).filter(
      ([, rule]) =>
        rule.Properties?.EventPattern !== undefined &&
        matchesPattern(rule.Properties.EventPattern, succeeded({ dryRun: false, resolvesEscalation: 'inc-0123456789abcdef' })),
    );
    expect(healed).toHaveLength(1);
    const [healedId, healedRule] = healed[0]!;
    expect(matchesPattern(healedRule.Properties?.EventPattern, succeeded({ dryRun: true, resolvesEscalation: 'inc-0123456789abcdef' }))).toBe(false);
    expect(matchesPattern(healedRule.Properties?.EventPattern, succeeded({ dryRun: false }))).toBe(false);
    const targets = deployedTargets(healedRule, withBoth);
    expect(targets).toHaveLength(1);
    expect(targets[0].Arn).toEqual(getAtt(destination, 'Arn'));
    expect(targets[0].InputTransformer).toEqual(values.healed.pagerDuty);
    expect(JSON.parse(targets[0].InputTransformer.InputTemplate)).toEqual({ event_action: 'resolve', dedup_key: '<incidentId>' });
    expect(targets[0].InputTransformer.InputPathsMap).toEqual({ incidentId: '$.detail.resolvesEscalation' });
    const queuePolicy = resourcesOfType('AWS::SQS::QueuePolicy', withBoth)[0]![1];
    const fromOnCall = list<Statement>(queuePolicy.Properties?.PolicyDocument.Statement).find((s) => s.Sid === 'OnCallRulesDeliveryFailures');
    expect(JSON.stringify(fromOnCall?.Condition?.ArnEquals?.['aws:SourceArn'])).toContain(JSON.stringify(getAtt(healedId, 'Arn')));
  });

  it('lets the PagerDuty targets’ role invoke that API destination and nothing else', () => {
    const [destination] = only('AWS::Events::ApiDestination');
    const targets = resourcesOfType('AWS::Events::Rule', withBoth).flatMap(([, rule]) => deployedTargets(rule, withBoth));
    const toPagerDuty = targets.filter((t) => JSON.stringify(t.Arn) === JSON.stringify(getAtt(destination, 'Arn')));
    expect(toPagerDuty.length).toBe(Object.keys(onCallPages(STAGE)).length + 1);
    const roles = new Set(toPagerDuty.map((t) => JSON.stringify(t.RoleArn)));
    expect(roles.size).toBe(1);
    const roleId = (toPagerDuty[0].RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const role = resource(roleId, withBoth).Properties!;

    // Assumed by EventBridge for this account only; one statement, one action, one resource.
    expect(list<Json>(role.AssumeRolePolicyDocument.Statement)).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } },
      },
    ]);
    expect(role.ManagedPolicyArns).toBeUndefined();
    const statements = list<Json>(role.Policies).flatMap((policy) => list<Statement>(policy.PolicyDocument.Statement));
    expect(statements).toEqual([
      { Sid: 'InvokePagerDutyDestination', Effect: 'Allow', Action: ['events:InvokeApiDestination'], Resource: getAtt(destination, 'ArnForPolicy') },
    ]);
    // No other target runs as this role.
    expect(targets.filter((t) => JSON.stringify(t.RoleArn) === JSON.stringify(toPagerDuty[0].RoleArn))).toHaveLength(toPagerDuty.length);
  });
});

describe('the Region', () => {
  /** `provider.region` as serverless resolves it for `args`, with AWS_REGION set to `awsRegion` (or unset). */
  async function resolvedRegion(args: string[], awsRegion?: string): Promise<string> {
    const output = await runServerless(join(work, 'project'), ['print', '--stage', STAGE, '--path', 'provider.region', ...args], {
      ...env,
      ...(awsRegion && { AWS_REGION: awsRegion }),
    });
    return output.trim().split('\n').at(-1)!.trim();
  }

  it('is --region, else AWS_REGION, else us-east-1', async () => {
    expect(await resolvedRegion(['--region', 'ap-southeast-2'], 'eu-west-1')).toBe('ap-southeast-2');
    expect(await resolvedRegion([], 'eu-west-1')).toBe('eu-west-1');
    expect(await resolvedRegion([])).toBe('us-east-1');
  });

  it('is printed by serverless deploy before anything is sent (here refused: no credentials)', async () => {
    const deploy = runServerless(join(work, 'project'), ['deploy', '--stage', STAGE, '--package', join(work, 'project', '.serverless')], {
      ...env,
      AWS_REGION: 'eu-west-1',
    });
    await expect(deploy).rejects.toThrow(/Deploying cks-reconciler to stage ci \(eu-west-1\)[\s\S]*AWS provider credentials not found/);
  });
});
