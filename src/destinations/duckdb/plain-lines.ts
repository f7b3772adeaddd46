/**
 * The DuckDB fast path for export lines: a line whose record is plain (flat, every value fits
 * its column as it is) is staged as the line itself, with `_event_id` added and Iterable's times
 * rewritten as ISO 8601, in one scan, without building the record and serialising it again
 * (which is most of the CPU time of a large export). Every other line returns undefined and
 * goes the long way (`ExportLineParser` + `DuckDBStaging.stage`). The document staged here
 * holds, for every column DuckDB reads from it, exactly the value the long way would stage; the
 * tests compare both on generated lines.
 */
import type { JsonRecord } from '../destination.js';
import type { ExportLineRules } from '../../streams/export-lines.js';
import { lineEventId } from '../../streams/records.js';
import { iterableTimeToIso, parseInstant } from '../../time/instants.js';
import { fitsAsJson } from '../sql/cell-values.js';
import type { ColumnType } from '../sql/column-types.js';

/** What the scan needs to know of the load. */
export interface PlainLineColumns {
  /** The type of the column a field's values are staged in under the field's own name, if any. */
  asIsType(field: string): ColumnType | undefined;
  /** Key fields in key order (`_event_id` included for events). */
  readonly keyFields: readonly string[];
  /** A field whose staged value `PlainLineScanner.rangeValue` reports (see `ChunkRange`). */
  readonly rangeField?: string;
}

/** A field the scan met, with what it needs to know of it (cached: the scan runs millions of times). */
interface FieldInfo {
  readonly field: string;
  /** `"field"`, to recognise the field in the next lines without slicing it out. */
  readonly quoted: string;
  readonly type: ColumnType;
  /** Position in the key, or -1. */
  readonly keyIndex: number;
  /** `transactionalData`, whose string values are parsed (see `normalizeExportRecord`). */
  readonly jsonText: boolean;
  /** A custom date field (`ExportLineRules.dateFields`), whose string values become ISO 8601 when they parse as instants. */
  readonly isDate: boolean;
  /** The field is `PlainLineColumns.rangeField`, in a TIMESTAMPTZ column. */
  readonly isRange: boolean;
  /** The last line (by number) the field appeared in: a field twice in one line is not plain. */
  lastLine: number;
}

/**
 * `JSON.stringify` of a record, as the staged document of the fast path, or undefined when it
 * cannot be one (a JS bigint in a JSON value, a lone surrogate): the caller then encodes the
 * record cell by cell.
 */
export function recordDocument(record: JsonRecord): string | undefined {
  let doc: string;
  try {
    doc = JSON.stringify(record);
  } catch {
    return undefined;
  }
  return doc.includes('\\u') && LONE_SURROGATE_ESCAPE.test(doc) ? undefined : doc;
}

/** `\udXXX` escapes that JSON.stringify writes for lone surrogates (DuckDB refuses them). */
const LONE_SURROGATE_ESCAPE = /\\ud[89a-f][0-9a-f]{2}/;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** A control character (JSON strings hold none unescaped; JSON whitespace other than spaces is rare in exports). */
const CONTROL = /[\u0000-\u001f]/;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
/** Digits of an integer that every path turns into the same text and value (below 2^53). */
const MAX_PLAIN_DIGITS = 15;

/**
 * Stages plain lines (see `scan`) for one load. It caches what it learns of the fields; `forget`
 * drops that when columns may have gone (a rollback).
 */
export class PlainLineScanner {
  /** The key text of the last line `scan` staged (see `RowSink.endRow`). */
  key = '';
  /**
   * The value of `rangeField` in the last line `scan` staged, as staged in its TIMESTAMPTZ column
   * (so one `fitsAsJson` accepts); undefined when missing or null, or when the field's column is
   * of another type.
   */
  rangeValue: string | undefined;
  private readonly byField = new Map<string, FieldInfo>();
  /** The fields of the last plain line, by position: the next line most likely has the same. */
  private readonly lastOrder: (FieldInfo | undefined)[] = [];
  private lineNumber = 0;
  private readonly keyValues: string[];
  private readonly eventIdIndex: number;

