import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TableSpec } from '../../src/destinations/destination.js';
import { PostgresDestination } from '../../src/destinations/postgres/postgres-destination.js';
import { quoteIdentifier } from '../../src/destinations/sql/identifiers.js';

const SPEC: TableSpec = {
  name: 'events',
  keyProperties: ['_event_id'],
  schema: { type: 'object', properties: { _event_id: { type: 'string' }, email: { type: ['null', 'string'] } } },
};

describe('PostgreSQL tables (key collation)', () => {
  const schema = `pgtable_${randomBytes(6).toString('hex')}`;
  let destination: PostgresDestination;

  before(async () => {
    assert.ok(process.env.DATABASE_URL, 'DATABASE_URL is not set; run `npm test`, which starts a throwaway PostgreSQL server');
    const url = new URL(process.env.DATABASE_URL);
    url.searchParams.set('schema', schema);
    destination = new PostgresDestination({ url: url.toString() });
    await destination.open();
  });
  after(async () => {
    await destination.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`).catch(() => undefined);
    await destination.close();
  });

  const collations = async (table: string) =>
    Object.fromEntries(
      (
        await destination.query(
          `SELECT column_name, collation_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
          [schema, table],
        )
      ).map((row) => [String(row.column_name), row.collation_name]),
    );

  async function load(name: string, ids: string[]): Promise<unknown[]> {
    const table = await destination.beginLoad({ ...SPEC, name }, 'upsert');
    try {
      await table.write(ids.map((id, i) => ({ _event_id: id, email: `${id}-${i}@x.com` })));
      await table.commit(null);
    } finally {
      await table.close();
    }
    const rows = await destination.query(`SELECT _event_id, email FROM ${quoteIdentifier(schema)}.${quoteIdentifier(name)} ORDER BY _event_id`);
    return rows.map((row) => `${String(row._event_id)} ${String(row.email)}`);
  }

  it('creates a text key column COLLATE "C" (byte order), other text columns with the database default', async () => {
    assert.deepEqual(await load('events', ['b', 'B', 'a']), ['B B-1@x.com', 'a a-2@x.com', 'b b-0@x.com']);
    assert.deepEqual(await collations('events'), { _event_id: 'C', email: null, _synced_at: null, _rescued: null });
    assert.deepEqual(await load('events', ['a', 'c']), ['B B-1@x.com', 'a a-0@x.com', 'b b-0@x.com', 'c c-1@x.com']);
  });

  it('keeps the collation of a key column created before, and upserts into it', async () => {
    const table = `${quoteIdentifier(schema)}.${quoteIdentifier('legacy')}`;
    await destination.query(`CREATE TABLE ${table} (_event_id text NOT NULL PRIMARY KEY, email text, _synced_at timestamptz, _rescued jsonb)`);
    await destination.query(`INSERT INTO ${table} (_event_id, email) VALUES ('a', 'old')`);
    assert.deepEqual(await load('legacy', ['a', 'b']), ['a a-0@x.com', 'b b-1@x.com']);
    assert.deepEqual(await collations('legacy'), { _event_id: null, email: null, _synced_at: null, _rescued: null });
  });
});
