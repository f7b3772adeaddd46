import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cliEnv, collect, runCli, spawnCli } from './cli-harness.js';
import { freshDestination, rowCounts } from './db-snapshot.js';

/** The address simulate prints on its first stdout line. */
function addressOf(server: ReturnType<typeof spawnCli>): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
    });
    server.on('exit', (code) => reject(new Error(`simulate exited ${code}`)));
  });
}

describe('simulate', () => {
  it('serves the export jobs API: start, files while running, signed downloads equal to data.json', async () => {
    const server = spawnCli(['simulate', '--port', '0', '--events', '300', '--jobs-time-scale', '1000'], cliEnv());
    try {
      const url = await addressOf(server);
      const headers = { 'Api-Key': 'any-key', 'Content-Type': 'application/json' };
      const range = { startDateTime: '2024-01-01 00:00:00', endDateTime: '2024-04-01 00:00:00' };
      const start = await fetch(`${url}/api/export/start`, {
        method: 'POST', headers, body: JSON.stringify({ dataTypeName: 'emailSend', outputFormat: 'application/x-json-stream', ...range }),
      });
      assert.equal(start.status, 200);
      const { jobId } = (await start.json()) as { jobId: number };
      // 12 s of Iterable time at 1000× is 12 ms; allow 20 s on a busy machine.
      const deadline = Date.now() + 20_000;
      let page: { jobState: string; files: { file: string; url: string }[] };
      for (;;) {
        page = (await (await fetch(`${url}/api/export/${jobId}/files`, { headers })).json()) as typeof page;
        if (page.jobState === 'completed' || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(page.jobState, 'completed');
      assert.ok(page.files.length >= 1);
      const fromFiles: string[] = [];
      for (const file of page.files) fromFiles.push(...(await (await fetch(file.url)).text()).split('\n').filter((l) => l !== ''));
      const dataJson = await fetch(`${url}/api/export/data.json?${new URLSearchParams({ dataTypeName: 'emailSend', ...range }).toString()}`, { headers });
      const expected = (await dataJson.text()).split('\n').filter((l) => l !== '');
      assert.ok(expected.length >= 300);
      assert.deepEqual(fromFiles, expected);
    } finally {
      server.kill('SIGTERM');
      assert.equal((await collect(server, 10_000)).code, 0);
    }
  });


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
