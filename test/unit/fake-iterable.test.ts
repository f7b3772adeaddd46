import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  ENGAGEMENT_DATA_TYPES,
  EXPORT_DATA_TYPES,
  fakeRows,
  fakeRowsInWindow,
  generateFakeData,
  parseExportTime,
  startFakeIterable,
  TEMPLATE_MEDIA,
  TEMPLATE_TYPES,
  type ExportRow,
  type FakeData,
  type FakeIterable,
  type FakeIterableOptions,
} from '../../src/fake-iterable/server.js';
import { SlidingWindowLimiter } from '../../src/fake-iterable/rate-limit.js';

const SERVER_KEY = 'test-server-key';
const READONLY_KEY = 'test-readonly-key';
const DATA = generateFakeData({});

async function get(fake: FakeIterable, pathAndQuery: string, headers: Record<string, string> = { 'Api-Key': SERVER_KEY }) {
  const res = await fetch(fake.url + pathAndQuery, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function getJson(fake: FakeIterable, pathAndQuery: string, key = SERVER_KEY): Promise<Record<string, unknown>> {
  const res = await get(fake, pathAndQuery, { 'Api-Key': key });
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text) as Record<string, unknown>;
}

/** NDJSON lines of a data.json body (the last line may lack its newline). */
function parseLines(text: string): ExportRow[] {
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ExportRow);
}

function exportPath(params: Record<string, string>): string {
  return `/api/export/data.json?${new URLSearchParams(params).toString()}`;
}

