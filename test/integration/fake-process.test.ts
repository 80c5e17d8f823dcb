import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { DescribeCustomKeyStoresCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterEach, describe, expect, it } from 'vitest';

const TSX = 'node_modules/.bin/tsx';
const children: ChildProcess[] = [];

function startMain(...args: string[]): ChildProcess {
  const child = spawn(TSX, ['shared/dev/fake/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Resolves with the first stdout line matching `pattern`. */
function waitForLine(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = pattern.exec(buffered);
      if (match) resolve(match);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before printing ${pattern}`)));
  });
}

describe('npm run fake (shared/dev/fake/main.ts)', () => {
  it('prints the port it bound with --port 0, serves calls, and exits 0 on SIGTERM', async () => {
    const child = startMain('--port', '0', '--clock', 'manual');
    const match = await waitForLine(child, /listening on (http:\/\/127\.0\.0\.1:(\d+))/);
    expect(Number(match[2])).toBeGreaterThan(0);
    const kms = new KMSClient({ endpoint: match[1], region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    await expect(kms.send(new DescribeCustomKeyStoresCommand({}))).resolves.toMatchObject({ CustomKeyStores: [], Truncated: false });
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('rejects a bad flag with one error line on stderr and exit code 2', async () => {
    const child = startMain('--clock', 'sometimes');
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining('--clock must be real or manual, not "sometimes"')]);
  });
});
