import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startFakeIterable } from '../../../src/fake-iterable/server.js';
import { IterableClient } from '../../../src/iterable/client.js';
import { resolveStreamSchema } from '../../../src/streams/schema-resolution.js';
import { STREAMS, type StreamDefinition } from '../../../src/streams/stream-table.js';
import type { Logger } from '../../../src/core/types.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

describe('resolveStreamSchema', () => {
  it("follows the stream's schemaSource, whatever the stream is called", async () => {
    const fake = await startFakeIterable();
    const client = new IterableClient({ apiKey: 'test-server-key', baseUrl: fake.url });
    try {
      const users = STREAMS.find((s) => s.name === 'users')!;
      const campaigns = STREAMS.find((s) => s.name === 'campaigns')!;
      const custom = Object.keys(fake.data.userFields).filter((name) => !(name in users.schema.properties!));
      assert.ok(custom.length > 0, 'the fake project has custom user fields');
      const getFieldsCalls = () => fake.requests.filter((r) => r.path === '/api/users/getFields').length;

      const staticUsers: StreamDefinition = { ...users, schemaSource: 'static' };
      const fromStatic = await resolveStreamSchema(staticUsers, client, silent);
      assert.equal(fromStatic.schema, users.schema);
      assert.equal(getFieldsCalls(), 0, 'a static schema asks Iterable nothing');

      const renamed: StreamDefinition = { ...campaigns, name: 'profiles', schemaSource: 'user-fields' };
      const fromFields = await resolveStreamSchema(renamed, client, silent);
      assert.equal(getFieldsCalls(), 1);
      for (const name of custom) assert.ok(fromFields.schema.properties?.[name], `custom field ${name} added`);
    } finally {
      await client.close();
      await fake.close();
    }
  });
});
