import type { Config } from '../config/config.js';
import { ConfigError } from '../errors.js';
import { openReadOnly } from '../destinations/destination-factory.js';
import type { QueryTable } from '../destinations/read-only.js';
import { EXIT } from './exit-codes.js';

export const QUERY_FORMATS = ['table', 'csv', 'json'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

/** `--format` checked against the formats a command prints. */
export function outputFormat<T extends string>(value: string | undefined, formats: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((formats as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`--format ${value || "''"} is not one of ${formats.join(', ')}`);
}

/** `query "SQL"`: runs one statement on the destination, opened read-only, and prints the result. */
export async function commandQuery(config: Config, sql: string, format: QueryFormat, out: (text: string) => void): Promise<number> {
  if (sql.trim() === '') throw new ConfigError('query needs an SQL statement, e.g. iterable-sync query "select count(*) from email_send"');
  const db = await openReadOnly(config.destination);
  try {
    out(formatQueryResult(await db.run(sql), format));
    return EXIT.ok;
  } finally {
    await db.close();
  }
}

export function formatQueryResult(result: QueryTable, format: QueryFormat): string {
  if (format === 'json') return `${JSON.stringify(result.rows.map((row) => jsonRow(result.columns, row)), null, 2)}\n`;
  if (format === 'csv') {
    const lines = [result.columns, ...result.rows.map((row) => row.map((v) => (v === null || v === undefined ? '' : cellText(v))))];
    return lines.map((cells) => cells.map(csvField).join(',')).join('\r\n') + '\r\n';
  }
  return textTable(
    result.columns,
    result.rows.map((row) => row.map((v) => shorten(v === null || v === undefined ? 'NULL' : cellText(v)))),
    result.rows.map((row) => row.map((v) => typeof v === 'number' || typeof v === 'bigint')),
  ) + `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})\n`;
}

/** A value as text: instants in ISO 8601, JSON as JSON. */
export function cellText(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && value !== null) return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return String(value);
}

function jsonRow(columns: readonly string[], row: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  columns.forEach((column, i) => {
    const value = row[i];
    out[column] = value instanceof Date ? value.toISOString() : typeof value === 'bigint' ? value.toString() : (value ?? null);
  });
  return out;
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One line per cell, at most 60 characters (control characters shown as spaces). */
function shorten(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return flat.length > 60 ? `${flat.slice(0, 59)}…` : flat;
}

/** Columns aligned, numbers to the right, a rule under the header. */
export function textTable(header: readonly string[], rows: readonly string[][], rightAligned?: readonly boolean[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[], right?: readonly boolean[]) =>
    cells
      .map((c, i) => (right?.[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r, n) => line(r, rightAligned?.[n]))].join('\n') + '\n';
}
