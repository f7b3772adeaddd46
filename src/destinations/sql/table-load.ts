import { FlatDocument, type Row, type RowWindow } from '../../core/rows.js';
import type { RejectedRecord } from '../../core/types.js';
import { ConnectorError, DestinationError, redactSecrets } from '../../errors.js';
import type { StreamBookmark } from '../../state/singer-state.js';
import type { CommitResult, LoadMode, TableLoad, TableSpec } from '../destination.js';
import { cleanText, toJsonText } from './cell-values.js';
import { mergeSql, rescuedCountSql, type MergePlan } from './merge-sql.js';
import { RecordEncoder } from './record-encoder.js';
import type { RowStaging, SqlDialect, SqlSession, StagedPart, StagedSource } from './sql-dialect.js';
import { rejectedParams, storeBookmarkSql, storeColumnMappingSql, storeRejectedSql } from './system-tables.js';
import type { PendingColumn } from './table-columns.js';
import { addColumnSql, type PreparedTable } from './table-setup.js';

/** Rejected records per INSERT statement (4 params each). */
const REJECTED_PER_STATEMENT = 500;
/**
 * Pieces of work queued on the session (COPYs of at least 1 MiB) before `write` waits for them:
 * PostgreSQL peak RSS 156–169 MB with 2–4, 199 MB with 16, no GC flag (1,000,000 rows, measured).
 */
const MAX_QUEUED_WORK = 4;

export interface SqlTableLoadOptions {
  session: SqlSession;
  dialect: SqlDialect;
  staging: RowStaging;
  spec: TableSpec;
  table: PreparedTable;
  mode: LoadMode;
  /** Password-free description of the destination, for messages. */
  description: string;
  /**
   * An upsert load commits what it staged, without the bookmark, once this many rows (or
   * `partChars` characters) are staged: memory and each transaction stay bounded however large
   * a window is, and the database merges one part while the load stages the next.
   */
  partRows: number;
  partChars: number;
  /** Runs a part's commit transaction (default: at once); DuckDB runs the commits of a file one at a time. */
  committing?: (commit: () => Promise<void>, part: StagedPart) => Promise<void>;
  /** Called once the load's connection is released. */
  onClose?: () => void;
}

/** A part sealed for its commit, with what the commit stores besides its rows. */
interface SealedPart {
  part: StagedPart;
  rejected: RejectedRecord[];
  /** The union of the windows its rows were written with; null when some row came without one. */
  window: RowWindow | null;
  /** Columns of fields mapped by its rows (or before) that its commit creates and maps. */
  pending: readonly PendingColumn[];
  plan: Omit<MergePlan, 'syncedAt' | 'window'>;
}

/**
 * Loading of one stream over its own connection (see README.md, "Loading a window"). Rows are
 * staged outside the table as they arrive; each part of a window is then stored by one short
 * transaction (`commitPart`): the new columns, the merge of the staged rows, the column mapping,
 * the rejected records, and, for the window's last part, the bookmark. A failure rolls that
 * transaction back; the table and the bookmark stay those of the last commit.
 */
export class SqlTableLoad implements TableLoad {
  private readonly encoder: RecordEncoder;
  /** Public operations, one after the other. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Staging work on the database (COPYs), in order, while the caller goes on. */
  private lane: Promise<void> = Promise.resolve();
  private queuedWork = 0;
  private laneFailure: { error: unknown } | undefined;
  /**
   * The part commit last queued (at most one runs while the next part is staged). It waits for
   * its part's staging work; the next part's staging does not wait for it when the staging puts
   * that part on another connection (PostgreSQL: COPY of the next part while one commits).
   */
  private partCommit: Promise<void> = Promise.resolve();
  private rejected: RejectedRecord[] = [];
  private rejectedChars = 0;
  private window: RowWindow | null | undefined;
  /** Replace mode: the first commit empties the table (no part is committed before it). */
  private replacing: boolean;
  private result: CommitResult = emptyResult();
  private lastSyncedAtMicros = 0n;
  private closed = false;

