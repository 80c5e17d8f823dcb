/**
 * `npm start [-- --port <port>] [--interval <seconds>] [--duration <seconds>]` — the main job,
 * offline (DESIGN.md §7). Starts the local AWS in-process with time running 60× faster, builds a
 * world of custom key stores from `stores.yaml`, applies it as desired state, breaks stores one
 * failure at a time, and runs the two Lambda functions against it: the sweep every `--interval`
 * seconds (default 2), the on-event function for every CloudTrail event its `serverless.yml` rules
 * match and every desired-state change. Shows it live until Ctrl-C (or `--duration` seconds), then
 * stops everything it started and exits 0.
 */
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { makeAdapters } from '../adapters/clients.js';
import { DynamoStateAdapter, ensureTable } from '../adapters/dynamodb-store.js';
import { loadConfig } from '../config.js';
import { startFake, type FakeServer } from '../fake/server.js';
import { makeLogger } from '../logger.js';
import { LOCAL_ACCOUNT_ID } from '../reconcile/deps.js';
import type { HandlerResult } from '../reconcile/lambda.js';
import type { Clock } from '../reconcile/ports.js';
import { FakeAdmin } from './admin.js';
import { demoClientOptions, demoClients } from './clients.js';
import { makeLambdas, type OnEventResult } from './lambdas.js';
import { loadRoutes } from './routes.js';
import { DemoView, readStores, type StoreRow } from './view.js';
import { buildWorld, parseDemoStores, scenario } from './world.js';

const USAGE = 'usage: npm start -- [--port <port, default 4566 if free>] [--interval <seconds, default 2>] [--duration <seconds>]';
/** Fake seconds per real second: a CloudHSM connect (120 fake s) takes 2 real seconds. */
const TIME_SCALE = 60;
/** How often the view, the CloudTrail poll and the stream emulation run (real ms). */
const WATCH_MS = 250;
const DEFAULT_PORT = 4566;
const REGION = 'us-east-1';
const TABLE = 'cks-demo';
/** The role a human operator calls as; CloudTrail names it, and the rules let it through. */
const OPERATOR_ROLE = 'demo-operator';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Flags {
  port: number | null;
  intervalSeconds: number;
  durationSeconds: number | null;
}

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: { port: { type: 'string' }, interval: { type: 'string', default: '2' }, duration: { type: 'string' } },
  });
  const port = values.port === undefined ? null : Number(values.port);
  if (port !== null && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error(`--port must be 0-65535, got "${values.port}"`);
  const intervalSeconds = Number(values.interval);
  if (!(intervalSeconds > 0)) throw new Error(`--interval must be a positive number of seconds, got "${values.interval}"`);
  const durationSeconds = values.duration === undefined ? null : Number(values.duration);
  if (durationSeconds !== null && !(durationSeconds > 0)) throw new Error(`--duration must be a positive number of seconds, got "${values.duration}"`);
  return { port, intervalSeconds, durationSeconds };
}

/** The fake on `port`; with no port asked for, 4566 when it is free, else any free one. */
async function startLocalAws(port: number | null, logger: (line: string) => void): Promise<FakeServer> {
  const options = { clock: 'real', timeScale: TIME_SCALE, logger } as const;
  if (port !== null) return startFake({ ...options, port });
  return startFake({ ...options, port: DEFAULT_PORT }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') throw error;
    return startFake({ ...options, port: 0 });
  });
}

/** Runs `pass` every `ms` until `signal` aborts; a failing pass is reported and the loop goes on. */
async function every(ms: number, signal: AbortSignal, pass: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
  while (!signal.aborted) {
    await pass().catch(onError);
    await sleep(ms, undefined, { signal }).catch(() => undefined);
  }
}

