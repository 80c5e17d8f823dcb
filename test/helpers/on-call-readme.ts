/**
 * The README's rendered on-call pages: each page's input transformer rendered against the captured
 * example of its event, as EventBridge would deliver it. `npm run docs:pages` writes them between the
 * markers; test/unit/on-call-pages.test.ts fails when the README holds anything else.
 */
import { type InputTransformer, onCallTransformers } from '../../shared/on-call/pages.js';
import { type BusEvent, ON_CALL_EVENTS, WRITTEN_BY_HAND } from '../unit/on-call-fixtures.js';
import { renderInputTransformer } from './input-transformer.js';

export const README_START = '<!-- on-call pages: written by `npm run docs:pages`, do not edit by hand -->';
export const README_END = '<!-- on-call pages: end -->';

/** The stage the README examples are rendered for. */
export const README_STAGE = 'prod';

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

/** The generated part of the README, markers included. */
export function onCallPagesMarkdown(): string {
  const pages = onCallTransformers(README_STAGE);
  const json = (transformer: InputTransformer, event: BusEvent) => block('json', JSON.stringify(JSON.parse(deliver(transformer, event)), null, 2));
  const topic = [
    [pages.manualChange, ON_CALL_EVENTS.manualChange],
    [pages.approvalRequired, ON_CALL_EVENTS.approvalRequired],
    [pages.scopeUnreachable, ON_CALL_EVENTS.scopeUnreachable],
    [pages.regionalIncident, ON_CALL_EVENTS.regionalIncident],
  ] as const;
  return [
    README_START,
    `Rendered for stage \`${README_STAGE}\` from the example events in \`test/unit/on-call-fixtures.ts\`, by the renderer the tests check the pages with` +
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
    README_END,
  ].join('\n');
}

/** Where the README's generated part is, markers included; throws when the markers are missing. */
function sectionBounds(readme: string): [start: number, end: number] {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`README.md has no "${README_START}" ... "${README_END}" section`);
  return [start, end + README_END.length];
}

/** The README's generated part, markers included. */
export function readmeSection(readme: string): string {
  const [start, end] = sectionBounds(readme);
  return readme.slice(start, end);
}

/** The README with its generated part replaced. */
export function withSection(readme: string, section: string): string {
  const [start, end] = sectionBounds(readme);
  return readme.slice(0, start) + section + readme.slice(end);
}
