import { ConnectorError, DestinationError, redactSecrets } from '../../errors.js';
import type { SingerState, StreamBookmark } from '../../state/singer-state.js';
import type { Destination, LoadMode, RunEnd, RunRecord, RunStart, TableLoad, TableSpec } from '../destination.js';
import type { SqlDialect, SqlParam, SqlSession } from './sql-dialect.js';
import { readRuns, readState, recordRunEnd, recordRunStart, resetState, seedState } from './system-tables.js';
import type { SqlTableLoad } from './table-load.js';

/**
 * What DuckDB and PostgreSQL share as destinations: the system tables (bookmarks, run history)
 * read and written on a session of their own, `query`, and the loads closed with the
 * destination. A database supplies its dialect, its sessions (`connect`), `open`, `beginLoad`
 * and `close`, and may say more about its errors (`errorMessage`).
 */
export abstract class SqlDestination<S extends SqlSession> implements Destination {
  abstract readonly description: string;
  protected abstract readonly dialect: SqlDialect;
  /** Open loads, closed with the destination. */
  protected readonly loads = new Set<SqlTableLoad>();

  abstract open(): Promise<void>;
  abstract beginLoad(table: TableSpec, mode: LoadMode): Promise<TableLoad>;
  abstract close(): Promise<void>;
  /** A session for the destination's own statements (not a load's). */
  protected abstract connect(): Promise<S>;

  readState(): Promise<SingerState> {
    return this.withSession('reading the bookmarks', (session) => readState(session, this.dialect));
  }

  resetState(streams?: readonly string[]): Promise<string[]> {
    return this.withSession('forgetting bookmarks', (session) => resetState(session, this.dialect, streams));
  }

  recordRunStart(run: RunStart): Promise<void> {
    return this.withSession('recording the run', (session) => recordRunStart(session, this.dialect, run));
  }

  recordRunEnd(run: RunEnd): Promise<void> {
    return this.withSession('recording the end of the run', (session) => recordRunEnd(session, this.dialect, run));
  }

  readRuns(limit?: number): Promise<RunRecord[]> {
    return this.withSession('reading the run history', (session) => readRuns(session, this.dialect, limit));
  }

  seedState(bookmarks: Readonly<Record<string, StreamBookmark>>): Promise<string[]> {
    return this.withSession('storing the bookmarks of the state file', (session) => seedState(session, this.dialect, bookmarks));
  }

  /**
   * Runs a query on a session of its own and returns plain rows (BIGINT as bigint, TIMESTAMPTZ
   * as Date, JSON parsed). For tests and tools; not part of Destination.
   */
  query(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    return this.withSession('running a query', (session) => session.query(sql, params));
  }

  /** Closes the open loads (each rolls back what it did not commit). */
  protected async closeLoads(): Promise<void> {
    await Promise.allSettled([...this.loads].map((load) => load.close()));
  }

  protected async withSession<T>(action: string, operation: (session: S) => Promise<T>): Promise<T> {
    const session = await this.connect();
    try {
      return await operation(session);
    } catch (error) {
      throw this.wrap(error, action);
    } finally {
      await session.close();
    }
  }

  /** A DestinationError naming the destination and what failed (a ConnectorError as it is). */
  protected wrap(error: unknown, action: string): Error {
    if (error instanceof ConnectorError) return error;
    return new DestinationError(`${this.description}: ${action} failed: ${redactSecrets(this.errorMessage(error))}`, { cause: error });
  }

  /** The database's words for an error, with a hint when there is one. */
  protected errorMessage(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
  }
}
