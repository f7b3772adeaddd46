import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configFromEnv, validateConfig } from '../../../src/config/config.js';
import { ConfigError } from '../../../src/errors.js';
import { AUTO_JOBS_MIN_WINDOWS, chooseExportMode } from '../../../src/sync/export-mode.js';
import { plannedExportWindows } from '../../../src/streams/windows.js';

describe('export mode', () => {
  it('auto reads through jobs from a few data.json windows on, and through data.json below', () => {
    assert.equal(chooseExportMode('auto', AUTO_JOBS_MIN_WINDOWS - 1).mode, 'stream');
    assert.equal(chooseExportMode('auto', 1).mode, 'stream');
    assert.equal(chooseExportMode('auto', 0).mode, 'stream');
    const backfill = chooseExportMode('auto', 37);
    assert.equal(backfill.mode, 'jobs');
    assert.match(backfill.reason, /37 data\.json windows/);
    assert.equal(chooseExportMode('auto', AUTO_JOBS_MIN_WINDOWS).mode, 'jobs');
  });

  it('jobs and stream are taken as configured, whatever the windows', () => {
    assert.deepEqual(chooseExportMode('jobs', 1), { mode: 'jobs', reason: 'export_mode is jobs' });
    assert.deepEqual(chooseExportMode('stream', 500), { mode: 'stream', reason: 'export_mode is stream' });
  });

  it('a 3-year first sync plans 37 windows of 30 days; an everyday run plans one', () => {
    const endMs = Date.parse('2027-01-01T00:00:00Z');
    const first = plannedExportWindows({ bookmarkMs: null, startDateMs: Date.parse('2024-01-01T00:00:00Z'), lookbackMinutes: 60, endMs, windowDays: 30 });
    assert.equal(first, 37);
    const daily = plannedExportWindows({ bookmarkMs: endMs - 86_400_000, startDateMs: null, lookbackMinutes: 60, endMs, windowDays: 30 });
    assert.equal(daily, 1);
    assert.equal(plannedExportWindows({ bookmarkMs: null, startDateMs: null, lookbackMinutes: 60, endMs, windowDays: 30 }), 0);
  });

  it('export_mode comes from the file, ITERABLE_EXPORT_MODE or the flag, defaults to auto, and refuses other values', () => {
    assert.equal(validateConfig([{ api_key: 'k123' }]).exportMode, 'auto');
    assert.equal(validateConfig([{ api_key: 'k123', export_mode: 'JOBS' }]).exportMode, 'jobs');
    const env = configFromEnv({ ITERABLE_EXPORT_MODE: 'stream' });
    assert.equal(validateConfig([{ api_key: 'k123', export_mode: 'jobs' }, env]).exportMode, 'stream');
    assert.equal(validateConfig([{ api_key: 'k123' }, env, { export_mode: 'auto' }]).exportMode, 'auto');
    for (const bad of ['fast', 3, 'job']) {
      assert.throws(
        () => validateConfig([{ api_key: 'k123', export_mode: bad }]),
        (error: unknown) => error instanceof ConfigError && /export_mode must be "auto", "jobs" or "stream"/.test(error.message),
      );
    }
  });
});
