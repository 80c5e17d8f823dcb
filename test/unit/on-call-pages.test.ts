/**
 * The on-call pages, rendered as EventBridge would render each input transformer for a captured
 * example of its event (the paths resolved with a JSONPath library): they read as intended, fit
 * EventBridge's limits and carry no secret (test/unit/docs.test.ts checks that the docs show exactly what they render to).
 */
import { describe, expect, it } from 'vitest';
import { onCallPages, onCallTransformers, onCallValues, type PageName } from '../../shared/on-call/pages.js';
import { deliver } from '../docs/on-call-pages.js';
import { renderInputTransformer } from '../helpers/input-transformer.js';
import { type BusEvent, ON_CALL_EVENTS } from './on-call-fixtures.js';

const STAGE = 'prod';
const values = onCallTransformers(STAGE);
/** A value no page may show: the events never hold a secret, so one is slipped into each detail here. */
const CANARY = 'kmsuser-canary-Passw0rd';

interface Case {
  page: PageName;
  event: BusEvent;
  headline: string;
  /** What the subject names after the headline. */
  about: string;
  code: string;
  /** The `cks` commands the page gives. */
  commands: string[];
  dedupKey: string;
  runbook: string;
}

const escalated = ON_CALL_EVENTS.repairEscalated.detail;
const manual = ON_CALL_EVENTS.manualChange.detail;
const approval = ON_CALL_EVENTS.approvalRequired.detail;
const settingsApproval = ON_CALL_EVENTS.settingsApprovalRequired.detail;
const unreachable = ON_CALL_EVENTS.scopeUnreachable.detail;
const regional = ON_CALL_EVENTS.regionalIncident.detail;
const atRisk = ON_CALL_EVENTS.storeAtRisk.detail;
const scopeFlags = (detail: Record<string, unknown>) => `--stage ${STAGE} --scope ${String(detail.accountId)}/${String(detail.region)}`;

const cases: Case[] = [
  {
    page: 'escalated',
    event: ON_CALL_EVENTS.repairEscalated,
    headline: 'ESCALATED',
    about: 'payments-hsm (111122223333/us-east-1)',
    code: 'USER_LOCKED_OUT',
    commands: [`cks status payments-hsm ${scopeFlags(escalated)}`],
    dedupKey: String(escalated.incidentId),
    runbook: String(escalated.runbook),
  },
  {
    page: 'manualChange',
    event: ON_CALL_EVENTS.manualChange,
    headline: 'MANUAL CHANGE',
    about: 'payments-hsm (111122223333/us-east-1)',
    code: 'DISCONNECTED',
    commands: [`cks status payments-hsm ${scopeFlags(manual)}`, `cks resume payments-hsm ${scopeFlags(manual)}`],
    dedupKey: String(manual.eventId),
    runbook: String(manual.runbook),
  },
  {
    page: 'approvalRequired',
    event: ON_CALL_EVENTS.approvalRequired,
    headline: 'APPROVAL REQUIRED',
    about: 'partner-xks (111122223333/us-east-1)',
    code: 'generation 7',
    commands: [`cks status partner-xks ${scopeFlags(approval)}`, `cks approve partner-xks ${scopeFlags(approval)}`],
    dedupKey: String(approval.eventId),
    runbook: String(approval.runbook),
  },
  {
    page: 'settingsApprovalRequired',
    event: ON_CALL_EVENTS.settingsApprovalRequired,
    headline: 'APPROVAL REQUIRED',
    about: 'settings (111122223333/us-east-1)',
    code: 'generation 12',
    commands: [`cks settings ${scopeFlags(settingsApproval)}`, `cks approve --settings ${scopeFlags(settingsApproval)}`],
    dedupKey: String(settingsApproval.eventId),
    runbook: String(settingsApproval.runbook),
  },
  {
    page: 'scopeUnreachable',
    event: ON_CALL_EVENTS.scopeUnreachable,
    headline: 'SCOPE UNREACHABLE',
    about: '444455556666/eu-west-1',
    code: 'AccessDenied',
    commands: [`cks status ${scopeFlags(unreachable)}`],
    dedupKey: String(unreachable.incidentId),
    runbook: 'member role (CKS_MEMBER_ROLE_NAME, default cks-reconciler-member)',
  },
  {
    page: 'regionalIncident',
    event: ON_CALL_EVENTS.regionalIncident,
    headline: 'REGIONAL INCIDENT',
    about: '111122223333/us-east-1',
    code: '5 of 7 managed stores FAILED',
    commands: [`cks status ${scopeFlags(regional)}`],
    dedupKey: `regional-incident/111122223333/us-east-1/${String(regional.regionalIncidentSince)}`,
    runbook: String(regional.runbook),
  },
  {
    page: 'storeAtRisk',
    event: ON_CALL_EVENTS.storeAtRisk,
    headline: 'AT RISK',
    about: 'partner-xks (111122223333/us-east-1)',
    code: 'xksCertificateExpiring',
    commands: [`cks status partner-xks ${scopeFlags(atRisk)}`],
    dedupKey: String(atRisk.eventId),
    runbook: String(atRisk.runbook),
  },
];

