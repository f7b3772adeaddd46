import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProgress, renderBlock, shouldDrawLiveProgress, type StreamRow } from '../../../src/cli/progress.js';
import { DEFAULT_STREAM_NAMES as STREAM_NAMES } from '../../../src/streams/stream-table.js';
import type { StreamResult } from '../../../src/sync/run-sync.js';
import { TerminalScreen } from './terminal-screen.js';

function row(stream: string, overrides: Partial<StreamRow> = {}): StreamRow {
  return { stream, status: 'running', unitsDone: 0, unitsTotal: null, rows: 0, rowsPerSecond: 0, rateLimitWaitMs: 0, waiting: null, ...overrides };
}

/** Rows as wide as they get: every stream, huge counts, long waits. */
const WIDEST: StreamRow[] = STREAM_NAMES.map((stream, i) =>
  row(stream, {
    status: i % 4 === 0 ? 'interrupted' : 'running',
    unitsDone: 1234,
    unitsTotal: 99999,
    rows: 9_876_543_210,
    rowsPerSecond: 123_456_789,
    rateLimitWaitMs: 123_456_000,
    waiting: i % 2 === 0 ? { family: 'userFields', remainingMs: 3_599_000, position: 123, queued: 456 } : null,
  }),
);

function result(stream: string, status: StreamResult['status']): StreamResult {
  return { stream, status, rows: 10, rowsRead: 10, rescued: 0, rejected: 0, unitsDone: 1, bookmarkCommits: 1, columnsAdded: [], durationMs: 1000, rateLimitWaitMs: 0 };
}

describe('renderBlock', () => {
  for (const columns of [80, 60, 40, 20]) {
    it(`keeps every line within ${columns} columns (one column to spare), whatever the numbers`, () => {
      const lines = renderBlock(WIDEST, columns);
      assert.equal(lines.length, STREAM_NAMES.length);
      for (const line of lines) assert.ok(line.length <= columns - 1, `${line.length} > ${columns - 1}: ${line}`);
      for (const [i, line] of lines.entries()) assert.ok(line.startsWith(STREAM_NAMES[i]!.slice(0, columns - 2)), line);
    });
  }

  it('shows what a stream does at 80 columns without cutting it', () => {
    const [running, waiting, done] = renderBlock(
      [
        row('email_send', { unitsDone: 12, unitsTotal: 40, rows: 123_456, rowsPerSecond: 4321, rateLimitWaitMs: 95_000 }),
        row('email_unsubscribe', { unitsDone: 3, unitsTotal: 40, rows: 77, waiting: { family: 'export', remainingMs: 47_000, position: 3, queued: 12 } }),
        row('channels', { status: 'complete', rows: 5 }),
      ],
      80,
    );
    assert.equal(running, 'email_send          12/40      123k rows 4321 rows/s rate-limit wait 1m35s');
    assert.equal(waiting, 'email_unsubscribe    3/40        77 rows    0 rows/s export queue 3/12 ~47s');
    assert.equal(done, 'channels                          5 rows    complete');
  });

  it('folds what does not fit the screen into one line, running streams first', () => {
    const rows = STREAM_NAMES.map((stream, i) => row(stream, { status: i < 10 ? 'complete' : i === 10 ? 'failed' : 'running' }));
    const lines = renderBlock(rows, 80, 6);
    assert.equal(lines.length, 6);
    assert.deepEqual(
      lines.slice(0, 5).map((l) => l.split(' ')[0]),
      STREAM_NAMES.slice(11, 16),
    );
    assert.equal(lines[5], '… 11 more: 10 complete, 1 failed');
  });
});

