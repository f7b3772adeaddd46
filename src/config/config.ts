import { readFile } from 'node:fs/promises';
import { ConfigError, registerSecret } from '../errors.js';
import { parseInstant } from '../core/instants.js';
import { DEFAULT_METRICS_ATTRIBUTION_DAYS } from '../streams/campaign-metrics.js';
import { DEFAULT_PROJECT_TYPE, parseProjectType, PROJECT_TYPES, type ProjectType } from '../streams/project-types.js';
import { parseExportMode, type ConfiguredExportMode } from '../sync/export-mode.js';
import { locateJsonError } from './json-error-position.js';

/** The validated configuration of one run (contract §3). */
export interface Config {
  apiKey: string;
  /** First instant to replicate; required by incremental streams without a bookmark. */
  startDate: Date | null;
  /** Length of one export window in days (fractions allowed). Default 30. */
  windowDays: number;
  region: 'us' | 'eu';
  /** Iterable's base URL, from `base_url` or the region. */
  baseUrl: string;
  /** Destination URL. Default `duckdb:iterable.duckdb`. */
  destination: string;
  /** Re-read this many minutes before a bookmark. Default 60. */
  lookbackMinutes: number;
  /**
   * How long one export window may keep failing (retries, waits and smaller re-reads included)
   * before its stream fails, in minutes. Default 5.
   */
  maxWindowRetryMinutes: number;
  /** `campaign_metrics` re-reads campaigns that ended less than this many days before its last read. Default 15. */
  metricsAttributionDays: number;
  /** How export streams read: data.json (`stream`), export jobs (`jobs`), or `auto`. Default `auto`. */
  exportMode: ConfiguredExportMode;
  /** Streams to run (`streams` key or `--streams`): names as given, or `all`; undefined = the 16 seed streams. */
  streams?: readonly string[] | 'all';
  /** How the project identifies users (`project_type`): keys of `users` and `list_users`. Default `email`. */
  projectType: ProjectType;
}

/** Configuration values as given (file, environment, flags), before validation. */
export type RawConfig = Record<string, unknown>;

const KNOWN_KEYS = new Set([
  'api_key',
  'start_date',
  'api_window_in_days',
  'region',
  'base_url',
  'destination',
  'lookback_minutes',
  'max_window_retry_minutes',
  'metrics_attribution_days',
  'streams',
  'project_type',
  'export_mode',
]);

/** Keys the Python tap-iterable and Meltano add to configs; accepted silently. */
const TOLERATED_KEYS = new Set(['user_agent', 'request_timeout', 'date_window_size']);

const REGION_HOSTS = {
  us: 'https://api.iterable.com',
  eu: 'https://api.eu.iterable.com',
} as const;

const DEFAULT_DESTINATION = 'duckdb:iterable.duckdb';
const DEFAULT_WINDOW_DAYS = 30;
const DEFAULT_LOOKBACK_MINUTES = 60;
const DEFAULT_MAX_WINDOW_RETRY_MINUTES = 5;