/** The event with the canary in a field no page reads. */
function withCanary(event: BusEvent): BusEvent {
  return { ...event, detail: { ...event.detail, kmsuserPassword: CANARY } };
}

describe('on-call pages', () => {
  it('names exactly the detail-types the on-call rules match', () => {
    const detailTypes = Object.values(onCallPages(STAGE)).map((page) => page.detailType);
    expect(detailTypes.sort()).toEqual([
      'Approval Required',
      'Approval Required',
      'Manual Change Detected',
      'Repair Escalated',
      'Scope Unreachable',
      'Store At Risk',
      'Store Risk Cleared',
      'Sweep Summary',
    ]);
    for (const { page, event } of cases) expect(onCallPages(STAGE)[page].detailType).toBe(event['detail-type']);
  });

  describe.each(cases)('$page ($headline)', (c) => {
    const channels = values[c.page];
    const subject = `[cks-reconciler ${STAGE}] ${c.headline} ${c.about}: ${c.code}`;

    it.each(['topic', 'chat', 'pagerDuty'] as const)('%s: fits EventBridge and resolves every placeholder, showing no secret', (channel) => {
      // Prepare
      const transformer = channels[channel];
      const paths = Object.entries(transformer.InputPathsMap);

      // Act
      const { output, unresolved } = renderInputTransformer(transformer, withCanary(c.event));

      // Assess
      expect(transformer.InputTemplate.length).toBeLessThanOrEqual(8192);
      expect(paths.length).toBeLessThanOrEqual(100);
      for (const [name, path] of paths) {
        expect(name).toMatch(/^[A-Za-z0-9]+$/);
        expect(path, name).toMatch(/^\$(\.[A-Za-z0-9_-]+)+$/);
        expect(transformer.InputTemplate, `${name} is used`).toContain(`<${name}>`);
      }
      expect(unresolved).toEqual([]);
      expect(output).not.toContain(CANARY);
      expect(output).not.toContain('routing_key');
      for (const name of Object.keys(transformer.InputPathsMap)) expect(output).not.toContain(`<${name}>`);
    });

    it('topic: a subject line, what happened, the runbook and the cks commands, one JSON string per line', () => {
      // Act
      const lines = deliver(channels.topic, c.event)
        .split('\n')
        .map((line) => JSON.parse(line) as unknown);

      // Assess
      expect(lines.every((line) => typeof line === 'string')).toBe(true);
      expect(lines[0]).toBe(subject);
      expect(lines).toContain(`What happened: ${String(c.event.detail.reason)}`);
      expect(lines.find((line) => String(line).startsWith('Runbook: '))).toContain(c.runbook);
      for (const command of c.commands)
        expect(
          lines.some((line) => String(line).endsWith(`: ${command}`)),
          command,
        ).toBe(true);
    });

    it('chat: an AWS Chatbot custom notification with the same subject, runbook and commands', () => {
      // Act
      const notification = JSON.parse(deliver(channels.chat, c.event));

      // Assess
      expect(notification).toMatchObject({
        version: '1.0',
        source: 'custom',
        id: c.event.id,
        content: { textType: 'client-markdown', title: subject },
        metadata: { summary: subject, eventType: c.event['detail-type'] },
      });
      expect(notification.content.description).toContain(String(c.event.detail.reason));
      expect(notification.content.description).toContain(c.runbook);
      expect(notification.content.nextSteps).toEqual(c.commands.map((command) => expect.stringContaining(`\`${command}\``)));
      expect(notification.metadata.threadId).not.toMatch(/null/);
    });

    it('pagerDuty: an Events API v2 trigger whose dedup_key names the alert: the incident, or the event outside one', () => {
      // Act
      const trigger = JSON.parse(deliver(channels.pagerDuty, c.event));

      // Assess
      expect(trigger).toMatchObject({
        event_action: 'trigger',
        dedup_key: c.dedupKey,
        payload: { summary: subject, class: c.event['detail-type'] },
      });
      expect(['critical', 'error', 'warning', 'info']).toContain(trigger.payload.severity);
      expect(trigger.payload.source).toContain(`${String(c.event.detail.accountId)}/${String(c.event.detail.region)}`);
      expect(trigger.payload.custom_details.Runbook).toContain(c.runbook);
      expect(Object.values(trigger.payload.custom_details)).toEqual(expect.arrayContaining(c.commands));
      expect(trigger).not.toHaveProperty('routing_key');
    });
  });

  it('pages an escalation with ESCALATED, the store and its ConnectionErrorCode, as on-call reads it first', () => {
    const [subject] = deliver(values.escalated.topic, ON_CALL_EVENTS.repairEscalated).split('\n');
    expect(JSON.parse(subject!)).toBe('[cks-reconciler prod] ESCALATED payments-hsm (111122223333/us-east-1): USER_LOCKED_OUT');
  });

  it('keeps a value with quotes, backslashes or line breaks inside its JSON string', () => {
    // Prepare
    const awkward = 'he said "no"\\ then\nleft';
    const event = { ...ON_CALL_EVENTS.repairEscalated, detail: { ...ON_CALL_EVENTS.repairEscalated.detail, reason: awkward } };

    // Act
    const topic = deliver(values.escalated.topic, event)
      .split('\n')
      .map((line) => JSON.parse(line) as string);
    const chat = JSON.parse(deliver(values.escalated.chat, event));
    const pagerDuty = JSON.parse(deliver(values.escalated.pagerDuty, event));

    // Assess
    expect(topic).toContain(`What happened: ${awkward}`);
    expect(chat.content.description).toContain(`What happened: ${awkward}`);
    expect(pagerDuty.payload.custom_details['What happened']).toBe(awkward);
  });

  it('reports a page whose event lacks a field it shows, rather than delivering the placeholder silently', () => {
    const { runbook: _runbook, ...withoutRunbook } = ON_CALL_EVENTS.repairEscalated.detail;
    const { unresolved } = renderInputTransformer(values.escalated.topic, { ...ON_CALL_EVENTS.repairEscalated, detail: withoutRunbook });
    expect(unresolved).toEqual(['runbook']);
  });
});

