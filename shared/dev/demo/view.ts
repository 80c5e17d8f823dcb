/**
 * What the demo shows. On a terminal: a screen redrawn in place — where the local AWS is, a table of
 * the stores, the reconciler's latest events and the latest activity. Elsewhere (a pipe, a test):
 * plain lines, one per store state change, action, trigger and event, without ANSI codes.
 */

import { isoTime, printable, renderTable, truncate, wrap } from '../../cli/table.js';
import { parseDesiredItem } from '../../domain/desired-schema.js';
import { describeLastAction, type ObservedStore, type UnreachableMark } from '../../domain/types.js';
import type { StoreRecord } from '../../reconcile/ports.js';
import type { RecordedEvent } from './admin.js';

/** One store as the view shows it. */
export interface StoreRow {
  name: string;
  type: string;
  desired: string;
  /** Connection state, and the error code when FAILED (`MISSING` when KMS has no such store). */
  observed: string;
  phase: string;
  attempt: string;
  lastAction: string;
  reason: string;
  /** The store's open health findings (`Store At Risk` sent, not yet cleared), one line each. */
  risks: string[];
}

/** Each declared store of the table beside what KMS reports for it, sorted by name. */
export function storeRows(records: readonly StoreRecord[], observed: readonly ObservedStore[]): StoreRow[] {
  const byName = new Map(observed.map((store) => [store.name, store]));
  return records
    .flatMap((record) => {
      if (!record.desired) return [];
      const parsed = parseDesiredItem(record.desired);
      const desired = parsed.ok ? parsed.desired : null;
      const store = byName.get(record.name);
      const status = record.status;
      return [
        {
          name: record.name,
          type: (store?.type ?? desired?.type) === 'EXTERNAL_KEY_STORE' ? 'XKS' : 'CloudHSM',
          desired: desired?.desiredState ?? 'INVALID',
          observed: store ? [store.connectionState, store.connectionErrorCode].filter(Boolean).join(' ') : 'MISSING',
          phase: status?.phase ?? '-',
          attempt: status && desired ? `${status.attempt}/${desired.maxAttempts}` : '-',
          lastAction: describeLastAction(status?.lastAction ?? null) ?? '-',
          reason: status?.lastReason ?? '-',
          risks: (status?.findings ?? []).map((finding) => `${finding.kind}: ${finding.reason}`),
        },
      ];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The rows of an account-Region the reconciler cannot reach (its open `Scope Unreachable` incident,
 * `mark`): shown as UNREACHABLE, as the page says, not as the operator's own read of KMS shows them.
 */
export function reachedRows(rows: readonly StoreRow[], mark: UnreachableMark | undefined): StoreRow[] {
  if (mark === undefined) return [...rows];
  const reason = `the reconciler cannot reach this account-Region: ${mark.operation} failed with ${mark.errorCode}`;
  return rows.map((row) => ({ ...row, observed: 'UNREACHABLE', reason }));
}

/** Where the local AWS is, for the header (and for `cks` in another terminal). */
export interface ViewHeader {
  endpoint: string;
  table: string;
  region: string;
  accountId: string;
  logFile: string;
  storesFile: string;
}

/** Counters and clocks shown at the top of the screen. */
export interface ViewStats {
  fakeTime: number;
  timeScale: number;
  intervalSeconds: number;
  sweeps: number;
  onEventRuns: number;
  onChangeRuns: number;
  routed: number;
  leftOut: number;
}

const ESC = '\u001b[';
const RECENT = 50;

/** The live view (terminal) or the plain log (anything else). */
export class DemoView {
  readonly #startedAt = Date.now();
  readonly #tty: boolean;
  #stores: StoreRow[] = [];
  readonly #events: RecordedEvent[] = [];
  readonly #activity: string[] = [];
  /** The latest Repair Escalated event of each store. */
  readonly #escalations = new Map<string, RecordedEvent>();

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly header: ViewHeader,
  ) {
    this.#tty = out.isTTY === true;
    if (this.#tty) out.write(`${ESC}?25l${ESC}2J${ESC}H`);
    else for (const line of this.#headerLines()) this.#print(line);
  }

  /** Something happened: a scenario step, an action taken, a trigger routed, an error. */
  activity(kind: string, text: string): void {
    const line = `${this.#elapsed()}  ${kind.padEnd(10)} ${text}`;
    this.#keep(this.#activity, line);
    if (!this.#tty) this.#print(line);
  }

  /** The stores now; in the plain log, a line for each store whose state or phase changed. */
  stores(rows: StoreRow[]): void {
    const before = new Map(this.#stores.map((row) => [row.name, row]));
    for (const row of rows) {
      const was = before.get(row.name);
      // Unchanged, or only the reconciler's first record of a store it has just met.
      const firstRecord = was?.phase === '-';
      if (was && was.observed === row.observed && (firstRecord || (was.phase === row.phase && was.attempt === row.attempt))) continue;
      const previously = was ? `; was ${was.observed} (phase ${was.phase})` : '';
      this.activity('state', `${row.name} is ${row.observed} (phase ${row.phase}, attempt ${row.attempt})${previously}`);
    }
    this.#stores = rows;
  }

  /** New events the reconciler published (Sweep Summary left out: one per sweep says little here). */
  events(events: readonly RecordedEvent[]): void {
    for (const event of events) {
      if (event.DetailType === 'Sweep Summary') continue;
      if (event.DetailType === 'Repair Escalated') this.#escalations.set(String(event.Detail.storeName), event);
      this.#keep(this.#events, event);
      if (!this.#tty) this.activity('event', `${event.DetailType} ${String(event.Detail.storeName ?? '')}: ${eventText(event)}`);
    }
  }

  /**
   * Redraws the screen (terminal only), fitted to it: at 80×24 the header (with the whole line to
   * copy into another terminal) and the stores table fit, with the reasons cut short; a wider
   * terminal shows more columns and more of each reason, a taller one more events and activity.
   */
  render(stats: ViewStats): void {
    if (!this.#tty) return;
    const width = this.out.columns || 120;
    const height = this.out.rows || 40;
    const top = [
      ...fitted(
        [
          'cks-reconciler demo',
          `fake time ${isoTime(stats.fakeTime)?.slice(11)} (${stats.timeScale}× real)`,
          `up ${((Date.now() - this.#startedAt) / 1000).toFixed(0)}s`,
          'Ctrl-C stops',
        ],
        width,
      ),
      ...fitted(
        [
          `sweep every ${stats.intervalSeconds}s: ${stats.sweeps} runs`,
          `on-event: ${stats.onEventRuns} runs`,
          `on-change: ${stats.onChangeRuns} runs`,
          `CloudTrail: ${stats.routed} routed, ${stats.leftOut} left out`,
        ],
        width,
      ),
      ...this.#headerLines(width),
      '',
      ...storesTable(this.#stores, width).split('\n'),
      '',
      ...this.#needsHuman(width),
      ...this.#atRisk(width),
    ];
    const room = Math.max(0, height - 1 - top.length - 4);
    const events = room === 0 ? [] : this.#events.slice(-Math.ceil(room / 2));
    const eventLines =
      events.length === 0
        ? ['(none yet)']
        : renderTable(
            ['TIME', 'EVENT', 'STORE', 'WHAT'],
            events.map((e) => [e.time.slice(11, 19), e.DetailType, String(e.Detail.storeName ?? '-'), eventText(e)]),
          ).split('\n');
    const lines = [...top, 'LATEST EVENTS', ...eventLines, '', 'ACTIVITY', ...(room < 2 ? [] : this.#activity.slice(-Math.floor(room / 2)))];
    const screen = lines.slice(0, height - 1).map((line) => `${truncate(printable(line), width)}${ESC}K`);
    this.out.write(`${ESC}H${screen.join('\n')}\n${ESC}J`);
  }

  /** Gives the terminal back (cursor shown) and prints the closing line. */
  close(summary: string): void {
    if (this.#tty) this.out.write(`${ESC}?25h`);
    this.#print(summary);
  }

  /** Each escalated store with the runbook of its escalation, wrapped to the screen (fewer lines on a small one). */
  #needsHuman(width: number): string[] {
    const lines = this.#stores.flatMap((row) => {
      const runbook = this.#escalations.get(row.name)?.Detail.runbook;
      if (row.phase !== 'ESCALATED' || typeof runbook !== 'string') return [];
      return wrap(`${row.name} (${row.observed}): ${runbook}`, width, width < 100 ? 2 : 4);
    });
    return lines.length === 0 ? [] : ['NEEDS A HUMAN', ...lines, ''];
  }

  /** Each CONNECTED store at risk (an open health finding), one line per finding, cut to the screen. */
  #atRisk(width: number): string[] {
    const lines = this.#stores.flatMap((row) => row.risks.map((risk) => truncate(`${row.name}: ${risk}`, width)));
    return lines.length === 0 ? [] : ['AT RISK', ...lines, ''];
  }

  /**
   * Where the local AWS is and the line to paste into another terminal for `npx cks`, kept whole:
   * at `width` it is broken into shell lines joined by `\`.
   */
  #headerLines(width = Number.POSITIVE_INFINITY): string[] {
    const { endpoint, table, region, accountId, logFile, storesFile } = this.header;
    const exports = [
      'export',
      `AWS_ENDPOINT_URL=${endpoint}`,
      `AWS_REGION=${region}`,
      `CKS_TABLE=${table}`,
      'AWS_ACCESS_KEY_ID=test',
      'AWS_SECRET_ACCESS_KEY=test',
      'CKS_FAKE_CLOCK=1',
    ];
    return [
      ...fitted([`local AWS at ${endpoint}`, `account ${accountId}`, `pid ${process.pid}`, 'for `npx cks status` in another terminal:'], width),
      ...shellLines(exports, width),
      ...fitted([`stores file applied: ${storesFile}`, `reconciler logs: ${logFile}`], width),
    ];
  }

  #keep<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > RECENT) list.shift();
  }

  #elapsed(): string {
    return `+${((Date.now() - this.#startedAt) / 1000).toFixed(1).padStart(5)}s`;
  }

  #print(line: string): void {
    this.out.write(`${printable(line)}\n`);
  }
}

/** An event's reason; for an escalation also the first line of its runbook. */
function eventText(event: RecordedEvent): string {
  const reason = String(event.Detail.reason ?? '');
  const runbook = typeof event.Detail.runbook === 'string' ? event.Detail.runbook.split('\n')[0] : undefined;
  return runbook === undefined ? reason : `${reason} · runbook: ${runbook}`;
}

/** `parts` joined by ` · `, in as few lines of at most `width` as they fit in (a part longer than that is cut later). */
function fitted(parts: readonly string[], width: number): string[] {
  const lines: string[] = [];
  for (const part of parts) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + 3 + part.length <= width) lines[lines.length - 1] = `${last} · ${part}`;
    else lines.push(part);
  }
  return lines;
}

/** A shell command in lines of at most `width`, each but the last ending in ` \\`, so that it pastes whole. */
function shellLines(words: readonly string[], width: number): string[] {
  const lines: string[] = [];
  for (const [index, word] of words.entries()) {
    const last = lines.at(-1);
    const continued = index < words.length - 1 ? 2 : 0;
    if (last !== undefined && last.length + 1 + word.length + continued <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(last === undefined ? word : `  ${word}`);
  }
  return lines.map((line, i) => (i < lines.length - 1 ? `${line} \\` : line));
}

/**
 * The stores as a table that fits `width`: name, observed state, phase and attempt always, then type,
 * desired state and last action as room allows, and the reason in what is left (at least 20 columns).
 */
function storesTable(rows: readonly StoreRow[], width: number): string {
  const columns: Array<{ header: string; value: (row: StoreRow) => string }> = [
    { header: 'NAME', value: (r) => r.name },
    { header: 'TYPE', value: (r) => r.type },
    { header: 'DESIRED', value: (r) => r.desired },
    { header: 'OBSERVED', value: (r) => r.observed },
    { header: 'PHASE', value: (r) => r.phase },
    { header: 'ATTEMPT', value: (r) => r.attempt },
    { header: 'LAST ACTION', value: (r) => r.lastAction },
  ];
  const widthOf = (list: typeof columns): number =>
    list.reduce((sum, column) => sum + 2 + Math.max(column.header.length, ...rows.map((row) => printable(column.value(row)).length)), 0);
  let shown = columns;
  // The first optional column to go is the least telling: type, then desired state, then last action.
  for (const header of ['TYPE', 'DESIRED', 'LAST ACTION']) {
    if (widthOf(shown) + 20 <= width) break;
    shown = shown.filter((column) => column.header !== header);
  }
  return renderTable(
    [...shown.map((column) => column.header), 'REASON'],
    rows.map((row) => [...shown.map((column) => column.value(row)), row.reason]),
  );
}
