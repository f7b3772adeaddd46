import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { requestContext } from './request-context.js';
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';

import {
  AuthError,
  ConnectorError,
  FatalApiError,
  RetryableApiError,
  SignedUrlExpiredError,
  redactSecrets,
  registerSecret,
  type RequestDescription,
} from '../errors.js';
import type { FailureBudget } from './failure-budget.js';
import { LineSplitter } from './line-splitter.js';
import { RateLimiter } from './rate-limiter.js';
import {
  DEFAULT_RETRY_POLICY,
  decideRetry,
  describeStatus,
  errorCodeOf,
  parseRetryAfter,
  type AttemptFailure,
  type RetryPolicyOptions,
} from './retry-policy.js';
import type { Logger } from '../core/types.js';
import type { ClientStats, EndpointFamily, IterableClientOptions, Query } from './types.js';
import { userAgent } from './user-agent.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;
const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
/** Error bodies are read up to this size for Iterable's `msg`; the rest is dropped. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** A line longer than this is refused, so one runaway line cannot exhaust memory. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;
/** Paths in messages are cut to this length. */
const MAX_DESCRIBED_PATH_CHARS = 300;

const JSON_ACCEPT = 'application/json';
const TEXT_ACCEPT = 'text/plain, text/csv;q=0.9, */*;q=0.8';
const STREAM_ACCEPT = 'application/x-json-stream, text/plain;q=0.9, */*;q=0.8';

const BAD_KEY_HINT =
  'Check the API key (a server-side key of this project), and that region or base_url point at ' +
  "the project's data centre (keys of EU projects need region eu).";
const PERMISSION_HINT =
  'This key may not call this endpoint: read-only keys cannot call /api/export/* or ' +
  '/api/lists/getUsers; use a server-side key to read those streams.';

const PROXY_ENV_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] as const;

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The method and JSON body of a request; GET without a body unless said. */
interface HttpCall {
  method: 'GET' | 'POST' | 'DELETE';
  body?: string;
}

const GET_CALL: HttpCall = { method: 'GET' };

/** Reads a 2xx response inside one attempt; a plain (non-Connector) error counts as a cut body. */
type Consume<R> = (response: Dispatcher.ResponseData, request: RequestDescription) => Promise<R>;

interface Timeouts {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** Per-request options. */
export interface RequestOptions {
  /**
   * The time the caller's unit of work may still spend failing: retries stop, and rate-limit
   * waits end, at its deadline. Default unbounded (only `maxAttempts`).
   */
  failureBudget?: FailureBudget;
}

/** Iterable's clock as its last `Date` header told it, and our clock when that answer arrived. */
export interface IterableClockReading {
  iterableMs: number;
  localMs: number;
}

type AttemptOutcome<R> =
  | { isOk: true; value: R }
  | { isOk: false; failure: AttemptFailure; error: RetryableApiError };

/**
 * Iterable's HTTP client: sends the key, paces each endpoint family, retries what the retry
 * policy allows, and turns every failure into a ConnectorError whose message never holds the key.
 */
export class IterableClient {
  readonly stats: ClientStats = {
    requestsByPath: new Map(),
    responsesByStatus: new Map(),
    retries: 0,
    rateLimitWaitMs: new Map(),
  };

  private readonly baseUrl: URL;
  private readonly apiKey: string;
  private readonly dispatcher: Dispatcher;
  private readonly limiter: RateLimiter;
  private readonly retryPolicy: RetryPolicyOptions;
  private readonly timeouts: Timeouts;
  private readonly logger: Logger;
  private readonly signal: AbortSignal | undefined;
  private readonly userAgent = userAgent();
  /** Aborted with the AuthError when Iterable refuses the key itself: every request stops. */
  private readonly keyRefused = new AbortController();
  /** Ends every request in flight: the run stopped (`signal`) or the key was refused. */
  private readonly requestSignal: AbortSignal;
  /** Aborted per family with the AuthError when the key may not call it. */
  private readonly familyRefused = new Map<EndpointFamily, AbortController>();
  private lastClockReading: IterableClockReading | undefined;