describe('createProgress on a terminal', () => {
  it('redraws only its block: log lines stay above it once, rows that come and go leave nothing behind', () => {
    const screen = new TerminalScreen(80, 24);
    let nowMs = 0;
    const progress = createProgress({ isTTY: true, write: (t) => screen.write(t), columns: () => 80, rows: () => 24, now: () => nowMs });
    const waits = { rateLimitWaitMs: 0 };
    progress.log('first log line\n');
    for (const [i, name] of STREAM_NAMES.entries()) {
      progress.streamStarted!(name, waits);
      progress.planned!(name, 40);
      progress.rowsRead!(name, 1000 * (i + 1));
      nowMs += 250;
      progress.log(`a log line that is much longer than the terminal is wide, so that it wraps: ${'x'.repeat(90)} ${name}\n`);
    }
    for (const name of STREAM_NAMES.slice(0, 8)) progress.streamFinished!(result(name, 'complete'));
    progress.log('last log line\n');
    progress.stop();

    const lines = screen.text();
    for (const name of STREAM_NAMES) {
      const rowsOfStream = lines.filter((l) => l.startsWith(`${name} `));
      assert.equal(rowsOfStream.length, 1, `${name}: ${rowsOfStream.length} rows in the scrollback and screen:\n${lines.join('\n')}`);
    }
    assert.equal(lines[0], 'first log line');
    assert.equal(lines.filter((l) => l === 'last log line').length, 1);
    // The block is last, in stream order, after every log line.
    assert.deepEqual(
      lines.slice(-STREAM_NAMES.length).map((l) => l.split(' ')[0]),
      STREAM_NAMES,
    );
    assert.equal(lines.at(-STREAM_NAMES.length - 1), 'last log line');
    assert.match(lines.find((l) => l.startsWith('campaigns '))!, /complete/);
  });

  it('never draws a block taller than the screen (which it could not erase)', () => {
    const screen = new TerminalScreen(80, 8);
    const progress = createProgress({ isTTY: true, write: (t) => screen.write(t), columns: () => 80, rows: () => 8 });
    for (const name of STREAM_NAMES) progress.streamStarted!(name, { rateLimitWaitMs: 0 });
    progress.log('hello\n');
    progress.log('again\n');
    progress.stop();
    const lines = screen.text();
    assert.deepEqual(lines.slice(0, 2), ['hello', 'again']);
    assert.equal(lines.length, 2 + 7, lines.join('\n'));
    assert.match(lines.at(-1)!, /^… 10 more: 10 running$/);
    assert.deepEqual(screen.wrapped, []);
  });

  it("shows each export stream's place in the queue for the shared export budget, moving up as the streams ahead get their slots", () => {
    let clock = 1_000_000;
    const screen = new TerminalScreen(100, 12);
    const progress = createProgress({ isTTY: true, write: (t) => screen.write(t), columns: () => 100, rows: () => 12, now: () => clock });
    const wait = (waitedMs: number, expectedMs: number) => ({ family: 'export' as const, limit: { requests: 4, periodMs: 60_000 }, waitedMs, expectedMs, aheadCount: 0 });
    for (const name of ['email_send', 'email_open', 'email_click', 'users']) progress.streamStarted!(name, { rateLimitWaitMs: 0 });
    // Reported in any order: the queue is by when each request started waiting.
    progress.rateLimitWait!('email_click', wait(10_000, 45_000));
    progress.rateLimitWait!('email_send', wait(40_000, 15_000));
    progress.rateLimitWait!('users', wait(0, 60_000));
    progress.rateLimitWait!('email_open', wait(25_000, 30_000));
    const noteOf = (name: string) => {
      progress.log('');
      const line = screen.text().find((l) => l.startsWith(`${name} `))!;
      return line.slice(line.indexOf('rows/s') + 7);
    };
    assert.equal(noteOf('email_send'), 'export queue 1/4 ~15s');
    assert.equal(noteOf('email_open'), 'export queue 2/4 ~30s');
    assert.equal(noteOf('email_click'), 'export queue 3/4 ~45s');
    assert.equal(noteOf('users'), 'export queue 4/4 ~1m00s');
    // email_send got its slot (rows arrive); email_open finishes: the others move up.
    clock += 16_000;
    progress.rowsRead!('email_send', 100);
    progress.streamFinished!(result('email_open', 'complete'));
    assert.equal(noteOf('email_send'), '');
    assert.equal(noteOf('email_click'), 'export queue 1/2 ~29s');
    assert.equal(noteOf('users'), 'export queue 2/2 ~44s');
    progress.stop();
  });

  it('writes plain lines, no escape code, when not live', () => {
    let written = '';
    const logged: Array<[string, Record<string, unknown>]> = [];
    const progress = createProgress({ isTTY: false, write: (t) => (written += t), info: (m, f) => logged.push([m, f ?? {}]) });
    progress.streamStarted!('email_send', { rateLimitWaitMs: 0 });
    progress.planned!('email_send', 2);
    progress.rowsRead!('email_send', 10);
    progress.unitDone!('email_send', '[2024-01-01T00:00:00.000Z, 2024-01-02T00:00:00.000Z)');
    progress.rateLimitWait!('email_send', { family: 'export', limit: { requests: 4, periodMs: 60_000 }, waitedMs: 30_000, expectedMs: 75_000, aheadCount: 2 });
    progress.streamFinished!(result('email_send', 'complete'));
    progress.log('a line\n');
    progress.stop();
    assert.equal(written, 'a line\n');
    assert.deepEqual(
      logged.map(([m, f]) => [f.event, m]),
      [
        ['stream_started', 'email_send: started'],
        ['window_committed', 'email_send: [2024-01-01T00:00:00.000Z, 2024-01-02T00:00:00.000Z) committed (1/2), 10 rows read so far'],
        ['rate_limit_wait', 'email_send: waiting for a slot of the export rate limit (4 requests per minute): 30s so far, about 1m15s to go, 2 request(s) ahead'],
        ['stream_finished', 'email_send: complete, 10 rows in 1.0s'],
      ],
    );
    assert.ok(logged.every(([, f]) => f.stream === 'email_send'));
  });
});

describe('shouldDrawLiveProgress', () => {
  it('draws only on a terminal, and never with TERM=dumb or NO_COLOR (any value)', () => {
    assert.equal(shouldDrawLiveProgress({ isTTY: true }, { TERM: 'xterm-256color' }), true);
    assert.equal(shouldDrawLiveProgress({ isTTY: false }, { TERM: 'xterm-256color' }), false);
    assert.equal(shouldDrawLiveProgress({}, {}), false);
    assert.equal(shouldDrawLiveProgress({ isTTY: true }, { TERM: 'dumb' }), false);
    assert.equal(shouldDrawLiveProgress({ isTTY: true }, { TERM: 'xterm', NO_COLOR: '1' }), false);
    assert.equal(shouldDrawLiveProgress({ isTTY: true }, { TERM: 'xterm', NO_COLOR: '' }), false);
  });
});
