import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DuckDBDestination } from '../../src/destinations/duckdb/duckdb-destination.js';
import { PostgresDestination } from '../../src/destinations/postgres/postgres-destination.js';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, parseSinger, recordsByStream, runCli } from './cli-harness.js';
import { freshDestination, rowCounts } from './db-snapshot.js';

const EXPORT = '/api/export/data.json';
const SERVER_KEY = 'test-server-key';
const READONLY_KEY = 'test-readonly-key';
/** Iterable's real limits on both sides: export 4 a minute, so a fifth export request waits a minute. */
const REAL_LIMITS = { ITERABLE_SYNC_RATE_LIMIT_SCALE: '1' };
const EXPORT_STREAMS = 'email_send,email_open,email_click,email_bounce,email_complaint,email_send_skip,email_subscribe,users';

/** Runs SQL on a destination from the test (to hand-edit bookmarks). */
async function onDestination(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = url.startsWith('duckdb:') ? new DuckDBDestination({ path: url.slice('duckdb:'.length) }) : new PostgresDestination({ url });
  await db.open();
  try {
    return await db.query(sql);
  } finally {
    await db.close();
  }
}

function stateTable(url: string): string {
  return url.startsWith('duckdb:') ? '_iterable_sync_state' : `"${new URL(url).searchParams.get('schema')}"._iterable_sync_state`;
}

async function storedBookmark(url: string, stream: string): Promise<string> {
  const rows = await onDestination(url, `select bookmark from ${stateTable(url)} where stream = '${stream}'`);
  const value = rows[0]?.bookmark;
  const bookmark = (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, string>;
  return Object.values(bookmark)[0]!;
}

/** Iterable-format end of every export request of a data type, as epoch ms. */
function exportEnds(fake: FakeIterable, dataTypeName: string): number[] {
  return fake.requests
    .filter((r) => r.path === EXPORT && r.query.get('dataTypeName') === dataTypeName)
    .map((r) => Date.parse(`${r.query.get('endDateTime')!.replace(' ', 'T')}Z`));
}

describe('fail fast: a refused key stops the run within seconds', () => {
  it('sync, tap and discover with a wrong key exit 3 after one request, before any stream or destination', async () => {
    const fake = await startFakeIterable({ rateLimits: { timeScale: 1 } });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'iterable-sync-badkey-'));
      const file = join(dir, 'never.duckdb');
      const env = cliEnv({ ITERABLE_API_KEY: 'wrong-key-Qz1', ...REAL_LIMITS });
      const startedAt = Date.now();
      const sync = await runCli(['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--destination', `duckdb:${file}`], env);
      const syncMs = Date.now() - startedAt;
      assert.equal(sync.code, 3, sync.stderr);
      assert.match(sync.stderr, /GET \/api\/channels: 401 Unauthorized; Iterable says "Invalid API key" \(code BadApiKey\)\. Check the API key/);
      assert.equal(existsSync(file), false, 'no DuckDB file is created for a refused key');
      assert.deepEqual(fake.requests.map((r) => r.path), ['/api/channels'], 'one cheap request, no export');
      // Before: every export stream waited for its rate-limit slot (over 2 minutes).
      assert.ok(syncMs < 30_000, `sync took ${syncMs} ms`);

      const tap = await runCli(['tap', '--base-url', fake.url, '--start-date', '2024-01-01'], env);
      assert.equal(tap.code, 3, tap.stderr);
      assert.equal(tap.stdout, '', 'no Singer message');

      const discover = await runCli(['discover', '--base-url', fake.url], env);
      assert.equal(discover.code, 3, discover.stderr);
      assert.equal(discover.stdout, '');
      assert.match(discover.stderr, /401 Unauthorized/);
      assert.equal(fake.requests.filter((r) => r.path !== '/api/channels').length, 0);
    } finally {
      await fake.close();
    }
  });

  it('a BadApiKey answer in the middle of a run ends every stream at once with exit 3', async () => {
    const fake = await startFakeIterable({ rateLimits: { timeScale: 1 } });
    try {
      // The key works for the check, then Iterable refuses it on the first export (a revoked key).
      fake.inject({ kind: 'status', path: EXPORT, status: 401 });
      const destination = freshDestination('duckdb');
      const startedAt = Date.now();
      const result = await runCli(
        ['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--streams', EXPORT_STREAMS, '--destination', destination],
        cliEnv({ ITERABLE_API_KEY: SERVER_KEY, ...REAL_LIMITS }),
      );
      const elapsedMs = Date.now() - startedAt;
      assert.equal(result.code, 3, result.stderr);
      for (const stream of EXPORT_STREAMS.split(',')) {
        assert.match(result.stdout, new RegExp(`^${stream}\\s+failed`, 'm'), `${stream} stopped`);
      }
      // No export request was sent after the refusal: the streams waiting for a slot gave up.
      const exports = fake.requests.filter((r) => r.path === EXPORT);
      assert.ok(exports.length <= 4, `${exports.length} export requests`);
      // Before: the other streams read on, 4 windows a minute, for most of an hour.
      assert.ok(elapsedMs < 60_000, `took ${elapsedMs} ms\n${result.stderr}\n${fake.requests.map((r) => `${r.at - startedAt} ${r.path} ${r.query.get('dataTypeName')} ${r.status}`).join('\n')}`);
    } finally {
      await fake.close();
    }
  });

  it('a read-only key fails the export and list-member streams at once and syncs the rest into PostgreSQL (exit 3)', async () => {
    const fake = await startFakeIterable({ rateLimits: { timeScale: 1 } });
    try {
      const destination = freshDestination('postgres');
      const startedAt = Date.now();
      const result = await runCli(
        ['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--streams', `${EXPORT_STREAMS},list_users,channels,lists,campaigns`, '--destination', destination],
        cliEnv({ ITERABLE_API_KEY: READONLY_KEY, ...REAL_LIMITS }),
      );
      const elapsedMs = Date.now() - startedAt;
      assert.equal(result.code, 3, result.stderr);
      for (const stream of [...EXPORT_STREAMS.split(','), 'list_users']) {
        assert.match(result.stdout, new RegExp(`^${stream}\\s+failed`, 'm'), `${stream} failed`);
      }
      assert.match(result.stdout, /may not call this endpoint: read-only keys cannot call \/api\/export\/\*/);
      const counts = await rowCounts(destination);
      assert.equal(counts.channels, fake.data.channels.length);
      assert.equal(counts.lists, fake.data.lists.length);
      assert.equal(counts.campaigns, fake.data.campaigns.length);
      // The refusal of one export request fails the other export streams without a request each.
      const exports = fake.requests.filter((r) => r.path === EXPORT).length;
      assert.ok(exports >= 1 && exports <= 4, `${exports} export requests`);
      // Before: eight export streams queued for 4 slots a minute.
      assert.ok(elapsedMs < 45_000, `took ${elapsedMs} ms`);
    } finally {
      await fake.close();
    }
  });
});