  constructor(options: IterableClientOptions) {
    registerSecret(options.apiKey);
    this.apiKey = options.apiKey;
    this.baseUrl = new URL(options.baseUrl);
    this.timeouts = {
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    };
    this.logger = options.logger ?? silentLogger;
    this.signal = options.signal;
    // Every request waiting or in flight listens to it: no listener limit applies.
    setMaxListeners(0, this.keyRefused.signal);
    this.requestSignal = anySignal([options.signal, this.keyRefused.signal]).signal;
    setMaxListeners(0, this.requestSignal);
    this.limiter = new RateLimiter({ timeScale: options.rateLimitTimeScale ?? 1 });
    const backoffMaxMs = options.backoffMaxMs ?? DEFAULT_RETRY_POLICY.backoffMaxMs;
    this.retryPolicy = {
      maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts),
      backoffBaseMs: options.backoffBaseMs ?? DEFAULT_RETRY_POLICY.backoffBaseMs,
      backoffMaxMs,
      retryAfterMaxMs: options.retryAfterMaxMs ?? DEFAULT_RETRY_POLICY.retryAfterMaxMs,
      jitter: options.retryJitter ?? DEFAULT_RETRY_POLICY.jitter,
    };
    const agentOptions: Agent.Options = {
      connect: { timeout: this.timeouts.connectTimeoutMs },
      headersTimeout: this.timeouts.connectTimeoutMs,
      bodyTimeout: this.timeouts.idleTimeoutMs,
    };
    // EnvHttpProxyAgent reads HTTP(S)_PROXY and NO_PROXY itself.
    const usesProxy = PROXY_ENV_VARS.some((name) => (process.env[name] ?? '') !== '');
    this.dispatcher = usesProxy ? new EnvHttpProxyAgent(agentOptions) : new Agent(agentOptions);
  }

  /** GETs `path` and parses its JSON body. */
  async getJson<T>(path: string, query: Query, family: EndpointFamily, options: RequestOptions = {}): Promise<T> {
    return this.fetchJson<T>(this.buildUrl(path, query), family, options);
  }

  /**
   * GETs `path` and returns its whole body as text (a small CSV such as campaign metrics). A body
   * that breaks off is retried like a failed status.
   */
  async getText(path: string, query: Query, family: EndpointFamily, options: RequestOptions = {}): Promise<string> {
    return this.execute(this.buildUrl(path, query), family, TEXT_ACCEPT, options, async (response) => response.body.text());
  }

