import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCount, formatDuration } from '../../../src/core/format.js';

describe('formatCount', () => {
  it('writes counts as toLocaleString("en-US") does', () => {
    const values = [0, 7, -7, 999, 1000, -1000, 1908, 12_000, 999_999, 1_000_000, 123_456_789, -123_456_789, Number.MAX_SAFE_INTEGER, 1.5, 2 ** 60, -0];
    for (let n = 1; n < 1e15; n = n * 7 + 3) values.push(n, -n);
    for (const n of values) assert.equal(formatCount(n), n.toLocaleString('en-US'), String(n));
  });
});

describe('formatDuration', () => {
  it('writes an elapsed time in the largest fitting unit, rounded to the nearest', () => {
    assert.equal(formatDuration(0), '0 s');
    assert.equal(formatDuration(44_600), '45 s');
    assert.equal(formatDuration(89_000), '89 s');
    assert.equal(formatDuration(90_000), '2 min');
    assert.equal(formatDuration(59 * 60_000 + 20_000), '59 min');
    assert.equal(formatDuration(59 * 60_000 + 40_000), '1 h 00 min');
    assert.equal(formatDuration(125 * 60_000), '2 h 05 min');
    assert.equal(formatDuration(50 * 3_600_000), '2 d 2 h');
    assert.equal(formatDuration(-90_000), '-2 min');
  });

  it('rounds a least bound up to whole minutes', () => {
    assert.equal(formatDuration(0, 'up'), 'under a minute');
    assert.equal(formatDuration(1, 'up'), '1 min');
    assert.equal(formatDuration(59_000, 'up'), '1 min');
    assert.equal(formatDuration(125 * 60_000, 'up'), '2 h 05 min');
    assert.equal(formatDuration(125 * 60_000 + 1, 'up'), '2 h 06 min');
    assert.equal(formatDuration(50 * 3_600_000, 'up'), '2 d 2 h');
    assert.equal(formatDuration(2_000 * 24 * 3_600_000, 'up'), '2,000 d 0 h');
  });
});
