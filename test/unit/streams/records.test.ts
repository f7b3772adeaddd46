import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hash } from 'node:crypto';
import { eventId, lineEventId, normalizeEpochFields, normalizeExportRecord } from '../../../src/streams/records.js';

describe('records', () => {
  it('gives the same event the same _event_id on every read, ignoring itblInternal bookkeeping', () => {
    const line = '{"email":"a@x.com","createdAt":"2024-05-01 12:00:00 +00:00","campaignId":1}';
    assert.equal(eventId(JSON.parse(line), line), eventId(JSON.parse(line), line));
    const a = '{"email":"a@x.com","itblInternal":{"documentUpdatedAt":"x"},"createdAt":"2024-05-01 12:00:00 +00:00"}';
    const b = '{"email":"a@x.com","itblInternal":{"documentUpdatedAt":"y"},"createdAt":"2024-05-01 12:00:00 +00:00"}';
    const c = '{"email":"a@x.com","itblInternal.documentUpdatedAt":"z","createdAt":"2024-05-01 12:00:00 +00:00"}';
    assert.equal(eventId(JSON.parse(a), a), eventId(JSON.parse(b), b));
    assert.equal(eventId(JSON.parse(a), a), eventId(JSON.parse(c), c));
  });

  it('hashes the line alone exactly when it holds no quoted itblInternal, wherever the word stands', () => {
    const lines = [
      '{"email":"a@x.com","createdAt":"2024-05-01 12:00:00 +00:00"}',
      '{"email":"a@x.com","itblInternal":{"x":1}}',
      '{"itblInternal.documentUpdatedAt":"z"}',
      '{"note":"itblInternal is a word"}',
      '{"note":"see itblInternal","x":1}',
      '{"noteitblInternal":1}',
      '{"a":"itblInternalitblInternal","b":"x\\"itblInternal"}',
      '{"a":"itblInternal"}',
      'itblInternal"itblInternal',
      '"itblInternal',
      'itblInternal',
      '{"a":"xitblInternalitblInternal"}',
    ];
    for (const line of lines) {
      const expected = line.includes('"itblInternal') ? undefined : hash('sha256', line, 'hex').slice(0, 32);
      assert.equal(lineEventId(line), expected, line);
    }
  });

  it('gives distinct events distinct ids, even when only one field differs', () => {
    const lines = [
      '{"email":"a@x.com","createdAt":"2024-05-01 12:00:00 +00:00","campaignId":1,"messageId":"m1"}',
      '{"email":"a@x.com","createdAt":"2024-05-01 12:00:00 +00:00","campaignId":1,"messageId":"m2"}',
      '{"email":"a@x.com","createdAt":"2024-05-01 12:00:01 +00:00","campaignId":1,"messageId":"m1"}',
      '{"email":"a@x.com","createdAt":"2024-05-01 12:00:00 +00:00","campaignId":1,"messageId":"m1","extra":null}',
      '{"email":"a@x.com","itblInternal":{},"createdAt":"2024-05-01 12:00:00 +00:00","campaignId":2,"messageId":"m1"}',
    ];
    assert.equal(new Set(lines.map((l) => eventId(JSON.parse(l), l))).size, lines.length);
  });

  it('normalises export times to ISO 8601 UTC, parses transactionalData strings, keeps every field', () => {
    const row = normalizeExportRecord(
      {
        email: 'a@x.com',
        createdAt: '2024-05-01 12:00:00 +00:00',
        profileUpdatedAt: '2024-05-01 12:00:00.250 +00:00',
        transactionalData: '{"data":[1,2]}',
        someDate: '2015-11-13',
        birthday: '1990-02-03',
        weird: 'not json {',
        nested: { documentCreatedAt: '2021-04-14 16:25:55 +00:00' },
      },
      new Set(['birthday']),
    );
    assert.deepEqual(row, {
      email: 'a@x.com',
      createdAt: '2024-05-01T12:00:00.000Z',
      profileUpdatedAt: '2024-05-01T12:00:00.250Z',
      transactionalData: { data: [1, 2] },
      someDate: '2015-11-13',
      birthday: '1990-02-03T00:00:00.000Z',
      weird: 'not json {',
      nested: { documentCreatedAt: '2021-04-14T16:25:55.000Z' },
    });
    assert.equal(normalizeExportRecord({ transactionalData: 'plain text' }).transactionalData, 'plain text');
  });

  it('converts epoch milliseconds of date-time fields only', () => {
    const row = normalizeEpochFields({ id: 1674142638148, createdAt: 1674142638148, updatedAt: null }, ['createdAt', 'updatedAt']);
    assert.deepEqual(row, { id: 1674142638148, createdAt: '2023-01-19T15:37:18.148Z', updatedAt: null });
  });
});
