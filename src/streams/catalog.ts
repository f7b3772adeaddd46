import type { JsonSchema } from '../core/types.js';
import { ConfigError } from '../errors.js';
import type { StreamDefinition } from './stream-table.js';

/** One Singer catalog entry with standard metadata. */
export interface CatalogEntry {
  tap_stream_id: string;
  stream: string;
  schema: JsonSchema;
  key_properties: readonly string[];
  replication_key?: string;
  replication_method: string;
  metadata: Array<{ breadcrumb: string[]; metadata: Record<string, unknown> }>;
}

export interface Catalog {
  streams: CatalogEntry[];
}

/** The Singer catalog of the given streams (schemas as resolved for this project). */
export function buildCatalog(streams: ReadonlyArray<{ stream: StreamDefinition; schema: JsonSchema }>): Catalog {
  return {
    streams: streams.map(({ stream, schema }) => {
      const automatic = new Set([...stream.keyProperties, ...(stream.replicationKey ? [stream.replicationKey] : [])]);
      return {
        tap_stream_id: stream.name,
        stream: stream.name,
        schema,
        key_properties: stream.keyProperties,
        ...(stream.replicationKey ? { replication_key: stream.replicationKey } : {}),
        replication_method: stream.method,
        metadata: [
          {
            breadcrumb: [],
            metadata: {
              'table-key-properties': stream.keyProperties,
              'forced-replication-method': stream.method,
              'valid-replication-keys': stream.replicationKey ? [stream.replicationKey] : [],
              inclusion: 'available',
              selected: stream.isDefault,
              // As tap-iterable marks list_users: its rows are read list by list.
              ...(stream.parentStream ? { 'parent-tap-stream-id': stream.parentStream } : {}),
            },
          },
          ...Object.keys(schema.properties ?? {}).map((field) => ({
            breadcrumb: ['properties', field],
            metadata: { inclusion: automatic.has(field) ? 'automatic' : 'available' },
          })),
        ],
      };
    }),
  };
}

/**
 * Stream names a catalog selects, the Singer way: `selected: true` in the stream's top-level
 * metadata (or the legacy `schema.selected`). Unknown stream ids are a configuration error.
 */
export function selectedInCatalog(catalog: unknown, validNames: readonly string[], origin: string): string[] {
  const entries = (catalog as { streams?: unknown })?.streams;
  if (!Array.isArray(entries)) throw new ConfigError(`${origin}: a catalog must be {"streams": [...]}`);
  const selected: string[] = [];
  for (const entry of entries as Array<Record<string, unknown>>) {
    const name = String(entry.tap_stream_id ?? entry.stream ?? '');
    if (!validNames.includes(name)) {
      throw new ConfigError(`${origin}: unknown stream "${name}"; valid streams: ${validNames.join(', ')}`);
    }
    const metadata = Array.isArray(entry.metadata) ? (entry.metadata as Array<Record<string, unknown>>) : [];
    const top = metadata.find((m) => Array.isArray(m.breadcrumb) && m.breadcrumb.length === 0)?.metadata as
      | Record<string, unknown>
      | undefined;
    const isSelected = top?.selected ?? (entry.schema as Record<string, unknown> | undefined)?.selected;
    if (isSelected === true) selected.push(name);
  }
  return selected;
}
