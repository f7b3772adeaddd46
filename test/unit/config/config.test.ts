import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configFromEnv, validateConfig } from '../../../src/config/config.js';
import { ConfigError } from '../../../src/errors.js';

describe('config', () => {
  it('accepts a config written for the Python tap-iterable unchanged', () => {
    const config = validateConfig([{ api_key: 'abcd1234', start_date: '2019-01-01T00:00:00Z', api_window_in_days: 7 }]);
    assert.equal(config.apiKey, 'abcd1234');
    assert.equal(config.startDate?.toISOString(), '2019-01-01T00:00:00.000Z');
    assert.equal(config.windowDays, 7);
    assert.equal(config.baseUrl, 'https://api.iterable.com');
    assert.equal(config.destination, 'duckdb:iterable.duckdb');
    assert.equal(config.lookbackMinutes, 60);
  });

  it('takes MM/DD/YYYY start dates as in the Qlik form, and the EU region', () => {
    const config = validateConfig([{ api_key: 'k123', start_date: '03/15/2024', region: 'EU' }]);
    assert.equal(config.startDate?.toISOString(), '2024-03-15T00:00:00.000Z');
    assert.equal(config.baseUrl, 'https://api.eu.iterable.com');
  });

  it('lets flags override the environment, which overrides the file', () => {
    const env = configFromEnv({ ITERABLE_API_KEY: 'env-key', ITERABLE_START_DATE: '2024-02-01' });
    const config = validateConfig([{ api_key: 'file-key', start_date: '2024-01-01', api_window_in_days: 3 }, env, { start_date: '2024-03-01' }]);
    assert.equal(config.apiKey, 'env-key');
    assert.equal(config.startDate?.toISOString(), '2024-03-01T00:00:00.000Z');
    assert.equal(config.windowDays, 3);
  });

  it('names the key and the fix in every validation error', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{}, /api_key is missing.*ITERABLE_API_KEY/],
      [{ api_key: 'k123', start_date: 'last tuesday' }, /start_date "last tuesday".*MM\/DD\/YYYY/],
      [{ api_key: 'k123', api_window_in_days: 0 }, /api_window_in_days must be a number > 0/],
      [{ api_key: 'k123', api_window_in_days: 'ten' }, /api_window_in_days/],
      [{ api_key: 'k123', region: 'asia' }, /region must be "us" or "eu"/],
      [{ api_key: 'k123', base_url: 'ftp://x' }, /base_url must start with http/],
      [{ api_key: 'k123', lookback_minutes: -5 }, /lookback_minutes must be a number ≥ 0/],
    ];
    for (const [raw, pattern] of cases) {
      assert.throws(() => validateConfig([raw]), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
    }
  });

  it('warns about unknown keys instead of failing', () => {
    const warnings: string[] = [];
    validateConfig([{ api_key: 'k123', colour: 'blue' }], { warn: (m) => warnings.push(m) });
    assert.match(warnings.join('\n'), /unknown config key "colour"/);
  });
});

