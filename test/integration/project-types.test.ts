import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DuckDBDestination } from '../../src/destinations/duckdb/duckdb-destination.js';
import { PostgresDestination } from '../../src/destinations/postgres/postgres-destination.js';
import { fakeRows, generateFakeData, startFakeIterable, type FakeData, type FakeIterable } from '../../src/fake-iterable/server.js';
import { cliEnv, parseSinger, recordsByStream, runCli } from './cli-harness.js';
import { freshDestination, rowCounts } from './db-snapshot.js';

const KEY = 'test-server-key';
const START = '2023-12-01';
/** The seed streams that depend on the project type, and one event stream. */
const STREAMS = 'users,list_users,email_send,push_send,lists';

async function query(url: string, sql: (schema: string) => string): Promise<Record<string, unknown>[]> {
  const db = url.startsWith('duckdb:') ? new DuckDBDestination({ path: url.slice('duckdb:'.length) }) : new PostgresDestination({ url });
  const schema = url.startsWith('duckdb:') ? 'main' : new URL(url).searchParams.get('schema')!;
  await db.open();
  try {
    return await db.query(sql(schema));
  } finally {
    await db.close();
  }
}

function sync(fake: FakeIterable, destination: string, extra: string[] = []) {
  return runCli(
    ['sync', '--base-url', fake.url, '--start-date', START, '--destination', destination, '--streams', STREAMS, ...extra],
    cliEnv({ ITERABLE_API_KEY: KEY }),
  );
}

/** (member, listId) pairs getUsers holds, as preferUserId=true prints them. */
function expectedMembers(data: FakeData): string[] {
  const pairs: string[] = [];
  for (const [listId, members] of data.listMembers) {
    for (const member of members) pairs.push(`${data.userIds.get(member) ?? member}|${listId}`);
  }
  return pairs.sort();
}

