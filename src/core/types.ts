/**
 * Types every layer shares (cli, sync, streams, destinations, iterable may all import this
 * module; it imports nothing).
 */

/** One record as Iterable sent it (after normalisation): field name → JSON value. */
export type JsonRecord = Record<string, unknown>;

/** The subset of JSON Schema that stream schemas use (Singer style: `type: ["null", "string"]`). */
export interface JsonSchema {
  type?: string | string[];
  format?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
  description?: string;
}

/** What a logger must accept; output goes to stderr. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A line of an export that was not a loadable record, kept for inspection, never dropped silently. */
export interface RejectedRecord {
  stream: string;
  /** The raw text as received (truncated by the destination if very large). */
  raw: string;
  /** Why it was rejected, e.g. the JSON.parse message. */
  reason: string;
  /** Where it came from, e.g. `export emailSend [2024-01-01T00:00:00.000Z, 2024-01-31T00:00:00.000Z)`. */
  source: string;
}
