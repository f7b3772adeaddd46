import { instantFromEpochMicros, type ValueRange } from '../sql/chunk-range.js';
import { quoteIdentifier, quoteLiteral } from '../sql/identifiers.js';
import type { MergePlan, SqlDialect } from '../sql/sql-dialect.js';
import { SYNCED_AT_COLUMN } from '../sql/table-columns.js';
import type { DuckDBSession } from './duckdb-session.js';

/** Temp table of a batch's keys while their earlier rows are deleted. */
const KEYS_TABLE = '_iterable_sync_batch_keys';

/** Smallest and largest value of a range of instants, canonical (see `ValueRange`). */
interface Bounds {
  readonly min: string;
  readonly max: string;
}

/**
 * Deletes the earlier rows of a batch's keys before the batch is inserted into a DuckDB table
 * keyed by the loader (`SqlDialect.keysByLoader`); one per load. The transaction's own rows are
 * looked at only when a key may repeat one of theirs; rows committed before the transaction only
 * when there are some.
 *
 * - `delete`, when the key determines the replication key (`MergePlan.rangeColumn`): a key's
 *   earlier row has the same value as the new one, so it lies in the batch's range, or has NULL
 *   there too. Committed rows are looked for only where there are some (see `committedWithin`),
 *   and their DELETE skips the transaction's own row groups by their `_synced_at` (DuckDB's zone
 *   maps).
 * - `deleteKeys`, for any other key: one DELETE that scans the table's key columns.
 *
 * Every statement that scans the table runs alone (`executeBounded`), so that the working memory
 * of such scans never adds up.
 */
export class EarlierRows {
  /** A range of the replication key looked at in the open transaction, and where the committed rows in it lie. */
  private probed: { min: string; max: string; committed: Bounds | undefined } | undefined;
  /** Some committed row has NULL as replication key; undefined: not looked at in the open transaction. */
  private committedNull: boolean | undefined;
  /** The table holds rows committed before the transaction; undefined: not looked at in the open transaction. */
  private committedAny: boolean | undefined;

  constructor(
    private readonly session: DuckDBSession,
    private readonly dialect: SqlDialect,
  ) {}

  /**
   * Deletes the earlier rows of the keys `keys` returns (a query), whose replication key lies in
   * `range`; `ownRows`: some key may be one of a row the transaction wrote. Returns whether rows
   * committed before the transaction may have been deleted.
   */
  async delete(plan: MergePlan, keys: string, range: ValueRange, ownRows: boolean): Promise<boolean> {
    const column = quoteIdentifier(plan.rangeColumn!.column);
    const committed = committedRows(plan);
    const conditions: string[] = [];
    let mayTouchCommitted = false;
    if (range.min !== undefined && range.max !== undefined) {
      const found = plan.tableEmptied ? undefined : await this.committedWithin(plan, range.min, range.max);
      if (ownRows) {
        // One scan for both: the transaction's rows spread over the whole range (exports are not sorted).
        conditions.push(`${column} BETWEEN ${instant(range.min)} AND ${instant(range.max)}`);
        mayTouchCommitted = found !== undefined;
      } else if (found !== undefined) {
        conditions.push(`${column} BETWEEN ${instant(found.min)} AND ${instant(found.max)} AND ${committed}`);
        mayTouchCommitted = true;
      }
    }
    if (range.hasNull) {
      const isNull = `${column} IS NULL`;
      if (!plan.tableEmptied && this.committedNull === undefined) {
        const [found] = await this.session.queryBounded(`SELECT count(*) AS n FROM ${plan.target} WHERE ${isNull} AND ${committed}`);
        this.committedNull = Number(found?.n ?? 0) > 0;
      }
      const hasCommitted = !plan.tableEmptied && this.committedNull === true;
      if (ownRows) conditions.push(isNull);
      else if (hasCommitted) conditions.push(`${isNull} AND ${committed}`);
      mayTouchCommitted ||= hasCommitted;
    }
    if (conditions.length === 0) return false;
    const deleted = await this.deleteWhere(plan, keys, conditions);
    return mayTouchCommitted && deleted > 0;
  }

  /**
   * Deletes the earlier rows of the keys `keys` returns (a query of the key columns, in key
   * order), wherever they are in the table: among the rows committed before the transaction, and
   * among the transaction's own when `ownRows` (some key may be one of theirs). Returns whether
   * committed rows may have been deleted.
   */
  async deleteKeys(plan: MergePlan, keys: string, ownRows: boolean): Promise<boolean> {
    if (!plan.tableEmptied && this.committedAny === undefined) {
      const [found] = await this.session.queryBounded(
        `SELECT count(*) AS n FROM (SELECT 1 FROM ${plan.target} WHERE ${committedRows(plan)} LIMIT 1)`,
      );
      this.committedAny = Number(found?.n ?? 0) > 0;
    }
    const committed = !plan.tableEmptied && this.committedAny === true;
    if (!committed && !ownRows) return false;
    // With own rows to look at too, one scan of every row; committed ones only otherwise.
    const condition = ownRows ? 'true' : committedRows(plan);
    const deleted = await this.deleteWhere(plan, keys, [condition]);
    return committed && deleted > 0;
  }

