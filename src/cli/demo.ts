import { validateConfig } from '../config/config.js';
import { openReadOnly } from '../destinations/destination-factory.js';
import { DEFAULT_STREAMS } from '../streams/stream-table.js';
import { startFakeIterable } from '../fake-iterable/server.js';
import { commandSync } from './commands.js';
import { EXIT } from './exit-codes.js';
import { ConfigError } from '../errors.js';
import { isSingerDestination } from './run-context.js';
import type { StderrLogger } from '../log/stderr-logger.js';
import { formatQueryResult } from './query.js';
import { simulatorData } from './simulate.js';

const DEMO_DESTINATION = 'duckdb:demo.duckdb';

/** The query the demo prints with its result (valid in DuckDB and PostgreSQL). */
const DEMO_QUERY =
  'select c.name as campaign, count(*) as sends, count(distinct s.email) as recipients\n' +
  '  from email_send s join campaigns c on c.id = s."campaignId"\n' +
  '  group by c.name order by sends desc, campaign limit 5';

/**
 * `demo`: a first look without a key or a second terminal. Starts the simulator in this process
 * on a free port (listening before the sync starts), syncs every stream into `demo.duckdb`
 * without rate limits, prints the summary, a sample query and its result, and stops the
 * simulator.
 */
export async function commandDemo(
  options: { destination?: string; logger: StderrLogger; out: (text: string) => void; isTTY: boolean },
): Promise<number> {
  const { logger, out } = options;
  if (options.destination !== undefined && isSingerDestination(options.destination)) {
    throw new ConfigError('demo syncs into a database it can then query: use a duckdb: or postgres:// destination');
  }
  // The simulator imposes no rate limits, so the client need not pace for them (as `simulate` suggests).
  process.env.ITERABLE_SYNC_RATE_LIMIT_SCALE = '0';
  const server = await startFakeIterable({ port: 0, host: '127.0.0.1', keys: 'any', data: simulatorData(2000) });
  try {
    const config = validateConfig(
      // The simulator imposes no rate limits: data.json windows are the quickest way through its three months.
      [{ api_key: 'iterable-sync-demo-key', base_url: server.url, start_date: '2024-01-01', export_mode: 'stream', destination: options.destination ?? DEMO_DESTINATION }],
      { warn: (message) => logger.warn(message) },
    );
    logger.info(`demo: simulated Iterable API at ${server.url} (generated data, 2024-01-01 to 2024-04-01); syncing into ${config.destination}`);
    const code = await commandSync(config, DEFAULT_STREAMS, { fullRefresh: false, logger, out, isTTY: options.isTTY });
    if (code !== EXIT.ok) return code;
    const db = await openReadOnly(config.destination);
    try {
      out(`\nSample query (run your own with: npx iterable-sync query "…" --destination ${db.description}):\n\n  ${DEMO_QUERY}\n\n`);
      out(formatQueryResult(await db.run(DEMO_QUERY), 'table'));
    } finally {
      await db.close();
    }
    const flag = config.destination === DEMO_DESTINATION ? ' --destination duckdb:demo.duckdb' : ` --destination '${db.description}'`;
    out(
      `\nNext: npx iterable-sync status${flag}\n` +
        `      npx iterable-sync query "select count(*) from email_open"${flag}\n`,
    );
    return EXIT.ok;
  } finally {
    await server.close();
  }
}
