import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventId, normalizeEpochFields, normalizeExportRecord } from '../../../src/streams/records.js';

describe('records', () => {
  it('gives the same event the same _event_id whatever its key order or itblInternal bookkeeping', () => {
    const a = { email: 'a@x.com', createdAt: '2024-05-01 12:00:00 +00:00', campaignId: 1, itblInternal: { documentUpdatedAt: 'x' } };
    const b = { campaignId: 1, createdAt: '2024-05-01 12:00:00 +00:00', email: 'a@x.com', 'itblInternal.documentUpdatedAt': 'y' };
    assert.equal(eventId(a), eventId(b));
  });

  it('gives distinct events distinct ids, even when only one field differs', () => {
    const base = { email: 'a@x.com', createdAt: '2024-05-01 12:00:00 +00:00', campaignId: 1, messageId: 'm1' };
    const ids = new Set([eventId(base), eventId({ ...base, messageId: 'm2' }), eventId({ ...base, createdAt: '2024-05-01 12:00:01 +00:00' }), eventId({ ...base, extra: null })]);
    assert.equal(ids.size, 4);
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
