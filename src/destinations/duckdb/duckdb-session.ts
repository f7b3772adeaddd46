import { DuckDBTimestampTZValue, type DuckDBConnection, type DuckDBResultReader, type DuckDBValue } from '@duckdb/node-api';
import type { SqlParam, SqlSession } from '../sql/sql-dialect.js';
import type { InstanceMemory } from './instance-memory.js';
import type { StatementGate } from './statement-gate.js';

/**
 * A DuckDB connection as an SqlSession. Its statements pass the instance's `StatementGate`
 * (shared), so that the scans of `executeBounded` / `queryBounded` can run alone.
 */
export class DuckDBSession implements SqlSession {
  constructor(
    readonly connection: DuckDBConnection,
    private readonly gate: StatementGate,
    /** How the file's instance runs merges and table scans; undefined for an in-memory database. */
    private readonly memory?: InstanceMemory,
  ) {}

  execute(sql: string, params?: readonly SqlParam[]): Promise<number> {
    return this.gate.shared(async () => {
      const result = await this.connection.run(sql, params ? (params as DuckDBValue[]) : undefined);
      return Number(result.rowsChanged);
    });
  }

  query(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    return this.gate.shared(async () => {
      const reader = await this.connection.runAndReadAll(sql, params ? (params as DuckDBValue[]) : undefined);
      return plainRows(reader);
    });
  }

  /** COMMIT, which writes the transaction's last rows and may checkpoint: like a merge (see `InstanceMemory.merging`). */
  async commit(): Promise<void> {
    await this.merging(0, () => this.execute('COMMIT'));
  }

  /** Runs a merge into a table of `columns` columns, with a primary key or not (see `InstanceMemory.merging`). */
  merging<T>(columns: number, run: () => Promise<T>, primaryKey = false): Promise<T> {
    return this.memory === undefined ? run() : this.memory.merging(columns, run, primaryKey);
  }

  /** `execute` for a statement that scans much of a table: it runs alone (see `InstanceMemory.bounded`). */
  executeBounded(sql: string): Promise<number> {
    const memory = this.memory;
    if (memory === undefined) return this.execute(sql);
    return memory.bounded(async () => Number((await this.connection.run(sql)).rowsChanged));
  }

  /** `query` for a query that scans much of a table (see `executeBounded`). */
  queryBounded(sql: string): Promise<Record<string, unknown>[]> {
    const memory = this.memory;
    if (memory === undefined) return this.query(sql);
    return memory.bounded(async () => plainRows(await this.connection.runAndReadAll(sql)));
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
