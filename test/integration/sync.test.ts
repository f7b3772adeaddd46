import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDestination } from '../../src/destinations/destination-factory.js';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, collect, runCli, spawnCli } from './cli-harness.js';
import { freshDestination, rowCounts, snapshot } from './db-snapshot.js';
import { expectedCounts } from './expected-records.js';

const KEY = 'test-server-key';
const START = '2023-12-01';


async function sync(fake: FakeIterable, destination: string, extra: string[] = []) {
  return runCli(['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, ...extra], cliEnv({ ITERABLE_API_KEY: KEY }));
}

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`sync into ${kind}`, () => {
    it('lands every stream with the rows Iterable holds, and a second sync adds no duplicate', async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 21 }) });
      try {
        const destination = freshDestination(kind);
        const first = await sync(fake, destination);
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stdout, /email_send\s+complete/);
        assert.match(first.stdout, /^total\s+\d+/m);
        const counts = await rowCounts(destination);
        const expected = expectedCounts(fake.data);
        for (const [table, n] of Object.entries(expected)) assert.equal(counts[table], n, `${table} rows`);

        const before = await snapshot(destination, { list_users: ['updatedAt'] });
        // A full re-read (bookmarks ignored) upserts the same events: nothing duplicates.
        const again = await sync(fake, destination, ['--full-refresh']);
        assert.equal(again.code, 0, again.stderr);
        assert.deepEqual(await snapshot(destination, { list_users: ['updatedAt'] }), before);

        const reset = await runCli(['reset', '--destination', destination, '--streams', 'email_send,users'], cliEnv());
        assert.equal(reset.code, 0, reset.stderr);
        assert.match(reset.stdout, /Forgot the bookmarks of email_send, users/);
        const db = await openDestination(destination);
        await db.open();
        const state = await db.readState();
        await db.close();
        assert.equal(state.bookmarks.email_send, undefined);
        assert.ok(state.bookmarks.email_open?.createdAt, 'other bookmarks stay');
      } finally {
        await fake.close();
      }
    });

    it('ends identical to an uninterrupted sync after SIGKILLs at several points', async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 22 }) });
      try {
        const clean = freshDestination(kind);
        const cleanRun = await sync(fake, clean, ['--window-days', '5']);
        assert.equal(cleanRun.code, 0, cleanRun.stderr);

        const crashed = freshDestination(kind);
        const env = cliEnv({ ITERABLE_API_KEY: KEY });
        const args = ['sync', '--base-url', fake.url, '--start-date', START, '--destination', crashed, '--window-days', '5'];
        // Kill points: after the 1st, the 7th and the 20th commit of a run, plus a random delay.
        for (const commitsBeforeKill of [1, 7, 20]) {
          fake.clearFaults();
          for (let i = 0; i < 400; i++) fake.inject({ kind: 'slow', path: '/api/export/data.json', msPerChunk: 15 });
          const child = spawnCli(args, env);
          let commits = 0;
          child.stderr!.on('data', (d: Buffer) => {
            commits += (d.toString().match(/ committed \(/g) ?? []).length;
            if (commits >= commitsBeforeKill && child.exitCode === null && !child.killed) {
              setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 40));
            }
          });
          const result = await collect(child, 120_000);
          assert.equal(result.signal, 'SIGKILL', `run killed after ${commitsBeforeKill} commits (exit ${result.code}): ${result.stderr.slice(-500)}`);
        }
        fake.clearFaults();
        const finalRun = await runCli(args, env);
        assert.equal(finalRun.code, 0, finalRun.stderr);
        const omit = { list_users: ['updatedAt'] };
        const [a, b] = [await snapshot(clean, omit), await snapshot(crashed, omit)];
        assert.deepEqual([...b.keys()], [...a.keys()]);
        for (const table of a.keys()) assert.deepEqual(b.get(table), a.get(table), `${table} differs after kill -9 and resume`);
      } finally {
        await fake.close();
      }
    });
  });
}
