import type { Row, RowWindow } from '../core/rows.js';
import type { JsonSchema, RejectedRecord } from '../core/types.js';
import type { SingerState, StreamBookmark } from '../state/singer-state.js';

/** What a destination needs to know of a stream to hold it as a table. */
export interface TableSpec {
  /** Table name = stream name (`email_send`). */
  name: string;
  /** Upsert key, e.g. `['_event_id']` or `['email', 'listId']`. */
  keyProperties: readonly string[];
  /** Field the stream's bookmark follows, for incremental streams (`createdAt`). */
  replicationKey?: string;
  /** Object schema whose `properties` give the known columns. Fields outside it may still arrive. */
  schema: JsonSchema;
}

/** What one commit changed. */
export interface CommitResult {
  /** Rows inserted or replaced (after deduplication on the key within each transaction of the commit). */
  rowsWritten: number;
  /** Of those, rows that had at least one value moved to `_rescued`. */
  rowsRescued: number;
  /** Columns added to the table (new fields). */
  columnsAdded: string[];
  /** Rejected records stored. */
  rejected: number;
}

/**
 * Loading of one stream into its table, one window at a time: rows written are stored together
 * with the stream's bookmark by `commit`. An upsert load may store the rows of a large window in
 * several transactions (the last one with the bookmark), so readers can see part of a window
 * while it loads; a replace load stores everything at its commit. Memory stays bounded.
 */
export interface TableLoad {
  /**
   * Adds a bounded batch of rows (callers send at most a few thousand at a time). `window`: the
   * range of a field the rows cover, when the source knows that the earlier rows of their keys
   * lie there too (see `RowWindow`).
   */
  write(rows: readonly Row[], window?: RowWindow): Promise<void>;
  /** Keeps records that could not be parsed; stored with the rows. */
  reject(records: readonly RejectedRecord[]): Promise<void>;
  /**
   * Upsert mode: stores every row written since the last commit, deduplicated on the key (the
   * last written wins), and `bookmark` for the stream; the last transaction holds the bookmark
   * (a large window's earlier parts may already be stored in their own transactions). Replace mode: the
   * table's contents become exactly the rows written since `beginLoad`. `bookmark` null leaves
   * the stored bookmark as it is.
   */
  commit(bookmark: StreamBookmark | null): Promise<CommitResult>;
  /** Discards what was written since the last commit and not stored yet. */
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
