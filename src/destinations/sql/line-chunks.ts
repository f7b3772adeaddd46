/** Bytes of a reused chunk buffer (a line that may not fit in one gets a Buffer of its own). */
const CHUNK_BYTES = 1 << 17;
/** Free chunk buffers kept for reuse. */
const MAX_FREE_CHUNKS = 128;
const NEWLINE = 0x0a;

/**
 * Lines of text written as UTF-8 straight into reused Buffers of 128 KiB: staged text leaves V8's
 * heap at once, with no chain of strings to flatten and no new Buffer per chunk. (Staged text kept
 * as strings was most of the garbage V8 let pile up, 163 MB of heap; spent chunk Buffers, each
 * new, piled up 40–60 MB before V8 freed them: measured, no GC flag.) The filled chunks are
 * `take`n in order; their buffers come back with `reuse` once their bytes are sent.
 */
export class LineChunks {
  private buffer: Buffer | undefined;
  private used = 0;
  private filled: Buffer[] = [];
  private readonly free: Buffer[] = [];

  /** Filled chunks not taken yet. */
  get filledCount(): number {
    return this.filled.length;
  }

  /** Writes `line` and a newline; cuts the chunk first when the line might not fit. */
  writeLine(line: string): void {
    // A string of n UTF-16 units is at most 3n bytes of UTF-8.
    const most = line.length * 3 + 1;
    if (this.buffer === undefined || this.used + most > CHUNK_BYTES) {
      this.cut();
      if (most > CHUNK_BYTES) {
        this.filled.push(Buffer.from(`${line}\n`, 'utf8'));
        return;
      }
      this.buffer = this.free.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
    }
    this.used += this.buffer.write(line, this.used);
    this.buffer[this.used++] = NEWLINE;
  }

  /** Ends the chunk being written: its bytes join the filled chunks. */
  cut(): void {
    const { buffer, used } = this;
    if (buffer === undefined) return;
    this.buffer = undefined;
    this.used = 0;
    if (used > 0) this.filled.push(buffer.subarray(0, used));
    else this.free.push(buffer);
  }

  /** The filled chunks, in order (`cut` first to take the one being written too). */
  take(): Buffer[] {
    const filled = this.filled;
    this.filled = [];
    return filled;
  }

  /** Keeps the buffers of taken chunks whose bytes are all sent, for the next chunks. */
  reuse(chunks: readonly Buffer[]): void {
    for (const chunk of chunks) {
      if (this.free.length >= MAX_FREE_CHUNKS) return;
      if (chunk.byteOffset === 0 && chunk.buffer.byteLength === CHUNK_BYTES) this.free.push(Buffer.from(chunk.buffer));
    }
  }

  /** Forgets what was written and not taken. */
  clear(): void {
    this.cut();
    this.reuse(this.take());
  }
}
