/**
 * Streams a line-oriented body (NDJSON exports, getUsers text) as HTTP chunks of a fixed byte
 * size that ignore line boundaries, honouring backpressure and applying body faults.
 */
import type { ServerResponse } from 'node:http';
import type { BodyFault } from './faults.js';

/** Sleeps that close() can cut short, so no timer outlives the server. */
export class Sleeper {
  private readonly pending = new Map<NodeJS.Timeout, () => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve();
      }, ms);
      this.pending.set(timer, resolve);
    });
  }

  /** Clears every timer and wakes its sleeper. */
  wakeAll(): void {
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve();
    }
    this.pending.clear();
  }
}

export interface LineBodyOptions {
  /** Bytes per HTTP chunk (the last one may be shorter). */
  chunkBytes: number;
  fault?: BodyFault;
  sleeper: Sleeper;
  /** Whether the last line ends with `\n`, given the number of lines. */
  hasFinalNewline: (lineCount: number) => boolean;
}

/** Lines are encoded into a byte batch of about this size, which is then cut into chunks. */
const BATCH_BYTES = 256 * 1024;

function waitForDrain(res: ServerResponse): Promise<void> {
  if (!res.writableNeedDrain || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function written(res: ServerResponse, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve();
    res.write(bytes, () => resolve());
  });
}

/** UTF-8 bytes of lines, written straight into a buffer (no string concatenation on the hot path). */
class ByteBatch {
  bytes = Buffer.allocUnsafe(BATCH_BYTES * 2);
  used = 0;

  append(text: string): void {
    const worstCase = text.length * 3;
    if (this.used + worstCase > this.bytes.length) this.grow(this.used + worstCase);
    this.used += this.bytes.write(text, this.used, 'utf8');
  }

  newline(): void {
    if (this.used + 1 > this.bytes.length) this.grow(this.used + 1);
    this.bytes[this.used++] = 10;
  }

  /** Hands out bytes [0, end) and keeps the rest at the start of a fresh buffer. */
  take(end: number): Buffer {
    const out = this.bytes.subarray(0, end);
    const next = Buffer.allocUnsafe(Math.max(BATCH_BYTES * 2, this.used - end));
    this.bytes.copy(next, 0, end, this.used);
    this.bytes = next;
    this.used -= end;
    return out;
  }

  private grow(size: number): void {
    const next = Buffer.allocUnsafe(Math.max(size, this.bytes.length * 2));
    this.bytes.copy(next, 0, 0, this.used);
    this.bytes = next;
  }
}

/**
 * Writes `lines` (without their newlines) to a response whose head is already written, then
 * ends it; resolves when done or when the client went away. A `cut` fault destroys the socket
 * instead of ending, so the client sees a truncated chunked body.
 */
export async function writeLines(res: ServerResponse, lines: Iterable<string>, options: LineBodyOptions): Promise<void> {
  const { chunkBytes, fault, sleeper } = options;
  const batch = new ByteBatch();
  const isGone = () => res.destroyed || res.writableEnded;

  /** Writes the whole chunks pending; with `isFinal`, the short rest too. */
  const flush = async (isFinal: boolean): Promise<void> => {
    const end = isFinal ? batch.used : batch.used - (batch.used % chunkBytes);
    if (end === 0 || isGone()) return;
    const bytes = batch.take(end);
    if (fault?.kind === 'slow') {
      for (let offset = 0; offset < bytes.length && !isGone(); offset += chunkBytes) {
        await sleeper.sleep(fault.msPerChunk);
        if (isGone()) return;
        res.write(bytes.subarray(offset, offset + chunkBytes));
        await waitForDrain(res);
      }
      return;
    }
    res.cork();
    for (let offset = 0; offset < bytes.length; offset += chunkBytes) res.write(bytes.subarray(offset, offset + chunkBytes));
    res.uncork();
    await waitForDrain(res);
  };

  let count = 0;
  let lastLacksNewline = false;
  let isFaultDone = fault === undefined || fault.kind === 'slow';
  const faultLine = fault === undefined || fault.kind === 'slow' ? -1 : fault.afterLines;

  /** Applies the fault due after `count` lines; `next` is the following line, if any. True = stop. */
  const applyFault = async (next: string | undefined): Promise<boolean> => {
    if (isFaultDone || fault === undefined || fault.kind === 'slow') return false;
    isFaultDone = true;
    switch (fault.kind) {
      case 'malformed':
        if (lastLacksNewline) batch.newline();
        batch.append(fault.text);
        batch.newline();
        lastLacksNewline = false;
        return false;
      case 'stall':
        await flush(true);
        await sleeper.sleep(fault.ms);
        return isGone();
      case 'cut': {
        if (next !== undefined) batch.append(next.slice(0, Math.max(1, Math.floor(next.length / 2))));
        await flush(false);
        if (batch.used > 0 && !isGone()) {
          await written(res, batch.take(batch.used));
        } else if (!isGone()) {
          res.flushHeaders();
          await new Promise((resolve) => setImmediate(resolve));
        }
        // No terminating chunk: the client sees a truncated chunked body.
        res.destroy();
        return true;
      }
    }
  };

  const iterator = lines[Symbol.iterator]();
  let step = iterator.next();
  while (!step.done) {
    const line = step.value;
    if (count === faultLine && !isFaultDone && (await applyFault(line))) return;
    step = iterator.next();
    count++;
    batch.append(line);
    lastLacksNewline = step.done === true && !options.hasFinalNewline(count);
    if (!lastLacksNewline) batch.newline();
    if (batch.used >= BATCH_BYTES) {
      await flush(false);
      if (isGone()) return;
    }
  }
  // A body shorter than the fault's line number gets the fault at its end.
  if (await applyFault(undefined)) return;
  await flush(true);
  if (!isGone()) res.end();
}
