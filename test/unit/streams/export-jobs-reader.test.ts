import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobPositionOf } from '../../../src/streams/export-jobs-reader.js';
import { JobSlots } from '../../../src/streams/export-jobs-run.js';

describe('export jobs reader pieces', () => {
  it('JobSlots lets 4 holders run at once and serves the waiting ones in call order', async () => {
    const slots = new JobSlots(4);
    const order: number[] = [];
    for (let i = 0; i < 4; i++) await slots.acquire();
    const waiting = [5, 6].map((n) => slots.acquire().then(() => order.push(n)));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [], 'a fifth waits while four hold a slot');
    slots.release();
    await waiting[0];
    assert.deepEqual(order, [5]);
    slots.release();
    await waiting[1];
    assert.deepEqual(order, [5, 6]);
  });

  it('reads a job position from a bookmark, and ignores a missing or damaged one', () => {
    const bookmark = {
      createdAt: '2024-01-01T00:00:00.000000Z',
      export_job_id: '3562',
      export_job_start: '2024-01-01T00:00:00.000000Z',
      export_job_end: '2026-12-04T18:00:00.000000Z',
      export_job_file: 'file-0002.json',
    };
    assert.deepEqual(jobPositionOf(bookmark), {
      jobId: 3562,
      startMs: Date.parse('2024-01-01T00:00:00Z'),
      endMs: Date.parse('2026-12-04T18:00:00Z'),
      lastFile: 'file-0002.json',
    });
    const { export_job_file: _, ...noFile } = bookmark;
    assert.equal(jobPositionOf(noFile)?.lastFile, undefined, 'a job without a committed file yet');
    assert.equal(jobPositionOf({ createdAt: bookmark.createdAt }), undefined);
    assert.equal(jobPositionOf(undefined), undefined);
    assert.equal(jobPositionOf({ ...bookmark, export_job_id: 'x' }), undefined);
    assert.equal(jobPositionOf({ ...bookmark, export_job_end: bookmark.export_job_start }), undefined, 'an empty range');
  });
});
