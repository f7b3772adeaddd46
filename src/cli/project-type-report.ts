import type { Logger } from '../core/types.js';
import type { IterableClient } from '../iterable/client.js';
import { probeProjectType } from '../iterable/project-type-probe.js';
import { USER_IDENTITY, type ProjectType } from '../streams/project-types.js';

const DESCRIBED: Record<ProjectType, string> = { email: 'email-based', userId: 'userID-based', hybrid: 'hybrid' };

/**
 * `check`'s project-type lines: what Iterable says the project is, the keys `users` and
 * `list_users` get with the configured `project_type`, and a warning when the two differ.
 */
export async function projectTypeReport(client: IterableClient, configured: ProjectType, logger: Logger): Promise<string> {
  const probe = await probeProjectType(client);
  const keyField = USER_IDENTITY[configured].keyField;
  const keys = `project_type ${configured}: users keyed by ${keyField}, list_users by ${keyField}, listId`;
  if (probe.projectType === undefined) {
    return `Project type: unknown (${probe.reason}); ${keys}\n`;
  }
  const lines = [`Project type: ${probe.projectType} (${probe.evidence}); ${keys}`];
  if (probe.projectType !== configured) {
    const warning =
      `project_type is ${configured}, but Iterable says this project is ${DESCRIBED[probe.projectType]}: set "project_type": "${probe.projectType}" ` +
      `(or --project-type ${probe.projectType}) so that users and list_users are keyed by ${USER_IDENTITY[probe.projectType].keyField}`;
    logger.warn(warning);
    lines.push(`Warning: ${warning}`);
  }
  return `${lines.join('\n')}\n`;
}
