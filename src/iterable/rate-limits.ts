/**
 * Iterable's documented request limits, one per endpoint family, and its page-size maximum. These
 * numbers appear nowhere else: the rate limiter and the retry policy read them from here.
 * Source: the endpoint descriptions of Iterable's Swagger document (`/api-docs`); limits are per
 * project.
 */

import type { EndpointFamily } from './types.js';

/** At most `requests` requests in any `periodMs` window. */
export interface RateLimit {
  readonly requests: number;
  readonly periodMs: number;
}

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;

/** Iterable's limit for every endpoint family. */
export const RATE_LIMITS: Readonly<Record<EndpointFamily, RateLimit>> = {
  // GET /api/export/data.json (and data.csv): "4 requests/minute".
  export: { requests: 4, periodMs: MINUTE_MS },
  // POST /api/export/start: "1 request/second per organization" (4 jobs run at once, the rest queue).
  exportStart: { requests: 1, periodMs: SECOND_MS },
  // GET /api/export/{jobId}/files (also the job's status): "1 request/second per organization".
  exportFiles: { requests: 1, periodMs: SECOND_MS },
  // GET /api/export/jobs: no limit stated; 1/s, as the other job calls, is our own choice.
  exportJobs: { requests: 1, periodMs: SECOND_MS },
  // DELETE /api/export/{jobId}: "1 request/second per project".
  exportCancel: { requests: 1, periodMs: SECOND_MS },
  // An export job's signed file URLs (not Iterable's API host): no limit stated; 10/s is our own choice.
  exportDownload: { requests: 10, periodMs: SECOND_MS },
  // GET /api/lists/getUsers (also previewUsers, {listId}/size): "5 requests/minute".
  listUsers: { requests: 5, periodMs: MINUTE_MS },
  // GET /api/campaigns: "100 requests/second".
  campaigns: { requests: 100, periodMs: SECOND_MS },
  // GET /api/campaigns/metrics: "10 requests/minute, per project".
  campaignMetrics: { requests: 10, periodMs: MINUTE_MS },
  // GET /api/channels: "100 requests/second".
  channels: { requests: 100, periodMs: SECOND_MS },
  // GET /api/lists: "100 requests/second".
  lists: { requests: 100, periodMs: SECOND_MS },
  // GET /api/messageTypes: "100 requests/second".
  messageTypes: { requests: 100, periodMs: SECOND_MS },
  // GET /api/templates: "100 requests/second".
  templates: { requests: 100, periodMs: SECOND_MS },
  // GET /api/users/getFields: "3 requests/second".
  userFields: { requests: 3, periodMs: SECOND_MS },
  // GET /api/metadata[/{table}[/{key}]]: no limit stated; 10/s is our own conservative choice.
  metadata: { requests: 10, periodMs: SECOND_MS },
};

/** At most this many export jobs run at once per organization; Iterable queues the rest. */
export const MAX_RUNNING_EXPORT_JOBS = 4;

/** GET /api/campaigns and GET /api/templates `pageSize`: "default 20, maximum 1000". */
export const MAX_PAGE_SIZE = 1000;

/** Page size the connector asks for: the maximum, so paging costs the fewest requests. */
export const DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE;
