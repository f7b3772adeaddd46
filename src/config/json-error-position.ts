/** Where a text stops being JSON, and why, in words that quote none of the text. */
export interface JsonErrorPosition {
  /** 1-based line. */
  line: number;
  /** 1-based column (in UTF-16 code units, as editors mostly count). */
  column: number;
  /** What the parser expected, e.g. `a double-quoted property name`. */
  problem: string;
}

/**
 * Finds the first syntax error of a text that `JSON.parse` refused. `JSON.parse`'s own message
 * can quote the text around the error (the start of an unquoted key or value), which in a config
 * file may be the API key; this scanner reports only a line, a column and what was expected.
 * Returns null when it finds no error (it follows RFC 8259, as `JSON.parse` does).
 */
export function locateJsonError(text: string): JsonErrorPosition | null {
  let i = 0;
  const fail = (problem: string, at = i): never => {
    throw new JsonSyntaxAt(at, problem);
  };
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expectChar = (char: string, problem: string) => {
    if (text[i] !== char) fail(i >= text.length ? `${problem} before the end of the file` : problem);
    i++;
  };
  const literal = (word: string) => {
    for (const char of word) {
      if (text[i] !== char) fail('a JSON value (a "string", a number, an object, an array, true, false or null)');
      i++;
    }
  };
  const string = () => {
    expectChar('"', 'a double-quoted string');
    for (;;) {
      if (i >= text.length) fail('a closing double quote before the end of the file');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail('no control character (such as a tab or a line break) inside a string; write it as \\t or \\n');
      if (c === 0x5c) {
        const next = text[i + 1];
        if (next === 'u') {
          for (let h = i + 2; h < i + 6; h++) if (!/^[0-9a-fA-F]$/.test(text[h] ?? '')) fail('four hex digits after \\u', h);
          i += 6;
          continue;
        }
        if (next === undefined || !'"\\/bfnrt'.includes(next)) fail('a valid escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)', i + 1);
        i += 2;
        continue;
      }
      i++;
    }
    i++;
  };
  const isDigit = (at: number) => at < text.length && text[at]! >= '0' && text[at]! <= '9';
  const digits = () => {
    if (!isDigit(i)) fail('a digit');
    while (isDigit(i)) i++;
  };
  const number = () => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else digits();
    if (text[i] === '.') {
      i++;
      digits();
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      digits();
    }
  };
  const value = (depth: number): void => {
    if (depth > 1000) fail('less deeply nested values');
    skipSpace();
    const c = text[i];
    if (c === '{') {
      i++;
      skipSpace();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipSpace();
        if (text[i] !== '"') fail(i >= text.length ? 'a closing } before the end of the file' : 'a double-quoted property name');
        string();
        skipSpace();
        expectChar(':', 'a colon after the property name');
        value(depth + 1);
        skipSpace();
        if (text[i] === ',') {
          i++;
          skipSpace();
          if (text[i] === '}') fail('a property after the comma (JSON allows no trailing comma)');
          continue;
        }
        expectChar('}', 'a comma or a closing }');
        return;
      }
    }
    if (c === '[') {
      i++;
      skipSpace();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        skipSpace();
        if (text[i] === ',') {
          i++;
          skipSpace();
          if (text[i] === ']') fail('a value after the comma (JSON allows no trailing comma)');
          continue;
        }
        expectChar(']', 'a comma or a closing ]');
        return;
      }
    }
    if (c === '"') return string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === undefined) fail('a JSON value before the end of the file');
    fail('a JSON value (a "string", a number, an object, an array, true, false or null)');
  };
  try {
    value(0);
    skipSpace();
    if (i < text.length) fail('nothing after the end of the JSON value');
    return null;
  } catch (error) {
    if (!(error instanceof JsonSyntaxAt)) throw error;
    return { ...lineAndColumn(text, error.offset), problem: error.problem };
  }
}

class JsonSyntaxAt extends Error {
  constructor(
    readonly offset: number,
    readonly problem: string,
  ) {
    super(problem);
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
