import { CommanderError } from 'commander';
import { AuthError, ConfigError, ConnectorError, StateError, redactSecrets } from '../errors.js';
import type { Logger } from '../core/types.js';
import type { StreamResult } from '../sync/run-sync.js';

/** Exit codes of contract §2. */
export const EXIT = {
  ok: 0,
  streamFailed: 1,
  usage: 2,
  auth: 3,
} as const;

/** The exit code for an error that ended a command. */
export function exitCodeForError(error: unknown): number {
  // Help and version exit 0; every other commander error is bad usage.
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof ConfigError || error instanceof StateError) return EXIT.usage;
  if (error instanceof AuthError) return EXIT.auth;
  return EXIT.streamFailed;
}

/** The exit code of a sync from its stream results: 3 if Iterable refused any, 1 if any failed. */
export function exitCodeForResults(results: readonly StreamResult[]): number {
  if (results.some((r) => r.status === 'failed' && r.error instanceof AuthError)) return EXIT.auth;
  if (results.some((r) => r.status === 'failed' && r.error instanceof ConfigError)) return EXIT.usage;
  if (results.some((r) => r.status === 'failed')) return EXIT.streamFailed;
  return EXIT.ok;
}

/** The one line a user sees for an error: what failed and what to do, without secrets. */
export function describeError(error: unknown): string {
  if (error instanceof ConnectorError) return redactSecrets(error.message);
  if (error instanceof Error) return redactSecrets(`unexpected error: ${error.stack ?? error.message}`);
  return redactSecrets(`unexpected error: ${String(error)}`);
}

/**
 * Ends a command that threw: one clear line on stderr (commander has already printed its own
 * usage errors) and the matching exit code.
 */
export function failCommand(error: unknown, logger: Logger): void {
  if (!(error instanceof CommanderError)) logger.error(describeError(error), { event: 'command_failed' });
  process.exitCode = exitCodeForError(error);
}
