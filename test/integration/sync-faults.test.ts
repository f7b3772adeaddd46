import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import pg from 'pg';
import { openDestination } from '../../src/destinations/destination-factory.js';
import { generateFakeData, startFakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, runCli } from './cli-harness.js';
import { freshDestination, snapshot } from './db-snapshot.js';

const EXPORT = '/api/export/data.json';
const SECRET_KEY = 'test-server-key';
const STREAMS = 'email_send,email_open,users,list_users,campaigns';
const omit = { list_users: ['updatedAt'] };

function syncArgs(url: string, destination: string): string[] {
  return ['sync', '--base-url', url, '--start-date', '2023-12-01', '--window-days', '20', '--streams', STREAMS, '--destination', destination];
}

describe('sync: the fault matrix ends with the same rows as a clean run', () => {
  it('recovers from 429 bursts, repeated 500s, 503s, cut and stalled bodies; keeps a malformed line in _rejected', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 31 }) });
    try {
      const clean = freshDestination('duckdb');
      assert.equal((await runCli(syncArgs(fake.url, clean), cliEnv({ ITERABLE_API_KEY: SECRET_KEY }))).code, 0);

      fake.inject({ kind: 'status', path: EXPORT, status: 429, times: 4 });
      fake.inject({ kind: 'status', path: EXPORT, dataTypeName: 'emailSend', status: 500, times: 12 });
      fake.inject({ kind: 'status', path: '/api/lists/getUsers', status: 500, times: 3 });
      fake.inject({ kind: 'status', path: '/api/lists/getUsers', status: 503, times: 3 });
      fake.inject({ kind: 'cut', path: EXPORT, dataTypeName: 'emailOpen', afterLines: 40, times: 3 });
      fake.inject({ kind: 'stall', path: EXPORT, dataTypeName: 'user', afterLines: 5, ms: 2500 });
      fake.inject({ kind: 'malformed', path: EXPORT, dataTypeName: 'emailSend', afterLines: 7, text: '{"email":"half@example.com","createdAt":"2024-01' });
      const faulted = freshDestination('duckdb');
      const result = await runCli(syncArgs(fake.url, faulted), cliEnv({ ITERABLE_API_KEY: SECRET_KEY, ITERABLE_SYNC_IDLE_TIMEOUT_MS: '500' }));
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^email_send\s+complete\s+\d+\s+0\s+1\s/m, 'the summary counts the rejected line');
      const [a, b] = [await snapshot(clean, omit), await snapshot(faulted, omit)];
      const rejected = b.get('_rejected') ?? [];
      b.delete('_rejected');
      a.delete('_rejected');
      assert.deepEqual(b, a);
      assert.equal(rejected.length, 1);
      assert.match(rejected[0]!, /half@example\.com/);
      assert.match(rejected[0]!, /emailSend/);
    } finally {
      await fake.close();
    }
  });

  it('rolls back a window the destination refuses: bookmark unchanged, the next sync completes it', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 32 }) });
    const destination = freshDestination('postgres');
    const schema = new URL(destination).searchParams.get('schema')!;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      const env = cliEnv({ ITERABLE_API_KEY: SECRET_KEY });
      const args = ['sync', '--base-url', fake.url, '--start-date', '2023-12-01', '--window-days', '20', '--streams', 'email_send', '--destination', destination];
      // A complete sync, then rewound to January 21 as if it had stopped there; a trigger then
      // refuses rows from February 15 on, as a full disk or a lost permission would.
      const first = await runCli(args, env);
      assert.equal(first.code, 0, first.stderr);
      await admin.query(`delete from "${schema}".email_send where "createdAt" >= '2024-02-01'`);
      await admin.query(`update "${schema}"._iterable_sync_state set bookmark = '{"createdAt":"2024-01-21T00:00:00.000000Z"}' where stream = 'email_send'`);
      await admin.query(`create function "${schema}".refuse() returns trigger language plpgsql as $$ begin if new."createdAt" >= '2024-02-15' then raise exception 'disk full (simulated)'; end if; return new; end $$`);
      await admin.query(`create trigger refuse before insert on "${schema}".email_send for each row execute function "${schema}".refuse()`);
      const refused = await runCli(args, env);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /email_send: .*disk full \(simulated\)/);
      const stuck = await bookmarkOf(destination);
      assert.ok(Date.parse(stuck) < Date.parse('2024-02-15'), `bookmark ${stuck} stays before the refused window`);
      const { rows } = await admin.query(`select count(*)::int as n from "${schema}".email_send where "createdAt" >= '2024-02-15'`);
      assert.equal(rows[0].n, 0, 'no row of the refused window is visible');
      await admin.query(`drop trigger refuse on "${schema}".email_send`);
      const resumed = await runCli(args, env);
      assert.equal(resumed.code, 0, resumed.stderr);
      const clean = freshDestination('postgres');
      assert.equal((await runCli([...args.slice(0, -1), clean], env)).code, 0);
      assert.deepEqual(await snapshot(destination), await snapshot(clean));
    } finally {
      await admin.end();
      await fake.close();
    }
  });
});

async function bookmarkOf(url: string): Promise<string> {
  const db = await openDestination(url);
  await db.open();
  try {
    return (await db.readState()).bookmarks.email_send!.createdAt!;
  } finally {
    await db.close();
  }
}

describe('secrets stay out of output, the database and error messages', () => {
  it('never writes the API key to stdout, stderr or the DuckDB file', async () => {
    const fake = await startFakeIterable({ keys: { 'key-Qv93XbSecretValue': 'server' } });
    try {
      const destination = freshDestination('duckdb');
      fake.inject({ kind: 'status', path: EXPORT, status: 500, times: 2 });
      const result = await runCli(
        ['sync', '--base-url', fake.url, '--start-date', '2024-03-01', '--streams', 'email_send,channels', '--destination', destination],
        cliEnv({ ITERABLE_API_KEY: 'key-Qv93XbSecretValue', ITERABLE_SYNC_LOG_LEVEL: 'debug' }),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.ok(!(result.stdout + result.stderr).includes('Qv93XbSecret'));
      const file = await readFile(destination.slice('duckdb:'.length));
      assert.equal(file.includes('Qv93XbSecret'), false, 'key found in the database file');
      assert.ok(fake.requests.every((r) => r.keyRole === 'server'), 'every request carried the key to the configured host only');
    } finally {
      await fake.close();
    }
  });

  it('redacts a PostgreSQL password in a connection error', async () => {
    // A working API, so the run gets past the key check to the database.
    const fake = await startFakeIterable();
    try {
      const result = await runCli(
        ['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--streams', 'channels', '--destination', 'postgres://iterable:Pw-7741-secret@127.0.0.1:9/db'],
        cliEnv({ ITERABLE_API_KEY: SECRET_KEY }),
      );
      assert.notEqual(result.code, 0);
      assert.ok(!(result.stdout + result.stderr).includes('Pw-7741-secret'), result.stderr);
      assert.match(result.stderr, /127\.0\.0\.1:9/);
    } finally {
      await fake.close();
    }
  });
});
