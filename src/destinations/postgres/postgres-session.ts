import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { SqlParam, SqlSession } from '../sql/sql-dialect.js';

const INT8_OID = 20;

/** BIGINT as JS bigint (pg's default is a string); other types as pg parses them. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => BigInt(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * A pooled PostgreSQL client as an SqlSession. A connection error the server sends while the
 * client is idle (e.g. the backend was terminated) is kept and reported by the next call, rather
 * than crashing the process as an unhandled 'error' event.
 */
export class PostgresSession implements SqlSession {
  private lost: Error | undefined;
  private released = false;

  constructor(
    private readonly client: pg.PoolClient,
    /** Destroy the connection at close instead of returning it to the pool. */
    private readonly destroyOnClose: boolean,
  ) {
    client.on('error', this.onError);
  }

  async execute(sql: string, params?: readonly SqlParam[]): Promise<number> {
    this.check();
    const result = (await this.client.query({ text: sql, values: params as unknown[] | undefined, types: TYPES })) as
      | pg.QueryResult
      | pg.QueryResult[];
    const last = Array.isArray(result) ? result.at(-1) : result;
    return last?.rowCount ?? 0;
  }

  async query(sql: string, params?: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    this.check();
    const result = await this.client.query({ text: sql, values: params as unknown[] | undefined, types: TYPES });
    return result.rows as Record<string, unknown>[];
  }

  /** Runs `COPY … FROM STDIN` with the given chunks of COPY text. */
  async copyIn(sql: string, chunks: readonly Buffer[]): Promise<void> {
    this.check();
    await pipeline(Readable.from(chunks), this.client.query(copyFrom(sql)));
  }

  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.client.off('error', this.onError);
    this.client.release(this.lost ?? this.destroyOnClose);
  }

  private readonly onError = (error: Error): void => {
    this.lost = error;
  };

  private check(): void {
    if (this.lost) throw new Error(`the connection to PostgreSQL was lost: ${this.lost.message}`);
  }
}
