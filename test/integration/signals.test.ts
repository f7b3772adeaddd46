import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, collect, parseSinger, runCli, spawnCli, type CliResult, type SingerMessage } from './cli-harness.js';
import { freshDestination, snapshot, storedBookmarks } from './db-snapshot.js';
import { expectedExport } from './expected-records.js';

const KEY = 'test-server-key';
const EXPORT = '/api/export/data.json';
const STREAMS = 'email_send,email_open,users,lists,list_users';
const omit = { list_users: ['updatedAt'] };

function syncArgs(fake: FakeIterable, destination: string): string[] {
  return ['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', '20', '--streams', STREAMS, '--destination', destination];
}

/** Makes every export slow enough that a signal arrives mid-window. */
function slowExports(fake: FakeIterable): void {
  for (let i = 0; i < 400; i++) fake.inject({ kind: 'slow', path: EXPORT, msPerChunk: 25 });
}

/** Resolves when `pattern` has appeared `count` times in the child's stderr; rejects if it exits first. */
function onStderr(child: ChildProcess, pattern: RegExp, count = 1): Promise<void> {
  let text = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      if ((text.match(new RegExp(pattern.source, 'g')) ?? []).length >= count) resolve();
    });
    child.on('close', (code, signal) => reject(new Error(`exited (${code ?? signal}) before ${pattern}:\n${text.slice(-2000)}`)));
  });
}

/** The staging folders a process left in the OS temp folder. */
async function tempDirsOf(pid: number): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith(`iterable-sync-${pid}-`));
}

/** `  email_send: committed up to createdAt 2024-…` lines of the interruption report. */
function reportedBookmarks(stderr: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of stderr.matchAll(/^\S+ WARN {3}(\w+): committed up to createdAt (\S+?)[\s,]/gm)) out.set(m[1]!, m[2]!);
  return out;
}

for (const [kind, signal, code] of [
  ['duckdb', 'SIGINT', 130],
  ['postgres', 'SIGTERM', 143],
] as const) {
  describe(`sync into ${kind} stopped by ${signal}`, () => {
    it(`rolls back, reports the committed bookmarks, prints the summary, leaves no temp files, exits ${code}; the next sync completes exactly`, { timeout: 240_000 }, async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 41 }) });
      try {
        const env = cliEnv({ ITERABLE_API_KEY: KEY });
        const clean = freshDestination(kind);
        const cleanRun = await runCli(syncArgs(fake, clean), env);
        assert.equal(cleanRun.code, 0, cleanRun.stderr);

        const destination = freshDestination(kind);
        slowExports(fake);
        const child = spawnCli(syncArgs(fake, destination), env);
        const done = collect(child, 120_000);
        await onStderr(child, /email_send: \[\S+, \S+\) committed \(/);
        if (kind === 'duckdb') assert.notDeepEqual(await tempDirsOf(child.pid!), [], 'the run has staging folders when the signal comes');
        child.kill(signal);
        const result: CliResult = await done;

        assert.equal(result.signal, null, 'the process handled the signal itself');
        assert.equal(result.code, code, result.stderr);
        assert.match(result.stderr, new RegExp(`${signal} received: stopping`));
        assert.match(result.stderr, new RegExp(`Interrupted by ${signal}: stopped reading and rolled back every uncommitted window`));
        assert.match(result.stderr, /The next sync resumes every stream from its last committed bookmark/);
        assert.match(result.stdout, /^stream\s+status\s+rows/m, 'the summary table is on stdout');
        assert.match(result.stdout, /^\w+\s+interrupted\s/m, 'interrupted streams are marked');
        assert.deepEqual(await tempDirsOf(child.pid!), [], 'no staging folder left behind');

        // What the report says is committed is exactly what the destination holds.
        const reported = reportedBookmarks(result.stderr);
        const stored = await storedBookmarks(destination);
        assert.ok(reported.size > 0, `the report names committed bookmarks:\n${result.stderr}`);
        for (const [stream, createdAt] of reported) assert.equal(stored[stream]?.createdAt, createdAt, `${stream} bookmark`);

        fake.clearFaults();
        const resumed = await runCli(syncArgs(fake, destination), env);
        assert.equal(resumed.code, 0, resumed.stderr);
        const [a, b] = [await snapshot(clean, omit), await snapshot(destination, omit)];
        assert.deepEqual([...b.keys()], [...a.keys()]);
        for (const table of a.keys()) assert.deepEqual(b.get(table), a.get(table), `${table}: no row lost or duplicated`);
      } finally {
        await fake.close();
      }
    });
  });
}

