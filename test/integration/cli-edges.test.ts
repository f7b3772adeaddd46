import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDestination } from '../../src/destinations/destination-factory.js';
import { generateFakeData, startFakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, runCli, type CliResult } from './cli-harness.js';
import { freshDestination } from './db-snapshot.js';

const KEY = 'test-server-key';
const STREAMS = 'email_send,email_click,channels';

async function bookmarkedStreams(destination: string): Promise<string[]> {
  const db = await openDestination(destination);
  await db.open();
  try {
    return Object.keys((await db.readState()).bookmarks).sort();
  } finally {
    await db.close();
  }
}

async function tempFile(name: string, content: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'iterable-sync-edges-')), name);
  await writeFile(path, content);
  return path;
}

/** The lines a command printed on stderr, without blank ones. */
function stderrLines(result: CliResult): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() !== '');
}

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`reset in ${kind}: forgetting every bookmark takes --all`, () => {
    it('refuses an empty or blank --streams, no option, and --all with --streams; --all forgets everything', async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 51 }) });
      try {
        const destination = freshDestination(kind);
        const sync = await runCli(
          ['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--destination', destination, '--streams', 'email_send,email_click'],
          cliEnv({ ITERABLE_API_KEY: KEY }),
        );
        assert.equal(sync.code, 0, sync.stderr);
        assert.deepEqual(await bookmarkedStreams(destination), ['email_click', 'email_send']);

        for (const streams of ['', '   ', ' , ', ',']) {
          const result = await runCli(['reset', '--destination', destination, '--streams', streams], cliEnv());
          assert.equal(result.code, 2, `--streams ${JSON.stringify(streams)}: ${result.stderr}`);
          assert.match(result.stderr, /--streams names no stream/);
        }
        const bare = await runCli(['reset', '--destination', destination], cliEnv());
        assert.equal(bare.code, 2, bare.stderr);
        assert.match(bare.stderr, /reset needs --streams a,b .* or --all/);
        const both = await runCli(['reset', '--destination', destination, '--all', '--streams', 'email_send'], cliEnv());
        assert.equal(both.code, 2, both.stderr);
        assert.match(both.stderr, /not both/);
        assert.deepEqual(await bookmarkedStreams(destination), ['email_click', 'email_send'], 'no refused reset forgot anything');

        const all = await runCli(['reset', '--destination', destination, '--all'], cliEnv());
        assert.equal(all.code, 0, all.stderr);
        assert.match(all.stdout, /Forgot the bookmarks of email_click, email_send/);
        assert.deepEqual(await bookmarkedStreams(destination), []);
      } finally {
        await fake.close();
      }
    });
  });
}

describe('empty option values are errors, never the default', () => {
  it('refuses empty --streams in sync and tap, and empty --window-days, --lookback-minutes, --start-date, before any request', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 52 }) });
    try {
      const env = cliEnv({ ITERABLE_API_KEY: KEY });
      const base = ['--base-url', fake.url, '--start-date', '2024-01-01'];
      const cases: Array<{ args: string[]; message: RegExp }> = [
        { args: ['sync', ...base, '--streams', ''], message: /--streams names no stream/ },
        { args: ['tap', ...base, '--streams', ''], message: /--streams names no stream/ },
        { args: ['tap', ...base, '--streams', ' , '], message: /--streams names no stream/ },
        { args: ['sync', ...base, '--streams', STREAMS, '--window-days', ''], message: /--window-days needs a value/ },
        { args: ['tap', ...base, '--streams', STREAMS, '--window-days', ' '], message: /--window-days needs a value/ },
        { args: ['sync', ...base, '--streams', STREAMS, '--lookback-minutes', ''], message: /--lookback-minutes needs a value/ },
        { args: ['tap', '--base-url', fake.url, '--streams', STREAMS, '--start-date', ''], message: /--start-date needs a value/ },
      ];
      for (const { args, message } of cases) {
        const destination = freshDestination('duckdb');
        const withDestination = args[0] === 'sync' ? [...args, '--destination', destination] : args;
        const result = await runCli(withDestination, env);
        assert.equal(result.code, 2, `${JSON.stringify(args)}: ${result.stderr}`);
        assert.match(result.stderr, message);
        assert.equal(result.stdout, '', `${JSON.stringify(args)} printed nothing on stdout`);
        assert.equal(existsSync(destination.slice('duckdb:'.length)), false, 'no database file was created');
      }
      assert.deepEqual(fake.requests.map((r) => r.path), [], 'no request reached Iterable');
    } finally {
      await fake.close();
    }
  });
});

