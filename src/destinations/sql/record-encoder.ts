import type { FlatShape, ValueKind } from '../../core/rows.js';
import type { JsonRecord } from '../../core/types.js';
import type { ColumnType } from './column-types.js';
import { cellText, cleanText, fitsAsJson, inferColumnType, toJsonText, type TextRules } from './cell-values.js';
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
 * Where `RecordEncoder.encodeInto` puts a row: `cell` for each value that fits its column, then
 * `endRow`. A staging writes the row straight into its own format (a JSON document, a COPY line),
 * so no per-cell objects are made.
 */
export interface RowSink {
  cell(column: LoadColumn, text: string): void;
  /** The row is complete. `rescued`: JSON text of `{"field": originalValue, …}`, or null. */
  endRow(rescued: string | null): void;
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
    readonly keyColumns: readonly LoadColumn[],
    private readonly rules: TextRules,
  ) {}

  /** The column of a field, if it has one yet. */
  columnOf(field: string): LoadColumn | undefined {
    return this.columns.get(field);
  }

  /** The column of a field with a non-null value, mapped now (typed from the value) if the field is new. */
  private columnFor(field: string, value: unknown): LoadColumn | undefined {
    const column = this.columns.get(field);
    if (column !== undefined) return column;
    const type = inferColumnType(value);
    return type === undefined ? undefined : this.columns.add(field, type);
  }

  /** The row as cells (for tests and tools; loads use `encodeInto`). */
  encode(record: JsonRecord): EncodedRow | UnstorableRecord {
    const cells: EncodedCell[] = [];
    let rescued: string | null = null;
    const reason = this.encodeInto(record, {
      cell: (column, text) => cells.push({ column, text }),
      endRow: (r) => {
        rescued = r;
      },
    });
    return reason === undefined ? { cells, rescued } : { reason };
  }

  /**
   * Checks a record for the fast path of a staging that stores records as their JSON text
   * (DuckDB): true when every non-null value fits its column as it is (`fitsAsJson`) and every
   * field with a value has a column `asIs` accepts; false when the record needs `encodeInto`; a
   * string (the reason) when its key is unusable. Maps new fields, like `encodeInto`.
   */
  fitsAsIs(record: JsonRecord, asIs: (column: LoadColumn) => boolean): boolean | string {
    const { keyColumns, rules } = this;
    for (let i = 0; i < keyColumns.length; i++) {
      const column = keyColumns[i]!;
      const value = record[column.field];
      if (value === undefined || value === null) return `key property "${column.field}" is missing or null`;
      if (!fitsAsJson(column.type, value) && cellText(column.type, value, rules) === undefined) {
        return `key property "${column.field}" holds ${describe(value)}, which does not fit its ${column.type} column`;
      }
    }
    for (const field of Object.keys(record)) {
      const value = record[field];
      if (value === undefined || value === null) continue;
      const column = this.columnFor(field, value);
      if (column === undefined) continue;
      if (!fitsAsJson(column.type, value) || !asIs(column)) return false;
    }
    return true;
  }

  /** The canonical texts (`cellText`) of a storable record's key values, in key order. */
  keyTexts(record: JsonRecord): string[] {
    return this.keyColumns.map((c) => cellText(c.type, record[c.field], this.rules) ?? '');
  }

  /**
   * `fitsAsIs` for every flat document of a shape (see `FlatDocument`): true when each value's
   * kind fits its column as it is and every key field has a value; maps new fields (typed from
   * the kind, as `inferColumnType` types the value).
   */
  shapeFitsAsIs(shape: FlatShape, asIs: (column: LoadColumn) => boolean): boolean {
    let keys = 0;
    for (let i = 0; i < shape.fields.length; i++) {
      const field = shape.fields[i]!;
      const kind = shape.kinds[i]!;
      if (kind === 'null') {
        if (this.keyColumns.some((c) => c.field === field)) return false;
        continue;
      }
      const column = this.columns.get(field) ?? this.columns.add(field, KIND_TYPES[kind]);
      if (!KIND_FITS[column.type].includes(kind) || !asIs(column)) return false;
      if (this.keyColumns.includes(column)) keys++;
    }
    return keys === this.keyColumns.length;
  }

  /** Sends the row to `sink`; returns why the record cannot be stored (nothing sent) or undefined. */
  encodeInto(record: JsonRecord, sink: RowSink): string | undefined {
    const { keyColumns, rules } = this;
    for (let i = 0; i < keyColumns.length; i++) {
      const column = keyColumns[i]!;
      const value = record[column.field];
      if (value === undefined || value === null) return `key property "${column.field}" is missing or null`;
      if (cellText(column.type, value, rules) === undefined) {
        return `key property "${column.field}" holds ${describe(value)}, which does not fit its ${column.type} column`;
      }
    }
    let rescued: string | null = null;
    for (const field of Object.keys(record)) {
      const value = record[field];
      if (value === undefined || value === null) continue;
      const column = this.columnFor(field, value);
      if (column === undefined) continue;
      const text = cellText(column.type, value, rules);
      if (text !== undefined) {
        sink.cell(column, text);
      } else {
        const entry = `${JSON.stringify(cleanText(field, rules.replaceNul))}:${toJsonText(value, rules)}`;
        rescued = rescued === null ? entry : `${rescued},${entry}`;
      }
    }
    sink.endRow(rescued === null ? null : `{${rescued}}`);
    return undefined;
  }
}

/** The column type `inferColumnType` gives a value of each kind. */
const KIND_TYPES: Record<Exclude<ValueKind, 'null'>, ColumnType> = {
  string: 'text',
  instant: 'timestamptz',
  integer: 'bigint',
  decimal: 'double',
  boolean: 'boolean',
  array: 'json',
  object: 'json',
};

/** The kinds whose JSON text a column of each type reads as exactly the value `cellText` gives (see `fitsAsJson`). */
const KIND_FITS: Record<ColumnType, readonly ValueKind[]> = {
  text: ['string', 'instant', 'integer', 'boolean'],
  bigint: ['integer'],
  double: ['integer', 'decimal'],
  boolean: ['boolean'],
  timestamptz: ['instant'],
  json: ['string', 'instant', 'integer', 'decimal', 'boolean', 'array', 'object'],
};

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
