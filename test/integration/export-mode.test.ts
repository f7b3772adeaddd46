import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startFakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, runCli } from './cli-harness.js';

const KEY = 'test-server-key';

describe('export_mode on the command line', () => {
  it('check says how a first and an incremental sync would read exports, and why', async () => {
    const fake = await startFakeIterable();
    try {
      const auto = await runCli(['check', '--base-url', fake.url, '--start-date', '2024-01-01'], cliEnv({ ITERABLE_API_KEY: KEY, ITERABLE_EXPORT_MODE: undefined }));
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stdout, /first sync from 2024-01-01T00:00:00\.000Z: export jobs \(export_mode auto: \d+ data\.json windows to read/);
      assert.match(auto.stdout, /incremental sync \(bookmark - 60 min lookback → now\): data\.json \(export_mode auto: only 1 data\.json window/);
      const forced = await runCli(
        ['check', '--base-url', fake.url, '--start-date', '2024-01-01', '--export-mode', 'stream'],
        cliEnv({ ITERABLE_API_KEY: KEY, ITERABLE_EXPORT_MODE: 'jobs' }),
      );
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stdout, /first sync from 2024-01-01T00:00:00\.000Z: data\.json \(export_mode is stream\)/);
      const fromEnv = await runCli(['check', '--base-url', fake.url], cliEnv({ ITERABLE_API_KEY: KEY, ITERABLE_EXPORT_MODE: 'jobs' }));
      assert.match(fromEnv.stdout, /incremental sync .*: export jobs \(export_mode is jobs\)/);
      assert.match(fromEnv.stdout, /first sync: no start_date set/);
    } finally {
      await fake.close();
    }
  });

  it('refuses an unknown export_mode from the flag or the environment with exit 2, naming the valid values', async () => {
    for (const [args, env] of [
      [['sync', '--export-mode', 'fast', '--start-date', '2024-01-01'], {}],
      [['tap', '--start-date', '2024-01-01'], { ITERABLE_EXPORT_MODE: 'batch' }],
      [['check', '--export-mode', 'nope'], {}],
    ] as const) {
      const result = await runCli([...args], cliEnv({ ITERABLE_API_KEY: KEY, ...env }));
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /export_mode must be "auto", "jobs" or "stream"/);
    }
  });
});
