import { AsyncLocalStorage } from 'node:async_hooks';

/** Fields every log line made inside `runWithLogContext` carries, e.g. the stream being synced. */
export interface LogContext {
  stream?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `body` so that its log lines (and those of everything it calls) carry `context`. */
export function runWithLogContext<T>(context: LogContext, body: () => Promise<T>): Promise<T> {
  return storage.run(context, body);
}

/** The context of the code running now, if any. */
export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}