  constructor(
    private readonly rules: ExportLineRules,
    private readonly columns: PlainLineColumns,
  ) {
    this.keyValues = new Array<string>(columns.keyFields.length).fill('');
    this.eventIdIndex = rules.isEvent ? columns.keyFields.indexOf('_event_id') : -1;
  }

  /** Forgets what it learnt of the fields (their columns may have changed). */
  forget(): void {
    this.byField.clear();
    this.lastOrder.length = 0;
  }

  /**
   * The staged document of a plain line, or undefined. Plain means: one JSON object, without
   * object values, no control character, no escape in any key or string but a
   * `transactionalData` string (which holds JSON, staged parsed) or an array, numbers of at most
   * 15 digits without exponent (fractions only for DOUBLE columns), arrays (in JSON columns, which
   * keep the text) only as `JSON.stringify` writes them (`isCanonicalJson`), no key twice, no
   * `itblInternal` (events) or `_event_id`, a non-empty string for every key field, and every
   * other non-null value one that fits, as it is once normalised (an Iterable time or a custom
   * date field's instant becomes ISO 8601), a column staged under its own name. Anything the scan
   * does not recognise is not plain, so a line that is not valid JSON is never staged here.
   */
  scan(line: string): string | undefined {
    const n = line.length;
    // No control character anywhere (JSON strings cannot hold one unescaped).
    if (n < 2 || line.charCodeAt(0) !== OPEN_BRACE || CONTROL.test(line)) return undefined;
    // Strings before the next backslash have no escapes: they end at the next quote.
    let backslash = line.indexOf('\\');
    const { keyValues } = this;
    let id: string | undefined;
    if (this.rules.isEvent) {
      if (this.eventIdIndex < 0 || this.columns.asIsType('_event_id') !== 'text') return undefined;
      id = lineEventId(line);
      if (id === undefined) return undefined;
    }
    const lineNumber = ++this.lineNumber;
    this.rangeValue = undefined;
    let keysFound = 0;
    let fields = 0;
    let out = '';
    let copied = 0;
    let i = skipSpace(line, 1);
    if (line.charCodeAt(i) === CLOSE_BRACE) {
      i++;
    } else {
      for (;;) {
        // key
        if (line.charCodeAt(i) !== QUOTE) return undefined;
        let info = this.lastOrder[fields];
        if (info === undefined || !textAt(line, i, info.quoted) || line.charCodeAt(i + info.quoted.length) !== COLON) {
          const keyEnd = stringEnd(line, i + 1);
          if (keyEnd < 0 || (backslash >= 0 && backslash < keyEnd)) return undefined;
          info = this.fieldInfo(line.slice(i + 1, keyEnd));
          if (info === undefined) return undefined;
          this.lastOrder[fields] = info;
        }
        if (info.lastLine === lineNumber) return undefined;
        info.lastLine = lineNumber;
        fields++;
        i = skipSpace(line, i + info.quoted.length);
        if (line.charCodeAt(i) !== COLON) return undefined;
        i = skipSpace(line, i + 1);
        // value
        const start = i;
        const first = line.charCodeAt(i);
        const type = info.type;
        if (first === QUOTE && info.jsonText) {
          // transactionalData sent as a JSON string: the record holds the JSON it contains.
          let end = stringEnd(line, i + 1);
          let text: string;
          if (backslash >= 0 && backslash < end) {
            end = escapedStringEnd(line, i + 1);
            if (end < 0) return undefined;
            const decoded = decodeString(line.slice(start, end + 1));
            if (decoded === undefined) return undefined;
            text = decoded;
            backslash = line.indexOf('\\', end + 1);
          } else {
            if (end < 0) return undefined;
            text = line.slice(start + 1, end);
          }
          const json = jsonTextOf(text);
          if (json === undefined) return undefined;
          i = end + 1;
          out += line.slice(copied, start) + json;
          copied = i;
        } else if (first === QUOTE) {
          const end = stringEnd(line, i + 1);
          if (end < 0 || (backslash >= 0 && backslash < end)) return undefined;
          i = end + 1;
          let iso: string | null = null;
          if (type === 'timestamptz' || (type === 'text' && (info.isDate || looksLikeIterableTime(line, start + 1, end)))) {
            // What normalizeExportRecord does to a string: Iterable's times become ISO 8601, and a custom date field's instants.
            const text = line.slice(start + 1, end);
            iso = iterableTimeToIso(text);
            if (iso === null && info.isDate) iso = parseInstant(text)?.toISOString() ?? null;
            if (iso !== null) {
              out += `${line.slice(copied, start)}"${iso}"`;
              copied = i;
            }
            if (type === 'timestamptz' && !(iso !== null && isPlainIso(iso)) && !fitsAsJson(type, iso ?? text)) return undefined;
            if (info.isRange) this.rangeValue = iso ?? text;
          } else if (type !== 'text') {
            return undefined;
          }
          if (info.keyIndex >= 0) {
            if (end === start + 1 || type !== 'text') return undefined;
            keyValues[info.keyIndex] = iso ?? line.slice(start + 1, end);
            keysFound++;
          }
        } else if (first === MINUS || (first >= ZERO && first <= NINE)) {
          i = numberEnd(line, i, type === 'double');
          if (i < 0 || (type !== 'bigint' && type !== 'double' && type !== 'text') || info.keyIndex >= 0) return undefined;
        } else if (textAt(line, i, 'true') || textAt(line, i, 'false')) {
          i += first === 0x74 ? 4 : 5;
          if ((type !== 'boolean' && type !== 'text') || info.keyIndex >= 0) return undefined;
        } else if (textAt(line, i, 'null')) {
          i += 4;
          if (info.keyIndex >= 0) return undefined;
        } else if (first === OPEN_BRACKET && type === 'json' && !info.jsonText && info.keyIndex < 0) {
          // Export rows keep arrays as they are, and a JSON column keeps the text: staged as it is when JSON.stringify would write it so.
          i = canonicalValueEnd(line, i, 0);
          if (i < 0) return undefined;
          if (backslash >= 0 && backslash < i) backslash = line.indexOf('\\', i);
        } else {
          return undefined; // an object, another array, or not JSON
        }
        i = skipSpace(line, i);
        const next = line.charCodeAt(i);
        if (next === COMMA) {
          i = skipSpace(line, i + 1);
        } else if (next === CLOSE_BRACE) {
          i++;
          break;
        } else {
          return undefined;
        }
      }
    }
    if (skipSpace(line, i) !== n) return undefined;
    if (id !== undefined) {
      keyValues[this.eventIdIndex] = id;
      keysFound++;
    }
    if (keysFound !== keyValues.length) return undefined;
    this.key = keyValues.length === 1 ? keyValues[0]! : keyValues.join('\u0000');
    let body = copied === 0 ? line : out + line.slice(copied);
    if (id !== undefined) body = fields === 0 ? `{"_event_id":"${id}"}` : `{"_event_id":"${id}",${body.slice(1)}`;
    return body;
  }

