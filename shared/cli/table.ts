/**
 * Plain-text output: aligned columns for people, with `-` for what is unknown.
 */

/** A cell value: null and undefined print as `-`. */
export type Cell = string | number | null | undefined;

/**
 * Renders a header and rows as left-aligned columns two spaces apart. The last column is not padded,
 * so a long reason does not push trailing blanks.
 */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  const text = [headers, ...rows.map((row) => row.map(cell))];
  const widths = headers.map((_, column) => Math.max(...text.map((row) => (row[column] ?? '').length)));
  return text
    .map((row) => row.map((value, column) => (column === row.length - 1 ? value : value.padEnd(widths[column] ?? 0))).join('  '))
    .join('\n');
}

/** An epoch-millisecond time as ISO 8601 to the second (`2024-05-01T12:00:00Z`), or null. */
export function isoTime(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function cell(value: Cell): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}
