import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { locateJsonError } from '../../../src/config/json-error-position.js';

const VALID = '{\n  "api_key": "k-1\\u00e9\\n",\n  "start_date": "2024-01-01",\n  "api_window_in_days": 0.5e1,\n  "x": [true, false, null, -1, {}]\n}\n';
const INSERTS = ['', ',', '"', '}', ']', '{', ':', 'a', '\t', '\\', '-', '0', ' ', '\n', 'e'];

/** Every text one edit away from a valid config: each character deleted, or replaced / followed by each of INSERTS. */
function mutations(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i <= text.length; i++) {
    for (const insert of INSERTS) {
      out.push(text.slice(0, i) + insert + text.slice(i + 1));
      out.push(text.slice(0, i) + insert + text.slice(i));
    }
  }
  return out;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

describe('locateJsonError', () => {
  it('finds an error exactly when JSON.parse refuses, at the position JSON.parse names when it names one', () => {
    let refused = 0;
    let positioned = 0;
    for (const text of mutations(VALID)) {
      let parseError: Error | undefined;
      try {
        JSON.parse(text);
      } catch (error) {
        parseError = error as Error;
      }
      const found = locateJsonError(text);
      assert.equal(found === null, parseError === undefined, `${JSON.stringify(text)}: JSON.parse ${parseError?.message ?? 'accepts'}`);
      if (!parseError) continue;
      refused++;
      const position = /at position (\d+)/.exec(parseError.message);
      if (!position) continue;
      positioned++;
      const { line, column } = lineColumn(text, Number(position[1]));
      assert.deepEqual({ line: found!.line, column: found!.column }, { line, column }, `${JSON.stringify(text)}: ${parseError.message}`);
    }
    assert.ok(refused > 2000 && positioned > 1500, `${refused} refused, ${positioned} with a position`);
  });

  it('names what it expected without quoting the text', () => {
    const secret = 'sk-live-0123456789';
    for (const text of [`{api_key: "${secret}"}`, `{"api_key": ${secret}}`, `{"api_key": "${secret}" ${secret}}`, `{"api_key": "${secret}`]) {
      const found = locateJsonError(text);
      assert.ok(found, text);
      assert.ok(!found.problem.includes('sk-') && !found.problem.includes('api_key'), found.problem);
    }
    assert.deepEqual(locateJsonError('{\n  "a": 1,\n  b: 2\n}'), { line: 3, column: 3, problem: 'a double-quoted property name' });
    assert.deepEqual(locateJsonError(''), { line: 1, column: 1, problem: 'a JSON value before the end of the file' });
  });
});
