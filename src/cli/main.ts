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
import { OPTIONS, withCommonOptions, withOptions } from './options.js';
import { logFormatOption, resolveLogFormat } from './log-format.js';
import { shouldDrawLiveProgress } from './progress.js';
import { loadConfig, selectStreams, streamsToReset, type CommonFlags } from './run-context.js';
import { commandSimulate, SIMULATOR_JOBS_TIME_SCALE, simulateOptions, type SimulateFlags } from './simulate.js';
import { commandDemo } from './demo.js';
import { commandQuery, outputFormat, QUERY_FORMATS } from './query.js';
import { commandStatus, STATUS_FORMATS } from './status.js';


const logLevel = process.env.ITERABLE_SYNC_LOG_LEVEL === 'debug' ? 'debug' : 'info';
// Its format is set once the command line is parsed (`--log-format`, see the preAction hook).
const logger = createStderrLogger({ level: logLevel });
const out = (text: string) => process.stdout.write(text);

interface ResetFlags extends CommonFlags {
  all?: boolean;
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
  .exitOverride()
  .addOption(logFormatOption())
  .configureHelp({ showGlobalOptions: true })
  .hook('preAction', (root) => {
    logger.format = resolveLogFormat(root.opts<{ logFormat?: string }>().logFormat, process.env);
  });

withOptions(
  program
    .command('check')
    .description('show the export calls a first sync of the selected streams needs, check the API key, list the streams it can read and how a sync would read exports')
    .addOption(OPTIONS.streams('comma-separated streams, or all, whose first sync to estimate (default: the 16 seed streams)')),
  'config', 'startDate', 'windowDays', 'region', 'baseUrl', 'projectType', 'exportMode',
).action((flags: CommonFlags) =>
  run(async () => {
    const config = await loadConfig(flags, logger);
    return commandCheck(config, logger, out, selectStreams(config.streams));
  }),
);

withOptions(program.command('discover').description('print the Singer catalog of every stream'), 'config', 'region', 'baseUrl', 'projectType').action((flags: CommonFlags) =>
  run(async () => commandDiscover(await loadConfig(flags, logger, { requireApiKey: false }), logger, out)),
);

withCommonOptions(
  program
    .command('sync')
    .description('replicate the selected streams into the destination (incremental by default)')
    .addOption(OPTIONS.destination())
    .addOption(OPTIONS.streams('comma-separated streams, or all (default: the 16 seed streams)'))
    .option('--full-refresh', 'ignore bookmarks for this run and read everything from start_date')
    .addOption(OPTIONS.state('Singer state (Stitch, Meltano, tap-iterable) whose bookmarks seed the streams the destination has none for'))
    .option('--summary-json <file>', 'also write the final summary (run id, times, outcome, streams, exit code) as JSON to this file')
    .addOption(OPTIONS.maxWindowRetryMinutes())
    .addOption(OPTIONS.metricsAttributionDays())
    .addOption(OPTIONS.exportMode()),
).action((flags: SyncFlags & { summaryJson?: string }) =>
  run(async () => {
    const config = await loadConfig(flags, logger);
    const streams = selectStreams(config.streams);
    return commandSync(config, streams, {
      fullRefresh: flags.fullRefresh === true,
      statePath: flags.state,
      logger,
      out,
      isTTY: shouldDrawLiveProgress(process.stderr, process.env),
      summaryJsonPath: flags.summaryJson,
    });
  }),
);

withCommonOptions(
  program
    .command('tap')
    .description('extract as a Singer tap: SCHEMA, RECORD and STATE messages on stdout')
    .addOption(OPTIONS.streams('comma-separated streams, or all (default: those selected in --catalog, else the 16 seed streams)'))
    .addOption(OPTIONS.catalog())
    .addOption(OPTIONS.state('Singer state to resume from'))
    .option('--full-refresh', 'ignore bookmarks for this run')
    .addOption(OPTIONS.maxWindowRetryMinutes())
    .addOption(OPTIONS.metricsAttributionDays())
    .addOption(OPTIONS.exportMode()),
).action((flags: SyncFlags) =>
  run(async () => {
    const config = await loadConfig(flags, logger);
    const streams = await streamsForTap(flags.streams !== undefined ? selectStreams(flags.streams) : undefined, flags.catalog, logger, config.streams);
    return commandSync({ ...config, destination: 'singer:' }, streams, {
      fullRefresh: flags.fullRefresh === true,
      statePath: flags.state,
      logger,
      out,
      isTTY: false,
    });
  }),
);

withOptions(
  program
    .command('reset')
    .description('forget the bookmarks of some streams (or --all), so the next sync reads them again')
    .addOption(OPTIONS.destination())
    .addOption(OPTIONS.streams('comma-separated streams whose bookmarks to forget'))
    .option('--all', 'forget the bookmarks of every stream'),
  'config',
).action((flags: ResetFlags) =>
  run(async () => {
    const streams = streamsToReset(flags);
    const config = await loadConfig(flags, logger, { requireApiKey: false });
    return commandReset(config, streams, logger, out);
  }),
);

program
  .command('simulate')
  .description('serve a local Iterable-compatible API with generated data (no key or rate limits needed)')
  .addOption(new Option('--port <port>', 'port to listen on').default('8080'))
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--events <count>', 'email sends to generate (other event types in proportion)', '2000')
  .option('--project-type <type>', 'how the simulated project identifies users: email, userId or hybrid', 'email')
  .option('--jobs-time-scale <n>', "how many times faster than Iterable's export jobs run", String(SIMULATOR_JOBS_TIME_SCALE))
  .action((flags: SimulateFlags) => run(async () => commandSimulate(simulateOptions(flags), logger, out)));

program
  .command('status')
  .description("show each stream's bookmark, rows, last run and how far behind now its data is")
  .addOption(OPTIONS.config())
  .addOption(OPTIONS.destination())
  .option('--format <format>', 'table or json', 'table')
  .action((flags: CommonFlags & { format?: string }) =>
    run(async () => {
      const config = await loadConfig(flags, logger, { requireApiKey: false });
      return commandStatus(config, outputFormat(flags.format, STATUS_FORMATS, 'table'), out);
    }),
  );

program
  .command('query')
  .description('run one SQL statement on the destination, opened read-only, and print the result')
  .argument('<sql>', 'the SQL statement, e.g. "select count(*) from email_send"')
  .addOption(OPTIONS.config())
  .addOption(OPTIONS.destination())
  .option('--format <format>', 'table, csv or json', 'table')
  .action((sql: string, flags: CommonFlags & { format?: string }) =>
    run(async () => {
      const config = await loadConfig(flags, logger, { requireApiKey: false });
      return commandQuery(config, sql, outputFormat(flags.format, QUERY_FORMATS, 'table'), out);
    }),
  );

program
  .command('demo')
  .description('start the simulator in this process, sync it into demo.duckdb, and show a sample query')
  .addOption(OPTIONS.destination().default(undefined, 'duckdb:demo.duckdb, in the current folder'))
  .action((flags: { destination?: string }) =>
    run(async () =>
      commandDemo({ destination: flags.destination, logger, out, isTTY: shouldDrawLiveProgress(process.stderr, process.env) }),
    ),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  failCommand(error, logger);
}
