import type { JsonRecord } from '../destination.js';
import { cellText, cleanText, toJsonText, type TextRules } from './cell-values.js';
import { inferColumnType } from './column-types.js';
import type { LoadColumn, TableColumns } from './table-columns.js';

/** One value that fits its column, as canonical text (see `cellText`). */
export interface EncodedCell {
  readonly column: LoadColumn;
  readonly text: string;
}

/** A record ready for staging. */
export interface EncodedRow {
  readonly cells: readonly EncodedCell[];
  /** JSON text of `{"field": originalValue, …}` for the values that did not fit; null when all did. */
  readonly rescued: string | null;
}

/** A record the table cannot hold (its key is missing or unusable), with the reason. */
export interface UnstorableRecord {
  readonly reason: string;
}

/**
 * Turns records into rows of the table: each non-null value goes to its field's column when it
 * fits, or into `_rescued`; a field seen for the first time gets a column typed from its value
 * (see `inferColumnType`). A record whose key property is missing, null or does not fit the key
 * column cannot be upserted and is returned as unstorable (the load keeps it in `_rejected`).
 */
export class RecordEncoder {
  constructor(
    private readonly columns: TableColumns,
    private readonly keyColumns: readonly LoadColumn[],
    private readonly rules: TextRules,
  ) {}

  encode(record: JsonRecord): EncodedRow | UnstorableRecord {
    for (const key of this.keyColumns) {
      const value = record[key.field];
      if (value === undefined || value === null) return { reason: `key property "${key.field}" is missing or null` };
      if (cellText(key.type, value, this.rules) === undefined) {
        return { reason: `key property "${key.field}" holds ${describe(value)}, which does not fit its ${key.type} column` };
      }
    }
    const cells: EncodedCell[] = [];
    let rescued: string | null = null;
    for (const field of Object.keys(record)) {
      const value = record[field];
      if (value === undefined || value === null) continue;
      let column = this.columns.get(field);
      if (column === undefined) {
        const type = inferColumnType(value);
        if (type === undefined) continue;
        column = this.columns.add(field, type);
      }
      const text = cellText(column.type, value, this.rules);
      if (text !== undefined) {
        cells.push({ column, text });
      } else {
        const entry = `${JSON.stringify(cleanText(field, this.rules.replaceNul))}:${toJsonText(value, this.rules)}`;
        rescued = rescued === null ? entry : `${rescued},${entry}`;
      }
    }
    return { cells, rescued: rescued === null ? null : `{${rescued}}` };
  }
}

/** True when `encode` refused the record. */
export function isUnstorable(result: EncodedRow | UnstorableRecord): result is UnstorableRecord {
  return 'reason' in result;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
