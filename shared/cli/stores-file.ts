/**
 * The stores file of `cks apply` (DESIGN.md §5): parsed with positions kept, so that every error
 * names its line, the store (by name, or by position when it has none) and the field. Pure: no I/O.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { parseDesiredSpec } from '../domain/desired-schema.js';
import type { DesiredStoreSpec } from '../domain/desired-schema.js';

/** Either every store of the file, validated and with defaults filled in, or every error found. */
export type StoresFileResult = { ok: true; specs: DesiredStoreSpec[] } | { ok: false; errors: string[] };

interface Located {
  line: number;
  text: string;
}

/**
 * Parses and validates a whole stores file. `fileName` prefixes each error, e.g.
 * `stores.yaml:7: store "payments-hsm" field cloudHsmClusterId: must match cluster-[2-7a-zA-Z]{11,16}`.
 * Errors come in file order.
 */
export function parseStoresFile(text: string, fileName: string): StoresFileResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined): number =>
    lineCounter.linePos(node?.range?.[0] ?? 0).line;
  const fail = (errors: Located[]): StoresFileResult => ({
    ok: false,
    errors: errors.sort((a, b) => a.line - b.line).map((e) => `${fileName}:${e.line}: ${e.text}`),
  });

  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return `${fileName}:${line}:${col}: YAML syntax error: ${error.message.split('\n')[0]}`;
      }),
    };
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    return fail([{ line: 1, text: 'the file is empty: expected a "stores:" list' }]);
  }
  if (!isMap(root)) return fail([{ line: lineOf(root), text: 'expected a mapping with a "stores:" list at the top level' }]);

  const errors: Located[] = [];
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (key !== 'stores') errors.push({ line: lineOf(pair.key as Node), text: `unknown top-level field "${key}" (expected only "stores")` });
  }
  const storesPair = root.items.find((pair) => isScalar(pair.key) && pair.key.value === 'stores');
  const stores = storesPair?.value as Node | null | undefined;
  if (storesPair === undefined) errors.push({ line: lineOf(root), text: 'missing "stores:": the list of stores' });
  else if (stores == null || (isScalar(stores) && stores.value === null) || (isSeq(stores) && stores.items.length === 0)) {
    errors.push({ line: lineOf(storesPair.key as Node), text: '"stores" is empty: declare at least one store' });
  } else if (!isSeq(stores)) errors.push({ line: lineOf(stores), text: '"stores" must be a list (each store starts with "- ")' });
  if (!isSeq(stores) || stores.items.length === 0) return fail(errors);

  const raws = (doc.toJS() as { stores: unknown[] }).stores;
  const specs: DesiredStoreSpec[] = [];
  const firstLineByName = new Map<string, number>();
  stores.items.forEach((item, index) => {
    const raw = raws[index];
    const node = item as Node;
    const name = isRecord(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name : null;
    const label = name === null ? `store #${index + 1}` : `store "${name}"`;
    const parsed = parseDesiredSpec(raw);
    if (parsed.ok) specs.push(parsed.spec);
    else {
      for (const error of parsed.errors) {
        errors.push({
          line: lineOf(fieldNode(node, error.path)),
          text: error.path === '' ? `${label}: ${error.message}` : `${label} field ${error.path}: ${error.message}`,
        });
      }
    }
    if (name !== null) {
      // Store names are unique per account and Region, as in KMS.
      const key = isRecord(raw) ? `${String(raw.accountId ?? '')}/${String(raw.region ?? '')}/${name}` : name;
      const first = firstLineByName.get(key);
      if (first === undefined) firstLineByName.set(key, lineOf(node));
      else errors.push({ line: lineOf(node), text: `${label}: duplicate name (first declared on line ${first})` });
    }
  });
  return errors.length > 0 ? fail(errors) : { ok: true, specs };
}

/**
 * Where a field error points: the key of the deepest field of the dotted `path` that the file has
 * (so a missing field points at the enclosing store or object).
 */
function fieldNode(store: Node, path: string): Node {
  let node = store;
  let at = store;
  for (const segment of path === '' ? [] : path.split('.')) {
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
    if (pair === undefined) break;
    at = pair.key as Node;
    node = pair.value as Node;
  }
  return at;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
