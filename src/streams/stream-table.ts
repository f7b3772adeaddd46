import type { JsonSchema } from '../core/types.js';
import type { EndpointFamily } from '../iterable/types.js';
import { USER_ID_FIELDS, USER_IDENTITY, type ProjectType, type UserIdField } from './project-types.js';
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
  | { kind: 'export-windows'; dataTypeName: string }
  /** GET /api/campaigns, then the metrics CSV of the campaigns that may have changed, batched by URL length. */
  | { kind: 'campaign-metrics' };

export type ReplicationMethod = 'INCREMENTAL' | 'FULL_TABLE';

/** The facts of one stream. */
export interface StreamDefinition {
  name: string;
  keyProperties: readonly string[];
  method: ReplicationMethod;
  /**
   * The key properties in a project of each type (contract §4a), for the streams keyed on a user;
   * `keyProperties` holds those of an email project. See `forProjectType`.
   */
  keyPropertiesFor?: (projectType: ProjectType) => readonly string[];
  /** The project type the stream was resolved for (`forProjectType`); undefined = email. */
  projectType?: ProjectType;
  /** Field the bookmark follows (INCREMENTAL streams only). */
  replicationKey?: string;
  /** Every record of a key has the same `replicationKey` value (events: the key hashes the whole record). */
  keyDeterminesReplicationKey?: boolean;
  read: ReadStrategy;
  schema: JsonSchema;
  /**
   * Where the schema comes from: `static`, the declared schema alone; `user-fields`, the declared
   * schema plus the project's custom fields from `GET /api/users/getFields`. Default `static`.
   */
  schemaSource: 'static' | 'user-fields';
  /** One of the 16 seed streams, which run (and are `selected` in the catalog) unless others are named. Default true. */
  isDefault: boolean;
  /** The stream whose records this one is read through (catalog `parent-tap-stream-id`). */
  parentStream?: string;
}

type StreamName = keyof typeof STREAM_SCHEMAS;

type StreamEntry = Pick<StreamDefinition, 'read'> & Partial<Omit<StreamDefinition, 'read' | 'name' | 'schema'>> & { name: StreamName };

const fullTable = { method: 'FULL_TABLE', keyProperties: ['id'] } as const;
const event = (dataTypeName: string) =>
  ({
    method: 'INCREMENTAL',
    keyProperties: ['_event_id'],
    replicationKey: 'createdAt',
    keyDeterminesReplicationKey: true,
    read: { kind: 'export-windows', dataTypeName },
  }) as const;
/** An event stream of contract §4a: read only when named (`--streams`, the `streams` key, or `all`). */
const optIn = (dataTypeName: string) => ({ ...event(dataTypeName), isDefault: false }) as const;

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
  // Subscribe events bring the subscriber's profile along: the project's custom user fields.
  { name: 'email_subscribe', ...event('emailSubscribe'), schemaSource: 'user-fields' },
  // Iterable documents `emailUnSubscribe` (capital S); the lower-case form also works.
  { name: 'email_unsubscribe', ...event('emailUnSubscribe') },
  {
    name: 'list_users',
    ...fullTable,
    keyProperties: ['email', 'listId'],
    keyPropertiesFor: (projectType) => [USER_IDENTITY[projectType].keyField, 'listId'],
    read: { kind: 'list-members' },
    parentStream: 'lists',
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
    keyPropertiesFor: (projectType) => [USER_IDENTITY[projectType].keyField],
    replicationKey: 'profileUpdatedAt',
    read: { kind: 'export-windows', dataTypeName: 'user' },
    schemaSource: 'user-fields',
  },
  // Contract §4a: every other export type, opted into with --streams, one line each.
  { name: 'hosted_unsubscribe_click', ...optIn('hostedUnsubscribeClick') },
  { name: 'push_send', ...optIn('pushSend') },
  { name: 'push_open', ...optIn('pushOpen') },
  { name: 'push_uninstall', ...optIn('pushUninstall') },
  { name: 'push_bounce', ...optIn('pushBounce') },
  { name: 'push_send_skip', ...optIn('pushSendSkip') },
  { name: 'in_app_send', ...optIn('inAppSend') },
  { name: 'in_app_open', ...optIn('inAppOpen') },
  { name: 'in_app_click', ...optIn('inAppClick') },
  { name: 'in_app_close', ...optIn('inAppClose') },
  { name: 'in_app_delete', ...optIn('inAppDelete') },
  { name: 'in_app_delivery', ...optIn('inAppDelivery') },
  { name: 'in_app_send_skip', ...optIn('inAppSendSkip') },
  { name: 'in_app_recall', ...optIn('inAppRecall') },
  { name: 'inbox_session', ...optIn('inboxSession') },
  { name: 'inbox_message_impression', ...optIn('inboxMessageImpression') },
  { name: 'sms_send', ...optIn('smsSend') },
  { name: 'sms_bounce', ...optIn('smsBounce') },
  { name: 'sms_click', ...optIn('smsClick') },
  { name: 'sms_received', ...optIn('smsReceived') },
  { name: 'sms_send_skip', ...optIn('smsSendSkip') },
  { name: 'sms_usage_info', ...optIn('smsUsageInfo') },
  { name: 'web_push_send', ...optIn('webPushSend') },
  { name: 'web_push_click', ...optIn('webPushClick') },
  { name: 'web_push_send_skip', ...optIn('webPushSendSkip') },
  { name: 'rcs_send', ...optIn('rcsSend') },
  { name: 'rcs_send_skip', ...optIn('rcsSendSkip') },
  { name: 'purchase', ...optIn('purchase') },
  { name: 'custom_event', ...optIn('customEvent') },
  { name: 'embedded_send', ...optIn('embeddedSend') },
  { name: 'embedded_send_skip', ...optIn('embeddedSendSkip') },
  { name: 'embedded_click', ...optIn('embeddedClick') },
  { name: 'embedded_received', ...optIn('embeddedReceived') },
  { name: 'embedded_impression', ...optIn('embeddedImpression') },
  { name: 'embedded_session', ...optIn('embeddedSession') },
  { name: 'unknown_session', ...optIn('unknownSession') },
  { name: 'journey_exit', ...optIn('journeyExit') },
  { name: 'whatsapp_bounce', ...optIn('whatsAppBounce') },
  { name: 'whatsapp_click', ...optIn('whatsAppClick') },
  { name: 'whatsapp_received', ...optIn('whatsAppReceived') },
  { name: 'whatsapp_seen', ...optIn('whatsAppSeen') },
  { name: 'whatsapp_send', ...optIn('whatsAppSend') },
  { name: 'whatsapp_send_skip', ...optIn('whatsAppSendSkip') },
  { name: 'whatsapp_usage_info', ...optIn('whatsAppUsageInfo') },
  // Contract §4a: one row per campaign; its bookmark is the start of the last run that read it.
  { name: 'campaign_metrics', replicationKey: 'updatedAt', isDefault: false, read: { kind: 'campaign-metrics' } },
];

