/**
 * What on-call receives: one page per event that needs a human, written once and rendered for each
 * channel as an EventBridge input transformer (the rule targets in `cloudformation/stack/on-call.yml` read them
 * through `serverless.cjs`). EventBridge fills each `<name>` placeholder with the value at the
 * JSON path the page maps it to; every placeholder sits inside a JSON string, where EventBridge
 * inserts the value's text.
 *
 * Channels:
 * - the on-call topic (email, SMS): plain lines, a subject-like first line, then what happened, the
 *   runbook and the `cks` commands. EventBridge delivers a text template as JSON strings, one per
 *   line, so each line arrives in double quotes.
 * - chat: the AWS Chatbot custom-notification format, to a topic mapped to a Slack or Teams channel.
 * - PagerDuty: an Events API v2 body (the connection adds `routing_key`); `dedup_key` names the
 *   alert (for an escalation, its incident), so a repeated event never opens a second alert, and the
 *   incident's `Repair Succeeded` resolves it (`resolvesEscalation`: the escalated incident, also one whose hold was released since).
 *   A finding's `Store At Risk` opens an alert named by its `eventId`; its `Store Risk Cleared` resolves
 *   that alert (`resolves`) and tells the topic and chat that the finding cleared.
 */

/** An EventBridge rule target's `InputTransformer`. */
export interface InputTransformer {
  InputPathsMap: Record<string, string>;
  InputTemplate: string;
}

/** The pages, by the name the on-call rules (`cloudformation/stack/on-call.yml`) refer to them with. */
export type PageName =
  | 'escalated'
  | 'manualChange'
  | 'approvalRequired'
  | 'settingsApprovalRequired'
  | 'scopeUnreachable'
  | 'regionalIncident'
  | 'storeAtRisk'
  | 'riskCleared';

/** PagerDuty's severities, most urgent first. */
type Severity = 'critical' | 'error' | 'warning' | 'info';

/** A label and its text: one line of a page. */
type Line = readonly [label: string, text: string];

/** One kind of page, with `<name>` placeholders for the event's values. */
export interface Page {
  /** The detail-type the page is made of. */
  detailType: string;
  /** The detail's `subject` the page is made of, where one detail-type has a page per subject (its rule matches it). */
  detailSubject?: string;
  /** Placeholder name → JSON path in the EventBridge event. */
  paths: Readonly<Record<string, string>>;
  /** The first line: stage, what, where, the code. */
  subject: string;
  /** What happened, what was tried, the runbook. */
  details: readonly Line[];
  /** `cks` commands to look closer and to act. */
  commands: readonly Line[];
  severity: Severity;
  /** What makes two events the same alert (PagerDuty `dedup_key`). */
  dedupKey: string;
  /** What groups chat messages into one thread. */
  thread: string;
  /** Where it happened (PagerDuty `source`). */
  source: string;
  /** Chat keywords. */
  keywords: readonly string[];
}

/** What every store event carries. */
const STORE_PATHS = {
  storeName: '$.detail.storeName',
  accountId: '$.detail.accountId',
  region: '$.detail.region',
  reason: '$.detail.reason',
  runbook: '$.detail.runbook',
} as const;

/** What a fleet (account and Region) event carries. */
const SCOPE_PATHS = {
  accountId: '$.detail.accountId',
  region: '$.detail.region',
  reason: '$.detail.reason',
} as const;

/** The Scope Unreachable event carries no runbook: the page brings its own. */
const SCOPE_UNREACHABLE_RUNBOOK =
  'None of the stores of this account and Region is observed or repaired until the reconciler reaches it again. ' +
  'Check that the member role (CKS_MEMBER_ROLE_NAME, default cks-reconciler-member) exists in the account, trusts the reconciler and allows its calls, ' +
  'that the Region is enabled for the account, and that no SCP denies the calls; the error code above names what failed.';

