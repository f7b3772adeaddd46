import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { LineSplitter } from '../../../src/iterable/line-splitter.js';

function splitAll(chunks: Buffer[]): string[] {
  const splitter = new LineSplitter();
  const lines: string[] = [];
  for (const chunk of chunks) lines.push(...splitter.push(chunk));
  lines.push(...splitter.end());
  return lines;
}

/** Cuts `bytes` at every given offset. */
function cutAt(bytes: Buffer, offsets: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let start = 0;
  for (const offset of offsets) {
    chunks.push(bytes.subarray(start, offset));
    start = offset;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

describe('LineSplitter', () => {
  it('splits on newlines and skips empty lines', () => {
    assert.deepEqual(splitAll([Buffer.from('a\nb\n\n\nc\n')]), ['a', 'b', 'c']);
  });

  it('drops the carriage return of CRLF line ends', () => {
    assert.deepEqual(splitAll([Buffer.from('a\r\nb\r\n\r\nc')]), ['a', 'b', 'c']);
  });

  it('keeps a carriage return split from its newline by a chunk edge out of the line', () => {
    assert.deepEqual(splitAll([Buffer.from('a\r'), Buffer.from('\nb\r'), Buffer.from('\n')]), ['a', 'b']);
  });

  it('yields a final line without a newline', () => {
    assert.deepEqual(splitAll([Buffer.from('{"a":1}\n{"a":2}')]), ['{"a":1}', '{"a":2}']);
  });

  it('returns nothing for an empty body', () => {
    assert.deepEqual(splitAll([]), []);
    assert.deepEqual(splitAll([Buffer.alloc(0)]), []);
    assert.deepEqual(splitAll([Buffer.from('\n\r\n')]), []);
  });

  it('decodes multi-byte UTF-8 cut inside a character at every possible offset', () => {
    const text = 'café 😀 naïve\n日本語\r\nΩ';
    const bytes = Buffer.from(text, 'utf8');
    for (let cut = 1; cut < bytes.length; cut += 1) {
      assert.deepEqual(splitAll(cutAt(bytes, [cut])), ['café 😀 naïve', '日本語', 'Ω'], `cut at ${cut}`);
    }
  });

  it('reassembles lines spread over many one-byte chunks', () => {
    const bytes = Buffer.from('{"email":"é@x.com"}\n{"e":"😀"}\n');
    const chunks = Array.from(bytes, (byte) => Buffer.from([byte]));
    assert.deepEqual(splitAll(chunks), ['{"email":"é@x.com"}', '{"e":"😀"}']);
  });

  it('matches a plain split for random chunkings of random text', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const alphabet = ['a', 'é', '😀', '日', '\n', '\r\n', '{', '"', ' '];
    for (let round = 0; round < 50; round += 1) {
      let text = '';
      for (let i = 0; i < 300; i += 1) text += alphabet[Math.floor(random() * alphabet.length)];
      const expected = text
        .split('\n')
        .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
        .filter((line) => line !== '');
      const bytes = Buffer.from(text, 'utf8');
      const offsets: number[] = [];
      for (let at = 0; at < bytes.length; at += 1 + Math.floor(random() * 20)) offsets.push(at);
      assert.deepEqual(splitAll(cutAt(bytes, offsets)), expected, `round ${round}`);
    }
  });

  it('strips a byte-order mark at the start of the body only', () => {
    assert.deepEqual(splitAll([Buffer.from('\ufeffa\n\ufeffb\n')]), ['a', '\ufeffb']);
    assert.deepEqual(splitAll([Buffer.from([0xef]), Buffer.from([0xbb, 0xbf, 0x61, 0x0a])]), ['a']);
  });

  it('reports the bytes held for an unfinished line', () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from('abc'));
    splitter.push(Buffer.from('def'));
    assert.equal(splitter.pendingBytes, 6);
    assert.deepEqual(splitter.push(Buffer.from('\n')), ['abcdef']);
    assert.equal(splitter.pendingBytes, 0);
  });

  it('returns every line that one chunk completes', () => {
    const splitter = new LineSplitter();
    const lines = splitter.push(Buffer.from('x'.repeat(10) + '\n' + 'y'.repeat(5) + '\n'));
    assert.deepEqual(lines, ['x'.repeat(10), 'y'.repeat(5)]);
  });
});
