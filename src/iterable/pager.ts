import type { JsonRecord } from '../core/types.js';
import { FatalApiError } from '../errors.js';
import { DEFAULT_PAGE_SIZE } from './rate-limits.js';
import type { EndpointFamily, Query } from './types.js';

/** The calls paging makes; the IterableClient provides them. */
export interface PageReader {
  getJson<T>(path: string, query: Query, family: EndpointFamily): Promise<T>;
  getJsonUrl<T>(url: string, family: EndpointFamily): Promise<T>;
}

/** Where the next page is: a URL Iterable gave (`nextPageUrl`), or the path again with this query. */
export type NextPage = { url: string; token: string } | { query: Query; token: string };

/**
 * How one endpoint pages: the first query, and the next page after a page's body and records (null
 * at the end). `token` names the next page in a message (e.g. `nextMarker abc`); a token seen twice
 * stops the walk, so paging can never loop.
 */
export interface Paging {
  readonly firstQuery: Query;
  next(body: Record<string, unknown>, records: readonly JsonRecord[]): NextPage | null;
}

/**
 * Yields the records under `recordsKey` of every page of `path`, one array a page. The next page is
 * requested only when the consumer asks for it, so work done between pages keeps its order.
 */
export async function* readPages(
  client: PageReader,
  path: string,
  family: EndpointFamily,
  recordsKey: string,
  paging: Paging,
): AsyncGenerator<JsonRecord[]> {
  const seenTokens = new Set<string>();
  let body = await client.getJson<Record<string, unknown>>(path, paging.firstQuery, family);
  for (;;) {
    const records = recordsOf(body, recordsKey, path);
    yield records;
    const next = paging.next(body, records);
    if (next === null) return;
    if (seenTokens.has(next.token)) {
      throw new FatalApiError(`GET ${path}: ${next.token} repeats; stopping to avoid a loop`, { method: 'GET', path });
    }
    seenTokens.add(next.token);
    body =
      'url' in next
        ? await client.getJsonUrl<Record<string, unknown>>(next.url, family)
        : await client.getJson<Record<string, unknown>>(path, next.query, family);
  }
}

/**
 * Campaigns and templates: page/pageSize, following `nextPageUrl` (same origin only, enforced by
 * the client), else asking for the next page number while a `total…Count` says more are left; an
 * empty page ends the walk. A legacy unpaginated answer (no count, no next page) is the only page.
 */
export function pageNumberPaging(query: Query): Paging {
  let page = 1;
  let seen = 0;
  return {
    firstQuery: { ...query, page, pageSize: DEFAULT_PAGE_SIZE },
    next(body, records) {
      seen += records.length;
      page += 1;
      if (records.length === 0) return null;
      const nextUrl = body.nextPageUrl;
      if (typeof nextUrl === 'string' && nextUrl !== '') return { url: nextUrl, token: `nextPageUrl ${nextUrl}` };
      const total = Object.entries(body).find(([k, v]) => /^total\w*Count$/.test(k) && typeof v === 'number')?.[1] as
        | number
        | undefined;
      if (total === undefined || seen >= total) return null;
      return { query: { ...query, page, pageSize: DEFAULT_PAGE_SIZE }, token: `page ${page}` };
    },
  };
}

/** Metadata keys: an opaque `nextMarker` passed back until the answer has none. */
export function markerPaging(): Paging {
  return {
    firstQuery: {},
    next(body) {
      const marker = body.nextMarker;
      return typeof marker === 'string' && marker !== '' ? { query: { nextMarker: marker }, token: `nextMarker ${marker}` } : null;
    },
  };
}

/** The array under `key` of a JSON answer; a FatalApiError naming the path when there is none. */
export function recordsOf(body: unknown, key: string, path: string): JsonRecord[] {
  const value = (body as Record<string, unknown> | null)?.[key];
  if (!Array.isArray(value)) {
    throw new FatalApiError(`GET ${path}: expected a JSON object with a "${key}" array, got ${describe(body)}`, {
      method: 'GET',
      path,
    });
  }
  return value as JsonRecord[];
}

function describe(body: unknown): string {
  const text = JSON.stringify(body) ?? String(body);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
