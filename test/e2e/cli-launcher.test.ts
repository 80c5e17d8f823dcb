/**
 * `bin/cks.js`, the launcher, in a scratch copy of the project's bin/: it runs the bundle in dist/cli,
 * and refuses in one line to run one that is missing or older than a file it was built from.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/', import.meta.url));

let project: string;

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'cks-launcher-'));
  mkdirSync(join(project, 'bin'));
  for (const file of ['cks.js', 'build-cli.js']) copyFileSync(join(BIN, file), join(project, 'bin', file));
  writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
});

afterEach(() => {
  rmSync(project, { recursive: true, force: true });
});

function cks(...args: string[]) {
  const run = spawnSync(process.execPath, [join(project, 'bin/cks.js'), ...args], { cwd: project, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** A built dist/cli whose `run` prints its arguments and returns 3, built from shared/a.ts, `ageSeconds` ago. */
function writeBundle(ageSeconds: number): void {
  mkdirSync(join(project, 'dist/cli'), { recursive: true });
  mkdirSync(join(project, 'shared'));
  writeFileSync(join(project, 'shared/a.ts'), 'export {};\n');
  writeFileSync(join(project, 'dist/cli/cks.js'), 'export async function run(argv, io) { io.stdout(`run ${argv.join(" ")}\\n`); return 3; }\n');
  writeFileSync(join(project, 'dist/cli/inputs.json'), '["shared/a.ts"]\n');
  const builtAt = new Date(Date.now() - ageSeconds * 1000);
  utimesSync(join(project, 'dist/cli/inputs.json'), builtAt, builtAt);
  const editedAt = new Date(Date.now() - 60_000);
  utimesSync(join(project, 'shared/a.ts'), editedAt, editedAt);
}

describe('bin/cks.js', () => {
  it('runs the built CLI with the command line and exits with its code', () => {
    // Prepare: built after the last edit.
    writeBundle(30);

    // Act
    const run = cks('status', '--output', 'json');

    // Assess
    expect(run).toEqual({ code: 3, stdout: 'run status --output json\n', stderr: '' });
  });

  it('says in one line to run npm ci when the CLI is not built', () => {
    // Act
    const run = cks('--help');

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'cks: the CLI is not built: run `npm ci` (or `npm run build`)\n' });
  });

  it('refuses a bundle older than a file it was built from, naming the file', () => {
    // Prepare: built before the last edit.
    writeBundle(120);

    // Act
    const run = cks('--help');

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'cks: the CLI was built before shared/a.ts changed: run `npm run build`\n' });
  });
});

describe('the built CLI', () => {
  it('is built from the CLI and the deployed core only: nothing of shared/dev/ (the fake, demo, offline runner, simulator)', () => {
    // dist/cli is rebuilt by this project's global setup when stale; inputs.json lists its project sources.
    const inputs = JSON.parse(readFileSync(fileURLToPath(new URL('../../dist/cli/inputs.json', import.meta.url)), 'utf8')) as string[];
    expect(inputs).toContain('shared/cli/main.ts');
    expect(inputs.filter((file) => file.startsWith('shared/dev/'))).toEqual([]);
  });
});