  /**
   * POSTs `body` as JSON (or DELETEs) `path` and parses the JSON answer; paced and retried like
   * a GET. (A POST that reached Iterable before its connection broke may have taken effect.)
   */
  async sendJson<T>(method: 'POST' | 'DELETE', path: string, body: unknown, family: EndpointFamily, options: RequestOptions = {}): Promise<T> {
    const call: HttpCall = { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) };
    return this.execute(this.buildUrl(path, {}), family, JSON_ACCEPT, options, (response, description) => parseJsonBody<T>(response, description), call);
  }

  /**
   * GETs a signed download URL (an export job's file) **without** the API key, and yields its
   * lines chunk by chunk as they arrive, never the whole body at once. One attempt: a failure
   * throws (403 `SignedUrlExpiredError`, 429/5xx/network/cut body `RetryableApiError`, the rest
   * `FatalApiError`) and the caller decides whether to fetch fresh URLs or read the file again.
   * Paced by `family`; messages show the URL's path only (its query is the signature).
   */
  async *streamSignedUrl(url: string, family: EndpointFamily): AsyncGenerator<string[]> {
    let target: URL;
    try {
      target = new URL(url);
    } catch (error) {
      throw new FatalApiError('GET (signed file URL): not a valid URL; this is likely an Iterable API change, please report it.', { method: 'GET', path: '(signed file URL)' }, { cause: error });
    }
    const shownPath = redactText(`${target.origin}${target.pathname}`);
    const description: RequestDescription = { method: 'GET', path: shownPath };
    const waitSignal = anySignal([this.signal, this.keyRefused.signal]);
    try {
      await this.limiter.acquire(family, { signal: waitSignal.signal, onWait: requestContext.getStore()?.onRateLimitWait });
    } catch (error) {
      this.signal?.throwIfAborted();
      throw error;
    } finally {
      waitSignal.dispose();
    }
    increment(this.stats.requestsByPath, '(export file download)', 1);
    let response: Dispatcher.ResponseData;
    try {
      // No Api-Key: the URL carries its own signature, and the key must never reach another host.
      response = await request(target, {
        method: 'GET',
        dispatcher: this.dispatcher,
        signal: this.requestSignal,
        headers: { accept: STREAM_ACCEPT, 'user-agent': this.userAgent },
        headersTimeout: this.timeouts.connectTimeoutMs,
        bodyTimeout: this.timeouts.idleTimeoutMs,
      });
    } catch (error) {
      this.signal?.throwIfAborted();
      const code = errorCodeOf(error);
      throw new RetryableApiError(`GET ${shownPath}: ${describeNetworkError(error, code, this.timeouts)}`, description, undefined, { cause: error });
    } finally {
      this.limiter.release(family);
    }
    const status = response.statusCode;
    description.status = status;
    increment(this.stats.responsesByStatus, status, 1);
    if (status < 200 || status >= 300) {
      const { detail } = await readErrorDetail(response);
      const message = `GET ${shownPath}: ${describeStatus(status)}${detail ? `; the file host says ${detail}` : ''}`;
      if (status === 403) throw new SignedUrlExpiredError(`${message}; fetching the job's file list again for fresh URLs`, description);
      if (status === 429 || status >= 500) throw new RetryableApiError(message, description, parseRetryAfter(headerValue(response.headers['retry-after'])));
      throw new FatalApiError(`${message}. Retrying will not help.`, description);
    }
    yield* this.restOfBody(new BodyLineReader(response.body), description);
  }

  /** Iterable's clock from the `Date` header of the latest answer; undefined before any. */
  get iterableClock(): IterableClockReading | undefined {
    return this.lastClockReading;
  }

  /**
   * GETs a `nextPageUrl` (absolute, or relative to the base URL). Refuses any other origin than
   * the configured base URL's, so the key never leaves for another host.
   */
  async getJsonUrl<T>(url: string, family: EndpointFamily): Promise<T> {
    let target: URL;
    try {
      target = new URL(url, this.baseUrl);
    } catch (error) {
      const shown = redactText(url);
      throw new FatalApiError(
        `GET ${shown}: not a valid URL (Iterable's nextPageUrl?); this is likely an Iterable API change, please report it.`,
        { method: 'GET', path: shown },
        { cause: error },
      );
    }
    if (target.origin !== this.baseUrl.origin) {
      const shown = describeUrl(target);
      throw new FatalApiError(
        `GET ${shown}: refusing to send the API key to ${redactText(target.origin)}, which is not the configured base URL's origin ${this.baseUrl.origin}.`,
        { method: 'GET', path: shown },
      );
    }
    return this.fetchJson<T>(target, family, {});
  }

  /**
   * GETs `path` and yields the body's lines as they arrive (empty lines skipped), pulling only as
   * fast as the consumer reads. Failures before the first line are retried here; once a line has
   * been yielded, a broken body throws RetryableApiError and the caller redoes its unit of work.
   * Stopping early (`break`) destroys the body and frees the connection.
   */
  async *streamLines(path: string, query: Query, family: EndpointFamily, options: RequestOptions = {}): AsyncGenerator<string> {
    for await (const lines of this.streamLineBatches(path, query, family, options)) yield* lines;
  }

  /**
   * Like `streamLines`, but yields the lines of each received chunk as one array: one await per
   * chunk instead of one per line, for the export path that runs millions of times.
   */
  async *streamLineBatches(
    path: string,
    query: Query,
    family: EndpointFamily,
    options: RequestOptions = {},
  ): AsyncGenerator<string[]> {
    const url = this.buildUrl(path, query);
    const opened = await this.execute(url, family, STREAM_ACCEPT, options, async (response, description) => {
      const reader = new BodyLineReader(response.body);
      try {
        // Read up to the first line inside the attempt, so an early cut is retried here.
        let first: string[] = [];
        while (first.length === 0 && !reader.isDone) {
          first = await reader.next();
          this.checkLineLength(reader, description);
        }
        return { reader, first, description };
      } catch (error) {
        reader.destroy();
        throw error;
      }
    });
    yield* this.restOfBody(opened.reader, opened.description, opened.first);
  }

  /**
   * Yields `first`, then the rest of a body's lines in chunks, then destroys the reader (also when the consumer
   * stops early). A body that breaks off is a RetryableApiError naming how far it got.
   */
  private async *restOfBody(reader: BodyLineReader, description: RequestDescription, first: string[] = []): AsyncGenerator<string[]> {
    try {
      if (first.length > 0) yield first;
      while (!reader.isDone) {
        let lines: string[];
        try {
          lines = await reader.next();
        } catch (error) {
          this.signal?.throwIfAborted();
          this.throwIfKeyRefused();
          throw bodyCutError(description, error, `${reader.lineCount} lines`, this.timeouts);
        }
        this.checkLineLength(reader, description);
        if (lines.length > 0) yield lines;
      }
    } finally {
      reader.destroy();
    }
  }

  /** Closes the connection pool; waits for requests in flight. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async fetchJson<T>(url: URL, family: EndpointFamily, options: RequestOptions): Promise<T> {
    return this.execute(url, family, JSON_ACCEPT, options, (response, description) => parseJsonBody<T>(response, description));
  }

  /** Builds base URL + path + query; arrays become repeated parameters, `undefined` is skipped. */
  private buildUrl(path: string, query: Query): URL {
    if (!path.startsWith('/')) throw new TypeError(`path must start with "/": ${path}`);
    const basePath = this.baseUrl.pathname.replace(/\/+$/, '');
    const url = new URL(basePath + path, this.baseUrl.origin);
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined) continue;
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        url.searchParams.append(name, String(value));
      } else {
        for (const item of value) url.searchParams.append(name, item);
      }
    }
    return url;
  }

  /**
   * Runs attempts until `consume` returns, a failure is not retryable, attempts run out or the
   * failure budget is spent. Each attempt first waits for the rate limiter. Once Iterable refused
   * the key, every request fails at once; once it refused the key a family, so do that family's.
   */
  private async execute<R>(
    url: URL,
    family: EndpointFamily,
    accept: string,
    options: RequestOptions,
    consume: Consume<R>,
    call: HttpCall = GET_CALL,
  ): Promise<R> {
    const shownPath = describeUrl(url);
    const budget = options.failureBudget;
    let previousDelayMs: number | undefined;
    let lastError: RetryableApiError | undefined;
    for (let attempt = 1; ; attempt += 1) {
      const context = requestContext.getStore();
      this.throwIfRefused(family, shownPath);
      const waitSignal = anySignal([this.signal, this.keyRefused.signal, this.familyController(family).signal, deadlineSignal(budget)]);
      let waitedMs: number;
      try {
        waitedMs = await this.limiter.acquire(family, { signal: waitSignal.signal, onWait: context?.onRateLimitWait });
      } catch {
        this.signal?.throwIfAborted();
        this.throwIfRefused(family, shownPath);
        throw budgetSpentError(shownPath, lastError, budget, 'waiting for a rate-limit slot');
      } finally {
        waitSignal.dispose();
      }
      if (waitedMs > 0) {
        increment(this.stats.rateLimitWaitMs, family, waitedMs);
        if (context) context.rateLimitWaitMs += waitedMs;
      }
      increment(this.stats.requestsByPath, url.pathname, 1);

      const outcome = await this.attemptOnce(url, family, shownPath, accept, consume, attempt, call);
      if (outcome.isOk) return outcome.value;
      this.throwIfKeyRefused();

      const { failure, error } = outcome;
      lastError = error;
      budget?.recordFailure();
      const decision = decideRetry(
        {
          attempt,
          failure,
          previousDelayMs,
          rateLimitPeriodMs: this.limiter.scaledPeriodMs(family),
          deadlineMs: budget?.deadlineMs,
        },
        this.retryPolicy,
      );
      if (decision.action === 'fail') {
        if (decision.why === 'exhausted') {
          throw new FatalApiError(
            `${error.message}. Gave up after ${attempt} attempt${attempt === 1 ? '' : 's'}; ${this.exhaustedHint(failure)}`,
            error.request,
            { cause: error },
          );
        }
        if (decision.why === 'deadline') throw budgetSpentError(shownPath, error, budget, `${attempt} attempt${attempt === 1 ? '' : 's'}`);
        throw this.refuse(family, this.nonRetryableError(error, failure));
      }

      this.stats.retries += 1;
      previousDelayMs = decision.delayMs;
      const fields = { attempt, maxAttempts: this.retryPolicy.maxAttempts, delayMs: decision.delayMs, reason: decision.reason };
      if (context?.onRetry) {
        context.onRetry({ waitMs: decision.delayMs, reason: decision.reason, attempt, path: shownPath });
        this.logger.debug(`retrying ${call.method} ${shownPath} in ${decision.delayMs} ms: ${decision.reason}`, fields);
      } else {
        this.logger.warn(`retrying ${call.method} ${shownPath} in ${decision.delayMs} ms: ${decision.reason}`, fields);
      }
      // A 429 concerns the whole family: hold back every request of it, not just this one.
      if (decision.isRateLimited) this.limiter.penalize(family, decision.delayMs);
      const sleepSignal = anySignal([this.signal, this.keyRefused.signal, this.familyController(family).signal]);
      try {
        await sleep(decision.delayMs, sleepSignal.signal);
      } catch {
        this.signal?.throwIfAborted();
        this.throwIfRefused(family, shownPath);
      } finally {
        sleepSignal.dispose();
      }
    }
  }

  /**
   * Remembers an AuthError: a refused key stops every request of the client (waiting, sleeping
   * or in flight), a refused permission every request of the family. Returns the error.
   */
  private refuse(family: EndpointFamily, error: ConnectorError): ConnectorError {
    if (!(error instanceof AuthError)) return error;
    const controller = error.refusal === 'key' ? this.keyRefused : this.familyController(family);
    if (!controller.signal.aborted) controller.abort(error);
    return error;
  }

  private familyController(family: EndpointFamily): AbortController {
    let controller = this.familyRefused.get(family);
    if (!controller) {
      controller = new AbortController();
      setMaxListeners(0, controller.signal);
      this.familyRefused.set(family, controller);
    }
    return controller;
  }

  /** Throws when Iterable refused the key, or the key's access to `family`, earlier in this run. */
  private throwIfRefused(family: EndpointFamily, shownPath: string): void {
    this.throwIfKeyRefused();
    const refused = this.familyRefused.get(family)?.signal;
    if (refused?.aborted) {
      const first = refused.reason as AuthError;
      throw new AuthError(
        `GET ${shownPath}: not sent, because Iterable refused this key access to ${first.path.split('?')[0]} earlier in this run ` +
          `(HTTP ${first.status}). ${PERMISSION_HINT}`,
        first.status,
        shownPath,
        { cause: first, refusal: 'permission' },
      );
    }
  }

  private throwIfKeyRefused(): void {
    if (this.keyRefused.signal.aborted) throw this.keyRefused.signal.reason;
  }

  /** Sends one request and consumes a 2xx; every failure comes back as a RetryableApiError. */
  private async attemptOnce<R>(
    url: URL,
    family: EndpointFamily,
    shownPath: string,
    accept: string,
    consume: Consume<R>,
    attempt: number,
    call: HttpCall,
  ): Promise<AttemptOutcome<R>> {
    const { method } = call;
    const description: RequestDescription = { method, path: shownPath };
    const startedAtMs = Date.now();
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        dispatcher: this.dispatcher,
        signal: this.requestSignal,
        headers: {
          'api-key': this.apiKey,
          accept,
          'user-agent': this.userAgent,
          ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(call.body !== undefined ? { body: call.body } : {}),
        headersTimeout: this.timeouts.connectTimeoutMs,
        bodyTimeout: this.timeouts.idleTimeoutMs,
      });
    } catch (error) {
      this.limiter.release(family);
      this.signal?.throwIfAborted();
      const code = errorCodeOf(error);
      this.logger.debug(`${method} ${shownPath}`, { error: code, durationMs: Date.now() - startedAtMs, attempt });
      return {
        isOk: false,
        failure: { kind: 'network', code },
        error: new RetryableApiError(
          `${method} ${shownPath}: ${describeNetworkError(error, code, this.timeouts)}`,
          description,
          undefined,
          { cause: error },
        ),
      };
    }

    // The answer is here: the limiter counts this request's window from now.
    this.limiter.release(family);
    this.readClock(response.headers.date);
    const status = response.statusCode;
    description.status = status;
    increment(this.stats.responsesByStatus, status, 1);
    this.logger.debug(`${method} ${shownPath}`, { status, durationMs: Date.now() - startedAtMs, attempt });

    if (status >= 200 && status < 300) {
      try {
        return { isOk: true, value: await consume(response, description) };
      } catch (error) {
        this.signal?.throwIfAborted();
        if (error instanceof ConnectorError) throw error;
        response.body.destroy();
        const code = errorCodeOf(error);
        return {
          isOk: false,
          failure: { kind: 'bodyCut', code },
          error: new RetryableApiError(
            `${method} ${shownPath}: ${describeStatus(status)} but the response body broke off (${describeNetworkError(error, code, this.timeouts)})`,
            description,
            undefined,
            { cause: error },
          ),
        };
      }
    }

    const retryAfter = headerValue(response.headers['retry-after']);
    const { detail, iterableCode } = await readErrorDetail(response);
    const location = status >= 300 && status < 400 ? headerValue(response.headers.location) : undefined;
    const message =
      `${method} ${shownPath}: ${describeStatus(status)}${detail ? `; Iterable says ${detail}` : ''}` +
      (location ? `; redirected to ${redactText(location)}` : '');
    return {
      isOk: false,
      failure: { kind: 'status', status, retryAfter, iterableCode },
      error: new RetryableApiError(message, description, parseRetryAfter(retryAfter)),
    };
  }

  /** The error for a failure retrying cannot fix, with what to do next. */
  private nonRetryableError(lastError: RetryableApiError, failure: AttemptFailure): ConnectorError {
    const { request: description } = lastError;
    if (failure.kind === 'status') {
      const { status } = failure;
      if (status === 401 || status === 403) {
        // Iterable answers a wrong key with 401 `BadApiKey`; a key that may not call an
        // endpoint gets another code (or 403).
        const refusal = status === 401 && failure.iterableCode === 'BadApiKey' ? 'key' : 'permission';
        return new AuthError(`${lastError.message}. ${refusal === 'key' ? BAD_KEY_HINT : PERMISSION_HINT}`, status, description.path, {
          cause: lastError.cause,
          refusal,
        });
      }
      return new FatalApiError(`${lastError.message}. ${statusHint(status)}`, description, {
        cause: lastError.cause,
      });
    }
    return new FatalApiError(`${lastError.message}. ${this.networkHint(failure.code)}`, description, {
      cause: lastError.cause,
    });
  }

  /** What to do when every attempt failed. */
  private exhaustedHint(failure: AttemptFailure): string {
    if (failure.kind === 'network') return `${this.networkHint(failure.code)} Or run again later.`;
    if (failure.kind === 'status' && failure.status === 429) {
      return 'Iterable kept answering 429: another client may be using this project\'s rate limit; run again later.';
    }
    return 'Iterable may be degraded; run again later.';
  }

  /** What to do about a connection-level failure. */
  private networkHint(code: string | undefined): string {
    if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') {
      return 'A request was made after close(); this is a bug in iterable-sync.';
    }
    if (code !== undefined && /CERT|SELF_SIGNED|TLS|SSL/.test(code)) {
      return 'TLS verification failed: if a proxy re-signs TLS traffic, point NODE_EXTRA_CA_CERTS at its CA certificate.';
    }
    return `Check base_url / region and that this machine can reach ${this.baseUrl.origin} (proxy: HTTPS_PROXY / NO_PROXY).`;
  }

  /** Notes Iterable's clock from a `Date` header (whole seconds, so up to 1 s behind). */
  private readClock(header: string | string[] | undefined): void {
    const text = headerValue(header);
    const iterableMs = text === undefined ? Number.NaN : Date.parse(text);
    if (!Number.isNaN(iterableMs)) this.lastClockReading = { iterableMs, localMs: Date.now() };
  }

  private checkLineLength(reader: BodyLineReader, description: RequestDescription): void {
    if (reader.pendingBytes > MAX_LINE_BYTES) {
      throw new FatalApiError(
        `${description.method} ${description.path}: a line of the response exceeds ${MAX_LINE_BYTES} bytes; ` +
          'this is not a line-delimited body, check base_url.',
        description,
      );
    }
  }
}

