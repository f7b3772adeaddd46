import type { Row, RowWindow } from '../core/rows.js';
import type { JsonSchema, Logger, RejectedRecord } from '../core/types.js';
import type { RequestOptions } from '../iterable/client.js';
import type { EndpointFamily, Query } from '../iterable/types.js';
import type { StreamBookmark } from '../state/singer-state.js';
import type { ExportJobsRun } from './export-jobs-run.js';
import type { StreamDefinition } from './stream-table.js';
import type { TimeWindow } from './windows.js';

/** The calls a read strategy makes; the IterableClient provides them. */
export interface IterableReader {
  getJson<T>(path: string, query: Query, family: EndpointFamily): Promise<T>;
  getJsonUrl<T>(url: string, family: EndpointFamily): Promise<T>;
  getText(path: string, query: Query, family: EndpointFamily): Promise<string>;
  streamLines(path: string, query: Query, family: EndpointFamily): AsyncGenerator<string>;
  streamLineBatches(path: string, query: Query, family: EndpointFamily, options?: RequestOptions): AsyncGenerator<string[]>;
}

/** What a strategy yields; the sync orchestrator turns these into destination calls. */
export type ReadEvent =
  /**
   * A bounded batch of normalised rows, with the lines that were not records (`rejected`) and,
   * for event exports, the window they cover (see `RowWindow`).
   */
  | { kind: 'records'; records: Row[]; rejected?: RejectedRecord[]; window?: RowWindow }
  /** Everything yielded so far is complete: commit it with this bookmark (null = none). */
  | { kind: 'checkpoint'; bookmark: StreamBookmark | null; window?: TimeWindow }
  /** Drop everything yielded since the last checkpoint; the strategy reads it again. */
  | { kind: 'discard'; reason: string }
  /** How many units (windows, lists, …) the strategy expects, for progress. */
  | { kind: 'plan'; unitsTotal: number }
  /** One unit (window, list, page set) done. */
  | { kind: 'unit-done'; label: string };

/** Everything a strategy needs to read one stream. */
export interface ReadContext {
  client: IterableReader;
  stream: StreamDefinition;
  /** The stream's schema, with custom fields resolved (users). */
  schema: JsonSchema;
  /** Custom `date` fields whose values are normalised to ISO 8601 (users). */
  dateFields?: ReadonlySet<string>;
  /** The stored bookmark, or undefined for a first (or full-refresh) run. */
  bookmark: StreamBookmark | undefined;
  startDate: Date | null;
  windowDays: number;
  lookbackMinutes: number;
  /** The sync's start; the last window ends here and no bookmark passes it. */
  runStart: Date;
  logger: Logger;
  /** Records per `records` event. Default `BATCH_SIZE` (250). */
  batchSize?: number;
  /** Smallest window tried after failures, in ms. Default 15 minutes. */
  minWindowMs?: number;
  /**
   * Failed reads in a row of one export window (across halvings) or of one list's members before
   * the stream gives up. Default 6.
   */
  maxWindowFailures?: number;
  /**
   * How long one export window may keep failing (retries, rate-limit waits and smaller re-reads
   * included) before the stream gives up, in ms. Default 5 minutes.
   */
  maxWindowRetryMs?: number;
  /** `metrics_attribution_days`: campaign metrics are re-read this long after a campaign ended. Default 15. */
  metricsAttributionDays?: number;
  /** Set when this export stream reads through export jobs this run (export_mode); else data.json windows. */
  exportJobs?: ExportJobsRun;
}
