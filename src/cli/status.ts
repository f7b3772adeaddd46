import type { Config } from '../config/config.js';
import type { RunRecord } from '../destinations/destination.js';
import { openReadOnly } from '../destinations/destination-factory.js';
import {
  hasSystemTable,
  readLatestStreamRuns,
  readRuns,
  readState,
  RUNS_TABLE,
  RUN_STREAMS_TABLE,
  STATE_TABLE,
  type LatestStreamRun,
} from '../destinations/sql/system-tables.js';
import { ConfigError } from '../errors.js';
import { STREAMS } from '../streams/stream-table.js';
import { EXIT } from './exit-codes.js';
import { formatDuration } from '../core/format.js';
import { textTable } from './query.js';

export const STATUS_FORMATS = ['table', 'json'] as const;
export type StatusFormat = (typeof STATUS_FORMATS)[number];

/** What `status` knows of one stream. */
interface StreamStatus {
  stream: string;
  method: string;
  bookmark: string | null;
  /** Rows in its table; null when there is no table. */
  rows: number | null;
  /** The latest run that recorded the stream. */
  lastRun: LatestStreamRun | null;
  /**
   * The instant its data is complete up to: the later of its bookmark and the start of its last
   * complete run (a complete run read everything before its start; the bookmark of `campaigns`
   * and `templates` is the latest `updatedAt` seen, which may be much older).
   */
  dataAsOf: Date | null;
}

/**
 * `status`: each stream's bookmark, rows, latest run and how far behind now its data is, read
 * from the destination opened read-only (nothing is created).
 */
export async function commandStatus(
  config: Config,
  format: StatusFormat,
  out: (text: string) => void,
  now: Date = new Date(),
): Promise<number> {
  const db = await openReadOnly(config.destination);
  try {
    const { session, dialect } = db;
    if (!(await db.exists()) || !(await hasSystemTable(session, dialect, STATE_TABLE))) {
      throw new ConfigError(`${db.description} holds no iterable-sync data; run \`iterable-sync sync --destination ${db.description}\` first`);
    }
    const state = await readState(session, dialect);
    const hasRuns = (await hasSystemTable(session, dialect, RUNS_TABLE)) && (await hasSystemTable(session, dialect, RUN_STREAMS_TABLE));
    const lastRun: RunRecord | undefined = hasRuns ? (await readRuns(session, dialect, 1))[0] : undefined;
    const latest = hasRuns ? await readLatestStreamRuns(session, dialect) : new Map<string, LatestStreamRun>();
    const latestComplete = hasRuns ? await readLatestStreamRuns(session, dialect, 'complete') : new Map<string, LatestStreamRun>();
    const tables = new Set(
      (
        await session.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [dialect.schemaName])
      ).map((row) => String(row.table_name)),
    );
    const known = new Set(STREAMS.map((s) => s.name));
    const extra = [...new Set([...Object.keys(state.bookmarks), ...latest.keys()])].filter((name) => !known.has(name)).sort();
    const streams: StreamStatus[] = [];
    for (const name of [...known, ...extra]) {
      const definition = STREAMS.find((s) => s.name === name);
      const bookmark = state.bookmarks[name];
      if (!tables.has(name) && bookmark === undefined && !latest.has(name)) continue;
      const cursor = bookmark ? (bookmark[definition?.replicationKey ?? ''] ?? Object.values(bookmark)[0] ?? null) : null;
      const rows = tables.has(name)
        ? Number((await session.query(`SELECT count(*) AS n FROM ${dialect.table(name)}`))[0]?.n ?? 0)
        : null;
      const method = definition?.method ?? (cursor ? 'INCREMENTAL' : 'FULL_TABLE');
      const asOf = latestInstant(cursor ? new Date(cursor) : undefined, latestComplete.get(name)?.startedAt);
      streams.push({
        stream: name,
        method,
        bookmark: cursor,
        rows,
        lastRun: latest.get(name) ?? null,
        dataAsOf: asOf,
      });
    }
    out(format === 'json' ? statusJson(db.description, now, lastRun, streams) : statusTable(db.description, now, lastRun, streams));
    return EXIT.ok;
  } finally {
    await db.close();
  }
}

