import type { JsonRecord, JsonSchema } from '../core/types.js';

/** How an Iterable project identifies its users (contract §3 `project_type`, §4a). */
export const PROJECT_TYPES = ['email', 'userId', 'hybrid'] as const;
export type ProjectType = (typeof PROJECT_TYPES)[number];

/** Default of `project_type`. */
export const DEFAULT_PROJECT_TYPE: ProjectType = 'email';

/** The fields that identify a user in Iterable's rows; a row may carry any of them, or none. */
export const USER_ID_FIELDS = ['email', 'userId', 'itblUserId'] as const;
export type UserIdField = (typeof USER_ID_FIELDS)[number];

/** What each project type means for the user-keyed streams (contract §4a). */
export interface UserIdentity {
  /** The field `users` is keyed on, and `list_users` with `listId`. */
  keyField: UserIdField;
  /**
   * Ask `GET /api/lists/getUsers` with `preferUserId=true`: the userId instead of the email of a
   * user who has both. userId-based projects may hold users without an email, so only the userId
   * names every member; hybrid projects get the userId where one exists.
   */
  preferUserId: boolean;
  /** What a line of getUsers is: always an email, always a userId, or either (hybrid). */
  listMember: 'email' | 'userId' | 'emailOrUserId';
}

/** The identity rules by project type: the one place that says how each type keys users. */
export const USER_IDENTITY: Readonly<Record<ProjectType, UserIdentity>> = {
  email: { keyField: 'email', preferUserId: false, listMember: 'email' },
  userId: { keyField: 'userId', preferUserId: true, listMember: 'userId' },
  // Iterable's internal id of hybrid (and userId) projects; getUsers never prints it, so
  // list_users rows always take the fallback key (see `fillUserKey`).
  hybrid: { keyField: 'itblUserId', preferUserId: true, listMember: 'emailOrUserId' },
};

/** Parses a `project_type` value (case-insensitive); undefined when it is none of the three. */
export function parseProjectType(text: string): ProjectType | undefined {
  const lower = text.trim().toLowerCase();
  return PROJECT_TYPES.find((t) => t.toLowerCase() === lower);
}

/**
 * The record's key, made present: when the user key field is missing or empty, it takes the
 * first other identifier the record has, prefixed with that field's name (`userId:u123`,
 * `email:jane@example.com`, `itblUserId:…`), so that a user without the key field still lands,
 * once, and the value says where it came from. Returns false when the record has no identifier
 * at all (it then goes to `_rejected` with its raw text, as any record without a key).
 */
export function fillUserKey(record: JsonRecord, keyField: UserIdField): boolean {
  if (hasValue(record[keyField])) return true;
  for (const field of FALLBACK_ORDER[keyField]) {
    const value = record[field];
    if (hasValue(value)) {
      record[keyField] = `${field}:${String(value)}`;
      return true;
    }
  }
  return false;
}

const FALLBACK_ORDER: Readonly<Record<UserIdField, readonly UserIdField[]>> = {
  email: ['userId', 'itblUserId'],
  userId: ['itblUserId', 'email'],
  itblUserId: ['userId', 'email'],
};

function hasValue(value: unknown): boolean {
  return (typeof value === 'string' && value !== '') || typeof value === 'number';
}

/** A getUsers line as a record of the project type (before the key fallback). */
export function listMemberRecord(line: string, projectType: ProjectType): JsonRecord {
  const { listMember } = USER_IDENTITY[projectType];
  // Hybrid: getUsers with preferUserId=true prints the userId, or the email of a user without
  // one. Iterable accepts only valid addresses as emails, so a line with an `@` is read as one.
  const field = listMember === 'emailOrUserId' ? (line.includes('@') ? 'email' : 'userId') : listMember;
  return { [field]: line };
}
