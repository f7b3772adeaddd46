import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SIMULATOR_JOBS_TIME_SCALE, simulateOptions } from '../../../src/cli/simulate.js';
import { ConfigError } from '../../../src/errors.js';

describe('simulate options', () => {
  const flags = { port: '0', host: '127.0.0.1', events: '10', jobsTimeScale: String(SIMULATOR_JOBS_TIME_SCALE) };

  it('runs export jobs 20 times faster than Iterable by default, and as fast as --jobs-time-scale asks', () => {
    assert.equal(simulateOptions(flags).jobsTimeScale, 20);
    assert.equal(simulateOptions({ ...flags, jobsTimeScale: '600' }).jobsTimeScale, 600);
  });

  it('refuses a --jobs-time-scale that is not a whole number from 1, naming the flag', () => {
    for (const value of ['0', '-1', '1.5', 'fast', '']) {
      assert.throws(() => simulateOptions({ ...flags, jobsTimeScale: value }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /--jobs-time-scale must be a whole number from 1/);
        return true;
      }, value);
    }
  });
});
