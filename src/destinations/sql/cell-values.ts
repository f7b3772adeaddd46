import { hasLoneSurrogateEscape, isCanonicalUtcInstant, isRealDateTime } from '../../core/rows.js';
import { utcMs, zoneOffsetMinutes } from '../../core/instants.js';
import type { ColumnType } from './column-types.js';

/**
 * Turning record values into column values. A value either fits its column (and becomes one
 * canonical text the database parses without any chance of failure) or does not (and goes to
 * `_rescued` unchanged). Deciding this in JS, once per value, keeps the SQL of both
 * destinations free of casts that could fail halfway through a commit.
 */

/** What the database can hold in text; PostgreSQL text and jsonb refuse U+0000. */
export interface TextRules {
  /** Replace U+0000 with U+FFFD (PostgreSQL). Default false. */
  replaceNul: boolean;
}

const MIN_BIGINT = -(2n ** 63n);
const MAX_BIGINT = 2n ** 63n - 1n;
const TWO_POW_63 = 2 ** 63;

/**
 * The canonical text of `value` for a column of `type`, or undefined when it does not fit:
 * - bigint: integers in the signed 64-bit range (numbers or JS bigints), as decimal digits;
 * - double: finite numbers, and bigints a double holds exactly;
 * - boolean: true / false;
 * - timestamptz: ISO 8601 date-time strings (see `parseTimestamp`) and valid `Date`s;
 * - text: strings, and numbers / booleans as their JSON text (no information is lost);
 * - json: any value.
 * `null` / `undefined` are the caller's business (they become SQL NULL).
 */
export function cellText(type: ColumnType, value: unknown, rules: TextRules): string | undefined {
  switch (type) {
    case 'bigint':
      if (typeof value === 'number') {
        if (!Number.isInteger(value) || value < -TWO_POW_63 || value >= TWO_POW_63) return undefined;
        return Number.isSafeInteger(value) ? String(value) : BigInt(value).toString();
      }
      if (typeof value === 'bigint') return value >= MIN_BIGINT && value <= MAX_BIGINT ? value.toString() : undefined;
      return undefined;
    case 'double':
      if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
      if (typeof value === 'bigint') {
        const number = Number(value);
        return Number.isFinite(number) && BigInt(number) === value ? String(number) : undefined;
      }
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : undefined;
    case 'timestamptz':
      if (typeof value === 'string') return parseTimestamp(value);
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : parseTimestamp(value.toISOString());
      return undefined;
    case 'text':
      if (typeof value === 'string') return cleanText(value, rules.replaceNul);
      if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
      return undefined;
    case 'json':
      return toJsonText(value, rules);
  }
}

/**
 * The column type for a field outside the schema, from its first non-null value: integers that
 * are safe in JS (or bigints) → bigint, other numbers → double, ISO 8601 UTC instants
 * (`YYYY-MM-DDTHH:MM:SS(.sss)Z`) → timestamptz, other strings → text, booleans → boolean,
 * objects and arrays → json. `null` and `undefined` say nothing: undefined is returned.
 */
export function inferColumnType(value: unknown): ColumnType | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isSafeInteger(value) ? 'bigint' : 'double';
    case 'bigint':
      return 'bigint';
    case 'boolean':
      return 'boolean';
    case 'string':
      return UTC_INSTANT.test(value) && parseTimestamp(value) !== undefined ? 'timestamptz' : 'text';
    case 'object':
      if (value === null) return undefined;
      if (value instanceof Date) return 'timestamptz';
      return 'json';
    default:
      return undefined;
  }
}

/**
 * True when `value`, written as JSON by `JSON.stringify`, is read by DuckDB's JSON reader into a
 * column of `type` as exactly the value `cellText` gives (so the record can be staged as it is):
 * strings, finite numbers and booleans for text (the reader keeps a number's JSON text), integers
 * of the signed 64-bit range for bigint, finite numbers for double, booleans, UTC instants written
 * `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` for timestamptz, anything for json. Strings are not checked for
 * lone surrogates: the caller checks the JSON text of the whole record. False means "use
 * `cellText`", not "does not fit".
 */
export function fitsAsJson(type: ColumnType, value: unknown): boolean {
  switch (type) {
    case 'text':
      return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
    case 'bigint':
      return typeof value === 'number' && Number.isInteger(value) && value >= -TWO_POW_63 && value < TWO_POW_63;
    case 'double':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'timestamptz':
      return typeof value === 'string' && isCanonicalUtcInstant(value);
    case 'json':
      return true;
  }
}


