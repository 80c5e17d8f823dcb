/**
 * The generated regions of the docs: between `<!-- generated:<name> -->` and
 * `<!-- /generated:<name> -->`, written by `npm run docs` from the code they describe.
 * test/unit/docs.test.ts regenerates them in memory and fails when a page holds anything else.
 */
import { readFileSync } from 'node:fs';
import { onCallPagesMarkdown } from './on-call-pages.js';
import { runbookTable } from './runbook.js';

export interface GeneratedRegion {
  /** The Markdown file, relative to the repository root. */
  file: string;
  name: string;
  render(): string;
}

export const GENERATED_REGIONS: readonly GeneratedRegion[] = [
  { file: 'docs/operations/runbook.md', name: 'runbook', render: runbookTable },
  { file: 'docs/operations/on-call-pages.md', name: 'on-call-pages', render: onCallPagesMarkdown },
  { file: 'docs/operations/organization.md', name: 'stackset-commands', render: stackSetCommands },
];

/** The StackSet commands as the tests run them (test/integration/stackset-commands.test.ts), verbatim. */
function stackSetCommands(): string {
  const script = readFileSync(new URL('../../cloudformation/stackset-commands.sh', import.meta.url), 'utf8');
  return `\`\`\`bash\n${script.trimEnd()}\n\`\`\``;
}

function markers(name: string): [start: string, end: string] {
  return [`<!-- generated:${name} -->`, `<!-- /generated:${name} -->`];
}

/** Where the region's content lies between its markers; throws when the markers are missing. */
function bounds(markdown: string, name: string): [start: number, end: number] {
  const [open, close] = markers(name);
  const start = markdown.indexOf(open);
  const end = markdown.indexOf(close);
  if (start < 0 || end < start) throw new Error(`no "${open}" … "${close}" region`);
  return [start + open.length, end];
}

/** The region's content, without its markers. */
export function regionContent(markdown: string, name: string): string {
  const [start, end] = bounds(markdown, name);
  return markdown.slice(start, end).replace(/^\n/, '').replace(/\n$/, '');
}

/** The Markdown with the region's content replaced. */
export function withRegion(markdown: string, name: string, content: string): string {
  const [start, end] = bounds(markdown, name);
  return `${markdown.slice(0, start)}\n${content}\n${markdown.slice(end)}`;
}
