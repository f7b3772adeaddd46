import type { JsonRecord } from '../destination.js';
import { cellText, fitsAsJson, parseTimestamp } from './cell-values.js';

/** The values a chunk holds in a TIMESTAMPTZ column, as `ChunkRange.take` reports them. */
export interface ValueRange {
  /** Smallest and largest value stored, canonical (`YYYY-MM-DDTHH:MM:SS.ffffffZ`); undefined when no row has one. */
  readonly min: string | undefined;
  readonly max: string | undefined;
  /** Some row stores NULL: the field is missing, null, or its value does not fit (it is rescued). */
  readonly hasNull: boolean;
}

const NO_RULES = { replaceNul: false };

/**
 * The range of one field's values over the rows of a chunk, as its TIMESTAMPTZ column will hold
 * them: one `add` per staged row. Values in the form staging writes as they are
 * (`YYYY-MM-DDTHH:MM:SS[.f]Z`) are compared as text among values of the same length (the same
 * format, so text order is time order) and made canonical only by `take`; others are parsed.
 */
export class ChunkRange {
  /** Smallest and largest value by text length (20 to 27 characters). */
  private mins: (string | undefined)[] = [];
  private maxs: (string | undefined)[] = [];
  private hasNull = false;

  constructor(readonly field: string) {}

  add(record: JsonRecord): void {
    this.addValue(record[this.field]);
  }

  /** `add` of a row whose field has this value (undefined: the row lacks the field). */
  addValue(value: unknown): void {
    if (typeof value !== 'string' || !fitsAsJson('timestamptz', value)) {
      value = value === undefined || value === null ? undefined : cellText('timestamptz', value, NO_RULES);
      if (value === undefined) {
        this.hasNull = true;
        return;
      }
    }
    this.addStaged(value as string);
  }

  /** `add` of a row whose field is staged as it is: `text` is a value `fitsAsJson` accepts for TIMESTAMPTZ. */
  addStaged(text: string): void {
    const min = this.mins[text.length];
    if (min === undefined || text < min) this.mins[text.length] = text;
    const max = this.maxs[text.length];
    if (max === undefined || text > max) this.maxs[text.length] = text;
  }

  /** The range of the values added since the last `take`, which starts a new one. */
  take(): ValueRange {
    let min: string | undefined;
    let max: string | undefined;
    for (const text of this.mins) {
      const canonical = text === undefined ? undefined : parseTimestamp(text);
      if (canonical !== undefined && (min === undefined || canonical < min)) min = canonical;
    }
    for (const text of this.maxs) {
      const canonical = text === undefined ? undefined : parseTimestamp(text);
      if (canonical !== undefined && (max === undefined || canonical > max)) max = canonical;
    }
    const range = { min, max, hasNull: this.hasNull };
    this.mins = [];
    this.maxs = [];
    this.hasNull = false;
    return range;
  }
}

/** The canonical text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) of an instant given in microseconds since the epoch. */
export function instantFromEpochMicros(micros: bigint): string {
  const millis = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const fraction = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  return `${new Date(Number(millis)).toISOString().slice(0, 19)}.${fraction.toString().padStart(6, '0')}Z`;
}