describe('fail fast: a window that can never succeed gives up in bounded time', () => {
  it('fails the stream after max_window_retry_minutes of a persistent 500 and completes the others, logging each retry wait', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 41 }) });
    try {
      fake.inject({ kind: 'status', path: EXPORT, dataTypeName: 'emailSend', status: 500, times: Infinity });
      const destination = freshDestination('duckdb');
      const startedAt = Date.now();
      const result = await runCli(
        [
          'sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', '30', '--streams', 'email_send,email_open,channels',
          '--destination', destination, '--max-window-retry-minutes', '0.1',
        ],
        // The real backoff (1 s base, 2 min cap): without the bound, 8 attempts a read and 6
        // halvings would keep email_send going for many minutes.
        cliEnv({ ITERABLE_API_KEY: SERVER_KEY, ITERABLE_SYNC_BACKOFF_BASE_MS: '1000', ITERABLE_SYNC_BACKOFF_MAX_MS: '120000' }),
      );
      const elapsedMs = Date.now() - startedAt;
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /email_send: export window \[2024-01-01T00:00:00\.000Z, 2024-01-31T00:00:00\.000Z\) kept failing for 0\.1 min, the max_window_retry_minutes limit/,
      );
      assert.match(result.stderr, /Everything before 2024-01-01T00:00:00\.000Z is committed; run `iterable-sync sync --streams email_send` again/);
      assert.match(result.stderr, /INFO email_send: 500 Internal Server Error; retrying in \d+\.\ds \(attempt 2\)/);
      assert.match(result.stdout, /^email_send\s+failed/m);
      assert.match(result.stdout, /^email_open\s+complete/m);
      assert.match(result.stdout, /^channels\s+complete/m);
      const counts = await rowCounts(destination);
      assert.equal(counts.channels, fake.data.channels.length);
      assert.ok((counts.email_open ?? 0) > 0);
      assert.ok(elapsedMs < 60_000, `took ${elapsedMs} ms`);
    } finally {
      await fake.close();
    }
  });

  it('takes the bound from ITERABLE_MAX_WINDOW_RETRY_MINUTES in tap mode too', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 42 }) });
    try {
      fake.inject({ kind: 'status', path: EXPORT, dataTypeName: 'emailClick', status: 500, times: Infinity });
      const result = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', '2024-03-01', '--streams', 'email_click,lists'],
        cliEnv({ ITERABLE_API_KEY: SERVER_KEY, ITERABLE_SYNC_BACKOFF_BASE_MS: '1000', ITERABLE_SYNC_BACKOFF_MAX_MS: '120000', ITERABLE_MAX_WINDOW_RETRY_MINUTES: '0.04' }),
        { timeoutMs: 60_000 },
      );
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /email_click: export window \[2024-03-01T00:00:00\.000Z, [^)]+\) kept failing for 0\.04 min/);
      assert.equal(recordsByStream(parseSinger(result.stdout)).get('lists')!.length, fake.data.lists.length);
    } finally {
      await fake.close();
    }
  });
});

