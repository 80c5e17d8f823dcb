/**
 * `npm run plant -- [--seeds 200] [--jobs 2] [--only a,b]`: how well the simulator catches bugs.
 * For each planted bug it copies the sources to a temporary directory (node_modules linked), applies
 * the bug's small textual patch to the real source (failing loudly when a patch's text is not found,
 * so that it can never measure nothing), runs `npm run simulate -- --seeds N` there, and prints in
 * how many seeds an invariant caught it; then the same for the intact code, which must show none.
 * Exits 1 when a bug is caught in fewer than MIN_CAUGHT seeds (scaled to --seeds), or the intact
 * code violates an invariant; 2 on a bad flag.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** What the simulator runs from. */
const COPIED = ['shared', 'package.json', 'tsconfig.json'];
/** Seeds of 200 that must catch each bug. */
const MIN_CAUGHT = 10;

interface Patch {
  file: string;
  find: string;
  replace: string;
}

interface Bug {
  name: string;
  patches: Patch[];
}

const BUGS: readonly Bug[] = [
  {
    name: '(a) publish before the status write',
    patches: [
      {
        file: 'shared/reconcile/reconcile-store.ts',
        find: '    if (mutating || decision.events.length > 0) {\n',
        replace:
          '    if (decision.events.length > 0) await deps.events.publish(decisionEvents(decision, fresh));\n    if (mutating || decision.events.length > 0) {\n',
      },
    ],
  },
  {
    name: '(b) outbox never cleared',
    patches: [
      {
        file: 'shared/reconcile/reconcile-store.ts',
        find: 'await deps.state.saveStatus(status, deps.owner, { now: deps.clock.now(), outbox: unsent });',
        replace: 'await deps.state.saveStatus(status, deps.owner, { now: deps.clock.now(), outbox: owed });',
      },
    ],
  },
  {
    name: "(c) no re-read under the lease (the lease's record ignored, the sweep-start snapshot used)",
    patches: [
      { file: 'shared/reconcile/reconcile-store.ts', find: 'const pending = lease.outbox;', replace: 'const pending = outbox;' },
      {
        file: 'shared/reconcile/reconcile-store.ts',
        find: 'desired: desired.desired, status: lease.status, signatures: lease.signatures };',
        replace: 'desired: desired.desired, status: input.status, signatures: lease.signatures };',
      },
    ],
  },
  {
    name: '(d) a HELD store reconnected (held only when CloudTrail named who)',
    patches: [
      {
        file: 'shared/domain/plan/guards.ts',
        find: 'if (held !== null && held.generation === input.desired.generation) {',
        replace: 'if (held !== null && held.generation === input.desired.generation && held.manualChange?.by != null) {',
      },
    ],
  },
  {
    name: '(e) the lease conditions removed from the state double (a lease is always taken, a status always written)',
    patches: [
      {
        file: 'shared/dev/state/in-memory-state.ts',
        find: '    if (held !== undefined && held.owner !== lease.owner && held.until >= now) return false;\n',
        replace: '',
      },
      {
        file: 'shared/dev/state/in-memory-state.ts',
        find: '    if (lease?.owner !== owner || lease.until < options.now) {\n',
        replace: '    if (lease === undefined) {\n',
      },
    ],
  },
  {
    name: '(f) removal that drops the outbox (deleteStatus ignoring it, nothing published first)',
    patches: [
      {
        file: 'shared/dev/state/in-memory-state.ts',
        find: 'if (lease?.owner !== owner || lease.until < now || (this.outboxes.get(name) ?? []).length > 0) return false;',
        replace: 'if (lease?.owner !== owner || lease.until < now) return false;',
      },
      {
        file: 'shared/reconcile/reconcile-scope.ts',
        find: '  if (lease.outbox.length > 0) {\n    await deps.events.publish(lease.outbox);',
        replace: '  if (lease.outbox.length > 0 && lease.desired !== null) {\n    await deps.events.publish(lease.outbox);',
      },
    ],
  },
];

const INTACT: Bug = { name: 'intact code', patches: [] };

