import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConnectorError, DestinationError, redactSecrets } from '../../errors.js';
import type { StreamBookmark } from '../../state/singer-state.js';
import type { CommitResult, JsonRecord, LoadMode, RejectedRecord, TableLoad, TableSpec } from '../destination.js';
import { ExportLineParser, type ExportLineRules } from '../../streams/export-lines.js';
import { cleanText, toJsonText } from './cell-values.js';
import { RecordEncoder } from './record-encoder.js';
import type { MergeCounts, MergePlan, RowStaging, SqlDialect, SqlSession } from './sql-dialect.js';
import {
  REJECTED_STAGE,
  rejectedParams,
  stageRejectedSql,
  storeBookmarkSql,
  storeColumnMappingSql,
  storeRejectedSql,
} from './system-tables.js';
import { quoteIdentifier, quoteLiteral } from './identifiers.js';
import { RESCUED_COLUMN, SYNCED_AT_COLUMN, type LoadColumn } from './table-columns.js';
import { addColumnSql, type PreparedTable } from './table-setup.js';
import { makeTempDir } from './temp-dirs.js';

/** Rejected records per INSERT statement (3 params each). */
const REJECTED_PER_STATEMENT = 500;
/** Default number of staged rows from which a load merges them into the table (see `mergeMinRows`). */
const DEFAULT_MERGE_MIN_ROWS = 40_000;
/** Characters of staged rows a staging may hold in JS while the session is busy, before `write` waits. */
const MAX_BUFFERED_CHARS = 8 * 1024 * 1024;

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
   * Staged rows are merged into the table (inside the open transaction) as soon as this many have
   * accumulated and the session is idle, so that neither memory nor the commit's own work grows
   * with the rows between two commits. Default `DEFAULT_MERGE_MIN_ROWS`.
   */
  mergeMinRows?: number;
  /** A merge is due (write waits for the previous one) once this many rows are staged. Default 4 × `mergeMinRows`. */
  mergeEveryRows?: number;
  /** Called once the load's connection is released. */
  onClose?: () => void;
}

/**
 * Loading of one stream over its own connection (see README.md, "Transactions"): a transaction
 * opens at the first write; rows go to a staging of that transaction and are merged into the
 * table every few tens of thousands of rows (`mergeMinRows`, `mergeEveryRows`), in the
 * background while the caller fetches more (the merges stay invisible to readers until the
 * commit). Commit merges the remainder, stores the column mappings, the bookmark and the
 * rejected records, and commits, all at once. Any failure rolls the whole transaction back, so
 * the table and the bookmark are always those of the last successful commit.
 */
export class SqlTableLoad implements TableLoad {
  private readonly encoder: RecordEncoder;
  private readonly mergeMinRows: number;
  private readonly mergeEveryRows: number;
  private queue: Promise<unknown> = Promise.resolve();
  private inTransaction = false;
  private closed = false;
  /** Replace mode: the table is emptied by the first merge or commit of the load (until one commits). */
  private emptyTableAtCommit: boolean;
  /** The table was emptied in the open transaction. */
  private emptiedInTransaction = false;
  /** Statements running on the session while the caller goes on (a push or a merge); awaited before any other. */
  private background: Promise<void> | undefined;
  /** `background` has not settled yet. */
  private backgroundRunning = false;
  /** `_synced_at` of the open transaction, fixed by its first merge. */
  private syncedAt: string | undefined;
  private lastSyncedAtMicros = 0n;
  /** Counts of the merges of the open transaction. */
  private merges: MergeCounts[] = [];
  /** The open transaction updated or deleted rows that were in the table before it (as far as the load can tell). */
  private touchedOldRows = false;
  /** Rows of the table as the open transaction sees them, after its last merge (dialects with `alterAfterUpdateFails`). */
  private knownRows: number | undefined;
  /** Pending columns created (ALTER TABLE) in the open transaction, by id. */
  private readonly created = new Set<number>();
  private rejectedStaged = 0;
  private parser: { rules: ExportLineRules; parser: ExportLineParser } | undefined;

