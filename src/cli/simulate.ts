import { ENGAGEMENT_DATA_TYPES, generateFakeData, type FakeData } from '../fake-iterable/data.js';
import { startFakeIterable, type ExportJobsOptions } from '../fake-iterable/server.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../core/types.js';
import { EXIT } from './exit-codes.js';
import { parseProjectType, PROJECT_TYPES, type ProjectType } from '../streams/project-types.js';

/** `simulate`'s flags as given on the command line. */
export interface SimulateFlags {
  port: string;
  host: string;
  events: string;
  /** `--project-type`: email (default), userId or hybrid. */
  projectType?: string;
  jobsTimeScale: string;
}

/** Export jobs in the simulator run this many times faster than Iterable's (a job starts in 0.6 s, not 12). */
export const SIMULATOR_JOBS_TIME_SCALE = 20;

/**
 * `simulate`: serves the fake Iterable API (the one our own tests run against) with generated
 * data, accepting any key and imposing no rate limits, until interrupted.
 */
export async function commandSimulate(
  options: { port: number; host: string; eventsPerType: number; projectType?: ProjectType; jobsTimeScale: number },
  logger: Logger,
  out: (text: string) => void,
): Promise<number> {
  const data = simulatorData(options.eventsPerType, options.projectType);
  const { port, host } = options;
  const exportJobs: ExportJobsOptions = { timeScale: options.jobsTimeScale };
  const server = await startFakeIterable({ port, host, keys: 'any', data, exportJobs }).catch((error: unknown) => {
    throw listenError(error, host, port);
  });
  out(`${server.url}\n`);
  logger.info(
    `simulated Iterable API at ${server.url} (any API key, no rate limits, data from 2024-01-01 to 2024-04-01, ` +
      `export jobs ${options.jobsTimeScale}× faster than Iterable's). Try:\n` +
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

/**
 * The simulator's generated project: `eventsPerType` email sends, the other email event types in
 * proportion, and a twentieth as many of each push, in-app, SMS, purchase, custom event... type.
 */
export function simulatorData(eventsPerType: number, projectType: ProjectType = 'email'): FakeData {
  const n = Math.max(1, Math.floor(eventsPerType));
  const engagement = Object.fromEntries(ENGAGEMENT_DATA_TYPES.map((type) => [type, Math.ceil(n / 20)]));
  return generateFakeData({
    projectType,
    events: {
      ...engagement,
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

/**
 * Validates `simulate`'s flags: a port from 0 (any free one) to 65535, a positive event count, a
 * project type, a positive speed-up of export jobs.
 */
export function simulateOptions(flags: SimulateFlags): { port: number; host: string; eventsPerType: number; projectType: ProjectType; jobsTimeScale: number } {
  if (flags.host.trim() === '') throw new ConfigError('--host needs a value, e.g. --host 127.0.0.1 (the default) or --host 0.0.0.0');
  const projectType = parseProjectType(flags.projectType ?? 'email');
  if (projectType === undefined) {
    throw new ConfigError(`--project-type must be ${PROJECT_TYPES.join(', ')} (got ${JSON.stringify(flags.projectType)}); for example --project-type userId`);
  }
  return {
    projectType,
    port: parseWholeNumber(flags.port, '--port', 0, 65_535, '8080, or 0 for any free port'),
    host: flags.host.trim(),
    eventsPerType: parseWholeNumber(flags.events, '--events', 1, 10_000_000, '2000'),
    jobsTimeScale: parseWholeNumber(flags.jobsTimeScale, '--jobs-time-scale', 1, 100_000, String(SIMULATOR_JOBS_TIME_SCALE)),
  };
}

/** A whole number flag within bounds; anything else is a usage error naming an example. */
function parseWholeNumber(text: string, flag: string, min: number, max: number, example: string): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${flag} must be a whole number from ${min} to ${max} (got ${JSON.stringify(text)}); for example ${flag} ${example}`);
  }
  return value;
}

/** One clear line for the usual reasons a server cannot listen; other errors pass unchanged. */
function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const address = `${host}:${port}`;
  if (code === 'EADDRINUSE') {
    return new ConfigError(`cannot listen on ${address}: the port is in use; stop what listens there, or pick another with --port N (--port 0 picks a free one)`, { cause: error });
  }
  if (code === 'EACCES') {
    return new ConfigError(`cannot listen on ${address}: permission denied (ports below 1024 need privileges); use a port such as 8080`, { cause: error });
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ConfigError(`cannot listen on ${address}: this machine has no such address; use --host 127.0.0.1 or 0.0.0.0`, { cause: error });
  }
  return error;
}