const text = (v: unknown) => (v === null || v === undefined ? null : String(v));

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`userId and hybrid projects into ${kind}`, () => {
    it('a userId project lands every user, those without an email too, keyed by userId; list_users by userId, listId', async () => {
      const data = generateFakeData({ seed: 31, projectType: 'userId' });
      const fake = await startFakeIterable({ data });
      try {
        const users = [...fakeRows(data, 'user')];
        const withoutEmail = users.filter((u) => u.email === undefined);
        assert.ok(withoutEmail.length > 10, 'the fake project has users without an email');
        const destination = freshDestination(kind);
        const result = await sync(fake, destination, ['--project-type', 'userId']);
        assert.equal(result.code, 0, result.stderr);

        const rows = await query(destination, (s) => `select "userId", email, "itblUserId" from "${s}".users`);
        assert.equal(rows.length, users.length, 'one row per user');
        assert.deepEqual(rows.map((r) => text(r.userId)).sort(), users.map((u) => String(u.userId)).sort());
        assert.equal(rows.filter((r) => r.email === null).length, withoutEmail.length, 'users without an email land with email NULL');
        const rejected = await query(destination, (s) => `select count(*) as n from "${s}"._rejected`);
        assert.equal(Number(rejected[0]!.n), 0, 'nothing rejected');

        const members = await query(destination, (s) => `select "userId", "listId", email from "${s}".list_users`);
        assert.deepEqual(members.map((m) => `${text(m.userId)}|${text(m.listId)}`).sort(), expectedMembers(data));
        assert.ok(members.every((m) => m.email === null));

        const getUsers = fake.requests.filter((r) => r.path === '/api/lists/getUsers');
        assert.equal(getUsers.length, data.lists.length);
        for (const r of getUsers) assert.equal(r.query.get('preferUserId'), 'true', 'getUsers is asked with preferUserId=true');

        // Email events keep the recipient's userId.
        const sends = await query(destination, (s) => `select count(*) as n, count("userId") as with_user_id from "${s}".email_send`);
        assert.equal(Number(sends[0]!.n), [...fakeRows(data, 'emailSend')].length);
        assert.equal(Number(sends[0]!.with_user_id), Number(sends[0]!.n));
        // Other events may name a user by userId alone: none is lost.
        const pushes = [...fakeRows(data, 'pushSend')];
        assert.ok(pushes.some((p) => p.email === undefined));
        const pushRows = await query(destination, (s) => `select count(*) as n, count(email) as with_email, count("userId") as with_user_id from "${s}".push_send`);
        assert.deepEqual(
          [Number(pushRows[0]!.n), Number(pushRows[0]!.with_email), Number(pushRows[0]!.with_user_id)],
          [pushes.length, pushes.filter((p) => p.email !== undefined).length, pushes.length],
        );
        const counts = await rowCounts(destination);
        assert.equal(counts.lists, data.lists.length);
      } finally {
        await fake.close();
      }
    });

    it('a hybrid project keys users by itblUserId and lands list members under their fallback key', async () => {
      const data = generateFakeData({ seed: 32, projectType: 'hybrid' });
      const fake = await startFakeIterable({ data });
      try {
        const users = [...fakeRows(data, 'user')];
        assert.ok(users.some((u) => u.email === undefined) && users.some((u) => u.userId === undefined));
        const dir = mkdtempSync(join(tmpdir(), 'iterable-sync-hybrid-'));
        const config = join(dir, 'config.json');
        // The config key, this time (the flag in the userId test).
        writeFileSync(config, JSON.stringify({ api_key: KEY, project_type: 'hybrid' }));
        const destination = freshDestination(kind);
        const result = await sync(fake, destination, ['--config', config]);
        assert.equal(result.code, 0, result.stderr);

        const rows = await query(destination, (s) => `select "itblUserId", "userId", email from "${s}".users`);
        assert.deepEqual(rows.map((r) => text(r.itblUserId)).sort(), users.map((u) => String(u.itblUserId)).sort());
        assert.deepEqual(rows.map((r) => text(r.email)).sort(), users.map((u) => text(u.email)).sort());

        // getUsers prints the userId, or the email of a user without one; itblUserId never.
        const members = await query(destination, (s) => `select "itblUserId", "userId", email, "listId" from "${s}".list_users`);
        assert.deepEqual(members.map((m) => `${text(m.userId ?? m.email)}|${text(m.listId)}`).sort(), expectedMembers(data));
        for (const m of members) {
          assert.equal(m.itblUserId, m.userId !== null ? `userId:${String(m.userId)}` : `email:${String(m.email)}`);
        }
        assert.ok(members.some((m) => m.email !== null) && members.some((m) => m.userId !== null));
        for (const r of fake.requests.filter((q) => q.path === '/api/lists/getUsers')) assert.equal(r.query.get('preferUserId'), 'true');
      } finally {
        await fake.close();
      }
    });

    it('refuses to load a table keyed by email once project_type says userId, and leaves it as it was', async () => {
      const data = generateFakeData({ seed: 33, users: 60, projectType: 'email' });
      const fake = await startFakeIterable({ data });
      try {
        const destination = freshDestination(kind);
        const first = await sync(fake, destination);
        assert.equal(first.code, 0, first.stderr);
        const before = await query(destination, (s) => `select count(*) as n from "${s}".users`);

        const second = await sync(fake, destination, ['--project-type', 'userId', '--full-refresh']);
        assert.equal(second.code, 1, second.stderr);
        assert.match(second.stderr, /ERROR users: table \S*"users" has (primary )?key \(email\).* is keyed on \(userId\); drop the table .*iterable-sync reset --streams users.*project_type userId keys users by \(userId\): if project_type changed/);
        assert.match(second.stderr, /ERROR list_users: table \S*"list_users" has (primary )?key \(email, listId\).*project_type userId keys list_users by \(userId, listId\)/);
        assert.match(second.stdout, /email_send\s+complete/, 'the other streams still run');
        const after = await query(destination, (s) => `select count(*) as n, count("userId") as with_user_id from "${s}".users`);
        assert.equal(Number(after[0]!.n), Number(before[0]!.n));
      } finally {
        await fake.close();
      }
    });
  });
}

