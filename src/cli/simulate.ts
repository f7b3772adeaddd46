import { generateFakeData, type FakeData } from '../../test/fake-iterable/data.js';
import { startFakeIterable } from '../../test/fake-iterable/server.js';
import type { Logger } from '../core/types.js';
import { EXIT } from './exit-codes.js';

/**
 * `simulate`: serves the fake Iterable API (the one our own tests run against) with generated
 * data, accepting any key and imposing no rate limits, until interrupted.
 */
export async function commandSimulate(
  options: { port: number; host: string; eventsPerType: number },
  logger: Logger,
  out: (text: string) => void,
): Promise<number> {
  const data = simulatorData(options.eventsPerType);
  const server = await startFakeIterable({ port: options.port, host: options.host, keys: 'any', data });
  out(`${server.url}\n`);
  logger.info(
    `simulated Iterable API at ${server.url} (any API key, no rate limits, data from 2024-01-01 to 2024-04-01). Try:\n` +
      `  ITERABLE_API_KEY=any ITERABLE_SYNC_RATE_LIMIT_SCALE=0 npx iterable-sync sync --base-url ${server.url} --start-date 2024-01-01`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return EXIT.ok;
}

/** The simulator's generated project: `eventsPerType` email sends, and the other event types in proportion. */
export function simulatorData(eventsPerType: number): FakeData {
  const n = Math.max(1, Math.floor(eventsPerType));
  return generateFakeData({
    events: {
      emailSend: n,
      emailOpen: Math.ceil(n / 2),
      emailClick: Math.ceil(n / 6),
      emailBounce: Math.ceil(n / 50),
      emailComplaint: Math.ceil(n / 250),
      emailSendSkip: Math.ceil(n / 20),
      emailSubscribe: Math.ceil(n / 15),
      emailUnSubscribe: Math.ceil(n / 40),
    },
  });
}
