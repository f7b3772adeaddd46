import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateFakeData, startFakeIterable, type FakeIterable, type FakeIterableOptions } from '../../src/fake-iterable/server.js';
import { cliEnv, collect, parseSinger, recordsByStream, runCli, spawnCli, type CliResult } from './cli-harness.js';
import { freshDestination, snapshot, storedBookmarks } from './db-snapshot.js';
import { contentOf, expectedCounts, expectedExport, userDateFields } from './expected-records.js';

const KEY = 'test-server-key';
const START = '2024-01-01';
/** The 9 seed export streams and the export type of each. */
const EXPORT_STREAMS: Record<string, string> = {
  email_send: 'emailSend',
  email_open: 'emailOpen',
  email_click: 'emailClick',
  email_bounce: 'emailBounce',
  email_complaint: 'emailComplaint',
  email_send_skip: 'emailSendSkip',
  email_subscribe: 'emailSubscribe',
  email_unsubscribe: 'emailUnSubscribe',
  users: 'user',
};
const SIGNED_FILE = '/signed/exports/{jobId}/{file}';

/**
 * A fake whose export jobs run 200 times faster than Iterable's (a job queues 10 ms and starts
 * 50 ms after it runs) and write small files, so one stream's job has several. Its file URLs last
 * a day, so only the injected 403 of the expiry test expires one, however loaded the machine.
 */
function jobsFake(seed: number, exportJobs: NonNullable<FakeIterableOptions['exportJobs']> = {}): Promise<FakeIterable> {
  return startFakeIterable({
    data: generateFakeData({ seed }),
    exportJobs: { timeScale: 200, fileBytes: 64 * 1024, maxRunning: 20, urlExpiryMs: 24 * 3_600_000, ...exportJobs },
  });
}

function sync(fake: FakeIterable, destination: string, mode: 'jobs' | 'stream' | 'auto', streams: string, extra: string[] = [], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(
    ['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, '--streams', streams, '--export-mode', mode, ...extra],
    cliEnv({ ITERABLE_API_KEY: KEY, ...env }),
    { timeoutMs: 180_000 },
  );
}

async function assertSameTables(actual: string, expected: string, why: string): Promise<void> {
  const [a, b] = [await snapshot(expected), await snapshot(actual)];
  assert.deepEqual([...b.keys()], [...a.keys()], why);
  for (const table of a.keys()) assert.deepEqual(b.get(table), a.get(table), `${table}: ${why}`);
}

function requestsTo(fake: FakeIterable, method: string, pattern: RegExp) {
  return fake.requests.filter((r) => r.method === method && pattern.test(r.path));
}

/** Most of our jobs unfinished at one instant, by the fake's record of each job's start and end. */
function mostJobsAtOnce(fake: FakeIterable): number {
  const edges = fake.jobs.all().flatMap((job) => [
    { at: job.createdAt, delta: 1 },
    { at: job.endTime ?? Number.POSITIVE_INFINITY, delta: -1 },
  ]);
  edges.sort((x, y) => x.at - y.at || x.delta - y.delta);
  let now = 0;
  let most = 0;
  for (const edge of edges) {
    now += edge.delta;
    most = Math.max(most, now);
  }
  return most;
}

const SEED_EXPORTS = Object.keys(EXPORT_STREAMS).join(',');

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`export jobs into ${kind}`, () => {
    it('jobs mode lands the same tables and bookmarks as stream mode, at most 4 jobs at once, no key sent to file URLs', async () => {
      const fake = await jobsFake(61);
      try {
        const streamed = freshDestination(kind);
        const viaJobs = freshDestination(kind);
        const streamRun = await sync(fake, streamed, 'stream', SEED_EXPORTS);
        assert.equal(streamRun.code, 0, streamRun.stderr);
        const before = fake.requests.length;
        const jobsRun = await sync(fake, viaJobs, 'jobs', SEED_EXPORTS);
        assert.equal(jobsRun.code, 0, jobsRun.stderr);
        const during = fake.requests.slice(before);
        assert.equal(during.filter((r) => r.path === '/api/export/data.json').length, 0, 'jobs mode reads no data.json window');
        const starts = during.filter((r) => r.method === 'POST' && r.path === '/api/export/start');
        assert.equal(starts.length, 9, 'one job per stream for its whole range');
        const downloads = during.filter((r) => r.path.startsWith('/signed/'));
        assert.ok(downloads.length > 9, `several files per job (${downloads.length})`);
        for (const r of downloads) assert.equal(r.headers['api-key'], undefined, 'no Api-Key on a signed URL');
        for (const r of downloads) assert.equal(r.status, 200);
        assert.ok(mostJobsAtOnce(fake) <= 4, `at most 4 of our jobs at once (saw ${mostJobsAtOnce(fake)})`);
        assert.match(jobsRun.stderr, /email_send: reading through Iterable's export jobs \(export_mode is jobs\)/);

        await assertSameTables(viaJobs, streamed, 'jobs mode differs from stream mode');
        const counts = expectedCounts(fake.data, EXPORT_STREAMS);
        const snap = await snapshot(viaJobs);
        for (const stream of Object.keys(EXPORT_STREAMS)) assert.equal(snap.get(stream)?.length, counts[stream], `${stream} rows`);
        const [a, b] = [await storedBookmarks(streamed), await storedBookmarks(viaJobs)];
        assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
        for (const [stream, bookmark] of Object.entries(b)) {
          assert.deepEqual(Object.keys(bookmark), Object.keys(a[stream]!), `${stream}: the bookmark holds the replication key only`);
        }

        // A second sync in auto mode reads one window from each bookmark: data.json, no job.
        const jobsBefore = fake.jobs.all().length;
        const incremental = await sync(fake, viaJobs, 'auto', SEED_EXPORTS);
        assert.equal(incremental.code, 0, incremental.stderr);
        assert.equal(fake.jobs.all().length, jobsBefore, 'an incremental auto run starts no job');
        await assertSameTables(viaJobs, streamed, 'an incremental run changed the tables');
      } finally {
        await fake.close();
      }
    });
  });
}

