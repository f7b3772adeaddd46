/**
 * `npm run bench:backfill`: a first sync (backfill) of all 16 streams over three years, against
 * the fake Iterable API enforcing Iterable's real rate limits, sped up by a time scale.
 *
 * The fake runs in this process with `rateLimits: { timeScale: S }`; the built CLI runs as a
 * child (`iterable-sync sync` into a fresh DuckDB file) with ITERABLE_SYNC_RATE_LIMIT_SCALE=S, so
 * both sides divide every rate-limit period by S (S=60: export 4 per second). Row counts are
 * modest: the run is about requests, not bytes.
 *
 * Prints the requests per endpoint (from the fake's log), the 429s (target 0), the wall time
 * (spawn to exit), the lower bound the limits allow, computed from the accepted request counts
 * (per family: the first `requests` go at once, then one more batch per scaled period; families
 * run in parallel, so the bound is the max over them), and wall / lower bound (target ≤ 1.05).
 * It also splits the wall time (startup, export span, tail) and measures the export pacing
 * cycle, so a ratio above target shows where the time went.
 *
 * Options (env): BENCH_SCALE (default 60), BENCH_WINDOW_DAYS (default 30), BENCH_START (default
 * the first of the month 36 months ago, UTC).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ITERABLE_RATE_LIMITS, type RateLimitFamily } from '../src/fake-iterable/rate-limit.js';
import { generateFakeData, startFakeIterable, type RecordedRequest } from '../src/fake-iterable/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCALE = Number(process.env.BENCH_SCALE ?? 60);
const WINDOW_DAYS = process.env.BENCH_WINDOW_DAYS ?? '30';
const now = new Date();
const START = process.env.BENCH_START
  ? new Date(process.env.BENCH_START)
  : new Date(Date.UTC(now.getUTCFullYear() - 3, now.getUTCMonth(), 1));
if (!(SCALE > 0) || !Number.isFinite(SCALE)) throw new Error(`BENCH_SCALE must be a number > 0 (got ${process.env.BENCH_SCALE})`);
if (Number.isNaN(START.getTime())) throw new Error(`BENCH_START is not a date: ${process.env.BENCH_START}`);

/** The fake's route families (src/fake-iterable/server.ts), by path. */
function familyOf(path: string): RateLimitFamily {
  if (path === '/api/export/data.json') return 'export';
  if (path === '/api/lists/getUsers') return 'listUsers';
  if (path === '/api/users/getFields') return 'userFields';
  if (path.startsWith('/api/metadata')) return 'metadata';
  const family = path.slice('/api/'.length);
  if (['campaigns', 'channels', 'lists', 'messageTypes', 'templates'].includes(family)) return family as RateLimitFamily;
  throw new Error(`unexpected path in the fake's log: ${path}`);
}