  /** What the scan needs of a field, or undefined when a line with it is not plain. */
  private fieldInfo(field: string): FieldInfo | undefined {
    let info = this.byField.get(field);
    if (info !== undefined) return info;
    if (field === '_event_id') return undefined;
    const type = this.columns.asIsType(field);
    const jsonText = field === 'transactionalData';
    const isDate = this.rules.dateFields.includes(field);
    if (type === undefined || (jsonText && (type !== 'json' || isDate))) return undefined;
    const isRange = field === this.columns.rangeField && type === 'timestamptz';
    const keyIndex = this.columns.keyFields.indexOf(field);
    info = { field, quoted: `"${field}"`, type, keyIndex, jsonText, isDate, isRange, lastLine: 0 };
    this.byField.set(field, info);
    return info;
  }
}

/** `line.startsWith(text, i)`, which V8 runs slowly with a position. */
function textAt(line: string, i: number, text: string): boolean {
  if (i + text.length > line.length) return false;
  for (let k = 0; k < text.length; k++) if (line.charCodeAt(i + k) !== text.charCodeAt(k)) return false;
  return true;
}

/**
 * True for what `iterableTimeToIso` returns for years 0001–9999 (`YYYY-MM-DDTHH:MM:SS.sssZ`, a
 * valid instant), which `fitsAsJson` accepts: a shortcut for the common case.
 */