interface Caught {
  seeds: number;
  /** Violations per invariant, over all seeds. */
  invariants: Map<string, number>;
  rate: string;
}

/** A copy of the sources with `bug`'s patches applied; throws when a patch's text is not found exactly once. */
function plant(bug: Bug): string {
  const dir = mkdtempSync(join(tmpdir(), 'cks-plant-'));
  for (const entry of COPIED) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  for (const patch of bug.patches) {
    const path = join(dir, patch.file);
    const source = readFileSync(path, 'utf8');
    const found = source.split(patch.find).length - 1;
    if (found !== 1) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`bug ${bug.name}: the patch text is found ${found} times in ${patch.file} (once expected): ${JSON.stringify(patch.find)}`);
    }
    writeFileSync(path, source.replace(patch.find, patch.replace));
  }
  return dir;
}

/**
 * Runs the simulator in `dir`; how many seeds violated an invariant, and which invariants. Its output
 * goes to a file: a pipe would lose what is still buffered when it exits (every violating seed's trace).
 */
async function simulate(dir: string, seeds: number, jobs: number): Promise<Caught> {
  const out = join(dir, 'simulate.out');
  const fd = openSync(out, 'w');
  const child = spawn(join(dir, 'node_modules/.bin/tsx'), ['shared/dev/sim/main.ts', '--seeds', String(seeds), '--jobs', String(jobs)], {
    cwd: dir,
    stdio: ['ignore', fd, 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  closeSync(fd);
  const stdout = readFileSync(out, 'utf8');
  const failed = /^FAILED: (\d+) seed\(s\)/m.exec(stdout);
  if (code !== 0 && failed === null)
    throw new Error(
      `the simulator failed (exit ${code}): ${stderr
        .split('\n')
        .filter((line) => line.startsWith('simulate:'))
        .join('\n')}`,
    );
  const invariants = new Map<string, number>();
  for (const [, violations, name] of stdout.matchAll(/^\s+\d+\s+(\d+) {2}(\w+): /gm)) {
    if (Number(violations) > 0) invariants.set(name!, Number(violations));
  }
  return { seeds: Number(failed?.[1] ?? 0), invariants, rate: /[\d.]+ seeds\/s/.exec(stdout)?.[0] ?? '?' };
}

async function main(): Promise<void> {
  let values: { seeds?: string; jobs?: string; only?: string };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { seeds: { type: 'string' }, jobs: { type: 'string' }, only: { type: 'string' } },
    }));
  } catch (error) {
    process.stderr.write(`plant: ${(error as Error).message}\nusage: npm run plant -- [--seeds 200] [--jobs 2] [--only a,b]\n`);
    process.exit(2);
  }
  const seeds = Number(values.seeds ?? 200);
  const jobs = Number(values.jobs ?? 2);
  const only = values.only?.split(',');
  if (!Number.isInteger(seeds) || seeds < 1 || !Number.isInteger(jobs) || jobs < 1) {
    process.stderr.write('plant: --seeds and --jobs must be whole numbers from 1\n');
    process.exit(2);
  }
  const needed = Math.ceil((MIN_CAUGHT * seeds) / 200);
  let ok = true;
  for (const bug of [...BUGS.filter((b) => !only || only.some((o) => b.name.startsWith(`(${o})`))), INTACT]) {
    const dir = plant(bug);
    try {
      const caught = await simulate(dir, seeds, jobs);
      const enough = bug === INTACT ? caught.seeds === 0 : caught.seeds >= needed;
      ok &&= enough;
      const by = [...caught.invariants].map(([name, n]) => `${name} ${n}`).join(', ');
      process.stdout.write(
        `${enough ? 'ok  ' : 'FAIL'} ${bug.name}: caught in ${caught.seeds} of ${seeds} seeds${by ? ` (violations: ${by})` : ''}; ${caught.rate}\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (!ok) {
    process.stdout.write(`FAILED: a planted bug was caught in fewer than ${needed} of ${seeds} seeds, or the intact code violated an invariant\n`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`plant: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
