/**
 * What `cks apply` changes, store by store and field by field, before it writes: added and removed
 * stores, and each changed field old → new, a field that falls back to its default when omitted
 * included (re-applying a store without `mode:` turns enforce into observe, and says so). Pure.
 */
import { type DesiredStoreSpec, parseDesiredSpec } from '../domain/desired-schema.js';
import { sameData } from '../domain/same-data.js';
import { count } from '../domain/words.js';
import { printable } from './table.js';

/** One field of a store: its value before (as stored) and after (as the file resolves it); undefined is absent. */
export interface FieldChange {
  path: string;
  before: unknown;
  after: unknown;
}

export type StoreChange =
  | { kind: 'added'; name: string; fields: FieldChange[] }
  | { kind: 'changed'; name: string; fields: FieldChange[] }
  | { kind: 'unchanged'; name: string }
  /** In the table, not in the file. */
  | { kind: 'removed'; name: string };

/** Fields of a desired item that operators' commands manage, not the stores file: never part of the diff. */
const OPERATOR_FIELDS: ReadonlySet<string> = new Set(['generation', 'paused', 'retryRequestedAt', 'changedBy']);

/** What each defaulted field is when a store omits it (the schema's defaults). */
const DEFAULTS: Readonly<Record<string, unknown>> = (() => {
  const parsed = parseDesiredSpec({ name: 'defaults', desiredState: 'DISCONNECTED' });
  if (!parsed.ok) throw new Error('the minimal desired spec does not validate');
  const { name: _name, desiredState: _state, ...defaults } = parsed.spec;
  return defaults;
})();

/**
 * Each store of the file against its desired item in the table (`current`, by name), then the
 * stores of the table the file does not name, in name order.
 */
export function diffStores(current: ReadonlyMap<string, Record<string, unknown>>, specs: readonly DesiredStoreSpec[]): StoreChange[] {
  const named = new Set(specs.map((spec) => spec.name));
  const changes = specs.map((spec): StoreChange => {
    const item = current.get(spec.name);
    if (item === undefined) return { kind: 'added', name: spec.name, fields: fieldChanges({}, spec) };
    const stored = Object.fromEntries(Object.entries(item).filter(([key]) => !OPERATOR_FIELDS.has(key)));
    const fields = fieldChanges(stored, spec);
    return fields.length === 0 ? { kind: 'unchanged', name: spec.name } : { kind: 'changed', name: spec.name, fields };
  });
  const removed = [...current.keys()].filter((name) => !named.has(name)).sort();
  return [...changes, ...removed.map((name): StoreChange => ({ kind: 'removed', name }))];
}

/**
 * The diff for people: `+` added (every field), `~` changed (the fields that change), `-` removed (or
 * kept, without `--prune`). Unchanged stores are only counted.
 */
export function renderDiff(changes: readonly StoreChange[], options: { file: string; prune: boolean }): string[] {
  return changes.flatMap((change) => {
    const name = printable(change.name);
    switch (change.kind) {
      case 'added':
        return [
          `+ ${name} (new)`,
          ...change.fields.filter((field) => field.path !== 'name').map((field) => `    ${field.path}: ${value(field.after)}${defaultNote(field)}`),
        ];
      case 'changed':
        return [
          `~ ${name}`,
          ...change.fields.map((field) => `    ${field.path}: ${value(field.before)} → ${value(field.after)}${defaultNote(field)}`),
        ];
      case 'removed':
        return [
          options.prune
            ? `- ${name} (not in ${options.file}: removed from the desired state; its history is kept)`
            : `  ${name} is not in ${options.file}: kept (\`--prune\` removes it, or \`cks delete ${name}\`)`,
        ];
      case 'unchanged':
        return [];
      default: {
        const exhaustive: never = change;
        throw new Error(`unknown change ${JSON.stringify(exhaustive)}`);
      }
    }
  });
}

/** `2 added, 1 changed, 1 removed, 3 unchanged` (removed only with `--prune`; else how many are kept). */
export function summarise(changes: readonly StoreChange[], prune: boolean): string {
  const of = (kind: StoreChange['kind']): number => changes.filter((change) => change.kind === kind).length;
  const parts = [`${of('added')} added`, `${of('changed')} changed`, ...(prune ? [`${of('removed')} removed`] : []), `${of('unchanged')} unchanged`];
  const kept = prune || of('removed') === 0 ? '' : `; ${count(of('removed'), 'store')} not in the file kept`;
  return `${parts.join(', ')}${kept}`;
}

/** Every field, nested ones dotted (`xksProxy.uriPath`), whose value differs, in the file's field order. */
function fieldChanges(before: Record<string, unknown>, after: DesiredStoreSpec): FieldChange[] {
  const was = flatten(before);
  const now = flatten(after as unknown as Record<string, unknown>);
  const paths = [...new Set([...Object.keys(now), ...Object.keys(was)])];
  return paths.filter((path) => !sameData(was[path], now[path])).map((path) => ({ path, before: was[path], after: now[path] }));
}

function flatten(item: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(item).flatMap(([key, value]) =>
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? Object.entries(flatten(value as Record<string, unknown>, `${prefix}${key}.`))
        : [[`${prefix}${key}`, value]],
    ),
  );
}

function value(v: unknown): string {
  return v === undefined ? '(none)' : printable(typeof v === 'string' ? v : JSON.stringify(v));
}

/** Says when a new value is the default, which a store also gets by omitting the field. */
function defaultNote(field: FieldChange): string {
  return field.path in DEFAULTS && sameData(DEFAULTS[field.path], field.after) ? ' (default)' : '';
}