describe('PagerDuty deduplication and resolve', () => {
  it('resolves, when the store heals, the alert its escalation opened: the same dedup_key, the incident id', () => {
    // Prepare: the escalation and the success of the same incident, as the plan published them.
    const escalation = ON_CALL_EVENTS.repairEscalated;
    const success = ON_CALL_EVENTS.repairSucceeded;
    expect(success.detail.incidentId).toBe(escalation.detail.incidentId);

    // Act
    const trigger = JSON.parse(deliver(values.escalated.pagerDuty, escalation));
    const resolve = JSON.parse(deliver(values.healed.pagerDuty, success));

    // Assess
    expect(resolve).toEqual({ event_action: 'resolve', dedup_key: trigger.dedup_key });
    expect(trigger.dedup_key).toBe(escalation.detail.incidentId);
  });

  it('gives a repeated event the dedup_key of the first, and another incident another one', () => {
    const escalation = ON_CALL_EVENTS.repairEscalated;
    const repeat = { ...escalation, id: 'a-new-eventbridge-id', time: '2025-03-01T03:01:00.000Z' };
    const another = { ...escalation, detail: { ...escalation.detail, incidentId: 'inc-0000000000000001' } };
    const key = (event: BusEvent) => JSON.parse(deliver(values.escalated.pagerDuty, event)).dedup_key;
    expect(key(repeat)).toBe(key(escalation));
    expect(key(another)).not.toBe(key(escalation));
  });
});