/** Reads a 2xx body as JSON; a body that is not JSON is a FatalApiError. */
async function parseJsonBody<T>(response: Dispatcher.ResponseData, description: RequestDescription): Promise<T> {
  const text = await response.body.text();
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new FatalApiError(
      `${description.method} ${description.path}: ${describeStatus(response.statusCode)} but the body is not JSON ` +
        `(${summarizeBody(text) || 'empty body'}); check base_url: it must point at Iterable's API host.`,
      description,
      { cause: error },
    );
  }
}

/** Pulls a body chunk by chunk (so backpressure reaches the socket) and splits it into lines. */
class BodyLineReader {
  lineCount = 0;
  isDone = false;
  private readonly iterator: AsyncIterator<Buffer>;
  private readonly splitter = new LineSplitter();

  constructor(private readonly body: Readable) {
    this.iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  get pendingBytes(): number {
    return this.splitter.pendingBytes;
  }

  /** The lines completed by the next chunk (maybe none); sets `isDone` at the end of the body. */
  async next(): Promise<string[]> {
    if (this.isDone) return [];
    const result = await this.iterator.next();
    const lines = result.done ? this.splitter.end() : this.splitter.push(result.value);
    if (result.done) this.isDone = true;
    this.lineCount += lines.length;
    return lines;
  }

  /** Frees the connection unless the body was read to its end. */
  destroy(): void {
    if (!this.body.destroyed && !this.isDone) this.body.destroy();
  }
}

/** The RetryableApiError for a body that broke off after `progress` (e.g. "1234 lines"). */
function bodyCutError(
  description: RequestDescription,
  error: unknown,
  progress: string,
  timeouts: Timeouts,
): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const reason = describeNetworkError(error, errorCodeOf(error), timeouts);
  return new RetryableApiError(
    `${description.method} ${description.path}: response body cut after ${progress} (${reason})`,
    description,
    undefined,
    { cause: error },
  );
}