describe('export jobs: failures', () => {
  it('a truncated export is read again in halves; the rows match stream mode', async () => {
    const fake = await jobsFake(62, { maxExportBytes: 300 * 1024 });
    try {
      const streamed = freshDestination('duckdb');
      const viaJobs = freshDestination('duckdb');
      assert.equal((await sync(fake, streamed, 'stream', 'email_send')).code, 0);
      const result = await sync(fake, viaJobs, 'jobs', 'email_send');
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /email_send: the export job for \[.*\) was truncated \(exportTruncated\); reading it again in two halves/);
      assert.ok(requestsTo(fake, 'POST', /^\/api\/export\/start$/).length >= 3, 'the halves are jobs of their own');
      await assertSameTables(viaJobs, streamed, 'truncated export');
    } finally {
      await fake.close();
    }
  });

  it('a failed job is started again; one that keeps failing fails its stream alone, naming the range', async () => {
    const fake = await jobsFake(63);
    try {
      const streamed = freshDestination('duckdb');
      const viaJobs = freshDestination('duckdb');
      assert.equal((await sync(fake, streamed, 'stream', 'email_send,email_open')).code, 0);
      fake.jobs.addRule({ kind: 'fail', dataTypeName: 'emailSend', afterFiles: 1 });
      fake.jobs.addRule({ kind: 'cancel', dataTypeName: 'emailOpen', afterFiles: 0 });
      const recovered = await sync(fake, viaJobs, 'jobs', 'email_send,email_open');
      assert.equal(recovered.code, 0, recovered.stderr);
      assert.match(recovered.stderr, /email_send: export job \d+ for \[.*\) ended failed; starting it again \(1 of 3\)/);
      assert.match(recovered.stderr, /email_open: export job \d+ for \[.*\) ended (cancelled|cancelling); starting it again/);
      await assertSameTables(viaJobs, streamed, 'after a failed and a cancelled job');

      const failing = freshDestination('duckdb');
      fake.jobs.addRule({ kind: 'fail', dataTypeName: 'emailSend', times: 10 });
      const failed = await sync(fake, failing, 'jobs', 'email_send,email_click');
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /email_send: the export job for \[2024-01-01T00:00:00\.000Z, \d{4}-.*\) ended failed 4 times/);
      assert.match(failed.stdout, /email_click\s+complete/);
      assert.match(failed.stdout, /email_send\s+failed/);
    } finally {
      fake.jobs.clearRules();
      await fake.close();
    }
  });

  it('an expired file URL is listed again for a fresh one; a file cut mid-body is read again without duplicates', async () => {
    const fake = await jobsFake(64);
    try {
      const streamed = freshDestination('postgres');
      const viaJobs = freshDestination('postgres');
      assert.equal((await sync(fake, streamed, 'stream', 'email_send')).code, 0);
      const expired = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>';
      fake.inject({ kind: 'status', path: SIGNED_FILE, status: 403, body: expired });
      fake.inject({ kind: 'cut', path: SIGNED_FILE, afterLines: 40 });
      const result = await sync(fake, viaJobs, 'jobs', 'email_send');
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /email_send: the URL of \S+ \(export job \d+\) expired; listing the files again/);
      assert.match(result.stderr, /email_send: file \S+ of export job \d+ broke off; reading it again/);
      const refused = fake.requests.findIndex((r) => r.path.startsWith('/signed/') && r.status === 403);
      assert.ok(refused >= 0);
      assert.ok(
        fake.requests.slice(refused + 1).some((r) => /^\/api\/export\/\d+\/files$/.test(r.path)),
        'the files were listed again after the 403',
      );
      assert.ok(!result.stderr.includes('X-Amz-Signature') && !result.stderr.includes('signature='), 'no signature in the logs');
      await assertSameTables(viaJobs, streamed, 'after an expired URL and a cut file');
    } finally {
      await fake.close();
    }
  });
});

