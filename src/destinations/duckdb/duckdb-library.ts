/**
 * DuckDB, as iterable-sync's modules import it: its allocator's settings (`duckdb-allocator.ts`)
 * must be in place before `@duckdb/node-api` loads the library, and ES modules evaluate a
 * module's imports in order, before its body. Import DuckDB from here, never directly.
 */
import './duckdb-allocator.js';

export { DuckDBDecimalValue, DuckDBInstance, DuckDBTimestampTZValue } from '@duckdb/node-api';
export type { DuckDBConnection, DuckDBResultReader, DuckDBValue } from '@duckdb/node-api';