/** Short, key-free words for a network failure: "socket closed", "no data for 300 s". */
function describeNetworkError(error: unknown, code: string | undefined, timeouts: Timeouts): string {
  switch (code) {
    case 'UND_ERR_SOCKET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'socket closed';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'UND_ERR_BODY_TIMEOUT':
      return `no data for ${timeouts.idleTimeoutMs} ms (idle timeout)`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `no response headers within ${timeouts.connectTimeoutMs} ms (connect timeout)`;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `could not connect within ${timeouts.connectTimeoutMs} ms (connect timeout)`;
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'body shorter than its Content-Length';
    case 'ENOTFOUND':
      return 'host not found';
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return 'the client is closed';
    default: {
      const message = error instanceof Error ? error.message : String(error);
      // e.g. "Response does not match the HTTP/1.1 protocol (Invalid character in chunk size)"
      if (code?.startsWith('HPE_')) return redactText(`invalid HTTP framing: ${message}`);
      return redactText(code ? `${code}: ${message}` : message);
    }
  }
}

/** What to do after a non-retryable status. */
function statusHint(status: number): string {
  if (status === 404) return 'Check base_url / region: this path does not exist on that host.';
  if (status >= 300 && status < 400) return 'Check base_url: it must be the API host itself (e.g. https://api.iterable.com).';
  if (status === 400) return 'Iterable refused the parameters; retrying will not help.';
  return 'Retrying will not help.';
}

