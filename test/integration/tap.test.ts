import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, collect, parseSinger, recordsByStream, runCli, spawnCli, type SingerMessage } from './cli-harness.js';
import { contentOf, EXPORT_STREAMS, expectedExport, isoEpochFields, userDateFields } from './expected-records.js';

const addFormats = addFormatsModule.default;
const START = '2023-12-01';
const SERVER_KEY = 'test-server-key';

function exportWindows(fake: FakeIterable, dataTypeName: string, since = 0): Array<{ start: string; end: string }> {
  return fake.requests
    .filter((r) => r.at >= since && r.path === '/api/export/data.json' && r.query.get('dataTypeName') === dataTypeName && r.status === 200)
    .map((r) => ({ start: r.query.get('startDateTime')!, end: r.query.get('endDateTime')! }));
}

const asUtc = (iterableTime: string) => Date.parse(`${iterableTime.replace(' ', 'T')}Z`);

describe('tap: extraction of all 16 streams against the fake Iterable', () => {
  let fake: FakeIterable;
  let messages: SingerMessage[];
  let stderr: string;
  let runStartedAt: number;
  let runEndedAt: number;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iterable-sync-tap-'));
    fake = await startFakeIterable({ data: generateFakeData({ seed: 7 }) });
    runStartedAt = Date.now();
    const result = await runCli(
      ['tap', '--base-url', fake.url, '--start-date', START, '--window-days', '30'],
      cliEnv({ ITERABLE_API_KEY: SERVER_KEY }),
    );
    runEndedAt = Date.now();
    stderr = result.stderr;
    assert.equal(result.code, 0, result.stderr);
    messages = parseSinger(result.stdout);
  });

  after(async () => {
    await fake.close();
  });

  it('emits, for every export stream, exactly the events Iterable holds, normalised', () => {
    const byStream = recordsByStream(messages);
    const dates = userDateFields(fake.data);
    for (const [stream, type] of Object.entries(EXPORT_STREAMS)) {
      const got = byStream.get(stream) ?? [];
      const expected = expectedExport(fake.data, type, stream === 'users' || stream === 'email_subscribe' ? dates : undefined);
      assert.equal(got.length, expected.length, `${stream}: record count`);
      assert.deepEqual(contentOf(got), contentOf(expected), `${stream}: record content`);
      if (stream !== 'users') {
        assert.equal(new Set(got.map((r) => r._event_id)).size, got.length, `${stream}: _event_id unique`);
      }
    }
  });

  it('emits every campaign, template, list, channel, message type, list member and metadata key', () => {
    const byStream = recordsByStream(messages);
    const { data } = fake;
    const times = ['createdAt', 'updatedAt', 'startAt', 'endedAt'];
    assert.deepEqual(contentOf(byStream.get('campaigns')!), contentOf(data.campaigns.map((c) => isoEpochFields(c, times))));
    assert.deepEqual(
      contentOf(byStream.get('templates')!),
      contentOf(data.templates.map((t) => ({ ...isoEpochFields(t.template, times), templateType: t.templateType, messageMedium: t.messageMedium }))),
    );
    assert.deepEqual(contentOf(byStream.get('channels')!), contentOf(data.channels));
    assert.deepEqual(contentOf(byStream.get('lists')!), contentOf(data.lists.map((l) => isoEpochFields(l, times))));
    assert.deepEqual(contentOf(byStream.get('message_types')!), contentOf(data.messageTypes.map((m) => isoEpochFields(m, times))));
    const members = [...data.listMembers].flatMap(([listId, emails]) => emails.map((email) => `${listId}|${email}`)).sort();
    assert.deepEqual(byStream.get('list_users')!.map((r) => `${r.listId}|${r.email}`).sort(), members);
    const keys = data.metadata.flatMap((t) => t.keys.map((k) => `${t.name}|${k.key}|${JSON.stringify(k.value)}|${new Date(k.lastModified).toISOString()}`)).sort();
    assert.deepEqual(byStream.get('metadata')!.map((r) => `${r.table}|${r.key}|${JSON.stringify(r.value)}|${r.lastModified}`).sort(), keys);
  });

  it('writes valid Singer: a SCHEMA before each stream, records that match it, STATE last', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const validators = new Map<string, ReturnType<typeof ajv.compile>>();
    for (const m of messages) {
      if (m.type === 'SCHEMA') validators.set(m.stream!, ajv.compile(m.schema!));
      if (m.type === 'RECORD') {
        const validate = validators.get(m.stream!);
        assert.ok(validate, `RECORD of ${m.stream} before its SCHEMA`);
        assert.ok(validate(m.record), `${m.stream}: ${JSON.stringify(validate.errors)}`);
      }
    }
    assert.equal(validators.size, 16);
    assert.equal(messages.at(-1)!.type, 'STATE');
  });

  it('reads exports in half-open windows from start_date to the run start: no gap, no overlap', () => {
    const finalState = messages.filter((m) => m.type === 'STATE').at(-1)!.value!;
    for (const type of Object.values(EXPORT_STREAMS)) {
      const windows = exportWindows(fake, type);
      assert.ok(windows.length >= 2, type);
      assert.equal(asUtc(windows[0]!.start), Date.parse(`${START}T00:00:00Z`), `${type} starts at start_date`);
      for (let i = 1; i < windows.length; i++) assert.equal(windows[i]!.start, windows[i - 1]!.end, `${type} window ${i} follows the previous one`);
      for (const w of windows) assert.ok(asUtc(w.end) - asUtc(w.start) <= 30 * 86_400_000);
      const lastEnd = asUtc(windows.at(-1)!.end);
      assert.ok(lastEnd >= runStartedAt - 1000 && lastEnd <= runEndedAt, `${type}: last window ends at the run start`);
      const stream = Object.entries(EXPORT_STREAMS).find(([, t]) => t === type)![0];
      const bookmark = Object.values(finalState.bookmarks[stream]!)[0]!;
      assert.equal(Date.parse(bookmark), lastEnd, `${stream} bookmark is the last window's end`);
    }
  });

  it('a second run from the final state reads only from the bookmark minus the lookback', async () => {
    const finalState = messages.filter((m) => m.type === 'STATE').at(-1)!.value!;
    const statePath = join(dir, 'state.json');
    await writeFile(statePath, JSON.stringify(finalState));
    const since = Date.now();
    const result = await runCli(
      ['tap', '--base-url', fake.url, '--start-date', START, '--state', statePath, '--streams', 'email_send,users,campaigns'],
      cliEnv({ ITERABLE_API_KEY: SERVER_KEY }),
    );
    assert.equal(result.code, 0, result.stderr);
    const windows = exportWindows(fake, 'emailSend', since);
    assert.equal(windows.length, 1);
    const bookmark = Date.parse(finalState.bookmarks.email_send!.createdAt!);
    assert.equal(asUtc(windows[0]!.start), Math.floor((bookmark - 60 * 60_000) / 1000) * 1000);
    const records = recordsByStream(parseSinger(result.stdout));
    // All fake events are in 2024: nothing is newer than the bookmark, nothing is re-emitted.
    assert.equal(records.get('email_send')?.length ?? 0, 0);
    // Campaigns come back only when updated within the lookback before the bookmark.
    const campaignsBookmark = Date.parse(finalState.bookmarks.campaigns!.updatedAt!);
    const recent = fake.data.campaigns.filter((c) => c.updatedAt >= campaignsBookmark - 60 * 60_000).map((c) => c.id).sort();
    assert.ok(recent.length < fake.data.campaigns.length);
    assert.deepEqual((records.get('campaigns') ?? []).map((c) => c.id).sort(), recent);
  });

  it('logs progress on stderr only, and never the key', () => {
    assert.match(stderr, /email_send: complete/);
    assert.ok(!stderr.includes(SERVER_KEY));
  });
});

