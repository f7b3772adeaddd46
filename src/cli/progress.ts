import type { RateLimitWait } from '../iterable/rate-limiter.js';
import type { ProgressListener, StreamResult } from '../sync/run-sync.js';

/** What the live display knows of one stream. */
export interface StreamRow {
  stream: string;
  status: 'running' | StreamResult['status'];
  unitsDone: number;
  unitsTotal: number | null;
  rows: number;
  /** Rows read per second since the stream started. */
  rowsPerSecond: number;
  /** Milliseconds spent waiting for rate-limit slots (finished waits). */
  rateLimitWaitMs: number;
  /**
   * A rate-limit wait going on now: the family, about how long it still lasts (null: unknown),
   * and the stream's place among the streams waiting for that family's budget (1: next), which
   * serves them first come, first served.
   */
  waiting: { family: string; remainingMs: number | null; position: number; queued: number } | null;
}

/** Progress of a sync on stderr. */
export interface Progress extends ProgressListener {
  /** Writes a log line; on a TTY, above the live block, which is then redrawn. */
  log(line: string): void;
  stop(): void;
}

/** Writes one log line for a progress event (no TTY): message plus `event`/`stream` fields. */
export type ProgressInfo = (message: string, fields?: Record<string, unknown>) => void;

const ESC = '\x1b[';
/** Widths of the fixed columns; the note column gets what is left. */
const NAME_WIDTH = 17;
const UNITS_WIDTH = 7;
const ROWS_WIDTH = 9;
const SPEED_WIDTH = 11;

/**
 * Whether to draw the live block: only on a terminal that understands cursor movement, and never
 * when the user asked for no escape codes (`NO_COLOR` set to anything, `TERM=dumb`).
 */
export function shouldDrawLiveProgress(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && env.TERM !== 'dumb' && env.NO_COLOR === undefined;
}

/**
 * The live block: one line per stream, each at most `columns - 1` characters (the last column
 * stays free, so no terminal wraps or defers a wrap), at most `maxLines` lines (more streams
 * than that: the running ones first, the rest folded into one closing line).
 */
export function renderBlock(rows: readonly StreamRow[], columns: number, maxLines = Number.POSITIVE_INFINITY): string[] {
  const width = Math.max(1, columns - 1);
  let shown: readonly StreamRow[] = rows;
  let folded = '';
  if (rows.length > maxLines) {
    const keep = Math.max(0, maxLines - 1);
    const rank = (r: StreamRow) => (r.status === 'running' ? 0 : r.status === 'complete' ? 2 : 1);
    const kept = new Set([...rows].sort((a, b) => rank(a) - rank(b)).slice(0, keep));
    shown = rows.filter((r) => kept.has(r));
    const counts = new Map<string, number>();
    for (const r of rows) if (!kept.has(r)) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    folded = `… ${rows.length - keep} more: ${[...counts].map(([status, n]) => `${n} ${status}`).join(', ')}`;
  }
  const lines = shown.map((row) => fit(formatRow(row), width));
  if (folded && maxLines >= 1) lines.push(fit(folded, width));
  return lines;
}

function formatRow(row: StreamRow): string {
  const units = row.unitsTotal !== null ? `${row.unitsDone}/${row.unitsTotal}` : '';
  const speed = row.status === 'running' ? `${compact(row.rowsPerSecond)} rows/s` : row.status;
  let note = '';
  if (row.status === 'running' && row.waiting) {
    const left = row.waiting.remainingMs !== null ? ` ~${seconds(row.waiting.remainingMs)}` : '';
    note = `${row.waiting.family} queue ${row.waiting.position}/${row.waiting.queued}${left}`;
  } else if (row.rateLimitWaitMs >= 1000) {
    note = `rate-limit wait ${seconds(row.rateLimitWaitMs)}`;
  }
  return [
    row.stream.padEnd(NAME_WIDTH),
    units.padStart(UNITS_WIDTH),
    `${compact(row.rows).padStart(ROWS_WIDTH)} rows`,
    speed.padStart(SPEED_WIDTH),
    note,
  ]
    .join(' ')
    .trimEnd();
}

