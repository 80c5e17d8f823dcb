/**
 * `cks events`: the reconciler's own events, filtered by store, type and time, read from each store's
 * history in the table (EventBridge keeps no log to read back), which keeps every event's type, reason
 * and runbook, at the time the run recorded it. Whatever the endpoint, that is all `cks` asks of it:
 * only `--fake-log` reads the local fake's EventBridge log (`GET /_fake/events`), the one place Sweep
 * Summary events can be read back.
 */
import { EVENT_SOURCE } from '../adapters/eventbridge.js';
import { EVENT_DETAIL_TYPES, type EventDetailType } from '../domain/types.js';
import { closest } from '../domain/words.js';
import { type CliContext, CliError, type Deps, parseDuration, repeatUntilInterrupted, UsageError } from './context.js';
import { isoTime, renderTable } from './table.js';

/** History entries read per store against real AWS. */
const HISTORY_LIMIT = 50;
const FOLLOW_INTERVAL_MS = 2_000;

/** One printed event: `type` is the detail-type, or for a history entry that emitted none, the action taken. */
export interface EventLine {
  time: string;
  type: string;
  storeName: string | null;
  reason: string;
  /** The history entry with the event, or with `--fake-log` the whole event detail. */
  detail: Record<string, unknown>;
}

/** Which events to print. */
export interface EventFilter {
  store?: string;
  type?: EventDetailType;
  /** Epoch ms: only events from then on. */
  since?: number;
}

/** Reads the lines not printed yet; each call continues where the last one stopped. */
type EventReader = () => Promise<EventLine[]>;

/** The one event type left out unless asked for: one per full pass, it would bury the rest; the history does not keep it. */
const SUMMARY: EventDetailType = 'Sweep Summary';

/** `--type`: one of the detail-types, any case; a near miss gets a suggestion. */
export function parseEventType(text: string): EventDetailType {
  const found = EVENT_DETAIL_TYPES.find((type) => type.toLowerCase() === text.trim().toLowerCase());
  if (found !== undefined) return found;
  const suggestion = closest(text, EVENT_DETAIL_TYPES);
  const hint = suggestion === undefined ? `one of: ${EVENT_DETAIL_TYPES.join(', ')}` : `did you mean "${suggestion}"?`;
  throw new UsageError(`--type "${text}" is not an event type: ${hint}`);
}

/** `--since`: a duration back from now (`30m`, `2h`, `7d`, or seconds) or an ISO 8601 time. */
export function parseSince(text: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}T/.test(text) && !Number.isNaN(Date.parse(text))) return Date.parse(text);
  return now - parseDuration(text, '--since');
}

/**
 * Prints the events, then with `follow` keeps printing new ones until Ctrl-C, under one header whose
 * columns every later line keeps. JSON is one object per line. Sweep Summary events come only from
 * the fake's log (`fakeLog`): JSON includes them unless a filter leaves them out, the table shows them
 * only when `--type` asks for them.
 */
export async function eventsCommand(
  ctx: CliContext,
  options: { follow: boolean; json: boolean; fakeLog: boolean; filter: Omit<EventFilter, 'since'>; since?: string },
): Promise<number> {
  const endpoint = ctx.config.endpoint;
  if (options.fakeLog && endpoint === undefined) {
    throw new UsageError("--fake-log reads the local fake's event log: it needs the fake's endpoint (--endpoint-url or AWS_ENDPOINT_URL)");
  }
  if (!options.fakeLog && options.filter.type === SUMMARY) {
    throw new CliError(
      `${SUMMARY} events are not kept in the table's history: read them where the bus delivers them (against the local fake: --fake-log)`,
    );
  }
  const deps = await ctx.deps();
  const filter: EventFilter = { ...options.filter, ...(options.since !== undefined && { since: parseSince(options.since, deps.clock.now()) }) };
  const read = options.fakeLog && endpoint !== undefined ? fakeReader(endpoint, deps, filter) : historyReader(deps, filter);
  const shown = (line: EventLine): boolean => options.json || filter.type !== undefined || line.type !== SUMMARY;
  const widths = options.follow ? await followWidths(deps, filter) : undefined;
  let printed = 0;
  const pass = async (): Promise<void> => {
    const lines = (await read()).filter(shown);
    if (options.json) {
      for (const line of lines) ctx.print(JSON.stringify(line));
    } else if (lines.length > 0) {
      const table = renderTable(
        ['TIME', 'EVENT', 'STORE', 'REASON'],
        lines.map((l) => [l.time, l.type, l.storeName, l.reason]),
        widths,
      ).split('\n');
      // A followed stream prints its header once; its fixed widths keep later lines in its columns.
      ctx.print((printed === 0 ? table : table.slice(1)).join('\n'));
    }
    printed += lines.length;
  };
  if (options.follow) await repeatUntilInterrupted(FOLLOW_INTERVAL_MS, pass);
  else await pass();
  if (printed === 0 && !options.json)
    ctx.print(filter.store !== undefined || filter.type !== undefined || filter.since !== undefined ? 'no events match' : 'no events yet');
  return 0;
}

