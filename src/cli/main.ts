#!/usr/bin/env node
import { Command, Option } from 'commander';
import { createStderrLogger } from '../log/stderr-logger.js';
import {
  commandCheck,
  commandDiscover,
  commandReset,
  commandSync,
  streamsForTap,
} from './commands.js';
import { failCommand } from './exit-codes.js';
import { keepHeapSmall } from './process-memory.js';
import { loadConfig, selectStreams, type CommonFlags } from './run-context.js';
import { commandSimulate } from './simulate.js';

keepHeapSmall();

const logLevel = process.env.ITERABLE_SYNC_LOG_LEVEL === 'debug' ? 'debug' : 'info';
const logger = createStderrLogger({ level: logLevel });
const out = (text: string) => process.stdout.write(text);

function withCommonOptions(command: Command): Command {
  return command
    .option('--config <file>', 'JSON config file (api_key, start_date, api_window_in_days, region, base_url, destination, lookback_minutes)')
    .option('--start-date <date>', 'first instant to replicate: 2024-01-31, 2024-01-31T00:00:00Z or 01/31/2024')
    .option('--window-days <days>', 'length of one export window in days (fractions allowed)')
    .option('--lookback-minutes <minutes>', 're-read this much before a bookmark')
    .option('--region <region>', 'us or eu')
    .option('--base-url <url>', "Iterable API base URL (overrides the region's host)");
}

interface SyncFlags extends CommonFlags {
  fullRefresh?: boolean;
  catalog?: string;
  state?: string;
}

/** Runs a command body, mapping errors to exit codes and one clear line on stderr. */
async function run(body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (error) {
    failCommand(error, logger);
  }
}

const program = new Command()
  .name('iterable-sync')
  .description('Replicate an Iterable project into DuckDB, PostgreSQL or a Singer target.')
  .version(process.env.npm_package_version ?? '0.1.0')
  .showHelpAfterError()
  .exitOverride();

withCommonOptions(program.command('check').description('check the API key and list the streams it can read')).action(
  (flags: CommonFlags) =>
    run(async () => commandCheck(await loadConfig(flags, logger), logger, out)),
);

withCommonOptions(program.command('discover').description('print the Singer catalog of every stream')).action((flags: CommonFlags) =>
  run(async () => commandDiscover(await loadConfig(flags, logger, { requireApiKey: false }), logger, out)),
);

withCommonOptions(
  program
    .command('sync')
    .description('replicate the selected streams into the destination (incremental by default)')
    .option('--destination <url>', 'duckdb:PATH (default duckdb:iterable.duckdb), postgres://user:pass@host/db?schema=NAME, or singer:')
    .option('--streams <names>', 'comma-separated streams (default: all 16)')
    .option('--full-refresh', 'ignore bookmarks for this run and read everything from start_date')
    .option('--state <file>', 'Singer state to start from (Singer output only)')
    .option('--max-window-retry-minutes <minutes>', 'give a stream up when one export window keeps failing this long (default 5)'),
).action((flags: SyncFlags) =>
  run(async () => {
    const config = await loadConfig(flags, logger);
    const streams = selectStreams(flags.streams);
    return commandSync(config, streams, {
      fullRefresh: flags.fullRefresh === true,
      statePath: flags.state,
      logger,
      logLevel,
      out,
      isTTY: process.stderr.isTTY === true,
    });
  }),
);

withCommonOptions(
  program
    .command('tap')
    .description('extract as a Singer tap: SCHEMA, RECORD and STATE messages on stdout')
    .option('--streams <names>', 'comma-separated streams (default: all, or those selected in --catalog)')
    .option('--catalog <file>', 'Singer catalog; streams with "selected": true are read')
    .option('--state <file>', 'Singer state to resume from')
    .option('--full-refresh', 'ignore bookmarks for this run')
    .option('--max-window-retry-minutes <minutes>', 'give a stream up when one export window keeps failing this long (default 5)'),
).action((flags: SyncFlags) =>
  run(async () => {
    const config = await loadConfig(flags, logger);
    const streams = await streamsForTap(flags.streams ? selectStreams(flags.streams) : undefined, flags.catalog, logger);
    return commandSync({ ...config, destination: 'singer:' }, streams, {
      fullRefresh: flags.fullRefresh === true,
      statePath: flags.state,
      logger,
      out,
      isTTY: false,
    });
  }),
);

withCommonOptions(
  program
    .command('reset')
    .description('forget the bookmarks of some streams (all when none), so the next sync reads them again')
    .option('--destination <url>', 'destination whose bookmarks to forget')
    .option('--streams <names>', 'comma-separated streams (default: all)'),
).action((flags: CommonFlags) =>
  run(async () => {
    const config = await loadConfig(flags, logger, { requireApiKey: false });
    const names = flags.streams ? selectStreams(flags.streams).map((s) => s.name) : undefined;
    return commandReset(config, names, logger, out);
  }),
);

program
  .command('simulate')
  .description('serve a local Iterable-compatible API with generated data (no key or rate limits needed)')
  .addOption(new Option('--port <port>', 'port to listen on').default('8080'))
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--events <count>', 'email events per event type to generate', '2000')
  .action((flags: { port: string; host: string; events: string }) =>
    run(async () => commandSimulate({ port: Number(flags.port), host: flags.host, eventsPerType: Number(flags.events) }, logger, out)),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  failCommand(error, logger);
}
