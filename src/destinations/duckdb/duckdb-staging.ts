import type { ColumnType } from '../sql/column-types.js';
import { quoteIdentifier, quoteLiteral } from '../sql/identifiers.js';
import type { EncodedRow } from '../sql/record-encoder.js';
import type { MergePlan, RowStaging, SqlDialect } from '../sql/sql-dialect.js';
import { RESCUED_COLUMN, SYNCED_AT_COLUMN, type LoadColumn } from '../sql/table-columns.js';
import type { DuckDBSession } from './duckdb-session.js';

const STAGE = '_iterable_sync_stage';
const STAGE_QUALIFIED = `temp.main.${quoteIdentifier(STAGE)}`;

/**
 * DuckDB staging: each row is appended as one JSON document `{"c<id>": value, …, "r": rescued}`
 * (with its sequence number) to a temp table by the Appender. At commit one INSERT … SELECT
 * parses the documents with `json_transform` into typed columns, keeps the last row of each key
 * (`QUALIFY row_number()`), and upserts. Measured here this is about twice as fast as appending
 * typed values one by one from JS, because the parsing runs in DuckDB's vectorised threads.
 */
export class DuckDBStaging implements RowStaging {
  private created = false;
  private seq = 0;
  /** Columns with at least one staged value in this transaction, by id. */
  private readonly staged = new Map<number, LoadColumn>();

  constructor(
    private readonly session: DuckDBSession,
    private readonly dialect: SqlDialect,
  ) {}

  async append(rows: readonly EncodedRow[]): Promise<void> {
    const { connection } = this.session;
    if (!this.created) {
      await connection.run(`CREATE TEMP TABLE ${quoteIdentifier(STAGE)} (_seq BIGINT, doc VARCHAR)`);
      this.created = true;
    }
    const appender = await connection.createAppender(STAGE, 'main', 'temp');
    try {
      for (const row of rows) {
        let doc = '';
        for (const { column, text } of row.cells) {
          if (!this.staged.has(column.id)) this.staged.set(column.id, column);
          doc += `,"c${column.id}":${jsonValue(column.type, text)}`;
        }
        if (row.rescued !== null) doc += `,"r":${row.rescued}`;
        appender.appendBigInt(BigInt(this.seq++));
        appender.appendVarchar(doc === '' ? '{}' : `{${doc.slice(1)}}`);
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      try {
        appender.closeSync();
      } catch {
        // the flush error above is the one to report
      }
    }
  }

  async merge(plan: MergePlan): Promise<{ rowsWritten: number; rowsRescued: number }> {
    const staged = plan.columns.filter((c) => this.staged.has(c.id));
    const source = this.documents(staged);
    const values = plan.columns.map((c) =>
      this.staged.has(c.id) ? `d.${field(c)}` : `CAST(NULL AS ${this.dialect.typeName(c.type)})`,
    );
    const lastPerKey = plan.keyColumns.length > 0 ? ` ${this.qualifyLast(plan.keyColumns)}` : '';
    let rowsRescued = 0;
    if (plan.anyRescued) {
      const rows = await this.session.query(
        `SELECT count(*) AS n FROM (SELECT d.r AS r FROM ${source}${lastPerKey}) WHERE r IS NOT NULL`,
      );
      rowsRescued = Number(rows[0]?.n ?? 0);
    }
    const targetColumns = [...plan.columns.map((c) => c.column), RESCUED_COLUMN, SYNCED_AT_COLUMN].map(quoteIdentifier);
    let sql =
      `INSERT INTO ${plan.target} (${targetColumns.join(', ')}) ` +
      `SELECT ${values.join(', ')}, d.r, CAST(${quoteLiteral(plan.syncedAt)} AS TIMESTAMPTZ) FROM ${source}${lastPerKey}`;
    if (plan.keyColumns.length > 0 && !plan.tableWasEmptied) {
      const keys = new Set(plan.keyColumns);
      const updated = [...plan.columns.filter((c) => !keys.has(c)).map((c) => c.column), RESCUED_COLUMN, SYNCED_AT_COLUMN]
        .map(quoteIdentifier)
        .map((name) => `${name} = excluded.${name}`);
      sql += ` ON CONFLICT (${plan.keyColumns.map((c) => quoteIdentifier(c.column)).join(', ')}) DO UPDATE SET ${updated.join(', ')}`;
    }
    const rowsWritten = await this.session.execute(sql);
    return { rowsWritten, rowsRescued };
  }

  async finish(): Promise<void> {
    if (this.created) await this.session.execute(`DROP TABLE ${STAGE_QUALIFIED}`);
    this.reset();
  }

  reset(): void {
    this.created = false;
    this.seq = 0;
    this.staged.clear();
  }

  /** `(SELECT _seq, json_transform(doc, '{…}') AS d FROM stage)`: one parse per document. */
  private documents(staged: readonly LoadColumn[]): string {
    const structure: Record<string, string> = {};
    for (const column of staged) structure[`c${column.id}`] = this.dialect.typeName(column.type);
    structure.r = 'JSON';
    return `(SELECT _seq, json_transform(doc, ${quoteLiteral(JSON.stringify(structure))}) AS d FROM ${STAGE_QUALIFIED})`;
  }

  private qualifyLast(keyColumns: readonly LoadColumn[]): string {
    return `QUALIFY row_number() OVER (PARTITION BY ${keyColumns.map((c) => `d.${field(c)}`).join(', ')} ORDER BY _seq DESC) = 1`;
  }
}

function field(column: LoadColumn): string {
  return quoteIdentifier(`c${column.id}`);
}

/** A cell's canonical text as a JSON value inside the staged document. */
function jsonValue(type: ColumnType, text: string): string {
  return type === 'text' || type === 'timestamptz' ? JSON.stringify(text) : text;
}
