import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, runCli } from './cli-harness.js';
import { freshDestination, snapshot, storedBookmarks } from './db-snapshot.js';
import { expectedExport } from './expected-records.js';

const KEY = 'test-server-key';
const START = '2023-12-01';
const EXPORT = '/api/export/data.json';
/** The seed of email_send, as the Python tap-iterable writes bookmarks. */
const SEED = '2024-02-15T00:00:00.000000Z';
const LOOKBACK_MS = 60 * 60_000;

function sync(fake: FakeIterable, destination: string, extra: string[]) {
  return runCli(['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, ...extra], cliEnv({ ITERABLE_API_KEY: KEY }));
}

async function stateFile(state: unknown): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'iterable-sync-state-')), 'state.json');
  await writeFile(path, JSON.stringify(state));
  return path;
}

/** The start of the first export window the fake was asked for, for one data type. */
function firstExportStart(fake: FakeIterable, dataTypeName: string): number {
  const starts = fake.requests
    .filter((r) => r.path === EXPORT && r.query.get('dataTypeName') === dataTypeName)
    .map((r) => Date.parse(`${r.query.get('startDateTime')!.replace(' ', 'T')}Z`));
  assert.ok(starts.length > 0, `the fake was asked for ${dataTypeName}`);
  return Math.min(...starts);
}

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`sync --state seeds the bookmarks of ${kind}`, () => {
    it('seeds the streams without a bookmark, says which and from what, and reads only after the seed', async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 41 }) });
      try {
        const destination = freshDestination(kind);
        const first = await sync(fake, destination, ['--streams', 'email_open']);
        assert.equal(first.code, 0, first.stderr);
        const openBookmark = (await storedBookmarks(destination)).email_open!.createdAt!;
        // The same instant written another way (milliseconds, not microseconds) is no conflict.
        const openSameInstant = new Date(openBookmark).toISOString();
        assert.notEqual(openSameInstant, openBookmark);
        const state = await stateFile({
          currently_syncing: null,
          bookmarks: { email_send: { createdAt: SEED }, email_open: { createdAt: openSameInstant }, users: { profileUpdatedAt: SEED } },
        });

        fake.requests.length = 0;
        const result = await sync(fake, destination, ['--streams', 'email_send,email_open,email_click', '--state', state]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, new RegExp(`email_send: seeded bookmark createdAt = ${SEED.replace(/\./g, '\\.')} from state file ${state}`));
        assert.doesNotMatch(result.stderr, /email_open: seeded|email_click: seeded|users: seeded/);
        assert.match(result.stderr, /bookmarks of users not seeded: not synced in this run/);

        // email_send starts at the seed minus the lookback; email_click (no bookmark anywhere) at start_date.
        assert.equal(firstExportStart(fake, 'emailSend'), Date.parse(SEED) - LOOKBACK_MS);
        assert.equal(firstExportStart(fake, 'emailClick'), Date.parse(START));
        assert.ok(firstExportStart(fake, 'emailOpen') >= Date.parse(openBookmark) - LOOKBACK_MS, 'email_open kept its own bookmark');

        const rows = await snapshot(destination);
        const sends = expectedExport(fake.data, 'emailSend');
        const afterSeed = sends.filter((r) => Date.parse(String(r.createdAt)) >= Date.parse(SEED) - LOOKBACK_MS);
        assert.ok(afterSeed.length > 0 && afterSeed.length < sends.length, 'the seed splits the data');
        assert.equal(rows.get('email_send')!.length, afterSeed.length);
        assert.equal(rows.get('email_click')!.length, expectedExport(fake.data, 'emailClick').length);

        const bookmarks = await storedBookmarks(destination);
        assert.ok(Date.parse(bookmarks.email_send!.createdAt!) > Date.parse(SEED), 'the bookmark moved on from the seed');
        assert.equal(bookmarks.users, undefined, 'a stream outside the run is not seeded');
      } finally {
        await fake.close();
      }
    });

    it('stores the seed up front: a stream whose first window fails keeps it for the next run', async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 42 }) });
      try {
        const destination = freshDestination(kind);
        const state = await stateFile({ bookmarks: { email_send: { createdAt: SEED } } });
        fake.inject({ kind: 'status', path: EXPORT, dataTypeName: 'emailSend', status: 400, times: Number.POSITIVE_INFINITY });
        const failed = await sync(fake, destination, ['--streams', 'email_send', '--state', state]);
        assert.equal(failed.code, 1, failed.stderr);
        assert.match(failed.stderr, /email_send: seeded bookmark/);
        assert.deepEqual((await storedBookmarks(destination)).email_send, { createdAt: SEED });

        fake.clearFaults();
        fake.requests.length = 0;
        const again = await sync(fake, destination, ['--streams', 'email_send']);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(firstExportStart(fake, 'emailSend'), Date.parse(SEED) - LOOKBACK_MS, 'the next run (without --state) starts at the seed');
      } finally {
        await fake.close();
      }
    });

    it('refuses a bookmark that conflicts with the destination, naming both values, before reading anything', async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 43 }) });
      try {
        const destination = freshDestination(kind);
        const first = await sync(fake, destination, ['--streams', 'email_send']);
        assert.equal(first.code, 0, first.stderr);
        const stored = (await storedBookmarks(destination)).email_send!.createdAt!;
        const state = await stateFile({ bookmarks: { email_send: { createdAt: SEED }, email_click: { createdAt: SEED } } });

        fake.requests.length = 0;
        const result = await sync(fake, destination, ['--streams', 'email_send,email_click', '--state', state]);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /email_send/);
        assert.ok(result.stderr.includes(SEED) && result.stderr.includes(stored), `both values named: ${result.stderr}`);
        assert.match(result.stderr, /reset --streams email_send/);
        assert.deepEqual(fake.requests.filter((r) => r.path === EXPORT), [], 'nothing was read');
        const bookmarks = await storedBookmarks(destination);
        assert.deepEqual(Object.keys(bookmarks), ['email_send'], 'nothing was seeded');
        assert.equal(bookmarks.email_send!.createdAt, stored);
      } finally {
        await fake.close();
      }
    });
  });
}

describe('sync --state refusals', () => {
  it('refuses --state with --full-refresh, and a bookmark without the stream\'s replication key', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 44 }) });
    try {
      const destination = freshDestination('duckdb');
      const good = await stateFile({ bookmarks: { email_send: { createdAt: SEED } } });
      const both = await sync(fake, destination, ['--streams', 'email_send', '--state', good, '--full-refresh']);
      assert.equal(both.code, 2, both.stderr);
      assert.match(both.stderr, /--state .* --full-refresh/);

      const wrongKey = await stateFile({ bookmarks: { users: { updatedAt: SEED } } });
      const result = await sync(fake, destination, ['--streams', 'users', '--state', wrongKey]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /bookmark of users has no "profileUpdatedAt"/);
      assert.deepEqual(fake.requests.filter((r) => r.path === EXPORT), [], 'nothing was read');
    } finally {
      await fake.close();
    }
  });
});
