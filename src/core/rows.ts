import type { JsonRecord } from './types.js';

/**
 * The JSON kind of a top-level value of a `FlatDocument`: `instant` is a string written
 * `YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z` (a real UTC instant), `integer` a number of at most 15 digits
 * without fraction or exponent, `decimal` one with a fraction (and a fractional value), `array` /
 * `object` JSON written exactly as `JSON.stringify` writes it.
 */
export type ValueKind = 'string' | 'instant' | 'integer' | 'decimal' | 'boolean' | 'null' | 'array' | 'object';

/**
 * The fields of a flat document, in order, with the kind of each value. Shapes are interned by
 * their producer (equal shapes are the same object), so a consumer can decide once per shape.
 */
export interface FlatShape {
  readonly fields: readonly string[];
  readonly kinds: readonly ValueKind[];
}

/**
 * A record given as its JSON text: one JSON object whose values are described by `shape`, strings
 * without escapes, no key twice. `JSON.parse(text)` is the record. Lets a destination that stores
 * JSON text take the row as it is, without building the record and serialising it again.
 */
export class FlatDocument {
  constructor(
    readonly text: string,
    readonly shape: FlatShape,
  ) {}
}

/** One row handed to a destination: a record, or a flat document. */
export type Row = JsonRecord | FlatDocument;

/** The record of a row. */
export function recordOf(row: Row): JsonRecord {
  return row instanceof FlatDocument ? (JSON.parse(row.text) as JsonRecord) : row;
}

/**
 * The range of a field that a read covers, `[start, end)` (ISO 8601 instants). A source gives it
 * when its keys determine the field (an event keyed by a hash of its content, `createdAt`
 * included): the earlier rows of the keys it writes then lie in the range too, or have no value
 * there, and a destination may look for them there only.
 */
export interface RowWindow {
  readonly field: string;
  readonly start: string;
  readonly end: string;
}

/** `YYYY-MM-DDTHH:MM:SS(.f{1,6})?Z` with a real date and time, year 0001 or later: the `instant` kind. */
export function isCanonicalUtcInstant(text: string): boolean {
  const length = text.length;
  if (length < 20 || length > 27 || text.charCodeAt(length - 1) !== 90 /* Z */) return false;
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84 /* T */) return false;
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return false;
  if (length > 20) {
    if (text.charCodeAt(19) !== 46 /* . */ || length === 21) return false;
    for (let i = 20; i < length - 1; i++) if (!isDigit(text.charCodeAt(i))) return false;
  }
  return hasDateTimeDigits(text) && isRealDateTime(text);
}

/** Digits at every digit position of `YYYY-MM-DD?HH:MM:SS` at the start of `text`. */
export function hasDateTimeDigits(text: string): boolean {
  for (const i of DIGIT_POSITIONS) if (!isDigit(text.charCodeAt(i))) return false;
  return true;
}

/** The digits of `YYYY-MM-DDTHH:MM:SS` at the start of `text` are a real date and time, year 0001 or later. */
export function isRealDateTime(text: string): boolean {
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (year < 1 || monthDays === undefined || day < 1 || day > monthDays) return false;
  return digits(text, 11, 2) <= 23 && digits(text, 14, 2) <= 59 && digits(text, 17, 2) <= 59;
}

const DIGIT_POSITIONS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether a char code is an ASCII digit. */
export function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) value = value * 10 + text.charCodeAt(i) - 48;
  return value;
}

/**
 * The index of the quote that closes a JSON string whose content starts at `i` (after its opening
 * quote), escapes allowed: the next quote after an even run of backslashes; -1 for none.
 */
export function closingQuote(text: string, i: number): number {
  for (let end = text.indexOf('"', i); end >= 0; end = text.indexOf('"', end + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 0x5c /* \\ */) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
  return -1;
}

/** `\udXXX` escapes that `JSON.stringify` writes for lone surrogates (both databases refuse them). */
const LONE_SURROGATE_ESCAPE = /\\ud[89a-f][0-9a-f]{2}/;

/** Whether JSON text written by `JSON.stringify` holds a lone surrogate (as a `\udXXX` escape). */
export function hasLoneSurrogateEscape(json: string): boolean {
  return json.includes('\\u') && LONE_SURROGATE_ESCAPE.test(json);
}
