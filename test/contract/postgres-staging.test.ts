import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { postgresDialect } from '../../src/destinations/postgres/postgres-destination.js';
import { PostgresSession } from '../../src/destinations/postgres/postgres-session.js';
import { PostgresStaging } from '../../src/destinations/postgres/postgres-staging.js';
import { RecordEncoder } from '../../src/destinations/sql/record-encoder.js';
import { TableColumns } from '../../src/destinations/sql/table-columns.js';

describe('PostgreSQL staging (PostgresStaging)', () => {
  let pool: pg.Pool;

  before(() => {
    assert.ok(process.env.DATABASE_URL, 'DATABASE_URL is not set; run `npm test`, which starts a throwaway PostgreSQL server');
    pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  });
  after(async () => {
    await pool.end();
  });

  it('stages every row exactly over many COPYs whose chunk buffers are reused, with multibyte text and lines larger than a chunk buffer', async () => {
    const dialect = postgresDialect('unused');
    const encoder = new RecordEncoder(new TableColumns(dialect.columnNames), [], dialect.textRules);
    const sessions = [new PostgresSession(await pool.connect(), true), new PostgresSession(await pool.connect(), true)];
    const staging = new PostgresStaging(sessions, dialect, []);
    try {
      // Each row's text differs (a chunk buffer reused without being fully rewritten would show it).
      const expected: string[] = [];
      let lane: Promise<void> = Promise.resolve();
      let queued = 0;
      for (let i = 0; i < 30_000; i++) {
        const name = i % 1000 === 7 ? `é€😀${'x'.repeat(200_000)}${i}` : `row ${i} ${'é€'.repeat(i % 50)}\t${'y'.repeat(i % 300)}`;
        expected.push(name);
        assert.equal(staging.stage({ id: i, name }, encoder), undefined);
        // As the load does: COPYs (of at least 1 MiB) run in order while the next rows are staged.
        const copy = staging.take();
        if (copy) {
          queued++;
          lane = lane.then(copy).finally(() => queued--);
        }
        if (queued > 4) await lane;
        if (i % 50 === 0) await new Promise(setImmediate);
      }
      const last = staging.take(true);
      if (last) lane = lane.then(last);
      await lane;
      const part = staging.seal();
      assert.equal(part.rows, expected.length);
      const rows = await sessions[0]!.query('SELECT _seq, c1 FROM pg_temp._iterable_sync_stage ORDER BY _seq');
      assert.equal(rows.length, expected.length);
      rows.forEach((row, i) => {
        assert.equal(row._seq, BigInt(i));
        if (row.c1 !== expected[i]) assert.fail(`row ${i}: ${String(row.c1).slice(0, 80)} ≠ ${expected[i]!.slice(0, 80)}`);
      });
    } finally {
      for (const session of sessions) await session.close();
    }
  });
});