describe('a second signal', () => {
  it('exits at once while the first one waits for a commit blocked by a lock', { timeout: 240_000 }, async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 42 }) });
    const destination = freshDestination('postgres');
    const schema = new URL(destination).searchParams.get('schema')!;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      const env = cliEnv({ ITERABLE_API_KEY: KEY });
      const args = syncArgs(fake, destination).map((a) => (a === STREAMS ? 'email_send' : a));
      slowExports(fake);
      const child = spawnCli(args, env);
      const done = collect(child, 120_000);
      await onStderr(child, / committed \(/, 1);
      // The next commit waits for this lock, as it would behind a long-running query.
      await admin.query('begin');
      await admin.query(`lock table "${schema}"._iterable_sync_state in access exclusive mode`);
      for (let i = 0; i < 600; i++) {
        // Only a wait on this schema's state table: pg_locks spans the server, and other suites run beside this one.
        const { rows } = await admin.query<{ n: number }>(
          `select count(*)::int as n from pg_locks where not granted and relation = '"${schema}"._iterable_sync_state'::regclass`,
        );
        if (rows[0]!.n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const stopping = onStderr(child, /SIGINT received: stopping/);
      child.kill('SIGINT');
      await stopping;
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(child.exitCode, null, 'the first signal waits for the commit in progress');
      child.kill('SIGINT');
      const result = await done;
      assert.equal(result.code, 130, result.stderr);
      assert.doesNotMatch(result.stderr, /Interrupted by SIGINT/, 'no clean-stop report: it exited at once');
      assert.deepEqual(await tempDirsOf(child.pid!), [], 'no staging folder left behind');
      await admin.query('rollback');

      fake.clearFaults();
      const resumed = await runCli(args, env);
      assert.equal(resumed.code, 0, resumed.stderr);
      const { rows } = await admin.query<{ n: number; d: number }>(
        `select count(*)::int as n, count(distinct _event_id)::int as d from "${schema}".email_send`,
      );
      assert.deepEqual(rows[0], { n: expectedExport(fake.data, 'emailSend').length, d: expectedExport(fake.data, 'emailSend').length });
    } finally {
      await admin.query('rollback').catch(() => undefined);
      await admin.end();
      await fake.close();
    }
  });
});

describe('tap stopped by SIGTERM', () => {
  it('ends with the last committed STATE, exits 143, and a run from that STATE loses no event', { timeout: 240_000 }, async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 43 }) });
    try {
      const env = cliEnv({ ITERABLE_API_KEY: KEY });
      const args = ['tap', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', '20', '--streams', 'email_send'];
      slowExports(fake);
      const child = spawnCli(args, env);
      let stdout = '';
      const firstState = new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.split('\n').filter((l) => l.startsWith('{"type":"STATE"')).length >= 2) resolve();
        });
        child.on('close', () => reject(new Error('tap exited before its second STATE')));
      });
      const done = collect(child, 120_000);
      await firstState;
      child.kill('SIGTERM');
      const result = await done;
      assert.equal(result.code, 143, result.stderr);
      assert.match(result.stderr, /Interrupted by SIGTERM/);
      const messages = parseSinger(result.stdout);
      const last = messages.at(-1)!;
      assert.equal(last.type, 'STATE', 'the last message is a STATE');
      const states = messages.filter((m) => m.type === 'STATE');
      assert.ok(states.length >= 2);

      const dir = await mkdtemp(join(tmpdir(), 'iterable-sync-signal-'));
      await writeFile(join(dir, 'state.json'), JSON.stringify(last.value));
      fake.clearFaults();
      const resumed = await runCli([...args, '--state', join(dir, 'state.json')], env);
      assert.equal(resumed.code, 0, resumed.stderr);
      const ids = new Set<unknown>();
      for (const m of [...messages, ...parseSinger(resumed.stdout)] as SingerMessage[]) if (m.type === 'RECORD') ids.add(m.record!._event_id);
      assert.equal(ids.size, expectedExport(fake.data, 'emailSend').length, 'every event arrives');
    } finally {
      await fake.close();
    }
  });
});
