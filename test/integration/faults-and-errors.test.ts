import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateFakeData, startFakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, parseSinger, recordsByStream, runCli } from './cli-harness.js';
import { contentOf, expectedExport } from './expected-records.js';

const EXPORT = '/api/export/data.json';

describe('tap: faults recover to the same records as a clean run', () => {
  it('survives 500s, 429s, 503s, cut and stalled bodies, and keeps a malformed line', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 11 }) });
    try {
      fake.inject({ kind: 'status', path: EXPORT, dataTypeName: 'emailSend', status: 500, times: 3 });
      fake.inject({ kind: 'status', path: EXPORT, dataTypeName: 'emailSend', status: 429, times: 2 });
      fake.inject({ kind: 'cut', path: EXPORT, dataTypeName: 'emailSend', afterLines: 100, times: 2 });
      fake.inject({ kind: 'stall', path: EXPORT, dataTypeName: 'emailSend', afterLines: 10, ms: 3000 });
      fake.inject({ kind: 'malformed', path: EXPORT, dataTypeName: 'emailSend', afterLines: 5, text: '{"email": "broken@example.com", "createdAt": ' });
      fake.inject({ kind: 'status', path: '/api/lists/getUsers', status: 503, times: 2 });
      fake.inject({ kind: 'status', path: '/api/lists/getUsers', status: 500, times: 2 });
      fake.inject({ kind: 'cut', path: '/api/lists/getUsers', afterLines: 3 });
      const result = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', '2023-12-01', '--streams', 'email_send,list_users'],
        cliEnv({ ITERABLE_API_KEY: 'test-server-key', ITERABLE_SYNC_IDLE_TIMEOUT_MS: '500' }),
      );
      assert.equal(result.code, 0, result.stderr);
      const statuses = fake.requests.map((r) => r.status);
      for (const status of [500, 429, 503]) assert.ok(statuses.includes(status), `fake answered ${status}`);
      const records = recordsByStream(parseSinger(result.stdout));
      // Records of discarded (cut) windows are emitted again; a target upserts them on _event_id.
      const ids = new Map(records.get('email_send')!.map((r) => [r._event_id, r]));
      assert.deepEqual(contentOf([...ids.values()]), contentOf(expectedExport(fake.data, 'emailSend')));
      const members = [...fake.data.listMembers].flatMap(([listId, emails]) => emails.map((e) => `${listId}|${e}`));
      assert.deepEqual(new Set(records.get('list_users')!.map((r) => `${r.listId}|${r.email}`)), new Set(members));
      assert.match(result.stderr, /rejected line .*invalid JSON/);
      assert.match(result.stderr, /broken@example\.com/, 'the raw text of the rejected line is kept');
    } finally {
      await fake.close();
    }
  });

  it('fails a stream alone, naming the window to retry, when a window keeps failing', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 12 }) });
    try {
      fake.inject({ kind: 'cut', path: EXPORT, dataTypeName: 'emailOpen', afterLines: 1, times: 1000 });
      const result = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', '2024-01-01', '--streams', 'email_open,email_click,channels', '--window-days', '30'],
        cliEnv({ ITERABLE_API_KEY: 'test-server-key' }),
      );
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /email_open: export window \[2024-01-01T00:00:00\.000Z, .*\) failed \d+ times in a row/);
      assert.match(result.stderr, /iterable-sync sync --streams email_open/);
      const records = recordsByStream(parseSinger(result.stdout));
      assert.equal(records.get('email_click')!.length, expectedExport(fake.data, 'emailClick').length);
      assert.equal(records.get('channels')!.length, fake.data.channels.length);
    } finally {
      await fake.close();
    }
  });

  it('paces requests under a scaled-down rate limit without a single 429', async () => {
    // timeScale 120: export allows 4 per 0.5 s, getUsers 5 per 0.5 s.
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 13 }), rateLimits: { timeScale: 120 } });
    try {
      const started = Date.now();
      const result = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', '7', '--streams', 'email_send,email_open,users,list_users'],
        cliEnv({ ITERABLE_API_KEY: 'test-server-key', ITERABLE_SYNC_RATE_LIMIT_SCALE: '120' }),
      );
      const elapsed = Date.now() - started;
      assert.equal(result.code, 0, result.stderr);
      const exports = fake.requests.filter((r) => r.path === EXPORT).length;
      assert.ok(exports > 12, `enough export calls to hit the limit (${exports})`);
      assert.deepEqual(fake.requests.filter((r) => r.status === 429).map((r) => r.path), []);
      // 4 per 500 ms: the run cannot be faster than the limit allows.
      assert.ok(elapsed >= Math.floor((exports - 4) / 4) * 500, `paced: ${exports} exports in ${elapsed} ms`);
    } finally {
      await fake.close();
    }
  });
});

