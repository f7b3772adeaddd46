import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';

import { AuthError, RetryableApiError } from '../../../src/errors.js';
import { IterableClient } from '../../../src/iterable/client.js';
import type { IterableClientOptions } from '../../../src/iterable/types.js';
import { collectLines, delay, sendJson, startTestServer, type TestServer } from './http-test-server.js';

const API_KEY = 'itbl-stream-key-fedcba9876543210';
const EXPORT_PATH = '/api/export/data.json';
const EXPORT_QUERY = { dataTypeName: 'emailSend', startDateTime: '2024-01-01 00:00:00', endDateTime: '2024-02-01 00:00:00' };

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

function makeClient(origin: string, options: Partial<IterableClientOptions> = {}): IterableClient {
  const client = new IterableClient({
    apiKey: API_KEY,
    baseUrl: origin,
    backoffBaseMs: 1,
    backoffMaxMs: 20,
    rateLimitTimeScale: 0,
    ...options,
  });
  clients.push(client);
  return client;
}

/** Writes the given chunks one by one, each in its own TCP write, then ends (or not). */
async function writeChunks(res: import('node:http').ServerResponse, chunks: Buffer[], shouldEnd = true): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-json-stream' });
  for (const chunk of chunks) {
    res.write(chunk);
    await delay(5);
  }
  if (shouldEnd) res.end();
}

