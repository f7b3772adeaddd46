import type { Row } from '../core/rows.js';
import type { JsonRecord, RejectedRecord } from '../core/types.js';
import { FlatLineScanner } from './flat-lines.js';
import { fillUserKey, USER_IDENTITY } from './project-types.js';
import type { StreamDefinition } from './stream-table.js';
import { eventId, normalizeExportRecord, type ExportLineRules } from './records.js';

/**
 * Lines (or records) a read hands the destination at a time. Small batches die young in V8's
 * heap: 250 instead of 2,000 lowered a 1,000,000-row sync's peak RSS by 12 MB (DuckDB) and
 * 18 MB (PostgreSQL) at the same rows/s (2 pairs, measured).
 */
export const BATCH_SIZE = 250;

/** The parser of a stream's export lines (data.json windows and export job files alike). */
export function exportLineParserFor(stream: StreamDefinition, dateFields: ReadonlySet<string> = new Set()): ExportLineParser {
  return new ExportLineParser({
    isEvent: stream.keyProperties.includes('_event_id'),
    keyFields: stream.keyProperties.filter((k) => k !== '_event_id'),
    dateFields: [...dateFields],
    ...(stream.keyPropertiesFor !== undefined ? { userKeyField: USER_IDENTITY[stream.projectType ?? 'email'].keyField } : {}),
  });
}

/**
 * Turns export lines into normalised rows: the one definition. A flat line becomes a
 * `FlatDocument` in one scan (`FlatLineScanner`); any other is parsed and normalised into a record.
 */
export class ExportLineParser {
  private readonly dateFields: ReadonlySet<string> | undefined;
  private readonly scanner: FlatLineScanner;

  constructor(readonly rules: ExportLineRules) {
    this.dateFields = rules.dateFields.length > 0 ? new Set(rules.dateFields) : undefined;
    this.scanner = new FlatLineScanner(rules);
  }

  /** The row of one export line, or why the line is not one (kept in `_rejected`). */
  parse(line: string): Row | string {
    return this.scanner.scan(line) ?? this.parseRecord(line);
  }

  /** The record of one export line (the long way), or why the line is not one. */
  parseRecord(line: string): JsonRecord | string {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      return `invalid JSON: ${(error as Error).message}`;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
    const record = value as JsonRecord;
    if (this.rules.userKeyField !== undefined) fillUserKey(record, this.rules.userKeyField);
    for (const key of this.rules.keyFields) {
      const field = record[key];
      if (field === undefined || field === null || field === '') return `no ${key}, which is this stream's key`;
    }
    if (this.rules.isEvent) record._event_id = eventId(record, line);
    return normalizeExportRecord(record, this.dateFields);
  }
}

/** Parses a batch of lines: the rows, and the lines that are not records (as rejected records of `source`). */
export function parseExportLines(
  lines: readonly string[],
  parser: ExportLineParser,
  stream: string,
  source: string,
): { rows: Row[]; rejected: RejectedRecord[] } {
  const rows: Row[] = [];
  const rejected: RejectedRecord[] = [];
  for (const line of lines) {
    const parsed = parser.parse(line);
    if (typeof parsed === 'string') rejected.push({ stream, raw: line, reason: parsed, source });
    else rows.push(parsed);
  }
  return { rows, rejected };
}
