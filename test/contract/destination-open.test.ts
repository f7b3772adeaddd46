import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { openDestination } from '../../src/destinations/destination-factory.js';
import { DuckDBDestination } from '../../src/destinations/duckdb/duckdb-destination.js';
import { parsePostgresUrl, PostgresDestination } from '../../src/destinations/postgres/postgres-destination.js';
import { ConfigError, DestinationError, redactSecrets } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('openDestination', () => {
  it('opens DuckDB for duckdb:PATH', async () => {
    const destination = await openDestination('duckdb:data/iterable.duckdb');
    assert.ok(destination instanceof DuckDBDestination);
    assert.equal(destination.description, 'duckdb:data/iterable.duckdb');
    assert.equal((await openDestination('duckdb:///tmp/x.duckdb')).description, 'duckdb:/tmp/x.duckdb');
    assert.equal((await openDestination('duckdb::memory:')).description, 'duckdb::memory:');
  });

  it('opens PostgreSQL for postgres:// and postgresql://, without the password in its description', async () => {
    const destination = await openDestination('postgres://loader:pa55word@db.example.com:5433/warehouse?schema=raw&sslmode=require');
    assert.ok(destination instanceof PostgresDestination);
    assert.equal(destination.description, 'postgres://loader@db.example.com:5433/warehouse?sslmode=require&schema=raw');
    assert.ok((await openDestination('postgresql://u@h/db')) instanceof PostgresDestination);
    assert.equal(redactSecrets('failed with pa55word'), 'failed with ***');
  });

  it('takes the schema out of the URL and defaults it to iterable', () => {
    const explicit = parsePostgresUrl('postgres://u:p%40ss@h:5432/db?schema=Raw%20Data&sslmode=disable');
    assert.equal(explicit.schema, 'Raw Data');
    assert.doesNotMatch(explicit.connectionString, /schema=/);
    assert.match(explicit.connectionString, /sslmode=disable/);
    assert.match(explicit.connectionString, /^postgres:\/\/u:p%40ss@h:5432\/db\?/);
    assert.equal(parsePostgresUrl('postgres://h/db').schema, 'iterable');
  });

  it('refuses other forms with a ConfigError that lists the valid ones', async () => {
    for (const url of ['mysql://u:secretpw@h/db', 'iterable.duckdb', '', 'duckdb:']) {
      await assert.rejects(
        openDestination(url),
        (error: unknown) =>
          error instanceof ConfigError && !error.message.includes('secretpw') && /duckdb:|postgres:\/\//.test(error.message),
      );
    }
    await assert.rejects(openDestination('singer:'), ConfigError);
    await assert.rejects(openDestination('-'), ConfigError);
  });

  it("loads only the database it opens: a PostgreSQL destination without DuckDB's library, a DuckDB one without pg", async () => {
    // A fresh process, as the CLI is: what it loaded shows in its memory maps and its module cache.
    const probe = async (url: string): Promise<{ duckdb: boolean; pg: boolean }> => {
      const script =
        `const { openDestination } = await import('./src/destinations/destination-factory.ts');` +
        `await openDestination(${JSON.stringify(url)});` +
        `const { readFileSync } = await import('node:fs'); const { createRequire } = await import('node:module');` +
        `const duckdb = readFileSync('/proc/self/maps', 'utf8').includes('libduckdb');` +
        `const pg = Object.keys(createRequire(process.cwd() + '/').cache).some((p) => /[\\/]node_modules[\\/]pg[\\/]/.test(p));` +
        `console.log(JSON.stringify({ duckdb, pg }));`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 0);
      return JSON.parse(out) as { duckdb: boolean; pg: boolean };
    };
    assert.deepEqual(await probe('postgres://u@127.0.0.1:1/db'), { duckdb: false, pg: true });
    assert.deepEqual(await probe('duckdb::memory:'), { duckdb: true, pg: false });
  });
});

describe('opening a destination', () => {
  it('reports a DuckDB file held by another process, with its PID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iterable-sync-lock-'));
    const path = join(dir, 'locked.duckdb');
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require('@duckdb/node-api').DuckDBInstance.create(${JSON.stringify(path)})` +
          `.then(() => { console.log('ready'); setInterval(() => {}, 1000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
        holder.on('exit', (code) => reject(new Error(`the lock holder exited with ${code}`)));
      });
      const destination = new DuckDBDestination({ path });
      await assert.rejects(destination.open(), (error: unknown) => {
        assert.ok(error instanceof DestinationError);
        assert.match(
          error.message,
          new RegExp(`is in use by another iterable-sync or DuckDB process \\(PID ${holder.pid}\\b.*wait for it to finish or use another file`),
        );
        return true;
      });
    } finally {
      holder.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports an unreachable PostgreSQL server without the password', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const destination = new PostgresDestination({ url: `postgres://loader:Very5ecretPw@127.0.0.1:${port}/db` });
    await assert.rejects(destination.open(), (error: unknown) => {
      assert.ok(error instanceof DestinationError);
      assert.doesNotMatch(error.message, /Very5ecretPw/);
      assert.match(error.message, new RegExp(`postgres://loader@127\\.0\\.0\\.1:${port}/db.*check that the server is running`));
      return true;
    });
    await destination.close();
  });
});
