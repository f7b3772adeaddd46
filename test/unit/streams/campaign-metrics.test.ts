import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  batchCampaignIds,
  metricsRows,
  parseMetricCell,
  selectCampaignsForMetrics,
  snakeCaseHeader,
  type CampaignForMetrics,
} from '../../../src/streams/campaign-metrics.js';
import { parseCsvRecords } from '../../../src/streams/csv-records.js';

const DAY = 86_400_000;
const from = (updatedAtById = new Map<number, string>()) => ({ stream: 'campaign_metrics', source: 'GET /api/campaigns/metrics (test)', updatedAtById });

describe('CSV records', () => {
  it('splits cells on commas and records on LF or CRLF, with quoted commas, quotes and line ends', () => {
    const text = 'id,"Revenue / M (Push, In-App)","Say ""hi""",Note\r\n1,2.5,3,"two\nlines"\n\n2,,"",x';
    const { records, error } = parseCsvRecords(text);
    assert.equal(error, undefined);
    assert.deepEqual(records.map((r) => r.cells), [
      ['id', 'Revenue / M (Push, In-App)', 'Say "hi"', 'Note'],
      ['1', '2.5', '3', 'two\nlines'],
      ['2', '', '', 'x'],
    ]);
    assert.deepEqual(records.map((r) => r.line), [1, 2, 5]);
    assert.equal(records[1]!.raw, '1,2.5,3,"two\nlines"');
  });

  it('takes a final line end or none, a byte-order mark, and the empty answer', () => {
    assert.deepEqual(parseCsvRecords('\uFEFFid,a\n1,2\n').records.map((r) => r.cells), [['id', 'a'], ['1', '2']]);
    assert.deepEqual(parseCsvRecords('id,\n\n').records.map((r) => r.cells), [['id', '']]);
    assert.deepEqual(parseCsvRecords('').records, []);
  });

  it('stops at an unclosed quote or text after a closing quote, keeping the records before it', () => {
    const unclosed = parseCsvRecords('id,a\n1,"open\n2,3');
    assert.deepEqual(unclosed.records.map((r) => r.cells), [['id', 'a']]);
    assert.deepEqual(unclosed.error, { line: 2, reason: 'a quoted cell is not closed' });
    assert.match(parseCsvRecords('id,a\n1,"x"y\n').error!.reason, /text after the closing quote of cell 2/);
  });
});

