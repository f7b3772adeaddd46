import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { AuthError, FatalApiError, RetryableApiError } from '../../../src/errors.js';
import { IterableClient } from '../../../src/iterable/client.js';
import type { Logger } from '../../../src/core/types.js';
import type { IterableClientOptions } from '../../../src/iterable/types.js';
import { delay, sendJson, startTestServer, type TestServer } from './http-test-server.js';

const API_KEY = 'itbl-secret-key-0123456789abcdef';

const servers: TestServer[] = [];
const clients: IterableClient[] = [];
after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(servers.map((server) => server.close()));
});

async function serve(handler: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const server = await startTestServer(handler);
  servers.push(server);
  return server;
}

function recordingLogger(): Logger & { warnings: Array<{ message: string; fields?: Record<string, unknown> }> } {
  const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = [];
  return {
    warnings,
    debug() {},
    info() {},
    warn(message, fields) {
      warnings.push({ message, fields });
    },
    error() {},
  };
}

function makeClient(server: TestServer, options: Partial<IterableClientOptions> = {}): IterableClient {
  const client = new IterableClient({
    apiKey: API_KEY,
    baseUrl: server.origin,
    backoffBaseMs: 1,
    backoffMaxMs: 20,
    rateLimitTimeScale: 0,
    ...options,
  });
  clients.push(client);
  return client;
}

/** Runs `action`, expecting it to reject, and returns the error. */
async function failureOf(action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected a rejection');
}

function assertNoKey(error: Error): void {
  const everything = [error.message, String(error.stack), JSON.stringify(error), error.cause instanceof Error ? error.cause.message : ''].join('\n');
  assert.ok(!everything.includes(API_KEY), `the key leaked: ${everything}`);
}

