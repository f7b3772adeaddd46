import { createHash } from 'node:crypto';

/** How a destination compares and limits column names. */
export interface ColumnNameRules {
  /** Names that differ only in ASCII letter case are the same column (DuckDB). */
  foldsAsciiCase: boolean;
  /** Longest name in UTF-8 bytes (PostgreSQL: 63); undefined for no limit. */
  maxBytes?: number;
}

/** Length of `_` + 8 hex digits appended to a truncated name. */
const HASH_SUFFIX_BYTES = 9;

/**
 * Chooses column names for record fields, deterministically: a field takes its own name when no
 * column of the table already holds that name (as the destination compares names); otherwise
 * `<name>__2`, `<name>__3`, … the lowest number free. A name longer than `maxBytes` becomes its
 * longest prefix that fits with `_<first 8 hex digits of sha1(field)>` (and the `__n`) appended.
 * An empty name becomes `_`. Callers persist each choice, so a field keeps its column forever.
 */
export class ColumnNameMapper {
  private readonly taken: Set<string>;

  constructor(
    private readonly rules: ColumnNameRules,
    taken: Iterable<string> = [],
  ) {
    this.taken = new Set([...taken].map((name) => this.comparable(name)));
  }

  /** Marks an existing column name as used. */
  reserve(column: string): void {
    this.taken.add(this.comparable(column));
  }

  /** True when `column` could be created next to the columns already taken. */
  isFree(column: string): boolean {
    return !this.taken.has(this.comparable(column));
  }

  /** Picks and reserves the column name for a new field. */
  assign(field: string): string {
    for (let n = 1; ; n++) {
      const candidate = this.candidate(field, n);
      if (this.isFree(candidate)) {
        this.reserve(candidate);
        return candidate;
      }
    }
  }

  /** A copy with the same names taken, for rolling back. */
  clone(): ColumnNameMapper {
    const copy = new ColumnNameMapper(this.rules);
    for (const name of this.taken) copy.taken.add(name);
    return copy;
  }

  private candidate(field: string, n: number): string {
    const base = field === '' ? '_' : field.replaceAll('\u0000', '_');
    const suffix = n === 1 ? '' : `__${n}`;
    const max = this.rules.maxBytes;
    if (max === undefined || utf8Bytes(base) + utf8Bytes(suffix) <= max) return base + suffix;
    const hash = createHash('sha1').update(field).digest('hex').slice(0, 8);
    return `${truncateUtf8(base, max - HASH_SUFFIX_BYTES - utf8Bytes(suffix))}_${hash}${suffix}`;
  }

  private comparable(name: string): string {
    return this.rules.foldsAsciiCase ? name.replace(/[A-Z]+/g, (letters) => letters.toLowerCase()) : name;
  }
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** The longest prefix of whole code points that fits in `maxBytes` UTF-8 bytes. */
function truncateUtf8(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = utf8Bytes(char);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}
