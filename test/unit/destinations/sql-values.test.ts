import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cellText, inferColumnType, parseTimestamp, toJsonText } from '../../../src/destinations/sql/cell-values.js';
import { ColumnNameMapper } from '../../../src/destinations/sql/column-names.js';
import { columnTypeForSchema, columnTypeForSqlType } from '../../../src/destinations/sql/column-types.js';
import { RecordEncoder, isUnstorable, type EncodedRow } from '../../../src/destinations/sql/record-encoder.js';
import { TableColumns } from '../../../src/destinations/sql/table-columns.js';

// The pure rules behind both SQL destinations (README.md in src/destinations).

const duck = { replaceNul: false };
const pg = { replaceNul: true };

describe('column types', () => {
  it('follow the Singer schema of a property', () => {
    assert.equal(columnTypeForSchema({ type: ['null', 'integer'] }), 'bigint');
    assert.equal(columnTypeForSchema({ type: 'number' }), 'double');
    assert.equal(columnTypeForSchema({ type: ['integer', 'number', 'null'] }), 'double');
    assert.equal(columnTypeForSchema({ type: ['null', 'boolean'] }), 'boolean');
    assert.equal(columnTypeForSchema({ type: ['null', 'string'], format: 'date-time' }), 'timestamptz');
    assert.equal(columnTypeForSchema({ type: ['null', 'string'], format: 'date' }), 'text');
    assert.equal(columnTypeForSchema({ type: ['null', 'string'] }), 'text');
    assert.equal(columnTypeForSchema({ type: ['null', 'object'] }), 'json');
    assert.equal(columnTypeForSchema({ type: 'array', items: { type: 'integer' } }), 'json');
    assert.equal(columnTypeForSchema({ type: ['string', 'integer'] }), 'json');
    assert.equal(columnTypeForSchema({}), 'json');
    assert.equal(columnTypeForSchema({ anyOf: [{ type: 'null' }, { type: 'string', format: 'date-time' }] }), 'timestamptz');
  });

  it('are inferred from the first value of a field outside the schema', () => {
    assert.equal(inferColumnType(5), 'bigint');
    assert.equal(inferColumnType(2 ** 60), 'double');
    assert.equal(inferColumnType(12n), 'bigint');
    assert.equal(inferColumnType(0.5), 'double');
    assert.equal(inferColumnType(true), 'boolean');
    assert.equal(inferColumnType('2024-05-01T12:00:00Z'), 'timestamptz');
    assert.equal(inferColumnType('2024-05-01T12:00:00.123Z'), 'timestamptz');
    assert.equal(inferColumnType('2024-05-01 12:00:00 +00:00'), 'text');
    assert.equal(inferColumnType('2024-02-30T12:00:00Z'), 'text');
    assert.equal(inferColumnType('hello'), 'text');
    assert.equal(inferColumnType({ a: 1 }), 'json');
    assert.equal(inferColumnType([1]), 'json');
    assert.equal(inferColumnType(null), undefined);
  });

  it('are read back from the names information_schema reports', () => {
    assert.equal(columnTypeForSqlType('BIGINT'), 'bigint');
    assert.equal(columnTypeForSqlType('integer'), 'bigint');
    assert.equal(columnTypeForSqlType('double precision'), 'double');
    assert.equal(columnTypeForSqlType('TIMESTAMP WITH TIME ZONE'), 'timestamptz');
    assert.equal(columnTypeForSqlType('jsonb'), 'json');
    assert.equal(columnTypeForSqlType('VARCHAR'), 'text');
  });
});

describe('timestamps', () => {
  it('parse ISO 8601 date-times into canonical UTC with microseconds', () => {
    assert.equal(parseTimestamp('2024-05-01T12:00:00.000Z'), '2024-05-01T12:00:00.000000Z');
    assert.equal(parseTimestamp('2024-05-01T12:00:00Z'), '2024-05-01T12:00:00.000000Z');
    assert.equal(parseTimestamp('2024-05-01T12:00:00.123456789Z'), '2024-05-01T12:00:00.123456Z');
    assert.equal(parseTimestamp('2024-05-01 14:30:00 +02:30'), '2024-05-01T12:00:00.000000Z');
    assert.equal(parseTimestamp('2024-05-01T07:00:00-0500'), '2024-05-01T12:00:00.000000Z');
    assert.equal(parseTimestamp('2024-05-01T12:00'), '2024-05-01T12:00:00.000000Z');
    assert.equal(parseTimestamp('2024-05-01'), '2024-05-01T00:00:00.000000Z');
    assert.equal(parseTimestamp('0050-01-01T00:00:00Z'), '0050-01-01T00:00:00.000000Z');
    assert.equal(parseTimestamp('2024-02-29T00:00:00Z'), '2024-02-29T00:00:00.000000Z');
  });

  it('refuse what is not a valid instant in 0001–9999', () => {
    for (const text of [
      'not a date',
      '2023-02-29T00:00:00Z',
      '2024-04-31T00:00:00.000Z',
      '2024-05-01T24:00:00Z',
      '2024-05-01T23:59:60Z',
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:30:00+01:00',
      '2024-05-01T12:00:00+16:00',
      '1714564800000',
      '2024-5-1',
    ]) {
      assert.equal(parseTimestamp(text), undefined, text);
    }
  });
});