describe('export jobs: kill -9', () => {
  it('a run killed mid-job resumes the job after its last committed file, and ends identical to stream mode', async () => {
    // Slow jobs: about 1 s per file, so the run is killed with the job still running.
    const fake = await jobsFake(65, { timeScale: 20, fileBytes: 32 * 1024, bytesPerSecond: 64 * 1024 });
    try {
      const streamed = freshDestination('duckdb');
      assert.equal((await sync(fake, streamed, 'stream', 'email_send')).code, 0);
      const crashed = freshDestination('duckdb');
      const args = ['sync', '--base-url', fake.url, '--start-date', START, '--destination', crashed, '--streams', 'email_send', '--export-mode', 'jobs'];
      const env = cliEnv({ ITERABLE_API_KEY: KEY, ITERABLE_SYNC_LOG_LEVEL: 'debug' });
      const child = spawnCli(args, env);
      let files = 0;
      child.stderr!.on('data', (d: Buffer) => {
        files += (d.toString().match(/email_send: file \S+ of export job \d+ committed/g) ?? []).length;
        if (files >= 2 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
      const killed = await collect(child, 120_000);
      assert.equal(killed.signal, 'SIGKILL', killed.stderr.slice(-800));
      const stored = (await storedBookmarks(crashed)).email_send!;
      assert.ok(stored.export_job_id && stored.export_job_file, `the job position is stored: ${JSON.stringify(stored)}`);
      assert.equal(stored.createdAt, '2024-01-01T00:00:00.000000Z', 'the bookmark has not moved mid-job');

      const before = fake.requests.length;
      const resumed = await runCli(args, cliEnv({ ITERABLE_API_KEY: KEY }), { timeoutMs: 180_000 });
      assert.equal(resumed.code, 0, resumed.stderr);
      const after = fake.requests.slice(before);
      // The old job is resumed; one new job reads only what came after its range.
      assert.equal(after.filter((r) => r.method === 'POST' && r.path === '/api/export/start').length, 1, resumed.stderr);
      const oldEnd = `${stored.export_job_end!.slice(0, 23)}Z`;
      assert.match(resumed.stderr, new RegExp(`email_send: export job \\d+ started for \\[${oldEnd.replace(/\./g, '\\.')}, `));
      const firstList = after.find((r) => r.path === `/api/export/${stored.export_job_id}/files`);
      assert.equal(firstList?.query.get('startAfter'), stored.export_job_file, 'listing resumes after the last committed file');
      assert.ok(!after.some((r) => r.path.startsWith('/signed/') && r.path.endsWith(`/${stored.export_job_file}`)), 'committed files are not downloaded again');
      await assertSameTables(crashed, streamed, 'after kill -9 and resume');
      const final = (await storedBookmarks(crashed)).email_send!;
      assert.deepEqual(Object.keys(final), ['createdAt']);
    } finally {
      await fake.close();
    }
  });

  it('jobs a killed run left queued or running are cancelled at the start of a run that does not resume them', async () => {
    // email_send's job stays queued a long while; email_open's runs slowly.
    const fake = await jobsFake(66, { timeScale: 20, fileBytes: 32 * 1024, bytesPerSecond: 2048 });
    try {
      fake.jobs.addRule({ kind: 'hold', dataTypeName: 'emailSend', ms: 20 * 60_000 });
      const destination = freshDestination('postgres');
      const args = ['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, '--streams', 'email_send,email_open', '--export-mode', 'jobs'];
      const child = spawnCli(args, cliEnv({ ITERABLE_API_KEY: KEY }));
      let started = 0;
      child.stderr!.on('data', (d: Buffer) => {
        started += (d.toString().match(/export job \d+ started/g) ?? []).length;
        if (started >= 2 && child.exitCode === null && !child.killed) setTimeout(() => child.kill('SIGKILL'), 300);
      });
      const killed = await collect(child, 120_000);
      assert.equal(killed.signal, 'SIGKILL', killed.stderr.slice(-800));
      const left = fake.jobs.all().filter((j) => j.state === 'enqueued' || j.state === 'running');
      assert.equal(left.length, 2, 'the killed run left both jobs behind');
      // The next run reads through data.json (--full-refresh would do the same): nothing resumes them.
      const next = await runCli([...args.slice(0, -2), '--export-mode', 'stream'], cliEnv({ ITERABLE_API_KEY: KEY }), { timeoutMs: 180_000 });
      assert.equal(next.code, 0, next.stderr);
      for (const job of left) {
        assert.ok(requestsTo(fake, 'DELETE', new RegExp(`^/api/export/${job.id}$`)).length === 1, `job ${job.id} cancelled`);
        assert.match(next.stderr, new RegExp(`cancelled export job ${job.id} \\((enqueued|running)\\), left by an earlier run`));
      }
      assert.ok(requestsTo(fake, 'GET', /^\/api\/export\/jobs$/).length >= 1, 'the jobs were looked up first');
      for (const job of left) assert.ok(['cancelling', 'cancelled'].includes(fake.jobs.get(job.id)!.state));
    } finally {
      await fake.close();
    }
  });
});

describe('export jobs: pacing and queues', () => {
  it("keeps the job calls of every stream within Iterable's 1 request a second: no 429", async () => {
    // Limits and jobs both 10 times faster than Iterable's: 10 files calls a second in all.
    const fake = await startFakeIterable({
      data: generateFakeData({ seed: 67 }),
      rateLimits: { timeScale: 10 },
      exportJobs: { timeScale: 10, fileBytes: 64 * 1024, maxRunning: 20 },
    });
    try {
      const destination = freshDestination('duckdb');
      const result = await sync(fake, destination, 'jobs', SEED_EXPORTS, [], { ITERABLE_SYNC_RATE_LIMIT_SCALE: '10' });
      assert.equal(result.code, 0, result.stderr);
      const listings = requestsTo(fake, 'GET', /^\/api\/export\/\d+\/files$/);
      assert.ok(listings.length > 9, `the jobs were polled (${listings.length} calls)`);
      const refused = fake.requests.filter((r) => r.status === 429).map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(refused, [], 'no request was refused with 429');
    } finally {
      await fake.close();
    }
  });

  it('reports a job that stays queued at Iterable, with its stream, id and time queued', async () => {
    const fake = await jobsFake(68);
    try {
      // Held enqueued about 1.5 s (300 s of Iterable time at 200x).
      fake.jobs.addRule({ kind: 'hold', dataTypeName: 'emailClick', ms: 300_000 });
      const result = await sync(fake, freshDestination('duckdb'), 'jobs', 'email_click', [], { ITERABLE_SYNC_JOB_QUEUED_REPORT_MS: '400' });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /email_click: export job \d+ has been queued at Iterable for \d+ s \(Iterable runs 4 export jobs at a time/);
    } finally {
      fake.jobs.clearRules();
      await fake.close();
    }
  });
});

describe('export jobs: tap', () => {
  it('emits the same records as data.json, STATE with the job position while a job runs, and a final STATE without it', async () => {
    const fake = await jobsFake(69);
    try {
      const result = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', START, '--streams', 'email_open,users', '--export-mode', 'jobs'],
        cliEnv({ ITERABLE_API_KEY: KEY }),
        { timeoutMs: 180_000 },
      );
      assert.equal(result.code, 0, result.stderr);
      const messages = parseSinger(result.stdout);
      const byStream = recordsByStream(messages);
      for (const [stream, type] of [['email_open', 'emailOpen'], ['users', 'user']] as const) {
        const expected = expectedExport(fake.data, type, stream === 'users' ? userDateFields(fake.data) : undefined);
        assert.deepEqual(contentOf(byStream.get(stream) ?? []), contentOf(expected), `${stream}: records`);
      }
      const states = messages.filter((m) => m.type === 'STATE').map((m) => m.value!.bookmarks);
      assert.ok(states.some((b) => b.email_open?.export_job_file !== undefined), 'a STATE carries the job position mid-job');
      const last = states[states.length - 1]!;
      assert.deepEqual(Object.keys(last.email_open!), ['createdAt']);
      assert.deepEqual(Object.keys(last.users!), ['profileUpdatedAt']);
    } finally {
      await fake.close();
    }
  });
});
