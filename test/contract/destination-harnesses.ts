import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Destination } from '../../src/destinations/destination.js';
import { DuckDBDestination } from '../../src/destinations/duckdb/duckdb-destination.js';
import { PostgresDestination } from '../../src/destinations/postgres/postgres-destination.js';
import type { ColumnType } from '../../src/destinations/sql/column-types.js';
import { quoteIdentifier } from '../../src/destinations/sql/identifiers.js';
import type { SqlParam } from '../../src/destinations/sql/sql-dialect.js';

export type Row = Record<string, unknown>;

/** One fresh, empty destination for one test, and the means to look inside it. */
export interface Fixture {
  destination: Destination;
  /** A query on a connection of its own (never a load's): BIGINT bigint, TIMESTAMPTZ Date, JSON parsed. */
  query(sql: string, params?: readonly SqlParam[]): Promise<Row[]>;
  /** Quoted, qualified name of a table. */
  table(name: string): string;
  /** The schema as information_schema reports it. */
  schema: string;
  /** Opens a second destination on the same database (another process would do the same). */
  reopen(): Destination;
  /** Terminates the destination's other connections (those of open loads too), as a crashed server or network would (PostgreSQL only). */
  breakLoadConnections?: () => Promise<number>;
  close(): Promise<void>;
}

/** Rows from which upsert loads commit what they staged (see `SqlTableLoadOptions`); the default when omitted. */
export interface PartOptions {
  partRows?: number;
}

export interface Harness {
  name: string;
  create(parts?: PartOptions): Promise<Fixture>;
  /** information_schema.columns.data_type for each column type. */
  typeNames: Record<ColumnType, string>;
  /** The database compares identifiers ignoring ASCII case (DuckDB). */
  foldsCase: boolean;
  /** A server the loads connect to (their connections can be lost); false for an embedded database. */
  hasServer: boolean;
}

const duckdb: Harness = {
  name: 'duckdb',
  foldsCase: true,
  hasServer: false,
  typeNames: {
    bigint: 'BIGINT',
    double: 'DOUBLE',
    boolean: 'BOOLEAN',
    timestamptz: 'TIMESTAMP WITH TIME ZONE',
    text: 'VARCHAR',
    json: 'JSON',
  },
  async create(parts = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'iterable-sync-contract-'));
    const path = join(dir, 'contract.duckdb');
    const destination = new DuckDBDestination({ path, ...parts });
    await destination.open();
    const opened: Destination[] = [destination];
    return {
      destination,
      query: (sql, params) => destination.query(sql, params),
      table: (name) => quoteIdentifier(name),
      schema: 'main',
      reopen() {
        const other = new DuckDBDestination({ path, ...parts });
        opened.push(other);
        return other;
      },
      async close() {
        for (const d of opened) await d.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgres: Harness = {
  name: 'postgres',
  foldsCase: false,
  hasServer: true,
  typeNames: {
    bigint: 'bigint',
    double: 'double precision',
    boolean: 'boolean',
    timestamptz: 'timestamp with time zone',
    text: 'text',
    json: 'jsonb',
  },
  async create(parts = {}) {
    const base = process.env.DATABASE_URL;
    assert.ok(
      base,
      'DATABASE_URL is not set, so the PostgreSQL destination cannot be tested. Run `npm test`, which starts a ' +
        'throwaway PostgreSQL 15 server, or `source scripts/start-postgres.sh` first.',
    );
    const schema = `contract_${randomBytes(6).toString('hex')}`;
    const url = new URL(base);
    url.searchParams.set('schema', schema);
    url.searchParams.set('application_name', schema);
    const destination = new PostgresDestination({ url: url.toString(), ...parts });
    await destination.open();
    const opened: Destination[] = [destination];
    return {
      destination,
      query: (sql, params) => destination.query(sql, params),
      table: (name) => `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`,
      schema,
      reopen() {
        const other = new PostgresDestination({ url: url.toString(), ...parts });
        opened.push(other);
        return other;
      },
      async breakLoadConnections() {
        const rows = await destination.query(
          `SELECT pg_terminate_backend(pid, 5000) AS ok FROM pg_stat_activity ` +
            `WHERE application_name = $1 AND pid <> pg_backend_pid() AND state LIKE 'idle%'`,
          [schema],
        );
        return rows.length;
      },
      async close() {
        await destination.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`).catch(() => undefined);
        for (const d of opened) await d.close();
      },
    };
  },
};

/** Every destination the suite runs against (style rule 9). */
export const HARNESSES: readonly Harness[] = [duckdb, postgres];
