import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateFakeData, startFakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, collect, spawnCli } from './cli-harness.js';

const ROWS = 300_000;

/** Peak RSS (MB) of a child process, polled from /proc while it runs. */
async function syncPeakRssMb(args: string[]): Promise<{ peakMb: number; stdout: string }> {
  const child = spawnCli(args, cliEnv({ ITERABLE_API_KEY: 'memory-test' }));
  let peakKb = 0;
  const poll = setInterval(() => {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      if (kb !== undefined) peakKb = Math.max(peakKb, Number(kb));
    } catch {
      // exited
    }
  }, 20);
  try {
    const result = await collect(child, 180_000);
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    return { peakMb: peakKb / 1024, stdout: result.stdout };
  } finally {
    clearInterval(poll);
  }
}

describe('DuckDB memory', () => {
  it('a sync of a 300,000-row window into DuckDB peaks at most 85 MB above the same sync to Singer stdout', async () => {
    // Parts of 122,880 rows: DuckDB's memory reaches its plateau by the second part. Measured
    // (through tsx, as here): 57 MB more; 120 MB more before staged lines were read with read_csv
    // (read_ndjson held ~34 MB of buffers), jemalloc returned freed pages at once, row groups
    // were of 30,720 rows and the memory limit was 16 + columns MiB (instead of 80 + columns).
    const fake = await startFakeIterable({
      keys: 'any',
      data: generateFakeData({ start: new Date('2024-01-01T00:00:00Z'), end: new Date('2024-01-02T00:00:00Z'), generated: { emailSend: ROWS } }),
    });
    const dir = mkdtempSync(join(tmpdir(), 'isync-duckdb-memory-'));
    try {
      const args = (destination: string) => [
        'sync', '--streams', 'email_send', '--base-url', fake.url, '--start-date', '2024-01-01T00:00:00Z', '--window-days', '2000', '--destination', destination,
      ];
      const singer = await syncPeakRssMb(args('-'));
      const duckdb = await syncPeakRssMb(args(`duckdb:${join(dir, 'memory.duckdb')}`));
      assert.match(duckdb.stdout, new RegExp(`^email_send\\s+complete\\s+${ROWS}\\s`, 'm'));
      const extra = duckdb.peakMb - singer.peakMb;
      assert.ok(extra <= 85, `DuckDB sync peaked at ${duckdb.peakMb.toFixed(0)} MB, Singer at ${singer.peakMb.toFixed(0)} MB: ${extra.toFixed(0)} MB more`);
    } finally {
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
