/**
 * `npm start` (the demo) as a child process (not a TTY, so it prints plain lines), for the tests
 * that check it by what it prints and how it stops.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { expect } from 'vitest';
import { outputMatching } from './child-process.js';

export interface RunningDemo {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the output once `pattern` appears in it; rejects when the demo ends without it or after `timeoutMs`. */
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
    waitFor: async (pattern, timeoutMs) => {
      await outputMatching(child, () => output, pattern, timeoutMs);
      return output;
    },
  };
  running.push(demo);
  return demo;
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
