/**
 * `npm run bench`: end-to-end throughput of one large export window.
 *
 * Starts the fake Iterable API with N generated `emailSend` rows in one window (no rate limits),
 * then, in one run: (1) the raw baseline — the same export fetched and JSON.parse'd line by line,
 * nothing else; (2) `iterable-sync sync --streams email_send` into a fresh DuckDB file, as a child
 * process; (3) the same into PostgreSQL (DATABASE_URL, or a throwaway server started by the npm
 * script). Prints rows/s, wall time and the child's peak RSS, and the ratio product / baseline.
 *
 * Options (env): BENCH_ROWS (default 1000000), BENCH_TARGETS (default "duckdb,postgres"),
 * BENCH_SERVER (default "generated"): how the export is served.
 * - `generated`: the fake generates the rows as it sends them, in this process, on the same
 *   cores as the client (about 3 s of CPU per million rows, printed with BENCH_DEBUG=1): the
 *   measure issue 10's targets were set with.
 * - `file`: the fake's export is rendered once into a file before any measurement, and a small
 *   server in this process sends that file for data.json (everything else goes to the fake). The
 *   server then costs almost no CPU, as Iterable's servers cost the client none: the client's
 *   own cost, and a much faster baseline.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { generateFakeData, startFakeIterable } from '../src/fake-iterable/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const TARGETS = (process.env.BENCH_TARGETS ?? 'duckdb,postgres').split(',');
const SERVER = process.env.BENCH_SERVER ?? 'generated';
if (SERVER !== 'file' && SERVER !== 'generated') throw new Error(`BENCH_SERVER must be file or generated, not ${SERVER}`);
const START = new Date('2024-01-01T00:00:00Z');
const END = new Date('2024-01-02T00:00:00Z');

interface Measure {
  name: string;
  rows: number;
  seconds: number;
  peakRssMb: number;
}

const EXPORT_PATH = '/api/export/data.json';
const EXPORT_QUERY = '?dataTypeName=emailSend&startDateTime=2024-01-01+00:00:00&endDateTime=2024-01-02+00:00:00';

/**
 * BENCH_SERVER=file: renders the fake's export of the window into `file` once, then serves that
 * file for every data.json request whose window holds the whole of it (anything else is refused,
 * so that a run reading another window fails loudly) and forwards every other request to the fake.
 */
async function startFileServer(fakeUrl: string, file: string): Promise<{ url: string; close: () => Promise<void> }> {
  const rendered = await request(`${fakeUrl}${EXPORT_PATH}${EXPORT_QUERY}`, { headers: { 'Api-Key': 'bench' } });
  await pipeline(rendered.body, createWriteStream(file));
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://bench');
    if (url.pathname === EXPORT_PATH) {
      const start = Date.parse(`${url.searchParams.get('startDateTime')?.replace(' ', 'T')}Z`);
      const end = Date.parse(`${url.searchParams.get('endDateTime')?.replace(' ', 'T')}Z`);
      if (url.searchParams.get('dataTypeName') !== 'emailSend' || !(start <= START.getTime() && end >= END.getTime())) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`the bench server holds emailSend of [${START.toISOString()}, ${END.toISOString()}) only`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-json-stream' });
      createReadStream(file, { highWaterMark: 1 << 16 }).pipe(res);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string' && name !== 'host' && name !== 'connection') headers[name] = value;
    request(`${fakeUrl}${req.url}`, { method: req.method as 'GET', headers, body: req.method === 'GET' ? null : req })
      .then(async (upstream) => {
        res.writeHead(upstream.statusCode, { 'content-type': String(upstream.headers['content-type'] ?? 'application/json') });
        await pipeline(upstream.body, res);
      })
      .catch((error: unknown) => res.destroy(error as Error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function baseline(url: string): Promise<Measure> {
  const started = process.hrtime.bigint();
  const { body } = await request(`${url}${EXPORT_PATH}${EXPORT_QUERY}`, { headers: { 'Api-Key': 'bench' } });
  let rows = 0;
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of body as AsyncIterable<Buffer>) {
    let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      if (nl > start) {
        JSON.parse(buf.toString('utf8', start, nl));
        rows++;
      }
      start = nl + 1;
    }
    rest = buf.subarray(start);
    buf = rest;
  }
  if (rest.length) {
    JSON.parse(rest.toString('utf8'));
    rows++;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { name: 'baseline (fetch + JSON.parse)', rows, seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

function peakRssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function product(url: string, destination: string, name: string): Promise<Measure> {
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist/src/cli/main.js'), 'sync', '--streams', 'email_send', '--base-url', url, '--start-date', START.toISOString(), '--window-days', '2000', '--destination', destination],
    { env: { ...process.env, ITERABLE_API_KEY: 'bench', ITERABLE_SYNC_RATE_LIMIT_SCALE: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, peakRssOf(child.pid!))), 50);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(poll);
  const cpu = process.cpuUsage(cpu0);
  if (process.env.BENCH_DEBUG) console.log(`  (fake + bench process CPU during the run: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s)`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${name}: sync exited ${code}\n${stderr.slice(-2000)}`);
  const rows = Number(/^email_send\s+complete\s+(\d+)/m.exec(stdout)?.[1] ?? 'NaN');
  return { name, rows, seconds, peakRssMb: peak };
}

function line(m: Measure, base?: Measure): string {
  const rate = m.rows / m.seconds;
  const ratio = base ? `  ${(rate / (base.rows / base.seconds)).toFixed(2)}× baseline` : '';
  return `${m.name.padEnd(34)} ${String(m.rows).padStart(9)} rows  ${m.seconds.toFixed(2).padStart(7)} s  ${Math.round(rate).toLocaleString('en-US').padStart(9)} rows/s  peak RSS ${m.peakRssMb.toFixed(0).padStart(4)} MB${ratio}`;
}

const fake = await startFakeIterable({ keys: 'any', data: generateFakeData({ start: START, end: END, generated: { emailSend: ROWS } }) });
const dir = mkdtempSync(join(tmpdir(), 'iterable-sync-bench-'));
const served = SERVER === 'file' ? await startFileServer(fake.url, join(dir, 'export.ndjson')) : { url: fake.url, close: async () => undefined };
try {
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ` +
      `${ROWS.toLocaleString('en-US')} emailSend rows in one window, served ${SERVER === 'file' ? 'from a file rendered before the runs' : 'as the fake generates them'} (BENCH_SERVER=${SERVER})`,
  );
  const base = await baseline(served.url);
  console.log(line(base));
  if (base.rows !== ROWS) throw new Error(`baseline read ${base.rows} rows, expected ${ROWS}`);
  for (const target of TARGETS) {
    let destination: string;
    if (target === 'duckdb') destination = `duckdb:${join(dir, 'bench.duckdb')}`;
    else {
      if (!process.env.DATABASE_URL) {
        console.log('postgres: skipped (no DATABASE_URL; `npm run bench` starts a server)');
        continue;
      }
      const url = new URL(process.env.DATABASE_URL);
      url.searchParams.set('schema', `bench_${randomBytes(3).toString('hex')}`);
      destination = url.toString();
    }
    const m = await product(served.url, destination, `iterable-sync sync → ${target}`);
    console.log(line(m, base));
    if (m.rows !== ROWS) throw new Error(`${target}: ${m.rows} rows landed, expected ${ROWS}`);
  }
} finally {
  await served.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
