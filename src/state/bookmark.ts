import { StateError } from '../errors.js';
import { parseInstant } from '../core/instants.js';
import type { StreamBookmark } from './singer-state.js';

/**
 * Checks one stream's stored bookmark: an object of replication key → instant with at least one
 * entry, every value a date-time (`{"createdAt": "2024-05-01T00:00:00.000000Z"}`). Anything else
 * (`null`, `{}`, `{"createdAt": "not-a-date"}`) is a StateError naming `where` and the fix, never
 * silently read again from start_date.
 */
export function checkBookmark(value: unknown, stream: string, where: string, fix: string): StreamBookmark {
  const shown = JSON.stringify(value) ?? String(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length === 0) {
    throw new StateError(
      `${where}: the bookmark of ${stream} must be an object such as {"createdAt": "2024-05-01T00:00:00.000000Z"} (got ${shown}); ${fix}`,
    );
  }
  const bookmark: StreamBookmark = {};
  for (const [key, instant] of Object.entries(value as Record<string, unknown>)) {
    if (typeof instant !== 'string' || parseInstant(instant) === null) {
      throw new StateError(`${where}: bookmarks.${stream}.${key} is not a date-time (got ${JSON.stringify(instant) ?? String(instant)}); ${fix}`);
    }
    bookmark[key] = instant;
  }
  return bookmark;
}

/** Formats a bookmark the way singer-python does: `2024-05-01T00:00:00.000000Z`. */
export function formatBookmark(date: Date): string {
  return `${date.toISOString().slice(0, 23)}000Z`;
}