describe('CLI errors: exit codes and messages', () => {
  it('exits 3 on a wrong key, saying so without printing the key', async () => {
    const fake = await startFakeIterable();
    try {
      const key = 'wrong-key-Zx81Secret';
      for (const command of ['check', 'tap']) {
        const result = await runCli([command, '--base-url', fake.url, '--start-date', '2024-01-01', '--streams', 'channels'].slice(0, command === 'check' ? 3 : 7), cliEnv({ ITERABLE_API_KEY: key }));
        assert.equal(result.code, 3, `${command}: ${result.stderr}`);
        assert.ok(!result.stdout.includes(key) && !result.stderr.includes(key), `${command} printed the key`);
        assert.match(result.stdout + result.stderr, /refused|401/);
      }
    } finally {
      await fake.close();
    }
  });

  it('check with a read-only key reports which streams it cannot read', async () => {
    const fake = await startFakeIterable();
    try {
      const result = await runCli(['check', '--base-url', fake.url], cliEnv({ ITERABLE_API_KEY: 'test-readonly-key' }));
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /API key works/);
      assert.match(result.stdout, /email_send\s+not readable/);
      assert.match(result.stdout, /list_users\s+not readable/);
      assert.match(result.stdout, /campaigns\s+readable/);
    } finally {
      await fake.close();
    }
  });

  it('exits 3 when a read-only key syncs export streams, after reading what it may', async () => {
    const fake = await startFakeIterable();
    try {
      const result = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', '2024-03-01', '--streams', 'channels,email_send'],
        cliEnv({ ITERABLE_API_KEY: 'test-readonly-key' }),
      );
      assert.equal(result.code, 3, result.stderr);
      assert.equal(recordsByStream(parseSinger(result.stdout)).get('channels')!.length, fake.data.channels.length);
      assert.match(result.stderr, /email_send: Iterable refused access/);
    } finally {
      await fake.close();
    }
  });

  it('exits 2 with a message naming the key and the fix on bad configuration', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iterable-sync-config-'));
    await writeFile(join(dir, 'bad.json'), '{"api_key": "k1234", "api_window_in_days": -3}');
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['tap', '--start-date', 'last tuesday'], { ITERABLE_API_KEY: 'k1234' }, /start_date "last tuesday" is not a date/],
      [['tap'], {}, /api_key is missing/],
      [['tap', '--streams', 'email_sends'], { ITERABLE_API_KEY: 'k1234' }, /unknown stream\(s\) email_sends; valid streams: campaigns, channels/],
      [['tap', '--config', join(dir, 'bad.json')], {}, /api_window_in_days must be a number > 0/],
      [['tap', '--config', join(dir, 'missing.json')], {}, /cannot read config file .*missing\.json/],
      [['sync', '--no-such-flag'], {}, /unknown option/],
    ];
    for (const [args, env, pattern] of cases) {
      const result = await runCli(args, cliEnv(env));
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stdout, '', 'nothing on stdout');
    }
  });

  it('tap-iterable takes the classic Singer flags', async () => {
    const fake = await startFakeIterable();
    try {
      const dir = await mkdtemp(join(tmpdir(), 'iterable-sync-singer-'));
      const config = join(dir, 'config.json');
      await writeFile(config, JSON.stringify({ api_key: 'test-server-key', start_date: '2024-03-01T00:00:00Z', api_window_in_days: 30, base_url: fake.url }));
      const discovered = await runCli(['--config', config, '--discover'], cliEnv(), { bin: 'tap-iterable' });
      assert.equal(discovered.code, 0, discovered.stderr);
      const catalog = JSON.parse(discovered.stdout) as { streams: Array<{ tap_stream_id: string; schema: { properties: Record<string, unknown> }; metadata: Array<{ breadcrumb: string[]; metadata: Record<string, unknown> }> }> };
      assert.equal(catalog.streams.length, 61);
      assert.ok(catalog.streams.find((s) => s.tap_stream_id === 'users')!.schema.properties.LTV, 'custom user fields in the catalog');
      for (const s of catalog.streams) s.metadata[0]!.metadata.selected = ['lists', 'message_types'].includes(s.tap_stream_id);
      await writeFile(join(dir, 'catalog.json'), JSON.stringify(catalog));
      const synced = await runCli(['--config', config, '--properties', join(dir, 'catalog.json')], cliEnv(), { bin: 'tap-iterable' });
      assert.equal(synced.code, 0, synced.stderr);
      assert.deepEqual([...recordsByStream(parseSinger(synced.stdout)).keys()].sort(), ['lists', 'message_types']);
    } finally {
      await fake.close();
    }
  });
});
