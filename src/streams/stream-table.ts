import type { JsonSchema } from '../core/types.js';
import type { EndpointFamily } from '../iterable/types.js';
import { STREAM_SCHEMAS } from './schemas.js';

/** How a stream's records are read; each kind is one strategy in `read-strategies.ts`. */
export type ReadStrategy =
  /** One GET returning every record under `recordsKey`. */
  | { kind: 'list-endpoint'; path: string; recordsKey: string; family: EndpointFamily }
  /** GET with page/pageSize, following `nextPageUrl`; legacy unpaginated answers accepted. */
  | { kind: 'paged-list'; path: string; recordsKey: string; family: EndpointFamily }
  /** `paged-list` of /api/templates for every template type × message medium. */
  | { kind: 'template-fanout' }
  /** GET /api/lists, then /api/lists/getUsers for every list. */
  | { kind: 'list-members' }
  /** GET /api/metadata → tables → keys (paged by nextMarker) → values. */
  | { kind: 'metadata-walk' }
  /** GET /api/export/data.json in half-open windows of `api_window_in_days`. */
  | { kind: 'export-windows'; dataTypeName: string };

export type ReplicationMethod = 'INCREMENTAL' | 'FULL_TABLE';

/** The facts of one stream. */
export interface StreamDefinition {
  name: string;
  keyProperties: readonly string[];
  method: ReplicationMethod;
  /** Field the bookmark follows (INCREMENTAL streams only). */
  replicationKey?: string;
  /** Every record of a key has the same `replicationKey` value (events: the key hashes the whole record). */
  keyDeterminesReplicationKey?: boolean;
  read: ReadStrategy;
  schema: JsonSchema;
  /** Whether a read-only key may read it (exports and getUsers need a server-side key). */
  readOnlyKeyAllowed: boolean;
}

type StreamName = keyof typeof STREAM_SCHEMAS;

type StreamEntry = Pick<StreamDefinition, 'read'> & Partial<Omit<StreamDefinition, 'read' | 'name' | 'schema'>> & { name: StreamName };

const fullTable = { method: 'FULL_TABLE', keyProperties: ['id'], readOnlyKeyAllowed: true } as const;
const event = (dataTypeName: string) =>
  ({
    method: 'INCREMENTAL',
    keyProperties: ['_event_id'],
    replicationKey: 'createdAt',
    keyDeterminesReplicationKey: true,
    readOnlyKeyAllowed: false,
    read: { kind: 'export-windows', dataTypeName },
  }) as const;

const ENTRIES: StreamEntry[] = [
  {
    name: 'campaigns',
    method: 'INCREMENTAL',
    replicationKey: 'updatedAt',
    read: { kind: 'paged-list', path: '/api/campaigns', recordsKey: 'campaigns', family: 'campaigns' },
  },
  { name: 'channels', ...fullTable, read: { kind: 'list-endpoint', path: '/api/channels', recordsKey: 'channels', family: 'channels' } },
  { name: 'email_bounce', ...event('emailBounce') },
  { name: 'email_click', ...event('emailClick') },
  { name: 'email_complaint', ...event('emailComplaint') },
  { name: 'email_open', ...event('emailOpen') },
  { name: 'email_send', ...event('emailSend') },
  { name: 'email_send_skip', ...event('emailSendSkip') },
  { name: 'email_subscribe', ...event('emailSubscribe') },
  // Iterable documents `emailUnSubscribe` (capital S); the lower-case form also works.
  { name: 'email_unsubscribe', ...event('emailUnSubscribe') },
  {
    name: 'list_users',
    ...fullTable,
    keyProperties: ['email', 'listId'],
    readOnlyKeyAllowed: false,
    read: { kind: 'list-members' },
  },
  { name: 'lists', ...fullTable, read: { kind: 'list-endpoint', path: '/api/lists', recordsKey: 'lists', family: 'lists' } },
  {
    name: 'message_types',
    ...fullTable,
    read: { kind: 'list-endpoint', path: '/api/messageTypes', recordsKey: 'messageTypes', family: 'messageTypes' },
  },
  { name: 'metadata', ...fullTable, keyProperties: ['table', 'key'], read: { kind: 'metadata-walk' } },
  {
    name: 'templates',
    method: 'INCREMENTAL',
    keyProperties: ['templateId'],
    replicationKey: 'updatedAt',
    read: { kind: 'template-fanout' },
  },
  {
    name: 'users',
    method: 'INCREMENTAL',
    keyProperties: ['email'],
    replicationKey: 'profileUpdatedAt',
    readOnlyKeyAllowed: false,
    read: { kind: 'export-windows', dataTypeName: 'user' },
  },
];

const DEFAULTS = { method: 'INCREMENTAL', keyProperties: ['id'], readOnlyKeyAllowed: true } as const;

/** The 16 streams of contract §4, in alphabetical order. */
export const STREAMS: readonly StreamDefinition[] = ENTRIES.map((entry) => ({
  ...DEFAULTS,
  ...entry,
  schema: STREAM_SCHEMAS[entry.name],
}));

/** Every stream name. */
export const STREAM_NAMES: readonly string[] = STREAMS.map((s) => s.name);

/** The definition of a stream by name, or undefined. */
export function findStream(name: string): StreamDefinition | undefined {
  return STREAMS.find((s) => s.name === name);
}