/** The pages of a deployment stage. */
export function onCallPages(stage: string): Record<PageName, Page> {
  const prefix = `[cks-reconciler ${stage}]`;
  const scope = `--stage ${stage} --scope <accountId>/<region>`;
  const store = '<storeName> (<accountId>/<region>)';
  const lookCloser: Line = ['Look closer', `cks status <storeName> ${scope}`];
  const storePage = {
    thread: '<accountId>/<region>/<storeName>',
    source: '<accountId>/<region>/<storeName>',
  };
  return {
    escalated: {
      detailType: 'Repair Escalated',
      paths: {
        ...STORE_PATHS,
        connectionErrorCode: '$.detail.connectionErrorCode',
        attempt: '$.detail.attempt',
        maxAttempts: '$.detail.maxAttempts',
        incidentId: '$.detail.incidentId',
      },
      subject: `${prefix} ESCALATED ${store}: <connectionErrorCode>`,
      details: [
        ['What happened', '<reason>'],
        ['Repair attempts', '<attempt> of <maxAttempts> (incident <incidentId>)'],
        ['Runbook', '<runbook>'],
      ],
      commands: [lookCloser],
      severity: 'critical',
      dedupKey: '<incidentId>',
      keywords: [stage, '<connectionErrorCode>'],
      ...storePage,
    },
    manualChange: {
      detailType: 'Manual Change Detected',
      paths: {
        ...STORE_PATHS,
        connectionState: '$.detail.connectionState',
        changedBy: '$.detail.changedBy',
        changedAt: '$.detail.changedAt',
        eventId: '$.detail.eventId',
      },
      subject: `${prefix} MANUAL CHANGE ${store}: <connectionState>`,
      details: [
        ['What happened', '<reason>'],
        ['Changed by', '<changedBy> at <changedAt>'],
        ['Runbook', '<runbook>'],
      ],
      commands: [lookCloser, ['Then release the hold', `cks resume <storeName> ${scope}`]],
      severity: 'error',
      dedupKey: '<eventId>',
      keywords: [stage, '<connectionState>'],
      ...storePage,
    },
    approvalRequired: {
      detailType: 'Approval Required',
      paths: {
        ...STORE_PATHS,
        generation: '$.detail.generation',
        eventId: '$.detail.eventId',
      },
      subject: `${prefix} APPROVAL REQUIRED ${store}: generation <generation>`,
      // The reason names each change (old → new, secrets only by ARN) and who signed it so far.
      details: [
        ['What happened', '<reason>'],
        ['Runbook', '<runbook>'],
      ],
      commands: [lookCloser, ['Then sign it (a second person, not one who signed)', `cks approve <storeName> ${scope}`]],
      severity: 'warning',
      dedupKey: '<eventId>',
      keywords: [stage, 'generation <generation>'],
      ...storePage,
    },
    settingsApprovalRequired: {
      detailType: 'Approval Required',
      detailSubject: 'SETTINGS',
      paths: {
        ...SCOPE_PATHS,
        runbook: '$.detail.runbook',
        generation: '$.detail.generation',
        eventId: '$.detail.eventId',
      },
      subject: `${prefix} APPROVAL REQUIRED settings (<accountId>/<region>): generation <generation>`,
      details: [
        ['What happened', '<reason>'],
        ['Runbook', '<runbook>'],
      ],
      commands: [
        ['Look closer', `cks settings ${scope}`],
        ['Then sign it (as another person)', `cks approve --settings ${scope}`],
      ],
      severity: 'warning',
      dedupKey: '<eventId>',
      thread: '<accountId>/<region>',
      source: '<accountId>/<region>',
      keywords: [stage, 'settings generation <generation>'],
    },
    scopeUnreachable: {
      detailType: 'Scope Unreachable',
      paths: {
        ...SCOPE_PATHS,
        errorCode: '$.detail.errorCode',
        incidentId: '$.detail.incidentId',
      },
      subject: `${prefix} SCOPE UNREACHABLE <accountId>/<region>: <errorCode>`,
      details: [
        ['What happened', '<reason>'],
        ['Incident', '<incidentId>'],
        ['Runbook', SCOPE_UNREACHABLE_RUNBOOK],
      ],
      commands: [['Look closer', `cks status ${scope}`]],
      severity: 'error',
      dedupKey: '<incidentId>',
      thread: '<accountId>/<region>',
      source: '<accountId>/<region>',
      keywords: [stage, '<errorCode>'],
    },
    storeAtRisk: {
      detailType: 'Store At Risk',
      paths: {
        ...STORE_PATHS,
        finding: '$.detail.finding',
        openedAt: '$.detail.openedAt',
        eventId: '$.detail.eventId',
      },
      subject: `${prefix} AT RISK ${store}: <finding>`,
      details: [
        ['What happened', '<reason>'],
        ['Since', '<openedAt> (the store is still CONNECTED)'],
        ['Runbook', '<runbook>'],
      ],
      commands: [lookCloser],
      severity: 'warning',
      dedupKey: '<eventId>',
      keywords: [stage, '<finding>'],
      ...storePage,
    },
    // Not a page: the topic and chat hear that the finding cleared; PagerDuty resolves its alert (see pagerDutyResolve).
    riskCleared: {
      detailType: 'Store Risk Cleared',
      paths: {
        storeName: '$.detail.storeName',
        accountId: '$.detail.accountId',
        region: '$.detail.region',
        reason: '$.detail.reason',
        finding: '$.detail.finding',
        resolves: '$.detail.resolves',
      },
      subject: `${prefix} RISK CLEARED ${store}: <finding>`,
      details: [
        ['What happened', '<reason>'],
        ['Clears', 'the Store At Risk page <resolves>'],
      ],
      commands: [lookCloser],
      severity: 'info',
      dedupKey: '<resolves>',
      keywords: [stage, '<finding>'],
      ...storePage,
    },
    regionalIncident: {
      detailType: 'Sweep Summary',
      paths: {
        ...SCOPE_PATHS,
        runbook: '$.detail.runbook',
        since: '$.detail.regionalIncidentSince',
        failed: '$.detail.byState.FAILED',
        managed: '$.detail.managed',
      },
      subject: `${prefix} REGIONAL INCIDENT <accountId>/<region>: <failed> of <managed> managed stores FAILED`,
      details: [
        ['What happened', '<reason>'],
        ['Since', '<since>'],
        ['Runbook', '<runbook>'],
      ],
      commands: [['Look closer', `cks status ${scope}`]],
      severity: 'critical',
      dedupKey: 'regional-incident/<accountId>/<region>/<since>',
      thread: '<accountId>/<region>',
      source: '<accountId>/<region>',
      keywords: [stage, 'regional incident'],
    },
  };
}