describe('config: max_window_retry_minutes', () => {
  it('defaults to 5, takes fractions from the file, the environment or a flag, and refuses 0', () => {
    assert.equal(validateConfig([{ api_key: 'k123' }]).maxWindowRetryMinutes, 5);
    assert.equal(validateConfig([{ api_key: 'k123', max_window_retry_minutes: 0.5 }]).maxWindowRetryMinutes, 0.5);
    const env = configFromEnv({ ITERABLE_MAX_WINDOW_RETRY_MINUTES: '2' });
    assert.equal(validateConfig([{ api_key: 'k123', max_window_retry_minutes: 9 }, env]).maxWindowRetryMinutes, 2);
    assert.equal(validateConfig([{ api_key: 'k123' }, env, { max_window_retry_minutes: '0.1' }]).maxWindowRetryMinutes, 0.1);
    assert.throws(() => validateConfig([{ api_key: 'k123', max_window_retry_minutes: 0 }]), (e: unknown) => e instanceof ConfigError && /max_window_retry_minutes must be a number > 0/.test(e.message));
    const warnings: string[] = [];
    validateConfig([{ api_key: 'k123', max_window_retry_minutes: 3 }], { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, [], 'a known key');
  });
});

describe('config: streams', () => {
  it('takes "all", a list or a comma-separated string; a flag overrides the file; none means the default', () => {
    assert.equal(validateConfig([{ api_key: 'k' }]).streams, undefined);
    assert.equal(validateConfig([{ api_key: 'k', streams: 'all' }]).streams, 'all');
    assert.equal(validateConfig([{ api_key: 'k', streams: ['ALL'] }]).streams, 'all');
    assert.deepEqual(validateConfig([{ api_key: 'k', streams: ['push_send', ' purchase '] }]).streams, ['push_send', 'purchase']);
    assert.deepEqual(validateConfig([{ api_key: 'k', streams: 'all' }, {}, { streams: 'sms_send,lists' }]).streams, ['sms_send', 'lists']);
    const warnings: string[] = [];
    validateConfig([{ api_key: 'k', streams: 'all' }], { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, [], 'streams is a known key');
  });

  it('refuses a value that is neither "all" nor a list of names', () => {
    for (const streams of [{ push_send: true }, [1, 2], [], ' , ', true]) {
      assert.throws(() => validateConfig([{ api_key: 'k', streams }]), (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, /streams/);
        return true;
      }, JSON.stringify(streams));
    }
  });
});

describe('config: metrics_attribution_days', () => {
  it('defaults to 15, takes fractions and 0 from the file, the environment or a flag, and refuses a negative', () => {
    assert.equal(validateConfig([{ api_key: 'k123' }]).metricsAttributionDays, 15);
    assert.equal(validateConfig([{ api_key: 'k123', metrics_attribution_days: 0 }]).metricsAttributionDays, 0);
    const env = configFromEnv({ ITERABLE_METRICS_ATTRIBUTION_DAYS: '30' });
    assert.equal(validateConfig([{ api_key: 'k123', metrics_attribution_days: 7 }, env]).metricsAttributionDays, 30);
    assert.equal(validateConfig([{ api_key: 'k123' }, env, { metrics_attribution_days: '2.5' }]).metricsAttributionDays, 2.5);
    const warnings: string[] = [];
    validateConfig([{ api_key: 'k123', metrics_attribution_days: 3 }], { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, [], 'a known key');
    assert.throws(
      () => validateConfig([{ api_key: 'k123', metrics_attribution_days: -1 }]),
      (e: unknown) => e instanceof ConfigError && /metrics_attribution_days must be a number ≥ 0/.test(e.message),
    );
  });
});

describe('config: project_type', () => {
  it('defaults to email; takes the file key, ITERABLE_PROJECT_TYPE or the flag, in any case', () => {
    assert.equal(validateConfig([{ api_key: 'k' }]).projectType, 'email');
    assert.equal(validateConfig([{ api_key: 'k', project_type: 'userId' }]).projectType, 'userId');
    const env = configFromEnv({ ITERABLE_PROJECT_TYPE: 'HYBRID' });
    assert.equal(validateConfig([{ api_key: 'k', project_type: 'userId' }, env]).projectType, 'hybrid');
    assert.equal(validateConfig([{ api_key: 'k' }, env, { project_type: 'userid' }]).projectType, 'userId');
    const warnings: string[] = [];
    validateConfig([{ api_key: 'k', project_type: 'email' }], { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, [], 'a known key');
  });

  it('refuses any other value with the three that work', () => {
    for (const project_type of ['user_id', 'phone', 3, ['email']]) {
      assert.throws(
        () => validateConfig([{ api_key: 'k', project_type }]),
        (e: unknown) => e instanceof ConfigError && /project_type must be "email", "userId", "hybrid"/.test(e.message),
        JSON.stringify(project_type),
      );
    }
  });
});
