/**
 * `npm run bench:cli [-- <runs>]`: how long `cks --help` takes from start to exit, against a bare
 * `node -e 0`, over <runs> fresh processes each (default 20, the two taking turns). Prints both
 * medians and their ratio.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './median.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = Number(process.argv[2] ?? 20);

if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`runs must be a whole number of at least 1, got "${process.argv[2]}"`);

const commands = {
  'node -e 0': ['-e', '0'],
  'cks --help': [join(ROOT, 'bin/cks.js'), '--help'],
};
const times = new Map<string, number[]>(Object.keys(commands).map((name) => [name, []]));
for (let run = 0; run < RUNS; run++) {
  for (const [name, args] of Object.entries(commands)) times.get(name)!.push(wallTime(name, args));
}

const medians = Object.fromEntries([...times].map(([name, list]) => [name, median(list)]));
console.log(`wall time, median of ${RUNS} fresh node ${process.version} processes each`);
for (const [name, value] of Object.entries(medians)) console.log(`${name.padEnd(12)}  ${value.toFixed(1)} ms`);
console.log(`ratio         ${(medians['cks --help']! / medians['node -e 0']!).toFixed(2)}×`);

/** Milliseconds from spawning `node <args>` to its exit; a failed run stops the benchmark. */
function wallTime(name: string, args: string[]): number {
  const start = performance.now();
  const child = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  const elapsed = performance.now() - start;
  if (child.status !== 0) throw new Error(`${name} exited with ${child.status}: ${child.stderr}`);
  return elapsed;
}
