import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InstanceMemory, memoryLimitMbFor, PRIMARY_KEY_LIMIT_MB } from '../../../src/destinations/duckdb/instance-memory.js';
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

describe('instance memory', () => {
  /** An InstanceMemory whose limit changes are logged. */
  const memory = (initialMb: number) => {
    const limits: number[] = [];
    const instance = new InstanceMemory(new StatementGate(), async (mb) => void limits.push(mb), initialMb);
    return { instance, limits };
  };

  it('runs one merge at a time, in the order they came', async () => {
    const { instance } = memory(memoryLimitMbFor(0));
    const log: string[] = [];
    let running = 0;
    const merge = (name: string, ms: number) =>
      instance.merging(10, async () => {
        running++;
        log.push(`${name} start (${running} running)`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        running--;
        log.push(`${name} end`);
        return name;
      });
    assert.deepEqual(await Promise.all([merge('a', 10), merge('b', 1), merge('c', 5)]), ['a', 'b', 'c']);
    assert.deepEqual(log, ['a start (1 running)', 'a end', 'b start (1 running)', 'b end', 'c start (1 running)', 'c end']);
  });

  it('raises the limit before a merge that needs more, and never lowers it', async () => {
    const { instance, limits } = memory(memoryLimitMbFor(0));
    const limitWhenRun: number[] = [];
    const merge = (columns: number) => instance.merging(columns, async () => void limitWhenRun.push(instance.limit));
    await merge(0);
    await merge(300);
    await merge(20);
    await merge(301);
    assert.deepEqual(limits, [memoryLimitMbFor(300), memoryLimitMbFor(301)]);
    assert.deepEqual(limitWhenRun, [memoryLimitMbFor(0), memoryLimitMbFor(300), memoryLimitMbFor(300), memoryLimitMbFor(301)]);
    assert.ok(memoryLimitMbFor(14) < 100, 'an event table merges under 100 MiB');
  });

  it("gives a table with a primary key (made by an earlier version) DuckDB's default limit, whose index has to fit", async () => {
    const { instance, limits } = memory(memoryLimitMbFor(0));
    await instance.merging(10, async () => undefined, true);
    await instance.merging(10, async () => undefined);
    assert.deepEqual(limits, [PRIMARY_KEY_LIMIT_MB]);
    assert.ok(PRIMARY_KEY_LIMIT_MB > memoryLimitMbFor(300));
  });

  it('lets the next merge in when one fails, or when the limit cannot be raised', async () => {
    const refused = new InstanceMemory(new StatementGate(), async () => Promise.reject(new Error('no')), memoryLimitMbFor(0));
    await assert.rejects(refused.merging(500, async () => 'never'), /no/);
    assert.equal(await refused.merging(0, async () => 'ok'), 'ok');
    const { instance } = memory(memoryLimitMbFor(0));
    await assert.rejects(instance.merging(1, async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await instance.merging(1, async () => 'next'), 'next');
  });
});
