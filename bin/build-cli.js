#!/usr/bin/env node
/**
 * Builds the `cks` CLI into dist/cli/ (`npm run build`, and the `prepare` step `npm ci` runs), so that
 * `cks` starts without compiling TypeScript. One ES module bundle split at the CLI's dynamic imports:
 * `cks --help` loads only the entry (the command table), a command loads the SDK clients it uses.
 *
 * Beside the bundle, inputs.json lists the project files it was built from; {@link staleBundle} is
 * the launcher's check that none changed since, so an edited source is never silently run stale.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = 'dist/cli';
const MANIFEST = join(ROOT, OUT_DIR, 'inputs.json');

/**
 * Why dist/cli cannot be run (not built, or older than a project file it was built from), as one line
 * for the operator; undefined when it is up to date.
 * @returns {string | undefined}
 */
export function staleBundle() {
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return 'the CLI is not built: run `npm ci` (or `npm run build`)';
  }
  const builtAt = statSync(MANIFEST).mtimeMs;
  for (const file of inputs) {
    const changedAt = statSync(join(ROOT, file), { throwIfNoEntry: false })?.mtimeMs ?? Infinity;
    if (changedAt > builtAt) return `the CLI was built before ${file} changed: run \`npm run build\``;
  }
  return undefined;
}

/** Builds dist/cli from shared/cli/main.ts, replacing what was there. */
export async function buildCli() {
  const { build } = await import('esbuild');
  rmSync(join(ROOT, OUT_DIR), { recursive: true, force: true });
  const { metafile } = await build({
    absWorkingDir: ROOT,
    entryPoints: { cks: 'shared/cli/main.ts' },
    outdir: OUT_DIR,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // The ES module build of a dependency where it has one: only what is used is bundled.
    mainFields: ['module', 'main'],
    // Read only under `node --enable-source-maps bin/cks.js`.
    sourcemap: 'linked',
    // The CommonJS dependencies call require(), which an ES module does not have.
    banner: { js: "import { createRequire as __cksCreateRequire } from 'node:module'; const require = __cksCreateRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(metafile.inputs).filter((file) => !file.includes('node_modules/'));
  writeFileSync(MANIFEST, `${JSON.stringify(inputs, null, 2)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli();
