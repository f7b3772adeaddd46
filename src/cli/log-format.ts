import { Option } from 'commander';
import { ConfigError } from '../errors.js';
import { LOG_FORMATS, type LogFormat } from '../log/stderr-logger.js';

/** `--log-format text|json`, a program-wide option (accepted before or after the command). */
export function logFormatOption(): Option {
  return new Option('--log-format <format>', 'log lines on stderr: text, or json (one JSON object per line); env ITERABLE_SYNC_LOG_FORMAT')
    .choices(LOG_FORMATS);
}

/** The log format: the flag, else `ITERABLE_SYNC_LOG_FORMAT`, else text. */
export function resolveLogFormat(flag: string | undefined, env: NodeJS.ProcessEnv): LogFormat {
  const value = flag ?? env.ITERABLE_SYNC_LOG_FORMAT;
  if (value === undefined || value === '') return 'text';
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new ConfigError(`ITERABLE_SYNC_LOG_FORMAT must be ${LOG_FORMATS.join(' or ')}; got "${value}"`);
}
