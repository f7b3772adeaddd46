import { readFile } from 'node:fs/promises';
import { StateError } from '../errors.js';
import { checkBookmark } from './bookmark.js';
import { emptyState, type SingerState, type StreamBookmark } from './singer-state.js';

/**
 * Validates a Singer state object. Accepts what the Python tap-iterable writes
 * (`{"currently_syncing": …, "bookmarks": {"email_send": {"createdAt": "2019-…Z"}}}`), and a
 * bare `{"bookmarks": …}`; every bookmark must be an object of date-times (see `checkBookmark`).
 */
export function parseState(value: unknown, origin: string): SingerState {
  if (value === null || value === undefined) return emptyState();
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new StateError(`${origin}: a Singer state must be a JSON object with "bookmarks"`);
  }
  const raw = value as Record<string, unknown>;
  // Targets wrap state as {"value": {...}} in some pipelines.
  if (raw.bookmarks === undefined && typeof raw.value === 'object' && raw.value !== null) {
    return parseState(raw.value, origin);
  }
  const bookmarksRaw = raw.bookmarks ?? {};
  if (typeof bookmarksRaw !== 'object' || bookmarksRaw === null || Array.isArray(bookmarksRaw)) {
    throw new StateError(`${origin}: "bookmarks" must be an object of stream → {replication key: date-time}`);
  }
  const bookmarks: Record<string, StreamBookmark> = {};
  for (const [stream, entry] of Object.entries(bookmarksRaw as Record<string, unknown>)) {
    bookmarks[stream] = checkBookmark(entry, stream, origin, 'correct it, or remove the stream from the state file to read it again from start_date');
  }
  const currently = typeof raw.currently_syncing === 'string' ? raw.currently_syncing : null;
  return { currently_syncing: currently, bookmarks };
}

/** Reads a Singer state file (`--state`). */
export async function readStateFile(path: string): Promise<SingerState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new StateError(`cannot read state file ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (text.trim() === '') return emptyState();
  try {
    return parseState(JSON.parse(text), `state file ${path}`);
  } catch (error) {
    if (error instanceof StateError) throw error;
    throw new StateError(`state file ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
