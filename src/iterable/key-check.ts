import type { IterableClient } from './client.js';

/** What the key check learnt. */
export interface KeyCheck {
  /**
   * Iterable's clock minus ours, in ms, from the answer's `Date` header (whole seconds, so a
   * clock in step reads between about -1000 and 0); null when the answer had no `Date` header.
   */
  clockOffsetMs: number | null;
}

/**
 * Checks the key with one cheap call (`GET /api/channels`, 100 requests a second, readable by
 * every server-side key type). Throws AuthError when Iterable refuses the key; every command
 * that talks to Iterable runs it first, so a wrong key costs one request and no rate-limit wait.
 */
export async function checkApiKey(client: IterableClient): Promise<KeyCheck> {
  await client.getJson('/api/channels', {}, 'channels');
  const reading = client.iterableClock;
  return { clockOffsetMs: reading === undefined ? null : reading.iterableMs - reading.localMs };
}
