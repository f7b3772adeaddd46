import { InvalidArgumentError, Option, type Command } from 'commander';

/**
 * The options the commands share, each defined once. A command lists only the ones it uses, so
 * its `--help` shows nothing it would ignore. An option given an empty or blank value
 * (`--window-days ''`) is an error, never the default: a shell variable that expanded to nothing
 * must not silently change what a run reads.
 */
export const OPTIONS = {
  config: () => valued('--config <file>', 'JSON config file (api_key, start_date, api_window_in_days, region, base_url, destination, lookback_minutes, streams, metrics_attribution_days, project_type, export_mode)'),
  startDate: () => valued('--start-date <date>', 'first instant to replicate: 2024-01-31, 2024-01-31T00:00:00Z or 01/31/2024'),
  windowDays: () => valued('--window-days <days>', 'length of one export window in days (fractions allowed)'),
  lookbackMinutes: () => valued('--lookback-minutes <minutes>', 're-read this much before a bookmark'),
  region: () => valued('--region <region>', 'us or eu'),
  baseUrl: () => valued('--base-url <url>', "Iterable API base URL (overrides the region's host)"),
  destination: () =>
    valued('--destination <url>', 'duckdb:PATH (default duckdb:iterable.duckdb), postgres://user:pass@host/db?schema=NAME, or singer:'),
  streams: (description: string) => new Option('--streams <names>', description).argParser(parseStreamList),
  catalog: () => valued('--catalog <file>', 'Singer catalog; streams with "selected": true are read'),
  state: (description: string) => valued('--state <file>', description),
  projectType: () => valued('--project-type <type>', 'email, userId or hybrid: how the project identifies users (default email)'),
  exportMode: () => valued('--export-mode <mode>', 'how exports are read: auto (default), jobs (export jobs) or stream (data.json)'),
  maxWindowRetryMinutes: () =>
    valued('--max-window-retry-minutes <minutes>', 'give a stream up when one export window keeps failing this long (default 5)'),
  metricsAttributionDays: () =>
    valued('--metrics-attribution-days <days>', 'campaign_metrics re-reads campaigns that ended less than this many days ago (default 15)'),
} as const;

/** The options that every command reading Iterable takes (sync, tap): config and the API's settings. */
export function withCommonOptions(command: Command): Command {
  return withOptions(command, 'config', 'startDate', 'windowDays', 'lookbackMinutes', 'region', 'baseUrl', 'projectType');
}

/** Adds some of the shared options (those without a per-command description) to a command. */
export function withOptions(command: Command, ...names: Array<Exclude<keyof typeof OPTIONS, 'streams' | 'state'>>): Command {
  for (const name of names) command.addOption(OPTIONS[name]());
  return command;
}

/** An option that takes a value, refusing an empty or blank one. */
function valued(flags: string, description: string): Option {
  const name = flags.split(' ')[0]!;
  return new Option(flags, description).argParser((value: string) => {
    if (value.trim() === '') throw new InvalidArgumentError(`${name} needs a value; leave the option out to use the default`);
    return value;
  });
}

/** `--streams a,b,c`: refuses a list that names no stream (`''`, `' , '`). */
function parseStreamList(value: string): string {
  if (value.split(',').every((name) => name.trim() === '')) {
    throw new InvalidArgumentError('--streams names no stream; give stream names such as email_send,users');
  }
  return value;
}
