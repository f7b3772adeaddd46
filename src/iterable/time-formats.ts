import { offsetMs, utcMs } from '../core/instants.js';

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
  const len = text.length;
  if ((len === 26 || len === 30) && isPlainUtcExportTime(text, len)) {
    // The common case, `yyyy-MM-dd HH:mm:ss[.SSS] +00:00`, with no regex: what the code below returns for it.
    return len === 26 ? `${text.slice(0, 10)}T${text.slice(11, 19)}.000Z` : `${text.slice(0, 10)}T${text.slice(11, 23)}Z`;
  }
  if (len < 25 || len > 36 || text.charCodeAt(4) !== 45 /* - */ || text.charCodeAt(10) !== 32 /* space */) return null;
  const m = ITERABLE_EXPORT_TIME.exec(text);
  if (!m) return null;
  const day = Number(m[3]);
  if (m[8] === '+' && m[9] === '00' && m[10] === '00' && day <= 28 && Number(m[2]) <= 12 && Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6]) < 60 && m[2] !== '00' && day > 0) {
    const fraction = m[7] === undefined ? '000' : m[7].length >= 3 ? m[7].slice(0, 3) : m[7].padEnd(3, '0');
    return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${fraction}Z`;
  }
  const ms = utcMs(m[1]!, m[2]!, m[3]!, m[4], m[5], m[6], m[7] ?? '');
  if (ms === null) return null;
  return new Date(ms - offsetMs(`${m[8]}${m[9]}${m[10]}`)).toISOString();
}

/**
 * `yyyy-MM-dd HH:mm:ss +00:00` (26 characters) or `yyyy-MM-dd HH:mm:ss.SSS +00:00` (30), month
 * 01–12, day 01–28, hour 00–23, minutes and seconds 00–59: no calendar or zone work needed.
 */
function isPlainUtcExportTime(text: string, len: number): boolean {
  for (const i of EXPORT_TIME_DIGITS) if (!isDigitAt(text, i)) return false;
  if (len === 30 && (text.charCodeAt(19) !== 46 /* . */ || !isDigitAt(text, 20) || !isDigitAt(text, 21) || !isDigitAt(text, 22))) return false;
  if (!text.endsWith(' +00:00') || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32) return false;
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return false;
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  return month >= 1 && month <= 12 && day >= 1 && day <= 28 && twoDigits(text, 11) < 24 && twoDigits(text, 14) < 60 && twoDigits(text, 17) < 60;
}

const EXPORT_TIME_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

function isDigitAt(text: string, i: number): boolean {
  const code = text.charCodeAt(i);
  return code >= 48 && code <= 57;
}

function twoDigits(text: string, i: number): number {
  return (text.charCodeAt(i) - 48) * 10 + (text.charCodeAt(i + 1) - 48);
}

/** Formats an instant as Iterable's request format, `yyyy-MM-dd HH:mm:ss` in UTC. */
export function formatIterableTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}
