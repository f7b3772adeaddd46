import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { duckdbDialect } from '../../../src/destinations/duckdb/duckdb-destination.js';
import { postgresDialect } from '../../../src/destinations/postgres/postgres-destination.js';
import { mergeSql, rescuedCountSql, type MergePlan } from '../../../src/destinations/sql/merge-sql.js';
import type { StagedSource } from '../../../src/destinations/sql/sql-dialect.js';
import type { LoadColumn } from '../../../src/destinations/sql/table-columns.js';

const id: LoadColumn = { field: '_event_id', column: '_event_id', type: 'text', id: 0 };
const createdAt: LoadColumn = { field: 'createdAt', column: 'createdAt', type: 'timestamptz', id: 1 };
const source: StagedSource = {
  relation: 'stage AS s',
  value: (c) => `s.c${c.id}`,
  rescued: 's.r',
  order: 's.n',
  keys: 'SELECT k0 FROM keys',
  keysUnique: false,
};
const plan = (strategy: MergePlan['strategy'], more: Partial<MergePlan> = {}): MergePlan => ({
  strategy,
  target: '"t"',
  columns: [id, createdAt],
  keyColumns: strategy === 'append' ? [] : [id],
  hasPrimaryKey: false,
  syncedAt: '2024-05-01T00:00:00.000000Z',
  ...more,
});
const SELECT = `s.c0 AS "_event_id", s.c1 AS "createdAt", s.r AS "_rescued", CAST('2024-05-01T00:00:00.000000Z' AS TIMESTAMPTZ) AS "_synced_at"`;
const SELECT_PG = SELECT.replace('TIMESTAMPTZ', 'timestamptz');
const INSERT = 'INSERT INTO "t" ("_event_id", "createdAt", "_rescued", "_synced_at")';
const LATEST = 'WHERE NOT EXISTS (SELECT 1 FROM (SELECT s.c0 AS k0, max(s.n) AS o FROM stage AS s GROUP BY s.c0 HAVING count(*) > 1) AS r WHERE r.k0 = s.c0 AND r.o > s.n)';

describe('mergeSql (the SQL of the merge strategies, per dialect)', () => {
  it('DuckDB upsert without primary key: deletes the staged keys (within the window, or NULL there), then inserts the last row of each key', () => {
    const window = { column: createdAt, start: '2024-05-01T00:00:00.000Z', end: '2024-05-02T00:00:00.000Z' };
    assert.deepEqual(mergeSql(duckdbDialect, plan('upsert', { window }), source), [
      `DELETE FROM "t" USING (SELECT k0 FROM keys) AS k WHERE "t"."_event_id" = k.k0 AND ` +
        `("t"."createdAt" IS NULL OR ("t"."createdAt" >= CAST('2024-05-01T00:00:00.000Z' AS TIMESTAMPTZ) AND "t"."createdAt" < CAST('2024-05-02T00:00:00.000Z' AS TIMESTAMPTZ)))`,
      `${INSERT} SELECT ${SELECT} FROM stage AS s ${LATEST}`,
    ]);
  });

  it('PostgreSQL upsert on the primary key: one INSERT … ON CONFLICT of the last row of each key', () => {
    assert.deepEqual(mergeSql(postgresDialect('iterable'), plan('upsert', { hasPrimaryKey: true }), source), [
      `${INSERT} SELECT DISTINCT ON (s.c0) ${SELECT_PG} FROM stage AS s ORDER BY s.c0, s.n DESC ` +
        `ON CONFLICT ("_event_id") DO UPDATE SET "createdAt" = excluded."createdAt", "_rescued" = excluded."_rescued", "_synced_at" = excluded."_synced_at"`,
    ]);
  });

  it('PostgreSQL insert (first try of an upsert on a primary key): every staged row in key order, nothing else', () => {
    assert.deepEqual(mergeSql(postgresDialect('iterable'), plan('insert', { hasPrimaryKey: true }), source), [
      `${INSERT} SELECT ${SELECT_PG} FROM stage AS s ORDER BY s.c0`,
    ]);
  });

  it('replace empties the table first; append inserts every staged row', () => {
    assert.deepEqual(mergeSql(duckdbDialect, plan('replace'), source), [
      'DELETE FROM "t"',
      `${INSERT} SELECT ${SELECT} FROM stage AS s ${LATEST}`,
    ]);
    assert.deepEqual(mergeSql(postgresDialect('iterable'), plan('append'), source), [`${INSERT} SELECT ${SELECT_PG} FROM stage AS s`]);
  });

  it('inserts every staged row when no key was staged twice', () => {
    assert.deepEqual(mergeSql(duckdbDialect, plan('upsert'), { ...source, keysUnique: true }), [
      'DELETE FROM "t" USING (SELECT k0 FROM keys) AS k WHERE "t"."_event_id" = k.k0',
      `${INSERT} SELECT ${SELECT} FROM stage AS s`,
    ]);
  });

  it('counts the rescued rows of what the merge writes', () => {
    assert.equal(
      rescuedCountSql(duckdbDialect, plan('upsert'), source),
      `SELECT count(*) AS n FROM (SELECT ${SELECT} FROM stage AS s ${LATEST}) AS w WHERE w."_rescued" IS NOT NULL`,
    );
  });
});
