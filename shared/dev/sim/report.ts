/** Runs seeds, in this thread or in worker threads, and sums up what they checked, found and exercised. */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { summarize } from './added-time.js';
import { startHarness } from './harness.js';
import { INVARIANTS, type Invariant } from './monitor.js';
import { runSeed, type SeedResult, type Tamper } from './simulate.js';

export interface Figures {
  seeds: number;
  /** Worker threads the seeds ran on (1: this thread). */
  jobs: number;
  seconds: number;
  checks: Map<Invariant, number>;
  violations: Map<Invariant, number>;
  coverage: Map<string, number>;
  lockouts: number;
  /** Fake seconds the reconciler added to each repair that ended in `Repair Succeeded`, over every seed. */
  addedSeconds: number[];
  /** The seeds that violated an invariant, with their traces. */
  failed: SeedResult[];
}

export interface SimulateOptions {
  /** Worker threads, each with its own fake (default 1: this thread). */
  jobs?: number;
  /** Breaks the reconciler on purpose (tests); runs in this thread. */
  tamper?: Tamper;
  /** Every seed's trace, not only a violating seed's. */
  keepTraces?: boolean;
  /** Each seed's result as it comes (with several jobs, not in seed order). */
  onSeed?: (result: SeedResult) => void;
}

export async function simulateSeeds(seeds: readonly number[], options: SimulateOptions = {}): Promise<Figures> {
  const jobs = options.tamper === undefined ? Math.max(1, Math.min(options.jobs ?? 1, seeds.length)) : 1;
  const figures: Figures = {
    seeds: 0,
    jobs,
    seconds: 0,
    checks: new Map(),
    violations: new Map(),
    coverage: new Map(),
    lockouts: 0,
    addedSeconds: [],
    failed: [],
  };
  const started = performance.now();
  const collect = (result: SeedResult): void => {
    figures.seeds += 1;
    figures.lockouts += result.lockouts;
    figures.addedSeconds.push(...result.addedSeconds);
    add(figures.checks, result.checks);
    add(figures.coverage, result.coverage);
    for (const violation of result.violations) figures.violations.set(violation.invariant, (figures.violations.get(violation.invariant) ?? 0) + 1);
    if (result.violations.length > 0) figures.failed.push(result);
    options.onSeed?.(result);
  };
  if (jobs > 1) await inWorkers(seeds, jobs, options.keepTraces === true, collect);
  else await inThisThread(seeds, { tamper: options.tamper, keepTrace: options.keepTraces === true }, collect);
  figures.failed.sort((a, b) => a.seed - b.seed);
  figures.seconds = (performance.now() - started) / 1000;
  return figures;
}

async function inThisThread(
  seeds: readonly number[],
  options: { tamper?: Tamper; keepTrace: boolean },
  collect: (result: SeedResult) => void,
): Promise<void> {
  const harness = await startHarness();
  try {
    for (const seed of seeds) collect(await runSeed(harness, seed, options));
  } finally {
    await harness.close();
  }
}

/** The worker module, loaded through tsx (the simulator runs from its TypeScript sources). */
const WORKER = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(fileURLToPath(new URL('./worker.ts', import.meta.url)))}); })`;

/** Hands the seeds out one at a time to `jobs` workers as they become free. */
async function inWorkers(seeds: readonly number[], jobs: number, keepTraces: boolean, collect: (result: SeedResult) => void): Promise<void> {
  const queue = [...seeds];
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(WORKER, { eval: true, workerData: { keepTraces } });
      worker.on('message', (message: SeedResult | 'ready') => {
        if (message !== 'ready') collect(message);
        worker.postMessage(queue.shift() ?? null);
      });
      worker.on('error', reject);
      worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`simulator worker exited with code ${code}`))));
    });
  await Promise.all(Array.from({ length: jobs }, one));
}

/** The figures as printed: throughput, every invariant's checks and violations, what was exercised. */
export function formatFigures(figures: Figures): string {
  const rate = figures.seeds / Math.max(figures.seconds, 1e-9);
  const lines = [
    `simulate: ${figures.seeds} seed(s) in ${figures.seconds.toFixed(1)} s on ${figures.jobs} thread(s), ${rate.toFixed(1)} seeds/s`,
    'invariants (checks, violations):',
    ...(Object.keys(INVARIANTS) as Invariant[]).map(
      (name) =>
        `  ${String(figures.checks.get(name) ?? 0).padStart(8)} ${String(figures.violations.get(name) ?? 0).padStart(4)}  ${name}: ${INVARIANTS[name]}`,
    ),
    'exercised:',
    ...[...figures.coverage.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([feature, count]) => `  ${String(count).padStart(8)}  ${feature}`),
    `kmsuser lock-outs by failed logins (not set by hand): ${figures.lockouts}`,
    formatAdded(figures.addedSeconds),
  ];
  return lines.join('\n');
}

/** The reconciler's added time over every repair that succeeded (chaos steps' faults and crashes included). */
function formatAdded(seconds: readonly number[]): string {
  const summary = summarize(seconds);
  const figures = summary === null ? 'none' : `${summary.count} repairs, median ${summary.median}, p95 ${summary.p95}, max ${summary.max}`;
  return `added time (fake seconds from Repair Started to Repair Succeeded, KMS transitions excluded): ${figures}`;
}

/** A violating seed: what broke, and the trace that led there. */
export function formatFailure(result: SeedResult): string {
  return [
    `seed ${result.seed} violated ${result.violations.map((v) => v.invariant).join(', ')}:`,
    ...result.violations.map((v) => `  [${v.step}] ${v.invariant}: ${v.message}`),
    `trace of seed ${result.seed} (replay it with: npm run simulate -- --seed ${result.seed}):`,
    ...result.trace.map((line) => `  ${line}`),
  ].join('\n');
}

function add<K>(into: Map<K, number>, from: ReadonlyMap<K, number>): void {
  for (const [key, count] of from) into.set(key, (into.get(key) ?? 0) + count);
}