function endpointOf(path: string): string {
  return path
    .replace(/^\/api\/metadata\/[^/]+\/[^/]+$/, '/api/metadata/{table}/{key}')
    .replace(/^\/api\/metadata\/[^/]+$/, '/api/metadata/{table}');
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
const fake = await startFakeIterable({ keys: 'any', data, rateLimits: { timeScale: SCALE } });
const dir = mkdtempSync(join(tmpdir(), 'iterable-sync-backfill-'));
try {
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  );
  console.log(
    `backfill: all streams, ${START.toISOString().slice(0, 10)} → ${now.toISOString().slice(0, 10)}, --window-days ${WINDOW_DAYS}, ` +
      `time scale ${SCALE} (fake and client), DuckDB`,
  );
  const args = [
    join(ROOT, 'dist/src/cli/main.js'), 'sync',
    '--base-url', fake.url,
    '--start-date', START.toISOString(),
    '--window-days', WINDOW_DAYS,
    '--destination', `duckdb:${join(dir, 'backfill.duckdb')}`,
  ];
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ITERABLE_API_KEY: 'bench', ITERABLE_SYNC_RATE_LIMIT_SCALE: String(SCALE) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const exitedAt = Date.now();
  const wallMs = exitedAt - spawnedAt;

  const log: readonly RecordedRequest[] = fake.requests;
  console.log(`\nsync exit code ${code}`);
  process.stdout.write(stdout);
  const problems = stderr.split('\n').filter((l) => / (WARN|ERROR) /.test(l));
  console.log(`stderr: ${problems.length} WARN/ERROR line(s)${problems.length ? `, first: ${problems[0]}` : ''}`);

  console.log('\nrequests per endpoint (fake log)');
  const byEndpoint = countBy(log, (r) => endpointOf(r.path));
  for (const [endpoint, n] of [...byEndpoint].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${endpoint.padEnd(30)} ${String(n).padStart(5)}`);
  }
  console.log(`  ${'total'.padEnd(30)} ${String(log.length).padStart(5)}`);
  const tooMany = log.filter((r) => r.status === 429);
  const by429 = [...countBy(tooMany, (r) => endpointOf(r.path))].map(([p, n]) => `${p}=${n}`).join(' ');
  console.log(`429 responses: ${tooMany.length}${by429 ? ` (${by429})` : ''}  (target 0)`);

  // Lower bound: per limited family, N accepted requests under "R per P" need at least
  // (ceil(N / R) - 1) scaled periods (R at once, then R more every period).
  console.log('\nlower bound per family (accepted requests, Iterable limit, time scale)');
  const accepted = countBy(log.filter((r) => r.status !== 429), (r) => familyOf(r.path));
  let lowerMs = 0;
  let binding = '';
  for (const [family, n] of [...accepted].sort((a, b) => b[1] - a[1])) {
    const limit = ITERABLE_RATE_LIMITS[family as RateLimitFamily];
    if (!limit) {
      console.log(`  ${family.padEnd(13)} ${String(n).padStart(5)} requests, no limit`);
      continue;
    }
    const periodMs = limit.periodMs / SCALE;
    const boundMs = (Math.ceil(n / limit.requests) - 1) * periodMs;
    console.log(`  ${family.padEnd(13)} ${String(n).padStart(5)} requests at ${limit.text} → ≥ ${s(boundMs)}`);
    if (boundMs > lowerMs) [lowerMs, binding] = [boundMs, family];
  }

  // Where the wall time went, measured on the fake's clock (arrival times, ms).
  const exports = log.filter((r) => familyOf(r.path) === 'export' && r.status !== 429).map((r) => r.at);
  const exportLimit = ITERABLE_RATE_LIMITS.export!;
  const exportPeriodMs = exportLimit.periodMs / SCALE;
  const firstRequestMs = (log[0]?.at ?? exitedAt) - spawnedAt;
  const firstExport = exports[0] ?? exitedAt;
  const lastExport = exports[exports.length - 1] ?? exitedAt;
  const cycles: number[] = [];
  for (let i = exportLimit.requests; i < exports.length; i++) cycles.push(exports[i]! - exports[i - exportLimit.requests]!);
  const meanCycle = cycles.length ? cycles.reduce((a, b) => a + b, 0) / cycles.length : 0;
  const maxCycle = cycles.length ? Math.max(...cycles) : 0;

  console.log('\ntiming');
  console.log(`  wall (spawn → exit)                 ${s(wallMs)}`);
  console.log(`  lower bound (${binding})${' '.repeat(Math.max(1, 22 - binding.length))}${s(lowerMs)}`);
  console.log(`  wall / lower bound                  ${(wallMs / lowerMs).toFixed(3)}×  (target ≤ 1.05)`);
  console.log(`  split: spawn → first request ${s(firstRequestMs)}, → first export ${s(firstExport - spawnedAt)}; ` +
    `export span ${s(lastExport - firstExport)}; last export → exit ${s(exitedAt - lastExport)}`);
  console.log(`  export span / its bound             ${((lastExport - firstExport) / lowerMs).toFixed(3)}×` +
    (binding === 'export' ? '' : ' (export is not the binding family)'));
  console.log(`  export cycle (request i − request i−${exportLimit.requests}): mean ${meanCycle.toFixed(1)} ms, max ${maxCycle} ms, ` +
    `scaled period ${exportPeriodMs.toFixed(1)} ms (+${(((meanCycle - exportPeriodMs) / exportPeriodMs) * 100).toFixed(1)}%)`);
  if (code !== 0) {
    console.log(`\nsync failed; last stderr lines:\n${stderr.split('\n').slice(-20).join('\n')}`);
    process.exitCode = 1;
  }
} finally {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
