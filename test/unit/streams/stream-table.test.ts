import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildCatalog, selectedInCatalog } from '../../../src/streams/catalog.js';
import { STREAMS } from '../../../src/streams/stream-table.js';

const CONTRACT: Record<string, [string, string[], string | undefined]> = {
  campaigns: ['INCREMENTAL', ['id'], 'updatedAt'],
  channels: ['FULL_TABLE', ['id'], undefined],
  email_bounce: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_click: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_complaint: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_open: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_send: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_send_skip: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_subscribe: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  email_unsubscribe: ['INCREMENTAL', ['_event_id'], 'createdAt'],
  list_users: ['FULL_TABLE', ['email', 'listId'], undefined],
  lists: ['FULL_TABLE', ['id'], undefined],
  message_types: ['FULL_TABLE', ['id'], undefined],
  metadata: ['FULL_TABLE', ['table', 'key'], undefined],
  templates: ['INCREMENTAL', ['templateId'], 'updatedAt'],
  users: ['INCREMENTAL', ['email'], 'profileUpdatedAt'],
};

describe('stream table', () => {
  it('declares exactly the 16 streams of the contract with their methods, keys and replication keys', () => {
    assert.deepEqual(STREAMS.map((s) => s.name).sort(), Object.keys(CONTRACT).sort());
    for (const s of STREAMS) {
      const [method, keys, replicationKey] = CONTRACT[s.name]!;
      assert.equal(s.method, method, s.name);
      assert.deepEqual([...s.keyProperties], keys, s.name);
      assert.equal(s.replicationKey, replicationKey, s.name);
    }
  });

  it("declares every stream's key and replication key in its schema", () => {
    for (const s of STREAMS) {
      for (const field of [...s.keyProperties, ...(s.replicationKey ? [s.replicationKey] : [])]) {
        assert.ok(s.schema.properties?.[field], `${s.name}.${field} missing from schema`);
      }
    }
  });

  it('builds a Singer catalog with standard metadata and reads selections back', () => {
    const catalog = buildCatalog(STREAMS.map((stream) => ({ stream, schema: stream.schema })));
    const send = catalog.streams.find((s) => s.tap_stream_id === 'email_send')!;
    const top = send.metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
    assert.deepEqual(top['table-key-properties'], ['_event_id']);
    assert.equal(top['forced-replication-method'], 'INCREMENTAL');
    assert.deepEqual(top['valid-replication-keys'], ['createdAt']);
    assert.equal(send.metadata.find((m) => m.breadcrumb[1] === 'createdAt')!.metadata.inclusion, 'automatic');
    for (const entry of catalog.streams) {
      if (entry.stream !== 'lists') entry.metadata[0]!.metadata.selected = false;
    }
    assert.deepEqual(selectedInCatalog(catalog, STREAMS.map((s) => s.name), 'c'), ['lists']);
  });
});
