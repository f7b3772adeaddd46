import { redactSecrets } from '../errors.js';
import type { Logger } from '../core/types.js';
import { currentLogContext } from './log-context.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** `text`: one readable line per entry; `json`: one JSON object per line, for log collectors. */
export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/**
 * Fields with a meaning of their own: `event` is a short stable name of what happened
 * (`window_committed`, `rate_limit_wait`); `stream` the stream a line concerns (taken from the
 * log context when not given). A line with an `event` says everything in its message, and its
 * fields are the machine-readable copy: text lines show them only for lines without an event.
 */
/** Keys a JSON line sets itself; a field of that name cannot replace them. */
const JSON_OWN_KEYS = new Set(['time', 'level', 'message']);

export interface StderrLogger extends Logger {
  level: LogLevel;
  format: LogFormat;
  /** The same logger writing its lines to `write` instead (e.g. above a live progress block). */
  redirect(write: (line: string) => void): StderrLogger;
}

/**
 * Log lines on stderr, never stdout, which carries Singer messages and summaries. Text:
 * `2024-05-01T12:00:00.000Z WARN message key=value`. JSON: `{"time", "level", "stream"?,
 * "event", "message", ...fields}`. Secrets are redacted from every line.
 */
export function createStderrLogger(
  options: { level?: LogLevel; format?: LogFormat; write?: (line: string) => void } = {},
): StderrLogger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const logger: StderrLogger = {
    level: options.level ?? 'info',
    format: options.format ?? 'text',
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    redirect: (to) => createStderrLogger({ level: logger.level, format: logger.format, write: to }),
  };
  function emit(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (ORDER[level] < ORDER[logger.level]) return;
    const time = new Date().toISOString();
    write(logger.format === 'json' ? jsonLine(time, level, message, fields) : textLine(time, level, message, fields));
  }
  return logger;
}

function textLine(time: string, level: LogLevel, message: string, fields: Record<string, unknown> | undefined): string {
  let line = `${time} ${level.toUpperCase()} ${message}`;
  if (fields && fields.event === undefined) {
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || key === 'stream') continue;
      line += ` ${key}=${JSON.stringify(value, jsonValue) ?? String(value)}`;
    }
  }
  return `${redactSecrets(line)}\n`;
}

function jsonLine(time: string, level: LogLevel, message: string, fields: Record<string, unknown> = {}): string {
  const stream = fields.stream ?? currentLogContext()?.stream;
  const entry: Record<string, unknown> = {
    time,
    level,
    ...(stream !== undefined ? { stream } : {}),
    event: fields.event ?? 'log',
    message,
  };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && !JSON_OWN_KEYS.has(key) && !(key in entry)) entry[key] = value;
  }
  // Redact each string (a secret's JSON escaping cannot hide it), then the whole line.
  const text = JSON.stringify(entry, (key, value: unknown) => {
    const plain = jsonValue(key, value);
    return typeof plain === 'string' ? redactSecrets(plain) : plain;
  });
  return `${redactSecrets(text)}\n`;
}

/** JSON.stringify replacer: bigints as strings, errors as their message. */
function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return value.message;
  return value;
}
