import { quoteIdentifier, quoteLiteral } from './identifiers.js';
import type { SqlDialect, StagedSource } from './sql-dialect.js';
import { RESCUED_COLUMN, SYNCED_AT_COLUMN, type LoadColumn } from './table-columns.js';

/**
 * How a part's staged rows go into the table:
 * - `replace`: the table's rows are deleted first (the first commit of a replace load);
 * - `upsert`: the last staged row of each key replaces the table's row of that key
 *   (`ON CONFLICT … DO UPDATE` on a primary key; without one, the rows of the staged keys are
 *   deleted, then the staged rows inserted);
 * - `append`: a table without key; every staged row is inserted;
 * - `insert`: every staged row is inserted in key order, as a new key: the first try of an upsert
 *   on a primary key that refuses repeated keys (see `mergePart` in table-load.ts). PostgreSQL
 *   spent 6.3 s of server CPU per 1,000,000 rows on `ON CONFLICT … DO UPDATE`, 3.7 s on this
 *   (key order keeps the index pages it writes in cache; measured, `COLLATE "C"` key).
 */
export type MergeStrategy = 'replace' | 'upsert' | 'append' | 'insert';

/** What a part commit merges. */
export interface MergePlan {
  strategy: MergeStrategy;
  /** Quoted, qualified table name. */
  target: string;
  /** Every column of the table a field is mapped to (written NULL when the part has no value). */
  columns: readonly LoadColumn[];
  /** Key columns; empty for a table without key. */
  keyColumns: readonly LoadColumn[];
  /** The table has a primary key on `keyColumns`. */
  hasPrimaryKey: boolean;
  /** The instant of the commit, ISO 8601 UTC with microseconds, for `_synced_at`. */
  syncedAt: string;
  /**
   * Upsert without primary key: the earlier rows of the staged keys have this TIMESTAMPTZ column
   * in `[start, end)` or NULL (see `RowWindow`), so the DELETE looks only there.
   */
  window?: { column: LoadColumn; start: string; end: string };
}

type MergeDialect = Pick<SqlDialect, 'dedupe' | 'typeName'>;

/** The statements that merge a part into the table, in order; the last is the INSERT, whose row count is the rows written. */
export function mergeSql(dialect: MergeDialect, plan: MergePlan, source: StagedSource): string[] {
  const { target } = plan;
  const insert = `INSERT INTO ${target} (${targetColumns(plan).join(', ')}) ${selectRows(dialect, plan, source)}`;
  switch (plan.strategy) {
    case 'replace':
      return [`DELETE FROM ${target}`, insert];
    case 'append':
    case 'insert':
      return [insert];
    case 'upsert':
      return plan.hasPrimaryKey ? [insert + onConflictClause(plan)] : [deleteStagedKeysSql(dialect, plan, source), insert];
  }
}

/** Rows the merge writes that have a rescued value (after deduplication): asked only when the part staged some. */
export function rescuedCountSql(dialect: MergeDialect, plan: MergePlan, source: StagedSource): string {
  return `SELECT count(*) AS n FROM (${selectRows(dialect, plan, source)}) AS w WHERE w.${quoteIdentifier(RESCUED_COLUMN)} IS NOT NULL`;
}

function targetColumns(plan: MergePlan): string[] {
  return [...plan.columns.map((c) => c.column), RESCUED_COLUMN, SYNCED_AT_COLUMN].map(quoteIdentifier);
}

/** The staged rows as the table's rows, the last of each key only (when the plan has a key). */
function selectRows(dialect: MergeDialect, plan: MergePlan, source: StagedSource): string {
  const values = plan.columns.map((c) => `${source.value(c)} AS ${quoteIdentifier(c.column)}`);
  values.push(
    `${source.rescued} AS ${quoteIdentifier(RESCUED_COLUMN)}`,
    `CAST(${quoteLiteral(plan.syncedAt)} AS ${dialect.typeName('timestamptz')}) AS ${quoteIdentifier(SYNCED_AT_COLUMN)}`,
  );
  const keys = plan.keyColumns.map((c) => source.value(c));
  const all = `SELECT ${values.join(', ')} FROM ${source.relation}`;
  if (plan.strategy === 'insert') return `${all} ORDER BY ${keys.join(', ')}`;
  if (plan.strategy === 'append' || keys.length === 0 || source.keysUnique) return all;
  if (dialect.dedupe === 'distinct-on') {
    return `SELECT DISTINCT ON (${keys.join(', ')}) ${values.join(', ')} FROM ${source.relation} ORDER BY ${keys.join(', ')}, ${source.order} DESC`;
  }
  // Rows whose key comes again later in the part are left out; only the repeated keys are held in memory.
  const repeated =
    `SELECT ${keys.map((k, i) => `${k} AS k${i}`).join(', ')}, max(${source.order}) AS o FROM ${source.relation} ` +
    `GROUP BY ${keys.join(', ')} HAVING count(*) > 1`;
  const sameKey = keys.map((k, i) => `r.k${i} = ${k}`).join(' AND ');
  return `${all} WHERE NOT EXISTS (SELECT 1 FROM (${repeated}) AS r WHERE ${sameKey} AND r.o > ${source.order})`;
}

/** `ON CONFLICT (key) DO UPDATE SET` every other column. */
function onConflictClause(plan: MergePlan): string {
  const keys = new Set(plan.keyColumns);
  const updated = [...plan.columns.filter((c) => !keys.has(c)).map((c) => c.column), RESCUED_COLUMN, SYNCED_AT_COLUMN]
    .map(quoteIdentifier)
    .map((name) => `${name} = excluded.${name}`);
  return ` ON CONFLICT (${plan.keyColumns.map((c) => quoteIdentifier(c.column)).join(', ')}) DO UPDATE SET ${updated.join(', ')}`;
}

/** DELETE of the table's rows whose key is staged (within the plan's window, when it has one). */
function deleteStagedKeysSql(dialect: MergeDialect, plan: MergePlan, source: StagedSource): string {
  const { target } = plan;
  const matches = plan.keyColumns.map((c, i) => `${target}.${quoteIdentifier(c.column)} = k.k${i}`);
  if (plan.window !== undefined) {
    const { column, start, end } = plan.window;
    const name = `${target}.${quoteIdentifier(column.column)}`;
    const at = (instant: string) => `CAST(${quoteLiteral(instant)} AS ${dialect.typeName('timestamptz')})`;
    matches.push(`(${name} IS NULL OR (${name} >= ${at(start)} AND ${name} < ${at(end)}))`);
  }
  return `DELETE FROM ${target} USING (${source.keys}) AS k WHERE ${matches.join(' AND ')}`;
}