/** Reads a small error body: Iterable's `msg` and `code` for messages (or a snippet of the text), and its `code`. */
async function readErrorDetail(response: Dispatcher.ResponseData): Promise<{ detail: string | undefined; iterableCode?: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_ERROR_BODY_BYTES) break; // destroys the rest
    }
  } catch {
    // A broken error body still leaves us the status.
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const parsed = JSON.parse(text) as { msg?: unknown; code?: unknown };
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.msg === 'string') {
      const iterableCode = typeof parsed.code === 'string' ? parsed.code : undefined;
      const code = iterableCode !== undefined ? ` (code ${iterableCode})` : '';
      return { detail: redactText(`"${parsed.msg.trim()}"${code}`), ...(iterableCode !== undefined ? { iterableCode } : {}) };
    }
  } catch {
    // Not the JSON envelope: HTML 404 pages, plain text.
  }
  const summary = summarizeBody(text);
  return { detail: summary === '' ? undefined : summary };
}

/** The first 200 characters of a body, without HTML tags, on one line, redacted. */
function summarizeBody(text: string): string {
  const flat = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return redactText(flat.length > 200 ? `${flat.slice(0, 200)}…` : flat);
}

/** `pathname?query`, form-decoded for reading, key-free, cut to a readable length. */
function describeUrl(url: URL): string {
  let query = url.search;
  try {
    query = decodeURIComponent(query.replace(/\+/g, ' '));
  } catch {
    // Keep the encoded form if it does not decode.
  }
  const text = redactText(url.pathname + query);
  return text.length > MAX_DESCRIBED_PATH_CHARS ? `${text.slice(0, MAX_DESCRIBED_PATH_CHARS)}…` : text;
}