  /** Deletes the rows of the keys `keys` returns that meet one of `conditions` (one DELETE each); returns how many. */
  private async deleteWhere(plan: MergePlan, keys: string, conditions: readonly string[]): Promise<number> {
    // The keys go to a temp table first: the DELETE then needs little memory (the JSON reader alone takes 64 MiB).
    const table = this.dialect.tempTable(KEYS_TABLE);
    await this.session.execute(`CREATE OR REPLACE TEMP TABLE ${quoteIdentifier(KEYS_TABLE)} AS ${keys}`);
    try {
      const names = plan.keyColumns.map((c) => quoteIdentifier(c.column));
      const key = names.length === 1 ? names[0]! : `(${names.join(', ')})`;
      let deleted = 0;
      for (const condition of conditions) {
        deleted += await this.session.executeBounded(`DELETE FROM ${plan.target} WHERE ${condition} AND ${key} IN (SELECT * FROM ${table})`);
      }
      return deleted;
    } finally {
      await this.session.execute(`DROP TABLE ${table}`);
    }
  }

  /** The range of the replication key over the rows `source` (a table expression) holds. */
  async rangeOf(plan: MergePlan, source: string): Promise<ValueRange> {
    const column = quoteIdentifier(plan.rangeColumn!.column);
    const [row] = await this.session.query(
      `SELECT epoch_us(min(${column})) AS lo, epoch_us(max(${column})) AS hi, count(*) FILTER (WHERE ${column} IS NULL) AS nulls FROM ${source}`,
    );
    return { ...instants(row), hasNull: Number(row?.nulls ?? 0) > 0 };
  }

  /** The transaction ended: what it learnt about committed rows no longer holds. */
  reset(): void {
    this.probed = undefined;
    this.committedNull = undefined;
    this.committedAny = undefined;
  }

  /**
   * Where the rows committed before the transaction whose replication key lies in [min, max] are:
   * their smallest and largest value, or undefined when there are none. Asks DuckDB (which answers
   * from its zone maps) only for a range it was not asked about in this transaction: committed
   * rows do not change meanwhile, except those the transaction deletes.
   */
  private async committedWithin(plan: MergePlan, min: string, max: string): Promise<Bounds | undefined> {
    const known = this.probed;
    let bounds: Bounds | undefined;
    if (known !== undefined && known.min <= min && max <= known.max) {
      bounds = known.committed;
    } else {
      const column = quoteIdentifier(plan.rangeColumn!.column);
      const [row] = await this.session.queryBounded(
        `SELECT epoch_us(min(${column})) AS lo, epoch_us(max(${column})) AS hi FROM ${plan.target} ` +
          `WHERE ${column} BETWEEN ${instant(min)} AND ${instant(max)} AND ${committedRows(plan)}`,
      );
      const found = instants(row);
      bounds = found.min === undefined || found.max === undefined ? undefined : { min: found.min, max: found.max };
      this.probed =
        known !== undefined && known.min <= max && min <= known.max
          ? { min: least(known.min, min), max: greatest(known.max, max), committed: hull(known.committed, bounds) }
          : { min, max, committed: bounds };
    }
    if (bounds === undefined) return undefined;
    const within = { min: greatest(bounds.min, min), max: least(bounds.max, max) };
    return within.min <= within.max ? within : undefined;
  }
}

const least = (a: string, b: string) => (a < b ? a : b);
const greatest = (a: string, b: string) => (a > b ? a : b);

function hull(a: Bounds | undefined, b: Bounds | undefined): Bounds | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return { min: least(a.min, b.min), max: greatest(a.max, b.max) };
}

/** `lo` and `hi` of a query row, microseconds since the epoch (BIGINT) or NULL, as canonical instants. */
function instants(row: Record<string, unknown> | undefined): { min: string | undefined; max: string | undefined } {
  const instantOf = (value: unknown) => (typeof value === 'bigint' ? instantFromEpochMicros(value) : undefined);
  return { min: instantOf(row?.lo), max: instantOf(row?.hi) };
}

/** The condition of rows committed before the transaction: every row it writes carries its `_synced_at`. */
function committedRows(plan: MergePlan): string {
  return `${quoteIdentifier(SYNCED_AT_COLUMN)} <> ${instant(plan.syncedAt)}`;
}

function instant(text: string): string {
  return `CAST(${quoteLiteral(text)} AS TIMESTAMPTZ)`;
}
