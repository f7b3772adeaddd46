import { SchemaError } from '../../errors.js';
import type { TableSpec } from '../destination.js';
import { columnTypeForSchema, type ColumnType } from './column-types.js';
import { quoteIdentifier } from './identifiers.js';
import type { SqlDialect, SqlSession } from './sql-dialect.js';
import { COLUMNS_TABLE, storeColumnMappingSql } from './system-tables.js';
import { RESCUED_COLUMN, SYNCED_AT_COLUMN, TableColumns, type LoadColumn } from './table-columns.js';

/** A stream table ready for loading. */
export interface PreparedTable {
  columns: TableColumns;
  keyColumns: LoadColumn[];
  /** The table has a primary key on `keyColumns` (else upserts delete the staged keys' rows, then insert). */
  hasPrimaryKey: boolean;
}

/**
 * Creates the stream's table from its schema, or adds the columns of schema fields it lacks, and
 * stores their mapping rows, in one transaction. Existing columns keep their types (values that
 * do not fit them are rescued). The primary key is the stream's key, except where the loader
 * keeps keys unique (`SqlDialect.keyedWithoutPrimaryKey`): no primary key then, the key's columns and
 * `_synced_at` NOT NULL (a table created before with the key as primary key keeps it, and merges
 * upsert on it). A table whose primary key differs from the stream's key is a SchemaError: upserts
 * on another key would be wrong.
 */
export async function prepareTable(session: SqlSession, dialect: SqlDialect, spec: TableSpec): Promise<PreparedTable> {
  await session.execute('BEGIN');
  try {
    if (dialect.ddlLockSql) await session.execute(dialect.ddlLockSql);
    const existingRows = await session.query(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns ` +
        `WHERE table_catalog = current_database() AND table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [dialect.schemaName, spec.name],
    );
    const existing = new Map<string, ColumnType>(
      existingRows.map((row) => [String(row.column_name), dialect.columnType(String(row.data_type))]),
    );
    const mappingRows = await session.query(
      `SELECT field, column_name FROM ${dialect.table(COLUMNS_TABLE)} WHERE table_name = $1`,
      [spec.name],
    );
    const columns = new TableColumns(dialect.columnNames, {
      columns: existing,
      mapping: new Map(mappingRows.map((row) => [String(row.field), String(row.column_name)])),
    });
    for (const [field, property] of Object.entries(spec.schema.properties ?? {})) {
      columns.add(field, columnTypeForSchema(property));
    }
    const keyColumns = spec.keyProperties.map((key) => {
      const column = columns.get(key);
      if (!column) {
        throw new SchemaError(`stream "${spec.name}" is keyed on "${key}", which its schema does not declare`);
      }
      return column;
    });

    const keyedByLoader = dialect.keyedWithoutPrimaryKey === true && keyColumns.length > 0;
    let hasPrimaryKey = keyColumns.length > 0 && !keyedByLoader;
    const table = dialect.table(spec.name);
    const statements: string[] = [];
    if (existing.size === 0) {
      const keys = new Set(keyColumns);
      const definitions = columns
        .all()
        .map((c) => `${quoteIdentifier(c.column)} ${dialect.typeName(c.type)}${keys.has(c) ? keyConstraint(dialect, c) : ''}`);
      definitions.push(
        `${quoteIdentifier(SYNCED_AT_COLUMN)} ${dialect.typeName('timestamptz')}${keyedByLoader ? ' NOT NULL' : ''}`,
        `${quoteIdentifier(RESCUED_COLUMN)} ${dialect.typeName('json')}`,
      );
      if (hasPrimaryKey) {
        definitions.push(`PRIMARY KEY (${keyColumns.map((c) => quoteIdentifier(c.column)).join(', ')})`);
      }
      statements.push(`CREATE TABLE ${table} (${definitions.join(', ')})`);
    } else {
      // A table without primary key was created for this key when its NOT NULL columns are the key's and `_synced_at`.
      const notNull = existingRows.filter((row) => row.is_nullable === 'NO').map((row) => String(row.column_name));
      const createdForKey =
        keyedByLoader &&
        notNull.join('\u0000') === [...keyColumns.map((c) => c.column), SYNCED_AT_COLUMN].join('\u0000');
      // Keyed by the loader, the table's key is its NOT NULL columns but `_synced_at`.
      const loaderKey = keyedByLoader ? notNull.filter((c) => c !== SYNCED_AT_COLUMN) : [];
      hasPrimaryKey = await checkPrimaryKey(session, dialect, spec.name, keyColumns, createdForKey, loaderKey);
      if (!existing.has(SYNCED_AT_COLUMN)) {
        statements.push(`ALTER TABLE ${table} ADD COLUMN ${quoteIdentifier(SYNCED_AT_COLUMN)} ${dialect.typeName('timestamptz')}`);
      }
      if (!existing.has(RESCUED_COLUMN)) {
        statements.push(`ALTER TABLE ${table} ADD COLUMN ${quoteIdentifier(RESCUED_COLUMN)} ${dialect.typeName('json')}`);
      }
      for (const { column, create } of columns.pendingColumns()) {
        if (create) statements.push(addColumnSql(dialect, table, column));
      }
    }
    const pending = columns.pendingColumns();
    if (pending.length > 0) {
      statements.push(storeColumnMappingSql(dialect, spec.name, pending.map(({ column }) => [column.field, column.column])));
    }
    for (const statement of statements) await session.execute(statement);
    await session.execute('COMMIT');
    columns.markCommitted();
    return { columns, keyColumns, hasPrimaryKey };
  } catch (error) {
    await session.execute('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** What follows a key column's type in CREATE TABLE: its collation (text, see `SqlDialect.keyCollation`) and NOT NULL. */
function keyConstraint(dialect: SqlDialect, column: LoadColumn): string {
  const collation = column.type === 'text' && dialect.keyCollation !== undefined ? ` COLLATE ${quoteIdentifier(dialect.keyCollation)}` : '';
  return `${collation} NOT NULL`;
}

/** ALTER TABLE … ADD COLUMN for a new field's column (nullable). */
export function addColumnSql(dialect: SqlDialect, table: string, column: LoadColumn): string {
  return `ALTER TABLE ${table} ADD COLUMN ${quoteIdentifier(column.column)} ${dialect.typeName(column.type)}`;
}

/** Checks an existing table's primary key; returns whether it has one (it may have none when `mayLackKey`). */
async function checkPrimaryKey(
  session: SqlSession,
  dialect: SqlDialect,
  name: string,
  keyColumns: readonly LoadColumn[],
  mayLackKey: boolean,
  loaderKey: readonly string[] = [],
): Promise<boolean> {
  const rows = await session.query(dialect.primaryKeySql(name));
  const actual = rows.map((row) => String(row.column_name));
  const expected = keyColumns.map((c) => c.column);
  if (actual.length === 0 && mayLackKey) return false;
  if (actual.join('\u0000') !== expected.join('\u0000')) {
    const list = (names: readonly string[]) => (names.length > 0 ? `(${names.join(', ')})` : 'no primary key');
    const has =
      actual.length > 0 ? `primary key ${list(actual)}` : loaderKey.length > 0 ? `key ${list(loaderKey)} (its NOT NULL columns)` : 'no primary key';
    throw new SchemaError(
      `table ${dialect.table(name)} has ${has}, ` +
        `but stream "${name}" is keyed on ${list(expected)}; drop the table (the next sync re-reads the stream ` +
        `after \`iterable-sync reset --streams ${name}\`) or load into another destination`,
    );
  }
  return actual.length > 0;
}
