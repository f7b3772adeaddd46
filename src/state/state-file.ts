import { readFile } from 'node:fs/promises';
import { StateError } from '../errors.js';
import { parseInstant } from '../time/instants.js';
import { emptyState, type SingerState, type StreamBookmark } from './singer-state.js';

/**
 * Validates a Singer state object. Accepts what the Python tap-iterable writes
 * (`{"currently_syncing": …, "bookmarks": {"email_send": {"createdAt": "2019-…Z"}}}`), and a
 * bare `{"bookmarks": …}`; every bookmark value must be a date-time.
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
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new StateError(`${origin}: bookmark of ${stream} must be an object such as {"createdAt": "2024-05-01T00:00:00.000000Z"}`);
    }
    const bookmark: StreamBookmark = {};
    for (const [key, instant] of Object.entries(entry as Record<string, unknown>)) {
      if (typeof instant !== 'string' || parseInstant(instant) === null) {
        throw new StateError(`${origin}: bookmarks.${stream}.${key} is not a date-time (got ${JSON.stringify(instant)})`);
      }
      bookmark[key] = instant;
    }
    bookmarks[stream] = bookmark;
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