function isPlainIso(iso: string): boolean {
  return iso.length === 24 && !iso.startsWith('0000'); // other years have 27 characters (±YYYYYY)
}

/** A quick test before `iterableTimeToIso`: `yyyy-MM-dd HH:…` of the right length. */
function looksLikeIterableTime(line: string, start: number, end: number): boolean {
  const length = end - start;
  return length >= 25 && length <= 36 && line.charCodeAt(start + 4) === MINUS && line.charCodeAt(start + 10) === 0x20;
}

/**
 * The JSON text of what `normalizeExportRecord` makes of a `transactionalData` string: the JSON
 * value it holds; undefined when the string stays a string (not JSON, or an Iterable time) or the
 * JSON has a lone surrogate (the long way handles those).
 */
function jsonTextOf(text: string): string | undefined {
  if (iterableTimeToIso(text) !== null) return undefined;
  let k = 0;
  while (k < text.length && text.charCodeAt(k) <= 32) k++;
  const first = text.charCodeAt(k);
  if (first !== OPEN_BRACE && first !== 0x5b /* [ */) return undefined;
  if (k === 0 && isCanonicalJson(text)) return text;
  let json: string;
  try {
    json = JSON.stringify(JSON.parse(text));
  } catch {
    return undefined;
  }
  return json.includes('\\u') && LONE_SURROGATE_ESCAPE.test(json) ? undefined : json;
}

/** Nesting beyond which `isCanonicalJson` leaves the text to `JSON.parse` (the answer is then false). */
const MAX_CANONICAL_DEPTH = 32;

/**
 * Whether `text` is exactly what `JSON.stringify(JSON.parse(text))` writes, so that it can be
 * staged as it is: no whitespace, strings escaped as `JSON.stringify` escapes them (no surrogate
 * at all, which leaves lone ones to the long way), numbers in their shortest form, no key twice
 * in an object, array-index keys (which JS puts first, ascending) only first and ascending.
 * False when unsure (surrogates, deep nesting); a fuzz test holds it to
 * `JSON.stringify(JSON.parse(text))`.
 */
export function isCanonicalJson(text: string): boolean {
  return canonicalValueEnd(text, 0, 0) === text.length;
}

/** The index after the canonical JSON value at `i`, or -1. */
function canonicalValueEnd(text: string, i: number, depth: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return canonicalStringEnd(text, i);
  if (c === MINUS || (c >= ZERO && c <= NINE)) {
    let end = i + 1;
    for (let d = text.charCodeAt(end); (d >= ZERO && d <= NINE) || d === DOT || d === 0x65 || d === 0x45 || d === 0x2b || d === MINUS; ) {
      d = text.charCodeAt(++end);
    }
    const number = text.slice(i, end);
    return String(Number(number)) === number ? end : -1; // Number('1.') is 1, Number('') 0: the comparison refuses them
  }
  if (textAt(text, i, 'true') || textAt(text, i, 'null')) return i + 4;
  if (textAt(text, i, 'false')) return i + 5;
  if (depth >= MAX_CANONICAL_DEPTH) return -1;
  if (c === OPEN_BRACKET) {
    i++;
    if (text.charCodeAt(i) === CLOSE_BRACKET) return i + 1;
    for (;;) {
      i = canonicalValueEnd(text, i, depth + 1);
      if (i < 0) return -1;
      const next = text.charCodeAt(i++);
      if (next === CLOSE_BRACKET) return i;
      if (next !== COMMA) return -1;
    }
  }
  if (c === OPEN_BRACE) {
    i++;
    if (text.charCodeAt(i) === CLOSE_BRACE) return i + 1;
    const keys: string[] = [];
    // JS orders array-index keys first, ascending: canonical only when the text already does.
    let lastIndex = -1;
    let named = false;
    for (;;) {
      const keyEnd = canonicalStringEnd(text, i);
      if (keyEnd < 0 || text.charCodeAt(keyEnd) !== COLON) return -1;
      const key = text.slice(i, keyEnd);
      if (keys.includes(key)) return -1;
      const index = ARRAY_INDEX_KEY.test(key) ? Number(key.slice(1, -1)) : -1;
      if (index >= 0 && index < 4_294_967_295) {
        if (named || index <= lastIndex) return -1;
        lastIndex = index;
      } else {
        named = true;
      }
      keys.push(key);
      i = canonicalValueEnd(text, keyEnd + 1, depth + 1);
      if (i < 0) return -1;
      const next = text.charCodeAt(i++);
      if (next === CLOSE_BRACE) return i;
      if (next !== COMMA) return -1;
    }
  }
  return -1;
}

