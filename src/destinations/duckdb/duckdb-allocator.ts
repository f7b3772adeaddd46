/**
 * Imported by `duckdb-library.ts` before `@duckdb/node-api`: DuckDB's bundled jemalloc
 * reads `DUCKDB_JE_MALLOC_CONF` once, when the library is loaded. DuckDB keeps freed pages for
 * 1 s by default (`dirty_decay_ms:1000`), and a part commit frees and allocates tens of MB
 * within that second: returning them at once lowered a 1,000,000-row sync's peak RSS by about
 * 25 MB, at no measurable cost in time (README "Throughput and memory"). A value set by the
 * user is kept.
 */
process.env.DUCKDB_JE_MALLOC_CONF ??= 'dirty_decay_ms:0,muzzy_decay_ms:0';