describe("bookmarks never run ahead of Iterable's clock", () => {
  it("ends windows and bookmarks at Iterable's now when its clock is behind ours, with one warning", async () => {
    const behindMs = 3 * 86_400_000;
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 43 }), clockOffsetMs: -behindMs });
    try {
      const destination = freshDestination('duckdb');
      const result = await runCli(
        ['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', '60', '--streams', 'email_send,campaigns', '--destination', destination],
        cliEnv({ ITERABLE_API_KEY: SERVER_KEY }),
      );
      assert.equal(result.code, 0, result.stderr);
      const iterableNowMs = Date.now() - behindMs;
      const warnings = result.stderr.match(/this machine's clock is \d+ s ahead of Iterable's/g) ?? [];
      assert.equal(warnings.length, 1, result.stderr);
      const bookmarkMs = Date.parse(await storedBookmark(destination, 'email_send'));
      assert.ok(bookmarkMs <= iterableNowMs, `bookmark ${new Date(bookmarkMs).toISOString()} passes Iterable's now`);
      assert.ok(bookmarkMs > iterableNowMs - 120_000, 'and reaches it');
      assert.ok(Date.parse(await storedBookmark(destination, 'campaigns')) <= iterableNowMs);
      assert.ok(Math.max(...exportEnds(fake, 'emailSend')) <= iterableNowMs, 'no window ends after Iterable\'s now');
    } finally {
      await fake.close();
    }
  });

  it('warns when our clock is behind Iterable, and still ends at our own start', async () => {
    const aheadMs = 10 * 60_000;
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 44 }), clockOffsetMs: aheadMs });
    try {
      const startedAt = Date.now();
      const result = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', '2024-03-01', '--streams', 'email_send'],
        cliEnv({ ITERABLE_API_KEY: SERVER_KEY }),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /this machine's clock is (59\d|60\d) s behind Iterable's/);
      const state = parseSinger(result.stdout).filter((m) => m.type === 'STATE').at(-1)!.value!;
      const bookmarkMs = Date.parse(state.bookmarks.email_send!.createdAt!);
      assert.ok(bookmarkMs >= startedAt - 1000 && bookmarkMs <= Date.now(), 'the last window ends at our start');
    } finally {
      await fake.close();
    }
  });

  it('clamps a future bookmark in the destination to now with a warning, reads up to now and stores now', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 45 }) });
    try {
      for (const kind of ['duckdb', 'postgres'] as const) {
        const destination = freshDestination(kind);
        const args = ['sync', '--base-url', fake.url, '--start-date', '2024-03-01', '--streams', 'email_send,templates', '--destination', destination];
        const env = cliEnv({ ITERABLE_API_KEY: SERVER_KEY });
        assert.equal((await runCli(args, env)).code, 0);
        await onDestination(destination, `update ${stateTable(destination)} set bookmark = '{"createdAt":"2031-01-01T00:00:00.000000Z"}' where stream = 'email_send'`);
        await onDestination(destination, `update ${stateTable(destination)} set bookmark = '{"updatedAt":"2030-06-01T00:00:00.000000Z"}' where stream = 'templates'`);
        const startedAt = Date.now();
        const result = await runCli(args, env);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, /WARN email_send: the stored bookmark createdAt = 2031-01-01T00:00:00\.000000Z is in the future \(now is [^)]+ on Iterable's clock\); clamped to now/);
        assert.match(result.stderr, /WARN templates: the stored bookmark updatedAt = 2030-06-01T00:00:00\.000000Z is in the future/);
        for (const stream of ['email_send', 'templates']) {
          const bookmarkMs = Date.parse(await storedBookmark(destination, stream));
          assert.ok(bookmarkMs >= startedAt - 1000 && bookmarkMs <= Date.now(), `${kind} ${stream}: bookmark moved back to now`);
        }
        // The stream read the lookback before now (60 minutes), ending at now.
        const last = fake.requests.filter((r) => r.path === EXPORT && r.at >= startedAt);
        assert.equal(last.length, 1, `${kind}: one window`);
        assert.ok(Date.parse(`${last[0]!.query.get('endDateTime')!.replace(' ', 'T')}Z`) >= startedAt - 1000);
      }
    } finally {
      await fake.close();
    }
  });

  it('clamps a future bookmark of a tap state file and still emits STATE, even with no lookback', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 46 }) });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'iterable-sync-future-'));
      const statePath = join(dir, 'state.json');
      await writeFile(statePath, JSON.stringify({ bookmarks: { email_open: { createdAt: '2031-01-01T00:00:00.000000Z' } } }));
      const startedAt = Date.now();
      const result = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', '2024-03-01', '--streams', 'email_open', '--state', statePath, '--lookback-minutes', '0'],
        cliEnv({ ITERABLE_API_KEY: SERVER_KEY }),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /WARN email_open: the stored bookmark createdAt = 2031-01-01T00:00:00\.000000Z is in the future/);
      const states = parseSinger(result.stdout).filter((m) => m.type === 'STATE');
      assert.ok(states.length >= 1, 'a STATE message');
      const bookmarkMs = Date.parse(states.at(-1)!.value!.bookmarks.email_open!.createdAt!);
      assert.ok(bookmarkMs >= startedAt - 1000 && bookmarkMs <= Date.now(), 'STATE holds now, not 2031');
    } finally {
      await fake.close();
    }
  });
});

