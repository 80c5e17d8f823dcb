/**
 * `npm start` (the demo) as a child process (not a TTY, so it prints plain lines), for the tests
 * that check it by what it prints and how it stops.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { expect } from 'vitest';

export interface RunningDemo {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the output once `pattern` appears in it; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
}

const running: RunningDemo[] = [];

export function startDemo(args: string[]): RunningDemo {
  // Its own process group, so that a failed test can still remove the whole tree.
  const child = spawn('npx', ['tsx', 'shared/dev/demo/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const demo: RunningDemo = {
    child,
    output: () => output,
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = setInterval(() => {
          if (pattern.test(output)) {
            clearInterval(poll);
            resolve(output);
          } else if (Date.now() - started > timeoutMs || child.exitCode !== null) {
            clearInterval(poll);
            reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${output}`));
          }
        }, 100);
      }),
  };
  running.push(demo);
  return demo;
}

/** Every process below `root` (not including it), from `ps`. */
export function descendants(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const line of execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number) as [number, number];
    parents.set(ppid, [...(parents.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const visit = (pid: number): void => {
    for (const child of parents.get(pid) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(root);
  return found;
}

/** The processes of `pids` that still run (a zombie has ended: it only waits to be reaped). */
export function stillRunning(pids: readonly number[]): number[] {
  const states = new Map(
    execFileSync('ps', ['-eo', 'pid=,stat='], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/) as [string, string])
      .map(([pid, stat]) => [Number(pid), stat]),
  );
  return pids.filter((pid) => states.has(pid) && !states.get(pid)!.startsWith('Z'));
}

/** Asserts that `patterns` match lines of `output` in this order, and returns those lines. */
export function expectInOrder(output: string, patterns: readonly RegExp[]): string[] {
  const lines = output.split('\n');
  let from = 0;
  return patterns.map((pattern) => {
    const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
    expect(index, `no line matching ${pattern} after line ${from}; output:\n${output}`).toBeGreaterThanOrEqual(0);
    from = index + 1;
    return lines[index]!;
  });
}

/** The demo's temp files, named in its header. */
function removeTempFiles(output: string): void {
  for (const match of output.matchAll(/(?:stores file applied|reconciler logs): (\S+)/g)) rmSync(match[1]!, { force: true });
}

/** Kills every demo a test started that still runs, and removes its temp files: run after each test. */
export function cleanUpDemos(): void {
  for (const demo of running.splice(0)) {
    if (demo.child.exitCode === null && demo.child.signalCode === null) process.kill(-demo.child.pid!, 'SIGKILL');
    removeTempFiles(demo.output());
  }
}
