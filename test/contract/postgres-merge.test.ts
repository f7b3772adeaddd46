import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { postgresDialect } from '../../src/destinations/postgres/postgres-destination.js';
import { PostgresSession } from '../../src/destinations/postgres/postgres-session.js';
import { quoteIdentifier } from '../../src/destinations/sql/identifiers.js';
import type { MergePlan } from '../../src/destinations/sql/merge-sql.js';
import type { SqlParam, SqlSession, StagedSource } from '../../src/destinations/sql/sql-dialect.js';
import type { LoadColumn } from '../../src/destinations/sql/table-columns.js';
import { mergePart } from '../../src/destinations/sql/table-load.js';

const id: LoadColumn = { field: 'id', column: 'id', type: 'bigint', id: 0 };
const name: LoadColumn = { field: 'name', column: 'name', type: 'text', id: 1 };

/** A real PostgreSQL session that keeps the text of every statement it runs. */
class RecordingSession implements SqlSession {
  readonly statements: string[] = [];
  constructor(private readonly inner: SqlSession) {}
  execute(sql: string, params?: readonly SqlParam[]): Promise<number> {
    this.statements.push(sql);
    return this.inner.execute(sql, params);
  }
  query(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    this.statements.push(sql);
    return this.inner.query(sql, params);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('PostgreSQL merge of a part (mergePart)', () => {
  let pool: pg.Pool;
  const schema = `merge_${randomBytes(6).toString('hex')}`;
  const dialect = postgresDialect(schema);
  const target = dialect.table('t');
  const plan: MergePlan = { strategy: 'upsert', target, columns: [id, name], keyColumns: [id], hasPrimaryKey: true, syncedAt: '2024-05-01T00:00:00.000000Z' };
  const source: StagedSource = {
    relation: 'pg_temp.stage AS s',
    value: (c) => `s.${quoteIdentifier(c.column)}`,
    rescued: 's._rescued',
    order: 's._seq',
    keys: 'SELECT s.id AS k0 FROM pg_temp.stage AS s',
    keysUnique: false,
  };

  before(async () => {
    assert.ok(process.env.DATABASE_URL, 'DATABASE_URL is not set; run `npm test`, which starts a throwaway PostgreSQL server');
    pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    await pool.query(`CREATE SCHEMA ${quoteIdentifier(schema)}`);
  });
  after(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
    await pool.end();
  });

  /** Stages `rows` (id, name; in write order) and merges them into a table holding id 1 = 'old'. */
  async function mergeRows(rows: [number, string][]): Promise<{ statements: string[]; rowsWritten: number; table: unknown[] }> {
    const session = new RecordingSession(new PostgresSession(await pool.connect(), true));
    try {
      await session.execute(`DROP TABLE IF EXISTS ${target}`);
      await session.execute(`CREATE TABLE ${target} (id bigint PRIMARY KEY, name text, _rescued jsonb, _synced_at timestamptz)`);
      await session.execute(`INSERT INTO ${target} (id, name) VALUES (1, 'old')`);
      await session.execute('CREATE TEMP TABLE stage (_seq bigint, _rescued jsonb, id bigint, name text)');
      const values = rows.map(([key, value], seq) => `(${seq}, ${key}, '${value}')`).join(', ');
      await session.execute(`INSERT INTO pg_temp.stage (_seq, id, name) VALUES ${values}`);
      session.statements.length = 0;
      await session.execute('BEGIN');
      const { rowsWritten } = await mergePart(session, dialect, plan, source);
      await session.execute('COMMIT');
      const table = await session.query(`SELECT id, name FROM ${target} ORDER BY id`);
      return { statements: session.statements.slice(1, -2), rowsWritten, table: table.map((r) => [Number(r.id), r.name]) };
    } finally {
      await session.close();
    }
  }

  it('merges a part of new keys with one plain INSERT in key order: no ON CONFLICT, no DISTINCT ON', async () => {
    const { statements, rowsWritten, table } = await mergeRows([[3, 'c'], [2, 'b'], [4, 'd']]);
    assert.deepEqual(table, [[1, 'old'], [2, 'b'], [3, 'c'], [4, 'd']]);
    assert.equal(rowsWritten, 3);
    assert.equal(statements.length, 2, statements.join('\n'));
    assert.equal(statements[0], 'SAVEPOINT iterable_sync_merge');
    assert.match(statements[1]!, /^INSERT INTO .* FROM pg_temp\.stage AS s ORDER BY s\."id"$/);
    assert.doesNotMatch(statements[1]!, /DISTINCT ON|ON CONFLICT/);
  });

  it('upserts with ON CONFLICT after ROLLBACK TO SAVEPOINT when a staged key is already in the table', async () => {
    const { statements, rowsWritten, table } = await mergeRows([[2, 'b'], [1, 'a'], [3, 'c']]);
    assert.deepEqual(table, [[1, 'a'], [2, 'b'], [3, 'c']]);
    assert.equal(rowsWritten, 3);
    assert.equal(statements.length, 4, statements.join('\n'));
    assert.equal(statements[2], 'ROLLBACK TO SAVEPOINT iterable_sync_merge');
    assert.match(statements[3]!, /^INSERT INTO .* ON CONFLICT \("id"\) DO UPDATE SET/);
  });

  it('falls back to DISTINCT ON, last row of a key winning, when PostgreSQL refuses a key repeated in the part', async () => {
    const { statements, rowsWritten, table } = await mergeRows([[2, 'b1'], [1, 'a'], [2, 'b2'], [3, 'c'], [2, 'b3']]);
    assert.deepEqual(table, [[1, 'a'], [2, 'b3'], [3, 'c']]);
    assert.equal(rowsWritten, 3);
    assert.equal(statements[2], 'ROLLBACK TO SAVEPOINT iterable_sync_merge');
    assert.match(statements[3]!, /SELECT DISTINCT ON \(s\."id"\) .* ORDER BY s\."id", s\._seq DESC ON CONFLICT/);
    assert.equal(statements.length, 4);
  });
});