describe('a finding: paged once, resolved by its clearing', () => {
  const cleared = ON_CALL_EVENTS.riskCleared;

  it('pages a certificate five days from expiry with AT RISK, the finding, the reason and its runbook', () => {
    const lines = deliver(values.storeAtRisk.topic, ON_CALL_EVENTS.storeAtRisk)
      .split('\n')
      .map((line) => JSON.parse(line) as string);

    expect(lines[0]).toBe('[cks-reconciler prod] AT RISK partner-xks (111122223333/us-east-1): xksCertificateExpiring');
    expect(lines).toContain("What happened: the XKS proxy's TLS certificate expires in 5 days (threshold 30)");
    expect(lines.find((line) => line.startsWith('Runbook: '))).toBe(`Runbook: ${String(atRisk.runbook)}`);
    expect(String(atRisk.runbook).length).toBeGreaterThan(40);
  });

  it.each(['topic', 'chat', 'pagerDuty'] as const)('clearing, %s: fits EventBridge and resolves every placeholder, showing no secret', (channel) => {
    const transformer = values.riskCleared[channel];

    const { output, unresolved } = renderInputTransformer(transformer, withCanary(cleared));

    expect(transformer.InputTemplate.length).toBeLessThanOrEqual(8192);
    expect(unresolved).toEqual([]);
    expect(output).not.toContain(CANARY);
    for (const name of Object.keys(transformer.InputPathsMap)) expect(output).not.toContain(`<${name}>`);
  });

  it('tells the topic and the chat thread of the page that the finding cleared, naming the page it clears', () => {
    const lines = deliver(values.riskCleared.topic, cleared)
      .split('\n')
      .map((line) => JSON.parse(line) as string);
    const chat = JSON.parse(deliver(values.riskCleared.chat, cleared));
    const pageChat = JSON.parse(deliver(values.storeAtRisk.chat, ON_CALL_EVENTS.storeAtRisk));

    expect(lines[0]).toBe('[cks-reconciler prod] RISK CLEARED partner-xks (111122223333/us-east-1): xksCertificateExpiring');
    expect(lines).toContain(`Clears: the Store At Risk page ${String(atRisk.eventId)}`);
    expect(chat.metadata.threadId).toBe(pageChat.metadata.threadId);
  });

  it('resolves, when the finding clears, the PagerDuty alert its Store At Risk opened: the same dedup_key, the finding’s eventId', () => {
    const trigger = JSON.parse(deliver(values.storeAtRisk.pagerDuty, ON_CALL_EVENTS.storeAtRisk));
    const resolve = JSON.parse(deliver(values.riskCleared.pagerDuty, cleared));

    expect(trigger).toMatchObject({ event_action: 'trigger', dedup_key: atRisk.eventId, payload: { severity: 'warning' } });
    expect(resolve).toEqual({ event_action: 'resolve', dedup_key: trigger.dedup_key });
  });
});

describe('the on-call parameters', () => {
  const none = { stage: STAGE, chatTopicArn: '', pagerDutyRoutingKeySecret: '' };

  it('turn the PagerDuty secret into a dynamic reference to it, by name or ARN, and into nothing without PagerDuty', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:on-call/pagerduty-routing-key-AbCdEf';
    expect(onCallValues({ ...none, pagerDutyRoutingKeySecret: 'on-call/pagerduty-routing-key' }).pagerDutyRoutingKey).toBe(
      '{{resolve:secretsmanager:on-call/pagerduty-routing-key:SecretString}}',
    );
    expect(onCallValues({ ...none, pagerDutyRoutingKeySecret: arn }).pagerDutyRoutingKey).toBe(`{{resolve:secretsmanager:${arn}:SecretString}}`);
    expect(onCallValues(none).pagerDutyRoutingKey).toBe('');
  });

  it('refuse an integration key passed instead of its secret, without repeating it', () => {
    const key = '0123456789abcdef0123456789abcdef';
    const attempt = () => onCallValues({ ...none, pagerDutyRoutingKeySecret: key });
    expect(attempt).toThrow(
      "pagerDutyRoutingKeySecret looks like a PagerDuty integration key: put the key in a Secrets Manager secret and pass the secret's name or ARN",
    );
    expect(attempt).not.toThrow(key);
  });

  it('refuse a secret id that would break the reference', () => {
    expect(() => onCallValues({ ...none, pagerDutyRoutingKeySecret: 'on-call/key}}{{x' })).toThrow(
      'pagerDutyRoutingKeySecret must be the name or the ARN of a Secrets Manager secret (letters, digits and /_+=.@- only)',
    );
  });

  it('pass a chat topic ARN through, and refuse anything else', () => {
    const arn = 'arn:aws:sns:us-east-1:111122223333:on-call-chat';
    expect(onCallValues({ ...none, chatTopicArn: arn }).chatTopicArn).toBe(arn);
    expect(() => onCallValues({ ...none, chatTopicArn: 'on-call-chat' })).toThrow(
      'onCallChatTopicArn must be the ARN of an SNS topic (arn:aws:sns:<region>:<account>:<name>), got "on-call-chat"',
    );
  });
});
