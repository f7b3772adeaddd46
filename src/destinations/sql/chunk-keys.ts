import type { LoadColumn } from './table-columns.js';
import type { TransactionKeys } from './transaction-keys.js';

const INITIAL_SLOTS = 1 << 16;

/** The two 32-bit hashes `hashKey` computed last: [h1 (never 0), h2]. */
export const KEY_HASH = new Uint32Array(2);

/** Hashes a key text into `KEY_HASH` (FNV-1a and a murmur-style mix over its UTF-16 code units). */
export function hashKey(key: string): void {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 0x01000193);
    h2 = Math.imul(h2 ^ code, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  KEY_HASH[0] = h1 | 1;
  KEY_HASH[1] = h2;
}

/**
 * Tells whether a chunk of staged rows may hold a key twice, so that its merge can skip the
 * deduplication (a sort or a window over the chunk) in the common case where it does not. Errs
 * on the safe side only: it remembers two 32-bit hashes of each key (not the keys), so two
 * different keys may, very rarely, count as one; JSON and floating-point keys, whose equal values
 * may have different texts, always count as repeated. Stops remembering once a key repeats,
 * unless it also tells whether the chunk repeats a key of earlier chunks of the transaction
 * (`earlier`, which `sealInto` fills): then it keeps every key of the chunk.
 */
export class ChunkKeys {
  /** Open addressing, two words a slot; [0, 0] is an empty slot. */
  private table = new Uint32Array(2 * INITIAL_SLOTS);
  private count = 0;
  private duplicated: boolean;
  private repeatsEarlier = false;
  private readonly keyed: boolean;
  private readonly textEquality: boolean;

  constructor(
    keyColumns: readonly LoadColumn[],
    /** The keys of the transaction's earlier chunks (see `mayRepeatEarlierChunk`). */
    private readonly earlier?: TransactionKeys,
  ) {
    this.keyed = keyColumns.length > 0;
    this.textEquality = keyColumns.every((c) => c.type !== 'json' && c.type !== 'double');
    this.duplicated = this.keyed && !this.textEquality;
  }

  add(key: string): void {
    if (!this.keyed || (this.duplicated && this.earlier === undefined)) return;
    hashKey(key);
    this.addHash(KEY_HASH[0]!, KEY_HASH[1]!);
  }

  /** `add` for a key `hashKey` has just hashed. */
  addHash(h1: number, h2: number): void {
    if (!this.keyed) return;
    if (this.earlier === undefined) {
      if (this.duplicated) return;
      if (this.insert(h1, h2)) {
        this.duplicated = true;
        this.table = new Uint32Array(2);
        return;
      }
    } else if (this.insert(h1, h2)) {
      this.duplicated = true;
      return;
    } else if (!this.earlier.isEmpty && this.earlier.add(h1, h2)) {
      // The first chunk's keys go to `earlier` when it is sealed (`sealInto`), later chunks' as they come.
      this.repeatsEarlier = true;
    }
    if (++this.count * 2 > this.table.length / 2) this.grow();
  }

  /** Some key may appear twice among the keys added since the last reset. */
  get mayHaveDuplicates(): boolean {
    return this.duplicated;
  }

  /**
   * Some key added since the last reset may have been added to `earlier` before (by `sealInto`);
   * always true when keys are compared by more than their text (see the class).
   */
  get mayRepeatEarlierChunk(): boolean {
    return this.repeatsEarlier || (this.keyed && !this.textEquality);
  }

  /**
   * The chunk is sealed and more may follow: its keys must be in `earlier`. Those of the
   * transaction's first chunk are added now (a transaction of one chunk never needs them); later
   * chunks' were added as they came.
   */
  sealInto(): void {
    const earlier = this.earlier;
    if (earlier === undefined || !earlier.isEmpty) return;
    const table = this.table;
    for (let at = 0; at < table.length; at += 2) if (table[at] !== 0) earlier.add(table[at]!, table[at + 1]!);
  }

  reset(): void {
    if (this.table.length === 2 * INITIAL_SLOTS) this.table.fill(0);
    else this.table = new Uint32Array(2 * INITIAL_SLOTS);
    this.count = 0;
    this.duplicated = this.keyed && !this.textEquality;
    this.repeatsEarlier = false;
  }

  /** Adds the hashes; true when they were there already. */
  private insert(h1: number, h2: number): boolean {
    const table = this.table;
    const mask = table.length / 2 - 1;
    let slot = (h1 ^ (h2 >>> 7)) & mask;
    for (;;) {
      const at = slot * 2;
      const stored = table[at]!;
      if (stored === 0) {
        table[at] = h1;
        table[at + 1] = h2;
        return false;
      }
      if (stored === h1 && table[at + 1] === h2) return true;
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    for (let at = 0; at < old.length; at += 2) if (old[at] !== 0) this.insert(old[at]!, old[at + 1]!);
  }
}
