import { redactSecrets } from '../errors.js';
import type { Logger } from '../core/types.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Plain log lines on stderr (`2024-05-01T12:00:00.000Z WARN message key=value`), never stdout,
 * which carries Singer messages and summaries. Secrets are redacted from every line.
 */
export function createStderrLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger & {
  level: LogLevel;
} {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const logger = {
    level: options.level ?? 'info',
    debug: (message: string, fields?: Record<string, unknown>) => emit('debug', message, fields),
    info: (message: string, fields?: Record<string, unknown>) => emit('info', message, fields),
    warn: (message: string, fields?: Record<string, unknown>) => emit('warn', message, fields),
    error: (message: string, fields?: Record<string, unknown>) => emit('error', message, fields),
  };
  function emit(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (ORDER[level] < ORDER[logger.level]) return;
    let line = `${new Date().toISOString()} ${level.toUpperCase()} ${message}`;
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        line += ` ${key}=${typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value)}`;
      }
    }
    write(`${redactSecrets(line)}\n`);
  }
  return logger;
}