/** The page as plain lines: the on-call topic's message. */
function topicTransformer(page: Page): InputTransformer {
  const lines = [page.subject, ...[...page.details, ...page.commands].map(([label, text]) => `${label}: ${text}`)];
  return transformer(page.paths, lines.map((line) => JSON.stringify(line)).join('\n'));
}

/** The page as an AWS Chatbot custom notification. */
function chatTransformer(page: Page): InputTransformer {
  const notification = {
    version: '1.0',
    source: 'custom',
    id: '<notificationId>',
    content: {
      textType: 'client-markdown',
      title: page.subject,
      description: page.details.map(([label, text]) => `${label}: ${text}`).join('\n'),
      nextSteps: page.commands.map(([label, command]) => `${label}: \`${command}\``),
      keywords: page.keywords,
    },
    metadata: { threadId: page.thread, summary: page.subject, eventType: page.detailType },
  };
  return transformer({ ...page.paths, notificationId: '$.id' }, JSON.stringify(notification));
}

/** The page as a PagerDuty Events API v2 trigger; the connection adds `routing_key`. */
function pagerDutyTrigger(page: Page, stage: string): InputTransformer {
  const event = {
    event_action: 'trigger',
    dedup_key: page.dedupKey,
    client: `cks-reconciler ${stage}`,
    payload: {
      summary: page.subject,
      source: page.source,
      severity: page.severity,
      group: '<accountId>/<region>',
      class: page.detailType,
      custom_details: Object.fromEntries([...page.details, ...page.commands]),
    },
  };
  return transformer(page.paths, JSON.stringify(event));
}

/**
 * Resolves the alert whose `dedup_key` is at `path`: a healed incident's (`Repair Succeeded`, the
 * escalation's incident), a cleared finding's (`Store Risk Cleared`, its `Store At Risk`'s eventId).
 */
