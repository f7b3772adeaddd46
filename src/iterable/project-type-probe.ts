import { AuthError, FatalApiError } from '../errors.js';
import type { IterableClient } from './client.js';

/** What the API tells about how the project identifies users. */
export type ProjectTypeProbe =
  | { projectType: 'email' | 'userId' | 'hybrid'; evidence: string }
  | { projectType: undefined; reason: string };

const BY_EMAIL = '/api/users/forgotten';
const BY_USER_ID = '/api/users/forgottenUserIds';

/**
 * Asks Iterable which project type this is. Iterable has no project-settings endpoint, but its
 * two GDPR lists answer by type (OpenAPI): `/api/users/forgotten` "only works for email-based and
 * hybrid projects" and `/api/users/forgottenUserIds` "only works for userID-based and hybrid
 * projects"; each "returns an error" in the other type. Two GETs, 3 a second allowed, paced with
 * getFields. A key that may call neither (read-only) learns nothing.
 */
export async function probeProjectType(client: IterableClient): Promise<ProjectTypeProbe> {
  let byEmail: boolean;
  let byUserId: boolean;
  try {
    byEmail = await answers(client, BY_EMAIL);
    byUserId = await answers(client, BY_USER_ID);
  } catch (error) {
    if (error instanceof AuthError) {
      return { projectType: undefined, reason: `this key may not call ${BY_EMAIL} (HTTP ${error.status}); a server-side key can tell` };
    }
    if (error instanceof FatalApiError) return { projectType: undefined, reason: error.message };
    throw error;
  }
  const evidence = `${BY_EMAIL} ${byEmail ? 'answers' : 'refuses'}, ${BY_USER_ID} ${byUserId ? 'answers' : 'refuses'}`;
  if (byEmail && byUserId) return { projectType: 'hybrid', evidence };
  if (byEmail) return { projectType: 'email', evidence };
  if (byUserId) return { projectType: 'userId', evidence };
  return { projectType: undefined, reason: `both ${BY_EMAIL} and ${BY_USER_ID} answered with an error` };
}

/** True when the endpoint answers, false when it refuses the call with a 400 (the other project type). */
async function answers(client: IterableClient, path: string): Promise<boolean> {
  try {
    await client.getJson<unknown>(path, {}, 'userFields');
    return true;
  } catch (error) {
    if (error instanceof FatalApiError && error.request.status === 400) return false;
    throw error;
  }
}
