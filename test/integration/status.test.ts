import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDestination } from '../../src/destinations/destination-factory.js';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, collect, runCli, spawnCli } from './cli-harness.js';
import { freshDestination, qualified, rowsOf } from './db-snapshot.js';

const KEY = 'test-server-key';
const START = '2024-01-01';

interface StatusJson {
  destination: string;
  last_run: { run_id: string; outcome: string; exit_code: number | null; ended_at: string | null; rows: number } | null;
  streams: Array<{
    stream: string;
    bookmark: string | null;
    rows: number | null;
    last_run: { run_id: string; status: string; run_outcome: string; error: string | null } | null;
    behind_seconds: number | null;
    behind: string | null;
  }>;
}

interface SummaryJson {
  run_id: string;
  started_at: string;
  ended_at: string;
  outcome: string;
  exit_code: number;
  totals: { rows: number };
  streams: Array<{ stream: string; status: string; rows: number; error: string | null }>;
}



function sync(fake: FakeIterable, destination: string, extra: string[] = []) {
  return runCli(['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, ...extra], cliEnv({ ITERABLE_API_KEY: KEY }));
}

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`run history and status (${kind})`, () => {
    it('records each run in _iterable_sync_runs, writes --summary-json, and status shows bookmark, rows, last run and lag', async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 31, events: { emailSend: 300, emailOpen: 100 } }) });
      try {
        const destination = freshDestination(kind);
        const summaryPath = join(mkdtempSync(join(tmpdir(), 'iterable-sync-summary-')), 'summary.json');
        const first = await sync(fake, destination, ['--summary-json', summaryPath]);
        assert.equal(first.code, 0, first.stderr);
        const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as SummaryJson;
        assert.equal(summary.outcome, 'complete');
        assert.equal(summary.exit_code, 0);
        assert.equal(summary.streams.length, 16);
        const sends = await rowsOf(destination, `select count(*) as n from ${qualified(destination, 'email_send')}`);
        assert.equal(summary.streams.find((s) => s.stream === 'email_send')?.rows, Number(sends[0]!.n));

        // A second run: one stream fails for good (400 is not retried), the others complete.
        fake.inject({ kind: 'status', path: '/api/messageTypes', status: 400, times: Infinity });
        const second = await sync(fake, destination, ['--summary-json', summaryPath]);
        assert.equal(second.code, 1, second.stderr);
        const partial = JSON.parse(readFileSync(summaryPath, 'utf8')) as SummaryJson;
        assert.equal(partial.outcome, 'partial');
        assert.equal(partial.exit_code, 1);
        assert.notEqual(partial.run_id, summary.run_id);
        assert.equal(partial.streams.find((s) => s.stream === 'message_types')?.status, 'failed');
        assert.match(partial.streams.find((s) => s.stream === 'message_types')?.error ?? '', /400/);

        const runs = await rowsOf(destination, `select run_id, outcome, exit_code, ended_at, rows from ${qualified(destination, '_iterable_sync_runs')} order by started_at`);
        assert.deepEqual(
          runs.map((r) => [r.run_id, r.outcome, Number(r.exit_code)]),
          [
            [summary.run_id, 'complete', 0],
            [partial.run_id, 'partial', 1],
          ],
        );
        assert.ok(runs.every((r) => r.ended_at instanceof Date));
        assert.equal(Number(runs[0]!.rows), summary.totals.rows);
        const streamRows = await rowsOf(
          destination,
          `select stream, status, rows from ${qualified(destination, '_iterable_sync_run_streams')} where run_id = '${partial.run_id}' order by stream`,
        );
        assert.equal(streamRows.length, 16);
        assert.deepEqual(
          streamRows.filter((r) => r.status === 'failed').map((r) => r.stream),
          ['message_types'],
        );

        const status = await runCli(['status', '--destination', destination, '--format', 'json'], cliEnv());
        assert.equal(status.code, 0, status.stderr);
        const report = JSON.parse(status.stdout) as StatusJson;
        assert.equal(report.last_run?.run_id, partial.run_id);
        assert.equal(report.last_run?.outcome, 'partial');
        const bookmarks = await rowsOf(destination, `select stream, bookmark from ${qualified(destination, '_iterable_sync_state')}`);
        const send = report.streams.find((s) => s.stream === 'email_send')!;
        const storedSend = bookmarks.find((b) => b.stream === 'email_send')!.bookmark as { createdAt: string };
        assert.equal(send.bookmark, storedSend.createdAt);
        assert.equal(send.rows, Number(sends[0]!.n));
        assert.equal(send.last_run?.run_id, partial.run_id);
        assert.equal(send.last_run?.status, 'complete');
        // The bookmark is the second run's start: its data is seconds behind, not days.
        assert.ok(send.behind_seconds !== null && send.behind_seconds >= 0 && send.behind_seconds < 600, JSON.stringify(send));
        const types = report.streams.find((s) => s.stream === 'message_types')!;
        assert.equal(types.last_run?.status, 'failed');
        assert.match(types.last_run?.error ?? '', /400/);
        assert.ok(types.rows !== null && types.rows > 0, 'the first run loaded message_types');

        const text = await runCli(['status', '--destination', destination], cliEnv());
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, new RegExp(`Last run: ${partial.run_id}, .*: partial, exit 1`));
        assert.match(text.stdout, /^email_send\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\d+\s+\S+ \S+\s+complete\s+\d+ s$/m);
        assert.match(text.stdout, /^message_types\s+\(full table\)\s+\d+\s+\S+ \S+\s+failed\s+/m);
        assert.match(text.stdout, /message_types failed in run .*400/);
      } finally {
        await fake.close();
      }
    });

    it('a run killed with SIGKILL leaves its row as running, and status says so', async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 32, events: { emailSend: 300 } }) });
      try {
        const destination = freshDestination(kind);
        for (let i = 0; i < 400; i++) fake.inject({ kind: 'slow', path: '/api/export/data.json', msPerChunk: 15 });
        const child = spawnCli(
          ['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, '--window-days', '5', '--streams', 'email_send'],
          cliEnv({ ITERABLE_API_KEY: KEY }),
        );
        child.stderr!.on('data', (d: Buffer) => {
          if (d.toString().includes(' committed (') && child.exitCode === null && !child.killed) child.kill('SIGKILL');
        });
        const killed = await collect(child, 120_000);
        assert.equal(killed.signal, 'SIGKILL', killed.stderr.slice(-500));
        const runs = await rowsOf(destination, `select outcome, ended_at, streams from ${qualified(destination, '_iterable_sync_runs')}`);
        assert.equal(runs.length, 1);
        assert.equal(runs[0]!.outcome, 'running');
        assert.equal(runs[0]!.ended_at, null);
        assert.equal(runs[0]!.streams, 'email_send');

        const status = await runCli(['status', '--destination', destination], cliEnv());
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, /Last run: .*still running or killed \(no end recorded\)/);
        assert.match(status.stdout, /^email_send\s+\d{4}-\d\d-\d\d/m);
      } finally {
        await fake.close();
      }
    });
  });
}

