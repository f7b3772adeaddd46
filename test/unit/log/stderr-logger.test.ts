import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registerSecret } from '../../../src/errors.js';
import { runWithLogContext } from '../../../src/log/log-context.js';
import { createStderrLogger, type LogFormat } from '../../../src/log/stderr-logger.js';

function capture(format: LogFormat): { lines: string[]; logger: ReturnType<typeof createStderrLogger> } {
  const lines: string[] = [];
  return { lines, logger: createStderrLogger({ format, write: (line) => lines.push(line) }) };
}

describe('stderr logger', () => {
  it('text: a line without an event shows its fields; an event line only its message', () => {
    const { lines, logger } = capture('text');
    logger.warn('retrying GET /api/x in 20 ms', { attempt: 1, reason: 'HTTP 500' });
    logger.info('email_send: started', { event: 'stream_started', stream: 'email_send' });
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\S+Z WARN retrying GET \/api\/x in 20 ms attempt=1 reason="HTTP 500"\n$/);
    assert.match(lines[1]!, /^\S+Z INFO email_send: started\n$/);
  });

  it('json: one object per line with time, level, stream, event, message and the fields', async () => {
    const { lines, logger } = capture('json');
    logger.info('email_send: [a, b) committed', { event: 'window_committed', stream: 'email_send', unitsDone: 3, big: 10n });
    logger.error('it broke', { cause: new Error('socket closed') });
    await runWithLogContext({ stream: 'users' }, async () => logger.warn('users: slow'));
    const [a, b, c] = lines.map((l) => {
      assert.ok(l.endsWith('\n') && !l.slice(0, -1).includes('\n'), 'one line');
      return JSON.parse(l) as Record<string, unknown>;
    });
    assert.deepEqual(Object.keys(a!), ['time', 'level', 'stream', 'event', 'message', 'unitsDone', 'big']);
    assert.deepEqual({ ...a, time: undefined }, { time: undefined, level: 'info', stream: 'email_send', event: 'window_committed', message: 'email_send: [a, b) committed', unitsDone: 3, big: '10' });
    assert.deepEqual({ ...b, time: undefined }, { time: undefined, level: 'error', event: 'log', message: 'it broke', cause: 'socket closed' });
    assert.equal(c!.stream, 'users', 'the stream comes from the log context');
  });

  it('json: redacts secrets, even ones JSON would escape', () => {
    registerSecret('key"with\\quote-8812');
    const { lines, logger } = capture('json');
    logger.warn('sent key"with\\quote-8812 to postgres://u:pw-99@h/db', { url: 'postgres://u:pw-99@h/db', header: 'key"with\\quote-8812' });
    assert.ok(!lines[0]!.includes('quote-8812'), lines[0]);
    assert.ok(!lines[0]!.includes('pw-99'), lines[0]);
    assert.match(lines[0]!, /\*\*\*/);
  });
});
