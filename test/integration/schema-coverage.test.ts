import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { generateFakeData, isGeneratedRows, startFakeIterable, type FakeData, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, parseSinger, runCli, type SingerMessage } from './cli-harness.js';

const KEY = 'test-server-key';

type Schema = Record<string, unknown>;

/**
 * The schema with `additionalProperties: false` on every object that declares its properties, at
 * every depth (nested objects, array items, anyOf branches). A free-form object (`dataFields`,
 * metadata `value`: no `properties`) stays open: its content is the project's own.
 */
function closed(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (schema.properties !== undefined) {
    out.properties = Object.fromEntries(Object.entries(schema.properties as Record<string, Schema>).map(([name, p]) => [name, closed(p)]));
    out.additionalProperties = false;
  }
  if (schema.items !== undefined) out.items = closed(schema.items as Schema);
  if (Array.isArray(schema.anyOf)) out.anyOf = (schema.anyOf as Schema[]).map(closed);
  return out;
}

/** Custom profile fields this test gives the project: no schema can know them, getFields declares them. */
const PROJECT_FIELDS = { loyaltyTier: 'string', memberSince: 'date', visits: 'long' } as const;

/** The default fake project, plus custom profile fields on some users and on their subscribe events. */
function projectWithCustomFields(): FakeData {
  const data = generateFakeData({ seed: 23 });
  Object.assign(data.userFields, PROJECT_FIELDS);
  const users = data.events.user;
  const subscribes = data.events.emailSubscribe;
  assert.ok(users !== undefined && !isGeneratedRows(users) && subscribes !== undefined && !isGeneratedRows(subscribes));
  const custom = (n: number) => ({ loyaltyTier: ['gold', 'silver'][n % 2], memberSince: `2023-0${(n % 9) + 1}-15`, visits: n * 3 });
  users.forEach((u, n) => n % 3 === 0 && Object.assign(u, custom(n)));
  subscribes.forEach((s, n) => n % 3 === 0 && Object.assign(s, custom(n)));
  return data;
}

