/**
 * The import boundaries of the code: the domain depends on nothing outside itself, the reconcile
 * core on no adapter, SDK or fake, and only the demo, the offline runner and the simulator use the local fake.
 * A plain scan of each file's import specifiers, with relative ones resolved to repository paths.
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
    expect(files).toContain('shared/reconcile/sweep.ts');
    expect(files).toContain('functions/on-event.ts');
    expect(importsOf('shared/reconcile/sweep.ts')).toContainEqual({
      file: 'shared/reconcile/sweep.ts',
      specifier: './reconcile-store.js',
      target: 'shared/reconcile/reconcile-store.ts',
    });
    expect(importsOf('shared/reconcile/triggers.ts')).toContainEqual({ file: 'shared/reconcile/triggers.ts', specifier: 'zod/mini', target: null });
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

  it('only the fake itself, the demo, the offline runner and the simulator import the local fake', () => {
    const mayUseFake = ['shared/fake/', 'shared/demo/', 'shared/offline/', 'shared/sim/'];
    const users = imports.filter((i) => i.target?.startsWith('shared/fake/') && !mayUseFake.some((dir) => i.file.startsWith(dir)));
    expect(lines(users)).toEqual([]);
  });
});