describe('campaign metrics', () => {
  it('snake-cases headers into column names', () => {
    assert.equal(snakeCaseHeader('Total Emails Sent'), 'total_emails_sent');
    assert.equal(snakeCaseHeader('Purchases / M (Email)'), 'purchases_m_email');
    assert.equal(snakeCaseHeader('Total Email Opens (filtered)'), 'total_email_opens_filtered');
    assert.equal(snakeCaseHeader('  Revenue / M (Push, In-App) '), 'revenue_m_push_in_app');
    assert.equal(snakeCaseHeader('Total WebPush Holdout'), 'total_webpush_holdout');
    assert.equal(snakeCaseHeader('%'), '');
  });

  it('reads numbers, leaves empty cells null and refuses anything else as a number', () => {
    assert.equal(parseMetricCell('57'), 57);
    assert.equal(parseMetricCell(' 16.0 '), 16);
    assert.equal(parseMetricCell('-1.5e3'), -1500);
    assert.equal(parseMetricCell('.5'), 0.5);
    assert.equal(parseMetricCell(''), null);
    assert.equal(parseMetricCell('  '), null);
    for (const text of ['NaN', 'Infinity', '12%', 'n/a', '1,000', '0x10', '1e999']) assert.equal(parseMetricCell(text), undefined, text);
  });

  it('turns the CSV into one row per campaign: id, numbers or nulls, and the campaign updatedAt', () => {
    const csv = 'id,Average Order Value,"Purchases / M (Push, In-App)",Revenue,Total Email Sends\n11,,0.0,12.5,57\n12,4.25,1.0,0.0,0';
    const rows = metricsRows(csv, from(new Map([[11, '2024-01-02T00:00:00.000Z']])));
    assert.deepEqual(rows.records, [
      { id: 11, average_order_value: null, purchases_m_push_in_app: 0, revenue: 12.5, total_email_sends: 57, updatedAt: '2024-01-02T00:00:00.000Z' },
      { id: 12, average_order_value: 4.25, purchases_m_push_in_app: 1, revenue: 0, total_email_sends: 0 },
    ]);
    assert.deepEqual(rows.rejected, []);
    assert.deepEqual(rows.nonNumeric, []);
  });

  it('keeps a cell that is not a number as its text and reports it, never as 0 or dropped', () => {
    const rows = metricsRows('id,Revenue,Total Email Sends\n11,n/a,5', from());
    assert.deepEqual(rows.records, [{ id: 11, revenue: 'n/a', total_email_sends: 5 }]);
    assert.deepEqual(rows.nonNumeric, [{ campaignId: 11, column: 'revenue', text: 'n/a' }]);
  });

  it('rejects, with the raw line, rows without a whole-number id, rows of the wrong width and text that is not CSV', () => {
    const rows = metricsRows('id,Revenue\nabc,1\n12,1,2\n13,2\n14,"cut', from());
    assert.deepEqual(rows.records, [{ id: 13, revenue: 2 }]);
    assert.deepEqual(
      rows.rejected.map((r) => [r.raw, r.reason]),
      [
        ['14,"cut', 'not valid CSV from line 5 on: a quoted cell is not closed'],
        ['abc,1', 'campaign id "abc" is not a whole number'],
        ['12,1,2', 'row of 3 cells under a header of 2'],
      ],
    );
    assert.ok(rows.rejected.every((r) => r.stream === 'campaign_metrics' && r.source.startsWith('GET /api/campaigns/metrics')));
    const noId = metricsRows('Revenue\n1', from());
    assert.deepEqual(noId.records, []);
    assert.equal(noId.rejected.length, 2);
    assert.match(noId.rejected[0]!.reason, /no "id" column/);
  });

  it("merges a header Iterable repeats with the same value (its 2017 answers), and keeps a differing one as name_2", () => {
    const rows = metricsRows('id,Revenue,Revenue,Total Complaints,Total Complaints\n1,0.0,0.0,3,4', from());
    assert.deepEqual(rows.records, [{ id: 1, revenue: 0, total_complaints: 3, total_complaints_2: 4 }]);
  });

  it("ignores the blank header after `id,` (Iterable's answer without campaigns) unless a cell is under it", () => {
    assert.deepEqual(metricsRows('id,\n\n', from()).records, []);
    assert.deepEqual(metricsRows('id,,Revenue\n1,,2\n2,7,3', from()).records, [
      { id: 1, revenue: 2 },
      { id: 2, column_2: 7, revenue: 3 },
    ]);
  });

  it('batches ids into requests as long as the URL allows, and no longer', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => 2_197_800 + i * 37);
    const path = '/api/campaigns/metrics';
    const max = 8000;
    const batches = batchCampaignIds(ids, path, max);
    assert.deepEqual(batches.flat(), ids, 'every id once, in order');
    const target = (batch: number[]) => `${path}?${batch.map((id) => `campaignId=${id}`).join('&')}`;
    for (const [i, batch] of batches.entries()) {
      assert.ok(target(batch).length <= max, `batch ${i} fits`);
      const next = batches[i + 1]?.[0];
      if (next !== undefined) assert.ok(target([...batch, next]).length > max, `batch ${i} is full`);
    }
    assert.equal(batches.length, 3);
    assert.deepEqual(batchCampaignIds([], path, max), []);
    assert.deepEqual(batchCampaignIds([1, 2, 3], path, path.length + '?campaignId=1'.length), [[1], [2], [3]]);
    assert.deepEqual(batchCampaignIds([123456], path, 10), [[123456]], 'an id that alone does not fit still goes');
  });

  it('selects for re-reading the campaigns that run, ended within the attribution period of the last read, or changed since it', () => {
    const lastReadMs = Date.UTC(2024, 5, 1);
    const rule = { lastReadMs, lookbackMs: 60 * 60_000, attributionMs: 15 * DAY };
    const old = lastReadMs - 100 * DAY;
    const campaigns: CampaignForMetrics[] = [
      { id: 1, updatedAtMs: old, endedAtMs: null }, // running (or triggered, or not started): always
      { id: 2, updatedAtMs: old, endedAtMs: lastReadMs - 14 * DAY }, // ended within 15 days of the last read
      { id: 3, updatedAtMs: old, endedAtMs: lastReadMs - 16 * DAY }, // ended earlier: its metrics were final when last read
      { id: 4, updatedAtMs: lastReadMs + DAY, endedAtMs: old }, // new or edited since the last read
      { id: 5, updatedAtMs: lastReadMs - 30 * 60_000, endedAtMs: old }, // within the lookback before it
      { id: 6, updatedAtMs: null, endedAtMs: old }, // no updatedAt: never trusted as read
      { id: 7, updatedAtMs: old, endedAtMs: lastReadMs - 15 * DAY }, // exactly at the edge: read
      { id: 1, updatedAtMs: old, endedAtMs: null }, // a repeat: once
    ];
    assert.deepEqual(selectCampaignsForMetrics(campaigns, rule), [1, 2, 4, 5, 6, 7]);
    assert.deepEqual(selectCampaignsForMetrics(campaigns, { ...rule, lastReadMs: null }), [1, 2, 3, 4, 5, 6, 7], 'first run: all');
    assert.deepEqual(selectCampaignsForMetrics(campaigns, { ...rule, attributionMs: 0 }), [1, 4, 5, 6]);
  });
});
