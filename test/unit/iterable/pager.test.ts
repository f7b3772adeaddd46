import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { JsonRecord } from '../../../src/core/types.js';
import { FatalApiError } from '../../../src/errors.js';
import { IterableClient } from '../../../src/iterable/client.js';
import { markerPaging, pageNumberPaging, readPages, type Paging } from '../../../src/iterable/pager.js';
import { sendJson, startTestServer, type TestServer } from './http-test-server.js';

const servers: TestServer[] = [];
const clients: IterableClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
});

/** A real server answering each request with the next body of `bodies` (the last one repeats). */
async function serveBodies(bodies: ReadonlyArray<Record<string, unknown>>): Promise<{ server: TestServer; client: IterableClient }> {
  const server = await startTestServer((_req, res, index) => sendJson(res, 200, bodies[Math.min(index, bodies.length - 1)]));
  servers.push(server);
  const client = new IterableClient({ apiKey: 'k', baseUrl: server.origin, maxAttempts: 1, rateLimitTimeScale: 0 });
  clients.push(client);
  return { server, client };
}

async function walk(client: IterableClient, path: string, key: string, paging: Paging): Promise<{ pages: JsonRecord[][]; error?: unknown }> {
  const pages: JsonRecord[][] = [];
  try {
    for await (const page of readPages(client, path, 'campaigns', key, paging)) pages.push(page);
    return { pages };
  } catch (error) {
    return { pages, error };
  }
}

describe('readPages', () => {
  it('asks for the largest pages, follows nextPageUrl, then page numbers while a total count says more are left', async () => {
    const { server, client } = await serveBodies([
      { campaigns: [{ id: 1 }, { id: 2 }], nextPageUrl: '/api/campaigns?page=2&pageSize=1000&campaignState=Ready' },
      { campaigns: [{ id: 3 }], totalCampaignsCount: 5 },
      { campaigns: [{ id: 4 }, { id: 5 }], totalCampaignsCount: 5 },
    ]);
    const { pages, error } = await walk(client, '/api/campaigns', 'campaigns', pageNumberPaging({ campaignState: 'Ready' }));
    assert.equal(error, undefined);
    assert.deepEqual(pages.map((p) => p.map((r) => r.id)), [[1, 2], [3], [4, 5]]);
    assert.deepEqual(server.requests.map((r) => r.url), [
      '/api/campaigns?campaignState=Ready&page=1&pageSize=1000',
      '/api/campaigns?page=2&pageSize=1000&campaignState=Ready',
      '/api/campaigns?campaignState=Ready&page=3&pageSize=1000',
    ]);
  });

  it('takes a legacy answer without count or next page as the only page', async () => {
    const { server, client } = await serveBodies([{ campaigns: [{ id: 1 }] }]);
    const { pages } = await walk(client, '/api/campaigns', 'campaigns', pageNumberPaging({}));
    assert.deepEqual(pages, [[{ id: 1 }]]);
    assert.equal(server.requests.length, 1);
  });

  it('stops with a message naming the nextPageUrl that repeats, rather than loop', async () => {
    const { server, client } = await serveBodies([{ campaigns: [{ id: 1 }], nextPageUrl: '/api/campaigns?page=2' }]);
    const { pages, error } = await walk(client, '/api/campaigns', 'campaigns', pageNumberPaging({}));
    assert.ok(error instanceof FatalApiError, String(error));
    assert.equal(error.message, 'GET /api/campaigns: nextPageUrl /api/campaigns?page=2 repeats; stopping to avoid a loop');
    assert.equal(pages.length, 2);
    assert.equal(server.requests.length, 2);
  });

  it('passes nextMarker back until there is none, and stops when a marker repeats', async () => {
    const ok = await serveBodies([
      { results: [{ key: 'a' }], nextMarker: 'm1' },
      { results: [{ key: 'b' }], nextMarker: 'm2' },
      { results: [{ key: 'c' }] },
    ]);
    const done = await walk(ok.client, '/api/metadata/t', 'results', markerPaging());
    assert.equal(done.error, undefined);
    assert.deepEqual(done.pages.flat().map((r) => r.key), ['a', 'b', 'c']);
    assert.deepEqual(ok.server.requests.map((r) => r.url), ['/api/metadata/t', '/api/metadata/t?nextMarker=m1', '/api/metadata/t?nextMarker=m2']);

    const looping = await serveBodies([{ results: [{ key: 'a' }], nextMarker: 'same' }]);
    const stopped = await walk(looping.client, '/api/metadata/t', 'results', markerPaging());
    assert.ok(stopped.error instanceof FatalApiError, String(stopped.error));
    assert.equal(stopped.error.message, 'GET /api/metadata/t: nextMarker same repeats; stopping to avoid a loop');
    assert.equal(looping.server.requests.length, 2);
  });
});
