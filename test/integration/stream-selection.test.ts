import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ENGAGEMENT_DATA_TYPES, generateFakeData, startFakeIterable, type FakeData, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, parseSinger, recordsByStream, runCli } from './cli-harness.js';
import { freshDestination, qualified, rowsOf, snapshot } from './db-snapshot.js';
import { contentOf, EXPORT_STREAMS, expectedCounts, expectedExport } from './expected-records.js';

const KEY = 'test-server-key';

const SEED_STREAMS = [
  'campaigns', 'channels', 'email_bounce', 'email_click', 'email_complaint', 'email_open', 'email_send', 'email_send_skip',
  'email_subscribe', 'email_unsubscribe', 'list_users', 'lists', 'message_types', 'metadata', 'templates', 'users',
];

/** Contract §4a's streams, written out here so the test does not trust the code's own table. */
const EVENT_STREAMS: Record<string, string> = {
  hosted_unsubscribe_click: 'hostedUnsubscribeClick', push_send: 'pushSend', push_open: 'pushOpen', push_uninstall: 'pushUninstall',
  push_bounce: 'pushBounce', push_send_skip: 'pushSendSkip', in_app_send: 'inAppSend', in_app_open: 'inAppOpen',
  in_app_click: 'inAppClick', in_app_close: 'inAppClose', in_app_delete: 'inAppDelete', in_app_delivery: 'inAppDelivery',
  in_app_send_skip: 'inAppSendSkip', in_app_recall: 'inAppRecall', inbox_session: 'inboxSession',
  inbox_message_impression: 'inboxMessageImpression', sms_send: 'smsSend', sms_bounce: 'smsBounce', sms_click: 'smsClick',
  sms_received: 'smsReceived', sms_send_skip: 'smsSendSkip', sms_usage_info: 'smsUsageInfo', web_push_send: 'webPushSend',
  web_push_click: 'webPushClick', web_push_send_skip: 'webPushSendSkip', rcs_send: 'rcsSend', rcs_send_skip: 'rcsSendSkip',
  purchase: 'purchase', custom_event: 'customEvent', embedded_send: 'embeddedSend', embedded_send_skip: 'embeddedSendSkip',
  embedded_click: 'embeddedClick', embedded_received: 'embeddedReceived', embedded_impression: 'embeddedImpression',
  embedded_session: 'embeddedSession', unknown_session: 'unknownSession', journey_exit: 'journeyExit',
  whatsapp_bounce: 'whatsAppBounce', whatsapp_click: 'whatsAppClick', whatsapp_received: 'whatsAppReceived',
  whatsapp_seen: 'whatsAppSeen', whatsapp_send: 'whatsAppSend', whatsapp_send_skip: 'whatsAppSendSkip',
  whatsapp_usage_info: 'whatsAppUsageInfo',
};
const ALL_EXPORT_STREAMS: Record<string, string> = { ...EXPORT_STREAMS, ...EVENT_STREAMS };

/** Every stream beyond the seed ones: the export types, and campaign metrics (contract §4a). */
const OPT_IN_STREAMS = [...Object.keys(EVENT_STREAMS), 'campaign_metrics'];

/** A small project with rows of every export type, so syncing all 61 streams stays quick. */
function smallData(seed: number): FakeData {
  const events = Object.fromEntries(
    [...Object.values(EXPORT_STREAMS).filter((t) => t !== 'user'), ...ENGAGEMENT_DATA_TYPES].map((type) => [type, 7]),
  );
  return generateFakeData({ seed, users: 40, campaigns: 16, metadataKeys: 12, events });
}


function sync(fake: FakeIterable, destination: string, extra: string[] = []) {
  // Windows of a year: the fake's events are in 2024, and few windows keep 53 export streams quick.
  const args = ['sync', '--base-url', fake.url, '--start-date', '2023-12-01', '--window-days', '365', '--destination', destination, ...extra];
  return runCli(args, cliEnv({ ITERABLE_API_KEY: KEY }), { timeoutMs: 240_000 });
}

/** The column types of a table, by column name, as the database reports them (lower case). */
async function columnTypes(destination: string, table: string): Promise<Record<string, string>> {
  const schema = destination.startsWith('duckdb:') ? 'main' : new URL(destination).searchParams.get('schema')!;
  const rows = await rowsOf(
    destination,
    `select column_name, data_type from information_schema.columns where table_schema = '${schema}' and table_name = '${table}'`,
  );
  return Object.fromEntries(rows.map((r) => [String(r.column_name), String(r.data_type).toLowerCase()]));
}

interface CatalogEntry {
  tap_stream_id: string;
  key_properties: string[];
  replication_method: string;
  replication_key?: string;
  schema: { properties: Record<string, { type?: string | string[]; format?: string }> };
  metadata: Array<{ breadcrumb: string[]; metadata: Record<string, unknown> }>;
}

