/**
 * A small EventBridge event-pattern matcher, so that the demo routes CloudTrail events to the
 * on-event handler by the very patterns `serverless.yml` deploys. It covers what those patterns use:
 * exact values, `exists`, `anything-but` (values or `{prefix}`), `prefix`, `$or` and nested objects. Any
 * other operator throws, so that a pattern the demo cannot honour fails loudly instead of routing
 * differently from AWS.
 *
 * Semantics (as in EventBridge): every key of a pattern object must match (AND); a key's array lists
 * alternatives (OR); `"$or": [p1, p2]` matches when any of the sub-patterns matches the object it
 * sits in; a pattern value matches an event array when any element matches; a missing field matches
 * only `{"exists": false}`.
 */

/** An event pattern: nested objects whose leaves are arrays of values or operator objects. */
export type EventPattern = { readonly [key: string]: EventPattern | readonly unknown[] };

/** True when `event` matches `pattern`. Throws on a malformed pattern or an unsupported operator. */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  const fields = isObject(event) ? event : {};
  return Object.entries(pattern).every(([key, rule]) => {
    if (key === '$or') {
      if (!Array.isArray(rule) || rule.length < 2 || !rule.every(isObject)) {
        throw new Error(`"$or" takes a list of at least two patterns, got ${JSON.stringify(rule)}`);
      }
      return rule.some((branch) => matchesPattern(branch as EventPattern, event));
    }
    const value = fields[key];
    if (Array.isArray(rule)) return rule.some((matcher) => matchesField(matcher, value));
    if (isObject(rule)) return matchesPattern(rule as EventPattern, value);
    throw new Error(`event pattern field "${key}" must be an array or an object, got ${JSON.stringify(rule)}`);
  });
}

/** One alternative of a leaf against an event value (absent: undefined). */
function matchesField(matcher: unknown, value: unknown): boolean {
  if (isObject(matcher)) {
    const [operator, ...more] = Object.keys(matcher);
    if (operator === undefined || more.length > 0) {
      throw new Error(`event pattern operator must have exactly one key, got ${JSON.stringify(matcher)}`);
    }
    const argument = matcher[operator];
    if (operator === 'exists') {
      if (typeof argument !== 'boolean') throw new Error(`"exists" takes true or false, got ${JSON.stringify(argument)}`);
      return argument === (value !== undefined);
    }
    if (value === undefined) return false;
    const values = Array.isArray(value) ? value : [value];
    if (operator === 'prefix') return values.some((v) => hasPrefix(v, argument));
    if (operator === 'anything-but') return values.some((v) => !excluded(argument, v));
    throw new Error(`event pattern operator "${operator}" is not supported by the demo's matcher`);
  }
  if (Array.isArray(value)) return value.some((v) => v === matcher);
  // A pattern's null matches a JSON null; an absent field is not null.
  return value !== undefined && value === matcher;
}

/** Whether `anything-but`'s argument (a value, a list of values, or `{prefix}`) rules `value` out. */
function excluded(argument: unknown, value: unknown): boolean {
  if (Array.isArray(argument)) return argument.includes(value);
  if (isObject(argument)) {
    if ('prefix' in argument && Object.keys(argument).length === 1) return hasPrefix(value, argument.prefix);
    throw new Error(`"anything-but" supports values, lists and {"prefix"}, got ${JSON.stringify(argument)}`);
  }
  return argument === value;
}

function hasPrefix(value: unknown, prefix: unknown): boolean {
  if (typeof prefix !== 'string') throw new Error(`"prefix" takes a string, got ${JSON.stringify(prefix)}`);
  return typeof value === 'string' && value.startsWith(prefix);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
