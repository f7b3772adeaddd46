import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, collect, runCli, spawnCli, type CliResult } from './cli-harness.js';
import { freshDestination } from './db-snapshot.js';

const KEY = 'test-server-key';

/**
 * A sync of email_send under Iterable's real export limit (4 a minute) over many windows: the
 * fifth window waits about a minute for its slot. Stopped with SIGTERM once that wait is logged.
 */
async function syncUntilRateLimitWait(fake: FakeIterable, extraArgs: string[], waitLine: RegExp): Promise<{ result: CliResult; stopMs: number }> {
  const args = ['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', '10', '--streams', 'email_send'];
  const child = spawnCli([...args, '--destination', freshDestination('duckdb'), ...extraArgs], cliEnv({ ITERABLE_API_KEY: KEY, ITERABLE_SYNC_RATE_LIMIT_SCALE: '1' }));
  const done = collect(child, 180_000);
  await lineSeen(child, waitLine);
  const killedAt = Date.now();
  child.kill('SIGTERM');
  const result = await done;
  return { result, stopMs: Date.now() - killedAt };
}

function lineSeen(child: ChildProcess, pattern: RegExp): Promise<void> {
  let text = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) resolve();
    });
    child.on('close', (code) => reject(new Error(`exited ${code} before ${pattern}:\n${text.slice(-2000)}`)));
  });
}

interface JsonLine {
  time: string;
  level: string;
  stream?: string;
  event: string;
  message: string;
  [field: string]: unknown;
}

/** Every stderr line, parsed; fails on a line that is not a JSON object with the required keys. */
function jsonLines(stderr: string): JsonLine[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const entry = JSON.parse(line) as JsonLine;
      assert.equal(typeof entry, 'object', line);
      assert.ok(!Number.isNaN(Date.parse(entry.time)) && entry.time.endsWith('Z'), `time: ${line}`);
      assert.ok(['debug', 'info', 'warn', 'error'].includes(entry.level), `level: ${line}`);
      assert.match(entry.event, /^[a-z_]+$/, `event: ${line}`);
      assert.equal(typeof entry.message, 'string', `message: ${line}`);
      return entry;
    });
}

describe('no silent minutes: a stream waiting for its rate-limit slot says so', () => {
  it('logs the stream, the endpoint family and the expected wait as a long wait starts; SIGTERM ends the wait at once', { timeout: 240_000 }, async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 51 }) });
    try {
      const { result, stopMs } = await syncUntilRateLimitWait(fake, [], /waiting for a slot/);
      assert.match(
        result.stderr,
        /^\S+Z INFO email_send: waiting for a slot of the export rate limit \(4 requests per minute\): \d+s so far, about (\d+m\d\ds|[1-5]\ds) to go/m,
      );
      assert.doesNotMatch(result.stderr, /^\{/m, 'text is the default');
      assert.equal(result.code, 143, result.stderr);
      assert.ok(stopMs < 30_000, `stopped ${stopMs} ms after SIGTERM, not after the rate-limit wait`);
    } finally {
      await fake.close();
    }
  });
});

describe('--log-format json', () => {
  it('writes every stderr line as one JSON object: time, level, stream, event, message and fields', { timeout: 240_000 }, async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 52 }) });
    try {
      const { result } = await syncUntilRateLimitWait(fake, ['--log-format', 'json'], /"event":"rate_limit_wait"/);
      assert.equal(result.code, 143, result.stderr);
      const lines = jsonLines(result.stderr);
      const wait = lines.find((l) => l.event === 'rate_limit_wait')!;
      assert.equal(wait.stream, 'email_send');
      assert.equal(wait.family, 'export');
      assert.equal(wait.level, 'info');
      assert.ok(typeof wait.expectedMs === 'number' && wait.expectedMs >= 10_000, `expectedMs ${String(wait.expectedMs)}`);
      assert.match(wait.message, /^email_send: waiting for a slot of the export rate limit/);
      const committed = lines.filter((l) => l.event === 'window_committed');
      assert.ok(committed.length >= 4, 'four windows before the wait');
      assert.ok(committed.every((l) => l.stream === 'email_send' && typeof l.unitsDone === 'number'));
      assert.ok(lines.some((l) => l.event === 'interrupted' && l.level === 'warn' && l.signal === 'SIGTERM'));
      assert.ok(lines.some((l) => l.event === 'stream_state' && l.stream === 'email_send'));
      assert.match(result.stdout, /^email_send\s+interrupted/m, 'the summary stays a table on stdout');
    } finally {
      await fake.close();
    }
  });

  it('is also set by ITERABLE_SYNC_LOG_FORMAT, and still redacts secrets', async () => {
    const result = await runCli(
      ['sync', '--base-url', 'http://127.0.0.1:9', '--start-date', '2024-01-01', '--streams', 'channels', '--destination', 'postgres://iterable:Pw-7741-secret@127.0.0.1:9/db'],
      cliEnv({ ITERABLE_API_KEY: 'some-key-1234', ITERABLE_SYNC_LOG_FORMAT: 'json' }),
    );
    assert.notEqual(result.code, 0);
    assert.ok(!result.stderr.includes('Pw-7741-secret'), result.stderr);
    const lines = jsonLines(result.stderr);
    const failure = lines.find((l) => l.level === 'error')!;
    assert.equal(failure.event, 'command_failed');
    assert.match(failure.message, /127\.0\.0\.1:9/);
  });

  it('refuses a format it does not know (exit 2)', async () => {
    const flag = await runCli(['check', '--log-format', 'xml'], cliEnv({ ITERABLE_API_KEY: KEY }));
    assert.equal(flag.code, 2, flag.stderr);
    assert.match(flag.stderr, /--log-format.*xml.*text, json/);
    const env = await runCli(['check', '--base-url', 'http://127.0.0.1:9'], cliEnv({ ITERABLE_API_KEY: KEY, ITERABLE_SYNC_LOG_FORMAT: 'yaml' }));
    assert.equal(env.code, 2, env.stderr);
    assert.match(env.stderr, /ITERABLE_SYNC_LOG_FORMAT must be text or json; got "yaml"/);
  });
});
