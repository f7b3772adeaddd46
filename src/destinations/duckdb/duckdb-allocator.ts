/**
 * Imported by `duckdb-library.ts` before `@duckdb/node-api`: DuckDB's bundled jemalloc
 * reads `DUCKDB_JE_MALLOC_CONF` once, when the library is loaded. DuckDB keeps freed pages for
 * 1 s by default (`dirty_decay_ms:1000`), and a part commit frees and allocates tens of MB
 * within that second: returning them at once lowers a 1,000,000-row sync's peak RSS by 25–45 MB
 * (213–220 MB instead of 242–261), and costs about 0.9 s of system CPU (faulting the pages in
 * again) and 1–11% of its speed against decays of 20–200 ms (README "Development",
 * measured in pairs). A value set by the user is kept.
 */
process.env.DUCKDB_JE_MALLOC_CONF ??= 'dirty_decay_ms:0,muzzy_decay_ms:0';
