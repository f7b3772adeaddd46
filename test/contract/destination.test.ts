import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FlatDocument, type RowWindow } from '../../src/core/rows.js';
import type { JsonRecord } from '../../src/core/types.js';
import type { TableSpec } from '../../src/destinations/destination.js';
import { DestinationError, SchemaError } from '../../src/errors.js';
import { ExportLineParser, parseExportLines } from '../../src/streams/export-lines.js';
import type { ExportLineRules } from '../../src/streams/records.js';
import { HARNESSES, type Fixture, type Row } from './destination-harnesses.js';

const str = { type: ['null', 'string'] };
const int = { type: ['null', 'integer'] };
const time = { type: ['null', 'string'], format: 'date-time' };

const EVENTS: TableSpec = {
  name: 'email_send',
  keyProperties: ['_event_id'],
  replicationKey: 'createdAt',
  schema: {
    type: ['null', 'object'],
    properties: {
      _event_id: { type: 'string' },
      email: str,
      createdAt: time,
      campaignId: int,
      score: { type: ['null', 'number'] },
      isTest: { type: ['null', 'boolean'] },
      dataFields: { type: ['null', 'object'] },
      labels: { type: ['null', 'array'], items: str },
      transactionalData: {},
    },
  },
};

/** Events keyed by a hash of their content, as the export streams are: a key always comes with the same createdAt. */
const HASHED_EVENTS: TableSpec = EVENTS;
/** The window the hashed events' rows are written with: their earlier rows lie there too (see `RowWindow`). */
const HASHED_WINDOW: RowWindow = { field: 'createdAt', start: '2024-05-01T00:00:00.000Z', end: '2024-05-02T00:00:00.000Z' };

const LIST_USERS: TableSpec = {
  name: 'list_users',
  keyProperties: ['listId', 'email'],
  schema: { type: 'object', properties: { listId: { type: 'integer' }, email: { type: 'string' }, note: str } },
};

/** Export lines of every kind the fast path of a destination must either stage exactly or leave alone. */
const TRICKY_LINES = [
  '{"email":"plain@x.com","createdAt":"2024-05-01 12:00:00 +00:00","campaignId":7,"score":1.5,"isTest":false}',
  '{"email":"time@x.com","createdAt":"2024-05-01 12:00:00.250 +05:30","campaignId":8}',
  '{"email":"iso@x.com","createdAt":"2024-05-01T12:00:00Z","campaignId":9,"isTest":true}',
  '{ "email" : "spaces@x.com" ,\t"campaignId" : 10 , "createdAt" : "2024-05-01 12:00:01 +00:00" }',
  '{"email":"fraction@x.com","campaignId":1.0,"score":1.50}',
  '{"email":"big@x.com","campaignId":12345678901234567,"score":123456789012345678}',
  '{"email":"exp@x.com","campaignId":1e3,"score":-2.5E-3}',
  '{"email":"neg@x.com","campaignId":-0,"score":-0}',
  '{"email":42,"campaignId":11}',
  '{"email":4.50,"campaignId":12}',
  '{"email":"esc\\"aped@x.com","campaignId":13}',
  '{"email":"caf\\u00e9@x.com","campaignId":14}',
  '{"email":"lone\\ud800@x.com","campaignId":15}',
  '{"email":"2024-05-01 12:00:00 +00:00","campaignId":5}',
  '{"email":"rescue@x.com","isTest":"yes","campaignId":"16","createdAt":"2024-02-30 12:00:00 +00:00"}',
  '{"email":"nested@x.com","dataFields":{"a":{"at":"2024-05-01 12:00:00 +00:00"}},"labels":["x",1]}',
  '{"email":"dup@x.com","email":"dup2@x.com","campaignId":17}',
  '{"email":"new@x.com","newField":"v","newNumber":3,"newFlag":true}',
  '{"email":"null@x.com","score":null,"campaignId":null,"ghost":null}',
  '{"email":"td@x.com","transactionalData":"{\\"orderId\\":\\"o-1\\"}"}',
  '{"email":"itbl@x.com","itblInternal":{"documentUpdatedAt":"2024-05-01 12:00:00 +00:00"},"campaignId":18}',
  '{"email":"own-id@x.com","_event_id":"chosen"}',
  '{}',
  '{"email":"plain@x.com","createdAt":"2024-05-01 12:00:00 +00:00","campaignId":7,"score":1.5,"isTest":false}',
  '{"email":"truncated@x.com"',
  '{"email":"trailing@x.com"}x',
  '[1,2]',
  '{"email":"ctl\u0001@x.com"}',
  '{"email":"arr@x.com","labels":["a","b c",3,true,null],"campaignId":20}',
  '{"email":"arr-num@x.com","labels":[1.50,2],"campaignId":21}',
  '{"email":"arr-space@x.com","labels":[ "a" ],"campaignId":22}',
];
/** Lines of TRICKY_LINES that are not JSON objects, and lines that repeat an earlier one. */
const TRICKY_INVALID = 4;
const TRICKY_REPEATS = 1;

function event(id: string, fields: JsonRecord = {}): JsonRecord {
  return { _event_id: id, email: `${id}@example.com`, createdAt: '2024-05-01T12:00:00.000Z', campaignId: 7, ...fields };
}

/** Event `h<n>` of HASHED_EVENTS: its createdAt is n seconds after 2024-05-01 (the key determines it). */
function hashed(n: number, fields: JsonRecord = {}): JsonRecord {
  return event(`h${n}`, { createdAt: new Date(Date.UTC(2024, 4, 1) + n * 1000).toISOString(), ...fields });
}

