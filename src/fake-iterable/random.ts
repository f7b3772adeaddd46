/**
 * Deterministic pseudo-randomness for the fake's data. Everything the fake generates is a pure
 * function of a seed, so a test can recompute exactly what the server will send.
 */

/** A 32-bit integer hash (lowbias32); cheap enough to call several times per generated row. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hash of a string, for deriving independent seeds per data type. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A small seeded generator (mulberry32) that can be re-seeded, so one instance serves many rows. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  reseed(seed: number): this {
    this.state = seed >>> 0;
    return this;
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty array');
    return item;
  }

  /** 32 lower-case hex characters, the shape of Iterable's `messageId`. */
  hex32(): string {
    return this.fillHex(HEX32_PATTERN);
  }

  /**
   * The pattern with every `x` replaced by a random hex digit. Built in a byte buffer so the
   * result is one flat string: concatenated pieces would cost more when JSON-serialised.
   */
  fillHex(pattern: HexPattern): string {
    const { bytes, positions } = pattern;
    let bits = 0;
    for (let p = 0; p < positions.length; p++) {
      if ((p & 7) === 0) bits = this.nextUint32();
      bytes[positions[p] as number] = HEX_DIGITS[bits & 15] as number;
      bits >>>= 4;
    }
    return bytes.toString('latin1');
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const a = items[i] as T;
      items[i] = items[j] as T;
      items[j] = a;
    }
    return items;
  }
}

/** A text template whose `x` characters {@link Rng.fillHex} replaces by random hex digits. */
export interface HexPattern {
  bytes: Buffer;
  positions: Uint8Array;
}

export function hexPattern(template: string): HexPattern {
  const positions: number[] = [];
  for (let i = 0; i < template.length; i++) if (template[i] === 'x') positions.push(i);
  return { bytes: Buffer.from(template, 'latin1'), positions: Uint8Array.from(positions) };
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const HEX32_PATTERN = hexPattern('x'.repeat(32));

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * A full-cycle permutation of [0, size) walked as `(offset + step * k) mod size`: visits every
 * index once, in an order far from sorted, with O(1) memory. Used to shuffle export rows.
 */
export function* permutation(size: number, salt: number): Generator<number> {
  if (size <= 0) return;
  // Start near size / golden ratio so that neighbours in the output are far apart in time.
  let step = Math.max(1, Math.floor(size * 0.6180339887) + (salt % 7));
  while (gcd(step, size) !== 1) step++;
  step %= size;
  if (step === 0) step = 1;
  let position = salt % size;
  for (let k = 0; k < size; k++) {
    yield position;
    position += step;
    if (position >= size) position -= size;
  }
}
