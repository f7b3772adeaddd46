import type { JsonSchema } from '../../core/types.js';

/** The six column types iterable-sync writes; each destination names them in its own SQL. */
export type ColumnType = 'bigint' | 'double' | 'boolean' | 'timestamptz' | 'text' | 'json';

/**
 * The column type for a schema property (Singer style, `type: ["null", "integer"]`): integer →
 * bigint, number → double, boolean, string with `format: date-time` → timestamptz, other strings
 * → text; objects, arrays, several types at once and properties without a type → json.
 */
export function columnTypeForSchema(property: JsonSchema | undefined): ColumnType {
  if (!property) return 'json';
  if (property.anyOf && property.anyOf.length > 0) {
    const branches = new Set(
      property.anyOf
        .filter((branch) => !isNullOnly(branch))
        .map((branch) => columnTypeForSchema({ ...branch, format: branch.format ?? property.format })),
    );
    return branches.size === 1 ? [...branches][0]! : 'json';
  }
  const types = (Array.isArray(property.type) ? property.type : property.type ? [property.type] : []).filter(
    (type) => type !== 'null',
  );
  const distinct = new Set(types);
  // An integer is a number: ["integer", "number"] holds numbers.
  if (distinct.size === 2 && distinct.has('integer') && distinct.has('number')) return 'double';
  if (distinct.size !== 1) return 'json';
  switch ([...distinct][0]) {
    case 'integer':
      return 'bigint';
    case 'number':
      return 'double';
    case 'boolean':
      return 'boolean';
    case 'string':
      return property.format === 'date-time' ? 'timestamptz' : 'text';
    default:
      return 'json';
  }
}

function isNullOnly(schema: JsonSchema): boolean {
  return schema.type === 'null' || (Array.isArray(schema.type) && schema.type.length === 1 && schema.type[0] === 'null');
}


/**
 * The column type closest to a type name as information_schema reports it (DuckDB `BIGINT`,
 * `TIMESTAMP WITH TIME ZONE`; PostgreSQL `double precision`, `jsonb`, …), for columns that
 * already exist. Types iterable-sync never creates map to the nearest; anything else is text.
 */
export function columnTypeForSqlType(dataType: string): ColumnType {
  const name = dataType.trim().toLowerCase();
  if (/^(u?(tiny|small|big|huge)?int(eger)?|int[248]?|bigint|smallint|serial|bigserial)$/.test(name)) return 'bigint';
  if (/^(double( precision)?|float[48]?|real|numeric|decimal)\b/.test(name)) return 'double';
  if (name === 'boolean' || name === 'bool') return 'boolean';
  if (name.startsWith('timestamp') || name === 'date') return 'timestamptz';
  if (name === 'json' || name === 'jsonb') return 'json';
  return 'text';
}