describe('cell values', () => {
  it('fit a column only when nothing is lost', () => {
    assert.equal(cellText('bigint', 9007199254740993n, duck), '9007199254740993');
    assert.equal(cellText('bigint', -(2n ** 63n), duck), '-9223372036854775808');
    assert.equal(cellText('bigint', 2n ** 63n, duck), undefined);
    assert.equal(cellText('bigint', 2 ** 63, duck), undefined);
    assert.equal(cellText('bigint', 1.5, duck), undefined);
    assert.equal(cellText('bigint', '12', duck), undefined);
    assert.equal(cellText('double', 12, duck), '12');
    assert.equal(cellText('double', 1e21, duck), '1e+21');
    assert.equal(cellText('double', 2n ** 60n, duck), String(2 ** 60));
    assert.equal(cellText('double', 2n ** 60n + 1n, duck), undefined);
    assert.equal(cellText('boolean', false, duck), 'false');
    assert.equal(cellText('boolean', 'true', duck), undefined);
    assert.equal(cellText('text', 42, duck), '42');
    assert.equal(cellText('text', { a: 1 }, duck), undefined);
    assert.equal(cellText('timestamptz', new Date('2024-05-01T12:00:00Z'), duck), '2024-05-01T12:00:00.000000Z');
    assert.equal(cellText('json', 'plain', duck), '"plain"');
  });

  it('are cleaned of what a database cannot store', () => {
    assert.equal(cellText('text', 'a\u0000b', pg), 'a\uFFFDb');
    assert.equal(cellText('text', 'a\u0000b', duck), 'a\u0000b');
    assert.equal(cellText('text', 'x\uD800y', duck), 'x\uFFFDy');
    assert.equal(toJsonText({ 'k\u0000': ['\uDC00', 1n] }, pg), '{"k\uFFFD":["\uFFFD",1]}');
    assert.equal(toJsonText({ big: 12345678901234567890n, d: new Date(0) }, duck), '{"big":12345678901234567890,"d":"1970-01-01T00:00:00.000Z"}');
    assert.equal(toJsonText({ a: [1, 'x'] }, pg), '{"a":[1,"x"]}');
  });
});

describe('column names', () => {
  it('keep the first name and number later collisions (DuckDB ignores ASCII case)', () => {
    const mapper = new ColumnNameMapper({ foldsAsciiCase: true }, ['_synced_at', '_rescued']);
    assert.equal(mapper.assign('Industry'), 'Industry');
    assert.equal(mapper.assign('industry'), 'industry__2');
    assert.equal(mapper.assign('INDUSTRY'), 'INDUSTRY__3');
    assert.equal(mapper.assign('industry__2'), 'industry__2__2');
    assert.equal(mapper.assign('_Synced_At'), '_Synced_At__2');
    assert.equal(mapper.assign('Émile'), 'Émile');
    assert.equal(mapper.assign('émile'), 'émile', 'DuckDB folds ASCII letters only');
    assert.equal(mapper.assign(''), '_');
  });

  it('truncate names over the byte limit with a hash (PostgreSQL)', () => {
    const mapper = new ColumnNameMapper({ foldsAsciiCase: false, maxBytes: 63 });
    assert.equal(mapper.assign('Industry'), 'Industry');
    assert.equal(mapper.assign('industry'), 'industry');
    const long = 'é'.repeat(40); // 80 bytes
    const first = mapper.assign(long);
    assert.ok(Buffer.byteLength(first) <= 63);
    assert.match(first, /^é+_[0-9a-f]{8}$/);
    assert.equal(new ColumnNameMapper({ foldsAsciiCase: false, maxBytes: 63 }).assign(long), first, 'deterministic');
    const a = mapper.assign(`${'x'.repeat(70)}a`);
    const b = mapper.assign(`${'x'.repeat(70)}b`);
    assert.notEqual(a, b);
    assert.ok(Buffer.byteLength(a) <= 63 && Buffer.byteLength(b) <= 63);
  });
});

describe('record encoding', () => {
  it('maps fields to columns, rescues misfits and adopts columns nobody claims', () => {
    const columns = new TableColumns(
      { foldsAsciiCase: true },
      { columns: new Map([['id', 'bigint'], ['legacy', 'text'], ['_synced_at', 'timestamptz']]), mapping: new Map([['id', 'id']]) },
    );
    const id = columns.get('id')!;
    const encoder = new RecordEncoder(columns, [id], duck);
    const row = encoder.encode({ id: 1, legacy: 'kept', LEGACY: 'x', n: 'abc', _synced_at: 'mine' }) as EncodedRow;
    assert.deepEqual(
      row.cells.map((c) => [c.column.field, c.column.column, c.text]),
      [
        ['id', 'id', '1'],
        ['legacy', 'legacy', 'kept'],
        ['LEGACY', 'LEGACY__2', 'x'],
        ['n', 'n', 'abc'],
        ['_synced_at', '_synced_at__2', 'mine'],
      ],
    );
    assert.equal(row.rescued, null);
    const misfit = encoder.encode({ id: 2, n: 5 }) as EncodedRow;
    assert.equal(misfit.rescued, null, 'a number fits a text column');
    assert.deepEqual(
      columns.pendingColumns().map((p) => [p.column.column, p.create]),
      [
        ['legacy', false],
        ['LEGACY__2', true],
        ['n', true],
        ['_synced_at__2', true],
      ],
    );
    const unstorable = encoder.encode({ id: 'x' });
    assert.ok(isUnstorable(unstorable) && /"id"/.test(unstorable.reason));
    columns.rollback();
    assert.equal(columns.get('n'), undefined);
    assert.equal(new RecordEncoder(columns, [id], duck).encode({ id: 3, LEGACY: 1 }) && columns.get('LEGACY')!.column, 'LEGACY__2');
  });
});