async function main(flags: Flags): Promise<void> {
  const logFile = join(tmpdir(), 'cks-demo.log');
  const log = createWriteStream(logFile, { flags: 'w' });
  const sink = (line: string): void => void log.write(`${line}\n`);
  // The screen belongs to the view: process warnings (e.g. the SDK's Node version notice) go to the log.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => sink(`${warning.name}: ${warning.message}`));
  const fake = await startLocalAws(flags.port, sink);
  const stop = new AbortController();
  let stopping: Promise<void> | undefined;

  const config = loadConfig({}, { region: REGION, tableName: TABLE, endpoint: fake.url, accountId: LOCAL_ACCOUNT_ID });
  const clock: Clock = { now: () => fake.now(), sleep: (ms) => sleep(ms / TIME_SCALE) };
  const admin = new FakeAdmin(fake.url);
  const operator = demoClients(fake.url, REGION, OPERATOR_ROLE);
  const kmsPort = makeAdapters(config, operator, clock).kms;
  const state = new DynamoStateAdapter(operator.dynamo, TABLE, { accountId: LOCAL_ACCOUNT_ID, region: REGION });
  const storesFile = join(tmpdir(), 'cks-demo-stores.yaml');
  const view = new DemoView(process.stdout, {
    endpoint: fake.url,
    table: TABLE,
    region: REGION,
    accountId: LOCAL_ACCOUNT_ID,
    logFile,
    storesFile,
  });
  const stats = { fakeTime: fake.now(), timeScale: TIME_SCALE, intervalSeconds: flags.intervalSeconds, sweeps: 0, onEventRuns: 0, routed: 0, leftOut: 0 };
  const counts = { succeeded: 0, escalated: 0 };
  let rows: StoreRow[] = [];
  const reportError = (error: unknown): void => view.activity('error', error instanceof Error ? error.message : String(error));

  const shutdown = (why: string): Promise<void> =>
    (stopping ??= (async () => {
      // Whatever hangs, the process still ends: a stuck close must not leave it behind.
      setTimeout(() => process.exit(1), 10_000).unref();
      stop.abort();
      await Promise.all(loops);
      await fake.close();
      const byState = new Map<string, number>();
      for (const row of rows) byState.set(row.observed, (byState.get(row.observed) ?? 0) + 1);
      const states = [...byState].map(([s, n]) => `${n} ${s}`).join(', ');
      view.close(
        `cks demo stopped (${why}): ${rows.length} stores (${states}); ${counts.succeeded} repairs succeeded, ` +
          `${counts.escalated} escalated; ${stats.sweeps} sweeps, ${stats.onEventRuns} on-event runs; logs in ${logFile}`,
      );
      await new Promise((resolve) => log.end(resolve));
    })());
  const loops: Promise<void>[] = [];
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal));

  try {
    view.activity('demo', `local AWS listening on ${fake.url}; building the world from shared/demo/stores.yaml`);
    await ensureTable(new DynamoDBClient(demoClientOptions(fake.url, REGION, OPERATOR_ROLE)), TABLE);
    const tools = { admin, kms: operator.kms, secrets: operator.secrets, kmsPort };
    const text = await buildWorld(await readFile(join(ROOT, 'shared/demo/stores.yaml'), 'utf8'), tools);
    const specs = parseDemoStores(text, 'stores.yaml');
    await writeFile(storesFile, text);
    const changed = await state.putDesired(specs, clock.now());
    view.activity('apply', `stores.yaml applied (as cks apply -f): ${changed.length} stores declared`);
    const lambdas = makeLambdas(config, await loadRoutes(join(ROOT, 'serverless.yml')), {
      clock,
      logger: makeLogger(config, {}, sink),
    });

    const report = (trigger: string, result: HandlerResult | OnEventResult | null): void => {
      if (result === null || !('stores' in result)) return;
      for (const store of result.stores) {
        if ((store.action === 'none' || store.action.startsWith('skipped')) && !store.error) continue;
        view.activity(trigger, `${store.name}: ${store.action} · ${store.reason}${store.error ? ` · error: ${store.error}` : ''}`);
      }
    };
    const onEvent = (result: OnEventResult | null): void => {
      stats.onEventRuns += 1;
      report('on-event', result);
    };
    let trailCursor = (await admin.cloudTrail(0)).next;
    let eventCursor = 0;
    const generations = new Map<string, number>();

    const watch = async (): Promise<void> => {
      const trail = await admin.cloudTrail(trailCursor);
      trailCursor = trail.next;
      for (const event of trail.events) {
        const caller = event.detail.userIdentity?.sessionContext?.sessionIssuer?.userName ?? 'unknown';
        const result = await lambdas.cloudTrail(event);
        if (result === null) {
          stats.leftOut += 1;
          continue;
        }
        stats.routed += 1;
        view.activity('cloudtrail', `${event.detail.eventName} by ${caller} matches the on-event rule → on-event`);
        onEvent(result);
      }

      rows = await readStores(state, kmsPort);
      const changes = rows.flatMap((row) => {
        const seen = generations.get(row.name);
        generations.set(row.name, row.generation);
        if (seen === row.generation) return [];
        return [{ name: row.name, eventName: seen === undefined ? ('INSERT' as const) : ('MODIFY' as const) }];
      });
      if (changes.length > 0) {
        view.activity('stream', `desired state of ${changes.map((c) => c.name).join(', ')} written → on-event`);
        onEvent(await lambdas.desiredChanged(changes));
      }
      view.stores(rows);

      const events = await admin.events(eventCursor);
      eventCursor = (events.at(-1)?.seq ?? eventCursor - 1) + 1;
      counts.succeeded += events.filter((e) => e.DetailType === 'Repair Succeeded').length;
      counts.escalated += events.filter((e) => e.DetailType === 'Repair Escalated').length;
      view.events(events);
      stats.fakeTime = fake.now();
      view.render(stats);
    };
    const sweep = async (): Promise<void> => {
      stats.sweeps += 1;
      report('sweep', await lambdas.sweep());
    };
    const runScenario = async (): Promise<void> => {
      const startedAt = Date.now();
      for (const step of scenario(specs, tools)) {
        await sleep(startedAt + step.at * 1000 - Date.now(), undefined, { signal: stop.signal });
        view.activity('world', `${step.store}: ${step.says}`);
        await step.run().catch(reportError);
      }
    };

    loops.push(
      every(WATCH_MS, stop.signal, watch, reportError),
      every(flags.intervalSeconds * 1000, stop.signal, sweep, reportError),
      runScenario().catch((error: unknown) => {
        if (!stop.signal.aborted) reportError(error);
      }),
    );
    if (flags.durationSeconds !== null) {
      setTimeout(() => void shutdown(`after ${flags.durationSeconds} s`), flags.durationSeconds * 1000).unref();
    }
  } catch (error) {
    reportError(error);
    await shutdown('failed to start');
    process.exit(1);
  }
  await Promise.all(loops);
  await stopping;
  process.exit(0);
}

let flags: Flags;
try {
  flags = parseFlags(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`cks demo: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exit(2);
}
main(flags).catch((error: unknown) => {
  process.stderr.write(`cks demo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
