/** One record (row) of a CSV text: its cells, its raw text, and the line it starts on. */
export interface CsvRecord {
  readonly cells: string[];
  /** The record's text as received, without its line end (for `_rejected`). */
  readonly raw: string;
  /** 1-based line of the text where the record starts. */
  readonly line: number;
}

/** The records of a CSV text; `error` says where and why the text stopped being CSV (records before it are kept). */
export interface CsvParse {
  records: CsvRecord[];
  error?: { line: number; reason: string };
}

const QUOTE = 34; // "
const COMMA = 44; // ,
const CR = 13;
const LF = 10;

/**
 * Splits an RFC 4180 CSV text into records: cells separated by commas, records by LF or CRLF;
 * a cell in double quotes may hold commas, line ends and `""` (one quote). Blank lines are
 * skipped, and a missing final line end is fine. A header that holds a comma comes quoted, so a
 * plain `split(',')` is not enough. An unclosed quote, or text after a closing quote, ends the
 * parse with `error`.
 */
export function parseCsvRecords(text: string): CsvParse {
  const records: CsvRecord[] = [];
  const length = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark is not part of the first header
  let line = 1;
  while (i < length) {
    const start = i;
    const startLine = line;
    const cells: string[] = [];
    let atRecordEnd = false;
    while (!atRecordEnd) {
      let cell = '';
      if (text.charCodeAt(i) === QUOTE) {
        i++;
        for (;;) {
          if (i >= length) return { records, error: { line: startLine, reason: 'a quoted cell is not closed' } };
          const code = text.charCodeAt(i);
          if (code === QUOTE) {
            if (text.charCodeAt(i + 1) === QUOTE) {
              cell += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (code === LF) line++;
          cell += text[i];
          i++;
        }
        const next = i < length ? text.charCodeAt(i) : LF;
        if (next !== COMMA && next !== LF && !(next === CR && (i + 1 >= length || text.charCodeAt(i + 1) === LF))) {
          return { records, error: { line, reason: `text after the closing quote of cell ${cells.length + 1}` } };
        }
      } else {
        const from = i;
        while (i < length) {
          const code = text.charCodeAt(i);
          if (code === COMMA || code === LF || (code === CR && (i + 1 >= length || text.charCodeAt(i + 1) === LF))) break;
          i++;
        }
        cell = text.slice(from, i);
      }
      cells.push(cell);
      if (i < length && text.charCodeAt(i) === COMMA) {
        i++;
        continue;
      }
      atRecordEnd = true;
    }
    const end = i;
    if (i < length && text.charCodeAt(i) === CR) i++;
    if (i < length && text.charCodeAt(i) === LF) {
      i++;
      line++;
    }
    // A blank line is one empty cell: no record.
    if (cells.length === 1 && cells[0] === '' && end === start) continue;
    records.push({ cells, raw: text.slice(start, end), line: startLine });
  }
  return { records };
}
