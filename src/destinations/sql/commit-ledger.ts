import { hashKey, KEY_HASH } from './chunk-keys.js';

const INITIAL_SLOTS = 1 << 16;

/**
 * What one commit writes, counted in JS as rows are staged: the distinct keys (the last row of a
 * key is the one stored) and how many of those last rows have rescued values. Lets a staging that
 * merges several times per commit report exact counts without scanning the table. Remembers two
 * 32-bit hashes and one flag per key (12 bytes a slot, at most half the slots used), up to
 * `maxKeys` keys; past that it gives up (`counts` returns undefined) and frees its memory.
 */
export class CommitLedger {
  private table = new Uint32Array(3 * INITIAL_SLOTS);
  private keys = 0;
  private rescued = 0;
  private overflow = false;

  constructor(
    /** False for a table without key: every row counts. */
    private readonly keyed: boolean,
    private readonly maxKeys: number,
  ) {}

  /** A row of `key` was staged; `rescued`: it has rescued values. */
  add(key: string, rescued: boolean): void {
    if (this.overflow) return;
    if (!this.keyed) {
      this.keys++;
      if (rescued) this.rescued++;
      return;
    }
    hashKey(key);
    this.addHash(KEY_HASH[0]!, KEY_HASH[1]!, rescued);
  }

  /** `add` for a key `hashKey` has just hashed (h1 never 0). */
  addHash(h1: number, h2: number, rescued: boolean): void {
    if (this.overflow) return;
    if (!this.keyed) {
      this.keys++;
      if (rescued) this.rescued++;
      return;
    }
    const table = this.table;
    const mask = table.length / 3 - 1;
    let slot = (h1 ^ (h2 >>> 7)) & mask;
    for (;;) {
      const at = slot * 3;
      const stored = table[at]!;
      if (stored === 0) {
        table[at] = h1;
        table[at + 1] = h2;
        table[at + 2] = rescued ? 1 : 0;
        this.keys++;
        if (rescued) this.rescued++;
        if (this.keys * 2 > mask + 1) this.grow();
        return;
      }
      if (stored === h1 && table[at + 1] === h2) {
        if (table[at + 2] === 1) this.rescued--;
        table[at + 2] = rescued ? 1 : 0;
        if (rescued) this.rescued++;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  /** The commit's counts, or undefined when too many keys were staged to remember. */
  counts(): { rowsWritten: number; rowsRescued: number } | undefined {
    return this.overflow ? undefined : { rowsWritten: this.keys, rowsRescued: this.rescued };
  }

  reset(): void {
    if (this.table.length === 3 * INITIAL_SLOTS) this.table.fill(0);
    else this.table = new Uint32Array(3 * INITIAL_SLOTS);
    this.keys = 0;
    this.rescued = 0;
    this.overflow = false;
  }

  private grow(): void {
    const old = this.table;
    if (old.length / 3 >= this.maxKeys * 2) {
      this.overflow = true;
      this.table = new Uint32Array(3);
      return;
    }
    const table = new Uint32Array(old.length * 2);
    const mask = table.length / 3 - 1;
    for (let at = 0; at < old.length; at += 3) {
      const h1 = old[at]!;
      if (h1 === 0) continue;
      const h2 = old[at + 1]!;
      let slot = (h1 ^ (h2 >>> 7)) & mask;
      while (table[slot * 3] !== 0) slot = (slot + 1) & mask;
      table[slot * 3] = h1;
      table[slot * 3 + 1] = h2;
      table[slot * 3 + 2] = old[at + 2]!;
    }
    this.table = table;
  }
}