/** Reads a JSON config file; errors name the file and what is wrong with it. */
export async function readConfigFile(path: string): Promise<RawConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new ConfigError(`cannot read config file ${path}: ${reason}`, { cause: error });
  }
  // Editors on Windows may save a byte-order mark, which JSON.parse refuses.
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message may quote the file (an unquoted key or value, perhaps the API key):
    // say where and what, never the text, and keep no cause that would hold it.
    const at = locateJsonError(text);
    const where = at ? ` at line ${at.line}, column ${at.column}: expected ${at.problem}` : '';
    throw new ConfigError(
      `config file ${path} is not valid JSON${where}; fix the file: names and strings in double quotes, ` +
        'no trailing commas, e.g. {"api_key": "...", "start_date": "2024-01-01"}',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object such as {"api_key": "...", "start_date": "2024-01-01"}`);
  }
  return parsed as RawConfig;
}

/** The config keys that come from the environment (contract §3). */
export function configFromEnv(env: NodeJS.ProcessEnv): RawConfig {
  const raw: RawConfig = {};
  const map: Array<[string, string]> = [
    ['ITERABLE_API_KEY', 'api_key'],
    ['ITERABLE_START_DATE', 'start_date'],
    ['ITERABLE_REGION', 'region'],
    ['ITERABLE_BASE_URL', 'base_url'],
    ['ITERABLE_DESTINATION', 'destination'],
    ['ITERABLE_MAX_WINDOW_RETRY_MINUTES', 'max_window_retry_minutes'],
    ['ITERABLE_METRICS_ATTRIBUTION_DAYS', 'metrics_attribution_days'],
    ['ITERABLE_PROJECT_TYPE', 'project_type'],
    ['ITERABLE_EXPORT_MODE', 'export_mode'],
  ];
  for (const [name, key] of map) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  return raw;
}

function positiveNumber(raw: RawConfig, key: string, fallback: number, allowZero: boolean): number {
  const value = raw[key];
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    const rule = allowZero ? 'a number ≥ 0' : 'a number > 0';
    throw new ConfigError(`${key} must be ${rule} (got ${JSON.stringify(value)}); for example "${key}": ${fallback}`);
  }
  return n;
}

/**
 * Validates merged raw values (later sources override earlier ones: file, then environment,
 * then flags). Unknown keys are reported through `warn`, never rejected.
 */
export function validateConfig(
  sources: RawConfig[],
  options: { requireApiKey?: boolean; warn?: (message: string) => void } = {},
): Config {
  const raw: RawConfig = Object.assign({}, ...sources);
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key) && !TOLERATED_KEYS.has(key)) {
      options.warn?.(`unknown config key "${key}" ignored (known keys: ${[...KNOWN_KEYS].join(', ')})`);
    }
  }

  const apiKey = raw.api_key;
  if (apiKey !== undefined && typeof apiKey !== 'string') {
    throw new ConfigError('api_key must be a string: the Iterable server-side API key');
  }
  const trimmedKey = (apiKey ?? '').trim();
  if (!trimmedKey && options.requireApiKey !== false) {
    throw new ConfigError(
      'api_key is missing: set the ITERABLE_API_KEY environment variable, or "api_key" in the config file (--config FILE); ' +
        'there is no flag for it, since a flag would show the key in `ps`. ' +
        'Create a server-side key in Iterable under Integrations > API Keys',
    );
  }
  registerSecret(trimmedKey);

  let startDate: Date | null = null;
  if (raw.start_date !== undefined && raw.start_date !== null && raw.start_date !== '') {
    const text = String(raw.start_date);
    startDate = parseInstant(text);
    if (!startDate) {
      throw new ConfigError(
        `start_date "${text}" is not a date: use ISO 8601 (2024-01-31 or 2024-01-31T00:00:00Z) or MM/DD/YYYY (01/31/2024)`,
      );
    }
    if (startDate.getTime() > Date.now()) {
      throw new ConfigError(`start_date ${startDate.toISOString()} is in the future; use a past date`);
    }
  }

  const windowDays = positiveNumber(raw, 'api_window_in_days', DEFAULT_WINDOW_DAYS, false);
  const lookbackMinutes = positiveNumber(raw, 'lookback_minutes', DEFAULT_LOOKBACK_MINUTES, true);
  const maxWindowRetryMinutes = positiveNumber(raw, 'max_window_retry_minutes', DEFAULT_MAX_WINDOW_RETRY_MINUTES, false);
  const metricsAttributionDays = positiveNumber(raw, 'metrics_attribution_days', DEFAULT_METRICS_ATTRIBUTION_DAYS, true);

  const regionText = String(raw.region ?? 'us').trim().toLowerCase();
  if (regionText !== 'us' && regionText !== 'eu') {
    throw new ConfigError(`region must be "us" or "eu" (got ${JSON.stringify(raw.region)}); EU projects use "eu"`);
  }
  const region = regionText;

  let baseUrl: string = REGION_HOSTS[region];
  if (raw.base_url !== undefined && raw.base_url !== null && raw.base_url !== '') {
    const text = String(raw.base_url).trim();
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConfigError(`base_url "${text}" is not a URL; for example "http://127.0.0.1:8080"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`base_url must start with http:// or https:// (got "${text}")`);
    }
    baseUrl = url.origin + url.pathname.replace(/\/(api\/?)?$/, '');
  }

  const destination = String(raw.destination ?? DEFAULT_DESTINATION).trim() || DEFAULT_DESTINATION;
  const streams = streamList(raw.streams);
  const projectType = projectTypeOf(raw.project_type);
  const exportMode = parseExportMode(raw.export_mode);

  return {
    apiKey: trimmedKey,
    startDate,
    windowDays,
    region,
    baseUrl,
    destination,
    lookbackMinutes,
    maxWindowRetryMinutes,
    metricsAttributionDays,
    projectType,
    exportMode,
    ...(streams !== undefined ? { streams } : {}),
  };
}

/**
 * The `streams` key: `"all"`, a list of names, or a comma-separated string (as `--streams`).
 * Whether the names exist is checked where streams are selected; here only the shape.
 */
function streamList(value: unknown): readonly string[] | 'all' | undefined {
  if (value === undefined || value === null) return undefined;
  const names = typeof value === 'string' ? value.split(',') : Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
  if (names === undefined) {
    throw new ConfigError(`streams must be "all" or a list of stream names (got ${JSON.stringify(value)}); for example "streams": ["email_send", "push_send"]`);
  }
  const parsed = streamNames(names);
  if (parsed.length === 0) throw new ConfigError('streams names no stream; leave it out for the 16 seed streams, or use "all" or a list such as ["email_send", "push_send"]');
  return parsed;
}

/** Stream names as written (`a, b` split on commas, or a list), trimmed, blanks dropped; `all` alone means every stream. */
export function streamNames(names: string | readonly string[]): readonly string[] | 'all' {
  const trimmed = (typeof names === 'string' ? names.split(',') : names).map((n) => n.trim()).filter(Boolean);
  return trimmed.length === 1 && trimmed[0]!.toLowerCase() === 'all' ? 'all' : trimmed;
}

/** The `project_type` key: `email`, `userId` or `hybrid` (any case); absent or empty = `email`. */
function projectTypeOf(value: unknown): ProjectType {
  if (value === undefined || value === null || value === '') return DEFAULT_PROJECT_TYPE;
  const parsed = typeof value === 'string' ? parseProjectType(value) : undefined;
  if (parsed === undefined) {
    throw new ConfigError(
      `project_type must be ${PROJECT_TYPES.map((t) => `"${t}"`).join(', ')} (got ${JSON.stringify(value)}): ` +
        'how the Iterable project identifies users (Project Settings: email-based, userID-based or hybrid); `iterable-sync check` tells',
    );
  }
  return parsed;
}
