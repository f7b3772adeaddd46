import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { generateFakeData, startFakeIterable } from '../../../src/fake-iterable/server.js';
import { ITERABLE_RATE_LIMITS } from '../../../src/fake-iterable/rate-limit.js';
import { IterableClient } from '../../../src/iterable/client.js';
import type { EndpointFamily } from '../../../src/iterable/types.js';
import { sendJson, startTestServer, type TestServer } from './http-test-server.js';

const API_KEY = 'itbl-pacing-key-00112233445566';
/** Export is 4 per 60 s; divided by 300 that is 4 per 200 ms. */
const TIME_SCALE = 300;
const WINDOW_MS = 200;

const servers: TestServer[] = [];
const clients: IterableClient[] = [];
after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(servers.map((server) => server.close()));
});

/** A server that enforces N requests per window, like Iterable, and counts its 429s. */
async function startLimitedServer(requests: number, windowMs: number): Promise<TestServer & { refusals: () => number }> {
  const arrivals: number[] = [];
  let refusals = 0;
  const server = await startTestServer((_req, res) => {
    const nowMs = performance.now();
    const inWindow = arrivals.filter((atMs) => nowMs - atMs < windowMs).length;
    if (inWindow >= requests) {
      refusals += 1;
      sendJson(res, 429, { msg: `Exceeded rate limit of ${requests} per window`, code: 'RateLimitExceeded', params: {} });
      return;
    }
    arrivals.push(nowMs);
    res.writeHead(200, { 'content-type': 'application/x-json-stream' });
    res.end('{"ok":true}\n');
  });
  servers.push(server);
  return Object.assign(server, { refusals: () => refusals });
}

function makeClient(server: TestServer): IterableClient {
  const client = new IterableClient({
    apiKey: API_KEY,
    baseUrl: server.origin,
    rateLimitTimeScale: TIME_SCALE,
    backoffBaseMs: 1,
    backoffMaxMs: 20,
  });
  clients.push(client);
  return client;
}

async function readExport(client: IterableClient): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of client.streamLines('/api/export/data.json', { dataTypeName: 'emailSend' }, 'export')) lines.push(line);
  return lines;
}

describe('IterableClient pacing', () => {
  it('spreads 12 sequential export calls over at least 2 windows, and Iterable never says 429', async () => {
    const server = await startLimitedServer(4, WINDOW_MS);
    const client = makeClient(server);
    const startedMs = performance.now();
    for (let i = 0; i < 12; i += 1) assert.deepEqual(await readExport(client), ['{"ok":true}']);
    const elapsedMs = performance.now() - startedMs;
    assert.ok(elapsedMs >= 2 * WINDOW_MS, `12 calls took only ${elapsedMs} ms`);
    assert.equal(server.refusals(), 0);
    assert.equal(client.stats.retries, 0);
    assert.equal(client.stats.requestsByPath.get('/api/export/data.json'), 12);
    assert.ok((client.stats.rateLimitWaitMs.get('export') ?? 0) >= WINDOW_MS, 'waits are counted');
  });

  it('paces 12 concurrent export calls the same way', async () => {
    const server = await startLimitedServer(4, WINDOW_MS);
    const client = makeClient(server);
    const startedMs = performance.now();
    await Promise.all(Array.from({ length: 12 }, () => readExport(client)));
    assert.ok(performance.now() - startedMs >= 2 * WINDOW_MS);
    assert.equal(server.refusals(), 0);
  });

  it('does not slow down other families while export waits', async () => {
    const server = await startLimitedServer(1000, WINDOW_MS);
    const client = makeClient(server);
    for (let i = 0; i < 4; i += 1) await readExport(client);
    let isExportDone = false;
    const blocked = readExport(client).then(() => {
      isExportDone = true;
    });
    assert.deepEqual(await client.getJson('/api/channels', {}, 'channels'), { ok: true });
    assert.equal(isExportDone, false, 'channels should not queue behind export');
    assert.equal(client.stats.rateLimitWaitMs.has('channels'), false);
    await blocked;
    assert.ok((client.stats.rateLimitWaitMs.get('export') ?? 0) > 0);
  });

  it('after a 429, holds back every request of the family for its period', async () => {
    let refusedAtMs = 0;
    const server = await startTestServer((_req, res, index) => {
      if (index === 0) {
        refusedAtMs = performance.now();
        sendJson(res, 429, { msg: 'Exceeded rate limit', code: 'RateLimitExceeded', params: {} });
      } else sendJson(res, 200, { ok: index });
    });
    servers.push(server);
    const client = makeClient(server);
    const first = client.getJson('/api/export/data.json', { dataTypeName: 'emailOpen' }, 'export');
    while (refusedAtMs === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Only one slot of the window is used, yet this call must wait out the penalty too.
    const second = client.getJson('/api/export/data.json', { dataTypeName: 'emailClick' }, 'export');
    await Promise.all([first, second]);
    for (const request of server.requests.slice(1)) {
      assert.ok(request.atMs - refusedAtMs >= WINDOW_MS - 10, `a request went ${request.atMs - refusedAtMs} ms after the 429`);
    }
    assert.equal(client.stats.retries, 1);
  });
});

describe("IterableClient pacing against the fake's own model of Iterable's limits", () => {
  it('sends twice the limit of every endpoint family at once, and Iterable never says 429', async () => {
    // The fake keeps its own table of Iterable's documented limits (fake-iterable/rate-limit.ts):
    // a client limit above the documented one shows here as a 429.
    const timeScale = 60;
    const fake = await startFakeIterable({ rateLimits: { timeScale }, data: generateFakeData({ seed: 5 }) });
    const client = new IterableClient({ apiKey: 'test-server-key', baseUrl: fake.url, rateLimitTimeScale: timeScale, maxAttempts: 1 });
    const listId = String(fake.data.lists[0]!.id);
    const drain = async (lines: AsyncGenerator<string>) => {
      for await (const _line of lines) {
        // read to the end
      }
    };
    // The export job families (1 request a second each) are driven by test/integration/export-jobs.test.ts: no 429.
    const call: Record<Exclude<EndpointFamily, 'metadata' | 'exportStart' | 'exportFiles' | 'exportJobs' | 'exportCancel' | 'exportDownload'>, () => Promise<unknown>> = {
      export: () =>
        drain(client.streamLines('/api/export/data.json', { dataTypeName: 'emailSend', startDateTime: '2024-01-01 00:00:00', endDateTime: '2024-01-01 00:00:01' }, 'export')),
      listUsers: () => drain(client.streamLines('/api/lists/getUsers', { listId }, 'listUsers')),
      campaigns: () => client.getJson('/api/campaigns', {}, 'campaigns'),
      campaignMetrics: () => client.getText('/api/campaigns/metrics', { campaignId: String(fake.data.campaigns[0]!.id) }, 'campaignMetrics'),
      channels: () => client.getJson('/api/channels', {}, 'channels'),
      lists: () => client.getJson('/api/lists', {}, 'lists'),
      messageTypes: () => client.getJson('/api/messageTypes', {}, 'messageTypes'),
      templates: () => client.getJson('/api/templates', {}, 'templates'),
      userFields: () => client.getJson('/api/users/getFields', {}, 'userFields'),
    };
    try {
      for (const [family, send] of Object.entries(call)) {
        const limit = ITERABLE_RATE_LIMITS[family as keyof typeof call]!;
        await Promise.all(Array.from({ length: 2 * limit.requests + 1 }, send));
      }
      const refused = fake.requests.filter((r) => r.status === 429).map((r) => r.path);
      assert.deepEqual(refused, []);
    } finally {
      await client.close();
      await fake.close();
    }
  });
});
