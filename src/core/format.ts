/**
 * A count with thousands separators, as `n.toLocaleString('en-US')` writes it (`1,234,567`), without
 * Intl for integers: the first `toLocaleString` maps ICU's data into the process, about 7 MB of
 * resident memory (measured) for a few messages.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  let out = '';
  for (let end = digits.length; end > 0; end -= 3) out = `${end > 3 ? ',' : ''}${digits.slice(Math.max(0, end - 3), end)}${out}`;
  return n < 0 || Object.is(n, -0) ? `-${out}` : out;
}

/**
 * A duration in words: "45 s" under 90 s, "12 min" under an hour, "2 h 05 min" under 48 h, then
 * "3 d 4 h". `up` rounds up to whole minutes, for least bounds ("at least 2 h 05 min"), and reads
 * "under a minute" below one.
 */
export function formatDuration(ms: number, rounding: 'nearest' | 'up' = 'nearest'): string {
  if (ms < 0) return `-${formatDuration(-ms, rounding)}`;
  let minutes: number;
  if (rounding === 'up') {
    minutes = Math.ceil(ms / 60_000);
    if (minutes < 1) return 'under a minute';
  } else {
    const seconds = Math.round(ms / 1000);
    if (seconds < 90) return `${seconds} s`;
    minutes = Math.round(seconds / 60);
  }
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`;
  return `${formatCount(Math.floor(hours / 24))} d ${hours % 24} h`;
}
