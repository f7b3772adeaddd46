import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBookmark } from '../../../src/state/bookmark.js';

describe('formatBookmark', () => {
  it('writes a bookmark the way tap-iterable (singer-python) does, with microseconds', () => {
    assert.equal(formatBookmark(new Date('2024-05-01T12:34:56.789Z')), '2024-05-01T12:34:56.789000Z');
  });
});
