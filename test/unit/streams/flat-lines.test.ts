import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlatDocument, type ValueKind } from '../../../src/core/rows.js';
import { ExportLineParser } from '../../../src/streams/export-lines.js';
import type { ExportLineRules } from '../../../src/streams/records.js';
import { FlatLineScanner, isCanonicalJson } from '../../../src/streams/flat-lines.js';
import { iterableTimeToIso } from '../../../src/iterable/time-formats.js';

/** A deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALUES = [
  '"a@x.com"', '"2024-05-01 12:00:00 +00:00"', '"2024-05-01 12:00:00.250 +00:00"', '"2024-12-31 23:59:59 -08:00"',
  '"2024-02-30 12:00:00 +00:00"', '"2024-05-01T12:00:00Z"', '"2024-05-01T12:00:00.123456Z"', '"0000-01-01 00:00:00 +00:00"',
  '""', '"esc\\"aped"', '"caf\\u00e9"', '"lone\\ud800"', '"tab\there"', '"é ü 😀"',
  '0', '7', '-12', '1.5', '1.50', '1.0', '-0', '-0.0', '1e3', '12345678901234567', '123456789012345', '0123', '.5', '-',
  'true', 'false', 'null', 'tru', '{"a":1}', '[1,"2024-05-01 12:00:00 +00:00"]', '{}', '[]',
  // transactionalData as Iterable sends it: JSON inside a string
  String.raw`"{\"orderId\":\"o-1\",\"items\":[{\"price\":135.40}]}"`, String.raw`" [1, 2.50]"`, '"{}"', String.raw`"{\"x\":\"\\u00e9\"}"`,
  String.raw`"{\"s\":\"\\ud800\"}"`, String.raw`"{\"bad\":}"`, '"not json {"', String.raw`"a\\"`, String.raw`"\u0041"`, '[1,2]',
  // custom date fields: instants in any accepted form become ISO 8601
  '"2016-11-27 13:22:56"', '"2016-11-27"', '"11/27/2016"', '" 2016-11-27T13:22:56+02:00"', '"2016-13-01"', '"someday"',
];
/** Arrays (users' list ids, custom list fields): kept as they are, so staged only as JSON.stringify writes them. */
const ARRAYS = [
  '[1,2]', '[955888]', '[1.5,"a"]', '[1.50]', '[1.0]', '[-0]', '[1e3]', '[12345678901234567]', '[0123]', '["é","x y"]', '[]',
  '[true,null,false]', '[ 1]', '[1 ]', '[1,]', '[,1]', '[[1]]', '[{"a":1}]', '["esc\\"x"]', '["2024-05-01 12:00:00 +00:00"]', '[',
];
const FIELDS = [
  'email', 'createdAt', 'campaignId', 'score', 'isTest', 'dataFields', 'birthday', 'signupDate', 'unknown', '_event_id', 'transactionalData',
  'itblInternal',
];
const SPACES = ['', '', '', ' ', '\t', '\r'];

function generateLine(next: () => number, withEmail: boolean): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const count = Math.floor(next() * 6);
  const parts: string[] = withEmail && next() < 0.7 ? [`"email":"u${Math.floor(next() * 1000)}@x.com"`] : [];
  for (let i = 0; i < count; i++) {
    const field = pick(FIELDS);
    const value = field === 'dataFields' && next() < 0.8 ? pick(ARRAYS) : pick(VALUES);
    parts.push(`${pick(SPACES)}"${field}"${pick(SPACES)}:${pick(SPACES)}${value}${pick(SPACES)}`);
  }
  let line = `{${parts.join(',')}}`;
  const mutation = next();
  if (mutation < 0.05) line = line.slice(0, Math.floor(next() * line.length));
  else if (mutation < 0.1) line = `${line}${pick(['x', ' ', ',', '}'])}`;
  else if (mutation < 0.13) line = ` ${line}`;
  return line;
}

/** The kind of a parsed value, as the scan must report it. */
function kindOf(value: unknown): ValueKind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'decimal';
  return /^\d{4}-\d{2}-\d{2}T/.test(String(value)) && String(value).endsWith('Z') ? 'instant' : 'string';
}

