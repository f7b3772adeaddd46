/**
 * Iterable's timestamp formats (spec §1.6): export rows use `yyyy-MM-dd HH:mm:ss +00:00`
 * (sometimes with `.SSS`), request parameters accept `yyyy-MM-dd HH:mm:ss [ZZ]`.
 */

/** Formats epoch ms the way data.json rows carry it: `2024-05-01 12:00:00 +00:00` (§1.6). */
export function formatExportTime(ms: number, withMillis = false): string {
  // Arithmetic instead of Date#toISOString: this runs once per row of multi-million-row exports.
  const days = Math.floor(ms / DAY_MS);
  const inDay = ms - days * DAY_MS;
  const seconds = Math.floor(inDay / 1000);
  const text = `${civilDate(days)} ${TWO_DIGITS[Math.floor(seconds / 3600)]}:${TWO_DIGITS[Math.floor(seconds / 60) % 60]}:${TWO_DIGITS[seconds % 60]}`;
  if (!withMillis) return `${text} +00:00`;
  return `${text}.${THREE_DIGITS[inDay % 1000]} +00:00`;
}

const DAY_MS = 86_400_000;
const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'));

/** `yyyy-MM-dd` of a day number since 1970-01-01 (Howard Hinnant's civil_from_days). */
function civilDate(daysSinceEpoch: number): string {
  const z = daysSinceEpoch + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const yearText = year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : String(year);
  return `${yearText}-${TWO_DIGITS[month]}-${TWO_DIGITS[day]}`;
}

const EXPORT_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))? \+00:00$/;

/** Parses a timestamp in the export row format back to epoch ms; undefined when it is not one. */
export function parseExportTime(text: string): number | undefined {
  const m = EXPORT_TIME.exec(text);
  if (!m) return undefined;
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'));
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), millis);
}

// `yyyy-MM-dd HH:mm:ss`, optional fraction, optional zone (` +00:00`, `+0000`, `Z`, ` UTC`);
// ISO 8601 with a `T` is also accepted. A form-decoded `+` arrives as a space and is NOT
// accepted as a sign: a client must percent-encode `+` (strict on purpose, see README).
const REQUEST_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))? ?(Z|UTC|[+-]\d{2}:?\d{2})?$/;

/** Parses a `startDateTime`/`endDateTime` request value to epoch ms (zone-less = UTC). */
export function parseRequestDateTime(text: string): number | undefined {
  const m = REQUEST_TIME.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number, number, number, number, number, number,
  ];
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const local = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const check = new Date(local);
  if (
    check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day ||
    hour > 23 || minute > 59 || second > 59
  ) {
    return undefined;
  }
  const zone = m[8];
  if (zone === undefined || zone === 'Z' || zone === 'UTC') return local;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
  if (offsetMinutes > 14 * 60) return undefined;
  return local - sign * offsetMinutes * 60_000;
}

/** Midnight UTC of the day containing `ms`. */
export function utcDayStart(ms: number): number {
  return Math.floor(ms / 86_400_000) * 86_400_000;
}