describe('status errors', () => {
  it('a missing DuckDB file is an error (exit 2), and status does not create it', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'iterable-sync-status-')), 'missing.duckdb');
    const result = await runCli(['status', '--destination', `duckdb:${path}`], cliEnv());
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /no DuckDB file at .*missing\.duckdb; run `iterable-sync sync` first/);
    assert.equal(result.stdout, '');
    assert.throws(() => readFileSync(path), /ENOENT/);
  });

  it('a PostgreSQL schema without iterable-sync data is an error (exit 2)', async () => {
    const destination = freshDestination('postgres');
    const result = await runCli(['status', '--destination', destination], cliEnv());
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /holds no iterable-sync data; run `iterable-sync sync/);
  });

  it('a run that fails before its streams is recorded as failed, with its error and exit code', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 34 }) });
    try {
      const destination = freshDestination('duckdb');
      const first = await sync(fake, destination, ['--streams', 'channels']);
      assert.equal(first.code, 0, first.stderr);
      // A stored bookmark that is no bookmark stops the run before any stream (exit 2).
      const db = (await openDestination(destination)) as Awaited<ReturnType<typeof openDestination>> & { query(sql: string): Promise<unknown> };
      await db.open();
      await db.query(`insert into _iterable_sync_state values ('email_send', '[1]', now())`);
      await db.close();
      const summaryPath = join(mkdtempSync(join(tmpdir(), 'iterable-sync-summary-')), 'summary.json');
      const failed = await sync(fake, destination, ['--streams', 'email_send', '--summary-json', summaryPath]);
      assert.equal(failed.code, 2, failed.stderr);
      const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as SummaryJson & { error: string | null };
      assert.equal(summary.outcome, 'failed');
      assert.equal(summary.exit_code, 2);
      assert.match(summary.error ?? '', /bookmark of stream "email_send"/);
      const runs = await rowsOf(destination, 'select outcome, exit_code, error from _iterable_sync_runs order by started_at');
      assert.deepEqual(runs.map((r) => [r.outcome, Number(r.exit_code)]), [['complete', 0], ['failed', 2]]);
      assert.match(String(runs[1]!.error), /bookmark of stream "email_send"/);
    } finally {
      await fake.close();
    }
  });

  it('a summary that cannot be written is an error, and the run exits 1 (recorded so)', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 33 }) });
    try {
      const destination = freshDestination('duckdb');
      const folder = mkdtempSync(join(tmpdir(), 'iterable-sync-summary-'));
      mkdirSync(join(folder, 'taken'));
      const result = await sync(fake, destination, ['--streams', 'channels', '--summary-json', join(folder, 'taken')]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /could not write the summary to .*taken: .*; check that the file is writable/);
      assert.match(result.stdout, /^channels\s+complete/m);
      const runs = await rowsOf(destination, 'select outcome, exit_code from _iterable_sync_runs');
      assert.deepEqual(runs.map((r) => [r.outcome, Number(r.exit_code)]), [['complete', 1]]);
    } finally {
      await fake.close();
    }
  });

  it('--summary-json into a folder that does not exist is refused before the run (exit 2)', async () => {
    const destination = freshDestination('duckdb');
    const result = await runCli(
      ['sync', '--base-url', 'http://127.0.0.1:9', '--start-date', START, '--destination', destination, '--summary-json', '/nonexistent-folder/s.json'],
      cliEnv({ ITERABLE_API_KEY: KEY }),
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--summary-json \/nonexistent-folder\/s\.json: folder \/nonexistent-folder does not exist/);
  });
});