  constructor(private readonly options: SqlTableLoadOptions) {
    this.encoder = new RecordEncoder(options.table.columns, options.table.keyColumns, options.dialect.textRules);
    this.emptyTableAtCommit = options.mode === 'replace';
    this.mergeMinRows = Math.max(1, options.mergeMinRows ?? DEFAULT_MERGE_MIN_ROWS);
    this.mergeEveryRows = Math.max(this.mergeMinRows, options.mergeEveryRows ?? 4 * this.mergeMinRows);
  }

  write(rows: readonly JsonRecord[]): Promise<void> {
    return this.serially('writing rows', async () => {
      if (rows.length === 0) return;
      await this.beginIfNeeded();
      const { staging } = this.options;
      let unstorable: RejectedRecord[] | undefined;
      for (const record of rows) {
        const reason = staging.stage(record, this.encoder);
        if (reason !== undefined) (unstorable ??= []).push(this.unstorable(record, reason));
      }
      staging.batchDone();
      if (unstorable) {
        await this.settle();
        await this.stageRejected(unstorable);
      }
      await this.afterStaging();
    });
  }

  writeLines(lines: readonly string[], rules: ExportLineRules, source: string): Promise<void> {
    return this.serially('writing rows', async () => {
      if (lines.length === 0) return;
      await this.beginIfNeeded();
      const { staging, spec } = this.options;
      const parser = this.parserFor(rules);
      let rejected: RejectedRecord[] | undefined;
      for (const line of lines) {
        // The staging's own fast path for plain lines, if it has one; the record otherwise.
        if (staging.stageLine?.(line, parser, this.encoder)) continue;
        const record = parser.parse(line);
        const reason = typeof record === 'string' ? record : staging.stage(record, this.encoder);
        if (reason === undefined) continue;
        (rejected ??= []).push(typeof record === 'string' ? { stream: spec.name, raw: line, reason, source } : this.unstorable(record, reason));
      }
      staging.batchDone();
      if (rejected) {
        await this.settle();
        await this.stageRejected(rejected);
      }
      await this.afterStaging();
    });
  }

  /** A record the table cannot hold (see `RowStaging.stage`), as a rejected record. */
  private unstorable(record: JsonRecord, reason: string): RejectedRecord {
    return {
      stream: this.options.spec.name,
      source: 'iterable-sync: record without a usable key',
      reason,
      raw: toJsonText(record, this.options.dialect.textRules),
    };
  }

  private parserFor(rules: ExportLineRules): ExportLineParser {
    if (this.parser === undefined || this.parser.rules !== rules) this.parser = { rules, parser: new ExportLineParser(rules) };
    return this.parser.parser;
  }

  /** Merges or pushes what the staging holds, as its size and the session allow. */
  private async afterStaging(): Promise<void> {
    const { staging, dialect } = this.options;
    const pending = staging.rowsPending;
    const mergeDue = pending >= this.mergeEveryRows || (pending >= this.mergeMinRows && !this.backgroundRunning);
    if (mergeDue && !(dialect.alterLocksTable && this.columnsToCreate().length > 0)) {
      // Merge in the background while the caller fetches more; wait only when a merge is due and one still runs.
      await this.settle();
      this.inBackground(this.mergeStaged(false));
    } else if (!staging.pushUsesSession) {
      await staging.push();
    } else if (!this.backgroundRunning || staging.bufferedChars >= MAX_BUFFERED_CHARS) {
      // While the session is busy (a merge), rows wait in the staging's buffer, up to a bound.
      await this.settle();
      this.inBackground(staging.push());
    }
  }

  reject(records: readonly RejectedRecord[]): Promise<void> {
    return this.serially('keeping rejected records', async () => {
      if (records.length === 0) return;
      await this.beginIfNeeded();
      await this.settle();
      await this.stageRejected(records);
    });
  }

