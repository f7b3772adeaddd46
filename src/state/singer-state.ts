/** A stream's bookmark: replication key → ISO 8601 UTC instant, e.g. `{ createdAt: "2024-05-01T00:00:00.000000Z" }`. */
export type StreamBookmark = Record<string, string>;

/** Singer state, in the shape the Python tap-iterable writes and reads. */
export interface SingerState {
  currently_syncing: string | null;
  bookmarks: Record<string, StreamBookmark>;
}

/** An empty state. */
export function emptyState(): SingerState {
  return { currently_syncing: null, bookmarks: {} };
}