describe('tap: interrupted and resumed', () => {
  it('resumes from the last STATE after a kill -9 without losing an event', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 3 }) });
    try {
      for (let i = 0; i < 40; i++) fake.inject({ kind: 'slow', path: '/api/export/data.json', msPerChunk: 40 });
      const env = cliEnv({ ITERABLE_API_KEY: SERVER_KEY });
      const args = ['tap', '--base-url', fake.url, '--start-date', START, '--window-days', '5', '--streams', 'email_send'];
      const child = spawnCli(args, env);
      let seen = '';
      const killed = new Promise<void>((resolve) => {
        child.stdout!.on('data', (d: Buffer) => {
          seen += d.toString();
          const states = seen.split('\n').filter((l) => l.startsWith('{"type":"STATE"'));
          if (states.length >= 4) {
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      const first = collect(child, 60_000);
      await killed;
      const run1 = await first;
      assert.equal(run1.signal, 'SIGKILL');
      // A target keeps the messages it fully received; the last complete STATE is where it resumes.
      const lines = seen.split('\n');
      const complete = lines.slice(0, -1).filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as SingerMessage);
      const lastState = complete.filter((m) => m.type === 'STATE').at(-1)!.value!;
      const dir = await mkdtemp(join(tmpdir(), 'iterable-sync-resume-'));
      await writeFile(join(dir, 'state.json'), JSON.stringify(lastState));
      fake.clearFaults();
      const run2 = await runCli([...args, '--state', join(dir, 'state.json')], env);
      assert.equal(run2.code, 0, run2.stderr);
      const ids = new Set<unknown>();
      for (const m of [...complete, ...parseSinger(run2.stdout)]) if (m.type === 'RECORD') ids.add(m.record!._event_id);
      const expected = expectedExport(fake.data, 'emailSend');
      assert.equal(ids.size, expected.length, 'every event arrives, none collapses');
      const bookmark = Date.parse(lastState.bookmarks.email_send!.createdAt!);
      const firstResumed = exportWindows(fake, 'emailSend').find((w) => asUtc(w.start) === Math.floor((bookmark - 3_600_000) / 1000) * 1000);
      assert.ok(firstResumed, 'the resumed run starts at the last committed window, minus the lookback');
    } finally {
      await fake.close();
    }
  });
});
