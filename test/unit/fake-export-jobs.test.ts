/**
 * The fake's asynchronous export jobs (spec §3.13) over real HTTP. Job timing runs on a manual
 * clock, so every state asserted here is exact and no test waits on wall time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateFakeData,
  startFakeIterable,
  type FakeIterable,
  type FakeIterableOptions,
} from '../../src/fake-iterable/server.js';

const KEY = 'test-server-key';
const DATA = generateFakeData({});
const RANGE = { startDateTime: '2024-01-01 00:00:00', endDateTime: '2024-03-01 00:00:00 +00:00' };

interface FilesPage {
  jobId: number;
  jobState: string;
  exportTruncated: boolean;
  files: { file: string; url: string }[];
}

/** A fake whose jobs run on `clock.now`: 1 s queue delay, 1 s startup, 100 kB/s, 20 kB files, 2 files a page. */
async function withJobs<T>(
  body: (fake: FakeIterable, clock: { now: number }) => Promise<T>,
  options: FakeIterableOptions = {},
): Promise<T> {
  const clock = { now: Date.UTC(2024, 5, 1) };
  const fake = await startFakeIterable({
    data: DATA,
    ...options,
    exportJobs: {
      clock: () => clock.now,
      queueDelayMs: 1000,
      startupMs: 1000,
      bytesPerSecond: 100_000,
      fileBytes: 20_000,
      filesPageSize: 2,
      ...options.exportJobs,
    },
  });
  try {
    return await body(fake, clock);
  } finally {
    await fake.close();
  }
}

