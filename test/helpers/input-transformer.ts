/**
 * What EventBridge delivers to a rule target with an input transformer, for one event, as its
 * documentation describes it: each `<name>` of the template whose name the paths map declares is
 * replaced, in one pass, by the value at that JSON path. Inside a JSON string the value's text goes
 * in, escaped so that the string stays valid JSON; outside a string, the value's JSON. A path that
 * matches nothing leaves its placeholder in place, and is reported.
 */
import { JSONPath } from 'jsonpath-plus';
import type { InputTransformer } from '../../shared/on-call/pages.js';

export interface Rendered {
  /** The target's input, as EventBridge sends it. */
  output: string;
  /** Placeholders whose path matched nothing in the event. */
  unresolved: string[];
}

export function renderInputTransformer(transformer: InputTransformer, event: object): Rendered {
  const { InputPathsMap: paths, InputTemplate: template } = transformer;
  const unresolved: string[] = [];
  let output = '';
  let inString = false;
  for (let i = 0; i < template.length; i++) {
    const char = template[i]!;
    if (inString && char === '\\') {
      output += template.slice(i, i + 2);
      i++;
      continue;
    }
    if (char === '"') inString = !inString;
    const placeholder = char === '<' ? /^<([A-Za-z0-9]+)>/.exec(template.slice(i)) : null;
    const path = placeholder ? paths[placeholder[1]!] : undefined;
    if (!placeholder || path === undefined) {
      output += char;
      continue;
    }
    const value: unknown = JSONPath({ path, json: event, wrap: false });
    if (value === undefined) {
      unresolved.push(placeholder[1]!);
      output += placeholder[0];
    } else {
      output += inString ? textInString(value) : JSON.stringify(value);
    }
    i += placeholder[0].length - 1;
  }
  return { output, unresolved };
}

/** A value's text as it stands inside a JSON string: a string's characters, any other value's JSON, escaped. */
function textInString(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return JSON.stringify(text).slice(1, -1);
}
