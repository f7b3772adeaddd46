/**
 * Every error class of iterable-sync. Each is a ConnectorError with a literal `code`; callers
 * decide what to do by class (retry, fail the stream, exit 2/3), never by parsing messages.
 * Messages say what failed, where, and what to do; they never contain the API key or a
 * database password (see `redactSecrets`).
 */

export type ErrorCode =
  | 'config'
  | 'auth'
  | 'api_retryable'
  | 'api_fatal'
  | 'destination'
  | 'schema'
  | 'state'
  | 'stream_failed'
  | 'interrupted';

export abstract class ConnectorError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad usage or configuration: exit 2. */
export class ConfigError extends ConnectorError {
  readonly code = 'config' as const;
}

/**
 * Iterable refused the key (401 `BadApiKey`: `refusal` is `key`, and the whole run stops) or the
 * key may not call an endpoint (403, or a 401 with another code: `permission`, and only the
 * streams of that endpoint fail): exit 3.
 */
export class AuthError extends ConnectorError {
  readonly code = 'auth' as const;
  /** `key`: the key itself is refused; `permission`: the key may not call this endpoint. */
  readonly refusal: 'key' | 'permission';
  constructor(
    message: string,
    readonly status: number,
    readonly path: string,
    options?: { cause?: unknown; refusal?: 'key' | 'permission' },
  ) {
    super(message, options);
    this.refusal = options?.refusal ?? 'permission';
  }
}

/** Describes one HTTP exchange for error messages; never holds the key. */
export interface RequestDescription {
  method: string;
  /** Path with query string, e.g. `/api/export/data.json?dataTypeName=emailSend&...`. */
  path: string;
  status?: number;
}

/** A failure worth retrying: 429, 5xx, network errors, bodies cut mid-stream, stalled reads. */
export class RetryableApiError extends ConnectorError {
  readonly code = 'api_retryable' as const;
  constructor(
    message: string,
    readonly request: RequestDescription,
    /** Server-requested delay (Retry-After), when it sent one. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A signed download URL (an export job's file) was refused with 403, Iterable's "Request has
 * expired" after 30 minutes: list the job's files again for fresh URLs.
 */
export class SignedUrlExpiredError extends RetryableApiError {}

/** A failure retrying cannot fix (400, 404, retries exhausted). */
export class FatalApiError extends ConnectorError {
  readonly code = 'api_fatal' as const;
  constructor(
    message: string,
    readonly request: RequestDescription,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The destination refused a write, a connection or a lock. */
export class DestinationError extends ConnectorError {
  readonly code = 'destination' as const;
}

/** A schema cannot be applied to a destination table. */
export class SchemaError extends ConnectorError {
  readonly code = 'schema' as const;
}

/** A state file or stored bookmark is unreadable. */
export class StateError extends ConnectorError {
  readonly code = 'state' as const;
}

/** One stream could not finish; the others still ran. */
export class StreamFailedError extends ConnectorError {
  readonly code = 'stream_failed' as const;
  constructor(
    readonly stream: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The run was stopped by a signal: what was committed stays, the rest is rolled back. Exit 130 / 143. */
export class InterruptedError extends ConnectorError {
  readonly code = 'interrupted' as const;
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signal}`);
  }
}

const registeredSecrets = new Set<string>();

/** Registers a value (API key, password) that must never appear in output. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 4) registeredSecrets.add(secret);
}

/** Replaces every registered secret, and any password in a URL, with `***`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of registeredSecrets) out = out.split(secret).join('***');
  // user:password@ in URLs (postgres://user:pass@host)
  return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@/\s]*@/gi, '$1***@');
}

/** The first line of an error's message (DuckDB adds the statement and a caret below it). */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n').find((line) => line.trim() !== '')?.trim() ?? message;
}
