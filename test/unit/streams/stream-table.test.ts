import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildCatalog, selectedInCatalog } from '../../../src/streams/catalog.js';
import type { JsonSchema } from '../../../src/core/types.js';
import { DEFAULT_STREAMS, STREAMS } from '../../../src/streams/stream-table.js';
import { CAMPAIGN_METRIC_COLUMNS, fakeRows, generateFakeData } from '../../../src/fake-iterable/server.js';

const CONTRACT: Record<string, [string, string[], string | undefined]> = {
  campaigns: ['INCREMENTAL', ['id'], 'updatedAt'],
  channels: ['FULL_TABLE', ['id'], undefined],
  email_bounce: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_click: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_complaint: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_open: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_send: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_send_skip: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_subscribe: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_unsubscribe: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  list_users: ['FULL_TABLE', ['email', 'listId'], undefined],
  lists: ['FULL_TABLE', ['id'], undefined],
  message_types: ['FULL_TABLE', ['id'], undefined],
  metadata: ['FULL_TABLE', ['table', 'key'], undefined],
  templates: ['INCREMENTAL', ['templateId'], 'updatedAt'],
  users: ['INCREMENTAL', ['email'], 'profileUpdatedAt'],
};

/** Contract §4a, in its order: every other export type, named by snake-casing it. */
const EVENT_STREAMS_4A = `hosted_unsubscribe_click, push_send, push_open, push_uninstall, push_bounce,
push_send_skip, in_app_send, in_app_open, in_app_click, in_app_close,
in_app_delete, in_app_delivery, in_app_send_skip, in_app_recall, inbox_session,
inbox_message_impression, sms_send, sms_bounce, sms_click, sms_received,
sms_send_skip, sms_usage_info, web_push_send, web_push_click, web_push_send_skip,
rcs_send, rcs_send_skip, purchase, custom_event, embedded_send,
embedded_send_skip, embedded_click, embedded_received, embedded_impression,
embedded_session, unknown_session, journey_exit, whatsapp_bounce, whatsapp_click,
whatsapp_received, whatsapp_seen, whatsapp_send, whatsapp_send_skip,
whatsapp_usage_info`.split(/,\s*/);

/** Iterable's OpenAPI `dataTypeName` enum of GET /api/export/data.json (shared/reference). */
const OPENAPI_DATA_TYPES = `emailSend emailOpen emailClick hostedUnsubscribeClick emailComplaint emailBounce emailSendSkip pushSend
pushOpen pushUninstall pushBounce pushSendSkip inAppSend inAppOpen inAppClick inAppClose inAppDelete inAppDelivery inAppSendSkip
inAppRecall inboxSession inboxMessageImpression smsSend smsBounce smsClick smsReceived smsSendSkip webPushSend webPushClick
webPushSendSkip rcsSend rcsSendSkip emailSubscribe emailUnSubscribe purchase customEvent user smsUsageInfo embeddedSend
embeddedSendSkip embeddedClick embeddedReceived embeddedImpression embeddedSession unknownSession journeyExit whatsAppBounce
whatsAppClick whatsAppReceived whatsAppSeen whatsAppSend whatsAppSendSkip whatsAppUsageInfo`.split(/\s+/);

/** Contract §4a's campaign metrics: keyed by the campaign id, bookmarked on the campaign's updatedAt. */
const CAMPAIGN_METRICS: [string, string[], string] = ['INCREMENTAL', ['id'], 'updatedAt'];

