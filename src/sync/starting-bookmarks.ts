import { StateError } from '../errors.js';
import type { Logger } from '../core/types.js';
import type { SingerState, StreamBookmark } from '../state/singer-state.js';
import type { StreamDefinition } from '../streams/stream-table.js';
import { parseInstant } from '../core/instants.js';
import { formatBookmark } from '../state/bookmark.js';

/**
 * The bookmark each incremental stream starts from (undefined: none, read from start_date).
 * A stored bookmark must hold the stream's replication key as a date-time (a StateError
 * otherwise, before any stream starts: `{}` or `"not-a-date"` is never read as "no bookmark"); one later than `now` (a hand edit, or a machine whose clock ran ahead) is
 * clamped to `now` with a warning naming the stream, so the stream reads up to now and stores a
 * bookmark that Iterable's clock has reached.
 */
export function startingBookmarks(
  streams: readonly StreamDefinition[],
  state: SingerState,
  now: Date,
  logger: Logger,
  /** Where the bookmarks are kept, for messages (the destination's description). */
  origin: string,
): Map<string, StreamBookmark | undefined> {
  const out = new Map<string, StreamBookmark | undefined>();
  for (const stream of streams) {
    const stored = state.bookmarks[stream.name];
    const key = stream.replicationKey;
    if (stored === undefined || stream.method !== 'INCREMENTAL' || key === undefined) {
      out.set(stream.name, undefined);
      continue;
    }
    const text = stored[key];
    const instant = text === undefined ? null : parseInstant(text);
    if (instant === null) {
      throw new StateError(
        `${origin}: the stored bookmark of ${stream.name} (${JSON.stringify(stored)}) has no "${key}" date-time; correct it, ` +
          `or forget it (\`iterable-sync reset --streams ${stream.name}\`, or remove it from the state file) to read the stream again from start_date`,
      );
    }
    if (instant.getTime() > now.getTime()) {
      logger.warn(
        `${stream.name}: the stored bookmark ${key} = ${text} is in the future (now is ${now.toISOString()} on Iterable's clock); ` +
          'clamped to now',
      );
      out.set(stream.name, { ...stored, [key]: formatBookmark(now) });
      continue;
    }
    out.set(stream.name, stored);
  }
  return out;
}
