import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateFakeData, startFakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, runCli } from './cli-harness.js';
import { freshDestination } from './db-snapshot.js';

const KEY = 'test-server-key';
const DAY_MS = 86_400_000;
const START = '2024-01-01';

/** Windows of `windowDays` from START to `nowMs` (the read's plan, computed here independently). */
function windowsUntil(nowMs: number, windowDays: number): number {
  return Math.ceil((Math.floor(nowMs / 1000) * 1000 - Date.parse(`${START}T00:00:00Z`)) / (windowDays * DAY_MS));
}

/** The export calls a line states, as a number. */
function statedCalls(line: string): number {
  const match = /: ([\d,]+) export calls? \(GET \/api\/export\/data\.json\) for \d+ export streams?: (at least .+ at|within the first minute of) Iterable's limit of 4 export calls a minute/.exec(line);
  assert.ok(match, `no estimate in: ${line}`);
  return Number(match[1]!.replace(/,/g, ''));
}

describe('the export budget is shown before the wait', () => {
  it('check prints, before its first call, the export calls and least wall time of a first sync of the selected streams', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 81, users: 20, campaigns: 8 }) });
    try {
      const before = Date.now();
      const all = await runCli(['check', '--base-url', fake.url, '--start-date', START, '--window-days', '30', '--streams', 'all'], cliEnv({ ITERABLE_API_KEY: KEY }));
      const after = Date.now();
      assert.equal(all.code, 0, all.stderr);
      const [first, second] = all.stdout.split('\n');
      assert.match(first!, /^Export budget of a first sync from 2024-01-01T00:00:00\.000Z in 30-day windows: /);
      assert.match(second!, /^API key works/, 'the estimate comes before the key check');
      // Every export type is a stream: 53 of them, each one call per window.
      assert.match(first!, / for 53 export streams: /);
      const calls = statedCalls(first!);
      assert.ok([windowsUntil(before, 30) * 53, windowsUntil(after, 30) * 53].includes(calls), `${calls} calls`);
      // Thousands of calls at 4 a minute: hours.
      assert.match(first!, /at least \d+ (h \d\d min|d \d+ h) /);

      // The default selection (the 16 seed streams: 9 exports), with one-day windows.
      const seed = await runCli(['check', '--base-url', fake.url, '--start-date', START, '--window-days', '1'], cliEnv({ ITERABLE_API_KEY: KEY }));
      assert.equal(seed.code, 0, seed.stderr);
      assert.match(seed.stdout.split('\n')[0]!, / for 9 export streams: /);
      assert.ok(statedCalls(seed.stdout.split('\n')[0]!) >= windowsUntil(before, 1) * 9);

      // export_mode auto: a first sync of 3 years reads through export jobs, which the data.json budget does not bound.
      const auto = await runCli(['check', '--base-url', fake.url, '--start-date', START, '--window-days', '30', '--export-mode', 'auto'], cliEnv({ ITERABLE_API_KEY: KEY }));
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stdout.split('\n')[0]!, /^A first sync from 2024-01-01T00:00:00\.000Z reads its 9 export streams through export jobs \(export_mode auto\): no data\.json call, \d+ windows each in stream mode\.$/);

      const noStart = await runCli(['check', '--base-url', fake.url], cliEnv({ ITERABLE_API_KEY: KEY }));
      assert.equal(noStart.code, 0, noStart.stderr);
      assert.match(noStart.stdout, /^Set start_date \(or --start-date\) to see how many export calls a first sync of the selected streams needs\.\n/);
    } finally {
      await fake.close();
    }
  });

  it('sync states the calls its bookmarks leave before any stream starts, and makes exactly that many', async () => {
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 82, users: 20, campaigns: 8 }) });
    try {
      const destination = freshDestination('duckdb');
      const args = ['sync', '--base-url', fake.url, '--start-date', START, '--window-days', '30', '--streams', 'email_send,users,campaigns', '--destination', destination];
      const exportCalls = () => fake.requests.filter((r) => r.path === '/api/export/data.json').length;

      const before = Date.now();
      const first = await runCli(args, cliEnv({ ITERABLE_API_KEY: KEY }));
      assert.equal(first.code, 0, first.stderr);
      const lines = first.stderr.split('\n');
      const at = lines.findIndex((l) => l.includes(' INFO export budget of this run: '));
      assert.ok(at >= 0, first.stderr);
      assert.ok(lines.findIndex((l) => / INFO \w+: started$/.test(l)) > at, 'stated before any stream starts');
      assert.match(lines[at]!, / for 2 export streams: /);
      const calls = statedCalls(lines[at]!);
      assert.ok(calls >= 2 * windowsUntil(before, 30), `${calls}`);
      assert.equal(exportCalls(), calls, 'the run made the calls it stated');
      const minutes = Math.ceil(calls / 4) - 1;
      assert.match(lines[at]!, new RegExp(`at least ${minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`} `));

      // Bookmarks now end at the last run's start: each stream re-reads only its lookback hour, one window.
      const second = await runCli(args, cliEnv({ ITERABLE_API_KEY: KEY }));
      assert.equal(second.code, 0, second.stderr);
      const line = second.stderr.split('\n').find((l) => l.includes(' INFO export budget of this run: '))!;
      assert.match(line, /: 2 export calls \(GET \/api\/export\/data\.json\) for 2 export streams: within the first minute of Iterable's limit/);
      assert.equal(exportCalls(), calls + 2);

      // No export stream selected: nothing to state.
      const none = await runCli(['sync', '--base-url', fake.url, '--start-date', START, '--streams', 'lists', '--destination', destination], cliEnv({ ITERABLE_API_KEY: KEY }));
      assert.equal(none.code, 0, none.stderr);
      assert.doesNotMatch(none.stderr, /export budget/);
    } finally {
      await fake.close();
    }
  });
});