  commit(bookmark: StreamBookmark | null): Promise<CommitResult> {
    return this.serially('committing', async () => {
      const { session, dialect, staging, spec, table } = this.options;
      await this.beginIfNeeded();
      await this.settle();
      await this.mergeStaged(true);
      const target = dialect.table(spec.name);
      const columns = this.columnsToCreate();
      if (dialect.alterAfterUpdateFails && this.touchedOldRows && columns.length > 0) await this.replay(columns);
      await this.createColumns(columns);
      const pending = table.columns.pendingColumns();
      if (pending.length > 0) {
        await session.execute(
          storeColumnMappingSql(dialect, spec.name, pending.map(({ column }) => [column.field, column.column])),
        );
      }
      if (this.emptyTableAtCommit && !this.emptiedInTransaction) await session.execute(`DELETE FROM ${target}`);
      const syncedAt = (this.syncedAt ??= this.nextSyncedAt());
      let counts: MergeCounts = { rowsWritten: 0, rowsRescued: 0 };
      if (this.merges.length > 0) counts = await staging.commitCounts(this.plan(), this.merges);
      if (bookmark !== null) await session.execute(storeBookmarkSql(dialect, spec.name, bookmark, syncedAt));
      const rejected = this.rejectedStaged;
      if (rejected > 0) {
        await session.execute(storeRejectedSql(dialect, spec.name, syncedAt));
        if (dialect.dropsTempTablesBeforeCommit) await session.execute(`DROP TABLE ${dialect.tempTable(REJECTED_STAGE)}`);
      }
      await staging.finish();
      await (session.commit ? session.commit() : session.execute('COMMIT'));
      this.inTransaction = false;
      const columnsAdded = pending.filter((p) => p.create).map((p) => p.column.column);
      table.columns.markCommitted();
      this.emptyTableAtCommit = false;
      this.resetTransactionState();
      return { ...counts, columnsAdded, rejected };
    });
  }

  rollback(): Promise<void> {
    return this.serially('rolling back', async () => {
      await this.abort();
    });
  }

