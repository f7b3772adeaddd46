import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CAMPAIGN_METRIC_COLUMNS,
  fakeCampaignMetrics,
  generateFakeData,
  startFakeIterable,
  type FakeData,
  type FakeIterable,
} from '../../src/fake-iterable/server.js';
import { cliEnv, parseSinger, recordsByStream, runCli } from './cli-harness.js';
import { freshDestination, qualified, rowsOf } from './db-snapshot.js';

const KEY = 'test-server-key';
const DAY_MS = 86_400_000;
const METRICS_PATH = '/api/campaigns/metrics';

/** The column of a metrics header, written out here rather than taken from the code under test. */
const COLUMN: Record<string, string> = {
  'Average Order Value': 'average_order_value',
  'Purchases / M (Push, In-App)': 'purchases_m_push_in_app',
  Revenue: 'revenue',
  'Total Email Opens (filtered)': 'total_email_opens_filtered',
  'Total Email Sends': 'total_email_sends',
  'Unique Email Opens Or Clicks': 'unique_email_opens_or_clicks',
};

/** The fake's default project, with two campaigns that ended three days ago and one edited now. */
function projectWithRecentEnds(): { data: FakeData; recentlyEnded: number[] } {
  const data = generateFakeData({ seed: 51, campaigns: 30 });
  const now = Date.now();
  const ended = data.campaigns.filter((c) => c.endedAt !== undefined);
  assert.ok(ended.length >= 4, 'the fake has finished campaigns');
  const recentlyEnded = ended.slice(0, 2).map((c) => {
    c.endedAt = now - 3 * DAY_MS;
    return c.id;
  });
  return { data, recentlyEnded };
}

/** The campaign ids of the metrics requests in `fake.requests[from..]`, one list per request that got 200. */
function metricsRequests(fake: FakeIterable, from = 0) {
  return fake.requests.slice(from).filter((r) => r.path === METRICS_PATH);
}

function askedIds(fake: FakeIterable, from = 0): number[] {
  return metricsRequests(fake, from)
    .filter((r) => r.status === 200)
    .flatMap((r) => r.query.getAll('campaignId').map(Number))
    .sort((a, b) => a - b);
}

function sync(fake: FakeIterable, destination: string, extra: string[] = [], env: Record<string, string> = {}) {
  return runCli(
    ['sync', '--base-url', fake.url, '--streams', 'campaign_metrics', '--destination', destination, ...extra],
    // The fake enforces Iterable's limits at 60× speed; the client paces at the same scale.
    cliEnv({ ITERABLE_API_KEY: KEY, ITERABLE_SYNC_RATE_LIMIT_SCALE: '60', ...env }),
  );
}

const sortedIds = (ids: Iterable<number>) => [...ids].sort((a, b) => a - b);