describe('stream selection: the 16 seed streams by default, every export type on request', () => {
  it('discover lists all 61 streams with the contract names, keys and methods, and selects only the 16 seed streams', async () => {
    const result = await runCli(['discover'], cliEnv());
    assert.equal(result.code, 0, result.stderr);
    const streams = (JSON.parse(result.stdout) as { streams: CatalogEntry[] }).streams;
    assert.deepEqual(streams.map((s) => s.tap_stream_id).sort(), [...SEED_STREAMS, ...OPT_IN_STREAMS].sort());
    const metrics = streams.find((s) => s.tap_stream_id === 'campaign_metrics')!;
    assert.deepEqual([metrics.key_properties, metrics.replication_method, metrics.replication_key], [['id'], 'INCREMENTAL', 'updatedAt']);
    assert.deepEqual(metrics.schema.properties.total_email_sends?.type, ['null', 'number']);
    const selected = streams.filter((s) => s.metadata.find((m) => m.breadcrumb.length === 0)!.metadata.selected === true);
    assert.deepEqual(selected.map((s) => s.tap_stream_id).sort(), SEED_STREAMS);
    for (const s of streams.filter((e) => e.tap_stream_id in EVENT_STREAMS)) {
      assert.deepEqual(s.key_properties, ['_event_id'], s.tap_stream_id);
      assert.equal(s.replication_method, 'INCREMENTAL', s.tap_stream_id);
      assert.equal(s.replication_key, 'createdAt', s.tap_stream_id);
      const top = s.metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
      assert.equal(top['forced-replication-method'], 'INCREMENTAL');
      assert.deepEqual(top['valid-replication-keys'], ['createdAt']);
      assert.equal(s.schema.properties.createdAt?.format, 'date-time', `${s.tap_stream_id}.createdAt`);
    }
    // Each type's own fields, typed.
    const props = (name: string) => streams.find((s) => s.tap_stream_id === name)!.schema.properties;
    assert.deepEqual(props('purchase').total?.type, ['null', 'number']);
    assert.deepEqual(props('purchase').items?.type, ['null', 'array']);
    assert.deepEqual(props('custom_event').eventName?.type, ['null', 'string']);
    assert.deepEqual(props('custom_event').dataFields?.type, ['null', 'object']);
    assert.deepEqual(props('sms_send').toPhoneNumber?.type, ['null', 'string']);
    assert.deepEqual(props('push_send').notificationsEnabled?.type, ['null', 'boolean']);
    assert.deepEqual(props('in_app_click').deviceInfo?.type, ['null', 'object']);
    assert.equal(props('in_app_send').expiresAt?.format, 'date-time');
  });

  it('tap selects streams from the config key ("all" or a list); --streams overrides it; unknown names are an error', async () => {
    const fake = await startFakeIterable({ data: smallData(41) });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'iterable-sync-streams-'));
      const configWith = async (streams: unknown) => {
        const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
        await writeFile(path, JSON.stringify({ api_key: KEY, start_date: '2023-12-01', api_window_in_days: 365, base_url: fake.url, streams }));
        return path;
      };
      const schemasOf = (stdout: string) => parseSinger(stdout).filter((m) => m.type === 'SCHEMA').map((m) => m.stream!).sort();

      const all = await runCli(['tap', '--config', await configWith('all')], cliEnv(), { timeoutMs: 240_000 });
      assert.equal(all.code, 0, all.stderr);
      assert.deepEqual(schemasOf(all.stdout), [...SEED_STREAMS, ...OPT_IN_STREAMS].sort());
      // Every record matches its stream's SCHEMA (types and date-time formats).
      const ajv = new Ajv({ strict: false, allErrors: true });
      addFormatsModule.default(ajv);
      const validators = new Map<string, ReturnType<typeof ajv.compile>>();
      for (const m of parseSinger(all.stdout)) {
        if (m.type === 'SCHEMA') validators.set(m.stream!, ajv.compile(m.schema!));
        if (m.type === 'RECORD') assert.ok(validators.get(m.stream!)!(m.record), `${m.stream}: ${JSON.stringify(validators.get(m.stream!)!.errors)}`);
      }
      const records = recordsByStream(parseSinger(all.stdout));
      for (const [stream, type] of Object.entries(EVENT_STREAMS)) {
        assert.deepEqual(contentOf(records.get(stream) ?? []), contentOf(expectedExport(fake.data, type)), `${stream}: every row, normalised`);
      }

      const listed = await runCli(['tap', '--config', await configWith(['purchase', 'custom_event', 'lists'])], cliEnv());
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(schemasOf(listed.stdout), ['custom_event', 'lists', 'purchase']);

      const flagWins = await runCli(['tap', '--config', await configWith('all'), '--streams', 'sms_send'], cliEnv());
      assert.equal(flagWins.code, 0, flagWins.stderr);
      assert.deepEqual(schemasOf(flagWins.stdout), ['sms_send']);

      for (const args of [
        ['sync', '--config', await configWith(['push_sends']), '--destination', freshDestination('duckdb')],
        ['sync', '--config', await configWith('all'), '--streams', 'push_send,whatsApp_send', '--destination', freshDestination('duckdb')],
      ]) {
        const bad = await runCli(args, cliEnv());
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, /unknown stream\(s\) (push_sends|whatsApp_send); valid streams: campaigns, .*whatsapp_send, .*whatsapp_usage_info/);
        assert.equal(bad.stdout, '');
      }
      const malformed = await runCli(['sync', '--config', await configWith({ push_send: true }), '--destination', freshDestination('duckdb')], cliEnv());
      assert.equal(malformed.code, 2, malformed.stderr);
      assert.match(malformed.stderr, /streams must be "all" or a list of stream names/);
    } finally {
      await fake.close();
    }
  });

  for (const kind of ['duckdb', 'postgres'] as const) {
    it(`into ${kind}: a plain sync makes only the 16 seed tables; --streams all lands every stream with typed columns and every row`, async () => {
      const fake = await startFakeIterable({ data: smallData(42) });
      try {
        const plain = freshDestination(kind);
        const first = await sync(fake, plain);
        assert.equal(first.code, 0, first.stderr);
        const streamTables = (names: Iterable<string>) => [...names].filter((name) => !name.startsWith('_')).sort();
        assert.deepEqual(streamTables((await snapshot(plain)).keys()), SEED_STREAMS);

        const destination = freshDestination(kind);
        const all = await sync(fake, destination, ['--streams', 'all']);
        assert.equal(all.code, 0, all.stderr);
        // At most 16 streams run at once (60 at once ran DuckDB out of memory), and the cap is reached.
        let running = 0;
        let mostRunning = 0;
        for (const line of all.stderr.split('\n')) {
          if (/ INFO [a-z_]+: started$/.test(line)) mostRunning = Math.max(mostRunning, ++running);
          if (/ INFO [a-z_]+: (complete|failed|interrupted), /.test(line)) running--;
        }
        assert.equal(mostRunning, 16, all.stderr.slice(0, 3000));
        const tables = await snapshot(destination);
        const expected: Record<string, number> = { ...expectedCounts(fake.data, ALL_EXPORT_STREAMS), campaign_metrics: fake.data.campaigns.length };
        assert.deepEqual(streamTables(tables.keys()), Object.keys(expected).sort());
        for (const [table, n] of Object.entries(expected)) {
          assert.ok(n > 0, `${table}: the fake has rows`);
          assert.equal(tables.get(table)!.length, n, `${table} rows`);
        }
        // Every row, by its own content: createdAt and the identity fields of each event.
        for (const [stream, type] of Object.entries(EVENT_STREAMS)) {
          const got = await rowsOf(destination, `select * from ${qualified(destination, stream)}`);
          const key = (r: Record<string, unknown>) => {
            const at = r.createdAt instanceof Date ? r.createdAt.toISOString() : new Date(String(r.createdAt)).toISOString();
            return `${at}|${String(r.email ?? '')}|${String(r.messageId ?? r.id ?? r.sessionId ?? r.inboxSessionId ?? r.embeddedSessionId ?? r.eventName ?? '')}`;
          };
          assert.deepEqual(got.map(key).sort(), expectedExport(fake.data, type).map(key).sort(), `${stream}: every row`);
        }
        const isPg = kind === 'postgres';
        const [timestamptz, json, bigint, double, boolean] = isPg
          ? ['timestamp with time zone', 'jsonb', 'bigint', 'double precision', 'boolean']
          : ['timestamp with time zone', 'json', 'bigint', 'double', 'boolean'];
        const purchase = await columnTypes(destination, 'purchase');
        assert.equal(purchase.createdAt, timestamptz);
        assert.equal(purchase.total, double);
        assert.equal(purchase.items, json);
        assert.equal(purchase.dataFields, json);
        assert.equal(purchase.campaignId, bigint);
        const sms = await columnTypes(destination, 'sms_send');
        assert.equal(sms.fromSMSSenderId, bigint);
        assert.equal(sms.transactionalData, json);
        assert.equal((await columnTypes(destination, 'push_send')).notificationsEnabled, boolean);
        assert.equal((await columnTypes(destination, 'in_app_send')).expiresAt, timestamptz);
        assert.equal((await columnTypes(destination, 'inbox_session')).impressions, json);
        assert.equal((await columnTypes(destination, 'embedded_impression')).displayDuration, double);
        // Anonymous sessions carry no email and still land, each once.
        const anonymous = await rowsOf(destination, `select count(*) as n from ${qualified(destination, 'unknown_session')} where email is null`);
        assert.equal(Number(anonymous[0]!.n), expected.unknown_session!);
      } finally {
        await fake.close();
      }
    });
  }
});