describe('FlatLineScanner (the fast path for export lines)', () => {
  for (const rules of [
    { isEvent: true, keyFields: [], dateFields: [] },
    { isEvent: false, keyFields: ['email'], dateFields: ['birthday', 'signupDate'] },
  ] satisfies ExportLineRules[]) {
    it(`makes documents only of lines the parser accepts, exactly the record it parses, with the kinds of its values (${rules.isEvent ? 'events' : 'users'})`, () => {
      const scanner = new FlatLineScanner(rules);
      const parser = new ExportLineParser(rules);
      const next = random(rules.isEvent ? 1 : 2);
      let staged = 0;
      let left = 0;
      let arrays = 0;
      for (let n = 0; n < 40_000; n++) {
        const line = generateLine(next, !rules.isEvent);
        const flat = scanner.scan(line);
        if (flat === undefined) {
          left++;
          continue;
        }
        staged++;
        const doc = flat.text;
        const record = parser.parseRecord(line);
        assert.notEqual(typeof record, 'string', `made a document of a line the parser refuses: ${line}`);
        assert.deepStrictEqual(JSON.parse(doc), record, line);
        assert.deepStrictEqual(
          Object.fromEntries(flat.shape.fields.map((field, i) => [field, flat.shape.kinds[i]])),
          Object.fromEntries(Object.entries(record as object).map(([field, value]) => [field, kindOf(value)])),
          line,
        );
        // A JSON column keeps the text: an array is staged exactly as the long way writes it.
        for (const [field, value] of Object.entries(record as Record<string, unknown>)) {
          if (!Array.isArray(value)) continue;
          const afterKey: number = doc.indexOf(`"${field}"`) + field.length + 2;
          const at: number = afterKey + /^[\s:]*/.exec(doc.slice(afterKey))![0].length;
          const text = JSON.stringify(value);
          assert.equal(doc.slice(at, at + text.length), text, `${field} in ${doc}`);
          arrays++;
        }
      }
      // The generator must exercise both outcomes, or this test proves nothing.
      assert.ok(staged > 2_000, `staged ${staged}`);
      assert.ok(left > 10_000, `left ${left}`);
      assert.ok(arrays >= 20, `arrays ${arrays}`);
    });
  }

  it('makes a document of a real export shape, with times normalised and _event_id first, and interns its shape', () => {
    const rules: ExportLineRules = { isEvent: true, keyFields: [], dateFields: [] };
    const scanner = new FlatLineScanner(rules);
    const line = '{"email":"a@x.com","createdAt":"2024-05-01 12:00:00 +00:00","campaignId":7,"score":0.25,"isTest":false}';
    const flat = scanner.scan(line)!;
    const doc = flat.text;
    const record = new ExportLineParser(rules).parseRecord(line) as Record<string, unknown>;
    assert.deepEqual(flat.shape.kinds, ['string', 'string', 'instant', 'integer', 'decimal', 'boolean']);
    assert.equal(scanner.scan(line.replace('a@x', 'b@x'))!.shape, flat.shape, 'equal shapes are one object');
    assert.ok(new ExportLineParser(rules).parse(line) instanceof FlatDocument);
    assert.equal(
      doc,
      `{"_event_id":"${String(record._event_id)}","email":"a@x.com","createdAt":"2024-05-01T12:00:00.000Z","campaignId":7,"score":0.25,"isTest":false}`,
    );
    // A whole number written with a fraction, a nested object, a string that looks like an instant but is none: the long way.
    for (const other of ['{"campaignId":1.0}', '{"dataFields":{"a":1}}', '{"at":"2024-02-30T00:00:00Z"}']) {
      assert.equal(scanner.scan(other), undefined, other);
    }
  });
});

describe('FlatLineScanner on user lines', () => {
  it('keeps arrays as JSON.stringify writes them and custom dates as ISO 8601; anything else the long way', () => {
    const rules: ExportLineRules = { isEvent: false, keyFields: ['email'], dateFields: ['birthday', 'signupDate'] };
    const scanner = new FlatLineScanner(rules);
    const parser = new ExportLineParser(rules);
    const line =
      '{"email":"a@x.com","dataFields":[955888,"Item 7",46.02,true,null],"birthday":"2016-11-27 13:22:56",' +
      '"signupDate":"11/27/2016","createdAt":"2024-01-01 07:44:14.755 +00:00"}';
    const doc = scanner.scan(line)?.text;
    assert.equal(
      doc,
      '{"email":"a@x.com","dataFields":[955888,"Item 7",46.02,true,null],"birthday":"2016-11-27T13:22:56.000Z",' +
        '"signupDate":"2016-11-27T00:00:00.000Z","createdAt":"2024-01-01T07:44:14.755Z"}',
    );
    assert.deepStrictEqual(JSON.parse(doc!), parser.parseRecord(line));
    // Nested and escaped, as JSON.stringify writes them: as they are (arrays are not normalised).
    const nested = '{"email":"b@x.com","dataFields":[[1],{"q":"say \\"hi\\"","at":"2024-05-01 12:00:00 +00:00"}],"createdAt":"2024-05-01 12:00:00 +00:00"}';
    assert.equal(
      scanner.scan(nested)?.text,
      '{"email":"b@x.com","dataFields":[[1],{"q":"say \\"hi\\"","at":"2024-05-01 12:00:00 +00:00"}],"createdAt":"2024-05-01T12:00:00.000Z"}',
    );
    assert.deepStrictEqual(JSON.parse(scanner.scan(nested)!.text), parser.parseRecord(nested));
    for (const other of [
      '{"email":"a@x.com","dataFields":[1.50]}',
      '{"email":"a@x.com","dataFields":[1, 2]}',
      '{"email":"a@x.com","dataFields":[{"at":"2024-05-01 12:00:00 +00:00"},{"a":1,"a":2}]}',
      '{"email":"a@x.com","dataFields":["caf\\u00e9"]}',
      '{"email":"","campaignId":1}',
      '{"email":"a@x.com","email":"b@x.com"}',
    ]) {
      assert.equal(scanner.scan(other), undefined, other);
    }
  });
});

