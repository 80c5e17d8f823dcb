/** Child processes in tests: waiting on what they print (by their output events, never by polling), and their process tree. */
import { type ChildProcess, execFileSync } from 'node:child_process';

/**
 * Resolves with the first match of `pattern` in `output()` past `from`, as soon as the child has
 * printed it; rejects when the child's output closes without it or after `timeoutMs`. `output()`
 * returns everything the child printed so far (collected by listeners added before this call).
 */
export function outputMatching(child: ChildProcess, output: () => string, pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const match = (): RegExpExecArray | null => pattern.exec(output().slice(from));
    const stop = (): void => {
      clearTimeout(deadline);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('close', fail);
    };
    const fail = (): void => {
      stop();
      const found = match();
      if (found) resolve(found);
      else reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${output().slice(-8000)}`));
    };
    const check = (): void => {
      const found = match();
      if (!found) return;
      stop();
      resolve(found);
    };
    const deadline = setTimeout(fail, timeoutMs);
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('close', fail);
    if (child.exitCode !== null || child.signalCode !== null) fail();
    else check();
  });
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
