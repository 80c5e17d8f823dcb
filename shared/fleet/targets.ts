/**
 * Where a stores-file entry goes: its optional `accountId` and `region` (default: the deployment's
 * own) choose the table partition its desired item is written to; they are not written into it.
 */
import type { DesiredStoreSpec } from '../domain/desired-schema.js';
import type { Scope } from '../domain/types.js';
import { scopeLabel } from './scope.js';

/** The specs of a stores file grouped by the scope each names, in first-seen order, without the target fields. */
export function groupByScope(specs: readonly DesiredStoreSpec[], home: Scope): Array<{ scope: Scope; specs: DesiredStoreSpec[] }> {
  const groups = new Map<string, { scope: Scope; specs: DesiredStoreSpec[] }>();
  for (const { accountId, region, ...spec } of specs) {
    const scope = { accountId: accountId ?? home.accountId, region: region ?? home.region };
    const group = groups.get(scopeLabel(scope)) ?? { scope, specs: [] };
    group.specs.push(spec);
    groups.set(scopeLabel(scope), group);
  }
  return [...groups.values()];
}