/**
 * `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM`, `:SS`, a fraction and a zone
 * (`Z`, `+HH`, `+HHMM`, `+HH:MM`, optionally after one space, as in Iterable's
 * `2024-05-01 12:00:00 +00:00`). No zone means UTC.
 */
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)? ?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;
/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the instants both databases hold. */
const MIN_EPOCH_MS = -62_135_596_800_000;
const MAX_EPOCH_MS = 253_402_300_799_000;

/**
 * Parses an ISO 8601 date-time into the canonical UTC form `YYYY-MM-DDTHH:MM:SS.ffffffZ`, or
 * undefined when it is not one (a date like Feb 30, hour 24, a leap second, a year outside
 * 0001–9999). Digits beyond microseconds are truncated: both databases store microseconds.
 */
export function parseTimestamp(text: string): string | undefined {
  if (isCanonicalUtcInstant(text)) {
    // The common case (`toISOString()`): only the fraction's width changes.
    const length = text.length;
    if (length === 24) return `${text.slice(0, 23)}000Z`;
    if (length === 27) return text;
    return `${text.slice(0, 19)}.${(length > 20 ? text.slice(20, -1) : '').padEnd(6, '0')}Z`;
  }
  if (UTC_INSTANT.test(text)) return canonicalUtcInstant(text);
  const match = TIMESTAMP.exec(text);
  if (!match) return undefined;
  const offset = zoneOffsetMinutes(match[8]);
  // Neither database takes a leap second, an offset beyond ±15:59 or the year 0.
  if (offset === null || Math.abs(offset) > 15 * 60 + 59 || Number(match[6] ?? 0) > 59 || match[1] === '0000') return undefined;
  const ms = utcMs(match[1]!, match[2]!, match[3]!, match[4], match[5], match[6]);
  if (ms === null) return undefined;
  const epochMs = ms - offset * 60_000;
  if (epochMs < MIN_EPOCH_MS || epochMs > MAX_EPOCH_MS) return undefined;
  const micros = (match[7] ?? '').padEnd(6, '0').slice(0, 6);
  return `${new Date(epochMs).toISOString().slice(0, 19)}.${micros}Z`;
}

/** `2024-05-01T12:00:00.000Z` (what `toISOString` writes) and other UTC instants: the common case, parsed without a Date. */
const UTC_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

function canonicalUtcInstant(text: string): string | undefined {
  if (!isRealDateTime(text)) return undefined;
  const fraction = text.length > 20 ? text.slice(20, -1) : '';
  return `${text.slice(0, 19)}.${fraction.length === 6 ? fraction : fraction.padEnd(6, '0').slice(0, 6)}Z`;
}


interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** Makes a string storable: lone UTF-16 surrogates become U+FFFD, and U+0000 too when the rules say so. */
export function cleanText(text: string, replaceNul: boolean): string {
  const checked = text as unknown as WellFormedString;
  let out = checked.isWellFormed() ? text : checked.toWellFormed();
  if (replaceNul && out.includes('\u0000')) out = out.replaceAll('\u0000', '\uFFFD');
  return out;
}

/**
 * JSON text of a value, like JSON.stringify, but JS bigints are written as exact JSON numbers
 * and strings are cleaned (see `cleanText`) so that both databases accept the text.
 */
export function toJsonText(value: unknown, rules: TextRules): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined; // a bigint somewhere: the slow path writes it
  }
  if (
    text === undefined ||
    (text.includes('\\u') && (hasLoneSurrogateEscape(text) || (rules.replaceNul && text.includes('\\u0000'))))
  ) {
    text = writeJson(value, rules.replaceNul);
  }
  return text;
}

function writeJson(value: unknown, replaceNul: boolean): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(cleanText(value, replaceNul));
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object': {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return writeJson(toJSON.call(value), replaceNul);
      if (Array.isArray(value)) {
        return `[${value.map((item) => (isOmitted(item) ? 'null' : writeJson(item, replaceNul))).join(',')}]`;
      }
      const parts: string[] = [];
      for (const [key, item] of Object.entries(value)) {
        if (isOmitted(item)) continue;
        parts.push(`${JSON.stringify(cleanText(key, replaceNul))}:${writeJson(item, replaceNul)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      return 'null';
  }
}

function isOmitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}