describe('secrets stay out of config error messages', () => {
  const SECRET = 'sk-live-7f3a9c2e1b8d4f60';
  it('reports invalid JSON in a config file by file, line and column, without its content', async () => {
    const files = [
      { content: `{api_key: "${SECRET}", "start_date": "2024-01-01"}`, where: /line 1, column 2: expected a double-quoted property name/ },
      { content: `{\n  "start_date": "2024-01-01",\n  "api_key": ${SECRET}\n}\n`, where: /line 3, column 14: expected a JSON value/ },
      { content: `{"api_key": "${SECRET}",}`, where: /line 1, column \d+: expected a property after the comma/ },
      { content: `{"api_key": "${SECRET}"} ${SECRET}`, where: /line 1, column \d+: expected nothing after the end/ },
    ];
    const commands = [['sync'], ['check'], ['discover'], ['reset', '--all']];
    for (const [i, { content, where }] of files.entries()) {
      const path = await tempFile('config.json', content);
      for (const command of [commands[i % commands.length]!]) {
        const result = await runCli([...command, '--config', path], cliEnv());
        assert.equal(result.code, 2, `${command[0]}: ${result.stderr}`);
        assert.ok(result.stderr.includes(`config file ${path} is not valid JSON`), result.stderr);
        assert.match(result.stderr, where);
        assert.match(result.stderr, /double quotes/, 'says what to do');
        for (const fragment of [SECRET, SECRET.slice(0, 6), SECRET.slice(-8)]) {
          assert.ok(!result.stderr.includes(fragment) && !result.stdout.includes(fragment), `${command[0]} printed part of the file: ${result.stderr}`);
        }
      }
    }
  });

  it('says a missing key is given by ITERABLE_API_KEY or the config file, and offers no --api-key flag', async () => {
    const path = await tempFile('config.json', JSON.stringify({ start_date: '2024-01-01', region: 'us' }));
    for (const args of [['sync', '--config', path], ['check'], ['tap', '--start-date', '2024-01-01']]) {
      const result = await runCli(args, cliEnv());
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /api_key is missing/);
      assert.match(result.stderr, /ITERABLE_API_KEY/);
      assert.match(result.stderr, /"api_key" in the config file/);
      assert.match(result.stderr, /a flag would show the key in `ps`/);
      assert.doesNotMatch(result.stderr, /--api-key/);
    }
    const flag = await runCli(['sync', '--api-key', SECRET], cliEnv());
    assert.equal(flag.code, 2, 'no such flag');
    assert.ok(!flag.stderr.includes(SECRET) && !flag.stdout.includes(SECRET), flag.stderr);
  });
});

