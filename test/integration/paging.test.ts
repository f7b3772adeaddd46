import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateFakeData, startFakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, parseSinger, recordsByStream, runCli } from './cli-harness.js';

describe('tap: paged and legacy list endpoints', () => {
  for (const pagination of ['paged', 'legacy'] as const) {
    it(`reads every campaign and template when Iterable answers ${pagination}`, async () => {
      const fake = await startFakeIterable({ pagination, data: generateFakeData({ seed: 41, campaigns: 2300 }) });
      try {
        const result = await runCli(
          ['tap', '--base-url', fake.url, '--start-date', '2024-01-01', '--streams', 'campaigns,templates'],
          cliEnv({ ITERABLE_API_KEY: 'test-server-key' }),
        );
        assert.equal(result.code, 0, result.stderr);
        const records = recordsByStream(parseSinger(result.stdout));
        assert.deepEqual(records.get('campaigns')!.map((c) => c.id).sort(), fake.data.campaigns.map((c) => c.id).sort());
        assert.equal(new Set(records.get('templates')!.map((t) => t.templateId)).size, fake.data.templates.length);
        const campaignCalls = fake.requests.filter((r) => r.path === '/api/campaigns');
        if (pagination === 'paged') {
          // 2300 campaigns at pageSize 1000: three pages, the later ones through nextPageUrl.
          assert.deepEqual(campaignCalls.map((r) => r.query.get('page')), ['1', '2', '3']);
          assert.ok(campaignCalls.every((r) => r.query.get('pageSize') === '1000'));
        }
      } finally {
        await fake.close();
      }
    });
  }
});
