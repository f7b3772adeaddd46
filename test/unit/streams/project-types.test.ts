import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildCatalog } from '../../../src/streams/catalog.js';
import { ExportLineParser, parseExportLines } from '../../../src/streams/export-lines.js';
import { fillUserKey, listMemberRecord, parseProjectType, PROJECT_TYPES } from '../../../src/streams/project-types.js';
import { forProjectType, STREAMS, streamsForProjectType } from '../../../src/streams/stream-table.js';

const findStream = (name: string) => STREAMS.find((s) => s.name === name);
import { FlatDocument } from '../../../src/core/rows.js';

const users = findStream('users')!;
const listUsers = findStream('list_users')!;

describe('project types', () => {
  it('keys users and list_users by the identifier of each project type (contract §4a)', () => {
    const expected = {
      email: { users: ['email'], list_users: ['email', 'listId'] },
      userId: { users: ['userId'], list_users: ['userId', 'listId'] },
      hybrid: { users: ['itblUserId'], list_users: ['itblUserId', 'listId'] },
    };
    for (const projectType of PROJECT_TYPES) {
      assert.deepEqual(users.keyPropertiesFor!(projectType), expected[projectType].users);
      assert.deepEqual(forProjectType(users, projectType).keyProperties, expected[projectType].users);
      assert.deepEqual(forProjectType(listUsers, projectType).keyProperties, expected[projectType].list_users);
    }
  });

  it('changes no other stream, and nothing at all in an email project', () => {
    for (const projectType of PROJECT_TYPES) {
      const resolved = streamsForProjectType(STREAMS, projectType);
      for (const [i, stream] of resolved.entries()) {
        if (stream.name === 'users' || stream.name === 'list_users') continue;
        assert.equal(stream, STREAMS[i], `${stream.name} in a ${projectType} project`);
      }
    }
    assert.deepEqual(streamsForProjectType(STREAMS, 'email'), STREAMS);
  });

  it('types the key as a non-null string and the other identifiers as nullable in the schema and catalog', () => {
    const resolved = forProjectType(users, 'userId');
    const props = resolved.schema.properties!;
    assert.deepEqual(props.userId, { type: 'string' });
    assert.deepEqual(props.email, { type: ['null', 'string'] });
    assert.deepEqual(props.itblUserId, { type: ['null', 'string'] });
    assert.deepEqual(props.profileUpdatedAt, users.schema.properties!.profileUpdatedAt, 'other fields unchanged');
    const members = forProjectType(listUsers, 'hybrid').schema.properties!;
    assert.deepEqual(Object.keys(members), ['itblUserId', 'email', 'userId', 'listId', 'updatedAt']);
    const catalog = buildCatalog([{ stream: resolved, schema: resolved.schema }]);
    const entry = catalog.streams[0]!;
    assert.deepEqual(entry.key_properties, ['userId']);
    const userIdMeta = entry.metadata.find((m) => m.breadcrumb[1] === 'userId')!;
    assert.equal(userIdMeta.metadata.inclusion, 'automatic');
  });

  it('parses project_type values case-insensitively and refuses others', () => {
    assert.equal(parseProjectType('userid'), 'userId');
    assert.equal(parseProjectType(' Hybrid '), 'hybrid');
    assert.equal(parseProjectType('EMAIL'), 'email');
    assert.equal(parseProjectType('phone'), undefined);
    assert.equal(parseProjectType(''), undefined);
  });
});

describe('fillUserKey', () => {
  it('keeps a key Iterable sent', () => {
    const record = { itblUserId: 'abc', userId: 'u1', email: 'a@example.com' };
    assert.equal(fillUserKey(record, 'itblUserId'), true);
    assert.equal(record.itblUserId, 'abc');
  });

  it('fills a missing key from the next identifier, prefixed with its name', () => {
    const a: Record<string, unknown> = { userId: 'u1', email: 'a@example.com' };
    assert.equal(fillUserKey(a, 'itblUserId'), true);
    assert.equal(a.itblUserId, 'userId:u1');
    const b: Record<string, unknown> = { email: 'b@example.com', itblUserId: '' };
    fillUserKey(b, 'itblUserId');
    assert.equal(b.itblUserId, 'email:b@example.com');
    const c: Record<string, unknown> = { email: 'c@example.com', itblUserId: 'x1' };
    fillUserKey(c, 'userId');
    assert.equal(c.userId, 'itblUserId:x1');
    const d: Record<string, unknown> = { userId: 42, email: null };
    fillUserKey(d, 'email');
    assert.equal(d.email, 'userId:42');
  });

  it('leaves a record without any identifier to the rejected lines', () => {
    const record: Record<string, unknown> = { profileUpdatedAt: '2024-01-01 00:00:00 +00:00' };
    assert.equal(fillUserKey(record, 'userId'), false);
    assert.equal('userId' in record, false);
  });
});

describe('list members', () => {
  it('names a getUsers line after what the project type prints', () => {
    assert.deepEqual(listMemberRecord('a@example.com', 'email'), { email: 'a@example.com' });
    assert.deepEqual(listMemberRecord('user100001', 'userId'), { userId: 'user100001' });
    assert.deepEqual(listMemberRecord('user100001', 'hybrid'), { userId: 'user100001' });
    assert.deepEqual(listMemberRecord('a@example.com', 'hybrid'), { email: 'a@example.com' });
  });
});

describe('export lines of users without the key field', () => {
  const parse = (projectType: 'email' | 'userId' | 'hybrid', lines: string[]) => {
    const stream = forProjectType(users, projectType);
    const parser = new ExportLineParser({
      isEvent: false,
      keyFields: stream.keyProperties,
      dateFields: [],
      userKeyField: stream.keyProperties[0] as 'email' | 'userId' | 'itblUserId',
    });
    const { rows, rejected } = parseExportLines(lines, parser, 'users', 'test');
    return { rows: rows.map((r) => (r instanceof FlatDocument ? (JSON.parse(r.text) as Record<string, unknown>) : r)), rejected };
  };

  it('lands a userId-project user without an email, and one without a userId under the fallback key', () => {
    const { rows, rejected } = parse('userId', [
      '{"userId":"u1","profileUpdatedAt":"2024-01-02 00:00:00 +00:00"}',
      '{"email":"b@example.com","itblUserId":"5f01","profileUpdatedAt":"2024-01-02 00:00:00 +00:00"}',
    ]);
    assert.equal(rejected.length, 0);
    assert.deepEqual(rows.map((r) => r.userId), ['u1', 'itblUserId:5f01']);
    assert.equal(rows[0]!.email, undefined);
  });

  it('lands a hybrid user without itblUserId under userId: or email:', () => {
    const { rows, rejected } = parse('hybrid', [
      '{"itblUserId":"5f02","email":"a@example.com","profileUpdatedAt":"2024-01-02 00:00:00 +00:00"}',
      '{"userId":"u3","profileUpdatedAt":"2024-01-02 00:00:00 +00:00"}',
      '{"email":"c@example.com","profileUpdatedAt":"2024-01-02 00:00:00 +00:00"}',
    ]);
    assert.equal(rejected.length, 0);
    assert.deepEqual(rows.map((r) => r.itblUserId), ['5f02', 'userId:u3', 'email:c@example.com']);
  });

  it('keeps a row with no identifier at all in the rejected lines, with its raw text', () => {
    const line = '{"profileUpdatedAt":"2024-01-02 00:00:00 +00:00"}';
    const { rows, rejected } = parse('userId', [line]);
    assert.equal(rows.length, 0);
    assert.equal(rejected[0]!.raw, line);
  });
});
