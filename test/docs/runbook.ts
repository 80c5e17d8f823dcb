/**
 * The runbook table of docs/operations/runbook.md, rendered from the playbooks the plan and the
 * `Repair Escalated` events use, so that the page cannot say anything else. `npm run docs` writes it.
 */
import { PLAYBOOKS, type PlaybookClass } from '../../shared/domain/playbooks.js';
import type { StoreType } from '../../shared/domain/types.js';

/** What the reconciler does by itself for each class of playbook, in the table's words. */
const AUTOMATIC: Record<PlaybookClass, string> = {
  retryable: 'disconnects and reconnects, retrying with backoff up to `maxAttempts`; then escalates',
  fixableFromDesired:
    'when the desired state names another existing (related) cluster: disconnect, update the cluster id, connect; otherwise escalates at once',
  fixableFromDesiredOrRetryable:
    'applies desired XKS settings that differ (disconnect, update, connect); with no such drift, retries like a network error, then escalates',
  fixableByNewSecret:
    'escalates at once and connects nothing; when the secret gets a new version: disconnect, update it, connect (an old version is never re-sent)',
  fixableByCreateHsm: 'reconnects once the cluster has an ACTIVE HSM again; with `allowCreateHsm` it creates one first; otherwise escalates at once',
  humanOnly:
    'escalates at once, starts no disconnect/connect loop; tries once more after a release (`cks retry`, a new desired generation or a new secret version)',
};

const TYPE_NAMES: Record<StoreType, string> = { AWS_CLOUDHSM: 'CloudHSM', EXTERNAL_KEY_STORE: 'XKS' };

/** A table cell: a `|` would end it early. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** One row per ConnectionErrorCode, in the playbooks' order. */
export function runbookTable(): string {
  const rows = Object.entries(PLAYBOOKS).map(([code, playbook]) =>
    [
      `\`${code}\``,
      playbook.appliesTo.map((type) => TYPE_NAMES[type]).join(', '),
      playbook.description,
      AUTOMATIC[playbook.class],
      playbook.runbook,
    ].map(cell),
  );
  return [
    '| code | stores | meaning | what the reconciler does by itself | what on-call does (the `runbook` of the escalation) |',
    '|---|---|---|---|---|',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}
