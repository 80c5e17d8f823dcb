/**
 * `npm run simulate -- --seeds N [--seed S] [--trace]`: deterministic simulation testing of the
 * reconciler against the fake. Runs seeds S, S+1, ... S+N-1 (S defaults to 1; `--seed S` alone runs
 * that one seed and prints its trace). Prints seeds per second, each invariant's checks and
 * violations, and what was exercised; a violating seed is printed with its trace. Exits 0 only when
 * no invariant was violated, 1 otherwise, 2 on bad flags.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../errors.js';
import { formatFailure, formatFigures, simulateSeeds } from './report.js';

const USAGE =
  'usage: npm run simulate -- [--seeds <how many; default 1 with --seed, else 100>] [--seed <first seed; default 1>] ' +
  '[--jobs <worker threads; default one per CPU, at most 4>] [--trace]';

function positiveInteger(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > 2 ** 32 - 1)
    throw new Error(`${flag} must be a whole number from 1 to 4294967295, got "${value}"`);
  return n;
}

interface Flags {
  seeds: number[];
  jobs: number;
  trace: boolean;
}

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: { seeds: { type: 'string' }, seed: { type: 'string' }, jobs: { type: 'string' }, trace: { type: 'boolean', default: false } },
  });
  const first = positiveInteger('--seed', values.seed, 1);
  const count = positiveInteger('--seeds', values.seeds, values.seed !== undefined ? 1 : 100);
  if (first + count - 1 > 2 ** 32 - 1) throw new Error('--seed + --seeds goes past seed 4294967295');
  return {
    seeds: Array.from({ length: count }, (_, i) => first + i),
    jobs: positiveInteger('--jobs', values.jobs, Math.min(availableParallelism(), 4)),
    trace: values.trace || (values.seed !== undefined && values.seeds === undefined),
  };
}

async function main(): Promise<void> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`simulate: ${errorMessage(error)}\n${USAGE}\n`);
    process.exit(2);
  }
  const figures = await simulateSeeds(flags.seeds, {
    jobs: flags.jobs,
    keepTraces: flags.trace,
    onSeed: (result) => {
      if (flags.trace && result.violations.length === 0) process.stdout.write(`${result.trace.join('\n')}\n\n`);
    },
  });
  for (const failed of figures.failed) process.stdout.write(`${formatFailure(failed)}\n\n`);
  process.stdout.write(`${formatFigures(figures)}\n`);
  if (figures.failed.length > 0) {
    process.stdout.write(`FAILED: ${figures.failed.length} seed(s) violated an invariant: ${figures.failed.map((r) => r.seed).join(', ')}\n`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`simulate: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
