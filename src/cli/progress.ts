import type { ProgressListener, StreamResult } from '../sync/run-sync.js';

interface StreamProgress {
  startedAt: number;
  unitsTotal: number | null;
  unitsDone: number;
  rows: number;
  status: 'running' | 'complete' | 'failed';
  waits: { readonly rateLimitWaitMs: number };
}

/** Progress of a sync on stderr. */
export interface Progress extends ProgressListener {
  /** Writes a log line; on a TTY, above the live block, which is then redrawn. */
  log(line: string): void;
  stop(): void;
}

/**
 * On a TTY: a live line per stream (units done/total, rows, rows/s, time waiting for the rate
 * limit), redrawn in place, with log lines printed above it. Otherwise: plain log lines on
 * each committed unit.
 */
export function createProgress(options: { isTTY: boolean; write?: (text: string) => void; info?: (message: string) => void }): Progress {
  const streams = new Map<string, StreamProgress>();
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  const info = options.info ?? (() => undefined);
  let drawnLines = 0;
  let timer: NodeJS.Timeout | undefined;

  function block(): string {
    const lines: string[] = [];
    for (const [name, p] of streams) {
      const seconds = Math.max(0.001, (Date.now() - p.startedAt) / 1000);
      const units = p.unitsTotal !== null ? `${p.unitsDone}/${p.unitsTotal}` : '';
      const rate = p.status === 'running' ? `${Math.round(p.rows / seconds)} rows/s` : p.status;
      const waited = `${(p.waits.rateLimitWaitMs / 1000).toFixed(0)}s`;
      lines.push(`${name.padEnd(18)} ${units.padStart(9)} ${String(p.rows).padStart(10)} rows ${rate.padStart(14)}   waited for rate limit ${waited}`);
    }
    return lines.map((line) => `\x1b[2K${line}\n`).join('');
  }

  /** Moves the cursor to the top of the live block and clears below. */
  function clear(): string {
    return drawnLines > 0 ? `\x1b[${drawnLines}A\x1b[0J` : '';
  }

  function render(): void {
    const text = block();
    write(clear() + text);
    drawnLines = streams.size;
  }

  if (options.isTTY) {
    timer = setInterval(render, 250);
    timer.unref();
  }

  const get = (stream: string): StreamProgress => {
    let p = streams.get(stream);
    if (!p) {
      p = { startedAt: Date.now(), unitsTotal: null, unitsDone: 0, rows: 0, status: 'running', waits: { rateLimitWaitMs: 0 } };
      streams.set(stream, p);
    }
    return p;
  };

  return {
    log(line: string) {
      if (!options.isTTY) {
        write(line);
        return;
      }
      write(clear() + line + block());
      drawnLines = streams.size;
    },
    streamStarted(stream, waits) {
      get(stream).waits = waits;
      if (!options.isTTY) info(`${stream}: started`);
    },
    planned(stream, unitsTotal) {
      get(stream).unitsTotal = unitsTotal;
    },
    rowsRead(stream, rows) {
      get(stream).rows += rows;
    },
    unitDone(stream, label) {
      const p = get(stream);
      p.unitsDone += 1;
      if (!options.isTTY) {
        const of = p.unitsTotal !== null ? `/${p.unitsTotal}` : '';
        info(`${stream}: ${label} committed (${p.unitsDone}${of}), ${p.rows} rows read so far`);
      }
    },
    retrying(stream, { waitMs, reason, attempt }) {
      // One line per wait, on a TTY too (printed above the live block).
      info(`${stream}: ${reason}; retrying in ${(waitMs / 1000).toFixed(1)}s (attempt ${attempt + 1})`);
    },
    streamFinished(result: StreamResult) {
      const p = get(result.stream);
      p.status = result.status;
      if (!options.isTTY) info(`${result.stream}: ${result.status}, ${result.rows} rows in ${(result.durationMs / 1000).toFixed(1)}s`);
    },
    stop() {
      if (timer) clearInterval(timer);
      if (options.isTTY) render();
    },
  };
}