describe('IterableClient.streamLines', () => {
  it('splits lines across chunk edges, inside multi-byte characters, with CRLF and no final newline', async () => {
    const bytes = Buffer.from('{"name":"café"}\r\n{"e":"😀 ok"}\n\n{"last":"ü"}', 'utf8');
    const cafe = bytes.indexOf(Buffer.from('é')) + 1; // between the two bytes of é
    const emoji = bytes.indexOf(Buffer.from('😀')) + 2; // inside the 4-byte emoji
    const crlf = bytes.indexOf(Buffer.from('\r\n')) + 1; // between \r and \n
    const cuts = [cafe, crlf, emoji].sort((a, b) => a - b);
    const chunks = [bytes.subarray(0, cuts[0]), bytes.subarray(cuts[0], cuts[1]), bytes.subarray(cuts[1], cuts[2]), bytes.subarray(cuts[2])];
    const server = await serve((_req, res) => writeChunks(res, chunks));
    const client = makeClient(server.origin);
    const { lines, error } = await collectLines(client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export'));
    assert.equal(error, undefined);
    assert.deepEqual(lines, ['{"name":"café"}', '{"e":"😀 ok"}', '{"last":"ü"}']);
    assert.match(String(server.requests[0]?.headers.accept), /application\/x-json-stream/);
    assert.equal(server.requests[0]?.headers['api-key'], API_KEY);
  });

  it('yields nothing for an empty 200 body', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end();
    });
    const client = makeClient(server.origin);
    assert.deepEqual(await collectLines(client.streamLines('/api/lists/getUsers', { listId: 7 }, 'listUsers')), { lines: [] });
  });

  it('throws RetryableApiError, without retrying, when the body is cut after lines were yielded', async () => {
    const server = await serve(async (_req, res) => {
      await writeChunks(res, [Buffer.from('{"n":1}\n{"n":2}\n'), Buffer.from('{"n":3}\n{"n":')], false);
      res.socket?.destroy();
    });
    const client = makeClient(server.origin);
    const { lines, error } = await collectLines(client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export'));
    assert.deepEqual(lines, ['{"n":1}', '{"n":2}', '{"n":3}']);
    assert.ok(error instanceof RetryableApiError, String(error));
    assert.equal(
      error.message,
      'GET /api/export/data.json?dataTypeName=emailSend&startDateTime=2024-01-01 00:00:00&endDateTime=2024-02-01 00:00:00: response body cut after 3 lines (socket closed)',
    );
    assert.equal(error.request.status, 200);
    assert.equal(server.requests.length, 1);
  });

  it('retries internally when the body is cut before the first line', async () => {
    const server = await serve(async (_req, res, index) => {
      if (index === 0) {
        await writeChunks(res, [Buffer.from('{"n":')], false);
        res.socket?.destroy();
      } else {
        await writeChunks(res, [Buffer.from('{"n":1}\n{"n":2}\n')]);
      }
    });
    const client = makeClient(server.origin);
    const { lines, error } = await collectLines(client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export'));
    assert.equal(error, undefined);
    assert.deepEqual(lines, ['{"n":1}', '{"n":2}']);
    assert.equal(server.requests.length, 2);
    assert.equal(client.stats.retries, 1);
  });

  it('retries 429 and 503 before the body starts', async () => {
    const server = await serve(async (_req, res, index) => {
      if (index === 0) sendJson(res, 429, { msg: 'Exceeded rate limit', code: 'RateLimitExceeded', params: {} });
      else if (index === 1) sendJson(res, 503, { msg: 'Request timeout. Try again later.' });
      else await writeChunks(res, [Buffer.from('a@example.com\nb@example.com\n')]);
    });
    const client = makeClient(server.origin);
    const { lines } = await collectLines(client.streamLines('/api/lists/getUsers', { listId: 1 }, 'listUsers'));
    assert.deepEqual(lines, ['a@example.com', 'b@example.com']);
    assert.equal(client.stats.retries, 2);
  });

  it('turns a 401 into an AuthError', async () => {
    const server = await serve((_req, res) => sendJson(res, 401, { msg: 'Invalid API key', code: 'BadApiKey' }));
    const client = makeClient(server.origin);
    const { error } = await collectLines(client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export'));
    assert.ok(error instanceof AuthError);
    assert.ok(!error.message.includes(API_KEY));
    assert.equal(server.requests.length, 1);
  });

  it('throws RetryableApiError when the body stalls longer than idleTimeoutMs', async () => {
    const server = await serve(async (_req, res) => {
      await writeChunks(res, [Buffer.from('{"n":1}\n{"n":2}\n')], false);
      // then nothing, forever
    });
    const client = makeClient(server.origin, { idleTimeoutMs: 300 });
    const startedMs = performance.now();
    const { lines, error } = await collectLines(client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export'));
    assert.deepEqual(lines, ['{"n":1}', '{"n":2}']);
    assert.ok(error instanceof RetryableApiError, String(error));
    assert.match(error.message, /: response body cut after 2 lines \(no data for 300 ms \(idle timeout\)\)$/);
    assert.ok(performance.now() - startedMs < 3000);
  });

  it('throws RetryableApiError on invalid chunked encoding after lines were yielded', async () => {
    const sockets = new Set<Socket>();
    const raw = createServer((socket) => {
      sockets.add(socket);
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/x-json-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
        socket.write('8\r\n{"n":1}\n\r\n');
        setTimeout(() => socket.write('zz\r\nnot a chunk\r\n'), 20);
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const client = makeClient(`http://127.0.0.1:${(raw.address() as AddressInfo).port}`);
      const { lines, error } = await collectLines(client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export'));
      assert.deepEqual(lines, ['{"n":1}']);
      assert.ok(error instanceof RetryableApiError, String(error));
      assert.match(error.message, /response body cut after 1 lines \(invalid HTTP framing: .*chunk size\)\)$/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => raw.close(resolve));
    }
  });

  it('releases the connection when the consumer stops early', async () => {
    let timer: NodeJS.Timeout | undefined;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-json-stream' });
      let n = 0;
      timer = setInterval(() => res.write(`{"n":${(n += 1)}}\n`), 5);
      res.on('close', () => clearInterval(timer));
    });
    const client = makeClient(server.origin);
    const closed = server.nextSocketClose();
    const seen: string[] = [];
    for await (const line of client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export')) {
      seen.push(line);
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, ['{"n":1}', '{"n":2}', '{"n":3}']);
    await Promise.race([closed, delay(2000).then(() => assert.fail('the server never saw the connection close'))]);
    clearInterval(timer);
  });

  it('releases the connection when the consumer throws', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-json-stream' });
      res.write('{"n":1}\n{"n":2}\n');
    });
    const client = makeClient(server.origin);
    const closed = server.nextSocketClose();
    await assert.rejects(async () => {
      for await (const line of client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export')) {
        throw new Error(`cannot store ${line}`);
      }
    }, /cannot store \{"n":1\}/);
    await Promise.race([closed, delay(2000).then(() => assert.fail('the server never saw the connection close'))]);
  });

  it('pulls with backpressure: a slow consumer holds the server back, and does not trip the idle timeout', async () => {
    const line = `${JSON.stringify({ email: 'user@example.com', pad: 'x'.repeat(1000) })}\n`;
    const totalBytes = 200 * 1024 * 1024;
    let writtenBytes = 0;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-json-stream' });
      const chunk = line.repeat(64);
      const pump = (): void => {
        while (writtenBytes < totalBytes) {
          writtenBytes += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const client = makeClient(server.origin, { idleTimeoutMs: 300 });
    let count = 0;
    let writtenDuringPause = 0;
    for await (const received of client.streamLines(EXPORT_PATH, EXPORT_QUERY, 'export')) {
      assert.equal(received.length, line.length - 1);
      count += 1;
      if (count === 10) {
        await delay(400);
        const before = writtenBytes;
        await delay(1200); // longer than idleTimeoutMs, and the server is blocked on us
        writtenDuringPause = writtenBytes - before;
        assert.ok(writtenBytes < 64 * 1024 * 1024, `server wrote ${writtenBytes} bytes to a paused consumer`);
      }
      if (count === 20_000) break;
    }
    assert.equal(count, 20_000);
    // Without flow control the server would write hundreds of MB in that time.
    assert.ok(writtenDuringPause < 4 * 1024 * 1024, `the server wrote ${writtenDuringPause} bytes while the consumer was paused`);
  });
});