/** Removes registered secrets and any `api_key=` / `apiKey=` parameter value. */
function redactText(text: string): string {
  return redactSecrets(text).replace(/([?&;\s](?:api[_-]?key)=)[^&\s#]*/gi, '$1***');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function increment<K>(map: Map<K, number>, key: K, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** Waits `ms`; rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One signal that aborts when any of `signals` does (with its reason); `dispose` detaches it.
 * (AbortSignal.any would keep every combined signal alive as long as the long-lived sources.)
 */
function anySignal(signals: ReadonlyArray<AbortSignal | undefined>): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const detach: Array<() => void> = [];
  for (const source of signals) {
    if (!source) continue;
    if (source.aborted) {
      controller.abort(source.reason);
      break;
    }
    const onAbort = () => controller.abort(source.reason);
    source.addEventListener('abort', onAbort, { once: true });
    detach.push(() => source.removeEventListener('abort', onAbort));
  }
  return { signal: controller.signal, dispose: () => detach.forEach((d) => d()) };
}

/** A signal that aborts when the budget's deadline passes; undefined before its first failure. */
function deadlineSignal(budget: FailureBudget | undefined): AbortSignal | undefined {
  const remainingMs = budget?.remainingMs();
  return remainingMs === undefined ? undefined : AbortSignal.timeout(remainingMs);
}

/**
 * The error when a failure budget is spent: fatal for this request, with the last retryable
 * failure (or one describing the wait) as cause, so the caller treats it as its unit failing.
 */
function budgetSpentError(shownPath: string, lastError: RetryableApiError | undefined, budget: FailureBudget | undefined, after: string): FatalApiError {
  const description: RequestDescription = lastError?.request ?? { method: 'GET', path: shownPath };
  const minutes = ((budget?.limitMs ?? 0) / 60_000).toFixed(1).replace(/\.0$/, '');
  budget?.giveUp();
  const last = lastError ?? new RetryableApiError(`GET ${shownPath}: still failing while ${after}`, description);
  return new FatalApiError(
    `${last.message}. Stopped after ${after}: the ${minutes}-minute failure budget is spent`,
    description,
    { cause: last },
  );
}
