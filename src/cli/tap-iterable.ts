#!/usr/bin/env node
/**
 * `tap-iterable`: a drop-in for the Python Singer tap of the same name, with the classic flags
 * `--config F [--discover] [--catalog F | --properties F] [--state F]`.
 */
import { Command } from 'commander';
import { createStderrLogger } from '../log/stderr-logger.js';
import { commandDiscover, commandSync, streamsForTap } from './commands.js';
import { failCommand } from './exit-codes.js';
import { resolveLogFormat } from './log-format.js';
import { loadConfig } from './run-context.js';


const logger = createStderrLogger();

const program = new Command()
  .name('tap-iterable')
  .description('Singer tap for Iterable')
  .requiredOption('-c, --config <file>', 'config JSON (api_key, start_date, api_window_in_days, ...)')
  .option('-d, --discover', 'print the catalog and exit')
  .option('--catalog <file>', 'catalog with selected streams')
  .option('-p, --properties <file>', 'legacy name of --catalog')
  .option('-s, --state <file>', 'state to resume from')
  .exitOverride()
  .showHelpAfterError();

try {
  logger.format = resolveLogFormat(undefined, process.env);
  program.parse(process.argv);
  const flags = program.opts<{ config: string; discover?: boolean; catalog?: string; properties?: string; state?: string }>();
  if (flags.discover) {
    const config = await loadConfig({ config: flags.config }, logger, { requireApiKey: false });
    process.exitCode = await commandDiscover(config, logger, (t) => process.stdout.write(t));
  } else {
    const config = await loadConfig({ config: flags.config }, logger);
    const streams = await streamsForTap(undefined, flags.catalog ?? flags.properties, logger, config.streams);
    process.exitCode = await commandSync({ ...config, destination: 'singer:' }, streams, {
      fullRefresh: false,
      statePath: flags.state,
      logger,
      out: (t) => process.stdout.write(t),
      isTTY: false,
    });
  }
} catch (error) {
  failCommand(error, logger);
}
