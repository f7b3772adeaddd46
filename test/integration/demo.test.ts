import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { DuckDBDestination } from '../../src/destinations/duckdb/duckdb-destination.js';
import { cliEnv, collect, spawnCli } from './cli-harness.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** `iterable-sync demo` as a new user runs it: in a folder of their own, with nothing else running. */
function demo(cwd: string, args: string[] = []) {
  // No rate-limit knob from the test harness: the demo must need none.
  const env = cliEnv();
  delete env.ITERABLE_SYNC_RATE_LIMIT_SCALE;
  return collect(spawn(process.execPath, ['--import', TSX, MAIN, 'demo', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }), 180_000);
}

describe('demo', () => {
  it('syncs the in-process simulator into ./demo.duckdb, prints the summary and a sample query, and exits', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'iterable-sync-demo-'));
    const result = await demo(cwd);
    // Exiting at all means the simulator stopped: a server left listening would keep the process alive.
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /ECONNREFUSED|retry/i);
    assert.match(result.stdout, /^Synced into duckdb:demo\.duckdb$/m);
    assert.match(result.stdout, /^email_send\s+complete\s+\d+/m);
    assert.match(result.stdout, /Sample query/);
    assert.match(result.stdout, /^campaign\s+sends\s+recipients$/m);
    assert.match(result.stdout, /\(5 rows\)/);
    assert.ok(existsSync(join(cwd, 'demo.duckdb')), 'demo.duckdb in the current folder');

    const db = new DuckDBDestination({ path: join(cwd, 'demo.duckdb') });
    await db.open();
    try {
      const [{ n }] = (await db.query('select count(*) as n from email_send')) as [{ n: bigint }];
      assert.ok(n >= 2000n, `email_send holds ${n} rows`);
      // The sample's top campaign and its count are the table's.
      const [top] = await db.query(
        'select c.name as campaign, count(*) as sends from email_send s join campaigns c on c.id = s."campaignId" group by c.name order by sends desc, campaign limit 1',
      );
      assert.match(result.stdout, new RegExp(`^${String(top!.campaign).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+${top!.sends}\\s+\\d+$`, 'm'));
      const runs = await db.query('select outcome from _iterable_sync_runs');
      assert.deepEqual(runs, [{ outcome: 'complete' }]);
    } finally {
      await db.close();
    }

    // A second demo in the same folder works too (incremental, nothing duplicated).
    const again = await demo(cwd);
    assert.equal(again.code, 0, again.stderr);
    const db2 = new DuckDBDestination({ path: join(cwd, 'demo.duckdb') });
    await db2.open();
    try {
      const events = await db2.query('select count(*) as n, count(distinct _event_id) as d from email_send');
      assert.equal(events[0]!.n, events[0]!.d);
    } finally {
      await db2.close();
    }
  });

  it('--destination overrides demo.duckdb', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'iterable-sync-demo-'));
    const result = await demo(cwd, ['--destination', 'duckdb:other.duckdb']);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(existsSync(join(cwd, 'other.duckdb')));
    assert.equal(existsSync(join(cwd, 'demo.duckdb')), false);
  });
});

describe('simulate banner', () => {
  it('suggests a sync command that works from the checkout (npx iterable-sync)', async () => {
    const server = spawnCli(['simulate', '--port', '0', '--events', '10'], cliEnv());
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      server.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('--start-date')) resolve();
      });
      server.on('exit', (code) => reject(new Error(`simulate exited ${code}: ${stderr}`)));
    });
    server.kill('SIGTERM');
    await collect(server, 10_000).catch(() => undefined);
    assert.match(stderr, /any API key/);
    assert.match(stderr, /ITERABLE_API_KEY=any ITERABLE_SYNC_RATE_LIMIT_SCALE=0 npx iterable-sync sync --base-url http:\/\/127\.0\.0\.1:\d+ --start-date 2024-01-01/);
  });
});