/** A quoted key that may be an array index, which JS orders first (`"0"`, `"42"`; below 2^32 - 1). */
const ARRAY_INDEX_KEY = /^"(?:0|[1-9]\d{0,9})"$/;

/**
 * The index after the string starting at `i` (its opening quote) when `JSON.stringify` would
 * write it so: no raw control character or surrogate, and only the escapes it writes (`\"`,
 * `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00xx` for other control characters); -1 otherwise.
 */
function canonicalStringEnd(text: string, i: number): number {
  if (text.charCodeAt(i) !== QUOTE) return -1;
  for (let k = i + 1; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === QUOTE) return k + 1;
    if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) return -1;
    if (c !== BACKSLASH) continue;
    const e = text.charCodeAt(++k);
    if (e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) continue; // " \ b f n r t
    if (e !== 0x75 || !textAt(text, k + 1, '00')) return -1; // u00xx
    const hex = text.slice(k + 3, k + 5);
    const code = /^[0-9a-f]{2}$/.test(hex) ? parseInt(hex, 16) : -1;
    // JSON.stringify writes \u00xx (lower-case) for control characters without a short escape only.
    if (code < 0 || code >= 0x20 || code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) return -1;
    k += 4;
  }
  return -1;
}

/** The index of the quote closing a string with escapes that starts at `i` (after its quote); -1 for none. */
function escapedStringEnd(line: string, i: number): number {
  for (let end = line.indexOf('"', i); end >= 0; end = line.indexOf('"', end + 1)) {
    let backslashes = 0;
    while (line.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
  return -1;
}

/** The value of a JSON string literal (quotes included), or undefined when it is not one. */
function decodeString(literal: string): string | undefined {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The index after JSON whitespace from `i`. */
function skipSpace(line: string, i: number): number {
  for (;;) {
    const c = line.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return i;
    i++;
  }
}

/** The index of the quote closing a string that starts at `i` (after its opening quote), in a line without escapes; -1 for none. */
function stringEnd(line: string, i: number): number {
  return line.indexOf('"', i);
}

/**
 * The index after a JSON number starting at `i` that is plain: `-?(0|[1-9]\d*)(\.\d+)?` with at
 * most 15 digits in all (the fraction only when allowed); -1 otherwise (exponents, long numbers,
 * `-0`, invalid numbers).
 */
function numberEnd(line: string, i: number, fractionAllowed: boolean): number {
  const start = i;
  if (line.charCodeAt(i) === MINUS) i++;
  const intStart = i;
  let c = line.charCodeAt(i);
  if (c === ZERO) {
    i++;
  } else if (c > ZERO && c <= NINE) {
    while ((c = line.charCodeAt(i)) >= ZERO && c <= NINE) i++;
  } else {
    return -1;
  }
  let digits = i - intStart;
  if (line.charCodeAt(i) === DOT) {
    // 1.50 and 1.5 are one number but two texts, and 1.0 is no BIGINT text: fractions only for DOUBLE columns.
    if (!fractionAllowed) return -1;
    const fracStart = ++i;
    while ((c = line.charCodeAt(i)) >= ZERO && c <= NINE) i++;
    if (i === fracStart) return -1;
    digits += i - fracStart;
  }
  c = line.charCodeAt(i);
  if (c === 0x65 || c === 0x45) return -1; // e, E
  if (digits > MAX_PLAIN_DIGITS) return -1;
  if (line.charCodeAt(start) === MINUS && i === start + 2 && line.charCodeAt(start + 1) === ZERO) return -1; // -0
  return i;
}
