import type { SingerState, StreamBookmark } from '../state/singer-state.js';
import type { ExportLineRules } from '../streams/export-lines.js';

/** One record as Iterable sent it (after normalisation): field name → JSON value. */
export type JsonRecord = Record<string, unknown>;

/** The subset of JSON Schema that stream schemas use (Singer style: `type: ["null", "string"]`). */
export interface JsonSchema {
  type?: string | string[];
  format?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
  description?: string;
}

/** What a destination needs to know of a stream to hold it as a table. */
export interface TableSpec {
  /** Table name = stream name (`email_send`). */
  name: string;
  /** Upsert key, e.g. `['_event_id']` or `['email', 'listId']`. */
  keyProperties: readonly string[];
  /** Field the stream's bookmark follows, for incremental streams (`createdAt`). */
  replicationKey?: string;
  /**
   * The key determines the `replicationKey` value: every record of a key has the same one (the key
   * is a hash of the record's content, which includes it). A destination may then look for a key's
   * earlier row only among the rows whose replication key lies in the range of a batch. Default false.
   */
  keyDeterminesReplicationKey?: boolean;
  /** Object schema whose `properties` give the known columns. Fields outside it may still arrive. */
  schema: JsonSchema;
}

/** A line of an export that was not valid JSON, kept for inspection, never dropped silently. */
export interface RejectedRecord {
  stream: string;
  /** The raw text as received (truncated by the destination if very large). */
  raw: string;
  /** Why it was rejected, e.g. the JSON.parse message. */
  reason: string;
  /** Where it came from, e.g. `export emailSend [2024-01-01T00:00:00.000Z, 2024-01-31T00:00:00.000Z)`. */
  source: string;
}

/** What one commit changed. */
export interface CommitResult {
  /** Rows upserted or inserted by this commit (after deduplication on the key). */
  rowsWritten: number;
  /** Rows that had at least one value moved to `_rescued`. */
  rowsRescued: number;
  /** Columns added to the table by this commit (new fields). */
  columnsAdded: string[];
  /** Rejected records stored by this commit. */
  rejected: number;
}

/**
 * Loading of one stream into its table. Rows written are invisible until `commit`, which makes
 * them visible together with the stream's bookmark in one transaction. Memory stays bounded:
 * `write` hands each batch to the database (appender / COPY) before returning.
 */
export interface TableLoad {
  /** Adds a bounded batch of rows (callers send at most a few thousand at a time). */
  write(rows: readonly JsonRecord[]): Promise<void>;
  /**
   * Optional: adds export lines, each turned into a record by `new ExportLineParser(rules)` (a
   * line that is not one is kept as a rejected record of `source`), exactly as `write` and
   * `reject` would with the results, in order; a load may stage a plain line without building
   * its record. Without it, the caller parses and calls `write` / `reject`.
   */
  writeLines?(lines: readonly string[], rules: ExportLineRules, source: string): Promise<void>;
  /** Keeps records that could not be parsed; stored with the next commit. */
  reject(records: readonly RejectedRecord[]): Promise<void>;
  /**
   * Upsert mode: merges every row written since the last commit into the table, deduplicated on
   * the key (the last written wins), and stores `bookmark` for the stream, in one transaction.
   * Replace mode: the table's contents become exactly the rows written since `beginLoad`.
   * `bookmark` null leaves the stored bookmark as it is.
   */
  commit(bookmark: StreamBookmark | null): Promise<CommitResult>;
  /** Discards everything written since the last commit. */
  rollback(): Promise<void>;
  /** Releases the load's connection; rolls back anything uncommitted. */
  close(): Promise<void>;
}

export type LoadMode = 'upsert' | 'replace';

/**
 * How a sync run ended: `running` until it ends (a run killed with SIGKILL keeps it), `complete`
 * (every stream complete), `partial` (some streams failed), `failed` (every stream failed, or
 * the run failed before its streams), `interrupted` (SIGINT / SIGTERM).
 */
export type RunOutcome = 'running' | 'complete' | 'partial' | 'failed' | 'interrupted';

/** One stream's result in a run (a row of `_iterable_sync_run_streams`). */
export interface RunStreamRecord {
  stream: string;
  /** `complete` or `failed`. */
  status: string;
  /** Rows committed. */
  rows: number;
  /** Rows read from Iterable, re-reads included. */
  rowsRead: number;
  rescued: number;
  rejected: number;
  seconds: number;
  /** The error's one-line message when the stream failed. */
  error: string | null;
}

/** What a run records when it starts (a row of `_iterable_sync_runs` with outcome `running`). */
export interface RunStart {
  runId: string;
  startedAt: Date;
  /** The streams the run selected. */
  streams: readonly string[];
}

/** What a run records when it ends. */
export interface RunEnd {
  runId: string;
  endedAt: Date;
  outcome: Exclude<RunOutcome, 'running'>;
  exitCode: number;
  results: readonly RunStreamRecord[];
  /** The run's own error (one line), when it failed outside its streams. */
  error?: string;
}

/** A recorded run, with its streams' results (none while it runs). */
export interface RunRecord {
  runId: string;
  startedAt: Date;
  endedAt: Date | null;
  outcome: RunOutcome;
  exitCode: number | null;
  streams: string[];
  rows: number;
  rescued: number;
  rejected: number;
  error: string | null;
  results: RunStreamRecord[];
}

/** A place that holds the replicated tables and the bookmarks. */
export interface Destination {
  /** Password-free description for messages, e.g. `duckdb:iterable.duckdb`. */
  readonly description: string;
  /** Connects, creates the state table if needed. */
  open(): Promise<void>;
  /** The stored bookmarks of every stream. */
  readState(): Promise<SingerState>;
  /** Forgets the bookmarks of these streams (every stream when omitted); tables stay. */
  resetState(streams?: readonly string[]): Promise<string[]>;
  /**
   * Stores these bookmarks for the streams that have none, in one transaction; a stored bookmark
   * is never replaced. Returns the streams stored. (`sync --state`: migrating from another tap.)
   */
  seedState(bookmarks: Readonly<Record<string, StreamBookmark>>): Promise<string[]>;
  /**
   * Starts loading a stream: creates its table from the schema (or adds missing columns).
   * Several loads (of different tables) may be open at once.
   */
  beginLoad(table: TableSpec, mode: LoadMode): Promise<TableLoad>;
  /** Run history (DuckDB and PostgreSQL; Singer output keeps none): records a run as `running`. */
  recordRunStart?(run: RunStart): Promise<void>;
  /** Records the end of a run started with `recordRunStart`: its outcome and its streams' results. */
  recordRunEnd?(run: RunEnd): Promise<void>;
  /** The latest recorded runs, newest first. */
  readRuns?(limit?: number): Promise<RunRecord[]>;
  close(): Promise<void>;
}
