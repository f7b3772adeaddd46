import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeExportCost, estimateExportCost, exportCostStreams } from '../../../src/sync/export-cost.js';
import type { StreamBookmark } from '../../../src/state/singer-state.js';
import { STREAMS } from '../../../src/streams/stream-table.js';

const findStream = (name: string) => STREAMS.find((s) => s.name === name);

const DAY_MS = 86_400_000;
const START = Date.parse('2024-01-01T00:00:00Z');

describe('export cost: the data.json calls a run needs and the least wall time at 4 calls a minute', () => {
  it('counts one call per window from the start date to the run start, the last window shorter', () => {
    const cost = estimateExportCost({
      streams: [{ name: 'email_send', bookmarkMs: null, usesDataJson: true }],
      startDateMs: START,
      lookbackMinutes: 60,
      windowDays: 30,
      runStartMs: START + 95 * DAY_MS + 1234,
    });
    assert.deepEqual(cost.perStream, [{ name: 'email_send', calls: 4 }]);
    assert.equal(cost.calls, 4);
    // Four calls fit in the first minute's budget.
    assert.equal(cost.leastWallMs, 0);
  });

  it('starts a stream with a bookmark at the bookmark minus the lookback, and one at the run start needs a call for its lookback', () => {
    const cost = estimateExportCost({
      streams: [
        { name: 'email_send', bookmarkMs: START + 90 * DAY_MS, usesDataJson: true },
        { name: 'email_open', bookmarkMs: START + 100 * DAY_MS, usesDataJson: true },
        { name: 'users', bookmarkMs: null, usesDataJson: true },
      ],
      startDateMs: START,
      lookbackMinutes: 60,
      windowDays: 1,
      runStartMs: START + 100 * DAY_MS,
    });
    // email_send: 10 days + 1 hour of lookback → 11 one-day windows; email_open: the hour of lookback; users: 100 days.
    assert.deepEqual(cost.perStream.map((s) => s.calls), [11, 1, 100]);
    assert.equal(cost.calls, 112);
    // 112 calls at 4 a minute: 28 minutes' budgets, the last starting 27 minutes after the first.
    assert.equal(cost.leastWallMs, 27 * 60_000);
  });

  it('leaves out the streams that do not read through data.json (export jobs), so the estimate can grow with them', () => {
    const cost = estimateExportCost({
      streams: [
        { name: 'email_send', bookmarkMs: null, usesDataJson: true },
        { name: 'purchase', bookmarkMs: null, usesDataJson: false },
      ],
      startDateMs: START,
      lookbackMinutes: 0,
      windowDays: 10,
      runStartMs: START + 100 * DAY_MS,
    });
    assert.deepEqual(cost.perStream, [{ name: 'email_send', calls: 10 }]);
  });

  it('forty streams over three years of 30-day windows: hours of calls', () => {
    const streams = Array.from({ length: 40 }, (_, n) => ({ name: `s${n}`, bookmarkMs: null, usesDataJson: true }));
    const cost = estimateExportCost({ streams, startDateMs: START, lookbackMinutes: 60, windowDays: 30, runStartMs: START + 3 * 365 * DAY_MS });
    // 1095 days / 30 → 37 windows each.
    assert.equal(cost.calls, 40 * 37);
    assert.equal(cost.leastWallMs, (370 - 1) * 60_000);
    assert.equal(
      describeExportCost(cost),
      "1,480 export calls (GET /api/export/data.json) for 40 export streams: at least 6 h 09 min at Iterable's limit of 4 export calls a minute, which every export stream shares",
    );
  });

  it('uses the limit it is given, and plans windows on whole seconds as the read does', () => {
    const cost = estimateExportCost({
      streams: [{ name: 'a', bookmarkMs: null, usesDataJson: true }],
      startDateMs: START,
      lookbackMinutes: 0,
      // A fraction of a day: 0.5 days exactly.
      windowDays: 0.5,
      runStartMs: START + DAY_MS + 999,
      limit: { requests: 1, periodMs: 10_000 },
    });
    // The run start is cut to the second: [start, start + 1 day) is two windows, not three.
    assert.equal(cost.calls, 2);
    assert.equal(cost.leastWallMs, 10_000);
  });

  it('the streams of a run: only export streams, each from its bookmark by replication key', () => {
    const streams = [findStream('campaigns')!, findStream('email_send')!, findStream('users')!, findStream('purchase')!];
    const input = exportCostStreams(streams, new Map<string, StreamBookmark>([
      ['email_send', { createdAt: '2024-03-01T00:00:00.000000Z' }],
      ['users', { profileUpdatedAt: '2024-02-01T00:00:00Z' }],
    ]));
    assert.deepEqual(input, [
      { name: 'email_send', bookmarkMs: Date.parse('2024-03-01T00:00:00Z'), usesDataJson: true },
      { name: 'users', bookmarkMs: Date.parse('2024-02-01T00:00:00Z'), usesDataJson: true },
      { name: 'purchase', bookmarkMs: null, usesDataJson: true },
    ]);
    assert.equal(exportCostStreams(STREAMS).length, 53);
  });

  it('says when there is nothing to read', () => {
    const none = estimateExportCost({
      streams: [{ name: 'a', bookmarkMs: null, usesDataJson: true }],
      startDateMs: START,
      lookbackMinutes: 0,
      windowDays: 30,
      runStartMs: START,
    });
    assert.equal(describeExportCost(none), 'no export call (GET /api/export/data.json) to make for 1 export stream');
  });
});