describe('IterableClient.getJson', () => {
  it('sends the key, Accept and User-Agent headers and parses the JSON', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, { channels: [{ id: 1 }] }));
    const client = makeClient(server);
    const body = await client.getJson<{ channels: Array<{ id: number }> }>('/api/channels', {}, 'channels');
    assert.deepEqual(body, { channels: [{ id: 1 }] });
    const [request] = server.requests;
    assert.equal(request?.method, 'GET');
    assert.equal(request?.headers['api-key'], API_KEY);
    assert.equal(request?.headers.accept, 'application/json');
    assert.match(String(request?.headers['user-agent']), /^iterable-sync\/\d+\.\d+\.\d+/);
  });

  it('encodes arrays as repeated parameters and skips undefined ones', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {}));
    const client = makeClient(server);
    await client.getJson(
      '/api/campaigns',
      { campaignState: ['Ready', 'Running'], page: 2, pageSize: 1000, sort: undefined, isX: true, startDateTime: '2024-01-01 00:00:00' },
      'campaigns',
    );
    const url = new URL(server.requests[0]?.url ?? '', server.origin);
    assert.equal(url.pathname, '/api/campaigns');
    assert.deepEqual(url.searchParams.getAll('campaignState'), ['Ready', 'Running']);
    assert.equal(url.searchParams.get('page'), '2');
    assert.equal(url.searchParams.get('pageSize'), '1000');
    assert.equal(url.searchParams.has('sort'), false);
    assert.equal(url.searchParams.get('isX'), 'true');
    assert.equal(url.searchParams.get('startDateTime'), '2024-01-01 00:00:00');
  });

  it('keeps a path prefix of the base URL', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {}));
    const client = makeClient(server, { baseUrl: `${server.origin}/gateway/` });
    await client.getJson('/api/lists', {}, 'lists');
    assert.equal(server.requests[0]?.url, '/gateway/api/lists');
  });

  it('recovers from 429, 500 and 503 and counts the retries', async () => {
    const statuses = [429, 500, 503];
    const server = await serve((_req, res, index) => {
      const status = statuses[index];
      if (status) sendJson(res, status, { msg: 'try later', code: 'GenericError', params: null });
      else sendJson(res, 200, { ok: true });
    });
    const logger = recordingLogger();
    const client = makeClient(server, { logger });
    assert.deepEqual(await client.getJson('/api/campaigns', { page: 1 }, 'campaigns'), { ok: true });
    assert.equal(server.requests.length, 4);
    assert.equal(client.stats.retries, 3);
    assert.equal(client.stats.requestsByPath.get('/api/campaigns'), 4);
    assert.deepEqual(
      [...client.stats.responsesByStatus.entries()].sort((a, b) => a[0] - b[0]),
      [[200, 1], [429, 1], [500, 1], [503, 1]],
    );
    assert.equal(logger.warnings.length, 3);
    assert.match(logger.warnings[0]?.message ?? '', /^retrying GET \/api\/campaigns\?page=1 in \d+ ms: 429 Too Many Requests$/);
    assert.equal(typeof logger.warnings[0]?.fields?.delayMs, 'number');
    assert.match(logger.warnings[2]?.message ?? '', /503 Service Unavailable/);
  });

  it('honours Retry-After before retrying', async () => {
    const server = await serve((_req, res, index) => {
      if (index === 0) sendJson(res, 503, { msg: 'busy', code: 'GenericError' }, { 'retry-after': '1' });
      else sendJson(res, 200, {});
    });
    const client = makeClient(server);
    await client.getJson('/api/lists', {}, 'lists');
    const gapMs = (server.requests[1]?.atMs ?? 0) - (server.requests[0]?.atMs ?? 0);
    assert.ok(gapMs >= 950, `retried after ${gapMs} ms despite Retry-After: 1`);
  });

  it('waits the family period after a 429 without Retry-After', async () => {
    const server = await serve((_req, res, index) => {
      if (index === 0) sendJson(res, 429, { msg: 'Exceeded rate limit of 4.0 per minute', code: 'RateLimitExceeded', params: {} });
      else sendJson(res, 200, {});
    });
    // export: 60 s / 200 = 300 ms
    const client = makeClient(server, { rateLimitTimeScale: 200 });
    await client.getJson('/api/export/data.json', { dataTypeName: 'emailSend' }, 'export');
    const gapMs = (server.requests[1]?.atMs ?? 0) - (server.requests[0]?.atMs ?? 0);
    assert.ok(gapMs >= 290, `retried after ${gapMs} ms, before the family period`);
  });

  it('retries a connection reset before the response', async () => {
    const server = await serve((req, res, index) => {
      if (index === 0) req.socket.destroy();
      else sendJson(res, 200, { ok: 1 });
    });
    const client = makeClient(server);
    assert.deepEqual(await client.getJson('/api/lists', {}, 'lists'), { ok: 1 });
    assert.equal(client.stats.retries, 1);
  });

  it('retries a JSON body cut before its end', async () => {
    const server = await serve((_req, res, index) => {
      if (index === 0) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 });
        res.write('{"lists":[');
        setTimeout(() => res.destroy(), 20);
      } else sendJson(res, 200, { lists: [] });
    });
    const client = makeClient(server);
    assert.deepEqual(await client.getJson('/api/lists', {}, 'lists'), { lists: [] });
    assert.equal(server.requests.length, 2);
  });

  it('retries when the response headers do not come within connectTimeoutMs', async () => {
    const server = await serve((_req, res, index) => {
      if (index === 0) return; // never answers
      sendJson(res, 200, { ok: 2 });
    });
    const client = makeClient(server, { connectTimeoutMs: 200 });
    const startedMs = performance.now();
    assert.deepEqual(await client.getJson('/api/lists', {}, 'lists'), { ok: 2 });
    assert.ok(performance.now() - startedMs >= 150);
  });

  it('gives up after maxAttempts with a FatalApiError that wraps the last retryable error', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 500, { msg: 'An error occurred. Please try again later.', code: 'GenericError', params: null }),
    );
    const client = makeClient(server, { maxAttempts: 3 });
    const error = await failureOf(() => client.getJson('/api/templates', { templateType: 'Base' }, 'templates'));
    assert.ok(error instanceof FatalApiError);
    assert.ok(error.cause instanceof RetryableApiError);
    assert.equal(server.requests.length, 3);
    assert.equal(
      error.message,
      'GET /api/templates?templateType=Base: 500 Internal Server Error; Iterable says "An error occurred. Please try again later." (code GenericError). Gave up after 3 attempts; Iterable may be degraded; run again later.',
    );
    assert.equal(error.request.status, 500);
    assertNoKey(error);
  });

  it('says another client may be using the rate limit when 429s never stop', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 429, { msg: 'Exceeded rate limit of 4.0 per minute for endpoint: /api/export/data.json, project: 2158 ', code: 'RateLimitExceeded', params: {} }),
    );
    const client = makeClient(server, { maxAttempts: 2 });
    const error = await failureOf(() => client.getJson('/api/export/data.json', { dataTypeName: 'user' }, 'export'));
    assert.ok(error instanceof FatalApiError);
    assert.match(error.message, /429 Too Many Requests; Iterable says "Exceeded rate limit of 4\.0 per minute for endpoint: \/api\/export\/data\.json, project: 2158" \(code RateLimitExceeded\)\. Gave up after 2 attempts; Iterable kept answering 429/);
  });

  it('does not retry a 400 and reports Iterable\'s msg, the method, path, query and status', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 400, { msg: 'Invalid email list id', code: 'BadParams', params: { listId: '42' } }),
    );
    const client = makeClient(server);
    const error = await failureOf(() => client.getJson('/api/lists/getUsers', { listId: 42 }, 'listUsers'));
    assert.ok(error instanceof FatalApiError);
    assert.equal(server.requests.length, 1);
    assert.equal(client.stats.retries, 0);
    assert.equal(error.request.status, 400);
    assert.match(error.message, /^GET \/api\/lists\/getUsers\?listId=42: 400 Bad Request; Iterable says "Invalid email list id" \(code BadParams\)\./);
    assertNoKey(error);
  });

  for (const status of [401, 403]) {
    it(`turns a ${status} into an AuthError that says what to check, without retrying`, async () => {
      const server = await serve((_req, res) =>
        sendJson(res, status, { msg: 'Invalid API key', code: 'BadApiKey', params: { endpoint: '/api/export/data.json' } }),
      );
      const client = makeClient(server);
      const error = await failureOf(() =>
        client.getJson('/api/export/data.json', { dataTypeName: 'emailSend', startDateTime: '2024-01-01 00:00:00' }, 'export'),
      );
      assert.ok(error instanceof AuthError);
      assert.equal(error.status, status);
      assert.equal(server.requests.length, 1);
      assert.match(error.message, new RegExp(`^GET /api/export/data\\.json\\?dataTypeName=emailSend&startDateTime=2024-01-01 00:00:00: ${status} `));
      assert.match(error.message, /Invalid API key" \(code BadApiKey\)/);
      // A 401 BadApiKey refuses the key itself; a 403 refuses this endpoint to the key.
      assert.equal(error.refusal, status === 401 ? 'key' : 'permission');
      assert.match(error.message, status === 401 ? /region eu/ : /read-only keys cannot call \/api\/export\/\* or \/api\/lists\/getUsers/);
      assertNoKey(error);
    });
  }

  it('classifies by HTTP status even when the body says code "Success"', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 400, { msg: 'error.lists.invalidListId(999999999)', code: 'Success', params: null }),
    );
    const client = makeClient(server);
    const error = await failureOf(() => client.getJson('/api/lists/getUsers', { listId: 999999999 }, 'listUsers'));
    assert.ok(error instanceof FatalApiError);
    assert.match(error.message, /400 Bad Request/);
  });

  it('summarises an HTML 404 page and says to check base_url', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<html><head><title>Action not found</title></head><body><h1>Oh no- that url doesn\'t exist.</h1></body></html>');
    });
    const client = makeClient(server);
    const error = await failureOf(() => client.getJson('/api/nope', {}, 'metadata'));
    assert.ok(error instanceof FatalApiError);
    assert.match(error.message, /^GET \/api\/nope: 404 Not Found; Iterable says Action not found Oh no- that url doesn't exist\.\. Check base_url/);
  });

  it('never puts the key in a message, even when it is in the query or echoed by the server', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 400, { msg: `Bad key ${API_KEY} for this call`, code: 'BadParams' }),
    );
    const client = makeClient(server);
    const error = await failureOf(() => client.getJson('/api/channels', { api_key: API_KEY, limit: 1 }, 'channels'));
    assert.ok(error instanceof FatalApiError);
    assertNoKey(error);
    assert.ok(!error.request.path.includes(API_KEY));
    assert.match(error.message, /api_key=\*\*\*/);
  });

  it('hides an unknown api_key query value too', async () => {
    const server = await serve((_req, res) => sendJson(res, 400, { msg: 'nope', code: 'BadParams' }));
    const client = makeClient(server);
    const error = await failureOf(() => client.getJson('/api/channels', { api_key: 'other-key-zzzz' }, 'channels'));
    assert.ok(!error.message.includes('other-key-zzzz'), error.message);
  });

  it('refuses a 200 whose body is not JSON, naming the path, without retrying', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>Login to the corporate proxy</html>');
    });
    const client = makeClient(server);
    const error = await failureOf(() => client.getJson('/api/messageTypes', {}, 'messageTypes'));
    assert.ok(error instanceof FatalApiError);
    assert.equal(server.requests.length, 1);
    assert.match(error.message, /^GET \/api\/messageTypes: 200 OK but the body is not JSON \(Login to the corporate proxy\)/);
  });

  it('fails with a FatalApiError naming the error after retrying a refused connection', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {}));
    const origin = server.origin;
    await server.close();
    const client = new IterableClient({ apiKey: API_KEY, baseUrl: origin, maxAttempts: 2, backoffBaseMs: 1, rateLimitTimeScale: 0 });
    clients.push(client);
    const error = await failureOf(() => client.getJson('/api/lists', {}, 'lists'));
    assert.ok(error instanceof FatalApiError);
    assert.match(error.message, /^GET \/api\/lists: connection refused\. Gave up after 2 attempts; Check base_url \/ region and that this machine can reach http:\/\/127\.0\.0\.1:\d+ \(proxy: HTTPS_PROXY \/ NO_PROXY\)\. Or run again later\.$/);
    assert.equal(client.stats.retries, 1);
  });
});

