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
 * BENCH_SERVE=PORT (only serve the fake on that port, until interrupted).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { generateFakeData, startFakeIterable } from '../src/fake-iterable/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const TARGETS = (process.env.BENCH_TARGETS ?? 'duckdb,postgres').split(',');
const START = new Date('2024-01-01T00:00:00Z');
const END = new Date('2024-01-02T00:00:00Z');

interface Measure {
  name: string;
  rows: number;
  seconds: number;
  peakRssMb: number;
  /**
   * CPU seconds (user + system, every thread) of the sync, and of this process (the fake)
   * meanwhile; `whole` when the database runs inside the sync (DuckDB), not in a server of its own.
   */
  cpu?: { sync: number; fake: number; whole: boolean };
}

async function baseline(url: string): Promise<Measure> {
  const started = process.hrtime.bigint();
  const { body } = await request(`${url}/api/export/data.json?dataTypeName=emailSend&startDateTime=2024-01-01+00:00:00&endDateTime=2024-01-02+00:00:00`, {
    headers: { 'Api-Key': 'bench' },
  });
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

/** User + system CPU seconds of a live process, every thread (`/proc/PID/stat`, in ticks of 1/100 s). */
function cpuSecondsOf(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
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
  let syncCpu = 0;
  const poll = setInterval(() => {
    peak = Math.max(peak, peakRssOf(child.pid!));
    syncCpu = cpuSecondsOf(child.pid!) ?? syncCpu;
  }, 50);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(poll);
  const fake = process.cpuUsage(cpu0);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${name}: sync exited ${code}\n${stderr.slice(-2000)}`);
  const rows = Number(/^email_send\s+complete\s+(\d+)/m.exec(stdout)?.[1] ?? 'NaN');
  return { name, rows, seconds, peakRssMb: peak, cpu: { sync: syncCpu, fake: (fake.user + fake.system) / 1e6, whole: destination.startsWith('duckdb:') } };
}

function line(m: Measure, base?: Measure): string {
  const rate = m.rows / m.seconds;
  const ratio = base ? `  ${(rate / (base.rows / base.seconds)).toFixed(2)}× baseline` : '';
  let text = `${m.name.padEnd(34)} ${String(m.rows).padStart(9)} rows  ${m.seconds.toFixed(2).padStart(7)} s  ${Math.round(rate).toLocaleString('en-US').padStart(9)} rows/s  peak RSS ${m.peakRssMb.toFixed(0).padStart(4)} MB${ratio}`;
  if (m.cpu) {
    // The sync and the fake share the machine's cores: their CPU per row bounds the rate whatever
    // runs in parallel.
    const perRow = (seconds: number): string => `${((seconds / m.rows) * 1e6).toFixed(1)} µs/row`;
    text += `\n${''.padEnd(34)} CPU: sync ${m.cpu.sync.toFixed(1)} s (${perRow(m.cpu.sync)}), fake ${m.cpu.fake.toFixed(1)} s (${perRow(m.cpu.fake)})`;
    if (m.cpu.whole) {
      const bound = (m.rows * cpus().length) / (m.cpu.sync + m.cpu.fake);
      text += `: at most ${Math.round(bound).toLocaleString('en-US')} rows/s on ${cpus().length} cores`;
      if (base) text += ` (${(bound / (base.rows / base.seconds)).toFixed(2)}× baseline)`;
    } else {
      text += `, and the database server's own`;
    }
  }
  return text;
}

// The fake generates the rows as it serves them, in this process, on the same cores: its CPU time
// (about 3 s per million rows, printed under each sync) is part of every run below.
const fake = await startFakeIterable({
  keys: 'any',
  data: generateFakeData({ start: START, end: END, generated: { emailSend: ROWS } }),
  ...(process.env.BENCH_SERVE ? { port: Number(process.env.BENCH_SERVE) } : {}),
});
if (process.env.BENCH_SERVE) {
  // Serve only, for syncs of several builds against the same fake (README "Development").
  console.log(`${fake.url}: ${ROWS.toLocaleString('en-US')} emailSend rows from ${START.toISOString()} (Ctrl-C stops)`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
  await fake.close();
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'iterable-sync-bench-'));
try {
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${ROWS.toLocaleString('en-US')} emailSend rows in one window`);
  const base = await baseline(fake.url);
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
    const m = await product(fake.url, destination, `iterable-sync sync → ${target}`);
    console.log(line(m, base));
    if (m.rows !== ROWS) throw new Error(`${target}: ${m.rows} rows landed, expected ${ROWS}`);
  }
} finally {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