/** A raw HTTP/1.1 GET, to see the chunked framing and truncation that fetch hides. */
async function rawGet(fake: FakeIterable, pathAndQuery: string): Promise<{ head: string; chunks: Buffer[]; isComplete: boolean }> {
  const bytes = await new Promise<Buffer>((resolve) => {
    const parts: Buffer[] = [];
    const socket = connect(fake.port, '127.0.0.1', () => {
      socket.write(`GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:${fake.port}\r\nApi-Key: ${SERVER_KEY}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('error', () => resolve(Buffer.concat(parts)));
    socket.on('close', () => resolve(Buffer.concat(parts)));
  });
  const headEnd = bytes.indexOf('\r\n\r\n');
  const head = bytes.subarray(0, headEnd).toString('latin1');
  const chunks: Buffer[] = [];
  let offset = headEnd + 4;
  let isComplete = false;
  while (offset < bytes.length) {
    const lineEnd = bytes.indexOf('\r\n', offset);
    if (lineEnd < 0) break;
    const size = parseInt(bytes.subarray(offset, lineEnd).toString('latin1'), 16);
    if (size === 0) {
      isComplete = true;
      break;
    }
    if (lineEnd + 2 + size > bytes.length) {
      chunks.push(bytes.subarray(lineEnd + 2));
      break;
    }
    chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return { head, chunks, isComplete };
}

function timeOf(row: ExportRow, field = 'createdAt'): number {
  const ms = parseExportTime(String(row[field]));
  assert.ok(ms !== undefined, `unparseable ${field}: ${String(row[field])}`);
  return ms;
}

async function withFake<T>(options: FakeIterableOptions, body: (fake: FakeIterable) => Promise<T>): Promise<T> {
  const fake = await startFakeIterable(options);
  try {
    return await body(fake);
  } finally {
    await fake.close();
  }
}

describe('fake Iterable', () => {
  let fake: FakeIterable;
  before(async () => {
    fake = await startFakeIterable({ data: DATA });
  });
  after(() => fake.close());

  describe('authentication', () => {
    it('accepts the key from Api-Key, api_key (any case) and legacy ?api_key=', async () => {
      assert.equal((await get(fake, '/api/channels', { 'Api-Key': SERVER_KEY })).status, 200);
      assert.equal((await get(fake, '/api/channels', { api_key: SERVER_KEY })).status, 200);
      assert.equal((await get(fake, '/api/channels', { API_KEY: SERVER_KEY })).status, 200);
      assert.equal((await get(fake, `/api/channels?api_key=${SERVER_KEY}`, {})).status, 200);
      const last = fake.requests.at(-1);
      assert.equal(last?.keyRole, 'server');
      assert.equal(last?.status, 200);
    });

    it('answers 401 BadApiKey with ip and endpoint for a missing or unknown key', async () => {
      for (const headers of [{}, { 'Api-Key': 'nope' }] as Record<string, string>[]) {
        const res = await get(fake, '/api/lists', headers);
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
        assert.deepEqual(JSON.parse(res.text), {
          msg: 'Invalid API key',
          code: 'BadApiKey',
          params: { ip: '127.0.0.1', endpoint: '/api/lists' },
        });
      }
      assert.equal(fake.requests.at(-1)?.keyRole, null);
    });

    it('lets a read-only key read metadata endpoints but not exports or getUsers (401 Unauthorized)', async () => {
      for (const path of ['/api/campaigns', '/api/channels', '/api/lists', '/api/messageTypes', '/api/metadata', '/api/templates', '/api/users/getFields']) {
        assert.equal((await get(fake, path, { 'Api-Key': READONLY_KEY })).status, 200, path);
      }
      const listId = DATA.lists[0]?.id ?? 0;
      for (const path of [exportPath({ dataTypeName: 'emailSend', range: 'All' }), `/api/lists/getUsers?listId=${listId}`]) {
        const res = await get(fake, path, { 'Api-Key': READONLY_KEY });
        assert.equal(res.status, 401);
        const body = JSON.parse(res.text) as { code: string; params: { endpoint: string } };
        assert.equal(body.code, 'Unauthorized');
        assert.equal(body.params.endpoint, path.split('?')[0]);
      }
    });

    it('can answer 403 Forbidden for a permission refusal, and accept any key in simulate mode', async () => {
      await withFake({ data: DATA, permissionDeniedStatus: 403 }, async (f) => {
        const res = await get(f, exportPath({ dataTypeName: 'user', range: 'All' }), { 'Api-Key': READONLY_KEY });
        assert.equal(res.status, 403);
        assert.equal((JSON.parse(res.text) as { code: string }).code, 'Forbidden');
      });
      await withFake({ data: DATA, keys: 'any' }, async (f) => {
        assert.equal((await get(f, '/api/lists', { 'Api-Key': 'whatever' })).status, 200);
        assert.equal((await get(f, '/api/lists', {})).status, 401);
      });
    });
  });

  describe('conventions', () => {
    it('answers an unknown route with the HTML "Action not found" page', async () => {
      for (const path of ['/api/nope', '/api/lists/', '/api/export/123/status']) {
        const res = await get(fake, path);
        assert.equal(res.status, 404);
        assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
        assert.match(res.text, /Action not found/);
      }
    });

    it('sends Iterable-like headers: Server iterable-ingress <hex>, Request-Time, JSON charset', async () => {
      const res = await get(fake, '/api/channels');
      assert.match(res.headers.get('server') ?? '', /^iterable-ingress [0-9a-f]{4}$/);
      assert.match(res.headers.get('request-time') ?? '', /^\d+$/);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(res.headers.get('retry-after'), null);
    });

    it('form-decodes the query and takes the first of repeated parameters, as tap-iterable sends them', async () => {
      const single = 'dataTypeName=emailSend&startDateTime=2024-01-01+00%3A00%3A00&endDateTime=2024-01-31+00%3A00%3A00';
      const once = await get(fake, `/api/export/data.json?${single}`);
      const twice = await get(fake, `/api/export/data.json?${single}&${single}&stream=True`);
      assert.equal(once.status, 200);
      assert.equal(twice.text, once.text);
      assert.ok(parseLines(once.text).length > 100);
    });
  });

  describe('JSON endpoints', () => {
    it('serves channels, lists newest first, message types and getFields with epoch-ms integers', async () => {
      assert.deepEqual((await getJson(fake, '/api/channels')).channels, DATA.channels);
      const lists = (await getJson(fake, '/api/lists')).lists as { createdAt: number; listType: string }[];
      assert.equal(lists.length, DATA.lists.length);
      assert.ok(lists.every((l, i) => i === 0 || (lists[i - 1]?.createdAt ?? 0) >= l.createdAt));
      assert.ok(new Set(lists.map((l) => l.listType)).has('Dynamic'));
      const messageTypes = (await getJson(fake, '/api/messageTypes')).messageTypes as { createdAt: unknown }[];
      assert.ok(messageTypes.every((m) => Number.isInteger(m.createdAt)));
      const fields = (await getJson(fake, '/api/users/getFields')).fields as Record<string, string>;
      assert.equal(fields.Industry, 'string');
      assert.equal(fields.industry, 'string');
      assert.equal(fields['itblInternal.emailDomain'], 'string');
      assert.equal(fields.profileUpdatedAt, 'date');
    });

    it('pages campaigns: 20 by default, absolute nextPageUrl with every parameter, no previousPageUrl on page 1', async () => {
      const first = await getJson(fake, '/api/campaigns?sort=id&extra=1');
      assert.equal((first.campaigns as unknown[]).length, 20);
      assert.equal(first.totalCampaignsCount, DATA.campaigns.length);
      assert.equal(first.previousPageUrl, undefined);
      const next = new URL(String(first.nextPageUrl));
      assert.equal(next.origin, fake.url);
      assert.equal(next.searchParams.get('page'), '2');
      assert.equal(next.searchParams.get('extra'), '1');
      const ids: number[] = [];
      let url: string | undefined = `${fake.url}/api/campaigns?pageSize=7`;
      let pages = 0;
      while (url !== undefined) {
        const body = (await (await fetch(url, { headers: { 'Api-Key': SERVER_KEY } })).json()) as Record<string, unknown>;
        ids.push(...(body.campaigns as { id: number }[]).map((c) => c.id));
        if (pages > 0) assert.ok(typeof body.previousPageUrl === 'string');
        url = body.nextPageUrl as string | undefined;
        pages++;
      }
      assert.equal(pages, Math.ceil(DATA.campaigns.length / 7));
      assert.deepEqual(ids, DATA.campaigns.map((c) => c.id).sort((a, b) => a - b));
      assert.equal((await get(fake, '/api/campaigns?pageSize=1001')).status, 400);
      assert.equal((await get(fake, '/api/campaigns?page=0')).status, 400);
    });

    it('answers the legacy unpaginated shape when configured', async () => {
      await withFake({ data: DATA, pagination: 'legacy' }, async (f) => {
        const body = await getJson(f, '/api/campaigns');
        assert.deepEqual(Object.keys(body), ['campaigns']);
        assert.equal((body.campaigns as unknown[]).length, DATA.campaigns.length);
        const paged = await getJson(f, '/api/campaigns?page=1&pageSize=5');
        assert.equal(paged.totalCampaignsCount, DATA.campaigns.length);
      });
    });

    it('filters campaigns by repeated or comma-separated campaignState and sorts descending', async () => {
      const repeated = await getJson(fake, '/api/campaigns?campaignState=Running&campaignState=Finished&pageSize=1000');
      const comma = await getJson(fake, '/api/campaigns?campaignState=Running,Finished&pageSize=1000&sort=-updatedAt');
      const states = (repeated.campaigns as { campaignState: string }[]).map((c) => c.campaignState);
      assert.ok(states.length > 0 && states.every((s) => s === 'Running' || s === 'Finished'));
      const updated = (comma.campaigns as { updatedAt: number }[]).map((c) => c.updatedAt);
      assert.equal(updated.length, states.length);
      assert.deepEqual(updated, [...updated].sort((a, b) => b - a));
      assert.equal((await get(fake, '/api/campaigns?campaignState=Bogus')).status, 400);
      const campaigns = (await getJson(fake, '/api/campaigns?pageSize=1000')).campaigns as Record<string, unknown>[];
      assert.ok(campaigns.every((c) => Object.values(c).every((v) => v !== null)), 'optional keys are omitted, never null');
      assert.ok(campaigns.some((c) => c.startAt === undefined) && campaigns.some((c) => Array.isArray(c.listIds)));
    });

    it('lists every template under exactly one of the 16 type × medium pairs', async () => {
      const seen = new Map<number, string>();
      for (const type of TEMPLATE_TYPES) {
        for (const medium of TEMPLATE_MEDIA) {
          const body = await getJson(fake, `/api/templates?templateType=${type}&messageMedium=${medium}&pageSize=1000`);
          const templates = body.templates as { templateId: number; updatedAt: unknown }[];
          assert.ok(templates.length > 0, `${type}/${medium} is empty`);
          for (const t of templates) {
            assert.ok(Number.isInteger(t.updatedAt));
            assert.equal(seen.has(t.templateId), false, `template ${t.templateId} under two pairs`);
            seen.set(t.templateId, `${type}/${medium}`);
          }
        }
      }
      assert.equal(seen.size, DATA.templates.length);
      const created = DATA.templates.map((t) => t.template.createdAt).sort((a, b) => a - b);
      const pivot = created[Math.floor(created.length / 2)] ?? 0;
      const since = new Date(pivot).toISOString().slice(0, 19).replace('T', ' ');
      const body = await getJson(fake, `/api/templates?startDateTime=${encodeURIComponent(since)}&pageSize=1000`);
      const expected = DATA.templates.filter((t) => t.template.createdAt >= Math.floor(pivot / 1000) * 1000).length;
      assert.equal((body.templates as unknown[]).length, expected);
    });
  });

  describe('metadata', () => {
    it('pages keys with an opaque nextMarker until the table is exhausted', async () => {
      await withFake({ data: DATA, metadataPageSize: 100 }, async (f) => {
        const keys: string[] = [];
        let marker: string | undefined;
        let pages = 0;
        do {
          const body = await getJson(f, `/api/metadata/Products${marker === undefined ? '' : `?nextMarker=${encodeURIComponent(marker)}`}`, READONLY_KEY);
          keys.push(...(body.results as { key: string; table: string }[]).map((r) => r.key));
          marker = body.nextMarker as string | undefined;
          pages++;
        } while (marker !== undefined);
        const table = DATA.metadata.find((t) => t.name === 'products');
        assert.equal(pages, Math.ceil((table?.keys.length ?? 0) / 100));
        assert.deepEqual(keys, table?.keys.map((k) => k.key));
        assert.equal((await get(f, '/api/metadata/products?nextMarker=garbage')).status, 400);
      });
    });

    it('returns an empty list for a missing table and a NotFound 404 for a missing key', async () => {
      assert.deepEqual(await getJson(fake, '/api/metadata/doesnotexist'), { results: [] });
      const missing = await get(fake, '/api/metadata/stores/dnuofton');
      assert.equal(missing.status, 404);
      assert.deepEqual(JSON.parse(missing.text), {
        msg: 'No metadata found in table stores with key dnuofton',
        code: 'NotFound',
        params: null,
      });
      const value = await getJson(fake, '/api/metadata/config/main');
      assert.equal(value.table, 'Config');
      assert.equal(value.key, 'main');
      assert.equal(typeof value.size, 'number');
      assert.ok(DATA.metadata.filter((t) => t.keys.some((k) => k.key === 'main')).length >= 2, 'same key in two tables');
    });
  });

  describe('getUsers', () => {
    it('streams members as text/plain with a newline after every line', async () => {
      const list = DATA.lists.find((l) => (DATA.listMembers.get(l.id)?.length ?? 0) > 3);
      assert.ok(list);
      const res = await get(fake, `/api/lists/getUsers?listId=${list.id}&listId=${list.id}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.ok(res.text.endsWith('\n'));
      assert.deepEqual(res.text.split('\n').slice(0, -1), DATA.listMembers.get(list.id));
      const empty = DATA.lists.find((l) => (DATA.listMembers.get(l.id)?.length ?? 0) === 0);
      assert.ok(empty);
      assert.equal((await get(fake, `/api/lists/getUsers?listId=${empty.id}`)).text, '');
    });

    it('refuses an unknown or missing listId with 400 BadParams', async () => {
      const res = await get(fake, '/api/lists/getUsers?listId=42');
      assert.equal(res.status, 400);
      assert.deepEqual(JSON.parse(res.text), {
        msg: 'Invalid email list id',
        code: 'BadParams',
        params: { projectId: '2158', listId: '42' },
      });
      assert.equal((await get(fake, '/api/lists/getUsers')).status, 400);
    });
  });

  describe('export data.json', () => {
    it('returns exactly the rows in [start, end), boundary instants included at the start only, unsorted', async () => {
      const res = await get(fake, exportPath({ dataTypeName: 'emailSend', startDateTime: '2024-02-01 00:00:00', endDateTime: '2024-03-01 00:00:00' }));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/x-json-stream');
      const rows = parseLines(res.text);
      const start = Date.UTC(2024, 1, 1);
      const end = Date.UTC(2024, 2, 1);
      const expected = [...fakeRows(DATA, 'emailSend')].filter((r) => timeOf(r) >= start && timeOf(r) < end);
      assert.equal(rows.length, expected.length);
      const key = (r: ExportRow) => JSON.stringify(r);
      assert.deepEqual(new Set(rows.map(key)), new Set(expected.map(key)));
      assert.ok(rows.some((r) => r.createdAt === '2024-02-01 00:00:00 +00:00'), 'row at the start instant');
      assert.ok(!rows.some((r) => r.createdAt === '2024-03-01 00:00:00 +00:00'), 'row at the end instant excluded');
      assert.ok([...fakeRows(DATA, 'emailSend')].some((r) => r.createdAt === '2024-03-01 00:00:00 +00:00'));
      assert.ok(rows.some((r) => / \d\d:\d\d:\d\d\.\d{3} \+00:00$/.test(String(r.createdAt))), 'some createdAt carry millis');
      const times = rows.map((r) => timeOf(r));
      assert.ok(times.some((t, i) => i > 0 && t < (times[i - 1] ?? 0)), 'rows are not sorted');
      assert.equal(res.text.endsWith('\n'), rows.length % 2 === 0, 'final newline only after an even row count');
    });

    it('reads zone-less, offset, Z and ISO 8601 dates the same way and refuses a lone date', async () => {
      const base = { dataTypeName: 'emailOpen' };
      const texts = new Set<string>();
      for (const [startDateTime, endDateTime] of [
        ['2024-01-10 00:00:00', '2024-01-20 00:00:00'],
        ['2024-01-10 00:00:00 +00:00', '2024-01-20 00:00:00 +00:00'],
        ['2024-01-10 01:00:00 +01:00', '2024-01-19 19:00:00 -05:00'],
        ['2024-01-10T00:00:00Z', '2024-01-20T00:00:00.000Z'],
      ] as const) {
        const res = await get(fake, exportPath({ ...base, startDateTime, endDateTime }));
        assert.equal(res.status, 200, `${startDateTime}: ${res.text}`);
        texts.add(res.text);
      }
      assert.equal(texts.size, 1);
      const refused: Record<string, string>[] = [
        { ...base, startDateTime: '2024-01-10', endDateTime: '2024-01-20' },
        { ...base, startDateTime: '2024-01-10 00:00:00' },
        { ...base, startDateTime: 'yesterday', endDateTime: '2024-01-20 00:00:00' },
        { dataTypeName: 'emailTeleport', range: 'All' },
        { range: 'All' },
        { ...base, range: 'LastWeek' },
      ];
      const unencodedPlus = await get(fake, '/api/export/data.json?dataTypeName=emailOpen&startDateTime=2024-01-10+00:00:00+%2B00:00&endDateTime=2024-01-20+00:00:00+00:00');
      assert.equal(unencodedPlus.status, 400, 'a raw + in the zone arrives as a space');
      for (const params of refused) {
        const res = await get(fake, exportPath(params));
        assert.equal(res.status, 400, JSON.stringify(params));
        assert.equal((JSON.parse(res.text) as { code: string }).code, 'BadParams');
      }
    });

    it('answers an empty window with 200 and an empty body, and knows range=Today/Yesterday/All', async () => {
      const empty = await get(fake, exportPath({ dataTypeName: 'emailSend', startDateTime: '2030-01-01 00:00:00', endDateTime: '2030-02-01 00:00:00' }));
      assert.equal(empty.status, 200);
      assert.equal(empty.text, '');
      const pushSends = parseLines((await get(fake, exportPath({ dataTypeName: 'pushSend', range: 'All' }))).text);
      assert.equal(pushSends.length, [...fakeRows(DATA, 'pushSend')].length);
      await withFake({ data: generateFakeData({ events: { pushSend: 0 } }) }, async (f) => {
        assert.equal((await get(f, exportPath({ dataTypeName: 'pushSend', range: 'All' }))).text, '');
      });
      await withFake({ data: DATA, now: () => new Date('2024-02-02T10:00:00Z') }, async (f) => {
        const inDay = (day: number) => [...fakeRows(DATA, 'emailClick')].filter((r) => timeOf(r) >= day && timeOf(r) < day + 86_400_000).length;
        const today = parseLines((await get(f, exportPath({ dataTypeName: 'emailClick', range: 'Today' }))).text);
        const yesterday = parseLines((await get(f, exportPath({ dataTypeName: 'emailClick' , range: 'Yesterday' }))).text);
        const byDefault = parseLines((await get(f, exportPath({ dataTypeName: 'emailClick' }))).text);
        assert.equal(today.length, inDay(Date.UTC(2024, 1, 2)));
        assert.equal(yesterday.length, inDay(Date.UTC(2024, 1, 1)));
        assert.equal(byDefault.length, today.length);
      });
      const all = parseLines((await get(fake, exportPath({ dataTypeName: 'emailClick', range: 'All' }))).text);
      assert.equal(all.length, [...fakeRows(DATA, 'emailClick')].length);
    });

    it('matches dataTypeName case-insensitively, so emailUnsubscribe and emailUnSubscribe agree', async () => {
      const a = await get(fake, exportPath({ dataTypeName: 'emailUnSubscribe', range: 'All' }));
      const b = await get(fake, exportPath({ dataTypeName: 'emailUnsubscribe', range: 'All' }));
      assert.equal(a.status, 200);
      assert.equal(a.text, b.text);
      assert.equal(parseLines(a.text).length, [...fakeRows(DATA, 'emailUnsubscribe')].length);
    });

    it('applies onlyFields (keeping createdAt), omitFields and campaignId', async () => {
      const only = parseLines((await get(fake, '/api/export/data.json?dataTypeName=emailSend&range=All&onlyFields=email&onlyFields=campaignId,messageId')).text);
      assert.ok(only.length > 0);
      assert.ok(only.every((r) => Object.keys(r).sort().join() === 'campaignId,createdAt,email,messageId'));
      const omit = parseLines((await get(fake, exportPath({ dataTypeName: 'emailSend', range: 'All', omitFields: 'messageBusId,contentId' }))).text);
      assert.ok(omit.every((r) => !('messageBusId' in r) && !('contentId' in r) && 'email' in r));
      const campaignId = Number(only[0]?.campaignId);
      const one = parseLines((await get(fake, exportPath({ dataTypeName: 'emailSend', range: 'All', campaignId: String(campaignId) }))).text);
      assert.ok(one.length > 0 && one.every((r) => r.campaignId === campaignId));
    });

    it('exports raw Iterable shapes: transactionalData as a string, flat users with dotted keys, each user once', async () => {
      const sends = parseLines((await get(fake, exportPath({ dataTypeName: 'emailSend', range: 'All' }))).text);
      const withData = sends.filter((r) => 'transactionalData' in r);
      assert.ok(withData.length > 0 && withData.every((r) => typeof r.transactionalData === 'string'));
      const looksAlike = new Map<string, number>();
      for (const r of sends) {
        const k = `${String(r.email)}|${String(r.campaignId)}|${String(r.messageId)}`;
        looksAlike.set(k, (looksAlike.get(k) ?? 0) + 1);
      }
      assert.ok([...looksAlike.values()].some((n) => n > 1), 'same email, campaign and message at different times');
      const users = parseLines((await get(fake, exportPath({ dataTypeName: 'user', range: 'All' }))).text);
      assert.equal(new Set(users.map((u) => u.email)).size, users.length);
      assert.ok(users.every((u) => !('dataFields' in u) && typeof u['itblInternal.emailDomain'] === 'string'));
      assert.ok(users.some((u) => 'Industry' in u && 'industry' in u));
      const window = fakeRowsInWindow(DATA, 'user', new Date('2024-02-01T00:00:00Z'), new Date('2024-02-15T00:00:00Z'));
      const served = parseLines((await get(fake, exportPath({ dataTypeName: 'user', startDateTime: '2024-02-01 00:00:00', endDateTime: '2024-02-15 00:00:00' }))).text);
      assert.deepEqual(served, window);
      assert.ok(served.some((u) => u.profileUpdatedAt === '2024-02-01 00:00:00 +00:00'));
    });

    it('cuts HTTP chunks at a fixed byte size, regardless of line ends', async () => {
      await withFake({ data: DATA, chunkBytes: 100 }, async (f) => {
        const { head, chunks, isComplete } = await rawGet(f, exportPath({ dataTypeName: 'emailBounce', range: 'All' }));
        assert.match(head, /transfer-encoding: chunked/i);
        assert.ok(isComplete);
        assert.ok(chunks.length > 10);
        assert.ok(chunks.slice(0, -1).every((c) => c.length === 100));
        assert.ok(chunks.some((c) => c.at(-1) !== 10), 'some chunk ends mid-line');
      });
    });
  });

  describe('faults', () => {
    it('answers an injected status with the real body, consumed FIFO per matching request', async () => {
      fake.inject({ kind: 'status', path: '/api/export/data.json', dataTypeName: 'emailopen', status: 500, times: 2 });
      fake.inject({ kind: 'status', path: '/api/export/data.json', status: 429, retryAfterSeconds: 7 });
      const other = await get(fake, exportPath({ dataTypeName: 'emailClick', range: 'All' }));
      assert.equal(other.status, 429);
      assert.equal(other.headers.get('retry-after'), '7');
      assert.deepEqual(JSON.parse(other.text), {
        msg: 'Exceeded rate limit of 4.0 per minute for endpoint: /api/export/data.json, project: 2158 ',
        code: 'RateLimitExceeded',
        params: {},
      });
      for (let n = 0; n < 2; n++) {
        const res = await get(fake, exportPath({ dataTypeName: 'emailOpen', range: 'All' }));
        assert.equal(res.status, 500);
        assert.deepEqual(JSON.parse(res.text), {
          msg: 'An error occurred. Please try again later. If problem persists, please contact your CSM',
          code: 'GenericError',
          params: null,
        });
      }
      assert.equal((await get(fake, exportPath({ dataTypeName: 'emailOpen', range: 'All' }))).status, 200);
    });

    it('knows the 503, 502/504 and per-endpoint 429 bodies', async () => {
      const listId = DATA.lists[0]?.id ?? 0;
      fake.inject({ kind: 'status', path: '/api/lists/getUsers', status: 503 });
      fake.inject({ kind: 'status', path: '/api/lists/getUsers', status: 429 });
      fake.inject({ kind: 'status', path: '/api/campaigns', status: 502 });
      const timeout = await get(fake, `/api/lists/getUsers?listId=${listId}`);
      assert.equal(timeout.status, 503);
      assert.deepEqual(JSON.parse(timeout.text), { msg: 'Request timeout. Try again later.', code: 'GenericError', params: null });
      const limited = await get(fake, `/api/lists/getUsers?listId=${listId}`);
      assert.match(limited.text, /Exceeded rate limit of 5\.0 per minute for endpoint: \/api\/lists\/getUsers, project: 2158 /);
      const gateway = await get(fake, '/api/campaigns');
      assert.equal(gateway.status, 502);
      assert.match(gateway.headers.get('content-type') ?? '', /text\/html/);
    });

    it('cuts a stream mid-line and drops the connection without the last chunk', async () => {
      fake.inject({ kind: 'cut', path: '/api/export/data.json', afterLines: 5 });
      const { chunks, isComplete } = await rawGet(fake, exportPath({ dataTypeName: 'emailSend', range: 'All' }));
      assert.equal(isComplete, false);
      const body = Buffer.concat(chunks).toString('utf8');
      const lines = body.split('\n');
      assert.equal(lines.length, 6);
      assert.ok((lines[5] ?? '').length > 0, 'a partial sixth line');
      assert.throws(() => JSON.parse(lines[5] ?? ''));
      fake.inject({ kind: 'cut', path: '/api/export/data.json', afterLines: 3 });
      const res = await fetch(fake.url + exportPath({ dataTypeName: 'emailSend', range: 'All' }), { headers: { 'Api-Key': SERVER_KEY } });
      assert.equal(res.status, 200);
      await assert.rejects(res.text());
    });

    it('inserts a malformed line and continues', async () => {
      fake.inject({ kind: 'malformed', path: '/api/export/data.json', afterLines: 2, text: '{"email":"broken' });
      const res = await get(fake, exportPath({ dataTypeName: 'emailComplaint', range: 'All' }));
      const lines = res.text.split('\n').filter((l) => l !== '');
      assert.equal(lines[2], '{"email":"broken');
      assert.equal(lines.length, [...fakeRows(DATA, 'emailComplaint')].length + 1);
    });

    it('stalls after N lines, slows chunks, and close() cancels a pending stall', async () => {
      fake.inject({ kind: 'stall', path: '/api/export/data.json', afterLines: 3, ms: 300 });
      // Timed from the request: on a busy machine the first read may return late, inside the stall.
      const requestedAt = performance.now();
      const res = await fetch(fake.url + exportPath({ dataTypeName: 'emailComplaint', range: 'All' }), { headers: { 'Api-Key': SERVER_KEY } });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      assert.equal(new TextDecoder().decode(first.value).split('\n').length, 4);
      while (!(await reader.read()).done);
      assert.ok(performance.now() - requestedAt >= 300, 'the rest came after the stall');

      await withFake({ data: DATA, chunkBytes: 200 }, async (f) => {
        f.inject({ kind: 'slow', path: '/api/lists/getUsers', msPerChunk: 25 });
        const list = DATA.lists.find((l) => (DATA.listMembers.get(l.id)?.length ?? 0) > 30);
        assert.ok(list);
        const started = performance.now();
        const slow = await get(f, `/api/lists/getUsers?listId=${list.id}`);
        const chunks = Math.ceil(Buffer.byteLength(slow.text) / 200);
        assert.ok(performance.now() - started >= chunks * 25 * 0.8);
        assert.deepEqual(slow.text.split('\n').slice(0, -1), DATA.listMembers.get(list.id));
      });

      const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const f = await startFakeIterable({ data: DATA });
      f.inject({ kind: 'stall', path: '/api/export/data.json', afterLines: 1, ms: 60_000 });
      const stalled = await fetch(f.url + exportPath({ dataTypeName: 'emailSend', range: 'All' }), { headers: { 'Api-Key': SERVER_KEY } });
      await (stalled.body as ReadableStream<Uint8Array>).getReader().read();
      const closing = performance.now();
      await f.close();
      assert.ok(performance.now() - closing < 2000);
      const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      assert.ok(timersAfter <= timersBefore, `timers before ${timersBefore}, after close ${timersAfter}`);
    });

    it('adds late rows from the Nth matching export call on', async () => {
      await withFake({ data: DATA }, async (f) => {
        const late: ExportRow = { email: 'late@example.com', createdAt: '2024-01-15 12:00:00 +00:00', campaignId: 1, messageId: 'f'.repeat(32) };
        f.inject({ kind: 'late', path: '/api/export/data.json', dataTypeName: 'emailSend', rows: [late], fromCall: 2 });
        const path = exportPath({ dataTypeName: 'emailSend', startDateTime: '2024-01-15 00:00:00', endDateTime: '2024-01-16 00:00:00' });
        const has = async () => parseLines((await get(f, path)).text).some((r) => r.email === 'late@example.com');
        assert.equal(await has(), false);
        assert.equal(await has(), true);
        assert.equal(await has(), true);
      });
    });
  });

  describe('rate limits', () => {
    it('allows 4 exports per scaled minute, then 429s with the real body until the window slides', async () => {
      await withFake({ data: DATA, rateLimits: { timeScale: 60 } }, async (f) => {
        const path = exportPath({ dataTypeName: 'emailComplaint', range: 'All' });
        for (let n = 0; n < 4; n++) assert.equal((await get(f, path)).status, 200);
        const refused = await get(f, path);
        assert.equal(refused.status, 429);
        assert.equal(refused.headers.get('retry-after'), null);
        assert.equal(
          refused.text,
          '{"msg":"Exceeded rate limit of 4.0 per minute for endpoint: /api/export/data.json, project: 2158 ","code":"RateLimitExceeded","params":{}}',
        );
        assert.equal((await get(f, '/api/metadata')).status, 200, 'metadata is not limited');
        await new Promise((resolve) => setTimeout(resolve, 1050));
        assert.equal((await get(f, path)).status, 200);
      });
    });

    it('keeps a sliding window per endpoint family', () => {
      const limiter = new SlidingWindowLimiter(1);
      for (let n = 0; n < 3; n++) assert.ok(limiter.tryAcquire('userFields', 1000 + n).isAllowed);
      const refused = limiter.tryAcquire('userFields', 1500);
      assert.ok(!refused.isAllowed && refused.retryAfterMs === 500);
      assert.ok(limiter.tryAcquire('campaigns', 1500).isAllowed, 'other families are independent');
      assert.ok(limiter.tryAcquire('userFields', 2000).isAllowed);
      for (let n = 0; n < 1000; n++) assert.ok(limiter.tryAcquire('metadata', 0).isAllowed);
      const lists = new SlidingWindowLimiter(60);
      for (let n = 0; n < 5; n++) assert.ok(lists.tryAcquire('listUsers', 0).isAllowed);
      assert.ok(!lists.tryAcquire('listUsers', 999).isAllowed);
      assert.ok(lists.tryAcquire('listUsers', 1000).isAllowed);
    });
  });

  describe('generated data', () => {
    it('is deterministic from the seed', () => {
      const a = generateFakeData({ seed: 7, users: 20 });
      const b = generateFakeData({ seed: 7, users: 20 });
      const c = generateFakeData({ seed: 8, users: 20 });
      assert.deepEqual([...fakeRows(a, 'emailSend')], [...fakeRows(b, 'emailSend')]);
      assert.notDeepEqual([...fakeRows(a, 'emailSend')], [...fakeRows(c, 'emailSend')]);
    });

    it('streams 300k generated rows unsorted, matching fakeRows, with flat memory', async () => {
      const data: FakeData = generateFakeData({ generated: { emailSend: 300_000 } });
      await withFake({ data }, async (f) => {
        const start = new Date('2024-01-20T00:00:00Z');
        const end = new Date('2024-03-20T00:00:00Z');
        let expected = 0;
        for (const row of fakeRows(data, 'emailSend')) {
          const t = timeOf(row);
          if (t >= start.getTime() && t < end.getTime()) expected++;
        }
        const res = await fetch(f.url + exportPath({ dataTypeName: 'emailSend', startDateTime: '2024-01-20 00:00:00', endDateTime: '2024-03-20 00:00:00' }), {
          headers: { 'Api-Key': SERVER_KEY },
        });
        const baseline = process.memoryUsage().rss;
        let peak = baseline;
        let lines = 0;
        let bytes = 0;
        let tail = '';
        let firstLines = '';
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
          if (firstLines.length < 2000) firstLines += Buffer.from(chunk).toString('utf8');
          tail = Buffer.from(chunk.subarray(-1)).toString('latin1');
          if (lines % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
        }
        if (tail !== '\n') lines++;
        assert.equal(lines, expected);
        assert.ok(bytes > 50_000_000, `${bytes} bytes`);
        assert.ok(peak - baseline < 80_000_000, `rss grew by ${peak - baseline} bytes while streaming ${bytes}`);
        const times = firstLines.split('\n').slice(0, 4).map((l) => timeOf(JSON.parse(l) as ExportRow));
        assert.ok(times.some((t, i) => i > 0 && t < (times[i - 1] ?? 0)));
      });
    });
  });
});

