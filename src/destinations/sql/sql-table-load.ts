import { ConnectorError, DestinationError, redactSecrets } from '../../errors.js';
import type { StreamBookmark } from '../../state/singer-state.js';
import type { CommitResult, JsonRecord, LoadMode, RejectedRecord, TableLoad, TableSpec } from '../destination.js';
import { cleanText, toJsonText } from './cell-values.js';
import { isUnstorable, RecordEncoder, type EncodedRow } from './record-encoder.js';
import type { RowStaging, SqlDialect, SqlSession } from './sql-dialect.js';
import {
  REJECTED_STAGE,
  rejectedParams,
  stageRejectedSql,
  storeBookmarkSql,
  storeColumnMappingSql,
  storeRejectedSql,
} from './system-tables.js';
import { addColumnSql, type PreparedTable } from './table-setup.js';

/** Rejected records per INSERT statement (3 params each). */
const REJECTED_PER_STATEMENT = 500;

export interface SqlTableLoadOptions {
  session: SqlSession;
  dialect: SqlDialect;
  staging: RowStaging;
  spec: TableSpec;
  table: PreparedTable;
  mode: LoadMode;
  /** Password-free description of the destination, for messages. */
  description: string;
  /** Called once the load's connection is released. */
  onClose?: () => void;
}

/**
 * Loading of one stream over its own connection (see README.md, "Transactions"): a transaction
 * opens at the first write; rows go to a staging table of that transaction; commit adds the
 * columns of new fields, merges the staged rows into the table, stores the bookmark and the
 * rejected records, and commits, all at once. Any failure rolls the whole transaction back, so
 * the table and the bookmark are always those of the last successful commit.
 */
export class SqlTableLoad implements TableLoad {
  private readonly encoder: RecordEncoder;
  private queue: Promise<unknown> = Promise.resolve();
  private inTransaction = false;
  private closed = false;
  /** Replace mode: the next commit empties the table first (only the first commit of the load). */
  private emptyTableAtCommit: boolean;
  private stagedRows = 0;
  private anyRescued = false;
  private rejectedStaged = 0;

  constructor(private readonly options: SqlTableLoadOptions) {
    this.encoder = new RecordEncoder(options.table.columns, options.table.keyColumns, options.dialect.textRules);
    this.emptyTableAtCommit = options.mode === 'replace';
  }

  write(rows: readonly JsonRecord[]): Promise<void> {
    return this.serially('writing rows', async () => {
      if (rows.length === 0) return;
      await this.beginIfNeeded();
      const encoded: EncodedRow[] = [];
      const unstorable: RejectedRecord[] = [];
      for (const record of rows) {
        const result = this.encoder.encode(record);
        if (isUnstorable(result)) {
          unstorable.push({
            stream: this.options.spec.name,
            source: 'iterable-sync: record without a usable key',
            reason: result.reason,
            raw: toJsonText(record, this.options.dialect.textRules),
          });
        } else {
          encoded.push(result);
          if (result.rescued !== null) this.anyRescued = true;
        }
      }
      if (encoded.length > 0) {
        await this.options.staging.append(encoded);
        this.stagedRows += encoded.length;
      }
      if (unstorable.length > 0) await this.stageRejected(unstorable);
    });
  }

  reject(records: readonly RejectedRecord[]): Promise<void> {
    return this.serially('keeping rejected records', async () => {
      if (records.length === 0) return;
      await this.beginIfNeeded();
      await this.stageRejected(records);
    });
  }

  commit(bookmark: StreamBookmark | null): Promise<CommitResult> {
    return this.serially('committing', async () => {
      const { session, dialect, staging, spec, table } = this.options;
      await this.beginIfNeeded();
      const syncedAt = new Date().toISOString();
      const target = dialect.table(spec.name);
      const pending = table.columns.pendingColumns();
      for (const { column, create } of pending) {
        if (create) await session.execute(addColumnSql(dialect, target, column));
      }
      if (pending.length > 0) {
        await session.execute(
          storeColumnMappingSql(dialect, spec.name, pending.map(({ column }) => [column.field, column.column])),
        );
      }
      const tableWasEmptied = this.emptyTableAtCommit;
      if (tableWasEmptied) await session.execute(`DELETE FROM ${target}`);
      let merged = { rowsWritten: 0, rowsRescued: 0 };
      if (this.stagedRows > 0) {
        merged = await staging.merge({
          target,
          columns: table.columns.all(),
          keyColumns: table.keyColumns,
          syncedAt,
          tableWasEmptied,
          anyRescued: this.anyRescued,
        });
      }
      if (bookmark !== null) await session.execute(storeBookmarkSql(dialect, spec.name, bookmark, syncedAt));
      const rejected = this.rejectedStaged;
      if (rejected > 0) {
        await session.execute(storeRejectedSql(dialect, spec.name, syncedAt));
        if (dialect.dropsTempTablesBeforeCommit) await session.execute(`DROP TABLE ${dialect.tempTable(REJECTED_STAGE)}`);
      }
      await staging.finish();
      await session.execute('COMMIT');
      this.inTransaction = false;
      const columnsAdded = pending.filter((p) => p.create).map((p) => p.column.column);
      table.columns.markCommitted();
      this.emptyTableAtCommit = false;
      this.resetTransactionState();
      return { ...merged, columnsAdded, rejected };
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
      await this.options.session.close().catch(() => undefined);
      this.options.onClose?.();
    });
  }

  private async beginIfNeeded(): Promise<void> {
    if (this.inTransaction) return;
    await this.options.session.execute('BEGIN');
    this.inTransaction = true;
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
    const wasInTransaction = this.inTransaction;
    this.inTransaction = false;
    this.options.table.columns.rollback();
    this.resetTransactionState();
    if (wasInTransaction) await this.options.session.execute('ROLLBACK');
  }

  private resetTransactionState(): void {
    this.options.staging.reset();
    this.stagedRows = 0;
    this.anyRescued = false;
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
