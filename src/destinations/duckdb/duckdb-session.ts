import { DuckDBTimestampTZValue, type DuckDBConnection, type DuckDBResultReader, type DuckDBValue } from './duckdb-library.js';
import type { SqlParam, SqlSession } from '../sql/sql-dialect.js';

/** A DuckDB connection as an SqlSession. */
export class DuckDBSession implements SqlSession {
  constructor(readonly connection: DuckDBConnection) {}

  async execute(sql: string, params?: readonly SqlParam[]): Promise<number> {
    const result = await this.connection.run(sql, params ? (params as DuckDBValue[]) : undefined);
    return Number(result.rowsChanged);
  }

  async query(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    return plainRows(await this.connection.runAndReadAll(sql, params ? (params as DuckDBValue[]) : undefined));
  }

  async close(): Promise<void> {
    this.connection.closeSync();
  }
}

/** Rows with plain JS values: BIGINT bigint, TIMESTAMPTZ Date, JSON parsed, other DuckDB values as text. */
function plainRows(reader: DuckDBResultReader): Record<string, unknown>[] {
  const isJson = reader.columnTypes().map((type) => type.alias === 'JSON');
  const names = reader.columnNames();
  return reader.getRows().map((values) => {
    const row: Record<string, unknown> = {};
    values.forEach((value, i) => {
      row[names[i]!] = plainValue(value, isJson[i] ?? false);
    });
    return row;
  });
}

function plainValue(value: DuckDBValue, isJson: boolean): unknown {
  if (value === null || typeof value !== 'object') {
    return isJson && typeof value === 'string' ? JSON.parse(value) : value;
  }
  if (value instanceof DuckDBTimestampTZValue) {
    if (!value.isFinite) return null;
    const { micros } = value;
    return new Date(Number(micros / 1000n - (micros % 1000n < 0n ? 1n : 0n)));
  }
  return value.toString();
}