/**
 * Column widths for `--follow`, fixed before the first line: the time, the longest event type, and
 * the longest store name declared now (or the one asked for); a longer name later is cut with `…`.
 */
async function followWidths(deps: Deps, filter: EventFilter): Promise<number[]> {
  const names = filter.store !== undefined ? [filter.store] : (await deps.state.loadAll()).records.map((record) => record.name);
  const time = 'YYYY-MM-DDTHH:MM:SSZ'.length;
  return [time, Math.max(...EVENT_DETAIL_TYPES.map((type) => type.length)), Math.max('STORE'.length, ...names.map((name) => name.length))];
}

/**
 * `--fake-log`: the events the local fake's EventBridge received from the reconciler in this account
 * and Region, oldest first, at the fake's time of receipt (its clock, which the reconciler keeps too
 * when it runs against the fake with its clock).
 */
function fakeReader(endpoint: string, deps: Deps, filter: EventFilter): EventReader {
  let since = 0;
  return async () => {
    const url = new URL('/_fake/events', endpoint);
    url.search = new URLSearchParams({ since: String(since), ...deps.state.scope }).toString();
    const response = await fetch(url).catch((error: Error) => {
      throw new CliError(`cannot read events from ${url.origin}: ${error.cause instanceof Error ? error.cause.message : error.message}`);
    });
    if (!response.ok) throw new CliError(`GET ${url.pathname} answered HTTP ${response.status}: is ${url.origin} the cks local fake?`);
    const entries = (await response.json()) as Array<{
      seq: number;
      time: string;
      Source: string;
      DetailType: string;
      Detail: Record<string, unknown>;
    }>;
    const last = entries.at(-1);
    if (last) since = last.seq + 1;
    return entries
      .filter((entry) => entry.Source === EVENT_SOURCE && (filter.since === undefined || Date.parse(entry.time) >= filter.since))
      .map((entry) => ({
        time: entry.time.replace(/\.\d{3}Z$/, 'Z'),
        type: entry.DetailType,
        storeName: typeof entry.Detail.storeName === 'string' ? entry.Detail.storeName : null,
        reason: String(entry.Detail.reason ?? ''),
        detail: entry.Detail,
      }))
      .filter((line) => matches(line, filter));
  };
}

/**
 * The history of the store asked for, or of every declared store, as events oldest first: one line
 * per event a run emitted (a run that emitted none is a line of its action). Later calls return only
 * new ones.
 */
export function historyReader(deps: Deps, filter: EventFilter): EventReader {
  const seen = new Set<string>();
  return async () => {
    const names =
      filter.store !== undefined ? [filter.store] : (await deps.state.loadAll()).records.filter((r) => r.desired !== null).map((r) => r.name);
    const perStore = await Promise.all(
      names.map(async (name) =>
        (await deps.state.history(name, { limit: HISTORY_LIMIT, ...(filter.since !== undefined && { since: filter.since }) })).map((entry) => ({
          name,
          entry,
        })),
      ),
    );
    return perStore
      .flat()
      .filter(({ name, entry }) => {
        const key = `${name}#${entry.at}#${entry.reconcileId}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .sort((a, b) => a.entry.at - b.entry.at)
      .flatMap(({ name, entry }): EventLine[] => {
        const time = isoTime(entry.at) ?? '';
        const error = entry.error ? `; error: ${entry.error}` : '';
        const events = entry.events ?? [];
        if (events.length === 0) return [{ time, type: entry.action, storeName: name, reason: `${entry.reason}${error}`, detail: { ...entry } }];
        return events.map((event) => ({
          time,
          type: event.type,
          storeName: name,
          reason: `${event.reason}${error}`,
          detail: { ...entry, ...event },
        }));
      })
      .filter((line) => matches(line, filter));
  };
}

/** The store and type filters (`since` is applied where the events are read). */
function matches(line: EventLine, filter: EventFilter): boolean {
  return (filter.store === undefined || line.storeName === filter.store) && (filter.type === undefined || line.type === filter.type);
}