describe('campaign_metrics', () => {
  for (const kind of ['duckdb', 'postgres'] as const) {
    it(`into ${kind}: one row per campaign with numeric columns; later runs re-read only running, recently ended or edited campaigns`, async () => {
      const { data, recentlyEnded } = projectWithRecentEnds();
      const fake = await startFakeIterable({ data, rateLimits: { timeScale: 60 } });
      try {
        const destination = freshDestination(kind);
        const table = qualified(destination, 'campaign_metrics');
        // Iterable refuses the first metrics call with 429: the sync waits it out.
        fake.inject({ kind: 'status', path: METRICS_PATH, status: 429, retryAfterSeconds: 1 });
        const first = await sync(fake, destination);
        assert.equal(first.code, 0, first.stderr);
        assert.deepEqual(metricsRequests(fake).map((r) => r.status), [429, 200], 'the 429, then the same request again');
        assert.deepEqual(askedIds(fake), sortedIds(data.campaigns.map((c) => c.id)), 'the first run reads every campaign once');

        const rows = await rowsOf(destination, `select * from ${table} order by id`);
        assert.deepEqual(rows.map((r) => Number(r.id)), sortedIds(data.campaigns.map((c) => c.id)), 'one row per campaign');
        for (const row of rows) {
          const campaign = data.campaigns.find((c) => c.id === Number(row.id))!;
          const cells = fakeCampaignMetrics(data, campaign);
          for (const [header, column] of Object.entries(COLUMN)) {
            const expected = cells[header] === '' ? null : Number(cells[header]);
            assert.strictEqual(row[column] === null ? null : Number(row[column]), expected, `${campaign.id} ${column}`);
          }
          assert.equal(new Date(String(row.updatedAt instanceof Date ? row.updatedAt.toISOString() : row.updatedAt)).getTime(), campaign.updatedAt);
        }
        assert.ok(rows.some((r) => r.average_order_value === null), 'an empty cell is null, not 0');
        assert.ok(rows.some((r) => Number(r.revenue) > 0 && !Number.isInteger(Number(r.revenue))), 'fractions survive');
        const schema = kind === 'duckdb' ? 'main' : new URL(destination).searchParams.get('schema')!;
        const types = await rowsOf(
          destination,
          `select column_name, data_type from information_schema.columns where table_schema = '${schema}' and table_name = 'campaign_metrics'`,
        );
        const typeOf = Object.fromEntries(types.map((t) => [String(t.column_name), String(t.data_type).toLowerCase()]));
        const double = kind === 'duckdb' ? 'double' : 'double precision';
        assert.equal(typeOf.id, 'bigint');
        for (const header of CAMPAIGN_METRIC_COLUMNS) {
          const column = header.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
          assert.equal(typeOf[column], double, `${header} → ${column}`);
        }

        // Between runs: one long-finished campaign is edited (renamed), so its updatedAt moves.
        const edited = data.campaigns.find((c) => c.endedAt !== undefined && !recentlyEnded.includes(c.id))!;
        edited.updatedAt = Date.now() - 1000;
        const before = fake.requests.length;
        const second = await sync(fake, destination);
        assert.equal(second.code, 0, second.stderr);
        const running = data.campaigns.filter((c) => c.endedAt === undefined).map((c) => c.id);
        assert.ok(running.length > 0 && running.length + 3 < data.campaigns.length, 'some campaigns run, most ended long ago');
        assert.deepEqual(askedIds(fake, before), sortedIds([...running, ...recentlyEnded, edited.id]));
        assert.match(second.stderr, new RegExp(`reading the metrics of ${running.length + 3} of ${data.campaigns.length} campaigns in 1 request`));
        const after = await rowsOf(destination, `select id, "updatedAt" from ${table} where id = ${edited.id}`);
        assert.equal(new Date(String(after[0]!.updatedAt instanceof Date ? (after[0]!.updatedAt as Date).toISOString() : after[0]!.updatedAt)).getTime(), edited.updatedAt);
        assert.equal(Number((await rowsOf(destination, `select count(*) as n from ${table}`))[0]!.n), data.campaigns.length, 'rows kept');

        // A shorter attribution period (flag): the campaigns that ended three days ago are final now;
        // the edited one is still within lookback_minutes (60) of the last read.
        const beforeThird = fake.requests.length;
        const third = await sync(fake, destination, ['--metrics-attribution-days', '1']);
        assert.equal(third.code, 0, third.stderr);
        assert.deepEqual(askedIds(fake, beforeThird), sortedIds([...running, edited.id]));
      } finally {
        await fake.close();
      }
    });
  }

  it('splits a thousand campaigns into requests of as many ids as fit in 8,000 bytes of URL', async () => {
    const data = generateFakeData({ seed: 52, campaigns: 1000 });
    const fake = await startFakeIterable({ data });
    try {
      const result = await runCli(['tap', '--base-url', fake.url, '--streams', 'campaign_metrics'], cliEnv({ ITERABLE_API_KEY: KEY }));
      assert.equal(result.code, 0, result.stderr);
      const requests = metricsRequests(fake);
      const targets = requests.map((r) => `${r.path}?${r.query.toString()}`);
      assert.ok(targets.every((t) => t.length <= 8000), `every request target within 8,000 bytes: ${targets.map((t) => t.length).join(', ')}`);
      // 1000 ids of 7 digits take 19 bytes each (`campaignId=2197804&`): 3 requests, all but the last nearly full.
      assert.equal(requests.length, 3);
      for (const t of targets.slice(0, -1)) assert.ok(t.length > 8000 - 20, `a full request: ${t.length}`);
      assert.deepEqual(askedIds(fake), sortedIds(data.campaigns.map((c) => c.id)), 'each campaign asked once');
      const records = recordsByStream(parseSinger(result.stdout)).get('campaign_metrics') ?? [];
      assert.equal(records.length, 1000);
      const state = parseSinger(result.stdout).filter((m) => m.type === 'STATE').at(-1);
      assert.ok(state?.value?.bookmarks.campaign_metrics?.updatedAt, 'a bookmark');
    } finally {
      await fake.close();
    }
  });

  it('keeps a cell that is not a number as text in _rescued and reports it; an empty cell is null; a row without an id lands in _rejected', async () => {
    const data = generateFakeData({ seed: 53, campaigns: 3 });
    const [a, b] = data.campaigns.map((c) => c.id);
    const fake = await startFakeIterable({ data });
    try {
      const body = `id,Revenue,"Total Email Sends"\n${a},n/a,5\n${b},,7\nnot-an-id,1.5,2`;
      fake.inject({ kind: 'status', path: METRICS_PATH, status: 200, body });
      const destination = freshDestination('duckdb');
      const result = await sync(fake, destination);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /campaign_metrics: 1 value\(s\) of revenue are not numbers \(campaign \d+: "n\/a"\)/);
      const rows = await rowsOf(destination, `select id, revenue, total_email_sends, _rescued from campaign_metrics order by id`);
      const byId = new Map(rows.map((r) => [Number(r.id), r]));
      assert.equal(byId.get(a!)!.revenue, null);
      const rescued = byId.get(a!)!._rescued;
      assert.deepEqual(typeof rescued === 'string' ? JSON.parse(rescued) : rescued, { revenue: 'n/a' });
      assert.equal(Number(byId.get(a!)!.total_email_sends), 5);
      assert.equal(byId.get(b!)!.revenue, null);
      assert.equal(byId.get(b!)!._rescued, null);
      const rejected = await rowsOf(destination, `select raw, reason from _rejected where stream = 'campaign_metrics'`);
      assert.deepEqual(rejected.map((r) => r.raw), ['not-an-id,1.5,2']);
      assert.match(String(rejected[0]!.reason), /campaign id "not-an-id" is not a whole number/);
    } finally {
      await fake.close();
    }
  });
});