/** Cuts `text` to `width` characters, marking the cut with `…`. */
function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** 1234 → "1234", 123456 → "123k", 12345678 → "12.3M": fits 6 characters up to billions. */
function compact(n: number): string {
  const value = Math.round(n);
  if (value < 100_000) return String(value);
  if (value < 10_000_000) return `${Math.round(value / 1000)}k`;
  if (value < 10_000_000_000) return `${(value / 1_000_000).toFixed(1)}M`;
  return `${Math.round(value / 1_000_000_000)}G`;
}

/** 42_000 → "42s", 125_000 → "2m05s". */
function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Describes a rate-limit wait for a log line (no TTY). */
function describeRateLimitWait(stream: string, wait: RateLimitWait): string {
  const per = wait.limit.periodMs === 60_000 ? 'minute' : wait.limit.periodMs === 1000 ? 'second' : `${wait.limit.periodMs / 1000}s`;
  const left = wait.expectedMs !== null ? `about ${seconds(wait.expectedMs)} to go` : 'until a request in flight is answered';
  const ahead = wait.aheadCount > 0 ? `, ${wait.aheadCount} request(s) ahead` : '';
  return `${stream}: waiting for a slot of the ${wait.family} rate limit (${wait.limit.requests} requests per ${per}): ${seconds(wait.waitedMs)} so far, ${left}${ahead}`;
}

interface StreamState {
  startedAtMs: number;
  unitsTotal: number | null;
  unitsDone: number;
  rows: number;
  status: StreamRow['status'];
  waits: { readonly rateLimitWaitMs: number };
  /** `sinceMs`: when the waiting request joined the family's queue. */
  waiting: { family: string; untilMs: number | null; sinceMs: number } | null;
}

/**
 * On a TTY (`isTTY`: a terminal that takes escape codes): a block of one line per stream, redrawn in place every 250 ms, with log
 * lines printed above it; only the block is ever erased and redrawn. Otherwise: a plain log line
 * per event (stream started, unit committed, rate-limit wait, stream finished).
 */
