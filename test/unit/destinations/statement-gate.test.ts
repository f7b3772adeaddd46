import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StatementGate } from '../../../src/destinations/duckdb/statement-gate.js';

describe('statement gate', () => {
  it('runs statements side by side and an exclusive section alone, before statements that come after it', async () => {
    const gate = new StatementGate();
    const log: string[] = [];
    let release!: () => void;
    const first = gate.shared(async () => {
      log.push('s1 start');
      await new Promise<void>((resolve) => (release = resolve));
      log.push('s1 end');
    });
    const second = gate.shared(async () => {
      log.push('s2');
    });
    const exclusive = gate.exclusive(async () => {
      log.push('x start');
      await new Promise((resolve) => setTimeout(resolve, 5));
      log.push('x end');
    });
    const third = gate.shared(async () => {
      log.push('s3');
    });
    await second;
    release();
    await Promise.all([first, exclusive, third]);
    assert.deepEqual(log, ['s1 start', 's2', 's1 end', 'x start', 'x end', 's3']);
  });

  it('lets the next one in when a section fails', async () => {
    const gate = new StatementGate();
    await assert.rejects(gate.exclusive(async () => Promise.reject(new Error('boom'))), /boom/);
    await assert.rejects(gate.shared(async () => Promise.reject(new Error('bang'))), /bang/);
    assert.equal(await gate.exclusive(async () => 'ok'), 'ok');
  });
});
