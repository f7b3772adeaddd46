/**
 * `npm run bench:backfill`: the same first sync (backfill) of all 16 seed streams over three
 * years, run twice against the fake Iterable API enforcing Iterable's real rate limits, sped up
 * by a time scale: once with `--export-mode stream` (data.json windows, 4 calls a minute) and
 * once with `--export-mode jobs` (asynchronous export jobs, issue 12).
 *
 * Each mode gets a fresh fake in this process with `rateLimits: { timeScale: S }` (its export jobs
 * run on the same scale) and the built CLI as a child (`iterable-sync sync` into a fresh DuckDB
 * file) with ITERABLE_SYNC_RATE_LIMIT_SCALE=S, so both sides divide every rate-limit period by S
 * (S=60: data.json 4 per second, export/start and /files 60 per second). Row counts are modest:
 * the run is about requests and waiting, not bytes.
 *
 * Prints per mode the requests per endpoint (from the fake's log), the 429s (target 0), the wall
 * time (spawn to exit) and the lower bound the limits allow: per rate-limited family, N accepted
 * requests under "R per P" need (ceil(N / R) - 1) scaled periods; in jobs mode also the jobs
 * themselves (the longest job's queue delay + work, and all jobs' work shared by 4 slots).
 * Families and jobs proceed in parallel, so the bound is the max. Then jobs wall / stream wall
 * (target ≤ 0.2) and whether both runs landed identical tables (every row, canonical).
 *
 * Options (env): BENCH_SCALE (default 60), BENCH_WINDOW_DAYS (default 30), BENCH_START (default
 * the first of the month 36 months ago, UTC), BENCH_MODES (default `stream,jobs`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ITERABLE_RATE_LIMITS, type RateLimitFamily } from '../src/fake-iterable/rate-limit.js';
import { generateFakeData, startFakeIterable, SIGNED_PREFIX, type RecordedRequest } from '../src/fake-iterable/server.js';
import { snapshot } from '../test/integration/db-snapshot.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCALE = Number(process.env.BENCH_SCALE ?? 60);
const WINDOW_DAYS = process.env.BENCH_WINDOW_DAYS ?? '30';
const MODES = (process.env.BENCH_MODES ?? 'stream,jobs').split(',').map((m) => m.trim()).filter((m) => m !== '');
const now = new Date();
const START = process.env.BENCH_START
  ? new Date(process.env.BENCH_START)
  : new Date(Date.UTC(now.getUTCFullYear() - 3, now.getUTCMonth(), 1));
if (!(SCALE > 0) || !Number.isFinite(SCALE)) throw new Error(`BENCH_SCALE must be a number > 0 (got ${process.env.BENCH_SCALE})`);
if (Number.isNaN(START.getTime())) throw new Error(`BENCH_START is not a date: ${process.env.BENCH_START}`);
for (const mode of MODES) if (mode !== 'stream' && mode !== 'jobs') throw new Error(`BENCH_MODES: unknown mode ${mode} (stream, jobs)`);

/** The fake's route families (src/fake-iterable/server.ts) by method and path; undefined for downloads (S3, unlimited). */
function familyOf(r: RecordedRequest): RateLimitFamily | undefined {
  const { path } = r;
  if (path.startsWith(SIGNED_PREFIX)) return undefined;
  if (path === '/api/export/data.json') return 'export';
  if (path === '/api/export/start') return 'exportStart';
  if (path === '/api/export/jobs') return 'exportJobs';
  if (/^\/api\/export\/[^/]+\/files$/.test(path)) return 'exportFiles';
  if (r.method === 'DELETE' && /^\/api\/export\/[^/]+$/.test(path)) return 'exportCancel';
  if (path === '/api/lists/getUsers') return 'listUsers';
  if (path === '/api/users/getFields') return 'userFields';
  if (path.startsWith('/api/metadata')) return 'metadata';
  const family = path.slice('/api/'.length);
  if (['campaigns', 'channels', 'lists', 'messageTypes', 'templates'].includes(family)) return family as RateLimitFamily;
  throw new Error(`unexpected request in the fake's log: ${r.method} ${path}`);
}

