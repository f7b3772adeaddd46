/** Quotes an SQL identifier (`"it""s"`); every table and column name goes through here. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Quotes an SQL string literal (`'it''s'`). Both DuckDB and PostgreSQL (with
 * standard_conforming_strings, the default since 9.1) read backslashes literally.
 */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
