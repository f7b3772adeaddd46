/**
 * Parsing instants written by people and tools: ISO 8601 dates and date-times (a space instead of
 * the `T` and a space before the offset accepted, so Iterable's `2024-05-01 12:00:00 +00:00` too),
 * `MM/DD/YYYY` (the Qlik/Stitch form), and epoch milliseconds.
 */

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$/i;
const US_DATE = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;

/**
 * Epoch ms of a UTC calendar date and time given as digit strings (a fraction of a second cut to
 * milliseconds), or null when it is not a real date and time.
 */
export function utcMs(
  year: string,
  month: string,
  day: string,
  hour = '0',
  minute = '0',
  second = '0',
  fraction = '',
): number | null {
  const y = Number(year);
  const mo = Number(month);
  const d = Number(day);
  const h = Number(hour);
  const mi = Number(minute);
  const s = Number(second);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  const ms = fraction ? Math.floor(Number(`0.${fraction}`) * 1000 + 1e-6) : 0;
  const check = new Date(0);
  check.setUTCFullYear(y, mo - 1, d); // not Date.UTC, which maps years 0–99 to 1900–1999
  check.setUTCHours(h, mi, s, ms);
  // Rejects 2024-02-30 and friends, which would silently roll over.
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return null;
  return check.getTime();
}

/**
 * Minutes east of UTC of a zone written `Z`, `+02`, `+0200` or `+02:00` (0 when absent), or null
 * when it is none of these (minutes beyond 59 included).
 */
export function zoneOffsetMinutes(zone: string | undefined): number | null {
  if (zone === undefined || zone === '' || zone.toUpperCase() === 'Z') return 0;
  const m = /^([+-])(\d{2})(?::?(\d{2}))?$/.exec(zone);
  if (!m || Number(m[3] ?? 0) > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}

/**
 * Parses a user-supplied instant: ISO 8601 date or date-time (UTC unless an offset is given),
 * `MM/DD/YYYY`, or Iterable's export format. Returns null when the text is none of these.
 */
export function parseInstant(text: string): Date | null {
  const value = text.trim();
  let m = US_DATE.exec(value);
  if (m) {
    const ms = utcMs(m[3]!, m[1]!, m[2]!);
    return ms === null ? null : new Date(ms);
  }
  m = ISO_DATE_TIME.exec(value);
  if (m) {
    const ms = utcMs(m[1]!, m[2]!, m[3]!, m[4] ?? '0', m[5] ?? '0', m[6] ?? '0', m[7] ?? '');
    const offset = zoneOffsetMinutes(m[8]);
    return ms === null || offset === null ? null : new Date(ms - offset * 60_000);
  }
  return null;
}

/** Epoch milliseconds → ISO 8601 UTC, or null when out of range. */
export function epochMsToIso(value: number): string | null {
  if (!Number.isFinite(value) || Math.abs(value) > 8.64e15) return null;
  return new Date(value).toISOString();
}