  constructor(private readonly options: SqlTableLoadOptions) {
    this.encoder = new RecordEncoder(options.table.columns, options.table.keyColumns, options.dialect.textRules);
    this.replacing = options.mode === 'replace';
  }

  write(rows: readonly Row[], window?: RowWindow): Promise<void> {
    return this.serially('writing rows', async () => {
      const { staging, partRows, partChars } = this.options;
      if (this.window === undefined) this.window = window ?? null;
      else if (this.window !== null) this.window = union(this.window, window);
      for (const row of rows) {
        const reason = staging.stage(row, this.encoder);
        if (reason !== undefined) this.keepRejected([this.unstorable(row, reason)]);
        if (!this.replacing && (staging.rows >= partRows || staging.chars + this.rejectedChars >= partChars)) {
          // One part commits while the next is staged: wait for the one before.
          await this.partCommit;
          this.throwLaneFailure();
          this.onLane(staging.take(true));
          const sealed = this.seal();
          this.partCommit = this.afterStaging(() => this.commitPart(sealed, null));
          // The rows still to stage belong to the window too.
          this.window = sealed.window;
        }
      }
      this.onLane(staging.take());
      if (this.queuedWork > MAX_QUEUED_WORK) await this.lane;
      this.throwLaneFailure();
    });
  }

  reject(records: readonly RejectedRecord[]): Promise<void> {
    return this.serially('keeping rejected records', async () => this.keepRejected(records));
  }

  commit(bookmark: StreamBookmark | null): Promise<CommitResult> {
    return this.serially('committing', async () => {
      this.onLane(this.options.staging.take(true));
      const sealed = this.seal();
      this.partCommit = this.afterStaging(() => this.commitPart(sealed, bookmark));
      await this.partCommit;
      this.throwLaneFailure();
      this.replacing = false;
      const result = this.result;
      this.result = emptyResult();
      return result;
    });
  }

  rollback(): Promise<void> {
    return this.serially('rolling back', () => this.abort());
  }

