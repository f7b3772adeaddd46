const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into text lines. It cuts on the byte 0x0a before decoding, so a UTF-8
 * character split across two chunks is decoded whole; drops the `\r` of `\r\n`, empty lines and a
 * leading byte-order mark; `end()` returns a last line that had no newline.
 */
export class LineSplitter {
  /** Bytes of the line still open at the end of the last chunk. */
  private pending: Buffer[] = [];
  private pendingByteCount = 0;
  private isFirstLine = true;

  /** Bytes held for the unfinished line; callers can refuse absurdly long lines with it. */
  get pendingBytes(): number {
    return this.pendingByteCount;
  }

  /** The lines that `chunk` completes, in order. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    let newline = chunk.indexOf(LF, start);
    while (newline !== -1) {
      if (this.pendingByteCount > 0) {
        this.pending.push(chunk.subarray(start, newline));
        const line = Buffer.concat(this.pending, this.pendingByteCount + newline - start);
        this.pending = [];
        this.pendingByteCount = 0;
        this.emit(line, 0, line.length, lines);
      } else {
        this.emit(chunk, start, newline, lines);
      }
      start = newline + 1;
      newline = chunk.indexOf(LF, start);
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingByteCount += chunk.length - start;
    }
    return lines;
  }

  /** The final line when the stream did not end with a newline; resets the splitter. */
  end(): string[] {
    const lines: string[] = [];
    if (this.pendingByteCount > 0) {
      const line = Buffer.concat(this.pending, this.pendingByteCount);
      this.emit(line, 0, line.length, lines);
    }
    this.pending = [];
    this.pendingByteCount = 0;
    this.isFirstLine = true;
    return lines;
  }

  private emit(bytes: Buffer, start: number, end: number, lines: string[]): void {
    let stop = end;
    if (stop > start && bytes[stop - 1] === CR) stop -= 1;
    if (stop <= start) return;
    let line = bytes.toString('utf8', start, stop);
    if (this.isFirstLine) {
      this.isFirstLine = false;
      if (line.charCodeAt(0) === 0xfeff) {
        line = line.slice(1);
        if (line === '') return;
      }
    }
    lines.push(line);
  }
}
