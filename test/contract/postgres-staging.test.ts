import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { FlatDocument, type FlatShape } from '../../src/core/rows.js';
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

  it('stages flat documents from their text, and the long way those whose JSON value holds \\u0000 (jsonb refuses it)', async () => {
    const dialect = postgresDialect('unused');
    const columns = new TableColumns(dialect.columnNames);
    const key = columns.add('id', 'text');
    columns.add('d', 'json');
    columns.add('n', 'bigint');
    const encoder = new RecordEncoder(columns, [key], dialect.textRules);
    // Rows staged the long way (from their record): only the one whose JSON value holds \u0000.
    const longWay: unknown[] = [];
    const encodeInto = encoder.encodeInto.bind(encoder);
    encoder.encodeInto = (record, sink) => (longWay.push(record.id), encodeInto(record, sink));
    const session = new PostgresSession(await pool.connect(), true);
    const staging = new PostgresStaging([session], dialect, [key]);
    try {
      const shape: FlatShape = { fields: ['id', 'd', 'n'], kinds: ['string', 'object', 'integer'] };
      const texts = [
        '{"id":"a","d":{"k":"x\\u0000y"},"n":1}',
        '{"id":"b","d":{"t":"x\\ty\\\\z\\"],\\\\"},"n":2}',
        '{ "id" : "c" , "d" : [1,{"e":[]}] , "n" : 3 }',
      ];
      for (const text of texts) assert.equal(staging.stage(new FlatDocument(text, shape), encoder), undefined);
      // The JSON value last: its end is the document's.
      const last: FlatShape = { fields: ['id', 'n', 'd'], kinds: ['string', 'integer', 'object'] };
      for (const text of ['{"id":"d","n":4,"d":{"q":"\\"}\\\\","r":[{}]}}', '{ "id" : "e" , "n" : 5 , "d" : { "s" : [ ] } } \n']) {
        assert.equal(staging.stage(new FlatDocument(text, last), encoder), undefined);
      }
      assert.deepEqual(longWay, ['a']);
      await staging.take(true)?.();
      staging.seal();
      const rows = await session.query('SELECT c0 AS id, c1 AS d, c2 AS n FROM pg_temp._iterable_sync_stage ORDER BY _seq');
      assert.deepEqual(rows, [
        { id: 'a', d: { k: 'x\uFFFDy' }, n: 1n },
        { id: 'b', d: { t: 'x\ty\\z"],\\' }, n: 2n },
        { id: 'c', d: [1, { e: [] }], n: 3n },
        { id: 'd', d: { q: '"}\\', r: [{}] }, n: 4n },
        { id: 'e', d: { s: [] }, n: 5n },
      ]);
    } finally {
      await session.close();
    }
  });
});