describe('fake Iterable: the 44 other export types', () => {
  it('holds rows of every documented type, each type with its own fields', () => {
    for (const type of EXPORT_DATA_TYPES) {
      const rows = [...fakeRows(DATA, type)];
      assert.ok(rows.length > 0, `${type} has rows`);
      const timeField = type === 'user' ? 'profileUpdatedAt' : 'createdAt';
      for (const row of rows) assert.ok(parseExportTime(String(row[timeField])) !== undefined, `${type}: ${timeField} in the export format`);
    }
    const fieldsOf = (type: string) => new Set([...fakeRows(DATA, type)].flatMap((row) => Object.keys(row)));
    const has = (type: string, fields: string[]) => {
      for (const field of fields) assert.ok(fieldsOf(type).has(field), `${type} rows carry ${field}`);
    };
    has('purchase', ['id', 'email', 'total', 'currencyCode', 'items', 'dataFields']);
    has('customEvent', ['eventName', 'dataFields']);
    has('smsSend', ['toPhoneNumber', 'fromPhoneNumber', 'smsMessage', 'messageId', 'campaignId']);
    has('pushSend', ['platformEndpoint', 'notificationsEnabled', 'messageTypeId', 'channelId']);
    has('inAppClick', ['clickedUrl', 'deviceInfo', 'messageContext']);
    has('inboxSession', ['inboxSessionId', 'inboxSessionStart', 'impressions']);
    has('embeddedClick', ['placementId', 'buttonIdentifier', 'targetUrl']);
    has('journeyExit', ['workflowId', 'exitReason']);
    has('whatsAppSend', ['toPhoneNumber', 'messageBody']);
    assert.ok(!fieldsOf('unknownSession').has('email'), 'anonymous sessions have no email');
    // Purchases add up.
    for (const p of fakeRows(DATA, 'purchase')) {
      const items = p.items as Array<{ price: number; quantity: number }>;
      assert.equal(p.total, Math.round(items.reduce((sum, i) => sum + i.price * i.quantity, 0) * 100) / 100);
    }
    // SMS events of SMS campaigns.
    const smsCampaigns = new Set(DATA.campaigns.filter((c) => c.messageMedium === 'SMS').map((c) => c.id));
    for (const row of fakeRows(DATA, 'smsSend')) assert.ok(smsCampaigns.has(row.campaignId as number), 'smsSend of an SMS campaign');
  });

  it('gives each type its own generator: resizing one type leaves every other type unchanged', () => {
    const resized = generateFakeData({ events: { pushSend: 60, emailSend: 3000 } });
    assert.equal([...fakeRows(resized, 'pushSend')].length, 61);
    for (const type of EXPORT_DATA_TYPES.filter((t) => t !== 'pushSend')) {
      assert.deepEqual([...fakeRows(resized, type)], [...fakeRows(DATA, type)], type);
    }
  });

  it('serves every type through data.json, and generates any type on demand', async () => {
    const generated = generateFakeData({ generated: { purchase: 500, whatsAppSeen: 300 } });
    await withFake({ data: generated }, async (f) => {
      for (const type of ENGAGEMENT_DATA_TYPES) {
        const lines = parseLines((await get(f, exportPath({ dataTypeName: type, startDateTime: '2024-01-01 00:00:00', endDateTime: '2024-04-01 00:00:00' }))).text);
        assert.equal(lines.length, [...fakeRows(generated, type)].length, type);
      }
      const purchases = [...fakeRows(generated, 'purchase')];
      assert.equal(purchases.length, 500);
      assert.ok(purchases.every((p) => typeof p.total === 'number' && Array.isArray(p.items)));
      assert.equal(new Set(purchases.map((p) => p.id)).size, 500, 'generated purchase ids are unique');
    });
  });
});

