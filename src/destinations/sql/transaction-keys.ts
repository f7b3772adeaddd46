/** Size of a filter in 32-bit words: 16 MiB, whatever the number of keys (see `TransactionKeys`). */
const FILTER_WORDS = 1 << 22;
/** The smallest filter, when others hold the process's budget: 2 MiB. */
const MIN_FILTER_WORDS = 1 << 19;
/** Words all the process's filters may take together (32 MiB: two full filters), unless each has its minimum. */
const BUDGET_WORDS = 2 * FILTER_WORDS;
/** Words of one block: 512 bits, one cache line, so that a key costs one memory access. */
const BLOCK_WORDS = 16;
/** Bits set per key. */
const BITS_PER_KEY = 8;

/**
 * The words the filters of the process hold. Several loads run side by side, each with its own
 * transaction: a filter is full-size while the budget allows, smaller otherwise (more false
 * claims, which cost time, never rows).
 */
let wordsInUse = 0;

/** The words held by filters of the process now (for tests). */
export function transactionKeysWordsInUse(): number {
  return wordsInUse;
}

/**
 * The keys of the chunks a transaction merged so far, as a blocked Bloom filter (16 MiB,
 * allocated when the first chunk is added, released by `reset`; smaller when the filters of other
 * loads hold the process's 32 MiB budget, down to 2 MiB), fed with the two 32-bit hashes of
 * `hashKey` (h1's block index is mixed with h2: h1's lowest bit is always set). `add` never misses
 * a key that was added before; it may claim one that was not (measured with 16 MiB: no false
 * claim up to 1,000,000 keys added, 3 at 3,000,000, 13 at 4,000,000, 120 at 6,000,000; a filter
 * of a quarter the size claims as many at a quarter the keys). A false claim costs only time: the
 * caller then looks in the database, among the transaction's rows. One memory access per key (a
 * block is one cache line); still the costliest part of tracking keys (about 0.2 µs a key, mostly
 * the cache miss).
 */
export class TransactionKeys {
  private filter: Uint32Array | undefined;
  private blockMask = 0;

  /** Nothing was added since the last reset. */
  get isEmpty(): boolean {
    return this.filter === undefined;
  }

  /** Adds a key's hashes (from `hashKey`); returns true when it may have been added before, false when it certainly was not. */
  add(h1: number, h2: number): boolean {
    const filter = this.filter ?? this.allocate();
    const base = ((Math.imul(h1 ^ (h2 >>> 16), 0x9e3779b1) >>> 11) & this.blockMask) * BLOCK_WORDS;
    let seen = true;
    let h = h2;
    for (let i = 0; i < BITS_PER_KEY; i++) {
      // Successive mixing steps of h2 give the bit positions within the block.
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
      h ^= h >>> 12;
      const bit = h >>> 23;
      const word = base + (bit >>> 5);
      const mask = 1 << (bit & 31);
      if ((filter[word]! & mask) === 0) {
        seen = false;
        filter[word]! |= mask;
      }
    }
    return seen;
  }

  /** Forgets every key and releases the filter. */
  reset(): void {
    if (this.filter !== undefined) wordsInUse -= this.filter.length;
    this.filter = undefined;
  }

  /** The filter, as large as the process's budget allows (see `wordsInUse`). */
  private allocate(): Uint32Array {
    let words = FILTER_WORDS;
    while (words > MIN_FILTER_WORDS && wordsInUse + words > BUDGET_WORDS) words /= 2;
    wordsInUse += words;
    this.blockMask = words / BLOCK_WORDS - 1;
    this.filter = new Uint32Array(words);
    return this.filter;
  }
}
