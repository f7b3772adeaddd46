import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cliEnv, collect, runCli, spawnCli } from './cli-harness.js';
import { freshDestination, rowCounts } from './db-snapshot.js';

describe('simulate', () => {
  it('serves an Iterable-compatible API that a first sync reads, as the README shows', async () => {
    const server = spawnCli(['simulate', '--port', '0', '--events', '300'], cliEnv());
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n')[0]!;
          if (out.includes('\n')) resolve(line.trim());
        });
        server.on('exit', (code) => reject(new Error(`simulate exited ${code}`)));
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const destination = freshDestination('duckdb');
      const result = await runCli(['sync', '--base-url', url, '--start-date', '2024-01-01', '--destination', destination], cliEnv({ ITERABLE_API_KEY: 'any' }));
      assert.equal(result.code, 0, result.stderr);
      const counts = await rowCounts(destination);
      assert.ok(counts.email_send! >= 300 && counts.users! > 0 && counts.campaigns! > 0, JSON.stringify(counts));
    } finally {
      server.kill('SIGTERM');
      const ended = await collect(server, 10_000);
      assert.equal(ended.code, 0, 'simulate stops cleanly on SIGTERM');
    }
  });
});
