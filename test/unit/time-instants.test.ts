import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBookmark, formatIterableTime, iterableTimeToIso, parseInstant } from '../../src/time/instants.js';

describe('instants', () => {
  it('parses every start_date form a user may write, as UTC unless an offset is given', () => {
    assert.equal(parseInstant('2024-01-31')?.toISOString(), '2024-01-31T00:00:00.000Z');
    assert.equal(parseInstant('2024-01-31T10:20:30Z')?.toISOString(), '2024-01-31T10:20:30.000Z');
    assert.equal(parseInstant('2024-01-31T10:20:30')?.toISOString(), '2024-01-31T10:20:30.000Z');
    assert.equal(parseInstant('2024-01-31T10:20:30+02:00')?.toISOString(), '2024-01-31T08:20:30.000Z');
    assert.equal(parseInstant('01/31/2024')?.toISOString(), '2024-01-31T00:00:00.000Z');
    assert.equal(parseInstant('2019-01-01T00:00:00.000000Z')?.toISOString(), '2019-01-01T00:00:00.000Z');
    assert.equal(parseInstant('2024-05-01 12:00:00 +00:00')?.toISOString(), '2024-05-01T12:00:00.000Z');
  });

  it('rejects text that is not a date, and impossible dates', () => {
    for (const bad of ['yesterday', '2024-02-30', '13/01/2024', '2024-01-31T25:00:00Z', '']) {
      assert.equal(parseInstant(bad), null, bad);
    }
  });

  it("converts Iterable's export format, with and without millis and offsets", () => {
    assert.equal(iterableTimeToIso('2021-04-14 16:25:55 +00:00'), '2021-04-14T16:25:55.000Z');
    assert.equal(iterableTimeToIso('2024-01-31 18:04:05.250 +00:00'), '2024-01-31T18:04:05.250Z');
    assert.equal(iterableTimeToIso('2024-01-31 18:04:05 -05:00'), '2024-01-31T23:04:05.000Z');
    assert.equal(iterableTimeToIso('2024-02-29 23:59:59 +00:00'), '2024-02-29T23:59:59.000Z');
    assert.equal(iterableTimeToIso('2024-01-31 18:04:05.2 +00:00'), '2024-01-31T18:04:05.200Z');
    assert.equal(iterableTimeToIso('2024-01-31 18:04:05.123456 +00:00'), '2024-01-31T18:04:05.123Z');
    assert.equal(iterableTimeToIso('2024-02-30 00:00:00 +00:00'), null);
    assert.equal(iterableTimeToIso('2024-13-01 00:00:00 +00:00'), null);
    assert.equal(iterableTimeToIso('2015-11-13'), null);
    assert.equal(iterableTimeToIso('2016-11-29 13:22:56'), null);
    assert.equal(iterableTimeToIso('hello world, this is not a date'), null);
  });

  it('formats request times and Singer bookmarks the way Iterable and tap-iterable expect', () => {
    const d = new Date('2024-05-01T12:34:56.789Z');
    assert.equal(formatIterableTime(d), '2024-05-01 12:34:56');
    assert.equal(formatBookmark(d), '2024-05-01T12:34:56.789000Z');
  });
});
