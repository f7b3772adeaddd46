import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCount } from '../../../src/core/format.js';

describe('formatCount', () => {
  it('writes counts as toLocaleString("en-US") does', () => {
    const values = [0, 7, -7, 999, 1000, -1000, 1908, 12_000, 999_999, 1_000_000, 123_456_789, -123_456_789, Number.MAX_SAFE_INTEGER, 1.5, 2 ** 60, -0];
    for (let n = 1; n < 1e15; n = n * 7 + 3) values.push(n, -n);
    for (const n of values) assert.equal(formatCount(n), n.toLocaleString('en-US'), String(n));
  });
});
