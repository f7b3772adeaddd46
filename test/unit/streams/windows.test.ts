import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advanceCursor, exportStartMs, nextWindow, readUntilMs, type AdaptiveCursor } from '../../../src/streams/windows.js';

const DAY = 86_400_000;

describe('export windows', () => {
  it('covers [start, end) with half-open windows: no gap, no overlap, the last ends at the run start', () => {
    const start = Date.UTC(2024, 0, 1);
    const end = Date.UTC(2024, 2, 5, 13, 7, 11);
    const policy = { maxWindowMs: 30 * DAY, minWindowMs: DAY, maxConsecutiveFailures: 5 };
    const windows = [];
    let cursor: AdaptiveCursor = { startMs: start, windowMs: policy.maxWindowMs, consecutiveFailures: 0 };
    for (let w = nextWindow(cursor, end); w; w = nextWindow(cursor, end)) {
      windows.push(w);
      cursor = advanceCursor(cursor, w, 'success', policy).cursor;
    }
    assert.equal(windows[0]!.startMs, start);
    assert.equal(windows.at(-1)!.endMs, end);
    for (let i = 1; i < windows.length; i++) assert.equal(windows[i]!.startMs, windows[i - 1]!.endMs);
    for (const w of windows) assert.ok(w.endMs - w.startMs <= 30 * DAY && w.endMs > w.startMs);
  });

  it('starts at the bookmark minus the lookback, else at the start date', () => {
    const end = Date.UTC(2024, 5, 1);
    const bookmark = Date.UTC(2024, 4, 1);
    assert.equal(exportStartMs({ bookmarkMs: bookmark, startDateMs: Date.UTC(2024, 0, 1), lookbackMinutes: 60, endMs: end }), bookmark - 3_600_000);
    assert.equal(exportStartMs({ bookmarkMs: null, startDateMs: Date.UTC(2024, 0, 1), lookbackMinutes: 60, endMs: end }), Date.UTC(2024, 0, 1));
    assert.equal(exportStartMs({ bookmarkMs: null, startDateMs: null, lookbackMinutes: 60, endMs: end }), null);
    // A bookmark in the future (clock skew) never makes a window start after the run start.
    assert.equal(exportStartMs({ bookmarkMs: end + DAY, startDateMs: null, lookbackMinutes: 0, endMs: end }), end);
  });

  it('halves a failing window down to the floor, grows back after success, and always terminates', () => {
    const policy = { maxWindowMs: 8 * DAY, minWindowMs: DAY, maxConsecutiveFailures: 5 };
    const end = 40 * DAY;
    // Adversarial outcome sequences: every walk must end (done or give up) within a bound.
    for (let seed = 0; seed < 200; seed++) {
      let cursor: AdaptiveCursor = { startMs: 0, windowMs: policy.maxWindowMs, consecutiveFailures: 0 };
      let steps = 0;
      let x = seed + 1;
      for (let w = nextWindow(cursor, end); w; w = nextWindow(cursor, end)) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        const fail = x % 3 === 0;
        const step = advanceCursor(cursor, w, fail ? 'failure' : 'success', policy);
        assert.ok(step.cursor.windowMs >= policy.minWindowMs && step.cursor.windowMs <= policy.maxWindowMs);
        assert.ok(step.cursor.startMs >= cursor.startMs);
        cursor = step.cursor;
        if (step.giveUp) break;
        assert.ok(++steps < 1000, 'walk did not terminate');
      }
    }
    const c0: AdaptiveCursor = { startMs: 0, windowMs: 8 * DAY, consecutiveFailures: 0 };
    const failed = advanceCursor(c0, { startMs: 0, endMs: 8 * DAY }, 'failure', policy);
    assert.deepEqual(failed.cursor, { startMs: 0, windowMs: 4 * DAY, consecutiveFailures: 1 });
    const ok = advanceCursor(failed.cursor, { startMs: 0, endMs: 4 * DAY }, 'success', policy);
    assert.deepEqual(ok.cursor, { startMs: 4 * DAY, windowMs: 8 * DAY, consecutiveFailures: 0 });
  });

  it('gives up after the configured number of failures in a row', () => {
    const policy = { maxWindowMs: DAY, minWindowMs: DAY / 4, maxConsecutiveFailures: 3 };
    let cursor: AdaptiveCursor = { startMs: 0, windowMs: DAY, consecutiveFailures: 0 };
    let gaveUp = false;
    for (let i = 0; i < 3; i++) {
      const step = advanceCursor(cursor, nextWindow(cursor, 10 * DAY)!, 'failure', policy);
      cursor = step.cursor;
      gaveUp = step.giveUp;
    }
    assert.equal(gaveUp, true);
    assert.equal(cursor.windowMs, DAY / 4);
  });
});

describe("reading up to Iterable's now", () => {
  it('ends at our now, or at Iterable\'s when its clock is behind ours', () => {
    const nowMs = Date.UTC(2026, 11, 4, 12);
    assert.equal(readUntilMs(nowMs, null), nowMs, 'clock unknown');
    assert.equal(readUntilMs(nowMs, 600_000), nowMs, 'Iterable ahead: our own now');
    assert.equal(readUntilMs(nowMs, -3 * DAY), nowMs - 3 * DAY, 'Iterable behind: its now');
  });
});
