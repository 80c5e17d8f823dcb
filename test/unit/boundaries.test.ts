/**
 * The import boundaries of the code. What ships (the Lambda handlers and the deployed core under
 * `shared/`) and what the operator runs (`shared/cli/`, `bin/`) import nothing of the developer
 * tooling (`shared/dev/`: the fake, the demo, the offline runner, the simulator) and no package that
 * is only a devDependency; the domain depends on nothing outside itself, the reconcile core on no
 * adapter or SDK. A plain scan of each file's import specifiers, with relative ones resolved to
 * repository paths.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** One import of one file: the specifier as written, and for a relative one the repository path it names. */
interface Import {
  file: string;
  specifier: string;
  target: string | null;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function sourceFiles(dir: string): string[] {
  return (readdirSync(join(ROOT, dir), { recursive: true }) as string[])
    .filter((name) => name.endsWith('.ts'))
    .map((name) => posix.join(dir, name.split('\\').join('/')));
}

function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(SPECIFIER)].map(([, specifier]) => ({
    file,
    specifier: specifier!,
    target: specifier!.startsWith('.')
      ? relative(ROOT, resolve(ROOT, dirname(file), specifier!))
          .split('\\')
          .join('/')
          .replace(/\.js$/, '.ts')
      : null,
  }));
}

const files = [...sourceFiles('shared'), ...sourceFiles('functions')];
const DEV = 'shared/dev/';
const CLI = 'shared/cli/';
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** Packages installed for developers only. */
const DEV_PACKAGES = Object.keys(packageJson.devDependencies).filter((name) => !(name in packageJson.dependencies));

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`); null for node: built-ins. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** What ships or the operator runs: everything outside shared/dev/. */
function isShipped(file: string): boolean {
  return !file.startsWith(DEV);
}

/** Imports of shipped or CLI code that reach developer tooling: a module under shared/dev/ or a devDependency. */
function devToolingImports(list: readonly Import[]): Import[] {
  return list.filter(
    (i) => isShipped(i.file) && (i.target !== null ? i.target.startsWith(DEV) : DEV_PACKAGES.includes(packageOf(i.specifier) ?? '')),
  );
}
const imports = files.flatMap(importsOf);

function importsFrom(dir: string): Import[] {
  return imports.filter((i) => i.file.startsWith(`${dir}/`));
}

/** The offending imports, as "file → specifier", so that a failure names each one. */
function lines(list: Import[]): string[] {
  return list.map((i) => `${i.file} → ${i.specifier}`);
}

describe('import boundaries', () => {
  it('the scan reads every source file and resolves relative imports to repository paths', () => {
    expect(files).toContain('shared/reconcile/reconcile-scope.ts');
    expect(files).toContain('functions/on-event.ts');
    expect(files).toContain('functions/on-change.ts');
    expect(importsOf('shared/reconcile/reconcile-scope.ts')).toContainEqual({
      file: 'shared/reconcile/reconcile-scope.ts',
      specifier: './reconcile-store.js',
      target: 'shared/reconcile/reconcile-store.ts',
    });
    expect(importsOf('shared/runtime/triggers.ts')).toContainEqual({ file: 'shared/runtime/triggers.ts', specifier: 'zod/mini', target: null });
    // Every relative import names a file that exists, so no boundary is passed by a path the scan misread.
    expect(lines(imports.filter((i) => i.target !== null && !files.includes(i.target)))).toEqual([]);
  });

  it('the domain imports no SDK and no project module outside the domain', () => {
    const domain = importsFrom('shared/domain');
    expect(domain.length).toBeGreaterThan(0);
    const outside = domain.filter((i) => i.specifier.startsWith('@aws-sdk/') || (i.target !== null && !i.target.startsWith('shared/domain/')));
    expect(lines(outside)).toEqual([]);
  });

  it('the reconcile core imports no adapter, SDK, fake or composition root', () => {
    const core = importsFrom('shared/reconcile');
    expect(core.length).toBeGreaterThan(0);
    // The core sees the world through its ports: its own modules, the domain, and the shared error, metric and logger helpers.
    const allowed = (target: string) =>
      target.startsWith('shared/reconcile/') ||
      target.startsWith('shared/domain/') ||
      ['shared/errors.ts', 'shared/metrics.ts', 'shared/logger.ts'].includes(target);
    const outside = core.filter((i) => i.specifier.startsWith('@aws-sdk/') || (i.target !== null && !allowed(i.target)));
    expect(lines(outside)).toEqual([]);
  });

  it('nothing deployed or in the CLI imports developer tooling or a devDependency', () => {
    expect(files.some((f) => f.startsWith(DEV))).toBe(true);
    expect(lines(devToolingImports(imports))).toEqual([]);
  });

  it.each([
    ['a handler importing the fake', { file: 'functions/sweep.ts', specifier: '../shared/dev/fake/server.js', target: 'shared/dev/fake/server.ts' }],
    ['the CLI importing the demo', { file: 'shared/cli/main.ts', specifier: '../dev/demo/world.js', target: 'shared/dev/demo/world.ts' }],
    ['the core importing a devDependency', { file: 'shared/reconcile/reconcile-scope.ts', specifier: 'fast-check', target: null }],
    ['an adapter importing the DynamoDB emulator', { file: 'shared/adapters/dynamodb-store.ts', specifier: 'dynalite', target: null }],
  ])('the rule catches %s', (_name, planted) => {
    expect(lines(devToolingImports([...imports, planted]))).toEqual([`${planted.file} → ${planted.specifier}`]);
  });

  it('developer tooling may import what ships', () => {
    const planted = { file: 'shared/dev/demo/lambdas.ts', specifier: '../../../functions/sweep.js', target: 'functions/sweep.ts' };
    expect(devToolingImports([planted])).toEqual([]);
  });

  it('deployed code imports nothing of the CLI', () => {
    const outside = imports.filter((i) => isShipped(i.file) && !i.file.startsWith(CLI) && i.target?.startsWith(CLI));
    expect(lines(outside)).toEqual([]);
  });

  it('the emulator, the TypeScript runner and the test tools are devDependencies', () => {
    for (const name of ['dynalite', 'tsx', 'vitest', 'esbuild', 'serverless']) expect(DEV_PACKAGES).toContain(name);
  });
});