const DEFAULTS = { method: 'INCREMENTAL', keyProperties: ['id'], isDefault: true, schemaSource: 'static' } as const;

/** Every stream: the 16 of contract §4 in alphabetical order, then the export types and campaign metrics of §4a. */
export const STREAMS: readonly StreamDefinition[] = ENTRIES.map((entry) => ({
  ...DEFAULTS,
  ...entry,
  schema: STREAM_SCHEMAS[entry.name],
}));

/** Every stream name. */
export const STREAM_NAMES: readonly string[] = STREAMS.map((s) => s.name);

/** The 16 seed streams that run when no stream is named. */
export const DEFAULT_STREAMS: readonly StreamDefinition[] = STREAMS.filter((s) => s.isDefault);

/** Names of {@link DEFAULT_STREAMS}. */
export const DEFAULT_STREAM_NAMES: readonly string[] = DEFAULT_STREAMS.map((s) => s.name);

/**
 * A stream as it runs in a project of this type: the key properties its `keyPropertiesFor`
 * gives, the identity fields of its schema typed to match (the key a non-null string, the other
 * identifiers nullable and declared), and the project type noted for its read strategy. Streams
 * whose key does not depend on the project type come back unchanged.
 */
export function forProjectType(stream: StreamDefinition, projectType: ProjectType): StreamDefinition {
  // Email projects are the seed contract: the stream table already states their keys and schemas.
  if (stream.keyPropertiesFor === undefined || projectType === 'email') return stream;
  const keyProperties = stream.keyPropertiesFor(projectType);
  return { ...stream, keyProperties, projectType, schema: withIdentityFields(stream.schema, USER_IDENTITY[projectType].keyField) };
}

/** Every stream for a project type (see {@link forProjectType}). */
export function streamsForProjectType(streams: readonly StreamDefinition[], projectType: ProjectType): StreamDefinition[] {
  return streams.map((s) => forProjectType(s, projectType));
}

function withIdentityFields(schema: JsonSchema, keyField: UserIdField): JsonSchema {
  const properties: Record<string, JsonSchema> = { ...(schema.properties ?? {}) };
  // The key first, as the email key stood first before; then the other identifiers, nullable.
  const ordered: Record<string, JsonSchema> = { [keyField]: { type: 'string' } };
  for (const field of USER_ID_FIELDS) {
    if (field !== keyField) ordered[field] = { type: ['null', 'string'] };
  }
  for (const [name, property] of Object.entries(properties)) if (!(name in ordered)) ordered[name] = property;
  return { ...schema, properties: ordered };
}