describe('simulate refuses bad ports with one line', () => {
  it('exits 2 with one clear line for a port in use, a port that is not a number, and one out of range', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const cases = [
        { args: ['--port', String(port)], message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`) },
        { args: ['--port', 'abc'], message: /--port must be a whole number from 0 to 65535 \(got "abc"\)/ },
        { args: ['--port', '70000'], message: /--port must be a whole number from 0 to 65535 \(got "70000"\)/ },
        { args: ['--port', '-1'], message: /--port must be a whole number/ },
        { args: ['--port', '8080', '--events', 'many'], message: /--events must be a whole number/ },
        { args: ['--port', '0', '--host', ''], message: /--host needs a value/ },
      ];
      for (const { args, message } of cases) {
        const result = await runCli(['simulate', ...args], cliEnv(), { timeoutMs: 60_000 });
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, message);
        assert.equal(stderrLines(result).length, 1, `one line: ${result.stderr}`);
        assert.doesNotMatch(result.stderr, /\n\s+at |unexpected error/);
        assert.equal(result.stdout, '');
      }
    } finally {
      busy.close();
    }
  });
});

describe('api_window_in_days that would plan too many export windows', () => {
  it('is refused before anything is read, with the export calls it means and the smallest sensible value', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 53 }) });
    try {
      const destination = freshDestination('duckdb');
      const config = await tempFile('config.json', JSON.stringify({ api_key: KEY, start_date: '2024-01-01', api_window_in_days: 0.0001 }));
      let minimum = '';
      for (const args of [
        ['sync', '--config', config, '--base-url', fake.url, '--destination', destination],
        ['tap', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', '0.0001', '--streams', 'email_send'],
      ]) {
        const result = await runCli(args, cliEnv({ ITERABLE_API_KEY: KEY }));
        assert.equal(result.code, 2, result.stderr);
        const calls = /: ([\d,]+) export calls for the (\d+) export stream/.exec(result.stderr);
        assert.ok(calls, result.stderr);
        // Windows are planned on whole seconds, as the read plans them: 0.0001 days (8.64 s) → 9 s.
        const seconds = (Date.now() - Date.parse('2024-01-01')) / 1000;
        const expected = Math.ceil(seconds / Math.round(0.0001 * 86_400)) * Number(calls[2]);
        // The CLI's "now" is a little earlier than this test's.
        assert.ok(Math.abs(Number(calls[1]!.replace(/,/g, '')) - expected) <= 2_000 * Number(calls[2]), `${calls[1]} ≈ ${expected}`);
        minimum = /Use api_window_in_days ≥ (0\.\d+) \(at most 10,000 windows per stream\)/.exec(result.stderr)?.[1] ?? '';
        assert.ok(minimum, result.stderr);
        assert.equal(result.stdout, '');
      }
      assert.deepEqual(fake.requests.map((r) => r.path), [], 'nothing was read');
      assert.equal(existsSync(destination.slice('duckdb:'.length)), false, 'no database file was created');

      // The suggested minimum is accepted: the run starts reading (its first window fails at once
      // here, so the test does not read ten thousand windows).
      fake.inject({ kind: 'status', path: '/api/export/data.json', status: 400, times: Number.POSITIVE_INFINITY });
      const accepted = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', minimum, '--streams', 'email_bounce'],
        cliEnv({ ITERABLE_API_KEY: KEY }),
      );
      assert.equal(accepted.code, 1, accepted.stderr);
      assert.doesNotMatch(accepted.stderr, /api_window_in_days/);
      assert.ok(fake.requests.some((r) => r.path === '/api/export/data.json'), 'the run read');
    } finally {
      await fake.close();
    }
  });
});

describe('each command lists only the options it uses', () => {
  const expected: Record<string, { has: string[]; lacks: string[] }> = {
    check: {
      // --streams, --start-date and --window-days: the first sync whose export calls it estimates; --export-mode: how it would read them.
      has: ['--config', '--region', '--base-url', '--streams', '--start-date', '--window-days', '--export-mode'],
      lacks: ['--destination', '--lookback-minutes', '--state', '--all'],
    },
    discover: {
      has: ['--config', '--region', '--base-url'],
      lacks: ['--destination', '--streams', '--start-date', '--window-days', '--lookback-minutes', '--state', '--all'],
    },
    reset: {
      has: ['--config', '--destination', '--streams', '--all'],
      lacks: ['--start-date', '--window-days', '--lookback-minutes', '--region', '--base-url', '--state', '--full-refresh'],
    },
    sync: {
      has: ['--config', '--destination', '--streams', '--start-date', '--window-days', '--lookback-minutes', '--region', '--base-url', '--state', '--full-refresh', '--export-mode'],
      lacks: ['--all', '--catalog'],
    },
    tap: {
      has: ['--config', '--streams', '--start-date', '--window-days', '--lookback-minutes', '--region', '--base-url', '--state', '--catalog', '--export-mode'],
      lacks: ['--destination', '--all'],
    },
  };
  for (const [command, { has, lacks }] of Object.entries(expected)) {
    it(`${command} --help`, async () => {
      const result = await runCli([command, '--help'], cliEnv());
      assert.equal(result.code, 0, result.stderr);
      const options = new Set([...result.stdout.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]));
      for (const option of has) assert.ok(options.has(option), `${command} --help lists ${option}:\n${result.stdout}`);
      for (const option of lacks) assert.ok(!options.has(option), `${command} --help does not list ${option}:\n${result.stdout}`);
    });
  }
});