  close(): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.abort().catch(() => undefined);
      this.options.staging.dispose();
      await this.options.session.close().catch(() => undefined);
      this.options.onClose?.();
    });
  }

  /**
   * Stores one part in one transaction: ALTER TABLE for new columns, the merge (see `mergeSql`),
   * the mapping of new fields, the rejected records, the bookmark when given, COMMIT.
   */
  private async commitPart(sealed: SealedPart, bookmark: StreamBookmark | null): Promise<void> {
    const { dialect, staging, spec, table } = this.options;
    const { part, rejected } = sealed;
    const session = part.session ?? this.options.session;
    try {
      // Columns an earlier part (committing when this one was sealed) created are not pending any more.
      const stillPending = new Set(table.columns.pendingColumns());
      const pending = sealed.pending.filter((p) => stillPending.has(p));
      const plan: MergePlan = { ...sealed.plan, syncedAt: this.nextSyncedAt(), window: this.windowOf(sealed) };
      let source = part.rows > 0 ? staging.source(part, plan.columns) : undefined;
      const created = pending.filter((p) => p.create).map((p) => p.column);
      let rowsWritten = 0;
      let rowsRescued = 0;
      const committing = this.options.committing ?? ((commit) => commit());
      await committing(async () => {
        await session.execute('BEGIN');
        try {
          for (const column of created) await session.execute(addColumnSql(dialect, plan.target, column));
          if (pending.length > 0) {
            await session.execute(storeColumnMappingSql(dialect, spec.name, pending.map(({ column }) => [column.field, column.column])));
          }
          if (source !== undefined) {
            ({ source, rowsWritten } = await mergePart(session, dialect, plan, source));
            if (part.rescuedRows > 0) rowsRescued = Number((await session.query(rescuedCountSql(dialect, plan, source)))[0]?.n ?? 0);
            for (const sql of staging.afterMerge(part)) await session.execute(sql);
          } else if (plan.strategy === 'replace') {
            await session.execute(`DELETE FROM ${plan.target}`);
          }
          const clean = (text: string) => cleanText(text, dialect.textRules.replaceNul);
          for (let start = 0; start < rejected.length; start += REJECTED_PER_STATEMENT) {
            const chunk = rejected.slice(start, start + REJECTED_PER_STATEMENT);
            await session.execute(storeRejectedSql(dialect, chunk.length, plan.syncedAt), rejectedParams(spec.name, chunk, clean));
          }
          if (bookmark !== null) await session.execute(storeBookmarkSql(dialect, spec.name, bookmark, plan.syncedAt));
          await session.execute('COMMIT');
        } catch (error) {
          await session.execute('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }, part);
      table.columns.markCommitted(pending);
      this.result.rowsWritten += rowsWritten;
      this.result.rowsRescued += rowsRescued;
      this.result.columnsAdded.push(...created.map((c) => c.column));
      this.result.rejected += rejected.length;
    } finally {
      staging.release(part);
    }
  }

  /** Closes what was staged into a part, with the rejected records, window and columns its commit stores. */
  private seal(): SealedPart {
    const { staging, dialect, spec, table } = this.options;
    const part = staging.seal();
    const strategy = this.replacing ? 'replace' : table.keyColumns.length > 0 ? 'upsert' : 'append';
    const sealed: SealedPart = {
      part,
      rejected: this.rejected,
      window: this.window ?? null,
      pending: [...table.columns.pendingColumns()],
      plan: {
        strategy,
        target: dialect.table(spec.name),
        columns: table.columns.all(),
        keyColumns: table.keyColumns,
        hasPrimaryKey: table.hasPrimaryKey,
      },
    };
    this.rejected = [];
    this.rejectedChars = 0;
    this.window = undefined;
    return sealed;
  }

  /** The window a part's DELETE may keep to: an upsert without primary key, a window on a TIMESTAMPTZ column. */
  private windowOf(sealed: SealedPart): MergePlan['window'] {
    const { window, plan } = sealed;
    if (window === null || plan.strategy !== 'upsert' || plan.hasPrimaryKey) return undefined;
    const column = plan.columns.find((c) => c.field === window.field);
    return column?.type === 'timestamptz' ? { column, start: window.start, end: window.end } : undefined;
  }

  /** Queues work on the session; its failure is kept for the next call (see `throwLaneFailure`). */
  private onLane(work: (() => Promise<void>) | undefined): Promise<void> {
    if (work === undefined) return this.lane;
    this.queuedWork++;
    this.lane = this.lane.then(async () => {
      this.queuedWork--;
      if (this.laneFailure !== undefined) return;
      try {
        await work();
      } catch (error) {
        this.laneFailure = { error };
      }
    });
    return this.lane;
  }

  /** Queues a part commit after the staging work queued so far and the part commit before. */
  private afterStaging(commit: () => Promise<void>): Promise<void> {
    const staged = this.lane;
    return Promise.all([staged, this.partCommit]).then(async () => {
      if (this.laneFailure !== undefined) return;
      try {
        await commit();
      } catch (error) {
        this.laneFailure = { error };
      }
    });
  }

  private throwLaneFailure(): void {
    const failure = this.laneFailure;
    if (failure !== undefined) throw failure.error;
  }

  private keepRejected(records: readonly RejectedRecord[]): void {
    for (const record of records) {
      this.rejected.push(record);
      this.rejectedChars += record.raw.length;
    }
  }

  /** A row the table cannot hold (see `RowStaging.stage`), as a rejected record. */
  private unstorable(row: Row, reason: string): RejectedRecord {
    return {
      stream: this.options.spec.name,
      source: 'iterable-sync: record without a usable key',
      reason,
      raw: row instanceof FlatDocument ? row.text : toJsonText(row, this.options.dialect.textRules),
    };
  }

  /** Waits for the session's work and forgets everything staged and not committed. */
  private async abort(): Promise<void> {
    await this.lane;
    await this.partCommit;
    this.laneFailure = undefined;
    const { staging, table } = this.options;
    const reset = staging.reset();
    this.rejected = [];
    this.rejectedChars = 0;
    this.window = undefined;
    this.result = emptyResult();
    table.columns.rollback();
    if (reset !== undefined) await reset();
  }

  /** Now, as ISO 8601 UTC with microseconds, later than any instant this load used before. */
  private nextSyncedAt(): string {
    let micros = BigInt(Date.now()) * 1000n;
    if (micros <= this.lastSyncedAtMicros) micros = this.lastSyncedAtMicros + 1n;
    this.lastSyncedAtMicros = micros;
    const iso = new Date(Number(micros / 1000n)).toISOString();
    return `${iso.slice(0, 19)}.${(micros % 1_000_000n).toString().padStart(6, '0')}Z`;
  }

  /** Runs one operation after the previous ones; a failure rolls back and becomes a DestinationError. */
  private serially<T>(action: string, operation: () => Promise<T>): Promise<T> {
    return this.enqueue(async () => {
      if (this.closed) throw new DestinationError(`${this.where()}: ${action} after the load was closed`);
      try {
        this.throwLaneFailure();
        return await operation();
      } catch (error) {
        await this.abort().catch(() => undefined);
        throw this.wrap(error, action);
      }
    });
  }

  private enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation, operation);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private wrap(error: unknown, action: string): Error {
    if (error instanceof ConnectorError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new DestinationError(
      `${this.where()}: ${action} failed: ${redactSecrets(message)}; ` +
        `what was written since the last commit and not stored yet was dropped (bookmark unchanged)`,
      { cause: error },
    );
  }

  private where(): string {
    return `${this.options.description} table ${this.options.dialect.table(this.options.spec.name)}`;
  }
}

/**
 * Runs the merge of a part (the statements of `mergeSql`); returns the rows written and the source as merged. Keyed rows are
 * deduplicated only when needed: with a primary key and a database that refuses a statement
 * writing one key twice (`SqlDialect.isRepeatedKeyError`), the rows go in as they are (an upsert
 * as new keys: `insert`) and, on that error only (a key repeated in the part, or already in the
 * table), again deduplicated and upserted after `ROLLBACK TO SAVEPOINT` (PostgreSQL: asking
 * first whether a key repeats was another pass); otherwise when the staging's `repeatedKeys`
 * shows a key twice, or always when it cannot tell.
 */
export async function mergePart(
  session: SqlSession,
  dialect: SqlDialect,
  plan: MergePlan,
  staged: StagedSource,
): Promise<{ source: StagedSource; rowsWritten: number }> {
  let rowsWritten = 0;
  const run = async (source: StagedSource, strategy = plan.strategy) => {
    for (const sql of mergeSql(dialect, { ...plan, strategy }, source)) rowsWritten = await session.execute(sql);
    return { source, rowsWritten };
  };
  if (plan.keyColumns.length === 0 || staged.keysUnique) return run(staged);
  if (plan.hasPrimaryKey && dialect.isRepeatedKeyError !== undefined) {
    await session.execute('SAVEPOINT iterable_sync_merge');
    try {
      // An upsert tries its rows as new keys first (a plain INSERT, see `MergeStrategy`).
      return await run({ ...staged, keysUnique: true }, plan.strategy === 'upsert' ? 'insert' : plan.strategy);
    } catch (error) {
      if (!dialect.isRepeatedKeyError(error)) throw error;
      await session.execute('ROLLBACK TO SAVEPOINT iterable_sync_merge');
    }
    return run(staged);
  }
  if (staged.repeatedKeys === undefined) return run(staged);
  return run({ ...staged, keysUnique: Number((await session.query(staged.repeatedKeys))[0]?.n) === 0 });
}

function emptyResult(): CommitResult {
  return { rowsWritten: 0, rowsRescued: 0, columnsAdded: [], rejected: 0 };
}

/** The smallest window holding both; null when a write came without one. */
function union(a: RowWindow, b: RowWindow | undefined): RowWindow | null {
  if (b === undefined || b.field !== a.field) return null;
  return { field: a.field, start: b.start < a.start ? b.start : a.start, end: b.end > a.end ? b.end : a.end };
}
