/** Size of the filter in 32-bit words: 16 MiB, whatever the number of keys (see `TransactionKeys`). */
const FILTER_WORDS = 1 << 22;
/** Words of one block: 512 bits, one cache line, so that a key costs one memory access. */
const BLOCK_WORDS = 16;
const BLOCK_MASK = FILTER_WORDS / BLOCK_WORDS - 1;
/** Bits set per key. */
const BITS_PER_KEY = 8;

/**
 * The keys of the chunks a transaction merged so far, as a blocked Bloom filter of fixed size
 * (16 MiB, allocated when the first chunk is added, released by `reset`), fed with the two 32-bit
 * hashes of `hashKey` (h1's block index is mixed with h2: h1's lowest bit is always set). `add`
 * never misses a key that was added before; it may claim one that was not (measured with chunks
 * of 30,000 keys: no false claim up to 4,000,000 keys added, then about one a chunk at 6,000,000,
 * 16 at 8,000,000). A false claim costs only time: the caller then looks in the database, among
 * the transaction's rows. One memory access per key (a block is one cache line); still the
 * costliest part of tracking keys (about 0.2 µs a key, mostly the cache miss).
 */
export class TransactionKeys {
  private filter: Uint32Array | undefined;

  /** Nothing was added since the last reset. */
  get isEmpty(): boolean {
    return this.filter === undefined;
  }

  /** Adds a key's hashes (from `hashKey`); returns true when it may have been added before, false when it certainly was not. */
  add(h1: number, h2: number): boolean {
    const filter = (this.filter ??= new Uint32Array(FILTER_WORDS));
    const base = ((Math.imul(h1 ^ (h2 >>> 16), 0x9e3779b1) >>> 11) & BLOCK_MASK) * BLOCK_WORDS;
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
    this.filter = undefined;
  }
}