export function createProgress(options: {
  isTTY: boolean;
  write?: (text: string) => void;
  info?: ProgressInfo;
  /** Terminal width; read at every redraw. Default `process.stderr.columns` (80 when unknown). */
  columns?: () => number;
  /** Terminal height; read at every redraw. Default `process.stderr.rows`. */
  rows?: () => number | undefined;
  now?: () => number;
}): Progress {
  const streams = new Map<string, StreamState>();
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  const info = options.info ?? (() => undefined);
  const columns = options.columns ?? (() => process.stderr.columns || 80);
  const screenRows = options.rows ?? (() => process.stderr.rows);
  const now = options.now ?? Date.now;
  const live = options.isTTY;
  /** Lines of the block on screen now (each exactly one terminal line: none is wider than the terminal). */
  let drawnLines = 0;
  let timer: NodeJS.Timeout | undefined;

  /** The streams waiting for each family's budget, in the order the limiter serves them (first come, first served). */
  function queues(): Map<string, StreamState[]> {
    const byFamily = new Map<string, StreamState[]>();
    for (const s of streams.values()) {
      if (s.status !== 'running' || s.waiting === null) continue;
      byFamily.set(s.waiting.family, [...(byFamily.get(s.waiting.family) ?? []), s]);
    }
    for (const queue of byFamily.values()) queue.sort((a, b) => a.waiting!.sinceMs - b.waiting!.sinceMs);
    return byFamily;
  }

  function snapshot(): StreamRow[] {
    const nowMs = now();
    const waitingFor = queues();
    const place = (s: StreamState) => {
      const queue = waitingFor.get(s.waiting!.family)!;
      return { position: queue.indexOf(s) + 1, queued: queue.length };
    };
    return [...streams].map(([stream, s]) => ({
      stream,
      status: s.status,
      unitsDone: s.unitsDone,
      unitsTotal: s.unitsTotal,
      rows: s.rows,
      rowsPerSecond: s.rows / Math.max(0.001, (nowMs - s.startedAtMs) / 1000),
      rateLimitWaitMs: s.waits.rateLimitWaitMs,
      waiting:
        s.waiting && s.status === 'running'
          ? { family: s.waiting.family, remainingMs: s.waiting.untilMs === null ? null : Math.max(0, s.waiting.untilMs - nowMs), ...place(s) }
          : null,
    }));
  }

  /** Erases the block and writes `above` (log lines) then the block anew, in one write. */
  function redraw(above = ''): void {
    const height = screenRows();
    // Leave one line for the cursor: a block taller than the screen could not be erased whole.
    const lines = renderBlock(snapshot(), columns(), height ? Math.max(1, height - 1) : undefined);
    const erase = drawnLines > 0 ? `\r${ESC}${drawnLines}A${ESC}J` : `\r${ESC}J`;
    write(erase + above + lines.map((line) => `${line}\n`).join(''));
    drawnLines = lines.length;
  }

  if (live) {
    timer = setInterval(() => redraw(), 250);
    timer.unref();
  }

  const get = (stream: string): StreamState => {
    let s = streams.get(stream);
    if (!s) {
      s = { startedAtMs: now(), unitsTotal: null, unitsDone: 0, rows: 0, status: 'running', waits: { rateLimitWaitMs: 0 }, waiting: null };
      streams.set(stream, s);
    }
    return s;
  };

  return {
    log(line: string) {
      if (live) redraw(line.endsWith('\n') ? line : `${line}\n`);
      else write(line);
    },
    streamStarted(stream, waits) {
      get(stream).waits = waits;
      if (!live) info(`${stream}: started`, { event: 'stream_started', stream });
    },
    planned(stream, unitsTotal) {
      get(stream).unitsTotal = unitsTotal;
    },
    rowsRead(stream, rows) {
      const s = get(stream);
      s.rows += rows;
      s.waiting = null;
    },
    rateLimitWait(stream, wait) {
      const nowMs = now();
      get(stream).waiting = { family: wait.family, untilMs: wait.expectedMs === null ? null : nowMs + wait.expectedMs, sinceMs: nowMs - wait.waitedMs };
      if (!live) {
        info(describeRateLimitWait(stream, wait), {
          event: 'rate_limit_wait',
          stream,
          family: wait.family,
          waitedMs: Math.round(wait.waitedMs),
          expectedMs: wait.expectedMs === null ? null : Math.round(wait.expectedMs),
          aheadCount: wait.aheadCount,
        });
      }
    },
    unitDone(stream, label) {
      const s = get(stream);
      s.unitsDone += 1;
      s.waiting = null;
      if (!live) {
        const of = s.unitsTotal !== null ? `/${s.unitsTotal}` : '';
        const isWindow = label.startsWith('[');
        info(`${stream}: ${label} committed (${s.unitsDone}${of}), ${s.rows} rows read so far`, {
          event: isWindow ? 'window_committed' : 'unit_committed',
          stream,
          unit: label,
          unitsDone: s.unitsDone,
          unitsTotal: s.unitsTotal ?? undefined,
          rowsRead: s.rows,
        });
      }
    },
    retrying(stream, { waitMs, reason, attempt }) {
      // One line per wait, on a TTY too (printed above the live block).
      info(`${stream}: ${reason}; retrying in ${(waitMs / 1000).toFixed(1)}s (attempt ${attempt + 1})`);
    },
    streamFinished(result: StreamResult) {
      const s = get(result.stream);
      s.status = result.status;
      s.waiting = null;
      if (!live) {
        info(`${result.stream}: ${result.status}, ${result.rows} rows in ${(result.durationMs / 1000).toFixed(1)}s`, {
          event: 'stream_finished',
          stream: result.stream,
          status: result.status,
          rows: result.rows,
          durationMs: result.durationMs,
        });
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (live) redraw();
    },
  };
}