async function call(fake: FakeIterable, method: string, path: string, body?: unknown, headers: Record<string, string> = { 'Api-Key': KEY }) {
  const res = await fetch(fake.url + path, {
    method,
    headers: body === undefined ? headers : { ...headers, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function startJob(fake: FakeIterable, request: Record<string, unknown>): Promise<number> {
  const res = await call(fake, 'POST', '/api/export/start', { outputFormat: 'application/x-json-stream', ...request });
  assert.equal(res.status, 200, res.text);
  const body = JSON.parse(res.text) as { jobId: number };
  assert.deepEqual(Object.keys(body), ['jobId']);
  return body.jobId;
}

async function files(fake: FakeIterable, jobId: number, startAfter?: string): Promise<FilesPage> {
  const query = startAfter === undefined ? '' : `?startAfter=${encodeURIComponent(startAfter)}`;
  const res = await call(fake, 'GET', `/api/export/${jobId}/files${query}`);
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text) as FilesPage;
}

/** Every file listed so far, paging with startAfter; the state seen on the last page. */
async function allFiles(fake: FakeIterable, jobId: number): Promise<{ state: string; truncated: boolean; files: { file: string; url: string }[] }> {
  const out: { file: string; url: string }[] = [];
  let page = await files(fake, jobId);
  for (;;) {
    out.push(...page.files);
    if (page.files.length === 0) break;
    page = await files(fake, jobId, page.files.at(-1)?.file);
  }
  return { state: page.jobState, truncated: page.exportTruncated, files: out };
}

async function download(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

async function dataJsonLines(fake: FakeIterable, dataTypeName: string): Promise<string[]> {
  const res = await call(fake, 'GET', `/api/export/data.json?${new URLSearchParams({ dataTypeName, ...RANGE }).toString()}`);
  assert.equal(res.status, 200);
  return lines(res.text);
}

describe('fake export jobs', () => {
  it('runs a job from enqueued to completed, listing files while it runs; the files hold exactly what data.json returns', async () => {
    await withJobs(async (fake, clock) => {
      for (const dataTypeName of ['emailSend', 'user']) {
        const jobId = await startJob(fake, { dataTypeName, ...RANGE });
        const first = await files(fake, jobId);
        assert.deepEqual(first, { jobId, jobState: 'enqueued', exportTruncated: false, files: [] });

        clock.now += 2500; // queued 1 s, started 1 s, then 0.5 s of export: about 50 kB
        const running = await allFiles(fake, jobId);
        assert.equal(running.state, 'running');
        assert.ok(running.files.length >= 1, 'files appear while the job runs');

        clock.now += 60_000;
        const done = await allFiles(fake, jobId);
        assert.equal(done.state, 'completed');
        assert.equal(done.truncated, false);
        assert.ok(done.files.length > running.files.length, `${dataTypeName}: more files after the run (${done.files.length})`);
        assert.deepEqual(done.files.slice(0, running.files.length).map((f) => f.file), running.files.map((f) => f.file));
        const names = done.files.map((f) => f.file);
        assert.deepEqual([...names].sort(), names, 'pages come in name order');
        assert.equal(new Set(names).size, names.length);
        for (const name of names) assert.match(name, /^file-\d{13}\.json$/);

        const fromFiles: string[] = [];
        for (const { url } of done.files) {
          assert.ok(new URL(url).pathname.startsWith('/signed/'), url);
          const res = await download(url);
          assert.equal(res.status, 200, res.text);
          assert.ok(Buffer.byteLength(res.text) <= 20_000, 'a file stays under the size cap');
          assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(res.text)));
          fromFiles.push(...lines(res.text));
        }
        const fromDataJson = await dataJsonLines(fake, dataTypeName);
        assert.ok(fromDataJson.length > 100);
        assert.deepEqual(fromFiles, fromDataJson, `${dataTypeName}: the files, in order, are data.json's lines`);
      }
      const logged = fake.requests.map((r) => `${r.method} ${r.path.replace(/\d+/g, 'N')}`);
      assert.ok(logged.includes('POST /api/export/start'));
      const startBody = fake.requests.find((r) => r.method === 'POST')?.body as Record<string, unknown> | undefined;
      assert.equal(startBody?.dataTypeName, 'emailSend', 'the log keeps the start request body');
      assert.ok(logged.includes('GET /api/export/N/files'));
      assert.ok(logged.some((l) => l.startsWith('GET /signed/exports/N/file-N.json')));
    });
  });

  it('runs at most 4 jobs at once; the rest stay enqueued until a slot frees', async () => {
    await withJobs(async (fake, clock) => {
      const ids: number[] = [];
      for (let i = 0; i < 6; i++) ids.push(await startJob(fake, { dataTypeName: 'emailSend', ...RANGE }));
      clock.now += 1100;
      const states = async () => Promise.all(ids.map(async (id) => (await files(fake, id)).jobState));
      assert.deepEqual(await states(), ['running', 'running', 'running', 'running', 'enqueued', 'enqueued']);
      const list = async (state: string) => {
        const res = await call(fake, 'GET', `/api/export/jobs?jobState=${state}`);
        assert.equal(res.status, 200, res.text);
        return (JSON.parse(res.text) as { jobs: { id: number; jobState: string; dataTypeName: string }[] }).jobs;
      };
      assert.deepEqual((await list('running')).map((j) => j.id).sort(), ids.slice(0, 4));
      assert.deepEqual((await list('QUEUED')).map((j) => j.id).sort(), ids.slice(4));
      assert.equal((await list('enqueued'))[0]?.dataTypeName, 'emailSend');

      // DELETE a running job: cancelling holds its slot for 2 s, then cancelled frees it.
      const cancelled = await call(fake, 'DELETE', `/api/export/${ids[0]}`);
      assert.equal(cancelled.status, 200);
      assert.deepEqual(JSON.parse(cancelled.text), { msg: '', code: 'Success', params: null });
      assert.equal((await files(fake, ids[0] as number)).jobState, 'cancelling');
      assert.equal((await files(fake, ids[4] as number)).jobState, 'enqueued');
      clock.now += 2000;
      assert.deepEqual(await states(), ['cancelled', 'running', 'running', 'running', 'running', 'enqueued']);
      const again = await call(fake, 'DELETE', `/api/export/${ids[0]}`);
      assert.equal(again.status, 400);
      assert.equal((JSON.parse(again.text) as { code: string }).code, 'BadParams');

      // A queued job is cancelled at once.
      assert.equal((await call(fake, 'DELETE', `/api/export/${ids[5]}`)).status, 200);
      assert.equal((await files(fake, ids[5] as number)).jobState, 'cancelled');
      clock.now += 600_000;
      assert.deepEqual(await states(), ['cancelled', 'completed', 'completed', 'completed', 'completed', 'cancelled']);
      const model = (await list('completed')).find((j) => j.id === ids[1]) as Record<string, unknown> | undefined;
      assert.ok(model !== undefined);
      assert.deepEqual(Object.keys(model).sort(), ['bytesExported', 'dataTypeName', 'endTime', 'id', 'jobState', 'scheduledStartTime']);
      assert.ok((model.bytesExported as number) > 0);
      assert.equal((await call(fake, 'GET', '/api/export/jobs?jobState=sleeping')).status, 400);
    });
  });

  it('fails, cancels or requeues a job on a rule, keeping the files already listed', async () => {
    await withJobs(async (fake, clock) => {
      fake.jobs.addRule({ kind: 'fail', dataTypeName: 'emailSend', afterFiles: 2 });
      fake.jobs.addRule({ kind: 'cancel', dataTypeName: 'emailOpen', afterFiles: 1 });
      fake.jobs.addRule({ kind: 'requeue', dataTypeName: 'emailClick', ms: 5000 });
      fake.jobs.addRule({ kind: 'hold', dataTypeName: 'user', ms: 30_000 });
      const failed = await startJob(fake, { dataTypeName: 'emailSend', ...RANGE });
      const cancelled = await startJob(fake, { dataTypeName: 'emailOpen', ...RANGE });
      const requeued = await startJob(fake, { dataTypeName: 'emailClick', ...RANGE });
      const held = await startJob(fake, { dataTypeName: 'user', ...RANGE });
      clock.now += 1000 + 4000; // running 4 s
      const f = await allFiles(fake, failed);
      assert.equal(f.state, 'failed');
      assert.equal(f.files.length, 2);
      assert.equal((await allFiles(fake, cancelled)).files.length, 1);
      assert.equal((await files(fake, cancelled)).jobState, 'cancelled');
      assert.equal((await files(fake, requeued)).jobState, 'enqueued');
      assert.equal((await files(fake, held)).jobState, 'enqueued');
      clock.now += 2000; // requeued waited 5 s in all
      assert.equal((await files(fake, requeued)).jobState, 'running');
      clock.now += 60_000;
      const r = await allFiles(fake, requeued);
      assert.equal(r.state, 'completed');
      const got = (await Promise.all(r.files.map(async ({ url }) => lines((await download(url)).text)))).flat();
      assert.deepEqual(got.sort(), (await dataJsonLines(fake, 'emailClick')).sort(), 'a requeued job keeps its progress: no row lost or doubled');
      assert.equal((await files(fake, held)).jobState, 'completed');

      // The same through the API the tests call directly.
      const direct = await startJob(fake, { dataTypeName: 'emailSend', ...RANGE });
      clock.now += 1500;
      fake.jobs.requeue(direct, 5000);
      assert.equal((await files(fake, direct)).jobState, 'enqueued');
      fake.jobs.fail(direct);
      assert.equal((await files(fake, direct)).jobState, 'failed');
    });
  });

  it('sets exportTruncated above the size cap and exports only whole lines below it', async () => {
    await withJobs(async (fake, clock) => {
      const jobId = await startJob(fake, { dataTypeName: 'emailSend', ...RANGE });
      clock.now += 600_000;
      const done = await allFiles(fake, jobId);
      assert.equal(done.state, 'completed');
      assert.equal(done.truncated, true);
      const texts = await Promise.all(done.files.map(async ({ url }) => (await download(url)).text));
      const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
      assert.ok(bytes <= 50_000 && bytes > 40_000, `${bytes} bytes`);
      const all = new Set(await dataJsonLines(fake, 'emailSend'));
      for (const line of texts.flatMap(lines)) assert.ok(all.has(line));
    }, { exportJobs: { maxExportBytes: 50_000 } });
  });

  it('serves files on signed URLs that refuse the API key and expire after 30 minutes (S3 errors)', async () => {
    await withJobs(async (fake, clock) => {
      const jobId = await startJob(fake, { dataTypeName: 'emailBounce', ...RANGE });
      clock.now += 600_000;
      const [file] = (await files(fake, jobId)).files;
      assert.ok(file !== undefined);

      const withKey = await download(file.url, { 'Api-Key': KEY });
      assert.equal(withKey.status, 400);
      assert.match(withKey.text, /<Code>InvalidArgument<\/Code>/);
      assert.equal(withKey.headers.get('content-type'), 'application/xml');
      assert.equal((await download(file.url)).status, 200);
      assert.equal((await download(file.url.replace(/Signature=[0-9a-f]{4}/, 'Signature=0000'))).status, 403);

      clock.now += 30 * 60_000 - 1;
      assert.equal((await download(file.url)).status, 200);
      clock.now += 1;
      const expired = await download(file.url);
      assert.equal(expired.status, 403);
      assert.match(expired.text, /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
      // The files call hands out fresh URLs.
      const [fresh] = (await files(fake, jobId)).files;
      assert.equal(fresh?.file, file.file);
      assert.equal((await download(fresh.url)).status, 200);
    });
  });

  it('validates the start request like Iterable and has no status route', async () => {
    await withJobs(async (fake) => {
      const bad = async (body: unknown, code = 'BadParams', status = 400) => {
        const res = await call(fake, 'POST', '/api/export/start', body);
        assert.equal(res.status, status, res.text);
        assert.equal((JSON.parse(res.text) as { code: string }).code, code, res.text);
        return JSON.parse(res.text) as { msg: string };
      };
      const ok = { dataTypeName: 'emailSend', outputFormat: 'application/x-json-stream' };
      assert.match((await bad({ outputFormat: ok.outputFormat })).msg, /dataTypeName/);
      assert.match((await bad({ ...ok, dataTypeName: 'emailSends' })).msg, /Invalid dataTypeName/);
      assert.match((await bad({ dataTypeName: 'emailSend' })).msg, /outputFormat/);
      assert.match((await bad({ ...ok, outputFormat: 'application/json' })).msg, /Invalid outputFormat/);
      assert.match((await bad({ ...ok, outputFormat: 'text/csv' })).msg, /text\/csv/);
      assert.match((await bad({ ...ok, startDateTime: '2024-01-01' })).msg, /startDateTime/);
      assert.match((await bad({ ...ok, onlyFields: ['email'] })).msg, /onlyFields/);
      await bad('{"dataTypeName":', 'BadJsonBody');
      await bad(undefined, 'BadJsonBody');

      const onlyFields = await startJob(fake, { ...ok, ...RANGE, dataTypeName: 'emailunsubscribe', onlyFields: 'email, campaignId' });
      assert.equal(fake.jobs.get(onlyFields)?.request.dataType, 'emailUnSubscribe');
      assert.deepEqual(fake.jobs.get(onlyFields)?.request.onlyFields, ['email', 'campaignId']);

      const status = await call(fake, 'GET', `/api/export/${onlyFields}/status`);
      assert.equal(status.status, 404);
      assert.match(status.text, /Action not found/);
      assert.equal((await call(fake, 'GET', '/api/export/start')).status, 404);
      assert.equal((await call(fake, 'GET', '/api/export/999999/files')).status, 400);
      assert.equal((await call(fake, 'GET', '/api/export/abc/files')).status, 400);
      assert.equal((await call(fake, 'POST', '/api/export/start', ok, { 'Api-Key': 'test-readonly-key' })).status, 401);
      assert.equal((await call(fake, 'POST', '/api/export/start', ok, {})).status, 401);
    });
  });

  it('limits start, files and DELETE to 1 request a second each (429 with the endpoint)', async () => {
    // timeScale 0.1: a second lasts ten, a wide margin on a busy machine.
    await withJobs(async (fake) => {
      const ok = { dataTypeName: 'emailSend', outputFormat: 'application/x-json-stream' };
      const first = await call(fake, 'POST', '/api/export/start', ok);
      assert.equal(first.status, 200);
      const second = await call(fake, 'POST', '/api/export/start', ok);
      assert.equal(second.status, 429);
      assert.deepEqual(JSON.parse(second.text), {
        msg: `Exceeded rate limit of 1.0 per second for endpoint: /api/export/start, project: ${DATA.projectId} `,
        code: 'RateLimitExceeded',
        params: {},
      });
      const { jobId } = JSON.parse(first.text) as { jobId: number };
      assert.equal((await call(fake, 'GET', `/api/export/${jobId}/files`)).status, 200);
      assert.equal((await call(fake, 'GET', `/api/export/${jobId}/files`)).status, 429);
      assert.equal((await call(fake, 'GET', '/api/export/jobs')).status, 200);
      assert.equal((await call(fake, 'GET', '/api/export/jobs')).status, 200);
      assert.equal((await call(fake, 'DELETE', `/api/export/${jobId}`)).status, 200);
      assert.equal((await call(fake, 'DELETE', `/api/export/${jobId}`)).status, 429);
    }, { rateLimits: { timeScale: 0.1 }, exportJobs: {} });
  });

  it('applies fault rules to start, files, jobs, DELETE and the download (cut mid-body)', async () => {
    await withJobs(async (fake, clock) => {
      fake.inject({ kind: 'status', path: '/api/export/start', status: 503, dataTypeName: 'emailOpen' });
      const refused = await call(fake, 'POST', '/api/export/start', { dataTypeName: 'emailOpen', outputFormat: 'application/x-json-stream' });
      assert.equal(refused.status, 503);
      const jobId = await startJob(fake, { dataTypeName: 'emailOpen', ...RANGE });
      fake.inject({ kind: 'status', path: '/api/export/{jobId}/files', status: 500 });
      assert.equal((await call(fake, 'GET', `/api/export/${jobId}/files`)).status, 500);
      fake.inject({ kind: 'status', path: '/api/export/jobs', status: 502 });
      assert.equal((await call(fake, 'GET', '/api/export/jobs')).status, 502);
      clock.now += 600_000;
      const [file] = (await files(fake, jobId)).files;
      assert.ok(file !== undefined);
      const whole = (await download(file.url)).text;

      fake.inject({ kind: 'cut', path: '/signed/exports/{jobId}/{file}', dataTypeName: 'emailOpen', afterLines: 10 });
      const res = await fetch(file.url);
      assert.equal(res.status, 200);
      await assert.rejects(res.text(), 'a cut file ends before its Content-Length');
      assert.equal((await download(file.url)).text, whole, 'the next download is whole');

      fake.inject({ kind: 'status', path: '/api/export/{jobId}', status: 500 });
      const other = await startJob(fake, { dataTypeName: 'emailOpen', ...RANGE });
      assert.equal((await call(fake, 'DELETE', `/api/export/${other}`)).status, 500);
      assert.equal((await call(fake, 'DELETE', `/api/export/${other}`)).status, 200);
    });
  });

  it('signed URLs last 30 minutes at any time scale (the client downloads at real speed)', async () => {
    await withJobs(async (fake, clock) => {
      const jobId = await startJob(fake, { dataTypeName: 'emailBounce', ...RANGE });
      clock.now += 600_000;
      const [file] = (await files(fake, jobId)).files;
      assert.ok(file !== undefined);
      clock.now += 30 * 60_000 - 1;
      assert.equal((await download(file.url)).status, 200);
      clock.now += 1;
      assert.equal((await download(file.url)).status, 403);
    }, { exportJobs: { timeScale: 200 } });
  });

  it('runs on the real clock too, scaled by timeScale', async () => {
    const fake = await startFakeIterable({ data: DATA, exportJobs: { timeScale: 1000 } });
    try {
      const jobId = await startJob(fake, { dataTypeName: 'emailComplaint', ...RANGE });
      // 2 s queue + 10 s startup at 1000× is 12 ms; allow ten seconds on a busy machine.
      const deadline = Date.now() + 10_000;
      let page = await files(fake, jobId);
      while (page.jobState !== 'completed' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        page = await files(fake, jobId);
      }
      assert.equal(page.jobState, 'completed');
      assert.equal(page.files.length, 1);
    } finally {
      await fake.close();
    }
  });
});
