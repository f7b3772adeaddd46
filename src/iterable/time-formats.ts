import { utcMs, zoneOffsetMinutes } from '../core/instants.js';
import { hasDateTimeDigits, isDigit, isRealDateTime } from '../core/rows.js';

/**
 * Iterable's time formats: export rows carry `2024-05-01 12:00:00 +00:00` (optionally with
 * millis); request parameters take `yyyy-MM-dd HH:mm:ss`.
 */
const ITERABLE_EXPORT_TIME =
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))? ([+-])(\d{2}):?(\d{2})$/;

/**
 * Converts Iterable's export time (`2024-05-01 12:00:00 +00:00`, `… 12:00:00.250 +00:00`) to
 * ISO 8601 UTC; returns null for any other text. This runs for every string value of every
 * export row, so the common UTC case is rebuilt from slices without a Date.
 */
export function iterableTimeToIso(text: string): string | null {
  const plain = plainUtcExportTimeToIso(text);
  if (plain !== null) return plain;
  const len = text.length;
  if (len < 25 || len > 36 || text.charCodeAt(4) !== 45 /* - */ || text.charCodeAt(10) !== 32 /* space */) return null;
  const m = ITERABLE_EXPORT_TIME.exec(text);
  if (!m) return null;
  const ms = utcMs(m[1]!, m[2]!, m[3]!, m[4], m[5], m[6], m[7] ?? '');
  const offset = zoneOffsetMinutes(`${m[8]}${m[9]}${m[10]}`);
  if (ms === null || offset === null) return null;
  return new Date(ms - offset * 60_000).toISOString();
}

/**
 * `iterableTimeToIso` of the common case, `yyyy-MM-dd HH:mm:ss[.SSS] +00:00` with a real date and
 * time, rebuilt from slices with no regex; null for any other text. What it returns is always
 * `YYYY-MM-DDTHH:MM:SS.sssZ`, a real UTC instant of year 0001 or later.
 */
export function plainUtcExportTimeToIso(text: string): string | null {
  const len = text.length;
  if ((len !== 26 && len !== 30) || !isPlainUtcExportTime(text, len)) return null;
  return len === 26 ? `${text.slice(0, 10)}T${text.slice(11, 19)}.000Z` : `${text.slice(0, 10)}T${text.slice(11, 23)}Z`;
}

/**
 * `yyyy-MM-dd HH:mm:ss +00:00` (26 characters) or `yyyy-MM-dd HH:mm:ss.SSS +00:00` (30) with a
 * real date and time: no zone work needed.
 */
function isPlainUtcExportTime(text: string, len: number): boolean {
  if (!text.endsWith(' +00:00') || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32) return false;
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return false;
  if (len === 30 && (text.charCodeAt(19) !== 46 /* . */ || !isDigit(text.charCodeAt(20)) || !isDigit(text.charCodeAt(21)) || !isDigit(text.charCodeAt(22)))) return false;
  return hasDateTimeDigits(text) && isRealDateTime(text);
}

/** Formats an instant as Iterable's request format, `yyyy-MM-dd HH:mm:ss` in UTC. */
export function formatIterableTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}
