import { ColumnNameMapper, type ColumnNameRules } from './column-names.js';
import type { ColumnType } from './column-types.js';

/** Set at commit: when the row was last written. */
export const SYNCED_AT_COLUMN = '_synced_at';
/** Values that did not fit their column, as `{"field": originalValue}`. */
export const RESCUED_COLUMN = '_rescued';
/** Column names iterable-sync itself puts in every stream table. */
export const SYSTEM_COLUMNS = [SYNCED_AT_COLUMN, RESCUED_COLUMN] as const;

/** One record field and the column that holds it. */
export interface LoadColumn {
  readonly field: string;
  readonly column: string;
  readonly type: ColumnType;
  /** Unique within the load, never reused: staging names the column `c<id>`. */
  readonly id: number;
}

/** A field mapped since the last commit; `create` is false when an existing, unmapped column was adopted. */
export interface PendingColumn {
  readonly column: LoadColumn;
  readonly create: boolean;
}

/** What the database says about an existing table. */
export interface ExistingTable {
  /** Column name → type, in table order. */
  columns: ReadonlyMap<string, ColumnType>;
  /** Field → column name, from `_iterable_sync_columns`. */
  mapping: ReadonlyMap<string, string>;
}

interface Snapshot {
  byField: Map<string, LoadColumn>;
  mapper: ColumnNameMapper;
  unclaimed: Map<string, ColumnType>;
}

/**
 * The fields of one table and their columns, as a load sees them: those stored in the mapping
 * table, plus fields mapped since the last commit (pending: their columns are created and their
 * mapping rows stored by the next commit, or forgotten by a rollback).
 */
export class TableColumns {
  private byField: Map<string, LoadColumn>;
  private mapper: ColumnNameMapper;
  /** Columns of the table that no field claims (added by hand): kept as they are, adopted by a field of the same name. */
  private unclaimed: Map<string, ColumnType>;
  private pending: PendingColumn[] = [];
  private committed: Snapshot;
  private nextId = 0;

  constructor(rules: ColumnNameRules, existing: ExistingTable = { columns: new Map(), mapping: new Map() }) {
    this.mapper = new ColumnNameMapper(rules, [...SYSTEM_COLUMNS, ...existing.columns.keys()]);
    this.byField = new Map();
    const claimed = new Set<string>(SYSTEM_COLUMNS);
    for (const [field, column] of existing.mapping) {
      const type = existing.columns.get(column);
      if (type === undefined || claimed.has(column)) continue; // the column was dropped by hand: map the field afresh
      claimed.add(column);
      this.byField.set(field, { field, column, type, id: this.nextId++ });
    }
    this.unclaimed = new Map([...existing.columns].filter(([column]) => !claimed.has(column)));
    this.committed = this.snapshot();
  }

  /** The column of a field, if the field has one. */
  get(field: string): LoadColumn | undefined {
    return this.byField.get(field);
  }

  /** Maps a new field to a column (see `ColumnNameMapper` for the naming rule). */
  add(field: string, type: ColumnType): LoadColumn {
    const existing = this.byField.get(field);
    if (existing) return existing;
    const adoptedType = this.unclaimed.get(field);
    let column: LoadColumn;
    if (adoptedType !== undefined) {
      this.unclaimed.delete(field);
      column = { field, column: field, type: adoptedType, id: this.nextId++ };
    } else {
      column = { field, column: this.mapper.assign(field), type, id: this.nextId++ };
    }
    this.byField.set(field, column);
    this.pending.push({ column, create: adoptedType === undefined });
    return column;
  }

  /** Every mapped field, in the order they were mapped. */
  all(): LoadColumn[] {
    return [...this.byField.values()];
  }

  /** Fields mapped since the last commit. */
  pendingColumns(): readonly PendingColumn[] {
    return this.pending;
  }

  /** These pending columns (all by default) are now in the database, with their mapping rows. */
  markCommitted(columns: readonly PendingColumn[] = this.pending): void {
    const done = new Set(columns);
    this.pending = this.pending.filter((p) => !done.has(p));
    for (const { column, create } of columns) {
      this.committed.byField.set(column.field, column);
      if (create) this.committed.mapper.reserve(column.column);
      else this.committed.unclaimed.delete(column.field);
    }
  }

  /** Forgets the fields mapped since the last commit. */
  rollback(): void {
    this.byField = new Map(this.committed.byField);
    this.mapper = this.committed.mapper.clone();
    this.unclaimed = new Map(this.committed.unclaimed);
    this.pending = [];
  }

  private snapshot(): Snapshot {
    return { byField: new Map(this.byField), mapper: this.mapper.clone(), unclaimed: new Map(this.unclaimed) };
  }
}
