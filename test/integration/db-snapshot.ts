import { openDestination } from '../../src/destinations/destination-factory.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBDestination } from '../../src/destinations/duckdb/duckdb-destination.js';
import { PostgresDestination } from '../../src/destinations/postgres/postgres-destination.js';
import { canonical } from './expected-records.js';

type Queryable = { open(): Promise<void>; close(): Promise<void>; query(sql: string): Promise<Record<string, unknown>[]> };

/** A fresh destination URL of each kind: a DuckDB file in a temp folder, a PostgreSQL schema of its own. */
export function freshDestination(kind: 'duckdb' | 'postgres'): string {
  if (kind === 'duckdb') return `duckdb:${join(mkdtempSync(join(tmpdir(), 'iterable-sync-it-')), 'sync.duckdb')}`;
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL is not set: run the suite with `npm test`, which starts a PostgreSQL server');
  const url = new URL(base);
  url.searchParams.set('schema', `it_${randomBytes(4).toString('hex')}`);
  return url.toString();
}

function open(url: string): Queryable {
  return url.startsWith('duckdb:') ? new DuckDBDestination({ path: url.slice('duckdb:'.length) }) : new PostgresDestination({ url });
}

function schemaOf(url: string): string {
  return url.startsWith('duckdb:') ? 'main' : new URL(url).searchParams.get('schema')!;
}

/**
 * Every table's rows as sorted canonical JSON, leaving out `_synced_at` and the given per-table
 * columns (values that legitimately differ between two runs, like list_users.updatedAt).
 */
export async function snapshot(url: string, omit: Record<string, string[]> = {}): Promise<Map<string, string[]>> {
  const db = open(url);
  await db.open();
  try {
    const schema = schemaOf(url);
    const tables = await db.query(
      `select table_name from information_schema.tables where table_schema = '${schema}' and table_type = 'BASE TABLE' order by table_name`,
    );
    const out = new Map<string, string[]>();
    for (const { table_name } of tables) {
      const name = String(table_name);
      // Bookkeeping differs between runs (bookmarks end at each run's start); compared elsewhere.
      if (name.startsWith('_iterable_sync_')) continue;
      const rows = await db.query(`select * from "${schema}"."${name}"`);
      const skip = new Set(['_synced_at', ...(omit[name] ?? [])]);
      out.set(
        name,
        rows
          .map((row) => {
            const kept: Record<string, unknown> = {};
            for (const [k, v] of Object.entries(row)) {
              if (skip.has(k)) continue;
              kept[k] = typeof v === 'bigint' ? v.toString() : v instanceof Date ? v.toISOString() : v;
            }
            return canonical(kept);
          })
          .sort(),
      );
    }
    return out;
  } finally {
    await db.close();
  }
}

/** Row counts per table. */
export async function rowCounts(url: string): Promise<Record<string, number>> {
  const snap = await snapshot(url);
  return Object.fromEntries([...snap].map(([table, rows]) => [table, rows.length]));
}

/** Rows of a query on the destination, opened as the sync opens it. */
export async function rowsOf(destination: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = (await openDestination(destination)) as Awaited<ReturnType<typeof openDestination>> & { query(sql: string): Promise<Record<string, unknown>[]> };
  await db.open();
  try {
    return await db.query(sql);
  } finally {
    await db.close();
  }
}

/** A table's name as SQL, qualified with the URL's schema for PostgreSQL. */
export function qualified(destination: string, name: string): string {
  return destination.startsWith('duckdb:') ? `"${name}"` : `"${new URL(destination).searchParams.get('schema')}"."${name}"`;
}

/** The bookmarks a destination holds, by stream (opened and closed for the read). */
export async function storedBookmarks(destination: string): Promise<Record<string, Record<string, string>>> {
  const db = await openDestination(destination);
  await db.open();
  try {
    return (await db.readState()).bookmarks;
  } finally {
    await db.close();
  }
}