describe('a bookmark that is not a valid instant is refused (exit 2), never read again from start_date', () => {
  const garbage = ['{"createdAt":"not-a-date"}', '{}', 'null'];

  it('in a tap state file', async () => {
    const fake = await startFakeIterable();
    try {
      const dir = await mkdtemp(join(tmpdir(), 'iterable-sync-garbage-'));
      for (const bookmark of [...garbage, '{"updatedAt":"2024-03-01T00:00:00Z"}']) {
        const statePath = join(dir, 'state.json');
        await writeFile(statePath, `{"bookmarks": {"email_send": ${bookmark}}}`);
        const result = await runCli(
          ['tap', '--base-url', fake.url, '--start-date', '2024-03-01', '--streams', 'email_send', '--state', statePath],
          cliEnv({ ITERABLE_API_KEY: SERVER_KEY }),
        );
        assert.equal(result.code, 2, `${bookmark}: ${result.stderr}`);
        assert.equal(result.stdout, '', `${bookmark}: no Singer message`);
        assert.match(result.stderr, /bookmark.* email_send|bookmarks\.email_send/, bookmark);
      }
      assert.equal(fake.requests.filter((r) => r.path === EXPORT).length, 0, 'nothing was read');
    } finally {
      await fake.close();
    }
  });

  it('in the state table of DuckDB and PostgreSQL', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 47 }) });
    try {
      for (const kind of ['duckdb', 'postgres'] as const) {
        const destination = freshDestination(kind);
        const args = ['sync', '--base-url', fake.url, '--start-date', '2024-03-01', '--streams', 'email_send', '--destination', destination];
        const env = cliEnv({ ITERABLE_API_KEY: SERVER_KEY });
        assert.equal((await runCli(args, env)).code, 0);
        const before = await storedBookmark(destination, 'email_send');
        for (const bookmark of [...garbage.map((g) => `'${g}'`), 'NULL']) {
          await onDestination(destination, `update ${stateTable(destination)} set bookmark = ${bookmark} where stream = 'email_send'`);
          const exportsBefore = fake.requests.filter((r) => r.path === EXPORT).length;
          const result = await runCli(args, env);
          assert.equal(result.code, 2, `${kind} ${bookmark}: ${result.stderr}`);
          assert.match(result.stderr, /stored bookmark of (stream )?"?email_send.*iterable-sync reset --streams email_send/, `${kind} ${bookmark}`);
          assert.equal(fake.requests.filter((r) => r.path === EXPORT).length, exportsBefore, `${kind} ${bookmark}: nothing was read`);
        }
        await onDestination(destination, `update ${stateTable(destination)} set bookmark = '${JSON.stringify({ createdAt: before })}' where stream = 'email_send'`);
        assert.equal((await runCli(args, env)).code, 0, 'a valid bookmark syncs again');
      }
    } finally {
      await fake.close();
    }
  });
});
