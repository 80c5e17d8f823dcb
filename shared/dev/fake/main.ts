/**
 * `npm run fake -- --port <port> [--clock real|manual] [--time-scale N] [--store-quota N] [--iam on|off]`
 *
 * Runs the local AWS until SIGINT/SIGTERM. Prints `listening on http://127.0.0.1:<port>` when ready
 * (with `--port 0`, the port actually bound). Bad flags: one error line on stderr, exit code 2.
 * Without `--port`, it listens on 4566.
 */
import { parseArgs } from 'node:util';
import { type FakeOptions, startFake } from './server.js';

const USAGE = 'usage: npm run fake -- [--port <port>] [--clock real|manual] [--time-scale <N>] [--store-quota <N>] [--iam on|off]';

function parseFlags(argv: string[]): FakeOptions {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string', default: '4566' },
      clock: { type: 'string', default: 'real' },
      'time-scale': { type: 'string', default: '1' },
      'store-quota': { type: 'string', default: '10' },
      iam: { type: 'string', default: 'on' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0-65535, not "${values.port}"`);
  if (values.clock !== 'real' && values.clock !== 'manual') {
    throw new Error(`--clock must be real or manual, not "${values.clock}"`);
  }
  const timeScale = Number(values['time-scale']);
  if (!Number.isFinite(timeScale) || timeScale <= 0) {
    throw new Error(`--time-scale must be a positive number, not "${values['time-scale']}"`);
  }
  const storeQuota = Number(values['store-quota']);
  if (!Number.isInteger(storeQuota) || storeQuota < 1) {
    throw new Error(`--store-quota must be a positive integer, not "${values['store-quota']}"`);
  }
  if (values.iam !== 'on' && values.iam !== 'off') throw new Error(`--iam must be on or off, not "${values.iam}"`);
  return { port, clock: values.clock, timeScale, storeQuota, iam: values.iam === 'on' };
}

let options: FakeOptions;
try {
  options = parseFlags(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`fake: ${error instanceof Error ? error.message : String(error)} (see --help)\n`);
  process.exit(2);
}

const fake = await startFake({ ...options, logger: (line) => process.stdout.write(`${line}\n`) });
const clock = options.clock === 'manual' ? 'manual clock' : `real clock x${options.timeScale}`;
const iam = options.iam ? 'IAM enforced' : 'IAM off';
process.stdout.write(`cks fake AWS listening on ${fake.url} (${clock}, ${options.storeQuota} stores per account and Region, ${iam})\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    fake.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`fake: error while closing: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
