/**
 * What the demo shows. On a terminal: a screen redrawn in place — where the local AWS is, a table of
 * the stores, the reconciler's latest events and the latest activity. Elsewhere (a pipe, a test):
 * plain lines, one per store state change, action, trigger and event, without ANSI codes.
 */
import { parseDesiredItem } from '../domain/desired-schema.js';
import { describeLastAction, type ObservedStore } from '../domain/types.js';
import type { StoreRecord } from '../reconcile/ports.js';
import { isoTime, renderTable } from '../cli/table.js';
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
        },
      ];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
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

  /** Redraws the screen (terminal only). */
  render(stats: ViewStats): void {
    if (!this.#tty) return;
    const width = this.out.columns || 120;
    const height = this.out.rows || 40;
    const top = [
      ...this.#headerLines(),
      `fake time ${isoTime(stats.fakeTime)} (${stats.timeScale}× real) · up ${((Date.now() - this.#startedAt) / 1000).toFixed(0)}s · ` +
        `sweep every ${stats.intervalSeconds}s: ${stats.sweeps} runs · on-event: ${stats.onEventRuns} runs · ` +
        `CloudTrail: ${stats.routed} routed, ${stats.leftOut} left out by the rules · Ctrl-C stops`,
      '',
      'STORES',
      ...renderTable(
        ['NAME', 'TYPE', 'DESIRED', 'OBSERVED', 'PHASE', 'ATTEMPT', 'LAST ACTION', 'REASON'],
        this.#stores.map((r) => [r.name, r.type, r.desired, r.observed, r.phase, r.attempt, r.lastAction, r.reason]),
      ).split('\n'),
      '',
      ...this.#needsHuman(width),
    ];
    const room = Math.max(6, height - top.length - 4);
    const events = this.#events.slice(-Math.ceil(room / 2));
    const eventLines =
      events.length === 0
        ? ['(none yet)']
        : renderTable(
            ['TIME', 'EVENT', 'STORE', 'WHAT'],
            events.map((e) => [e.time.slice(11, 19), e.DetailType, String(e.Detail.storeName ?? '-'), eventText(e)]),
          ).split('\n');
    const lines = [...top, 'LATEST EVENTS', ...eventLines, '', 'ACTIVITY', ...this.#activity.slice(-Math.floor(room / 2))];
    const screen = lines.slice(0, height - 1).map((line) => `${truncate(line, width)}${ESC}K`);
    this.out.write(`${ESC}H${screen.join('\n')}\n${ESC}J`);
  }

  /** Gives the terminal back (cursor shown) and prints the closing line. */
  close(summary: string): void {
    if (this.#tty) this.out.write(`${ESC}?25h`);
    this.#print(summary);
  }

  /** Each escalated store with the runbook of its escalation, wrapped to the screen. */
  #needsHuman(width: number): string[] {
    const lines = this.#stores.flatMap((row) => {
      const runbook = this.#escalations.get(row.name)?.Detail.runbook;
      if (row.phase !== 'ESCALATED' || typeof runbook !== 'string') return [];
      return wrap(`${row.name} (${row.observed}): ${runbook}`, width, 4);
    });
    return lines.length === 0 ? [] : ['NEEDS A HUMAN', ...lines, ''];
  }

  #headerLines(): string[] {
    const { endpoint, table, region, accountId, logFile, storesFile } = this.header;
    return [
      `cks-reconciler demo · local AWS at ${endpoint} · table ${table} · ${region} · account ${accountId} · pid ${process.pid}`,
      '  from another terminal, then e.g. `npx cks status`:',
      `    export AWS_ENDPOINT_URL=${endpoint} AWS_REGION=${region} CKS_TABLE=${table} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test CKS_FAKE_CLOCK=1`,
      `  stores file applied: ${storesFile} · reconciler logs: ${logFile}`,
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
    this.out.write(`${line}\n`);
  }
}

/** An event's reason; for an escalation also the first line of its runbook. */
function eventText(event: RecordedEvent): string {
  const reason = String(event.Detail.reason ?? '');
  const runbook = typeof event.Detail.runbook === 'string' ? event.Detail.runbook.split('\n')[0] : undefined;
  return runbook === undefined ? reason : `${reason} · runbook: ${runbook}`;
}

/** `text` in lines of at most `width` characters, broken at spaces; at most `max` lines. */
function wrap(text: string, width: number, max: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '  ';
    }
    line += line.trim() === '' ? word : ` ${word}`;
  }
  lines.push(line);
  if (lines.length <= max) return lines;
  const rest = lines.slice(max - 1).map((l) => l.trim()).join(' ');
  return [...lines.slice(0, max - 1), truncate(`  ${rest}`, width)];
}

function truncate(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`;
}