describe('IterableClient.getJsonUrl', () => {
  it('follows an absolute nextPageUrl on the same origin', async () => {
    const server = await serve((req, res) => sendJson(res, 200, { url: req.url }));
    const client = makeClient(server);
    const body = await client.getJsonUrl<{ url: string }>(`${server.origin}/api/campaigns?page=2&pageSize=1000`, 'campaigns');
    assert.equal(body.url, '/api/campaigns?page=2&pageSize=1000');
  });

  it('resolves a relative nextPageUrl against the base URL', async () => {
    const server = await serve((req, res) => sendJson(res, 200, { url: req.url }));
    const client = makeClient(server);
    const body = await client.getJsonUrl<{ url: string }>('/api/templates?page=3', 'templates');
    assert.equal(body.url, '/api/templates?page=3');
  });

  it('refuses another origin and sends it nothing', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {}));
    const other = await serve((_req, res) => sendJson(res, 200, {}));
    const client = makeClient(server);
    const error = await failureOf(() => client.getJsonUrl(`${other.origin}/api/campaigns?page=2&api_key=${API_KEY}`, 'campaigns'));
    assert.ok(error instanceof FatalApiError);
    assert.match(error.message, new RegExp(`refusing to send the API key to ${other.origin.replace(/\./g, '\\.')}`));
    assertNoKey(error);
    await delay(50);
    assert.equal(other.requests.length, 0);
    assert.equal(server.requests.length, 0);
  });

  it('refuses a scheme change to the same host', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {}));
    const client = makeClient(server);
    const error = await failureOf(() => client.getJsonUrl(server.origin.replace('http:', 'https:') + '/api/campaigns', 'campaigns'));
    assert.match(error.message, /refusing to send the API key to https:/);
  });
});

