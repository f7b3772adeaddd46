import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StateError } from '../../../src/errors.js';
import { parseState } from '../../../src/state/state-file.js';

describe('state', () => {
  it('accepts the state the Python tap-iterable writes', () => {
    const state = parseState(
      { currently_syncing: 'email_send', bookmarks: { email_send: { createdAt: '2024-05-01T00:00:00.000000Z' }, campaigns: { updatedAt: '2024-04-01T10:00:00.000000Z' } } },
      'test',
    );
    assert.equal(state.bookmarks.email_send?.createdAt, '2024-05-01T00:00:00.000000Z');
    assert.equal(state.currently_syncing, 'email_send');
  });

  it('unwraps {"value": state} and rejects bookmarks that are not dates', () => {
    assert.equal(parseState({ value: { bookmarks: { users: { profileUpdatedAt: '2024-01-01T00:00:00Z' } } } }, 't').bookmarks.users?.profileUpdatedAt, '2024-01-01T00:00:00Z');
    assert.throws(() => parseState({ bookmarks: { users: { profileUpdatedAt: 'soon' } } }, 'state file s.json'), (e: unknown) => e instanceof StateError && /bookmarks\.users\.profileUpdatedAt/.test(e.message));
    assert.throws(() => parseState([1], 't'), StateError);
  });
});
