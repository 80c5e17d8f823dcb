/**
 * `npm start` end to end: the demo as a child process (not a TTY, so it prints plain lines), checked
 * by what it prints and how it stops.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

interface RunningDemo {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the output once `pattern` appears in it; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
}

const running: RunningDemo[] = [];

function startDemo(args: string[]): RunningDemo {
  // Its own process group, so that a failed test can still remove the whole tree.
  const child = spawn('npx', ['tsx', 'shared/demo/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
function descendants(root: number): number[] {
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
function stillRunning(pids: readonly number[]): number[] {
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
function expectInOrder(output: string, patterns: readonly RegExp[]): string[] {
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

afterEach(() => {
  for (const demo of running.splice(0)) {
    if (demo.child.exitCode === null && demo.child.signalCode === null) process.kill(-demo.child.pid!, 'SIGKILL');
    removeTempFiles(demo.output());
  }
});

describe('npm start (the demo)', () => {
  it('heals, escalates with the runbook, and exits 0 after --duration', async () => {
    // Act
    const demo = startDemo(['--duration', '45', '--port', '0']);
    const { code } = await demo.exited;
    const output = demo.output();

    // Assess
    expect(code, output).toBe(0);
    expect(output).not.toContain('\u001b[');
    // NETWORK_ERRORS: disconnect, connect, CONNECTED again.
    expectInOrder(output, [
      /world\s+orders-hsm: .*NETWORK_ERRORS/,
      /state\s+orders-hsm is FAILED NETWORK_ERRORS/,
      /(sweep|on-event)\s+orders-hsm: disconnect/,
      /(sweep|on-event)\s+orders-hsm: connect/,
      /state\s+orders-hsm is CONNECTED/,
    ]);
    expect(output).toMatch(/event\s+Repair Succeeded orders-hsm/);
    // Password rotated by a human: held (escalated) until the new secret version, then updated and connected.
    expectInOrder(output, [
      /world\s+billing-hsm: .*INVALID_CREDENTIALS/,
      /event\s+Repair Escalated billing-hsm/,
      /world\s+billing-hsm: .*new secret version/,
      /(sweep|on-event)\s+billing-hsm: update · .*keyStorePassword/,
      /(sweep|on-event)\s+billing-hsm: connect/,
      /state\s+billing-hsm is CONNECTED/,
    ]);
    // HSMs lost: the reconciler adds one (allowCreateHsm), then reconnects.
    expectInOrder(output, [
      /world\s+ledger-hsm: .*INSUFFICIENT_CLOUDHSM_HSMS/,
      /(sweep|on-event)\s+ledger-hsm: createHsm/,
      /(sweep|on-event)\s+ledger-hsm: connect/,
      /state\s+ledger-hsm is CONNECTED/,
    ]);
    // USER_LOCKED_OUT needs a human: escalated once, with the documented fix.
    const [escalation] = expectInOrder(output, [/event\s+Repair Escalated archive-hsm: .*USER_LOCKED_OUT/]);
    expect(escalation).toMatch(/runbook: .*kmsuser password/);
    expect(output.match(/Repair Escalated archive-hsm/g)).toHaveLength(1);
    // The event path: an operator's call reaches on-event; the reconciler's own calls never do.
    // A human's disconnect is held (Manual Change Detected, naming who) until the operator resumes it.
    expectInOrder(output, [
      /world\s+reports-hsm: .*disconnects it by hand/,
      /cloudtrail\s+DisconnectCustomKeyStore by demo-operator/,
      /event\s+Manual Change Detected reports-hsm: .*disconnected by arn:aws:sts::000000000000:assumed-role\/demo-operator/,
      /world\s+reports-hsm: .*cks resume reports-hsm/,
      /state\s+reports-hsm is CONNECTED/,
    ]);
    expect(output.match(/Manual Change Detected reports-hsm/g)).toHaveLength(1);
    expect(output).toMatch(/(sweep|on-event)\s+reports-hsm: connect/);
    expect(output).not.toMatch(/cloudtrail\s+\S+ by (SweepRole|OnEventRole)/);
    expect(output).toMatch(/cks demo stopped \(after 45 s\): 7 stores/);
  }, 75_000);

  it('stops on SIGINT within seconds, exits 0 and leaves no process behind', async () => {
    // Arrange
    const demo = startDemo(['--port', '0']);
    const output = await demo.waitFor(/Repair Succeeded orders-hsm/, 45_000);
    const demoPid = Number(/ pid (\d+)/.exec(output)?.[1]);
    const tree = [demo.child.pid!, ...descendants(demo.child.pid!)];
    expect(tree).toContain(demoPid);

    // Act: SIGINT to the demo process, as Ctrl-C delivers it.
    const sentAt = Date.now();
    process.kill(demoPid, 'SIGINT');
    const { code } = await demo.exited;

    // Assess
    expect(code, demo.output()).toBe(0);
    expect(Date.now() - sentAt).toBeLessThan(5_000);
    expect(demo.output()).toMatch(/cks demo stopped \(SIGINT\): 7 stores/);
    await expect.poll(() => stillRunning(tree), { timeout: 2_000 }).toEqual([]);
  }, 60_000);
});