describe('schemas declare every field Iterable sends', () => {
  let fake: FakeIterable;
  let messages: SingerMessage[];
  let staticSchemas: Map<string, Schema>;
  let catalog: { streams: Array<{ tap_stream_id: string; schema: Schema; metadata: Array<{ breadcrumb: string[]; metadata: Schema }> }> };

  before(async () => {
    fake = await startFakeIterable({ data: projectWithCustomFields() });
    // Without a key, discover prints the schemas as the code declares them, with no project field.
    const discovered = await runCli(['discover'], cliEnv());
    assert.equal(discovered.code, 0, discovered.stderr);
    catalog = JSON.parse(discovered.stdout) as typeof catalog;
    staticSchemas = new Map(catalog.streams.map((s) => [s.tap_stream_id, s.schema]));
    const result = await runCli(
      ['tap', '--base-url', fake.url, '--start-date', '2023-12-01', '--window-days', '365', '--streams', 'all'],
      cliEnv({ ITERABLE_API_KEY: KEY }),
      { timeoutMs: 300_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    messages = parseSinger(result.stdout);
  });

  after(async () => {
    await fake.close();
  });

  it('tap --streams all: no record of any stream carries a property its SCHEMA does not declare, at any depth', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormatsModule.default(ajv);
    const validators = new Map<string, ReturnType<typeof ajv.compile>>();
    const problems = new Map<string, Set<string>>();
    const recordsPerStream = new Map<string, number>();
    for (const m of messages) {
      if (m.type === 'SCHEMA') validators.set(m.stream!, ajv.compile(closed(m.schema!)));
      if (m.type !== 'RECORD') continue;
      recordsPerStream.set(m.stream!, (recordsPerStream.get(m.stream!) ?? 0) + 1);
      const validate = validators.get(m.stream!)!;
      if (validate(m.record)) continue;
      const found = problems.get(m.stream!) ?? new Set<string>();
      for (const e of validate.errors ?? []) {
        const what = e.keyword === 'additionalProperties' ? `undeclared ${e.instancePath}/${String(e.params.additionalProperty)}` : `${e.instancePath} ${e.message}`;
        found.add(what);
      }
      problems.set(m.stream!, found);
    }
    assert.equal(validators.size, staticSchemas.size, 'a SCHEMA for every stream');
    for (const stream of staticSchemas.keys()) assert.ok((recordsPerStream.get(stream) ?? 0) > 0, `${stream}: the fake sent records`);
    const report = [...problems].map(([stream, found]) => `${stream}: ${[...found].slice(0, 12).join('; ')}`);
    assert.deepEqual(report, []);
  });

  it('every property, at any depth, of every SCHEMA the tap writes has a type (none is `{}`)', () => {
    const untyped: string[] = [];
    const walk = (schema: Schema, path: string) => {
      if (schema.type === undefined && !Array.isArray(schema.anyOf)) untyped.push(path);
      for (const [name, p] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) walk(p, `${path}.${name}`);
      if (schema.items !== undefined) walk(schema.items as Schema, `${path}[]`);
    };
    for (const m of messages) if (m.type === 'SCHEMA') walk(m.schema!, m.stream!);
    assert.deepEqual(untyped, []);
  });

  it("every event stream's records carry Iterable's itblInternal bookkeeping somewhere, so the check above covers it", () => {
    const withBookkeeping = new Set<string>();
    for (const m of messages) {
      if (m.type === 'RECORD' && m.record!._event_id !== undefined && typeof m.record!.itblInternal === 'object') withBookkeeping.add(m.stream!);
    }
    const eventStreams = [...staticSchemas].filter(([, schema]) => '_event_id' in (schema.properties as Schema)).map(([name]) => name);
    assert.equal(eventStreams.length, 52);
    assert.deepEqual(eventStreams.filter((s) => !withBookkeeping.has(s)), []);
  });

  it("the project's own profile fields reach users and email_subscribe, declared (typed) from getFields and nowhere else", () => {
    const schemaOf = new Map<string, Schema>();
    for (const m of messages) if (m.type === 'SCHEMA') schemaOf.set(m.stream!, m.schema!);
    for (const stream of ['users', 'email_subscribe']) {
      const declared = schemaOf.get(stream)!.properties as Record<string, Schema>;
      const known = staticSchemas.get(stream)!.properties as Record<string, Schema>;
      for (const field of Object.keys(PROJECT_FIELDS)) assert.ok(!(field in known), `${stream}.${field} is the project's, not the code's`);
      assert.deepEqual(declared.loyaltyTier?.type, ['null', 'string'], `${stream}.loyaltyTier`);
      assert.equal(declared.memberSince?.format, 'date-time', `${stream}.memberSince`);
      assert.deepEqual(declared.visits?.type, ['null', 'integer'], `${stream}.visits`);
      const records = messages.filter((m) => m.type === 'RECORD' && m.stream === stream).map((m) => m.record!);
      const withCustom = records.filter((r) => r.loyaltyTier !== undefined);
      assert.ok(withCustom.length > 0, `${stream}: some records carry the project's fields`);
      for (const r of withCustom) assert.match(String(r.memberSince), /^\d{4}-\d{2}-\d{2}T00:00:00\.000Z$/, `${stream}: a custom date becomes an instant`);
      // Every field outside the code's schema is one that getFields declares.
      const undeclaredByCode = new Set(records.flatMap((r) => Object.keys(r)).filter((f) => !(f in known)));
      for (const field of undeclaredByCode) assert.ok(field in fake.data.userFields, `${stream}.${field} is declared neither by the code nor by getFields`);
    }
  });

  it('discover: list_users names lists as its parent stream, as tap-iterable does', () => {
    const top = (name: string) => catalog.streams.find((s) => s.tap_stream_id === name)!.metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
    assert.equal(top('list_users')['parent-tap-stream-id'], 'lists');
    assert.equal(top('lists')['parent-tap-stream-id'], undefined);
  });
});
