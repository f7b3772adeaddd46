import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { DEFAULT_STREAM_NAMES as STREAM_NAMES } from '../../src/streams/stream-table.js';
import { generateFakeData, startFakeIterable, type FakeIterable } from '../../src/fake-iterable/server.js';
import { TerminalScreen } from '../unit/cli/terminal-screen.js';
import { cliEnv } from './cli-harness.js';
import { freshDestination } from './db-snapshot.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PTY_RUN = fileURLToPath(new URL('./pty-run.py', import.meta.url));
const KEY = 'test-server-key';
const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\S+Z (INFO|WARN|ERROR) /;

/** Runs the CLI with stderr on a pseudo-terminal of `columns` × `rows`; returns the raw terminal output. */
async function runInTerminal(args: string[], env: NodeJS.ProcessEnv, columns: number, rows: number): Promise<{ code: number | null; terminal: string; stdout: string }> {
  const stdoutFile = join(await mkdtemp(join(tmpdir(), 'iterable-sync-pty-')), 'stdout.txt');
  const child = spawn('python3', [PTY_RUN, String(columns), String(rows), stdoutFile, process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let terminal = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (terminal += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, terminal, stdout: await readFile(stdoutFile, 'utf8') };
}

function terminalEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = cliEnv({ ITERABLE_API_KEY: KEY, TERM: 'xterm-256color', ...extra });
  if (!('NO_COLOR' in extra)) delete env.NO_COLOR;
  return env;
}

/** A sync of every stream that lasts a few seconds (slow exports) and logs a retry mid-way. */
function slowSyncArgs(fake: FakeIterable): string[] {
  for (let i = 0; i < 100; i++) fake.inject({ kind: 'slow', path: '/api/export/data.json', msPerChunk: 30 });
  fake.inject({ kind: 'status', path: '/api/export/data.json', dataTypeName: 'emailOpen', status: 500 });
  return ['sync', '--base-url', fake.url, '--start-date', '2024-01-01', '--window-days', '30', '--destination', freshDestination('duckdb')];
}

describe('progress in an 80-column terminal', () => {
  it('fits every row on one line, and its redraws leave one block and each log line once', { timeout: 240_000 }, async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 61 }) });
    try {
      const run = await runInTerminal(slowSyncArgs(fake), terminalEnv(), 80, 24);
      assert.equal(run.code, 0, run.terminal);
      assert.match(run.stdout, /^total\s+\d+/m, 'the summary went to stdout');
      const screen = new TerminalScreen(80, 24);
      screen.write(run.terminal);
      assert.ok(screen.sequences.filter((s) => s.endsWith('A')).length >= 3, 'the block was redrawn in place');
      // Only log lines (timestamped, above the block) may be longer than the terminal.
      for (const line of screen.wrapped) assert.match(line, TIMESTAMPED, `a progress row wrapped: ${line}`);
      const lines = screen.text();
      for (const name of STREAM_NAMES) {
        const rows = lines.filter((l) => l.startsWith(`${name} `));
        assert.equal(rows.length, 1, `${name}: ${rows.length} progress rows left on the terminal:\n${lines.join('\n')}`);
        assert.match(rows[0]!, /complete/);
      }
      const blockAt = lines.map((l, i) => (STREAM_NAMES.some((n) => l.startsWith(`${n} `)) ? i : -1)).filter((i) => i >= 0);
      assert.equal(blockAt.at(-1)! - blockAt[0]!, STREAM_NAMES.length - 1, `the final block is whole, in one piece:\n${lines.join('\n')}`);
      assert.ok(lines.slice(blockAt.at(-1)! + 1).every((l) => !TIMESTAMPED.test(l) || l.includes(' INFO requests: ')), 'only the closing requests line follows it');
      const retries = lines.filter((l) => TIMESTAMPED.test(l) && l.includes('email_open: 500 Internal Server Error; retrying in'));
      assert.equal(retries.length, 1, `the retry line printed above the block once:\n${lines.join('\n')}`);
    } finally {
      await fake.close();
    }
  });

  it('stops on Ctrl-C leaving the final block whole, then the report below it, and exits 130', { timeout: 240_000 }, async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 64 }) });
    try {
      const env = terminalEnv({ PTY_CTRL_C_AFTER: 'email_send +[1-9][0-9]*/[0-9]+' });
      const run = await runInTerminal(slowSyncArgs(fake), env, 80, 24);
      assert.equal(run.code, 130, run.terminal);
      assert.match(run.stdout, /^email_send\s+(interrupted|complete)\s/m, 'the summary so far went to stdout');
      const screen = new TerminalScreen(80, 24);
      screen.write(run.terminal);
      for (const line of screen.wrapped) assert.match(line, TIMESTAMPED, `a progress row wrapped: ${line}`);
      const lines = screen.text();
      for (const name of STREAM_NAMES) assert.equal(lines.filter((l) => l.startsWith(`${name} `)).length, 1, `${name}:\n${lines.join('\n')}`);
      const report = lines.findIndex((l) => l.includes('WARN Interrupted by SIGINT'));
      const lastRow = Math.max(...STREAM_NAMES.map((n) => lines.findIndex((l) => l.startsWith(`${n} `))));
      assert.ok(report > lastRow, `the report comes below the final block:\n${lines.join('\n')}`);
      assert.ok(lines.some((l) => /^\S+Z WARN SIGINT received: stopping/.test(l)));
    } finally {
      await fake.close();
    }
  });

  it('keeps JSON logs clean on a terminal too: one object per line, no live block', { timeout: 240_000 }, async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 63 }) });
    try {
      const run = await runInTerminal([...slowSyncArgs(fake), '--log-format', 'json'], terminalEnv(), 80, 24);
      assert.equal(run.code, 0, run.terminal);
      assert.ok(!run.terminal.includes('\x1b'), 'no escape code');
      const lines = run.terminal.split(/\r?\n/).filter(Boolean).map((line) => JSON.parse(line) as { event: string });
      assert.ok(lines.some((l) => l.event === 'window_committed'));
    } finally {
      await fake.close();
    }
  });

  for (const [name, extra] of [
    ['TERM=dumb', { TERM: 'dumb' }],
    ['NO_COLOR', { NO_COLOR: '1' }],
  ] as const) {
    it(`writes no escape code at all with ${name}: plain lines, one per event`, { timeout: 240_000 }, async () => {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 62 }) });
      try {
        const run = await runInTerminal(slowSyncArgs(fake), terminalEnv(extra), 80, 24);
        assert.equal(run.code, 0, run.terminal);
        assert.ok(!run.terminal.includes('\x1b'), `an ESC byte in: ${JSON.stringify(run.terminal.slice(run.terminal.indexOf('\x1b') - 40, run.terminal.indexOf('\x1b') + 40))}`);
        assert.match(run.terminal, /email_send: \[\S+, \S+\) committed \(1\/\d+\)/);
        for (const line of run.terminal.split(/\r?\n/).filter(Boolean)) assert.match(line, TIMESTAMPED);
      } finally {
        await fake.close();
      }
    });
  }
});
