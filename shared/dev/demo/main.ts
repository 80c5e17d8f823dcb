/**
 * `npm start [-- --port <port>] [--interval <seconds>] [--duration <seconds>]` — the main job,
 * offline: the local AWS, a world of custom key stores that break one failure at a
 * time, and both Lambda functions reconciling them, shown live (see `demo.ts`). Runs until Ctrl-C
 * (SIGINT), SIGTERM or `--duration` seconds, then stops everything it started and exits 0.
 * Everything runs in this one process. Bad flags: exit 2; a demo that cannot start: exit 1.
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../../errors.js';
import { DEFAULT_PORT, Demo, type DemoOptions } from './demo.js';

const USAGE =
  `usage: npm start -- [--port <port; default ${DEFAULT_PORT} if free, else any>] ` +
  '[--interval <seconds between sweeps; default 2>] [--duration <seconds, then stop>]';

interface Flags extends DemoOptions {
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
  if (port !== null && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new Error(`--port must be 0-65535, got "${values.port}"`);
  }
  const intervalSeconds = Number(values.interval);
  if (!(intervalSeconds > 0)) throw new Error(`--interval must be a positive number of seconds, got "${values.interval}"`);
  const durationSeconds = values.duration === undefined ? null : Number(values.duration);
  if (durationSeconds !== null && !(durationSeconds > 0)) {
    throw new Error(`--duration must be a positive number of seconds, got "${values.duration}"`);
  }
  return { port, intervalSeconds, durationSeconds };
}

function fail(message: string, code: number): never {
  process.stderr.write(`cks demo: ${message}\n`);
  process.exit(code);
}

async function main(flags: Flags): Promise<void> {
  const demo = await Demo.start(flags, process.stdout);
  let stopRequested = false;
  const stop = (why: string): void => {
    stopRequested = true;
    // Whatever hangs, the process still ends: a stuck close must not leave it behind.
    setTimeout(() => fail('could not stop cleanly within 10 s', 1), 10_000).unref();
    void demo.stop(why);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop(signal));
  if (flags.durationSeconds !== null) setTimeout(() => stop(`after ${flags.durationSeconds} s`), flags.durationSeconds * 1000);

  try {
    await demo.run();
  } catch (error) {
    // Stopped while still building the world: the local AWS went away under it. Nothing failed.
    if (!stopRequested) {
      await demo.stop('failed');
      fail(errorMessage(error), 1);
    }
  }
  await demo.stop('stopped');
  process.exit(0);
}

let flags: Flags;
try {
  flags = parseFlags(process.argv.slice(2));
} catch (error) {
  fail(`${errorMessage(error)}\n${USAGE}`, 2);
}
main(flags).catch((error: unknown) => fail(errorMessage(error), 1));
