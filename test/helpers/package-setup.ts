/**
 * Global setup of the e2e project: starts `serverless package` once per test run, in the background,
 * as CI runs it (offline, with no AWS credentials), on a copy of the project. Tests wait for it with
 * `packagedService()` (see `package.ts`); the copy is removed when the run ends.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The directory of this run's `serverless package`: the project copy, then its result. */
    packageWork: string;
  }
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The stage packaged: names in the template end in it. */
export const STAGE = 'ci';
/** How long `serverless package` may take, on a busy machine too. */
export const PACKAGE_TIMEOUT_MS = 300_000;
/** Written in the work directory once the package is done: a `PackageResult`. */
export const RESULT_FILE = 'result.json';

export interface PackageResult {
  ok: boolean;
  /** What serverless printed, or why it failed. */
  output: string;
}
/** What the copy of the project leaves out: dependencies are linked, build output is not copied. */
const NOT_COPIED = new Set(['node_modules', '.git', '.serverless', '.esbuild', 'coverage', 'dist']);

export default function setup(project: TestProject): () => Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'cks-sls-package-'));
  project.provide('packageWork', work);
  const stop = new AbortController();
  const done = packageCopy(work, stop.signal)
    .then(
      (output): PackageResult => ({ ok: true, output }),
      (error: unknown): PackageResult => ({ ok: false, output: error instanceof Error ? error.message : String(error) }),
    )
    .then((result) => {
      // Written whole, then renamed: a waiting test never reads half a file.
      writeFileSync(join(work, `${RESULT_FILE}.tmp`), JSON.stringify(result));
      renameSync(join(work, `${RESULT_FILE}.tmp`), join(work, RESULT_FILE));
    });
  return async () => {
    stop.abort();
    await done;
    rmSync(work, { recursive: true, force: true });
  };
}

/**
 * Copies the project into `<work>/project` (dependencies linked), so that the working tree's build
 * output and concurrent runs do not matter, and packages it there.
 */
function packageCopy(work: string, signal: AbortSignal): Promise<string> {
  const project = join(work, 'project');
  cpSync(ROOT, project, { recursive: true, filter: (src) => src === ROOT || !NOT_COPIED.has(basename(src)) });
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');
  mkdirSync(join(work, 'home'));
  return runServerless(project, ['package', '--stage', STAGE], serverlessEnv(work), signal);
}

/** The environment of every `serverless` run of `work`: this process's, less AWS configuration of any kind, with a HOME of its own. */
export function serverlessEnv(work: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(AWS_|SLS_|SERVERLESS_)/.test(name)));
  return Object.assign(env, {
    HOME: join(work, 'home'),
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    AWS_CONFIG_FILE: join(work, 'home', 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(work, 'home', 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  });
}

/** Runs the CLI in `cwd` with a scrubbed environment; resolves with its output or rejects with it (or when `signal` aborts). */
export function runServerless(cwd: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    // Its own process group: a failed esbuild build leaves esbuild's service running and the CLI
    // never exits, so the whole group is killed once the error is printed (or on timeout).
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/serverless/bin/serverless.js'), ...args], {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let settled = false;
    const finish = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      if (error) reject(error);
      else resolvePromise(output);
    };
    const onAbort = () => finish(new Error(`serverless ${args.join(' ')} stopped: the test run ended first`));
    signal?.addEventListener('abort', onAbort);
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (/^Error:\s*$/m.test(output)) {
        setTimeout(() => finish(new Error(`serverless ${args.join(' ')} failed:\n${output.slice(-6000)}`)), 1000);
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timeout = setTimeout(
      () => finish(new Error(`serverless ${args.join(' ')} did not finish in ${PACKAGE_TIMEOUT_MS} ms:\n${output.slice(-6000)}`)),
      PACKAGE_TIMEOUT_MS - 10_000,
    );
    child.on('error', (error) => finish(error));
    child.on('exit', (code) => {
      finish(code === 0 ? null : new Error(`serverless ${args.join(' ')} exited with ${code}:\n${output.slice(-6000)}`));
    });
  });
}
