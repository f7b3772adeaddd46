import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { IterableClient } from '../../../src/iterable/client.js';
import { sendJson, startTestServer, type TestServer } from './http-test-server.js';

// This file runs in its own process (node:test isolates files), so changing the proxy
// variables here cannot leak into other tests.
const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];

describe('IterableClient behind a proxy', () => {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const proxy = createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  proxy.on('connect', (req, clientSocket: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(clientSocket);
      clientSocket.pipe(upstream);
    });
    for (const socket of [clientSocket, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
    }
  });
  let target: TestServer;
  let proxyUrl = '';
  const clients: IterableClient[] = [];

  before(async () => {
    for (const name of PROXY_VARS) delete process.env[name];
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    target = await startTestServer((_req, res) => sendJson(res, 200, { channels: [] }));
  });

  after(async () => {
    for (const name of PROXY_VARS) delete process.env[name];
    await Promise.all(clients.map((client) => client.close()));
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => proxy.close(resolve));
    await target.close();
  });

  function makeClient(): IterableClient {
    const client = new IterableClient({ apiKey: 'itbl-proxy-key-99887766', baseUrl: target.origin, rateLimitTimeScale: 0 });
    clients.push(client);
    return client;
  }

  it('goes through HTTP_PROXY when it is set', async () => {
    process.env.HTTP_PROXY = proxyUrl;
    const client = makeClient();
    assert.deepEqual(await client.getJson('/api/channels', {}, 'channels'), { channels: [] });
    assert.deepEqual(tunnels, [new URL(target.origin).host]);
  });

  it('connects directly to hosts listed in NO_PROXY', async () => {
    tunnels.length = 0;
    process.env.HTTP_PROXY = proxyUrl;
    process.env.NO_PROXY = '127.0.0.1';
    const client = makeClient();
    assert.deepEqual(await client.getJson('/api/channels', {}, 'channels'), { channels: [] });
    assert.deepEqual(tunnels, []);
  });
});
