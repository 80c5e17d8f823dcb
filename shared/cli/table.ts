/**
 * Plain-text output: aligned columns for people, with `-` for what is unknown, and nothing printed
 * that could drive the terminal.
 */

/** A cell value: null and undefined print as `-`. */
export type Cell = string | number | null | undefined;

/**
 * Renders a header and rows as left-aligned columns two spaces apart. The last column is not padded,
 * so a long reason does not push trailing blanks. `widths` fixes the width of columns (a longer value
 * is cut with `…`), so that rows printed later line up with this header (`cks events --follow`).
 */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>, widths?: readonly number[]): string {
  const text = [headers, ...rows.map((row) => row.map(cell))];
  const width = (column: number): number => widths?.[column] ?? Math.max(...text.map((row) => (row[column] ?? '').length));
  return text.map((row) => row.map((value, column) => (column === row.length - 1 ? value : padTo(value, width(column)))).join('  ')).join('\n');
}

/** An epoch-millisecond time as ISO 8601 to the second (`2024-05-01T12:00:00Z`), or null. */
export function isoTime(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * `text` with every control character written as an escape (`\n`, `\u001b`): a store name, reason or
 * event read from the table or an event bus is data, and must not move the cursor or recolour the
 * terminal that prints it.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * `text` in lines of at most `width` characters, broken at spaces, each line after the first indented
 * by two; with `max`, at most that many lines, the last cut with `…`.
 */
export function wrap(text: string, width: number, max = Number.POSITIVE_INFINITY): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '  ';
    }
    line += line.trim() === '' ? word : ` ${word}`;
  }
  lines.push(line);
  if (lines.length <= max) return lines;
  const rest = lines
    .slice(max - 1)
    .map((l) => l.trim())
    .join(' ');
  return [...lines.slice(0, max - 1), truncate(`  ${rest}`, width)];
}

/** `line` cut to `width` characters, the last one `…` when cut. */
export function truncate(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`;
}

function cell(value: Cell): string {
  return value === null || value === undefined || value === '' ? '-' : printable(String(value));
}

function padTo(value: string, width: number): string {
  return truncate(value, width).padEnd(width);
}
