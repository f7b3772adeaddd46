import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkKeys, hashKey, KEY_HASH } from '../../../src/destinations/sql/chunk-keys.js';
import { ChunkRange, instantFromEpochMicros } from '../../../src/destinations/sql/chunk-range.js';
import type { LoadColumn } from '../../../src/destinations/sql/table-columns.js';
import { TransactionKeys, transactionKeysWordsInUse } from '../../../src/destinations/sql/transaction-keys.js';

// What a staging tracks per chunk of rows for tables without primary key (src/destinations/README.md).

const textKey: LoadColumn[] = [{ field: 'id', column: 'id', type: 'text', id: 0 }];

describe('chunk range', () => {
  it('reports the smallest and largest instant as stored, whatever form the values come in', () => {
    const range = new ChunkRange('createdAt');
    for (const createdAt of [
      '2024-05-01T12:00:00.000Z',
      '2024-05-01T11:59:59.9Z', // other fraction widths compare as instants, not as text
      '2024-05-01T12:00:00Z',
      '2024-05-01T12:00:00.5Z',
      '2024-05-01T12:00:00.123456Z',
      '2024-05-01 14:30:00 +02:00', // parsed: 12:30 UTC
      '2024-04-30T23:00:00.000001Z',
    ]) {
      range.add({ createdAt });
    }
    assert.deepEqual(range.take(), {
      min: '2024-04-30T23:00:00.000001Z',
      max: '2024-05-01T12:30:00.000000Z',
      hasNull: false,
    });
    assert.deepEqual(range.take(), { min: undefined, max: undefined, hasNull: false }, 'take starts a new range');
  });

  it('counts missing, null and unfit values as NULL, and only them', () => {
    const range = new ChunkRange('createdAt');
    range.add({ createdAt: '2024-05-01T12:00:00Z' });
    assert.equal(range.take().hasNull, false);
    for (const record of [{}, { createdAt: null }, { createdAt: 'not a date' }, { createdAt: '2024-02-30T00:00:00Z' }, { createdAt: 1714564800000 }]) {
      range.add(record);
      assert.deepEqual(range.take(), { min: undefined, max: undefined, hasNull: true }, JSON.stringify(record));
    }
  });
});

describe('instants from DuckDB', () => {
  it('turn microseconds since the epoch into the canonical text, before 1970 too', () => {
    assert.equal(instantFromEpochMicros(1_714_564_800_123_456n), '2024-05-01T12:00:00.123456Z');
    assert.equal(instantFromEpochMicros(0n), '1970-01-01T00:00:00.000000Z');
    assert.equal(instantFromEpochMicros(-1n), '1969-12-31T23:59:59.999999Z');
    assert.equal(instantFromEpochMicros(-62_135_596_800_000_000n), '0001-01-01T00:00:00.000000Z');
  });
});

describe('transaction keys', () => {
  const add = (keys: TransactionKeys, key: string) => {
    hashKey(key);
    return keys.add(KEY_HASH[0]!, KEY_HASH[1]!);
  };

  it('never misses a key added before, and rarely claims one that was not', () => {
    const keys = new TransactionKeys();
    assert.equal(keys.isEmpty, true);
    let claimed = 0;
    for (let i = 0; i < 200_000; i++) if (add(keys, `event-${i}`)) claimed++;
    assert.equal(claimed, 0);
    for (let i = 0; i < 200_000; i += 997) assert.equal(add(keys, `event-${i}`), true);
    keys.reset();
    assert.equal(keys.isEmpty, true);
    assert.equal(add(keys, 'event-0'), false);
    keys.reset();
  });

  it('share a budget: two loads get full filters, more get small ones that still never miss a key', () => {
    const before = transactionKeysWordsInUse();
    const loads = [new TransactionKeys(), new TransactionKeys(), new TransactionKeys()];
    const grown: number[] = [];
    for (const keys of loads) {
      const at = transactionKeysWordsInUse();
      add(keys, 'first');
      grown.push((transactionKeysWordsInUse() - at) * 4);
    }
    assert.deepEqual(grown, [16 * 2 ** 20, 16 * 2 ** 20, 2 * 2 ** 20]);
    const small = loads[2]!;
    let claimed = 0;
    for (let i = 0; i < 50_000; i++) if (add(small, `event-${i}`)) claimed++;
    assert.equal(claimed, 0);
    for (let i = 0; i < 50_000; i += 499) assert.equal(add(small, `event-${i}`), true);
    loads[0]!.reset();
    small.reset();
    const again = new TransactionKeys();
    const at = transactionKeysWordsInUse();
    add(again, 'first');
    assert.equal((transactionKeysWordsInUse() - at) * 4, 16 * 2 ** 20, 'a released filter returns its share');
    for (const keys of [...loads, again]) keys.reset();
    assert.equal(transactionKeysWordsInUse(), before);
  });
});

describe('chunk keys', () => {
  it('tell a key repeated within the chunk from one of an earlier chunk of the transaction', () => {
    const earlier = new TransactionKeys();
    const keys = new ChunkKeys(textKey, earlier);
    for (const key of ['a', 'b', 'a']) keys.add(key);
    assert.deepEqual([keys.mayHaveDuplicates, keys.mayRepeatEarlierChunk], [true, false]);
    keys.sealInto();
    keys.reset();
    for (const key of ['c', 'd']) keys.add(key);
    assert.deepEqual([keys.mayHaveDuplicates, keys.mayRepeatEarlierChunk], [false, false]);
    keys.sealInto();
    keys.reset();
    for (const key of ['e', 'c']) keys.add(key);
    assert.deepEqual([keys.mayHaveDuplicates, keys.mayRepeatEarlierChunk], [false, true], 'c was in the second chunk');
    keys.reset();
    keys.add('a');
    assert.equal(keys.mayRepeatEarlierChunk, true, 'a was in the first chunk');
  });

  it('keep no transaction keys for a transaction of one chunk', () => {
    const earlier = new TransactionKeys();
    const keys = new ChunkKeys(textKey, earlier);
    for (let i = 0; i < 1000; i++) keys.add(`k${i}`);
    keys.reset();
    assert.equal(earlier.isEmpty, true);
  });

  it('count JSON keys as repeated, since equal values may have different texts', () => {
    const keys = new ChunkKeys([{ ...textKey[0]!, type: 'json' }], new TransactionKeys());
    keys.add('{"a":1}');
    assert.deepEqual([keys.mayHaveDuplicates, keys.mayRepeatEarlierChunk], [true, true]);
  });
});