  close(): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return;
      this.closed = true;
      // Closing the connection discards an open transaction anyway; a dead one cannot roll back.
      await this.abort().catch(() => undefined);
      this.options.staging.dispose();
      await this.options.session.close().catch(() => undefined);
      this.options.onClose?.();
    });
  }

  private async beginIfNeeded(): Promise<void> {
    if (this.inTransaction) return;
    await this.options.session.execute('BEGIN');
    this.inTransaction = true;
  }

  /** Lets `work` run on the session while the caller goes on; its failure surfaces at the next `settle`. */
  private inBackground(work: Promise<void>): void {
    this.background = work;
    this.backgroundRunning = true;
    work.then(
      () => {
        if (this.background === work) this.backgroundRunning = false;
      },
      () => {
        if (this.background === work) this.backgroundRunning = false; // reported by settle()
      },
    );
  }

  /** Waits for the background statements; rethrows their failure. */
  private async settle(): Promise<void> {
    const work = this.background;
    this.background = undefined;
    this.backgroundRunning = false;
    if (work) await work;
  }

  /** Merges the rows staged so far into the table (inside the transaction); `isLast`: the commit's merge. */
  private async mergeStaged(isLast: boolean): Promise<void> {
    const { session, dialect, staging, spec } = this.options;
    const chunk = staging.seal(isLast);
    if (chunk === undefined) return;
    // The chunk's fields are those mapped by now; fields mapped while it merges wait for the next merge.
    const columns = this.columnsToCreate();
    // The rows sealed are those staged so far; push() takes them at once (later rows wait for the next push).
    if (staging.pushUsesSession) await staging.push();
    this.syncedAt ??= this.nextSyncedAt();
    const target = dialect.table(spec.name);
    const tracksOldRows = dialect.alterAfterUpdateFails === true;
    // Upserts on a primary key do not tell whether they replaced committed rows; the loader's merges do.
    const countsRows = tracksOldRows && this.options.table.hasPrimaryKey;
    if (tracksOldRows && this.touchedOldRows && columns.length > 0) await this.replay(columns);
    await this.createColumns(columns);
    if (this.emptyTableAtCommit && !this.emptiedInTransaction) {
      if ((await session.execute(`DELETE FROM ${target}`)) > 0) this.touchedOldRows = true;
      this.emptiedInTransaction = true;
    }
    if (countsRows && this.knownRows === undefined) this.knownRows = await this.countRows();
    const counts = await staging.merge(chunk, this.plan());
    this.merges.push(counts);
    if (counts.touchedOldRows === true) this.touchedOldRows = true;
    if (countsRows) {
      // Rows written that did not add a row replaced one (maybe one of this transaction's own: no matter).
      const rows = await this.countRows();
      if (rows - this.knownRows! !== counts.rowsWritten) this.touchedOldRows = true;
      this.knownRows = rows;
    }
  }

  /** What a merge writes: the columns the table has now (pending columns not created yet are left out). */
  private plan(): MergePlan {
    const { dialect, spec, table } = this.options;
    const pending = new Set(table.columns.pendingColumns().filter((p) => p.create && !this.created.has(p.column.id)).map((p) => p.column.id));
    return {
      target: dialect.table(spec.name),
      columns: table.columns.all().filter((c) => !pending.has(c.id)),
      keyColumns: table.keyColumns,
      hasPrimaryKey: table.hasPrimaryKey,
      ...(table.rangeColumn === undefined ? {} : { rangeColumn: table.rangeColumn }),
      syncedAt: this.syncedAt ?? this.nextSyncedAt(),
      insertOnly: this.emptiedInTransaction && this.merges.length === 0,
      tableEmptied: this.emptiedInTransaction,
    };
  }

  /** Columns of fields mapped since the last commit that the table does not have yet. */
  private columnsToCreate(): LoadColumn[] {
    return this.options.table.columns
      .pendingColumns()
      .filter((p) => p.create && !this.created.has(p.column.id))
      .map((p) => p.column);
  }

  private async countRows(): Promise<number> {
    const rows = await this.options.session.query(`SELECT count(*) AS n FROM ${this.options.dialect.table(this.options.spec.name)}`);
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Starts the open transaction over so that new columns can be added first (see
   * `alterAfterUpdateFails`): the rows it wrote (they carry its `_synced_at`) and its rejected
   * records are copied to Parquet files, the transaction is rolled back and begun again, the
   * columns are added, and the rows written back. DuckDB only; rare (a field first seen after a
   * merge that replaced existing rows).
   */
  private async replay(columns: readonly LoadColumn[]): Promise<void> {
    const { session, dialect, spec, table, staging } = this.options;
    const target = dialect.table(spec.name);
    const dir = makeTempDir('replay');
    try {
      const plan = this.plan();
      const names = [...plan.columns.map((c) => c.column), RESCUED_COLUMN, SYNCED_AT_COLUMN].map(quoteIdentifier).join(', ');
      const rowsPath = join(dir, 'rows.parquet');
      const rejectedFile = quoteLiteral(join(dir, 'rejected.parquet'));
      const stamp = `CAST(${quoteLiteral(plan.syncedAt)} AS ${dialect.typeName('timestamptz')})`;
      await session.execute(
        `COPY (SELECT ${names} FROM ${target} WHERE ${quoteIdentifier(SYNCED_AT_COLUMN)} = ${stamp}) TO ${quoteLiteral(rowsPath)} (FORMAT parquet)`,
      );
      const rejected = this.rejectedStaged;
      if (rejected > 0) {
        await session.execute(`COPY (SELECT source, reason, raw FROM ${dialect.tempTable(REJECTED_STAGE)}) TO ${rejectedFile} (FORMAT parquet)`);
      }
      // The columns this transaction had added, then the new ones.
      const again = table.columns
        .pendingColumns()
        .filter((p) => p.create && this.created.has(p.column.id))
        .map((p) => p.column)
        .concat(columns);
      await session.execute('ROLLBACK');
      await session.execute('BEGIN');
      this.created.clear();
      this.emptiedInTransaction = false;
      this.touchedOldRows = false;
      this.rejectedStaged = 0;
      await this.createColumns(again);
      if (this.emptyTableAtCommit) {
        if ((await session.execute(`DELETE FROM ${target}`)) > 0) this.touchedOldRows = true;
        this.emptiedInTransaction = true;
      }
      if (table.keyColumns.length > 0 && !this.emptiedInTransaction) {
        if (staging.restore === undefined) throw new Error(`${dialect.product} staging cannot restore replayed rows`);
        await staging.restore({ ...plan, insertOnly: false, tableEmptied: false }, rowsPath);
        this.touchedOldRows = true;
      } else {
        await session.execute(`INSERT INTO ${target} (${names}) SELECT ${names} FROM read_parquet(${quoteLiteral(rowsPath)})`);
      }
      if (rejected > 0) {
        const text = dialect.typeName('text');
        await session.execute(dialect.createTempTable(REJECTED_STAGE, `source ${text}, reason ${text}, raw ${text}`));
        await session.execute(`INSERT INTO ${dialect.tempTable(REJECTED_STAGE)} SELECT source, reason, raw FROM read_parquet(${rejectedFile})`);
        this.rejectedStaged = rejected;
      }
      // The commit counts its rows from the table (a replayed merge's own counts are gone).
      this.merges = [{ rowsWritten: Number.NaN, rowsRescued: Number.NaN }];
      if (table.hasPrimaryKey) this.knownRows = await this.countRows();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** ALTER TABLE … ADD COLUMN for these columns (of fields mapped since the last commit). */
  private async createColumns(columns: readonly LoadColumn[]): Promise<void> {
    const { session, dialect, spec } = this.options;
    for (const column of columns) {
      if (this.created.has(column.id)) continue;
      await session.execute(addColumnSql(dialect, dialect.table(spec.name), column));
      this.created.add(column.id);
    }
  }

  /** Now, as ISO 8601 UTC with microseconds, later than any instant this load used before. */
  private nextSyncedAt(): string {
    let micros = BigInt(Date.now()) * 1000n;
    if (micros <= this.lastSyncedAtMicros) micros = this.lastSyncedAtMicros + 1n;
    this.lastSyncedAtMicros = micros;
    const iso = new Date(Number(micros / 1000n)).toISOString();
    return `${iso.slice(0, 19)}.${(micros % 1_000_000n).toString().padStart(6, '0')}Z`;
  }

  private async stageRejected(records: readonly RejectedRecord[]): Promise<void> {
    const { session, dialect } = this.options;
    if (this.rejectedStaged === 0) {
      const text = dialect.typeName('text');
      await session.execute(dialect.createTempTable(REJECTED_STAGE, `source ${text}, reason ${text}, raw ${text}`));
    }
    const clean = (text: string) => cleanText(text, dialect.textRules.replaceNul);
    for (let start = 0; start < records.length; start += REJECTED_PER_STATEMENT) {
      const chunk = records.slice(start, start + REJECTED_PER_STATEMENT);
      await session.execute(stageRejectedSql(dialect, chunk.length), rejectedParams(chunk, clean));
    }
    this.rejectedStaged += records.length;
  }

  /** Rolls the transaction back (if any) and forgets everything since the last commit. */
  private async abort(): Promise<void> {
    const work = this.background;
    this.background = undefined;
    this.backgroundRunning = false;
    if (work) await work.catch(() => undefined);
    const wasInTransaction = this.inTransaction;
    this.inTransaction = false;
    this.options.table.columns.rollback();
    this.resetTransactionState();
    if (wasInTransaction) await this.options.session.execute('ROLLBACK');
  }

  private resetTransactionState(): void {
    this.options.staging.reset();
    this.emptiedInTransaction = false;
    this.touchedOldRows = false;
    this.knownRows = undefined;
    this.syncedAt = undefined;
    this.merges = [];
    this.created.clear();
    this.rejectedStaged = 0;
  }

  /** Runs one operation after the previous ones; a failure rolls back and becomes a DestinationError. */
  private serially<T>(action: string, operation: () => Promise<T>): Promise<T> {
    return this.enqueue(async () => {
      if (this.closed) throw new DestinationError(`${this.where()}: ${action} after the load was closed`);
      try {
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
        `everything written since the last commit was rolled back (table and bookmark unchanged)`,
      { cause: error },
    );
  }

  private where(): string {
    return `${this.options.description} table ${this.options.dialect.table(this.options.spec.name)}`;
  }
}