function endpointOf(r: RecordedRequest): string {
  const path = r.path
    .replace(/^\/api\/metadata\/[^/]+\/[^/]+$/, '/api/metadata/{table}/{key}')
    .replace(/^\/api\/metadata\/[^/]+$/, '/api/metadata/{table}')
    .replace(/^\/api\/export\/\d+\/files$/, '/api/export/{jobId}/files')
    .replace(/^\/api\/export\/\d+$/, '/api/export/{jobId}')
    .replace(new RegExp(`^${SIGNED_PREFIX}.*$`), `${SIGNED_PREFIX}{jobId}/{file}`);
  return `${r.method} ${path}`;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const data = generateFakeData({
  start: START,
  end: now,
  users: 2000,
  events: {
    emailSend: 10_000,
    emailOpen: 4000,
    emailClick: 1200,
    emailBounce: 200,
    emailComplaint: 40,
    emailSendSkip: 500,
    emailSubscribe: 600,
    emailUnSubscribe: 250,
  },
});

interface ModeResult {
  mode: string;
  code: number | null;
  wallMs: number;
  lowerMs: number;
  binding: string;
  tooMany: number;
  /** Every table's rows, canonical and sorted (test/integration/db-snapshot.ts). */
  tables?: Map<string, string[]>;
}

async function runMode(mode: string): Promise<ModeResult> {
  const fake = await startFakeIterable({ keys: 'any', data, rateLimits: { timeScale: SCALE } });
  const dir = mkdtempSync(join(tmpdir(), 'iterable-sync-backfill-'));
  try {
    console.log(`\n=== --export-mode ${mode} ===`);
    const file = join(dir, 'backfill.duckdb');
    const args = [
      join(ROOT, 'dist/src/cli/main.js'), 'sync',
      '--base-url', fake.url,
      '--start-date', START.toISOString(),
      '--window-days', WINDOW_DAYS,
      // Stream mode through the environment, so it also runs on a build without the jobs reader;
      // jobs mode through the flag, so such a build refuses it instead of streaming.
      ...(mode === 'jobs' ? ['--export-mode', 'jobs'] : []),
      '--destination', `duckdb:${file}`,
    ];
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, args, {
      env: {
        ...process.env,
        ITERABLE_API_KEY: 'bench',
        ITERABLE_SYNC_RATE_LIMIT_SCALE: String(SCALE),
        ...(mode === 'stream' ? { ITERABLE_EXPORT_MODE: 'stream' } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const wallMs = Date.now() - spawnedAt;

    const log: readonly RecordedRequest[] = fake.requests;
    console.log(`sync exit code ${code}`);
    process.stdout.write(stdout);
    const problems = stderr.split('\n').filter((l) => / (WARN|ERROR) /.test(l));
    console.log(`stderr: ${problems.length} WARN/ERROR line(s)${problems.length ? `, first: ${problems[0]}` : ''}`);
    if (code !== 0) {
      const errors = stderr.split('\n').filter((l) => /error/i.test(l));
      console.log(`sync failed:\n${(errors.length > 0 ? errors.slice(0, 5) : stderr.trim().split('\n').slice(-10)).join('\n')}`);
      if (/unknown option '--export-mode'/.test(stderr)) {
        console.log('this build has no --export-mode: the export-jobs reader (issue 12) is not in it');
      }
    }

    console.log(`requests per endpoint (fake log; first and last arrival, s after spawn; exit at ${s(wallMs)})`);
    for (const [endpoint, n] of [...countBy(log, endpointOf)].sort((a, b) => b[1] - a[1])) {
      const at = log.filter((r) => endpointOf(r) === endpoint).map((r) => r.at - spawnedAt);
      const span = `${(Math.min(...at) / 1000).toFixed(2)} → ${(Math.max(...at) / 1000).toFixed(2)}`;
      console.log(`  ${endpoint.padEnd(42)} ${String(n).padStart(5)}   ${span}`);
    }
    console.log(`  ${'total'.padEnd(42)} ${String(log.length).padStart(5)}`);
    const dataJson = log.filter((r) => r.path === '/api/export/data.json').length;
    const jobStarts = log.filter((r) => r.path === '/api/export/start').length;
    if (mode === 'jobs' && dataJson > 0) console.log(`NOTE: jobs mode made ${dataJson} data.json call(s)`);
    if (mode === 'stream' && jobStarts > 0) console.log(`NOTE: stream mode started ${jobStarts} export job(s)`);
    const tooMany = log.filter((r) => r.status === 429);
    const by429 = [...countBy(tooMany, endpointOf)].map(([p, n]) => `${p}=${n}`).join(' ');
    console.log(`429 responses: ${tooMany.length}${by429 ? ` (${by429})` : ''}  (target 0)`);

    console.log('lower bound (accepted requests per family at Iterable limit, time scale; jobs)');
    const accepted = countBy(log.filter((r) => r.status !== 429 && familyOf(r) !== undefined), (r) => familyOf(r) as string);
    let lowerMs = 0;
    let binding = 'none';
    for (const [family, n] of [...accepted].sort((a, b) => b[1] - a[1])) {
      const limit = ITERABLE_RATE_LIMITS[family as RateLimitFamily];
      if (!limit) {
        console.log(`  ${family.padEnd(13)} ${String(n).padStart(5)} requests, no limit`);
        continue;
      }
      const boundMs = (Math.ceil(n / limit.requests) - 1) * (limit.periodMs / SCALE);
      console.log(`  ${family.padEnd(13)} ${String(n).padStart(5)} requests at ${limit.text} → ≥ ${s(boundMs)}`);
      if (boundMs > lowerMs) [lowerMs, binding] = [boundMs, family];
    }
    const jobs = fake.jobs.all();
    if (jobs.length > 0) {
      const longest = Math.max(...jobs.map((j) => j.eligibleAt - j.createdAt + j.totalWork));
      const shared = jobs.reduce((sum, j) => sum + j.totalWork, 0) / fake.jobs.maxRunning;
      const jobsMs = Math.max(longest, shared);
      const states = [...countBy(jobs, (j) => j.state)].map(([state, n]) => `${n} ${state}`).join(', ');
      console.log(`  jobs          ${String(jobs.length).padStart(5)} (${states}): longest queue + work ${s(longest)}, ` +
        `all work / ${fake.jobs.maxRunning} slots ${s(shared)} → ≥ ${s(jobsMs)}`);
      if (jobsMs > lowerMs) [lowerMs, binding] = [jobsMs, 'jobs'];
    }
    console.log(`wall (spawn → exit) ${s(wallMs)}; lower bound (${binding}) ${s(lowerMs)}; wall / lower bound ${(wallMs / lowerMs).toFixed(2)}×`);
    // list_users.updatedAt is the sync's own clock (compared the same way in the sync tests).
    const tables = code === 0 ? await snapshot(`duckdb:${file}`, { list_users: ['updatedAt'] }) : undefined;
    return { mode, code, wallMs, lowerMs, binding, tooMany: tooMany.length, ...(tables ? { tables } : {}) };
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
console.log(
  `backfill: 16 seed streams, ${START.toISOString().slice(0, 10)} → ${now.toISOString().slice(0, 10)}, --window-days ${WINDOW_DAYS}, ` +
    `time scale ${SCALE} (fake, its export jobs, and client), DuckDB; modes: ${MODES.join(', ')}`,
);
const results: ModeResult[] = [];
for (const mode of MODES) results.push(await runMode(mode));

console.log('\n=== summary ===');
for (const r of results) {
  console.log(`  ${r.mode.padEnd(6)} exit ${r.code}  wall ${s(r.wallMs).padStart(9)}  lower bound ${s(r.lowerMs).padStart(9)} (${r.binding})  429s ${r.tooMany}`);
}
const stream = results.find((r) => r.mode === 'stream');
const jobs = results.find((r) => r.mode === 'jobs');
if (stream && jobs && stream.code === 0 && jobs.code === 0) {
  console.log(`  jobs / stream wall: ${(jobs.wallMs / stream.wallMs).toFixed(3)}  (target ≤ 0.2, with 0 × 429)`);
  const names = [...new Set([...(stream.tables?.keys() ?? []), ...(jobs.tables?.keys() ?? [])])].sort();
  const differ = names.filter((n) => JSON.stringify(stream.tables?.get(n)) !== JSON.stringify(jobs.tables?.get(n)));
  const rows = [...(jobs.tables?.values() ?? [])].reduce((n, t) => n + t.length, 0);
  console.log(differ.length === 0
    ? `  tables: identical (${names.length} tables, ${rows} rows)`
    : `  tables DIFFER: ${differ.map((n) => `${n} (stream ${stream.tables?.get(n)?.length ?? 0} rows, jobs ${jobs.tables?.get(n)?.length ?? 0})`).join(', ')}`);
  if (differ.length > 0) process.exitCode = 1;
}
if (results.some((r) => r.code !== 0)) {
  console.log(`  failed: ${results.filter((r) => r.code !== 0).map((r) => r.mode).join(', ')}`);
  process.exitCode = 1;
}
