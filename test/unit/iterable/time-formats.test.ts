import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIterableTime, iterableTimeToIso } from '../../../src/iterable/time-formats.js';

describe("Iterable's time formats", () => {
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

  it('converts the same instant whichever path the text takes (fast UTC path, other fractions, offsets), years 0001–0099 too', () => {
    for (const [text, iso] of [
      ['0099-10-20 17:15:06 +00:00', '0099-10-20T17:15:06.000Z'],
      ['0099-10-20 17:15:06.1 +00:00', '0099-10-20T17:15:06.100Z'],
      ['0099-10-20 17:15:06 -05:00', '0099-10-20T22:15:06.000Z'],
      ['2024-01-31 23:59:59.123456 +00:00', '2024-01-31T23:59:59.123Z'],
    ]) {
      assert.equal(iterableTimeToIso(text!), iso, text);
    }
  });

  it('formats request times the way Iterable expects', () => {
    assert.equal(formatIterableTime(new Date('2024-05-01T12:34:56.789Z')), '2024-05-01 12:34:56');
  });
});
