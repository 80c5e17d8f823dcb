/**
 * The rendered on-call pages of docs/operations/on-call-pages.md: each page's input transformer
 * rendered against the captured example of its event, as EventBridge would deliver it. `npm run docs`
 * writes them into their generated region; test/unit/docs.test.ts fails when the page holds anything else.
 */
import { type InputTransformer, onCallTransformers } from '../../shared/on-call/pages.js';
import { renderInputTransformer } from '../helpers/input-transformer.js';
import { type BusEvent, ON_CALL_EVENTS, WRITTEN_BY_HAND } from '../unit/on-call-fixtures.js';

/** The stage the examples are rendered for. */
const STAGE = 'prod';

/** What EventBridge delivers for `event`; throws if a placeholder stays unresolved. */
export function deliver(transformer: InputTransformer, event: BusEvent): string {
  const { output, unresolved } = renderInputTransformer(transformer, event);
  if (unresolved.length > 0) throw new Error(`${event['detail-type']}: no value for ${unresolved.join(', ')}`);
  return output;
}

function block(language: string, text: string): string {
  return [`\`\`\`${language}`, text, '```'].join('\n');
}

function collapsed(summary: string, content: string): string {
  return [`<details><summary>${summary}</summary>`, '', content, '</details>'].join('\n');
}

/** The rendered pages, as the generated region of the on-call page holds them. */
export function onCallPagesMarkdown(): string {
  const pages = onCallTransformers(STAGE);
  const json = (transformer: InputTransformer, event: BusEvent) => block('json', JSON.stringify(JSON.parse(deliver(transformer, event)), null, 2));
  const topic = [
    [pages.manualChange, ON_CALL_EVENTS.manualChange],
    [pages.approvalRequired, ON_CALL_EVENTS.approvalRequired],
    [pages.settingsApprovalRequired, ON_CALL_EVENTS.settingsApprovalRequired],
    [pages.scopeUnreachable, ON_CALL_EVENTS.scopeUnreachable],
    [pages.regionalIncident, ON_CALL_EVENTS.regionalIncident],
    [pages.storeAtRisk, ON_CALL_EVENTS.storeAtRisk],
    [pages.riskCleared, ON_CALL_EVENTS.riskCleared],
  ] as const;
  return [
    `Rendered for stage \`${STAGE}\` from the example events in \`test/unit/on-call-fixtures.ts\`, by the renderer the tests check the pages with` +
      ` (the ${WRITTEN_BY_HAND.map((type) => `\`${type}\``).join(', ')} examples are written to the shapes agreed for those events).` +
      " The on-call topic's message for `Repair Escalated`, as an email shows it:",
    '',
    block('text', deliver(pages.escalated.topic, ON_CALL_EVENTS.repairEscalated)),
    '',
    ...topic.flatMap(([page, event]) => [
      collapsed(
        `${event['detail-type']}${event['detail-type'] === 'Sweep Summary' ? ' (regional incident)' : ''}`,
        block('text', deliver(page.topic, event)),
      ),
      '',
    ]),
    'With `onCallChatTopicArn`, that topic gets the same page as an AWS Chatbot custom notification (formatted here; EventBridge sends it on one line):',
    '',
    collapsed('Repair Escalated, for Chatbot', json(pages.escalated.chat, ON_CALL_EVENTS.repairEscalated)),
    '',
    "With PagerDuty, an Events API v2 trigger (the connection adds `routing_key`), and the resolve that the store's `Repair Succeeded` sends, with the same `dedup_key`:",
    '',
    collapsed('Repair Escalated, for PagerDuty', json(pages.escalated.pagerDuty, ON_CALL_EVENTS.repairEscalated)),
    '',
    collapsed('Repair Succeeded, for PagerDuty', json(pages.healed.pagerDuty, ON_CALL_EVENTS.repairSucceeded)),
    '',
    "A finding's `Store At Risk` opens an alert named by its `eventId`, which its `Store Risk Cleared` resolves:",
    '',
    collapsed('Store Risk Cleared, for PagerDuty', json(pages.riskCleared.pagerDuty, ON_CALL_EVENTS.riskCleared)),
  ].join('\n');
}