describe('stream table', () => {
  it('declares the 16 seed streams as defaults, and every other export type and campaign_metrics as opt-in streams', () => {
    assert.deepEqual(DEFAULT_STREAMS.map((s) => s.name).sort(), Object.keys(CONTRACT).sort());
    assert.deepEqual(STREAMS.filter((s) => !s.isDefault).map((s) => s.name), [...EVENT_STREAMS_4A, 'campaign_metrics']);
    assert.equal(STREAMS.length, 61);
    for (const name of EVENT_STREAMS_4A) CONTRACT[name] = ['INCREMENTAL', ['_event_id'], 'createdAt'];
    const exported = STREAMS.flatMap((s) => (s.read.kind === 'export-windows' ? [s.read.dataTypeName] : []));
    assert.deepEqual(exported.sort(), [...OPENAPI_DATA_TYPES].sort(), 'one stream per OpenAPI dataTypeName');
    for (const s of STREAMS) {
      if (s.read.kind !== 'export-windows' || s.isDefault) continue;
      const snake = s.read.dataTypeName.replace('whatsApp', 'whatsapp').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      assert.equal(s.name, snake, 'named by snake-casing the type');
    }
  });

  it('declares every stream with the method, keys and replication key of the contract', () => {
    for (const name of EVENT_STREAMS_4A) CONTRACT[name] = ['INCREMENTAL', ['_event_id'], 'createdAt'];
    assert.deepEqual(STREAMS.map((s) => s.name).sort(), [...Object.keys(CONTRACT), 'campaign_metrics'].sort());
    for (const s of STREAMS) {
      const [method, keys, replicationKey] = s.name === 'campaign_metrics' ? CAMPAIGN_METRICS : CONTRACT[s.name]!;
      assert.equal(s.method, method, s.name);
      assert.deepEqual([...s.keyProperties], keys, s.name);
      assert.equal(s.replicationKey, replicationKey, s.name);
    }
  });

  it("declares every stream's key and replication key in its schema", () => {
    for (const s of STREAMS) {
      for (const field of [...s.keyProperties, ...(s.replicationKey ? [s.replicationKey] : [])]) {
        assert.ok(s.schema.properties?.[field], `${s.name}.${field} missing from schema`);
      }
    }
  });

  it('builds a Singer catalog with standard metadata and reads selections back', () => {
    const catalog = buildCatalog(STREAMS.map((stream) => ({ stream, schema: stream.schema })));
    const send = catalog.streams.find((s) => s.tap_stream_id === 'email_send')!;
    const top = send.metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
    assert.deepEqual(top['table-key-properties'], ['_event_id']);
    assert.equal(top['forced-replication-method'], 'INCREMENTAL');
    assert.deepEqual(top['valid-replication-keys'], ['createdAt']);
    assert.equal(send.metadata.find((m) => m.breadcrumb[1] === 'createdAt')!.metadata.inclusion, 'automatic');
    const selected = catalog.streams.filter((entry) => entry.metadata[0]!.metadata.selected === true).map((entry) => entry.stream);
    assert.deepEqual(selected.sort(), Object.keys(CONTRACT).filter((name) => !EVENT_STREAMS_4A.includes(name)).sort(), 'only the 16 seed streams are selected');
    for (const entry of catalog.streams) entry.metadata[0]!.metadata.selected = entry.stream === 'lists';
    assert.deepEqual(selectedInCatalog(catalog, STREAMS.map((s) => s.name), 'c'), ['lists']);
  });

  it('declares, for each of the 44 opt-in event streams, every field the fake sends for its type (nested ones too)', () => {
    const data = generateFakeData({ seed: 3 });
    const undeclared = (value: unknown, schema: JsonSchema, path: string): string[] => {
      if (Array.isArray(value)) return value.flatMap((item, i) => (schema.items ? undeclared(item, schema.items as JsonSchema, `${path}[${i}]`) : []));
      if (value === null || typeof value !== 'object' || !schema.properties) return [];
      return Object.entries(value).flatMap(([key, inner]) => {
        const property = schema.properties![key];
        return property === undefined ? [`${path}.${key}`] : undeclared(inner, property, `${path}.${key}`);
      });
    };
    for (const stream of STREAMS.filter((s) => !s.isDefault)) {
      if (stream.read.kind !== 'export-windows') continue;
      const rows = [...fakeRows(data, stream.read.dataTypeName)];
      assert.ok(rows.length > 0, stream.name);
      const missing = new Set(rows.flatMap((row) => undeclared(row, stream.schema, stream.name)));
      assert.deepEqual([...missing], [], `${stream.name}: fields sent but not declared`);
    }
  });

  it('declares a number for every metrics column the fake sends, named by snake-casing its header', () => {
    const schema = STREAMS.find((s) => s.name === 'campaign_metrics')!.schema;
    assert.deepEqual(schema.properties!.id, { type: 'integer' });
    assert.equal(schema.properties!.updatedAt!.format, 'date-time');
    for (const header of CAMPAIGN_METRIC_COLUMNS) {
      const column = header.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
      assert.deepEqual(schema.properties![column], { type: ['null', 'number'] }, `${header} → ${column}`);
    }
  });
});