describe('fake Iterable: campaign metrics', () => {
  const metricsPath = (ids: Array<number | string>, extra = '') => `/api/campaigns/metrics?${ids.map((id) => `campaignId=${id}`).join('&')}${extra}`;

  it('answers text/plain CSV: Iterable header names (quoted when they hold a comma), one row per known campaign asked', async () => {
    await withFake({ data: DATA }, async (f) => {
      const [a, b] = DATA.campaigns.map((c) => c.id);
      const res = await get(f, metricsPath([b!, 999, a!, b!]), { 'Api-Key': READONLY_KEY });
      assert.equal(res.status, 200, 'a read-only key may read metrics');
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      const lines = res.text.split('\n');
      assert.ok(!res.text.endsWith('\n'), 'no newline after the last row, as Iterable sends');
      assert.match(lines[0]!, /^id,Average Custom Conversion Value,Average Order Value,Purchases \/ M \(Email\),"Purchases \/ M \(Push, In-App\)",Revenue,/);
      assert.ok(lines[0]!.includes(',Total Email Sends,') && lines[0]!.includes(',Unique Email Opens,'));
      assert.deepEqual(lines.slice(1).map((l) => Number(l.split(',')[0])), [b, a], 'in the order asked, each once, none for an unknown id');
      const width = lines[0]!.split(',').length - 1; // the quoted header holds one comma
      for (const line of lines.slice(1)) assert.equal(line.split(',').length, width);
      const draft = DATA.campaigns.find((c) => c.campaignState === 'Draft')!;
      const draftRow = (await get(f, metricsPath([draft.id]))).text.split('\n')[1]!;
      assert.match(draftRow, new RegExp(`^${draft.id},,,0\\.0,`), 'a campaign that sent nothing: counts 0, averages empty');
    });
  });

  it('refuses a missing or malformed campaignId and a bad date with 400 BadParams; takes YYYY-MM-DD and ISO dates', async () => {
    await withFake({ data: DATA }, async (f) => {
      const id = DATA.campaigns[0]!.id;
      for (const path of ['/api/campaigns/metrics', metricsPath(['']), metricsPath(['12x']), metricsPath([id], '&startDateTime=yesterday')]) {
        const res = await get(f, path);
        assert.equal(res.status, 400, path);
        assert.equal((JSON.parse(res.text) as { code: string }).code, 'BadParams');
      }
      for (const extra of ['&startDateTime=2024-01-01&endDateTime=2024-02-01', '&startDateTime=2024-01-01T00:00:00Z', '&startDateTime=&endDateTime=']) {
        assert.equal((await get(f, metricsPath([id], extra))).status, 200, extra);
      }
    });
  });

  it('allows 10 metrics calls per scaled minute, then 429s naming its own limit; longer URLs than 8 KB get 414', async () => {
    await withFake({ data: DATA, rateLimits: { timeScale: 60 } }, async (f) => {
      const path = metricsPath([DATA.campaigns[0]!.id]);
      for (let n = 0; n < 10; n++) assert.equal((await get(f, path)).status, 200, `call ${n + 1}`);
      const refused = await get(f, path);
      assert.equal(refused.status, 429);
      assert.equal(
        refused.text,
        '{"msg":"Exceeded rate limit of 10.0 per minute for endpoint: /api/campaigns/metrics, project: 2158 ","code":"RateLimitExceeded","params":{}}',
      );
      assert.equal((await get(f, '/api/campaigns')).status, 200, 'the campaigns list has its own limit');
    });
    await withFake({ data: DATA }, async (f) => {
      const ids = Array.from({ length: 450 }, (_, i) => 2_197_800 + i);
      assert.equal((await get(f, metricsPath(ids))).status, 414);
      assert.equal((await get(f, metricsPath(ids.slice(0, 400)))).status, 200);
    });
  });
});