for (const harness of HARNESSES) {
  describe(`${harness.name} destination (contract)`, () => {
    let fx: Fixture;
    beforeEach(async () => {
      fx = await harness.create();
    });
    afterEach(async () => {
      await fx.close();
    });

    const all = (table: string, orderBy: string): Promise<Row[]> =>
      fx.query(`SELECT * FROM ${fx.table(table)} ORDER BY ${orderBy}`);
    const columnTypes = async (table: string): Promise<Record<string, string>> => {
      const rows = await fx.query(
        `SELECT column_name, data_type FROM information_schema.columns ` +
          `WHERE table_catalog = current_database() AND table_schema = $1 AND table_name = $2`,
        [fx.schema, table],
      );
      return Object.fromEntries(rows.map((r) => [String(r.column_name), String(r.data_type)]));
    };
    const mapping = async (table: string): Promise<Record<string, string>> => {
      const rows = await fx.query(
        `SELECT field, column_name FROM ${fx.table('_iterable_sync_columns')} WHERE table_name = $1`,
        [table],
      );
      return Object.fromEntries(rows.map((r) => [String(r.field), String(r.column_name)]));
    };
    const bookmarks = async () => (await fx.destination.readState()).bookmarks;
    const bookmarksOf = async (fixture: Fixture) => (await fixture.destination.readState()).bookmarks;

    it('creates the table from the schema with the documented column types and system columns', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.close();
      const t = harness.typeNames;
      assert.deepEqual(await columnTypes('email_send'), {
        _event_id: t.text,
        email: t.text,
        createdAt: t.timestamptz,
        campaignId: t.bigint,
        score: t.double,
        isTest: t.boolean,
        dataFields: t.json,
        labels: t.json,
        transactionalData: t.json,
        _synced_at: t.timestamptz,
        _rescued: t.json,
      });
      const state = await columnTypes('_iterable_sync_state');
      assert.deepEqual(Object.keys(state).sort(), ['bookmark', 'stream', 'updated_at']);
      const rejected = await columnTypes('_rejected');
      assert.deepEqual(Object.keys(rejected).sort(), ['_synced_at', 'raw', 'reason', 'source', 'stream']);
      assert.deepEqual(await fx.destination.readState(), { currently_syncing: null, bookmarks: {} });
    });

    it('upserts on a single key: the last written row wins within a batch and across commits', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([event('a', { campaignId: 1 }), event('b', { campaignId: 2 })]);
      await load.write([event('a', { campaignId: 3 })]);
      const first = await load.commit({ createdAt: '2024-05-02T00:00:00.000000Z' });
      assert.equal(first.rowsWritten, 2);
      await load.write([{ _event_id: 'a', campaignId: 4 }, event('c', { campaignId: 5 })]);
      const second = await load.commit({ createdAt: '2024-05-03T00:00:00.000000Z' });
      assert.equal(second.rowsWritten, 2);
      await load.close();
      const rows = await all('email_send', '_event_id');
      assert.deepEqual(
        rows.map((r) => [r._event_id, r.campaignId, r.email]),
        [
          ['a', 4n, null], // the last record replaces the row: fields it lacks are NULL
          ['b', 2n, 'b@example.com'],
          ['c', 5n, 'c@example.com'],
        ],
      );
      for (const row of rows) assert.ok(row._synced_at instanceof Date);
    });

    for (const keyProperties of [['listId', 'email'], ['email', 'listId']]) {
      it(`upserts on a composite key without duplicates (key ${keyProperties.join(', ')}; schema listId, email)`, async () => {
        const load = await fx.destination.beginLoad({ ...LIST_USERS, keyProperties }, 'upsert');
        await load.write([
          { listId: 1, email: 'x@e.com', note: 'first' },
          { listId: 1, email: 'y@e.com' },
          { listId: 2, email: 'x@e.com' },
          { listId: 1, email: 'x@e.com', note: 'second' },
        ]);
        await load.commit(null);
        await load.write([{ listId: 2, email: 'x@e.com', note: 'third' }]);
        await load.commit(null);
        await load.close();
        const rows = await all('list_users', 'email, "listId"');
        assert.deepEqual(
          rows.map((r) => [r.listId, r.email, r.note]),
          [
            [1n, 'x@e.com', 'second'],
            [2n, 'x@e.com', 'third'],
            [1n, 'y@e.com', null],
          ],
        );
      });
    }

    it('replaces a table atomically: readers see the old rows until the commit', async () => {
      const seed = await fx.destination.beginLoad(EVENTS, 'upsert');
      await seed.write([event('old1'), event('old2'), event('keep', { campaignId: 1 })]);
      await seed.commit(null);
      await seed.close();

      const load = await fx.destination.beginLoad(EVENTS, 'replace');
      await load.write([event('keep', { campaignId: 2 })]);
      await load.write([event('new1')]);
      const during = await all('email_send', '_event_id');
      assert.deepEqual(
        during.map((r) => r._event_id),
        ['keep', 'old1', 'old2'],
      );
      const result = await load.commit(null);
      assert.equal(result.rowsWritten, 2);
      const after = await all('email_send', '_event_id');
      assert.deepEqual(
        after.map((r) => [r._event_id, r.campaignId]),
        [
          ['keep', 2n],
          ['new1', 7n],
        ],
      );
      // A later commit of the same load adds to what the load replaced.
      await load.write([event('new2')]);
      await load.commit(null);
      await load.close();
      assert.equal((await all('email_send', '_event_id')).length, 3);

      const empty = await fx.destination.beginLoad(EVENTS, 'replace');
      await empty.commit(null);
      await empty.close();
      assert.equal((await all('email_send', '_event_id')).length, 0);
    });

    it('adds columns for new fields, typed from their values, and maps names the database cannot hold side by side', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([
        event('a', { Industry: 'Tech', count: 5, ratio: 0.5, flag: true, seenAt: '2024-06-01T00:00:00Z', tags: ['x'], note: 'hi' }),
        event('b', { industry: 'retail', onlyNull: null }),
      ]);
      const result = await load.commit(null);
      await load.close();
      const expectedIndustry = harness.foldsCase ? 'industry__2' : 'industry';
      assert.deepEqual(result.columnsAdded, ['Industry', 'count', 'ratio', 'flag', 'seenAt', 'tags', 'note', expectedIndustry]);
      const map = await mapping('email_send');
      assert.equal(map.Industry, 'Industry');
      assert.equal(map.industry, expectedIndustry);
      assert.equal(map.onlyNull, undefined, 'a field seen only as null gets no column');
      const t = harness.typeNames;
      const types = await columnTypes('email_send');
      assert.deepEqual(
        [types.count, types.ratio, types.flag, types.seenAt, types.tags, types.note, types.Industry, types[expectedIndustry]],
        [t.bigint, t.double, t.boolean, t.timestamptz, t.json, t.text, t.text, t.text],
      );
      const rows = await all('email_send', '_event_id');
      assert.equal(rows[0]!.Industry, 'Tech');
      assert.equal(rows[1]![expectedIndustry], 'retail');
      assert.deepEqual(rows[0]!.tags, ['x']);

      // A later load keeps the stored mapping and adds nothing.
      const next = await fx.destination.beginLoad(EVENTS, 'upsert');
      await next.write([event('c', { industry: 'food', Industry: 'Food' })]);
      const again = await next.commit(null);
      await next.close();
      assert.deepEqual(again.columnsAdded, []);
      const c = (await fx.query(`SELECT * FROM ${fx.table('email_send')} WHERE _event_id = 'c'`))[0]!;
      assert.deepEqual([c.Industry, c[expectedIndustry]], ['Food', 'food']);
    });

    it('maps over-long field names deterministically and keeps their values', async () => {
      const long = 'customField_'.repeat(6); // 72 bytes: too long for PostgreSQL
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([event('a', { [`${long}A`]: 1, [`${long}B`]: 2 })]);
      await load.commit(null);
      await load.close();
      const map = await mapping('email_send');
      const a = map[`${long}A`]!;
      const b = map[`${long}B`]!;
      assert.notEqual(a, b);
      if (harness.name === 'postgres') {
        assert.ok(Buffer.byteLength(a) <= 63 && Buffer.byteLength(b) <= 63);
        assert.match(a, /^customField_.*_[0-9a-f]{8}$/);
      } else {
        assert.equal(a, `${long}A`);
      }
      const row = (await all('email_send', '_event_id'))[0]!;
      assert.deepEqual([row[a], row[b]], [1n, 2n]);
    });

    it('keeps values that do not fit their column in _rescued and drops nothing', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([
        event('bad', {
          campaignId: 'abc',
          createdAt: 'not a date',
          email: { nested: true },
          score: 'high',
          isTest: 'yes',
          labels: 'not-an-array-but-json-holds-it',
        }),
        event('frac', { campaignId: 1.5 }),
        event('good', { email: 42, score: 3 }),
      ]);
      const result = await load.commit(null);
      await load.close();
      assert.equal(result.rowsWritten, 3);
      assert.equal(result.rowsRescued, 2);
      const [bad, frac, good] = await all('email_send', '_event_id');
      assert.deepEqual(
        [bad!.campaignId, bad!.createdAt, bad!.email, bad!.score, bad!.isTest],
        [null, null, null, null, null],
      );
      assert.deepEqual(bad!._rescued, {
        campaignId: 'abc',
        createdAt: 'not a date',
        email: { nested: true },
        score: 'high',
        isTest: 'yes',
      });
      assert.equal(bad!.labels, 'not-an-array-but-json-holds-it');
      assert.deepEqual(frac!._rescued, { campaignId: 1.5 });
      assert.equal(good!._rescued, null);
      assert.equal(good!.email, '42', 'a number in a text column is kept as its JSON text');
      assert.equal(good!.score, 3);
    });

    it('stores the bookmark in the commit transaction: a refused commit changes neither rows nor bookmark', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([event('a'), event('b')]);
      await load.commit({ createdAt: '2024-05-01T00:00:00.000000Z' });
      assert.deepEqual(await bookmarks(), { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' } });

      // Someone adds a constraint the next batch violates: the database refuses the commit.
      await fx.query(`CREATE UNIQUE INDEX email_send_email_unique ON ${fx.table('email_send')} (email)`);
      await load.write([event('c', { email: 'same@example.com', newField: 1 }), event('d', { email: 'same@example.com' })]);
      await load.reject([{ stream: 'email_send', raw: '{', reason: 'bad json', source: 'test' }]);
      await assert.rejects(load.commit({ createdAt: '2024-06-01T00:00:00.000000Z' }), DestinationError);
      assert.deepEqual(
        (await all('email_send', '_event_id')).map((r) => r._event_id),
        ['a', 'b'],
      );
      assert.deepEqual(await bookmarks(), { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' } });
      assert.equal((await fx.query(`SELECT * FROM ${fx.table('_rejected')}`)).length, 0);
      assert.equal((await columnTypes('email_send')).newField, undefined);

      // The load goes on after the failure.
      await load.write([event('e')]);
      const after = await load.commit({ createdAt: '2024-07-01T00:00:00.000000Z' });
      assert.equal(after.rowsWritten, 1);
      await load.close();
      assert.deepEqual(await bookmarks(), { email_send: { createdAt: '2024-07-01T00:00:00.000000Z' } });
    });

    it('rolls back rows, bookmark, rejected records and new columns; close discards what was not committed', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([event('a')]);
      await load.commit({ createdAt: '2024-05-01T00:00:00.000000Z' });
      await load.write([event('b', { brandNew: 'x' })]);
      await load.reject([{ stream: 'email_send', raw: 'oops', reason: 'bad json', source: 'test' }]);
      await load.rollback();
      const result = await load.commit(null);
      assert.deepEqual(result, { rowsWritten: 0, rowsRescued: 0, columnsAdded: [], rejected: 0 });
      await load.write([event('c')]);
      await load.close();
      assert.deepEqual(
        (await all('email_send', '_event_id')).map((r) => r._event_id),
        ['a'],
      );
      assert.equal((await columnTypes('email_send')).brandNew, undefined);
      assert.equal((await mapping('email_send')).brandNew, undefined);
      assert.equal((await fx.query(`SELECT * FROM ${fx.table('_rejected')}`)).length, 0);
      assert.deepEqual(await bookmarks(), { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' } });
      await assert.rejects(load.write([event('d')]), DestinationError);
    });

    // An embedded database has no connection to lose; the refused commit above covers it.
    if (harness.hasServer) {
      it('surfaces a connection lost mid-load as a DestinationError and keeps the last commit', async () => {
        const load = await fx.destination.beginLoad(EVENTS, 'upsert');
        await load.write([event('a')]);
        await load.commit({ createdAt: '2024-05-01T00:00:00.000000Z' });
        await load.write([event('b')]);
        assert.ok((await fx.breakLoadConnections!()) >= 1);
        await assert.rejects(load.commit({ createdAt: '2024-06-01T00:00:00.000000Z' }), DestinationError);
        await load.close();
        assert.deepEqual(
          (await all('email_send', '_event_id')).map((r) => r._event_id),
          ['a'],
        );
        assert.deepEqual(await bookmarks(), { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' } });
      });
    }

    it('forgets the bookmarks of some or all streams and keeps the tables', async () => {
      for (const name of ['campaigns', 'email_send', 'users']) {
        const load = await fx.destination.beginLoad({ ...EVENTS, name }, 'upsert');
        await load.write([event('x')]);
        await load.commit({ updatedAt: `2024-05-01T00:00:00.000000Z` });
        await load.close();
      }
      assert.deepEqual(await fx.destination.resetState(['users', 'email_send', 'unknown']), ['email_send', 'users']);
      assert.deepEqual(Object.keys(await bookmarks()), ['campaigns']);
      assert.deepEqual(await fx.destination.resetState([]), []);
      assert.deepEqual(await fx.destination.resetState(), ['campaigns']);
      assert.deepEqual(await bookmarks(), {});
      assert.equal((await all('users', '_event_id')).length, 1);
    });

    it('seeds bookmarks only for streams that have none, in one statement, and never replaces one', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([event('x')]);
      await load.commit({ createdAt: '2024-05-01T00:00:00.000000Z' });
      await load.close();
      const seeded = await fx.destination.seedState({
        email_send: { createdAt: '2020-01-01T00:00:00.000000Z' },
        users: { profileUpdatedAt: '2024-02-01T00:00:00.000000Z' },
        email_open: { createdAt: '2024-03-01T00:00:00.000000Z' },
      });
      assert.deepEqual(seeded, ['email_open', 'users']);
      assert.deepEqual(await bookmarks(), {
        email_open: { createdAt: '2024-03-01T00:00:00.000000Z' },
        email_send: { createdAt: '2024-05-01T00:00:00.000000Z' },
        users: { profileUpdatedAt: '2024-02-01T00:00:00.000000Z' },
      });
      assert.deepEqual(await fx.destination.seedState({}), []);
    });

    it('stores rejected records and records without a usable key in _rejected at commit', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.reject([
        { stream: 'email_send', raw: '{"broken', reason: 'Unterminated string in JSON', source: 'export emailSend [a, b)' },
        { stream: 'email_send', raw: 'x'.repeat(10), reason: 'Unexpected token', source: 'export emailSend [a, b)' },
      ]);
      await load.write([event('ok'), { email: 'no-key@example.com' }, event('bad-key', { _event_id: { id: 1 } })]);
      assert.equal((await fx.query(`SELECT * FROM ${fx.table('_rejected')}`)).length, 0, 'invisible before commit');
      const result = await load.commit(null);
      await load.close();
      assert.equal(result.rejected, 4);
      assert.equal(result.rowsWritten, 1);
      const rows = await fx.query(`SELECT * FROM ${fx.table('_rejected')} ORDER BY reason`);
      assert.equal(rows.length, 4);
      assert.ok(rows.every((r) => r.stream === 'email_send' && r._synced_at instanceof Date));
      const broken = rows.find((r) => r.raw === '{"broken')!;
      assert.deepEqual([broken.reason, broken.source], ['Unterminated string in JSON', 'export emailSend [a, b)']);
      assert.ok(rows.some((r) => r.raw === '{"email":"no-key@example.com"}' && /_event_id/.test(String(r.reason))));
    });

    it('loads the rows of export lines (flat documents or records) exactly as the records they parse to', async () => {
      const rules: ExportLineRules = { isEvent: true, keyFields: [], dateFields: [] };
      const source = 'export emailSend [a, b)';
      const parser = new ExportLineParser(rules);
      const viaLines = await fx.destination.beginLoad(EVENTS, 'upsert');
      // Twice in separate batches, so that a destination that learns the shapes sees them again.
      for (let k = 0; k < 2; k++) {
        const { rows, rejected } = parseExportLines(TRICKY_LINES, parser, 'email_send', source);
        assert.ok(rows.filter((row) => row instanceof FlatDocument).length >= 10, 'most lines are flat');
        await viaLines.write(rows);
        await viaLines.reject(rejected);
      }
      const linesResult = await viaLines.commit(null);
      await viaLines.close();
      const spec: TableSpec = { ...EVENTS, name: 'email_send_records' };
      const viaRecords = await fx.destination.beginLoad(spec, 'upsert');
      for (let k = 0; k < 2; k++) {
        // The long way: every line parsed and normalised into a record.
        const parsed = TRICKY_LINES.map((line) => ({ line, record: parser.parseRecord(line) }));
        await viaRecords.write(parsed.flatMap(({ record }) => (typeof record === 'string' ? [] : [record])));
        await viaRecords.reject(
          parsed.flatMap(({ line, record }) => (typeof record === 'string' ? [{ stream: 'email_send_records', raw: line, reason: record, source }] : [])),
        );
      }
      const recordsResult = await viaRecords.commit(null);
      await viaRecords.close();
      assert.deepEqual(
        [linesResult.rowsWritten, linesResult.rowsRescued, linesResult.rejected, [...linesResult.columnsAdded].sort()],
        [recordsResult.rowsWritten, recordsResult.rowsRescued, recordsResult.rejected, [...recordsResult.columnsAdded].sort()],
      );
      const withoutSyncedAt = (rows: Row[]) => rows.map(({ _synced_at, ...rest }) => rest);
      const a = withoutSyncedAt(await all('email_send', '_event_id'));
      const b = withoutSyncedAt(await all('email_send_records', '_event_id'));
      assert.equal(a.length, TRICKY_LINES.length - TRICKY_INVALID - TRICKY_REPEATS);
      assert.deepEqual(a, b);
      // JSON columns as text too (DuckDB keeps the text it was given).
      const jsonText = (table: string) =>
        fx.query(`SELECT email, CAST(labels AS ${harness.typeNames.text}) AS t FROM ${fx.table(table)} WHERE labels IS NOT NULL ORDER BY email`);
      assert.deepEqual(await jsonText('email_send'), await jsonText('email_send_records'));
      const rejected = await fx.query(`SELECT stream, raw, reason FROM ${fx.table('_rejected')} ORDER BY raw, stream`);
      assert.equal(rejected.length, 4 * TRICKY_INVALID);
      const time = a.find((r) => r.email === 'time@x.com')!;
      assert.equal((time.createdAt as Date).toISOString(), '2024-05-01T06:30:00.250Z');
      assert.equal(a.find((r) => r.email === '2024-05-01T12:00:00.000Z')?.campaignId, 5n, 'a text that is an Iterable time is normalised');
    });

    it('holds fields whose names have dots, spaces, quotes and unicode', async () => {
      const fields = ['itblInternal.emailDomain', 'offers.Intro APR', 'quote"d', "it's", 'prénom', '名前', 'emoji😀', 'tab\there'];
      const record = event('u');
      fields.forEach((field, i) => (record[field] = `value ${i} ✓ "q" \\ \n`));
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([record]);
      await load.commit(null);
      await load.close();
      const map = await mapping('email_send');
      const row = (await all('email_send', '_event_id'))[0]!;
      fields.forEach((field, i) => {
        assert.equal(map[field], field, `column of ${field}`);
        assert.equal(row[field], `value ${i} ✓ "q" \\ \n`);
      });
    });

    it('round-trips instants and 64-bit integers exactly', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([
        event('utc', { createdAt: '2024-05-01T12:00:00.000Z', campaignId: 9007199254740993n }),
        event('offset', { createdAt: '2024-05-01 14:00:00 +02:00', campaignId: 9223372036854775807n }),
        event('micros', { createdAt: '2024-05-01T12:00:00.123456Z', campaignId: -9223372036854775808n, big: 12345678901234567890n }),
        event('old', { createdAt: '0001-01-01T00:00:00Z', campaignId: Number.MAX_SAFE_INTEGER }),
      ]);
      await load.commit(null);
      await load.close();
      const rows = await fx.query(
        `SELECT _event_id, "createdAt", "campaignId", CAST("campaignId" AS TEXT) AS id_text, big, _rescued FROM ${fx.table('email_send')} ORDER BY _event_id`,
      );
      const byId = Object.fromEntries(rows.map((r) => [r._event_id, r]));
      assert.equal((byId.utc!.createdAt as Date).toISOString(), '2024-05-01T12:00:00.000Z');
      assert.equal((byId.offset!.createdAt as Date).toISOString(), '2024-05-01T12:00:00.000Z');
      assert.equal((byId.micros!.createdAt as Date).toISOString(), '2024-05-01T12:00:00.123Z');
      assert.equal((byId.old!.createdAt as Date).toISOString(), '0001-01-01T00:00:00.000Z');
      assert.equal(byId.utc!.id_text, '9007199254740993');
      assert.equal(byId.offset!.campaignId, 9223372036854775807n);
      assert.equal(byId.micros!.campaignId, -9223372036854775808n);
      assert.equal(byId.old!.campaignId, BigInt(Number.MAX_SAFE_INTEGER));
      // 12345678901234567890 does not fit BIGINT: the new column was typed from it, so it is rescued exactly.
      assert.equal(byId.micros!.big, null);
      const micros = await fx.query(
        `SELECT CAST("createdAt" AS TEXT) AS t FROM ${fx.table('email_send')} WHERE _event_id = 'micros'`,
      );
      assert.match(String(micros[0]!.t), /^2024-05-01 12:00:00\.123456\+00(:00)?$/);
      const rescuedText = await fx.query(
        `SELECT CAST(_rescued AS TEXT) AS r FROM ${fx.table('email_send')} WHERE _event_id = 'micros'`,
      );
      assert.match(String(rescuedText[0]!.r), /12345678901234567890/);
    });

    it('loads 20k rows in bounded batches with overlapping keys correctly', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      const expected = new Map<number, number>();
      let written = 0;
      for (let batch = 0; batch < 20; batch++) {
        const rows: JsonRecord[] = [];
        for (let i = 0; i < 1000; i++) {
          const id = batch * 750 + i;
          expected.set(id, batch);
          rows.push(event(`e${id}`, { campaignId: batch, score: id / 3, dataFields: { n: id } }));
        }
        await load.write(rows);
        if (batch % 5 === 4) written += (await load.commit({ createdAt: `2024-05-0${1 + (batch >> 2)}T00:00:00.000000Z` })).rowsWritten;
      }
      await load.close();
      const [summary] = await fx.query(
        `SELECT count(*) AS n, count(DISTINCT _event_id) AS d, sum("campaignId") AS s FROM ${fx.table('email_send')}`,
      );
      const sum = [...expected.values()].reduce((a, b) => a + b, 0);
      assert.equal(Number(summary!.n), expected.size);
      assert.equal(Number(summary!.d), expected.size);
      assert.equal(Number(summary!.s), sum);
      assert.ok(written >= expected.size);
      assert.deepEqual(await bookmarks(), { email_send: { createdAt: '2024-05-05T00:00:00.000000Z' } });
    });

    describe('committing a large window in parts', () => {
      /** A fixture whose upsert loads commit a part every 1,000 staged rows (writes of 500). */
      let mx: Fixture;
      beforeEach(async () => {
        mx = await harness.create({ partRows: 1000 });
      });
      afterEach(async () => {
        await mx.close();
      });
      const rowsOf = (orderBy = '_event_id') => mx.query(`SELECT * FROM ${mx.table('email_send')} ORDER BY ${orderBy}`);
      const columnsOf = async () =>
        (
          await mx.query(
            `SELECT column_name FROM information_schema.columns ` +
              `WHERE table_catalog = current_database() AND table_schema = $1 AND table_name = 'email_send'`,
            [mx.schema],
          )
        ).map((r) => String(r.column_name));
      const writeInBatches = async (load: { write(rows: readonly JsonRecord[]): Promise<void> }, rows: JsonRecord[]) => {
        for (let i = 0; i < rows.length; i += 500) await load.write(rows.slice(i, i + 500));
      };
      /** 5,000 rows: keys s0…s1999 (committed before) and e0…e2999; lateField from row 3,500; s5 and e10 again at the end. */
      const window = (): JsonRecord[] => {
        const rows: JsonRecord[] = [];
        for (let i = 0; i < 5000; i++) {
          const id = i < 2000 ? `s${i}` : `e${i - 2000}`;
          rows.push(event(id, { campaignId: i, ...(i === 7 ? { score: 'not a number' } : {}), ...(i >= 3500 ? { lateField: `late ${i}` } : {}) }));
        }
        rows.push(event('e10', { campaignId: -10 }), event('s5', { campaignId: -5, score: 'rescued' }), event('s7', { campaignId: -7 }));
        return rows;
      };
      const seed = async () => {
        const load = await mx.destination.beginLoad(EVENTS, 'upsert');
        const rows: JsonRecord[] = [];
        for (let i = 0; i < 2000; i++) rows.push(event(`s${i}`, { campaignId: 100_000 + i, email: `seed${i}@example.com` }));
        await writeInBatches(load, rows);
        const result = await load.commit({ createdAt: '2024-05-01T00:00:00.000000Z' });
        assert.equal(result.rowsWritten, 2000);
        return load;
      };

      it('keeps the last row of a key repeated in a later part, adds a field first seen in a later part, and moves the bookmark with the last part only', async () => {
        const load = await seed();
        await writeInBatches(load, window());
        // Five parts are committed (readers may see them); the bookmark waits for the window's end.
        assert.deepEqual(await bookmarksOf(mx), { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' } });
        const result = await load.commit({ createdAt: '2024-05-02T00:00:00.000000Z' });
        await load.close();
        assert.equal(result.rowsWritten, 5003, 'every part counts the rows it wrote');
        assert.equal(result.rowsRescued, 2, 's7 was rescued in its part, s5 in the last');
        assert.deepEqual(result.columnsAdded, ['lateField']);
        const rows = await rowsOf();
        assert.equal(rows.length, 5000);
        const byId = new Map(rows.map((r) => [String(r._event_id), r]));
        assert.deepEqual([byId.get('e10')!.campaignId, byId.get('e10')!.lateField], [-10n, null]);
        assert.deepEqual([byId.get('s5')!.campaignId, byId.get('s5')!._rescued], [-5n, { score: 'rescued' }]);
        assert.deepEqual([byId.get('s7')!.campaignId, byId.get('s7')!._rescued], [-7n, null]);
        assert.deepEqual([byId.get('s100')!.campaignId, byId.get('s100')!.email], [100n, 's100@example.com']);
        assert.deepEqual([byId.get('e1499')!.lateField, byId.get('e1500')!.lateField], [null, 'late 3500']);
        assert.equal(rows.filter((r) => r.lateField !== null).length, 1500);
        assert.equal(new Set(rows.map((r) => (r._synced_at as Date).getTime())).size, 6, 'one instant per part');
        assert.deepEqual(await bookmarksOf(mx), { email_send: { createdAt: '2024-05-02T00:00:00.000000Z' } });
      });

      it('rolls back the part not committed yet: committed parts stay, bookmark and rejected records do not move; reading the window again converges', async () => {
        const load = await seed();
        await writeInBatches(load, window());
        await load.reject([{ stream: 'email_send', raw: '{', reason: 'bad json', source: 'test' }]);
        await load.write([{ email: 'no-key@example.com' }]);
        await load.rollback();
        let rows = await rowsOf();
        assert.equal(rows.length, 5000, 'the five parts committed');
        assert.equal(rows.find((r) => r._event_id === 'e10')!.campaignId, 2010n, 'the last three rows were dropped');
        assert.equal((await mx.query(`SELECT * FROM ${mx.table('_rejected')}`)).length, 0);
        assert.deepEqual(await bookmarksOf(mx), { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' } });

        // The window is read again (as a sync does after a failure): the same rows as an uninterrupted load.
        await writeInBatches(load, window());
        const result = await load.commit({ createdAt: '2024-05-03T00:00:00.000000Z' });
        assert.equal(result.rowsWritten, 5003);
        // Closing discards what was staged below a part.
        await writeInBatches(load, window().slice(0, 800).map((r) => ({ ...r, campaignId: 424_242, anotherField: true })));
        await load.close();
        rows = await rowsOf();
        assert.equal(rows.length, 5000);
        assert.equal(rows.find((r) => r._event_id === 'e10')!.campaignId, -10n);
        assert.ok(!rows.some((r) => r.campaignId === 424_242n));
        assert.ok(!(await columnsOf()).includes('anotherField'));
        assert.deepEqual(await bookmarksOf(mx), { email_send: { createdAt: '2024-05-03T00:00:00.000000Z' } });
      });

      it('replaces a table in one transaction whatever its size: readers see the old rows until the commit, then exactly the rows written', async () => {
        await (await seed()).close();
        const load = await mx.destination.beginLoad(EVENTS, 'replace');
        const rows: JsonRecord[] = [];
        for (let i = 0; i < 3000; i++) rows.push(event(`r${i % 2500}`, { campaignId: i }));
        await writeInBatches(load, rows);
        assert.equal((await rowsOf()).length, 2000);
        const result = await load.commit(null);
        await load.close();
        assert.equal(result.rowsWritten, 2500);
        const after = await rowsOf();
        assert.equal(after.length, 2500);
        assert.ok(after.every((r) => String(r._event_id).startsWith('r')));
        assert.equal(after.find((r) => r._event_id === 'r10')!.campaignId, 2510n);
      });

      it('reports a part commit that failed in the background at the next call, and keeps what was committed', async () => {
        const load = await seed();
        await mx.query(`CREATE UNIQUE INDEX email_send_email_unique ON ${mx.table('email_send')} (email)`);
        const rows: JsonRecord[] = [];
        for (let i = 0; i < 3000; i++) rows.push(event(`d${i}`, { email: i === 1500 ? 'seed3@example.com' : `d${i}@example.com` }));
        await assert.rejects(async () => {
          await writeInBatches(load, rows);
          await load.commit({ createdAt: '2024-06-01T00:00:00.000000Z' });
        }, DestinationError);
        assert.equal((await rowsOf()).length, 3000, 'the seed and the first part');
        assert.deepEqual(await bookmarksOf(mx), { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' } });
        await load.write([event('after')]);
        assert.equal((await load.commit(null)).rowsWritten, 1);
        await load.close();
        assert.equal((await rowsOf()).length, 3001);
      });
    });

    describe('tables keyed by a hash of the content, written with their window (DuckDB: earlier rows looked for there)', () => {
      /** Loads commit a part every 1,000 staged rows; writes of 500, with HASHED_WINDOW. */
      let hx: Fixture;
      beforeEach(async () => {
        hx = await harness.create({ partRows: 1000 });
      });
      afterEach(async () => {
        await hx.close();
      });
      const writeInBatches = async (load: { write(rows: readonly JsonRecord[], window?: RowWindow): Promise<void> }, rows: JsonRecord[]) => {
        for (let i = 0; i < rows.length; i += 500) await load.write(rows.slice(i, i + 500), HASHED_WINDOW);
      };
      const range = (from: number, to: number, fields: JsonRecord = {}) =>
        Array.from({ length: to - from }, (_, k) => hashed(from + k, fields));
      /** Rows, distinct keys, and campaignId by key. */
      const contents = async () => {
        const rows = await hx.query(`SELECT _event_id, "campaignId", _synced_at, _rescued FROM ${hx.table('email_send')}`);
        return {
          rows: rows.length,
          keys: new Set(rows.map((r) => r._event_id)).size,
          campaign: new Map(rows.map((r) => [String(r._event_id), Number(r.campaignId)])),
          syncedAt: new Map(rows.map((r) => [String(r._event_id), (r._synced_at as Date).getTime()])),
          rescued: new Map(rows.map((r) => [String(r._event_id), r._rescued])),
        };
      };
      const campaignsOf = (campaign: Map<string, number>, from: number, to: number) =>
        new Set(Array.from({ length: to - from }, (_, k) => campaign.get(`h${from + k}`)));

      if (harness.name === 'duckdb') {
        it('creates keyed tables without primary key, and keeps and upserts on the one of a table created with it', async () => {
          await (await hx.destination.beginLoad(HASHED_EVENTS, 'upsert')).close();
          await (await hx.destination.beginLoad(LIST_USERS, 'upsert')).close();
          // As iterable-sync created event tables before 2026-11-27.
          await hx.query(
            `CREATE TABLE ${hx.table('email_open')} (_event_id VARCHAR PRIMARY KEY, email VARCHAR, "createdAt" TIMESTAMPTZ, ` +
              `"campaignId" BIGINT, _synced_at TIMESTAMPTZ, _rescued JSON)`,
          );
          const legacy = await hx.destination.beginLoad({ ...HASHED_EVENTS, name: 'email_open' }, 'upsert');
          await writeInBatches(legacy, [...range(0, 2500, { campaignId: 1 }), hashed(10, { campaignId: 2 })]);
          await legacy.commit(null);
          await writeInBatches(legacy, range(2000, 3000, { campaignId: 3 }));
          assert.equal((await legacy.commit(null)).rowsWritten, 1000);
          await legacy.close();
          const [summary] = await hx.query(
            `SELECT count(*) AS n, count(DISTINCT _event_id) AS d, sum("campaignId") AS s FROM ${hx.table('email_open')}`,
          );
          assert.deepEqual([Number(summary!.n), Number(summary!.d), Number(summary!.s)], [3000, 3000, 1999 * 1 + 2 + 1000 * 3]);
          const keys = await hx.query(`SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' ORDER BY table_name`);
          assert.deepEqual(
            keys.map((r) => r.table_name).filter((name) => !String(name).startsWith('_')),
            ['email_open'],
          );
          await assert.rejects(hx.destination.beginLoad({ ...HASHED_EVENTS, keyProperties: ['email'] }, 'upsert'), SchemaError);
        });
      }

      it('keeps the last row of a key repeated within a merge, across merges and across commits', async () => {
        const load = await hx.destination.beginLoad(HASHED_EVENTS, 'upsert');
        const rows = range(0, 3000, { campaignId: 1 });
        rows.splice(1700, 0, hashed(1650, { campaignId: 5 })); // within a chunk
        rows.push(...range(0, 100, { campaignId: 2 }), hashed(2999, { campaignId: 3 })); // keys of earlier chunks
        await writeInBatches(load, rows);
        const first = await load.commit({ createdAt: '2024-05-02T00:00:00.000000Z' });
        assert.equal(first.rowsWritten, 3100, 'a key twice in one part counts once; h2999 in two parts, twice');
        let table = await contents();
        assert.deepEqual([table.rows, table.keys], [3000, 3000]);
        assert.deepEqual(
          [campaignsOf(table.campaign, 0, 100), table.campaign.get('h1650'), table.campaign.get('h2999'), table.campaign.get('h100')],
          [new Set([2]), 5, 3, 1],
        );
        // A commit of one part re-writes committed keys.
        await load.write([hashed(5, { campaignId: 6 }), hashed(5000, { campaignId: 6 })], HASHED_WINDOW);
        const second = await load.commit(null);
        await load.close();
        assert.equal(second.rowsWritten, 2);
        table = await contents();
        assert.deepEqual([table.rows, table.keys, table.campaign.get('h5'), table.campaign.get('h5000')], [3001, 3001, 6, 6]);
      });

      it('replaces the committed rows of a range read again (lookback) and leaves the others alone', async () => {
        const load = await hx.destination.beginLoad(HASHED_EVENTS, 'upsert');
        await writeInBatches(load, range(0, 3000, { campaignId: 1 }));
        await load.commit({ createdAt: '2024-05-01T00:50:00.000000Z' });
        const before = await contents();
        // Read again from 2,500 s: 500 committed events, 2,500 new ones, in an order unrelated to createdAt
        // (every merge spans the whole range, as in an export).
        const again = range(2500, 5000, { campaignId: 2 });
        again.sort((a, b) => (Number(String(a._event_id).slice(1)) % 7) - (Number(String(b._event_id).slice(1)) % 7));
        await writeInBatches(load, again);
        const result = await load.commit({ createdAt: '2024-05-01T01:23:20.000000Z' });
        assert.equal(result.rowsWritten, 2500);
        const after = await contents();
        assert.deepEqual([after.rows, after.keys], [5000, 5000]);
        assert.deepEqual([campaignsOf(after.campaign, 0, 2500), campaignsOf(after.campaign, 2500, 5000)], [new Set([1]), new Set([2])]);
        assert.equal(after.syncedAt.get('h2499'), before.syncedAt.get('h2499'), 'rows outside the range are not rewritten');
        // A range wholly inside the committed rows, then keys of both earlier commits in one transaction.
        await writeInBatches(load, range(100, 1600, { campaignId: 3 }));
        await writeInBatches(load, [...range(0, 10, { campaignId: 4 }), ...range(4990, 5000, { campaignId: 4 })]);
        assert.equal((await load.commit(null)).rowsWritten, 1520);
        await load.close();
        const last = await contents();
        assert.deepEqual([last.rows, last.keys], [5000, 5000]);
        assert.deepEqual(
          [campaignsOf(last.campaign, 0, 10), campaignsOf(last.campaign, 100, 1600), campaignsOf(last.campaign, 4990, 5000)],
          [new Set([4]), new Set([3]), new Set([4])],
        );
      });

      it('finds the earlier rows of keys whose createdAt is missing or does not fit its column', async () => {
        const load = await hx.destination.beginLoad(HASHED_EVENTS, 'upsert');
        const missing = (campaignId: number) => ({ ...event('missing', { campaignId }), createdAt: undefined });
        const invalid = (campaignId: number) => event('invalid', { campaignId, createdAt: 'not a date' });
        await load.write([missing(1), invalid(1), hashed(1)], HASHED_WINDOW);
        await load.commit(null);
        await writeInBatches(load, [missing(2), invalid(2), ...range(10, 2500), missing(3)]);
        const result = await load.commit(null);
        await load.close();
        assert.equal(result.rowsWritten, 2493, '"missing" in two parts counts twice');
        const table = await contents();
        assert.deepEqual([table.rows, table.keys], [2493, 2493]);
        assert.deepEqual([table.campaign.get('missing'), table.campaign.get('invalid')], [3, 2]);
        assert.deepEqual(table.rescued.get('invalid'), { createdAt: 'not a date' });
      });

      it('rolls back the part not committed after parts that replaced committed rows', async () => {
        const load = await hx.destination.beginLoad(HASHED_EVENTS, 'upsert');
        await writeInBatches(load, range(0, 2000, { campaignId: 1 }));
        await load.commit({ createdAt: '2024-05-01T00:40:00.000000Z' });
        await writeInBatches(load, [...range(1000, 4000, { campaignId: 2 }), ...range(1500, 1600, { campaignId: 3 })]);
        await load.rollback();
        let table = await contents();
        assert.deepEqual([table.rows, table.keys, campaignsOf(table.campaign, 0, 1000), campaignsOf(table.campaign, 1000, 4000)], [4000, 4000, new Set([1]), new Set([2])]);
        assert.deepEqual(await bookmarksOf(hx), { email_send: { createdAt: '2024-05-01T00:40:00.000000Z' } });
        await writeInBatches(load, range(1000, 4000, { campaignId: 2 }));
        await load.commit(null);
        await load.close();
        table = await contents();
        assert.deepEqual([table.rows, table.keys, campaignsOf(table.campaign, 1000, 4000)], [4000, 4000, new Set([2])]);
      });

      it('adds a field first seen after parts that replaced committed rows, without duplicating them', async () => {
        const load = await hx.destination.beginLoad(HASHED_EVENTS, 'upsert');
        await writeInBatches(load, range(0, 2000, { campaignId: 1 }));
        await load.commit(null);
        const rows = range(1000, 4000, { campaignId: 2 });
        for (let i = 2500; i < rows.length; i++) rows[i]!.lateField = `late ${i}`;
        rows.push(hashed(1200, { campaignId: 3 }), { ...event('missing', { campaignId: 3 }), createdAt: undefined });
        await writeInBatches(load, rows);
        const result = await load.commit(null);
        await load.close();
        assert.deepEqual([result.rowsWritten, result.columnsAdded], [3002, ['lateField']]);
        const table = await contents();
        assert.deepEqual([table.rows, table.keys], [4001, 4001]);
        assert.deepEqual(
          [campaignsOf(table.campaign, 0, 1000), table.campaign.get('h1200'), table.campaign.get('h1201'), table.campaign.get('missing')],
          [new Set([1]), 3, 2, 3],
        );
        const [late] = await hx.query(`SELECT count("lateField") AS n FROM ${hx.table('email_send')}`);
        assert.equal(Number(late!.n), 500);
      });

      it('runs such loads side by side with others', async () => {
        const loads = await Promise.all(
          ['email_send', 'email_open', 'email_click'].map((name) => hx.destination.beginLoad({ ...HASHED_EVENTS, name }, 'upsert')),
        );
        const other = await hx.destination.beginLoad(LIST_USERS, 'upsert');
        for (let round = 0; round < 2; round++) {
          await Promise.all([
            ...loads.map((load) => writeInBatches(load, range(round * 1000, round * 1000 + 2500, { campaignId: round }))),
            other.write([{ listId: round, email: `u${round}@e.com` }]),
          ]);
          await Promise.all([...loads, other].map((load) => load.commit(null)));
        }
        await Promise.all([...loads, other].map((load) => load.close()));
        for (const name of ['email_send', 'email_open', 'email_click']) {
          const [summary] = await hx.query(`SELECT count(*) AS n, count(DISTINCT _event_id) AS d FROM ${hx.table(name)}`);
          assert.deepEqual([Number(summary!.n), Number(summary!.d)], [3500, 3500], name);
        }
      });
    });

    it('loads a wide table in parts', async () => {
      // Parts of 20,000 rows, as wide as a large Iterable project's user table.
      const wide = await harness.create({ partRows: 20_000 });
      try {
        const COLUMNS = 250;
        const properties: Record<string, object> = { email: { type: 'string' } };
        for (let c = 0; c < COLUMNS; c++) properties[`f${c}`] = c % 2 === 0 ? int : str;
        const spec: TableSpec = { name: 'users', keyProperties: ['email'], schema: { type: 'object', properties } };
        const load = await wide.destination.beginLoad(spec, 'upsert');
        for (let from = 0; from < 24_000; from += 4000) {
          const rows: JsonRecord[] = [];
          for (let r = from; r < from + 4000; r++) {
            const row: JsonRecord = { email: `u${r}@example.com` };
            for (let c = 0; c < COLUMNS; c++) row[`f${c}`] = c % 2 === 0 ? r + c : `value ${c} of ${r % 89}`;
            rows.push(row);
          }
          await load.write(rows);
        }
        assert.equal((await load.commit(null)).rowsWritten, 24_000);
        await load.close();
        const [summary] = await wide.query(`SELECT count(*) AS n, count(DISTINCT email) AS d, sum(f248) AS s FROM ${wide.table('users')}`);
        assert.deepEqual([Number(summary!.n), Number(summary!.d), Number(summary!.s)], [24_000, 24_000, (23_999 * 24_000) / 2 + 248 * 24_000]);
      } finally {
        await wide.close();
      }
    });

    if (harness.name === 'duckdb') {
      it('fails a commit whose staged rows cannot be written, naming the temp folder and TMPDIR; the last commit stands', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'iterable-sync-tmpdir-'));
        const saved = process.env.TMPDIR;
        try {
          const first = await fx.destination.beginLoad(EVENTS, 'upsert');
          await first.write([event('a')]);
          await first.commit({ createdAt: '2024-05-01T00:00:00.000Z' });
          await first.close();
          // A file where the temp folder should be: no folder can be made in it.
          const notAFolder = join(dir, 'not-a-folder');
          writeFileSync(notAFolder, 'x');
          process.env.TMPDIR = notAFolder;
          const load = await fx.destination.beginLoad(EVENTS, 'upsert');
          await load.write([event('b')]);
          await assert.rejects(load.commit({ createdAt: '2024-05-02T00:00:00.000Z' }), (error: unknown) => {
            assert.ok(error instanceof DestinationError);
            assert.match(error.message, /cannot write staged rows in the temp folder .*not-a-folder .*set TMPDIR to another folder; .*bookmark unchanged/);
            return true;
          });
          assert.deepEqual(await bookmarks(), { email_send: { createdAt: '2024-05-01T00:00:00.000Z' } });
          process.env.TMPDIR = dir;
          await load.write([event('b')]);
          await load.commit({ createdAt: '2024-05-02T00:00:00.000Z' });
          await load.close();
          const ids = await fx.query(`SELECT "_event_id" AS id FROM ${fx.table('email_send')} ORDER BY 1`);
          assert.deepEqual(ids.map((r) => r.id), ['a', 'b']);
          assert.deepEqual(await bookmarks(), { email_send: { createdAt: '2024-05-02T00:00:00.000Z' } });
        } finally {
          if (saved === undefined) delete process.env.TMPDIR;
          else process.env.TMPDIR = saved;
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('loads parts of rows of 12,000 characters (the memory limit follows the size of the staged rows)', async () => {
        // Under the limit of a table of light rows (16 + columns MiB), the commit of such a part
        // ran out of memory ("failed to pin block", and DuckDB may invalidate the database then).
        const heavy = await harness.create({ partRows: 20_000 });
        try {
          const properties: Record<string, object> = { id: { type: 'string' } };
          for (let c = 0; c < 20; c++) properties[`f${c}`] = str;
          const spec: TableSpec = { name: 'heavy', keyProperties: ['id'], schema: { type: 'object', properties } };
          const load = await heavy.destination.beginLoad(spec, 'upsert');
          const pad = 'x'.repeat(600);
          for (let from = 0; from < 25_000; from += 5000) {
            const rows: JsonRecord[] = [];
            for (let r = from; r < from + 5000; r++) {
              const row: JsonRecord = { id: `k${r}` };
              for (let c = 0; c < 20; c++) row[`f${c}`] = `${r}-${c}-${pad}`;
              rows.push(row);
            }
            await load.write(rows);
          }
          assert.equal((await load.commit(null)).rowsWritten, 25_000);
          await load.close();
          const [summary] = await heavy.query(`SELECT count(DISTINCT id) AS d, sum(length(f19)) AS len FROM ${heavy.table('heavy')}`);
          let len = 0;
          for (let r = 0; r < 25_000; r++) len += `${r}-19-`.length + 600;
          assert.deepEqual([Number(summary!.d), Number(summary!.len)], [25_000, len]);
        } finally {
          await heavy.close();
        }
      });
    }

    it('commits a large window in parts of 40,000 rows: replaced rows, a new field in a later part, a key repeated late', async () => {
      const big = await harness.create({ partRows: 40_000 });
      try {
        const spec: TableSpec = { name: 'big', keyProperties: ['id'], schema: { type: 'object', properties: { id: { type: 'string' }, n: int } } };
        const rows = (from: number, to: number, extra: (i: number) => JsonRecord = () => ({})) =>
          Array.from({ length: to - from }, (_, k) => ({ id: `k${from + k}`, n: from + k, ...extra(from + k) }));
        const writeAll = async (load: { write(rows: readonly JsonRecord[]): Promise<void> }, all: JsonRecord[]) => {
          for (let i = 0; i < all.length; i += 5000) await load.write(all.slice(i, i + 5000));
        };
        const load = await big.destination.beginLoad(spec, 'upsert');
        await writeAll(load, rows(0, 50_000));
        await load.commit({ n: '1' });
        const second = [...rows(25_000, 110_000, (i) => (i >= 100_000 ? { extra: `x${i}` } : {})), { id: 'k30000', n: -1 }];
        await writeAll(load, second);
        // Two parts of 40,000 rows are committed; the bookmark waits for the last.
        assert.deepEqual((await big.destination.readState()).bookmarks, { big: { n: '1' } });
        const result = await load.commit({ n: '2' });
        await load.close();
        assert.deepEqual([result.rowsWritten, result.columnsAdded], [85_001, ['extra']]);
        const [summary] = await big.query(
          `SELECT count(*) AS c, count(extra) AS e, sum(n) AS s, max(CASE WHEN id = 'k30000' THEN n END) AS late FROM ${big.table('big')}`,
        );
        const expectedSum = (109_999 * 110_000) / 2 - 30_000 - 1;
        assert.deepEqual([Number(summary!.c), Number(summary!.e), Number(summary!.s), Number(summary!.late)], [110_000, 10_000, expectedSum, -1]);
        assert.deepEqual((await big.destination.readState()).bookmarks, { big: { n: '2' } });
      } finally {
        await big.close();
      }
    });

    it('runs loads of different tables side by side, each committing its own bookmark', async () => {
      const a = await fx.destination.beginLoad(EVENTS, 'upsert');
      const b = await fx.destination.beginLoad(LIST_USERS, 'replace');
      const c = await fx.destination.beginLoad({ ...EVENTS, name: 'email_open' }, 'upsert');
      for (let round = 0; round < 3; round++) {
        await Promise.all([
          a.write([event(`a${round}`, { [`fieldA${round}`]: round })]),
          b.write([{ listId: round, email: `u${round}@e.com` }]),
          c.write([event(`c${round}`)]),
        ]);
        await Promise.all([
          a.commit({ createdAt: `2024-05-0${round + 1}T00:00:00.000000Z` }),
          b.commit({ listId: String(round) }),
          c.commit({ createdAt: `2024-06-0${round + 1}T00:00:00.000000Z` }),
        ]);
      }
      await Promise.all([a.close(), b.close(), c.close()]);
      assert.deepEqual(await bookmarks(), {
        email_open: { createdAt: '2024-06-03T00:00:00.000000Z' },
        email_send: { createdAt: '2024-05-03T00:00:00.000000Z' },
        list_users: { listId: '2' },
      });
      assert.equal((await all('email_send', '_event_id')).length, 3);
      assert.equal((await all('list_users', 'email')).length, 3);
    });

    it('keeps state across destination objects and refuses a table keyed differently', async () => {
      const load = await fx.destination.beginLoad(EVENTS, 'upsert');
      await load.write([event('a')]);
      await load.commit({ createdAt: '2024-05-01T00:00:00.000000Z' });
      await load.close();
      const other = fx.reopen();
      await other.open();
      assert.deepEqual((await other.readState()).bookmarks, { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' } });
      await assert.rejects(other.beginLoad({ ...EVENTS, keyProperties: ['email'] }, 'upsert'), SchemaError);
      await assert.rejects(other.beginLoad({ ...EVENTS, keyProperties: ['nope'] }, 'upsert'), SchemaError);
    });
  });
}
