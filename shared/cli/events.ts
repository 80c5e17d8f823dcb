/**
 * `cks events`: the reconciler's own events. Against the local fake they are the EventBridge entries
 * it received (`GET /_fake/events`); real EventBridge keeps no log to read back, so against AWS the
 * newest entries of each store's history in the table stand in for them.
 */
import { EVENT_SOURCE } from '../adapters/eventbridge.js';
import { CliError, repeatUntilInterrupted, type CliContext, type Deps } from './context.js';
import { isoTime, renderTable } from './table.js';

/** History entries read per store against real AWS. */
const HISTORY_LIMIT = 20;
const FOLLOW_INTERVAL_MS = 2_000;

/** One printed event: `type` is the detail-type (fake) or the action recorded (history). */
export interface EventLine {
  time: string;
  type: string;
  storeName: string | null;
  reason: string;
  /** The whole event detail (fake) or history entry. */
  detail: Record<string, unknown>;
}

/** Reads the lines not printed yet; each call continues where the last one stopped. */
type EventReader = () => Promise<EventLine[]>;

/** Prints the events, then with `follow` keeps printing new ones until Ctrl-C. JSON is one object per line. */
export async function eventsCommand(ctx: CliContext, options: { follow: boolean; json: boolean }): Promise<number> {
  const deps = await ctx.deps();
  const read = ctx.config.endpoint === undefined ? historyReader(deps) : fakeReader(ctx.config.endpoint, deps);
  let printed = 0;
  const pass = async (): Promise<void> => {
    const lines = await read();
    if (options.json) {
      for (const line of lines) ctx.print(JSON.stringify(line));
    } else if (lines.length > 0) {
      const table = renderTable(
        ['TIME', 'EVENT', 'STORE', 'REASON'],
        lines.map((l) => [l.time, l.type, l.storeName, l.reason]),
      ).split('\n');
      // A followed stream prints its header once (column widths are per batch).
      ctx.print((printed === 0 ? table : table.slice(1)).join('\n'));
    }
    printed += lines.length;
  };
  if (options.follow) await repeatUntilInterrupted(FOLLOW_INTERVAL_MS, pass);
  else await pass();
  if (printed === 0 && !options.json) ctx.print('no events yet');
  return 0;
}

/** Events the fake's EventBridge received from the reconciler in this account and Region, oldest first. */
function fakeReader(endpoint: string, deps: Deps): EventReader {
  let since = 0;
  return async () => {
    const url = new URL('/_fake/events', endpoint);
    url.search = new URLSearchParams({ since: String(since), ...deps.state.scope }).toString();
    const response = await fetch(url).catch((error: Error) => {
      throw new CliError(`cannot read events from ${url.origin}: ${error.cause instanceof Error ? error.cause.message : error.message}`);
    });
    if (!response.ok) throw new CliError(`GET ${url.pathname} answered HTTP ${response.status}: is ${url.origin} the cks local fake?`);
    const entries = (await response.json()) as Array<{ seq: number; time: string; Source: string; DetailType: string; Detail: Record<string, unknown> }>;
    const last = entries.at(-1);
    if (last) since = last.seq + 1;
    return entries
      .filter((entry) => entry.Source === EVENT_SOURCE)
      .map((entry) => ({
        time: entry.time.replace(/\.\d{3}Z$/, 'Z'),
        type: entry.DetailType,
        storeName: typeof entry.Detail.storeName === 'string' ? entry.Detail.storeName : null,
        reason: String(entry.Detail.reason ?? ''),
        detail: entry.Detail,
      }));
  };
}

/** The newest history entries of every declared store, merged oldest first; later calls return only new ones. */
function historyReader(deps: Deps): EventReader {
  const seen = new Set<string>();
  return async () => {
    const { records } = await deps.state.loadAll();
    const perStore = await Promise.all(
      records.map(async ({ name }) => (await deps.state.history(name, HISTORY_LIMIT)).map((entry) => ({ name, entry }))),
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
      .map(({ name, entry }) => ({
        time: isoTime(entry.at) ?? '',
        type: entry.error ? `${entry.action} (error)` : entry.action,
        storeName: name,
        reason: entry.error ? `${entry.reason}; error: ${entry.error}` : entry.reason,
        detail: { ...entry },
      }));
  };
}
