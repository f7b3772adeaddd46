import { setFlagsFromString } from 'node:v8';

/** V8 collects the old generation sooner (CLI only). Kept by measurement, issue 10: PostgreSQL peak RSS 184–201 MB with it, 237–273 MB without, rows/s not lower; DuckDB unchanged. */
export function keepHeapSmall(): void {
  setFlagsFromString('--heap-growing-percent=50');
}
