/** A table to print: a header row and rows of cells, every cell already text. */
export interface Table {
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** A cell's text: scalars as they print, a list of scalars comma-separated, anything else as JSON. */
export function cellText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item !== 'object' || item === null)) return value.map(cellText).join(',');
  return JSON.stringify(value);
}

const CONTROL = /[\t\n\r]/g;
const CONTROL_ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * Tab-separated lines with the header first, for awk and cut. Tabs, newlines and backslashes in a
 * cell are written `\t`, `\n`, `\\` (as `mysql --batch` does), so each row stays one line of the same fields.
 */
export function tabSeparated(table: Table): string {
  const escape = (cell: string) => cell.replace(/\\/g, '\\\\').replace(CONTROL, (found) => CONTROL_ESCAPES[found]);
  return [table.headers, ...table.rows].map((row) => `${row.map(escape).join('\t')}\n`).join('');
}

/** Columns padded to their widest cell, two spaces apart, for a person at a terminal. */
export function aligned(table: Table): string {
  const lines = [table.headers, ...table.rows].map((row) => row.map((cell) => cell.replace(CONTROL, (found) => CONTROL_ESCAPES[found])));
  const widths = table.headers.map((_, column) => Math.max(...lines.map((row) => row[column].length)));
  return lines.map((row) => `${row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()}\n`).join('');
}
