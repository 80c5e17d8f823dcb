/**
 * `npm run offline -- [--port <port>] [--clock real|manual] [--time-scale N] [--store-quota N]
 *                     [--stage <stage>] [--region <region>] [--param <name=value>]... [--lambda-port <port>]`
 *
 * The local AWS (the fake's flags; or the one at `AWS_ENDPOINT_URL`, then without them) and
 * `serverless offline` running the deployed functions on their triggers (see `offline.ts`). Prints
 * `cks offline: ready` when both answer; runs until Ctrl-C (SIGINT) or SIGTERM, then stops everything
 * it started and exits 0. Bad flags: exit 2; a runner that cannot start, or whose functions stop: exit 1.
 */
import { parseArgs } from 'node:util';
import { Offline, type OfflineOptions } from './offline.js';

const USAGE =
  'usage: npm run offline -- [--port <port; default 4566>] [--clock real|manual] [--time-scale <N>] [--store-quota <N>] ' +
  '[--stage <stage>] [--region <region>] [--param <name=value>]... [--lambda-port <port; default any free>]';

const FAKE_FLAGS = ['port', 'clock', 'time-scale', 'store-quota'] as const;

function parseFlags(argv: string[], endpoint: string | undefined): OfflineOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      clock: { type: 'string' },
      'time-scale': { type: 'string' },
      'store-quota': { type: 'string' },
      stage: { type: 'string' },
      region: { type: 'string' },
      param: { type: 'string', multiple: true, default: [] },
      'lambda-port': { type: 'string' },
    },
  });
  const serverlessArgs = [
    ...(values.stage !== undefined ? ['--stage', values.stage] : []),
    ...(values.region !== undefined ? ['--region', values.region] : []),
    ...values.param.flatMap((param) => {
      if (!/^[A-Za-z0-9_-]+=/.test(param)) throw new Error(`--param must be <name>=<value>, got "${param}"`);
      return ['--param', param];
    }),
  ];
  const lambdaPort = values['lambda-port'] === undefined ? null : port('--lambda-port', values['lambda-port']);
  if (endpoint !== undefined) {
    const given = FAKE_FLAGS.filter((flag) => values[flag] !== undefined);
    if (given.length > 0) {
      throw new Error(`AWS_ENDPOINT_URL is set, so no local AWS is started here: --${given.join(', --')} would configure nothing`);
    }
    if (!URL.canParse(endpoint)) throw new Error(`AWS_ENDPOINT_URL must be a URL, got "${endpoint}"`);
    return { aws: { endpoint: endpoint.replace(/\/+$/, '') }, serverlessArgs, lambdaPort };
  }
  const clock = values.clock ?? 'real';
  if (clock !== 'real' && clock !== 'manual') throw new Error(`--clock must be real or manual, got "${clock}"`);
  const timeScale = Number(values['time-scale'] ?? '1');
  if (!Number.isFinite(timeScale) || timeScale <= 0) throw new Error(`--time-scale must be a positive number, got "${values['time-scale']}"`);
  const storeQuota = Number(values['store-quota'] ?? '10');
  if (!Number.isInteger(storeQuota) || storeQuota < 1) throw new Error(`--store-quota must be a positive integer, got "${values['store-quota']}"`);
  return { aws: { start: { port: port('--port', values.port ?? '4566'), clock, timeScale, storeQuota } }, serverlessArgs, lambdaPort };
}

function port(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${flag} must be 0-65535, got "${raw}"`);
  return value;
}

function print(line: string): void {
  process.stdout.write(`cks offline: ${line}\n`);
}

function fail(message: string, code: number): never {
  process.stderr.write(`cks offline: ${message}\n`);
  process.exit(code);
}

async function main(options: OfflineOptions): Promise<void> {
  const offline = new Offline(options, print);
  let stopping = false;
  const stop = async (why: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Whatever hangs, the process still ends: a stuck close must not leave it behind.
    setTimeout(() => fail('could not stop cleanly within 20 s', 1), 20_000).unref();
    await offline.stop();
    print(`stopped (${why})`);
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(signal, 0));

  try {
    const { exited } = await offline.start();
    void exited.then((how) => stop(`serverless offline ${how}`, 1));
  } catch (error) {
    if (stopping) return;
    process.stderr.write(`cks offline: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    await stop('failed to start', 1);
  }
}

let options: OfflineOptions;
try {
  options = parseFlags(process.argv.slice(2), process.env.AWS_ENDPOINT_URL?.trim() || undefined);
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2);
}
void main(options);
