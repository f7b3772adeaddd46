import type { Logger } from '../iterable/types.js';
import type { ProgressListener, StreamResult } from '../sync/run-sync.js';

interface StreamProgress {
  startedAt: number;
  unitsTotal: number | null;
  unitsDone: number;
  rows: number;
  status: 'running' | 'complete' | 'failed';
}

/**
 * Progress of a sync. On a TTY: a live line per stream (units done/total, rows, rows/s, time
 * waiting for the rate limit), redrawn in place on stderr. Otherwise: plain log lines.
 */
export function createProgress(options: {
  isTTY: boolean;
  logger: Logger;
  /** Milliseconds waited for the rate limit so far, for a stream. */
  rateLimitWaitMs?: (stream: string) => number;
  write?: (text: string) => void;
}): ProgressListener & { stop(): void } {
  const streams = new Map<string, StreamProgress>();
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  let drawnLines = 0;
  let timer: NodeJS.Timeout | undefined;

  function render(): void {
    const lines: string[] = [];
    for (const [name, p] of streams) {
      const seconds = Math.max(0.001, (Date.now() - p.startedAt) / 1000);
      const units = p.unitsTotal !== null ? `${p.unitsDone}/${p.unitsTotal}` : `${p.unitsDone}`;
      const waited = ((options.rateLimitWaitMs?.(name) ?? 0) / 1000).toFixed(0);
      const rate = p.status === 'running' ? `${Math.round(p.rows / seconds)} rows/s` : p.status;
      lines.push(`${name.padEnd(18)} ${units.padStart(9)}  ${String(p.rows).padStart(10)} rows  ${rate.padStart(14)}  rate-limit wait ${waited}s`);
    }
    let text = drawnLines > 0 ? `\x1b[${drawnLines}A` : '';
    for (const line of lines) text += `\x1b[2K${line}\n`;
    drawnLines = lines.length;
    write(text);
  }

  if (options.isTTY) {
    timer = setInterval(render, 250);
    timer.unref();
  }

  const get = (stream: string): StreamProgress => {
    let p = streams.get(stream);
    if (!p) {
      p = { startedAt: Date.now(), unitsTotal: null, unitsDone: 0, rows: 0, status: 'running' };
      streams.set(stream, p);
    }
    return p;
  };

  return {
    streamStarted(stream) {
      get(stream);
      if (!options.isTTY) options.logger.info(`${stream}: started`);
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
        options.logger.info(`${stream}: ${label} committed (${p.unitsDone}${of}), ${p.rows} rows read so far`);
      }
    },
    streamFinished(result: StreamResult) {
      const p = get(result.stream);
      p.status = result.status;
      if (!options.isTTY) {
        options.logger.info(`${result.stream}: ${result.status}, ${result.rows} rows in ${(result.durationMs / 1000).toFixed(1)}s`);
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      if (options.isTTY) render();
    },
  };
}