function pagerDutyResolve(placeholder: string, path: string): InputTransformer {
  return transformer({ [placeholder]: path }, JSON.stringify({ event_action: 'resolve', dedup_key: `<${placeholder}>` }));
}

/** What `serverless.yml` passes in: the stage and the on-call parameters ('' when not given). */
export interface OnCallParameters {
  stage: string;
  chatTopicArn: string;
  pagerDutyRoutingKeySecret: string;
}

/** The input transformers of a stage, by page and channel. */
export function onCallTransformers(stage: string) {
  const pages = onCallPages(stage);
  const channels = (page: Page) => ({
    topic: topicTransformer(page),
    chat: chatTransformer(page),
    pagerDuty: pagerDutyTrigger(page, stage),
  });
  return {
    escalated: channels(pages.escalated),
    manualChange: channels(pages.manualChange),
    approvalRequired: channels(pages.approvalRequired),
    settingsApprovalRequired: channels(pages.settingsApprovalRequired),
    scopeUnreachable: channels(pages.scopeUnreachable),
    regionalIncident: channels(pages.regionalIncident),
    storeAtRisk: channels(pages.storeAtRisk),
    riskCleared: {
      topic: topicTransformer(pages.riskCleared),
      chat: chatTransformer(pages.riskCleared),
      pagerDuty: pagerDutyResolve('resolves', '$.detail.resolves'),
    },
    healed: { pagerDuty: pagerDutyResolve('incidentId', '$.detail.resolvesEscalation') },
  };
}

/**
 * What `serverless.yml` takes from here: the input transformers, the chat topic, and the PagerDuty
 * routing key as a dynamic reference to its secret ('' without PagerDuty, so that the template then
 * holds no reference at all). A malformed parameter throws, naming it.
 */
export function onCallValues({ stage, chatTopicArn, pagerDutyRoutingKeySecret }: OnCallParameters) {
  if (chatTopicArn !== '' && !TOPIC_ARN.test(chatTopicArn)) {
    throw new Error(`onCallChatTopicArn must be the ARN of an SNS topic (arn:aws:sns:<region>:<account>:<name>), got "${chatTopicArn}"`);
  }
  return {
    ...onCallTransformers(stage),
    chatTopicArn,
    pagerDutyRoutingKey: pagerDutyRoutingKeySecret === '' ? '' : routingKeyReference(pagerDutyRoutingKeySecret),
  };
}

/** An SNS topic ARN. */
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
/** A secret name (letters, digits and /_+=.@-) or a secret ARN. */
const SECRET_ID = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$/;
/** What a PagerDuty integration key looks like: the value itself, not the name of its secret. */
const INTEGRATION_KEY = /^[0-9a-f]{32}$/;

/**
 * The CloudFormation dynamic reference that reads the routing key from its secret when the stack is
 * deployed. The parameter is echoed in no error: it may be the key itself, passed by mistake.
 */
function routingKeyReference(secretId: string): string {
  if (INTEGRATION_KEY.test(secretId)) {
    throw new Error(
      "pagerDutyRoutingKeySecret looks like a PagerDuty integration key: put the key in a Secrets Manager secret and pass the secret's name or ARN",
    );
  }
  if (!SECRET_ID.test(secretId)) {
    throw new Error('pagerDutyRoutingKeySecret must be the name or the ARN of a Secrets Manager secret (letters, digits and /_+=.@- only)');
  }
  return `{{resolve:secretsmanager:${secretId}:SecretString}}`;
}

/**
 * A transformer mapping exactly the placeholders its template uses. A placeholder without a path is
 * a mistake in a page, caught when the template is packaged rather than when an event arrives.
 */
function transformer(paths: Readonly<Record<string, string>>, template: string): InputTransformer {
  const used = [...new Set([...template.matchAll(/<([A-Za-z0-9]+)>/g)].map((match) => match[1]!))];
  const missing = used.filter((name) => paths[name] === undefined);
  if (missing.length > 0) throw new Error(`on-call template uses ${missing.map((name) => `<${name}>`).join(', ')} without a JSON path`);
  return { InputPathsMap: Object.fromEntries(used.map((name) => [name, paths[name]!])), InputTemplate: template };
}
