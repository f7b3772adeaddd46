import type { JsonSchema } from '../core/types.js';
import { AuthError } from '../errors.js';
import type { Logger } from '../core/types.js';
import type { IterableReader } from './read-context.js';
import { schemaForIterableFieldType } from './schemas.js';
import type { StreamDefinition } from './stream-table.js';

/** A stream's schema for this project, and the custom fields holding dates. */
export interface ResolvedSchema {
  schema: JsonSchema;
  dateFields: ReadonlySet<string>;
}

/**
 * The stream's schema; for a `user-fields` stream (users, and email_subscribe, whose rows bring
 * the subscriber's profile along), extended with the project's custom fields from
 * `GET /api/users/getFields` when the key may read it (declared fields keep their schema).
 */
export async function resolveStreamSchema(
  stream: StreamDefinition,
  client: IterableReader,
  logger: Logger,
): Promise<ResolvedSchema> {
  if (stream.schemaSource !== 'user-fields') return { schema: stream.schema, dateFields: new Set() };
  let fields: Record<string, string>;
  try {
    const body = await client.getJson<{ fields?: Record<string, string> }>('/api/users/getFields', {}, 'userFields');
    fields = body.fields ?? {};
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    logger.warn(`${stream.name}: this key may not read /api/users/getFields; custom fields will be typed from their values`);
    return { schema: stream.schema, dateFields: new Set() };
  }
  const properties: Record<string, JsonSchema> = { ...stream.schema.properties };
  const dateFields = new Set<string>();
  for (const [name, type] of Object.entries(fields)) {
    if (typeof type !== 'string') continue;
    if (type.toLowerCase() === 'date') dateFields.add(name);
    if (name in properties) continue;
    const parent = name.includes('.') ? fields[name.slice(0, name.indexOf('.'))] : undefined;
    // Exports flatten objects into dotted keys, and lists of objects into parallel arrays
    // (`shoppingCartItems.price: [9.99]`), so a child of an object field may be a scalar or a
    // list: declare both, which keeps it as JSON rather than rescuing every list.
    properties[name] = parent?.toLowerCase() === 'object' ? scalarOrList(schemaForIterableFieldType(type)) : schemaForIterableFieldType(type);
  }
  return { schema: { ...stream.schema, properties }, dateFields };
}

/** A property that holds a value of `scalar`'s type, or a list of them. */
function scalarOrList(scalar: JsonSchema): JsonSchema {
  const types = Array.isArray(scalar.type) ? scalar.type : scalar.type !== undefined ? [scalar.type] : [];
  return { type: [...new Set([...types, 'array'])], items: scalar };
}