describe('project_type in the catalog, Singer output and check', () => {
  it('discover and the Singer SCHEMA messages show the keys in effect', async () => {
    const expected = { email: ['email'], userId: ['userId'], hybrid: ['itblUserId'] } as const;
    for (const [projectType, key] of Object.entries(expected)) {
      const discover = await runCli(['discover', '--project-type', projectType], cliEnv());
      assert.equal(discover.code, 0, discover.stderr);
      const streams = (JSON.parse(discover.stdout) as { streams: Array<{ stream: string; key_properties: string[]; schema: { properties: Record<string, { type: unknown }> }; metadata: Array<{ breadcrumb: string[]; metadata: Record<string, unknown> }> }> }).streams;
      const users = streams.find((s) => s.stream === 'users')!;
      const listUsers = streams.find((s) => s.stream === 'list_users')!;
      assert.deepEqual(users.key_properties, key, projectType);
      assert.deepEqual(listUsers.key_properties, [...key, 'listId'], projectType);
      assert.deepEqual(users.metadata.find((m) => m.breadcrumb.length === 0)!.metadata['table-key-properties'], key);
      assert.deepEqual(users.schema.properties[key[0]]!.type, 'string', 'the key is a non-null string');
      if (projectType !== 'email') assert.deepEqual(users.schema.properties.email!.type, ['null', 'string'], 'email may be absent');
      assert.deepEqual(streams.find((s) => s.stream === 'email_send')!.key_properties, ['_event_id']);
    }

    const data = generateFakeData({ seed: 34, users: 40, projectType: 'userId' });
    const fake = await startFakeIterable({ data });
    try {
      const tap = await runCli(
        ['tap', '--base-url', fake.url, '--start-date', START, '--streams', 'users,list_users'],
        cliEnv({ ITERABLE_API_KEY: KEY, ITERABLE_PROJECT_TYPE: 'userId' }),
      );
      assert.equal(tap.code, 0, tap.stderr);
      const messages = parseSinger(tap.stdout);
      const schemas = new Map(messages.filter((m) => m.type === 'SCHEMA').map((m) => [m.stream, m.key_properties]));
      assert.deepEqual(schemas.get('users'), ['userId']);
      assert.deepEqual(schemas.get('list_users'), ['userId', 'listId']);
      const records = recordsByStream(messages);
      assert.equal(records.get('users')!.length, [...fakeRows(data, 'user')].length);
      assert.ok(records.get('users')!.some((r) => r.email === undefined), 'records without an email are emitted');
    } finally {
      await fake.close();
    }
  });

  it('check reports the project type Iterable tells, and warns when project_type differs', async () => {
    for (const projectType of ['email', 'userId', 'hybrid'] as const) {
      const fake = await startFakeIterable({ data: generateFakeData({ seed: 35, users: 20, projectType }) });
      try {
        const asDefault = await runCli(['check', '--base-url', fake.url], cliEnv({ ITERABLE_API_KEY: KEY }));
        assert.equal(asDefault.code, 0, asDefault.stderr);
        assert.match(asDefault.stdout, new RegExp(`^Project type: ${projectType} \\(`, 'm'));
        if (projectType === 'email') {
          assert.doesNotMatch(asDefault.stdout + asDefault.stderr, /Warning|warn/i);
        } else {
          assert.match(asDefault.stdout, new RegExp(`Warning: project_type is email, but Iterable says this project is .*"project_type": "${projectType}"`));
          assert.match(asDefault.stderr, /project_type is email, but Iterable says/);
          const configured = await runCli(['check', '--base-url', fake.url, '--project-type', projectType], cliEnv({ ITERABLE_API_KEY: KEY }));
          assert.equal(configured.code, 0, configured.stderr);
          assert.doesNotMatch(configured.stdout + configured.stderr, /Warning|project_type is/);
        }
      } finally {
        await fake.close();
      }
    }
    const fake = await startFakeIterable({ data: generateFakeData({ seed: 35, users: 20, projectType: 'userId' }) });
    try {
      const readOnly = await runCli(['check', '--base-url', fake.url], cliEnv({ ITERABLE_API_KEY: 'test-readonly-key' }));
      assert.equal(readOnly.code, 0, readOnly.stderr);
      assert.match(readOnly.stdout, /^Project type: unknown \(this key may not call \/api\/users\/forgotten/m);
    } finally {
      await fake.close();
    }
  });

  it('refuses a project_type that is none of the three', async () => {
    const result = await runCli(['sync', '--project-type', 'phone'], cliEnv({ ITERABLE_API_KEY: KEY }));
    assert.equal(result.code, 2);
    assert.match(result.stderr, /project_type must be "email", "userId", "hybrid" \(got "phone"\)/);
    assert.doesNotMatch(result.stderr, new RegExp(KEY));
  });
});