describe('IterableClient.close', () => {
  it('closes the connection pool', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {}));
    const client = new IterableClient({ apiKey: API_KEY, baseUrl: server.origin, rateLimitTimeScale: 0 });
    await client.getJson('/api/lists', {}, 'lists');
    const closed = server.nextSocketClose();
    await client.close();
    await closed;
    await assert.rejects(client.getJson('/api/lists', {}, 'lists'), /the client is closed/);
  });
});

describe('IterableClient.getText', () => {
  it('returns a text body whole, sends repeated parameters and a text Accept, and retries a 429', async () => {
    const csv = 'id,"Revenue / M (Push, In-App)"\n1,0.0\n2,1.5';
    const server = await serve((_req, res, index) => {
      if (index === 0) return sendJson(res, 429, { msg: 'Exceeded rate limit', code: 'RateLimitExceeded', params: {} });
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(csv);
    });
    const client = makeClient(server);
    const text = await client.getText('/api/campaigns/metrics', { campaignId: ['1', '2'] }, 'campaignMetrics');
    assert.equal(text, csv);
    assert.equal(server.requests.length, 2, 'the 429, then the retry');
    assert.equal(server.requests[1]!.url, '/api/campaigns/metrics?campaignId=1&campaignId=2');
    assert.match(String(server.requests[1]!.headers.accept), /^text\/plain/);
    assert.equal(server.requests[1]!.headers['api-key'], API_KEY);
  });
});