describe('isCanonicalJson (transactionalData staged as it is)', () => {
  /** A random JSON value, as JSON.stringify writes it. */
  function value(next: () => number, depth: number): unknown {
    const r = next();
    if (depth > 3 || r < 0.35) {
      const scalars: unknown[] = [0, -1, 7, 1.5, 135.4, -0.001, 1e21, 123456789012345680000, 2 ** 53 + 2, true, false, null, '', 'a', 'é😀', 'q"uote', 'back\\slash', 'nl\n', 'ctl\u0001', '\u2028', '/'];
      return scalars[Math.floor(next() * scalars.length)];
    }
    if (r < 0.65) return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    const object: Record<string, unknown> = {};
    const keys = ['orderId', 'items', 'price', 'a', 'b', '__proto__x', 'k 1', 'x\ty'];
    for (let n = Math.floor(next() * 4); n > 0; n--) object[keys[Math.floor(next() * keys.length)]!] = value(next, depth + 1);
    return object;
  }
  /** Texts the check must refuse or accept exactly as JSON.stringify(JSON.parse(text)) would give them back. */
  const MUTATIONS: ((text: string, next: () => number) => string)[] = [
    (t) => t.replace(',', ', '),
    (t) => t.replace(':', ' :'),
    (t) => ` ${t}`,
    (t) => t.replace(/\d+(?=[,\]}])/, (d) => `${d}.0`),
    (t) => t.replace(/\d+(?=[,\]}])/, (d) => `${d}e0`),
    (t) => t.replace(/"(\w+)":/, '"$1":1,"$1":'),
    (t) => t.replace(/^\{/, '{"5":0,'),
    (t) => t.replace(/^\{/, '{"05":0,'),
    (t) => t.replace('a', '\\u0061'),
    (t) => t.replace('/', '\\/'),
    (t) => t.replace('"', '"\\ud800'),
    (t) => t.replace('\\u0001', '\\u0001'.toUpperCase()),
    (t) => t.replace('\\n', '\\u000a'),
    (t, next) => t.slice(0, Math.floor(next() * t.length)),
    (t) => t.replace('true', 'True'),
    (t) => t.replace('-0.001', '-0.0010'),
  ];

  it('accepts only texts that JSON.stringify(JSON.parse(text)) gives back unchanged, and most of those', () => {
    const next = random(4);
    let canonical = 0;
    let accepted = 0;
    for (let n = 0; n < 20_000; n++) {
      const root = next() < 0.5 ? [value(next, 1)] : { orderId: 'o-1', items: value(next, 1) };
      let text = JSON.stringify(root);
      if (next() < 0.5) text = MUTATIONS[Math.floor(next() * MUTATIONS.length)]!(text, next);
      let roundTrip: string | undefined;
      try {
        roundTrip = JSON.stringify(JSON.parse(text));
      } catch {
        roundTrip = undefined;
      }
      // Surrogates, raw or escaped (JSON.stringify escapes lone ones), are left to the long way.
      const isCanonical = roundTrip === text && !/[\ud800-\udfff]|\\ud[89a-f]/.test(text);
      if (isCanonical) canonical++;
      const verdict = isCanonicalJson(text);
      if (verdict) accepted++;
      if (verdict) assert.equal(roundTrip, text, text);
      else assert.equal(isCanonical, false, `refused a canonical text: ${text}`);
    }
    assert.ok(canonical > 5_000 && accepted === canonical, `canonical ${canonical}, accepted ${accepted}`);
  });
});

describe('iterableTimeToIso', () => {
  it('gives the same instant as Date for every kind of export time, fast path or not', () => {
    const next = random(3);
    const two = (n: number) => String(n).padStart(2, '0');
    for (let n = 0; n < 20_000; n++) {
      const year = 1990 + Math.floor(next() * 60);
      const month = 1 + Math.floor(next() * 12);
      const day = 1 + Math.floor(next() * 31);
      const [h, m, s] = [Math.floor(next() * 24), Math.floor(next() * 60), Math.floor(next() * 60)];
      const ms = next() < 0.5 ? '' : `.${String(Math.floor(next() * 1000)).padStart(3, '0')}`;
      const zone = next() < 0.7 ? '+00:00' : `${next() < 0.5 ? '-' : '+'}${two(Math.floor(next() * 14))}:${next() < 0.5 ? '00' : '30'}`;
      const text = `${year}-${two(month)}-${two(day)} ${two(h)}:${two(m)}:${two(s)}${ms} ${zone}`;
      const iso = iterableTimeToIso(text);
      const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
      if (day > daysInMonth) {
        assert.equal(iso, null, text);
        continue;
      }
      const sign = zone.startsWith('-') ? -1 : 1;
      const offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
      const expected = Date.UTC(year, month - 1, day, h, m, s, ms === '' ? 0 : Number(ms.slice(1))) - offset;
      assert.equal(iso, new Date(expected).toISOString(), text);
    }
  });
});
