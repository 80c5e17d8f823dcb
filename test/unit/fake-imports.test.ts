/**
 * The local fake stands alone: its modules import Node built-ins (`node:`), npm packages the
 * project depends on, and one another — nothing else of the product — and no two of them import
 * each other, directly or round a longer cycle, type-only imports included. Imports are read with
 * the TypeScript scanner, so comments and strings that look like imports do not count.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FAKE = 'shared/dev/fake';
/** What the fake may import from npm: the product's dependencies, and the engines only the fake uses (devDependencies). */
const DEPENDENCIES = [
  ...Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies),
  'dynalite',
  '@cloud-copilot/iam-policy',
  '@cloud-copilot/iam-simulate',
];

const files = (readdirSync(join(ROOT, FAKE), { recursive: true }) as string[])
  .filter((name) => name.endsWith('.ts'))
  .map((name) => posix.join(FAKE, name.split('\\').join('/')))
  .sort();

/** The specifiers a file imports or re-exports, type-only and dynamic imports included. */
function specifiers(file: string): string[] {
  return ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** The repository path a relative specifier names (`./x.js` → `shared/dev/fake/x.ts`). */
function resolved(file: string, specifier: string): string {
  return relative(ROOT, resolve(ROOT, dirname(file), specifier))
    .split('\\')
    .join('/')
    .replace(/\.js$/, '.ts');
}

/** An npm package's name: `zod`, `zod/mini` → `zod`; `@scope/name/x` → `@scope/name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** What may not be imported, as "file → specifier". */
function forbidden(file: string, specifier: string): boolean {
  if (specifier.startsWith('.')) {
    const target = resolved(file, specifier);
    return !target.startsWith(`${FAKE}/`) || !existsSync(join(ROOT, target));
  }
  return !specifier.startsWith('node:') && !DEPENDENCIES.includes(packageName(specifier));
}

/** Each fake module → the fake modules it imports. */
function importGraph(): Map<string, string[]> {
  return new Map(
    files.map((file) => [
      file,
      specifiers(file)
        .filter((s) => s.startsWith('.'))
        .map((s) => resolved(file, s)),
    ]),
  );
}

/** A cycle in the graph as the path round it (first node repeated at the end), or `undefined`. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    const onPath = path.indexOf(node);
    if (onPath >= 0) return [...path.slice(onPath), node];
    if (done.has(node)) return undefined;
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(node);
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe("the fake's imports", () => {
  it('reads every fake module, type-only imports included', () => {
    expect(files).toEqual(expect.arrayContaining(['shared/dev/fake/server.ts', 'shared/dev/fake/kms/model.ts']));
    const graph = importGraph();
    expect(graph.get('shared/dev/fake/kms/model.ts')).toEqual(
      expect.arrayContaining(['shared/dev/fake/cloudhsm/model.ts', 'shared/dev/fake/kms/requests.ts', 'shared/dev/fake/kms/xks-proxy.ts']),
    );
    expect(specifiers('shared/dev/fake/kms/requests.ts')).toContain('zod');
  });

  it('imports only Node built-ins, npm dependencies and other fake modules', () => {
    const outside = files.flatMap((file) =>
      specifiers(file)
        .filter((s) => forbidden(file, s))
        .map((s) => `${file} → ${s}`),
    );
    expect(outside).toEqual([]);
  });

  it('tells a product module, an unknown package and a bare built-in from allowed imports', () => {
    expect(forbidden('shared/dev/fake/kms/model.ts', '../../../domain/types.js')).toBe(true);
    expect(forbidden('shared/dev/fake/kms/model.ts', '../cloudhsm/model.js')).toBe(false);
    expect(forbidden('shared/dev/fake/server.ts', 'node:http')).toBe(false);
    expect(forbidden('shared/dev/fake/server.ts', 'http')).toBe(true);
    expect(forbidden('shared/dev/fake/server.ts', 'zod')).toBe(false);
    expect(forbidden('shared/dev/fake/server.ts', 'vitest')).toBe(true);
  });

  it('has no import cycle', () => {
    expect(findCycle(importGraph())).toBeUndefined();
  });

  it('finds a cycle round two or more modules, and none in a graph without one', () => {
    const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges));
    expect(findCycle(graph({ a: ['b'], b: ['c'], c: ['a'] }))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(graph({ a: ['b', 'c'], b: ['c'], c: [] }))).toBeUndefined();
    expect(findCycle(graph({ a: ['b'], b: ['c'], c: ['b'] }))).toEqual(['b', 'c', 'b']);
  });
});
