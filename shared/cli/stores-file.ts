/**
 * The stores file of `cks apply`: parsed with positions kept, so that every error
 * names its line, the store (by name, or by position when it has none) and the field. Pure: no I/O.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { DesiredStoreSpec } from '../domain/desired-schema.js';
import { parseDesiredSpec } from '../domain/desired-schema.js';
import type { ObservedStore, Scope } from '../domain/types.js';
import { printable } from './table.js';

/** Either every store of the file, validated and with defaults filled in, or every error found. */
export type StoresFileResult = { ok: true; specs: DesiredStoreSpec[] } | { ok: false; errors: string[] };

interface Located {
  line: number;
  text: string;
}

/**
 * What a file is checked against once the deployment is known: the rules that need its account,
 * Region and secret prefix, and the stores KMS has.
 */
export interface DeploymentRules {
  scope: Scope;
  /** Secrets must be named under it (serverless.yml's `secretPrefix`): the reconciler may read no others. */
  secretPrefix: string;
  /** The stores in KMS, to tell which entries name the same one; null when they could not be read (then declared ids and names are compared). */
  kmsStores: readonly ObservedStore[] | null;
}

/**
 * Parses and validates a whole stores file. `fileName` prefixes each error, e.g.
 * `stores.yaml:7: store "payments-hsm" field cloudHsmClusterId: must match cluster-[2-7a-zA-Z]{11,16}`.
 * Errors come in file order. With `rules`, also: one KMS store, one entry; and secrets of this
 * account and Region, under the deployment's prefix.
 */
export function parseStoresFile(text: string, fileName: string, rules?: DeploymentRules): StoresFileResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined): number => lineCounter.linePos(node?.range?.[0] ?? 0).line;
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
  /** Which KMS store each valid entry names, and the first entry to name it. */
  const firstByStore = new Map<string, { label: string; line: number }>();
  stores.items.forEach((item, index) => {
    const raw = raws[index];
    const node = item as Node;
    const name = isRecord(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name : null;
    const label = name === null ? `store #${index + 1}` : `store "${printable(name)}"`;
    const fieldError = (path: string, message: string): Located => ({
      line: lineOf(fieldNode(node, path)),
      text: path === '' ? `${label}: ${message}` : `${label} field ${path}: ${message}`,
    });
    const parsed = parseDesiredSpec(raw);
    if (parsed.ok) {
      specs.push(parsed.spec);
      if (rules !== undefined) {
        errors.push(...secretErrors(parsed.spec, rules).map((e) => fieldError(e.path, e.message)));
        const store = kmsStoreOf(parsed.spec, rules);
        const first = firstByStore.get(store.key);
        if (first === undefined) firstByStore.set(store.key, { label, line: lineOf(node) });
        else if (first.label !== label) {
          errors.push({
            line: lineOf(node),
            text: `${label} and ${first.label} (${fileName}:${first.line}) are one KMS store (${store.what}): one store, one entry`,
          });
        }
      }
    } else {
      for (const error of parsed.errors) errors.push(fieldError(error.path, error.message));
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
 * The KMS store an entry names: by its declared id, else the store KMS has under its name. Two entries
 * with one key would have two desired states fight over one store.
 */
function kmsStoreOf(spec: DesiredStoreSpec, rules: DeploymentRules): { key: string; what: string } {
  // Ids and names are unique per account and Region; the stores KMS listed are the deployment's own scope's.
  const { accountId, region } = rules.scope;
  const scope = `${spec.accountId ?? accountId}/${spec.region ?? region}`;
  if (spec.id !== undefined) return { key: `${scope}/${spec.id}`, what: spec.id };
  const found = scope === `${accountId}/${region}` ? rules.kmsStores?.find((store) => store.name === spec.name) : undefined;
  // Not in KMS: the name is all there is to compare (and a name declared twice is reported as such).
  return found !== undefined
    ? { key: `${scope}/${found.id}`, what: `${found.id}, named "${printable(spec.name)}" in KMS` }
    : { key: `${scope}/name:${spec.name}`, what: spec.name };
}

const SECRET_ARN_PARTS = /^arn:[^:]+:secretsmanager:([^:]+):(\d{12}):secret:(.+)$/;

/** A secret the reconciler is to read must be this account's, in this Region, and named under the deployment's prefix. */
function secretErrors(spec: DesiredStoreSpec, rules: DeploymentRules): Array<{ path: string; message: string }> {
  const secrets: Array<[string, string | undefined]> = [
    ['keyStorePasswordSecretArn', spec.keyStorePasswordSecretArn],
    ['xksProxy.credentialSecretArn', spec.xksProxy?.credentialSecretArn],
  ];
  // A store's secrets live in its own account and Region (the member role reads them there).
  const accountId = spec.accountId ?? rules.scope.accountId;
  const region = spec.region ?? rules.scope.region;
  return secrets.flatMap(([path, arn]) => {
    if (arn === undefined) return [];
    const [, arnRegion, arnAccount, name = ''] = SECRET_ARN_PARTS.exec(arn) ?? [];
    if (arnAccount !== accountId || arnRegion !== region) {
      return [
        { path, message: `must be a secret of this deployment's account and Region (${accountId}, ${region}), not of ${arnAccount} in ${arnRegion}` },
      ];
    }
    return name.startsWith(rules.secretPrefix)
      ? []
      : [
          {
            path,
            message: `must name a secret under the deployment's secret prefix "${rules.secretPrefix}" (CKS_SECRET_PREFIX; the reconciler may read no other secret)`,
          },
        ];
  });
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
