import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, collect, runCli, spawnCli } from './cli-harness.js';
import { freshDestination, qualified, rowsOf } from './db-snapshot.js';

const KEY = 'test-server-key';
const START = '2024-01-01';



/** RFC 4180 CSV (quoted fields, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field), rows.push(row), (row = []), (field = ''), i++;
    } else field += c;
  }
  return rows;
}

function query(destination: string, sql: string, format?: string) {
  return runCli(['query', sql, '--destination', destination, ...(format ? ['--format', format] : [])], cliEnv());
}

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`query (${kind})`, () => {
    let fake: FakeIterable;
    let destination: string;
    before(async () => {
      fake = await startFakeIterable({ data: generateFakeData({ seed: 41, events: { emailSend: 400 } }) });
      destination = freshDestination(kind);
      const synced = await runCli(
        ['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, '--streams', 'campaigns,email_send'],
        cliEnv({ ITERABLE_API_KEY: KEY }),
      );
      assert.equal(synced.code, 0, synced.stderr);
    });
    after(() => fake.close());

    it('prints a table, with unqualified table names', async () => {
      const [{ n }] = (await rowsOf(destination, `select count(*) as n from ${qualified(destination, 'email_send')}`)) as [{ n: bigint }];
      assert.ok(Number(n) > 0);
      const result = await query(destination, 'select count(*) as sends, min("createdAt") as first from email_send');
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^sends\s+first$/);
      assert.match(lines[1]!, /^-+\s+-+$/);
      assert.match(lines[2]!, new RegExp(`^\\s*${n}\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$`));
      assert.equal(lines[3], '(1 row)');
    });

    it('prints CSV: a header, quoted fields with commas and quotes, the rows of the table', async () => {
      const expected = await rowsOf(destination, `select id, name from ${qualified(destination, 'campaigns')} order by id`);
      const result = await query(destination, `select id, name, 'say "hi"' as quote, null as nothing from campaigns order by id`, 'csv');
      assert.equal(result.code, 0, result.stderr);
      const rows = parseCsv(result.stdout);
      assert.deepEqual(rows[0], ['id', 'name', 'quote', 'nothing']);
      assert.deepEqual(
        rows.slice(1),
        expected.map((r) => [String(r.id), String(r.name), 'say "hi"', '']),
      );
      assert.ok(expected.some((r) => String(r.name).includes(',')), 'some campaign name holds a comma');
    });

    it('prints JSON: an array of objects, numbers as numbers, instants in ISO 8601, JSON columns as JSON', async () => {
      const expected = await rowsOf(
        destination,
        `select "campaignId", count(*) as sends, max("createdAt") as last from ${qualified(destination, 'email_send')} group by 1 order by 2 desc, 1 limit 3`,
      );
      const result = await query(
        destination,
        'select "campaignId", count(*) as sends, max("createdAt") as last from email_send group by 1 order by 2 desc, 1 limit 3',
        'json',
      );
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(
        JSON.parse(result.stdout),
        expected.map((r) => ({ campaignId: Number(r.campaignId), sends: Number(r.sends), last: (r.last as Date).toISOString() })),
      );
      const json = await query(destination, `select bookmark from _iterable_sync_state where stream = 'email_send'`, 'json');
      assert.equal(json.code, 0, json.stderr);
      const [{ bookmark }] = JSON.parse(json.stdout) as [{ bookmark: { createdAt: string } }];
      assert.match(bookmark.createdAt, /^\d{4}-\d\d-\d\dT/);
    });

    it('refuses to write (exit 2) and leaves the table as it was', async () => {
      const before = await rowsOf(destination, `select count(*) as n from ${qualified(destination, 'email_send')}`);
      const result = await query(destination, 'delete from email_send');
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, kind === 'duckdb' ? /query failed: .*read-only mode/ : /query failed: cannot execute DELETE in a read-only transaction/);
      // Nor behind a harmless first statement.
      const second = await query(destination, 'select 1; delete from email_send');
      assert.equal(second.code, 2, second.stderr);
      assert.deepEqual(await rowsOf(destination, `select count(*) as n from ${qualified(destination, 'email_send')}`), before);
    });

    it('bad SQL is one clear line and exit 2', async () => {
      const result = await query(destination, 'selec count(*) from email_send');
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /ERROR query failed: .*syntax error at or near "selec"/);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.equal(result.stdout, '');
      const unknown = await query(destination, 'select * from no_such_table');
      assert.equal(unknown.code, 2, unknown.stderr);
      assert.match(unknown.stderr, /query failed: .*no_such_table/);
    });

    it('an unknown --format is exit 2', async () => {
      const result = await query(destination, 'select 1', 'xml');
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--format xml is not one of table, csv, json/);
    });
  });
}

describe('query: DuckDB file missing or in use', () => {
  it('a missing file is exit 2 and is not created', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'iterable-sync-query-')), 'missing.duckdb');
    const result = await runCli(['query', 'select 1', '--destination', `duckdb:${path}`], cliEnv());
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /no DuckDB file at .*missing\.duckdb/);
    assert.equal(existsSync(path), false);
  });

  it('during a sync, DuckDB refuses to open the file even read-only (a clear lock error); PostgreSQL answers', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 42, events: { emailSend: 400 } }) });
    try {
      for (const kind of ['duckdb', 'postgres'] as const) {
        const destination = freshDestination(kind);
        // A first sync creates the tables; the second is slowed down so that it is still writing.
        const first = await runCli(
          ['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, '--streams', 'email_send'],
          cliEnv({ ITERABLE_API_KEY: KEY }),
        );
        assert.equal(first.code, 0, first.stderr);
        fake.clearFaults();
        for (let i = 0; i < 400; i++) fake.inject({ kind: 'slow', path: '/api/export/data.json', msPerChunk: 20 });
        const child = spawnCli(
          ['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, '--streams', 'email_send', '--full-refresh', '--window-days', '2'],
          cliEnv({ ITERABLE_API_KEY: KEY }),
        );
        const running = collect(child, 180_000);
        await new Promise<void>((resolve) => {
          child.stderr!.on('data', (d: Buffer) => {
            if (d.toString().includes(' committed (')) resolve();
          });
        });
        const during = await query(destination, 'select count(*) as n from email_send');
        const stillRunning = child.exitCode === null;
        child.kill('SIGKILL');
        await running;
        assert.ok(stillRunning, 'the sync was still running during the query');
        if (kind === 'duckdb') {
          assert.equal(during.code, 1, during.stderr);
          assert.match(during.stderr, /is in use by a running sync or another DuckDB process \(PID \d+\).*query it after the sync ends/);
        } else {
          assert.equal(during.code, 0, during.stderr);
          assert.match(during.stdout, /^\s*\d+$/m);
        }
        // After the sync (even one killed with SIGKILL), the file opens read-only.
        const afterwards = await query(destination, 'select count(*) as n from email_send');
        assert.equal(afterwards.code, 0, afterwards.stderr);
        fake.clearFaults();
      }
    } finally {
      await fake.close();
    }
  });
});