describe('project types (userId-based and hybrid projects)', () => {
  const byType = {
    email: generateFakeData({ seed: 7, users: 60 }),
    userId: generateFakeData({ seed: 7, users: 60, projectType: 'userId' }),
    hybrid: generateFakeData({ seed: 7, users: 60, projectType: 'hybrid' }),
  } as const;

  it('generates users as a project of each type holds them', () => {
    const users = (type: keyof typeof byType) => [...fakeRows(byType[type], 'user')];
    assert.ok(users('email').every((u) => typeof u.email === 'string' && u.itblUserId === undefined && Array.isArray(u.emailListIds)));
    const userIdUsers = users('userId');
    assert.ok(userIdUsers.every((u) => typeof u.userId === 'string' && typeof u.itblUserId === 'string' && Array.isArray(u.userListIds)));
    assert.ok(userIdUsers.some((u) => u.email === undefined), 'some users have no email');
    assert.equal(new Set(userIdUsers.map((u) => u.userId)).size, userIdUsers.length, 'userIds are unique');
    const hybridUsers = users('hybrid');
    assert.ok(hybridUsers.every((u) => u.email !== undefined || u.userId !== undefined), 'an email, a userId or both');
    assert.ok(hybridUsers.some((u) => u.email === undefined) && hybridUsers.some((u) => u.userId === undefined));
  });

  it('leaves the email project exactly as before (same seed, same rows)', () => {
    assert.deepEqual([...fakeRows(byType.email, 'emailSend')].slice(0, 50), [...fakeRows(generateFakeData({ seed: 7, users: 60, projectType: 'email' }), 'emailSend')].slice(0, 50));
    assert.equal(byType.email.projectType, undefined);
  });

  it('sends email events to users with an email, naming their userId, and other events by userId alone', () => {
    const sends = [...fakeRows(byType.userId, 'emailSend')];
    assert.ok(sends.every((r) => typeof r.email === 'string' && typeof r.userId === 'string'));
    const pushes = [...fakeRows(byType.userId, 'pushSend')];
    assert.ok(pushes.every((r) => typeof r.userId === 'string'));
    assert.ok(pushes.some((r) => r.email === undefined), 'pushes to users without an email');
    assert.ok([...fakeRows(byType.email, 'emailSend')].every((r) => r.userId === undefined), 'email projects unchanged');
  });

  it('getUsers prints userIds with preferUserId=true, and the email where a user has one without it', async () => {
    const data = byType.userId;
    const fake = await startFakeIterable({ data });
    try {
      const list = data.lists.find((l) => (data.listMembers.get(l.id) ?? []).length > 5)!;
      const members = data.listMembers.get(list.id)!;
      const preferred = (await get(fake, `/api/lists/getUsers?listId=${list.id}&preferUserId=true`)).text.split('\n').filter(Boolean);
      assert.deepEqual(preferred, members.map((m) => data.userIds.get(m)));
      assert.ok(preferred.every((line) => /^user\d+$/.test(line)));
      const plain = (await get(fake, `/api/lists/getUsers?listId=${list.id}`)).text.split('\n').filter(Boolean);
      assert.deepEqual(plain, members);
      assert.ok(plain.some((line) => line.includes('@')) && plain.some((line) => !line.includes('@')), 'emails, and userIds of users without one');
    } finally {
      await fake.close();
    }
  });

  it('answers the GDPR lists by project type, as the OpenAPI document says', async () => {
    const expected = { email: [200, 400], userId: [400, 200], hybrid: [200, 200] } as const;
    for (const [type, [byEmail, byUserId]] of Object.entries(expected)) {
      const fake = await startFakeIterable({ data: byType[type as keyof typeof byType] });
      try {
        const emails = await get(fake, '/api/users/forgotten');
        const userIds = await get(fake, '/api/users/forgottenUserIds');
        assert.deepEqual([emails.status, userIds.status], [byEmail, byUserId], type);
        if (byEmail === 200) assert.deepEqual(JSON.parse(emails.text), { hashedEmails: [] });
        if (byUserId === 200) assert.deepEqual(JSON.parse(userIds.text), { hashedUserIds: [] });
        if (byEmail === 400) assert.equal(JSON.parse(emails.text).code, 'BadParams');
        assert.equal((await get(fake, '/api/users/forgotten', { 'Api-Key': READONLY_KEY })).status, 401, 'not for read-only keys');
      } finally {
        await fake.close();
      }
    }
  });
});
