import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInstant, zoneOffsetMinutes } from '../../../src/core/instants.js';

describe('parseInstant', () => {
  it('parses every start_date form a user may write, as UTC unless an offset is given', () => {
    assert.equal(parseInstant('2024-01-31')?.toISOString(), '2024-01-31T00:00:00.000Z');
    assert.equal(parseInstant('2024-01-31T10:20:30Z')?.toISOString(), '2024-01-31T10:20:30.000Z');
    assert.equal(parseInstant('2024-01-31T10:20:30')?.toISOString(), '2024-01-31T10:20:30.000Z');
    assert.equal(parseInstant('2024-01-31T10:20:30+02:00')?.toISOString(), '2024-01-31T08:20:30.000Z');
    assert.equal(parseInstant('01/31/2024')?.toISOString(), '2024-01-31T00:00:00.000Z');
    assert.equal(parseInstant('2019-01-01T00:00:00.000000Z')?.toISOString(), '2019-01-01T00:00:00.000Z');
    assert.equal(parseInstant('2024-05-01 12:00:00 +00:00')?.toISOString(), '2024-05-01T12:00:00.000Z');
  });

  it('reads years 0–99 as written (Date.UTC would make them 1900–1999)', () => {
    assert.equal(parseInstant('0024-05-01')?.toISOString(), '0024-05-01T00:00:00.000Z');
    assert.equal(parseInstant('02/29/0096')?.toISOString(), '0096-02-29T00:00:00.000Z');
    assert.equal(parseInstant('0099-02-29'), null, 'not a leap year');
  });

  it('rejects text that is not a date, and impossible dates', () => {
    for (const bad of ['yesterday', '2024-02-30', '13/01/2024', '2024-01-31T25:00:00Z', '']) {
      assert.equal(parseInstant(bad), null, bad);
    }
  });
});

describe('zoneOffsetMinutes', () => {
  it('reads the zones of ISO 8601 and of Iterable, and refuses other text', () => {
    assert.equal(zoneOffsetMinutes(undefined), 0);
    assert.equal(zoneOffsetMinutes('Z'), 0);
    assert.equal(zoneOffsetMinutes('z'), 0);
    assert.equal(zoneOffsetMinutes('+00:00'), 0);
    assert.equal(zoneOffsetMinutes('+05:30'), 330);
    assert.equal(zoneOffsetMinutes('+0530'), 330);
    assert.equal(zoneOffsetMinutes('-08'), -480);
    assert.equal(zoneOffsetMinutes('+05:75'), null);
    assert.equal(zoneOffsetMinutes('+5'), null);
    assert.equal(zoneOffsetMinutes('UTC'), null);
  });

  it('makes parseInstant refuse an offset whose minutes go past 59', () => {
    assert.equal(parseInstant('2024-01-30 00:00+05:75'), null);
    assert.equal(parseInstant('2024-01-30 00:00+05:45')?.toISOString(), '2024-01-29T18:15:00.000Z');
  });
});