function statusJson(destination: string, now: Date, lastRun: RunRecord | undefined, streams: readonly StreamStatus[]): string {
  return `${JSON.stringify(
    {
      destination,
      now: now.toISOString(),
      last_run: lastRun
        ? {
            run_id: lastRun.runId,
            started_at: lastRun.startedAt.toISOString(),
            ended_at: lastRun.endedAt?.toISOString() ?? null,
            outcome: lastRun.outcome,
            exit_code: lastRun.exitCode,
            rows: lastRun.rows,
            rescued: lastRun.rescued,
            rejected: lastRun.rejected,
            error: lastRun.error,
          }
        : null,
      streams: streams.map((s) => ({
        stream: s.stream,
        method: s.method,
        bookmark: s.bookmark,
        rows: s.rows,
        last_run: s.lastRun
          ? {
              run_id: s.lastRun.runId,
              started_at: s.lastRun.startedAt.toISOString(),
              ended_at: s.lastRun.endedAt?.toISOString() ?? null,
              run_outcome: s.lastRun.outcome,
              status: s.lastRun.status,
              rows: s.lastRun.rows,
              rescued: s.lastRun.rescued,
              rejected: s.lastRun.rejected,
              error: s.lastRun.error,
            }
          : null,
        data_as_of: s.dataAsOf?.toISOString() ?? null,
        behind_seconds: s.dataAsOf ? Math.round((now.getTime() - s.dataAsOf.getTime()) / 1000) : null,
        behind: s.dataAsOf ? formatDuration(now.getTime() - s.dataAsOf.getTime()) : null,
      })),
    },
    null,
    2,
  )}\n`;
}

function statusTable(destination: string, now: Date, lastRun: RunRecord | undefined, streams: readonly StreamStatus[]): string {
  const lines = [`Destination: ${destination}`];
  if (!lastRun) {
    lines.push('Last run: none recorded');
  } else if (lastRun.outcome === 'running' || lastRun.endedAt === null) {
    lines.push(
      `Last run: ${lastRun.runId}, started ${instant(lastRun.startedAt)} (${formatDuration(now.getTime() - lastRun.startedAt.getTime())} ago), ` +
        `still running or killed (no end recorded)`,
    );
  } else {
    const took = formatDuration(lastRun.endedAt.getTime() - lastRun.startedAt.getTime());
    const ago = formatDuration(now.getTime() - lastRun.endedAt.getTime());
    lines.push(
      `Last run: ${lastRun.runId}, ${instant(lastRun.startedAt)} → ${instant(lastRun.endedAt)} (${took}, ended ${ago} ago): ` +
        `${lastRun.outcome}, exit ${lastRun.exitCode}, ${lastRun.rows} rows`,
    );
  }
  lines.push('');
  if (streams.length === 0) return `${lines.join('\n')}No stream synced yet.\n`;
  const header = ['stream', 'bookmark', 'rows', 'last run', 'outcome', 'behind'];
  const rows = streams.map((s) => [
    s.stream,
    s.bookmark ? instant(new Date(s.bookmark)) : s.method === 'FULL_TABLE' ? '(full table)' : '-',
    s.rows === null ? '-' : String(s.rows),
    s.lastRun ? instant(s.lastRun.startedAt) : '-',
    s.lastRun ? s.lastRun.status : '-',
    s.dataAsOf ? formatDuration(now.getTime() - s.dataAsOf.getTime()) : '-',
  ]);
  const right = streams.map(() => [false, false, true, false, false, true]);
  let text = `${lines.join('\n')}${textTable(header, rows, right)}`;
  const failed = streams.filter((s) => s.lastRun?.status === 'failed');
  for (const s of failed) text += `\n${s.stream} failed in run ${s.lastRun!.runId}: ${s.lastRun!.error ?? 'no message recorded'}`;
  if (failed.length > 0) text += '\n';
  return `${text}\n"behind": now minus the later of the bookmark and the start of the stream's last complete run.\n`;
}

function latestInstant(...dates: (Date | undefined)[]): Date | null {
  const valid = dates.filter((d): d is Date => d !== undefined && Number.isFinite(d.getTime()));
  return valid.length === 0 ? null : new Date(Math.max(...valid.map((d) => d.getTime())));
}

/** `2024-05-01 12:00:00Z`. */
function instant(date: Date): string {
  return Number.isFinite(date.getTime()) ? date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'invalid';
}

