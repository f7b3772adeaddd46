/**
 * The fast path for export lines: a line whose record is flat (no object values but
 * `transactionalData`'s JSON, strings without escapes, short numbers) becomes a `FlatDocument` in
 * one scan: the line itself with `_event_id` put first and Iterable's times (and custom date
 * fields' instants) rewritten as ISO 8601, and the kind of each value. No record is built and
 * nothing is serialised again (most of the CPU time of a large export). Every other line returns
 * undefined and goes the long way (`JSON.parse` + `normalizeExportRecord`); `JSON.parse` of the
 * document is exactly the record the long way builds, which the tests check on generated lines.
 */
import { closingQuote, FlatDocument, hasLoneSurrogateEscape, isCanonicalUtcInstant, type FlatShape, type ValueKind } from '../core/rows.js';
import { parseInstant } from '../core/instants.js';
import { iterableTimeToIso, plainUtcExportTimeToIso } from '../iterable/time-formats.js';
import { lineEventId, type ExportLineRules } from './records.js';

/** A field the scan met (cached: the scan runs millions of times). */
interface FieldInfo {
  readonly id: number;
  readonly field: string;
  /** `"field"`, to recognise the field in the next lines without slicing it out. */
  readonly quoted: string;
  /** A key field (`ExportLineRules.keyFields`): its value must be a non-empty string. */
  readonly isKey: boolean;
  /** `transactionalData`, whose string values are parsed (see `normalizeExportRecord`). */
  readonly jsonText: boolean;
  /** A custom date field (`ExportLineRules.dateFields`), whose string values become ISO 8601 when they parse as instants. */
  readonly isDate: boolean;
  /** The last line (by number) the field appeared in: a field twice in one line is not flat. */
  lastLine: number;
}

/** A node of the trie that interns shapes: one edge per (field, kind). */
interface ShapeNode {
  readonly next: Map<number, ShapeNode>;
  /** The edge taken last (most lines of a stream have one shape): no Map lookup then. */
  lastCode: number;
  lastNext: ShapeNode | undefined;
  shape?: FlatShape;
}

function shapeNode(): ShapeNode {
  return { next: new Map(), lastCode: -1, lastNext: undefined };
}

const KIND_CODES: Record<ValueKind, number> = { string: 0, instant: 1, integer: 2, decimal: 3, boolean: 4, null: 5, array: 6, object: 7 };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** A control character (JSON strings hold none unescaped; JSON whitespace other than spaces is rare in exports). */
const CONTROL = /[\u0000-\u001f]/;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
/** Digits of a number that every path turns into the same text and value (below 2^53). */
const MAX_PLAIN_DIGITS = 15;

/**
 * Scans the lines of one export stream (see `scan`); it caches the fields and shapes it met.
 */
export class FlatLineScanner {
  private readonly byField = new Map<string, FieldInfo>();
  /** The fields of the last flat line, by position: the next line most likely has the same. */
  private readonly lastOrder: (FieldInfo | undefined)[] = [];
  private lineNumber = 0;
  private readonly root: ShapeNode = shapeNode();
  /** The fields and kinds of the line being scanned. */
  private readonly lineFields: string[] = [];
  private readonly lineKinds: ValueKind[] = [];

  constructor(private readonly rules: ExportLineRules) {}

  /**
   * The flat document of a line, or undefined. Flat means: one JSON object without object values
   * (but a `transactionalData` string that holds JSON, staged parsed), no control character, no
   * escape in any key or string but such a `transactionalData` string or an array, numbers of at
   * most 15 digits without exponent (a fraction only when the value is not whole), arrays only as
   * `JSON.stringify` writes them (`isCanonicalJson`), strings that look like UTC instants only as
   * real ones, no key twice, no `itblInternal` (events) or `_event_id`, a non-empty string for
   * every key field. Anything the scan does not recognise is not flat, so a line that is not
   * valid JSON never becomes a document.
   */
  scan(line: string): FlatDocument | undefined {
    const n = line.length;
    if (n < 2 || line.charCodeAt(0) !== OPEN_BRACE || CONTROL.test(line)) return undefined;
    // Strings before the next backslash have no escapes: they end at the next quote.
    let backslash = line.indexOf('\\');
    let id: string | undefined;
    if (this.rules.isEvent) {
      id = lineEventId(line);
      if (id === undefined) return undefined;
    }
    const lineNumber = ++this.lineNumber;
    const { lineFields, lineKinds } = this;
    lineFields.length = 0;
    lineKinds.length = 0;
    let node = this.root;
    if (id !== undefined) node = this.step(node, -1, '_event_id', 'string');
    let keysFound = 0;
    let fields = 0;
    // The document is built as `out` + the line from `copied` on: `_event_id` first, then the line's own text.
    let out = id === undefined ? '' : `{"_event_id":"${id}",`;
    let copied = id === undefined ? 0 : 1;
    let i = skipSpace(line, 1);
    if (line.charCodeAt(i) === CLOSE_BRACE) {
      i++;
    } else {
      for (;;) {
        // key
        if (line.charCodeAt(i) !== QUOTE) return undefined;
        let info = this.lastOrder[fields];
        // `slice` + `===` compares natively: three times faster here than a charCodeAt loop (measured).
        if (info === undefined || line.charCodeAt(i + info.quoted.length) !== COLON || line.slice(i, i + info.quoted.length) !== info.quoted) {
          const keyEnd = stringEnd(line, i + 1);
          if (keyEnd < 0 || (backslash >= 0 && backslash < keyEnd)) return undefined;
          info = this.fieldInfo(line.slice(i + 1, keyEnd));
          if (info === undefined) return undefined;
          this.lastOrder[fields] = info;
        }
        if (info.lastLine === lineNumber) return undefined;
        info.lastLine = lineNumber;
        fields++;
        i += info.quoted.length;
        if (line.charCodeAt(i) <= 0x20) i = skipSpace(line, i);
        if (line.charCodeAt(i) !== COLON) return undefined;
        if (line.charCodeAt(++i) <= 0x20) i = skipSpace(line, i);
        // value
        const start = i;
        const first = line.charCodeAt(i);
        let kind: ValueKind;
        if (first === QUOTE && info.jsonText) {
          // transactionalData sent as a JSON string: the record holds the JSON it contains.
          let end = stringEnd(line, i + 1);
          let text: string;
          if (backslash >= 0 && backslash < end) {
            end = closingQuote(line, i + 1);
            if (end < 0) return undefined;
            const decoded = decodeString(line.slice(start, end + 1));
            if (decoded === undefined) return undefined;
            text = decoded;
            backslash = line.indexOf('\\', end + 1);
          } else {
            if (end < 0) return undefined;
            text = line.slice(start + 1, end);
          }
          const json = jsonTextOf(text);
          if (json === undefined) return undefined;
          kind = json.charCodeAt(0) === OPEN_BRACE ? 'object' : 'array';
          i = end + 1;
          out += line.slice(copied, start) + json;
          copied = i;
        } else if (first === QUOTE) {
          const end = stringEnd(line, i + 1);
          if (end < 0 || (backslash >= 0 && backslash < end)) return undefined;
          i = end + 1;
          if (info.isKey && end === start + 1) return undefined;
          const length = end - start - 1;
          let text: string | undefined;
          // What normalizeExportRecord does to a string: Iterable's times become ISO 8601, and a custom date field's instants.
          kind = 'string';
          if (info.isDate || (length >= 25 && length <= 36)) {
            text = line.slice(start + 1, end);
            let iso = plainUtcExportTimeToIso(text);
            if (iso !== null) kind = 'instant'; // the common case, a real UTC instant: no check below
            else iso = iterableTimeToIso(text) ?? (info.isDate ? (parseInstant(text)?.toISOString() ?? null) : null);
            if (iso !== null) {
              out += `${line.slice(copied, start)}"${iso}"`;
              copied = i;
              text = iso;
            }
          }
          const last = kind === 'instant' ? 0 : text === undefined ? line.charCodeAt(end - 1) : text.charCodeAt(text.length - 1);
          if (last === 0x5a /* Z */) {
            text ??= line.slice(start + 1, end);
            if (text.length >= 20 && text.length <= 30 && text.charCodeAt(10) === 0x54 /* T */) {
              // Typed as an instant by value (inferColumnType): flat only when it is a real one.
              if (!isCanonicalUtcInstant(text)) return undefined;
              kind = 'instant';
            }
          }
          if (info.isKey) keysFound++;
        } else if (first === MINUS || (first >= ZERO && first <= NINE)) {
          i = numberEnd(line, i);
          if (i < 0 || info.isKey) return undefined;
          kind = 'integer';
          if (numberHasFraction) {
            // 1.0 is an integer once parsed: not flat (its text and its value differ in kind).
            if (Number.isInteger(Number(line.slice(start, i)))) return undefined;
            kind = 'decimal';
          }
        } else if (textAt(line, i, 'true') || textAt(line, i, 'false')) {
          i += first === 0x74 ? 4 : 5;
          if (info.isKey) return undefined;
          kind = 'boolean';
        } else if (textAt(line, i, 'null')) {
          i += 4;
          if (info.isKey) return undefined;
          kind = 'null';
        } else if (first === OPEN_BRACKET && !info.isKey) {
          // Export rows keep arrays as they are: flat when JSON.stringify would write the array so.
          i = canonicalValueEnd(line, i, 0);
          if (i < 0) return undefined;
          if (backslash >= 0 && backslash < i) backslash = line.indexOf('\\', i);
          kind = 'array';
        } else {
          return undefined; // an object, or not JSON
        }
        node = this.step(node, info.id, info.field, kind);
        if (line.charCodeAt(i) <= 0x20) i = skipSpace(line, i);
        const next = line.charCodeAt(i);
        if (next === COMMA) {
          if (line.charCodeAt(++i) <= 0x20) i = skipSpace(line, i);
        } else if (next === CLOSE_BRACE) {
          i++;
          break;
        } else {
          return undefined;
        }
      }
    }
    if (skipSpace(line, i) !== n) return undefined;
    if (keysFound !== this.rules.keyFields.length) return undefined;
    const body = copied === 0 ? line : fields === 0 ? `{"_event_id":"${id}"}` : out + line.slice(copied);
    node.shape ??= { fields: [...lineFields], kinds: [...lineKinds] };
    return new FlatDocument(body, node.shape);
  }

  /** The trie node after `node` for a field of this kind (noting the field for the shape). */
  private step(node: ShapeNode, fieldId: number, field: string, kind: ValueKind): ShapeNode {
    this.lineFields.push(field);
    this.lineKinds.push(kind);
    const code = (fieldId + 1) * 8 + KIND_CODES[kind];
    if (node.lastCode === code) return node.lastNext!;
    let next = node.next.get(code);
    if (next === undefined) node.next.set(code, (next = shapeNode()));
    node.lastCode = code;
    node.lastNext = next;
    return next;
  }

  /** What the scan needs of a field, or undefined when a line with it is not flat. */
  private fieldInfo(field: string): FieldInfo | undefined {
    let info = this.byField.get(field);
    if (info !== undefined) return info;
    if (field === '_event_id') return undefined;
    const jsonText = field === 'transactionalData';
    const isDate = this.rules.dateFields.includes(field);
    if (jsonText && isDate) return undefined;
    const isKey = this.rules.keyFields.includes(field);
    info = { id: this.byField.size, field, quoted: `"${field}"`, isKey, jsonText, isDate, lastLine: 0 };
    this.byField.set(field, info);
    return info;
  }
}


/** `line.startsWith(text, i)`, which V8 runs slowly with a position. */
function textAt(line: string, i: number, text: string): boolean {
  if (i + text.length > line.length) return false;
  for (let k = 0; k < text.length; k++) if (line.charCodeAt(i + k) !== text.charCodeAt(k)) return false;
  return true;
}

/**
 * The JSON text of what `normalizeExportRecord` makes of a `transactionalData` string: the JSON
 * value it holds; undefined when the string stays a string (not JSON, or an Iterable time) or the
 * JSON has a lone surrogate (the long way handles those).
 */
function jsonTextOf(text: string): string | undefined {
  if (iterableTimeToIso(text) !== null) return undefined;
  let k = 0;
  while (k < text.length && text.charCodeAt(k) <= 32) k++;
  const first = text.charCodeAt(k);
  if (first !== OPEN_BRACE && first !== 0x5b /* [ */) return undefined;
  if (k === 0 && isCanonicalJson(text)) return text;
  let json: string;
  try {
    json = JSON.stringify(JSON.parse(text));
  } catch {
    return undefined;
  }
  return hasLoneSurrogateEscape(json) ? undefined : json;
}

/** Nesting beyond which `isCanonicalJson` leaves the text to `JSON.parse` (the answer is then false). */
const MAX_CANONICAL_DEPTH = 32;

/**
 * Whether `text` is exactly what `JSON.stringify(JSON.parse(text))` writes, so that it can be
 * staged as it is: no whitespace, strings escaped as `JSON.stringify` escapes them (no surrogate
 * at all, which leaves lone ones to the long way), numbers in their shortest form, no key twice
 * in an object, array-index keys (which JS puts first, ascending) only first and ascending.
 * False when unsure (surrogates, deep nesting); a fuzz test holds it to
 * `JSON.stringify(JSON.parse(text))`.
 */
export function isCanonicalJson(text: string): boolean {
  return canonicalValueEnd(text, 0, 0) === text.length;
}

/** The index after the canonical JSON value at `i`, or -1. */
function canonicalValueEnd(text: string, i: number, depth: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return canonicalStringEnd(text, i);
  if (c === MINUS || (c >= ZERO && c <= NINE)) {
    let end = i + 1;
    for (let d = text.charCodeAt(end); (d >= ZERO && d <= NINE) || d === DOT || d === 0x65 || d === 0x45 || d === 0x2b || d === MINUS; ) {
      d = text.charCodeAt(++end);
    }
    const number = text.slice(i, end);
    return String(Number(number)) === number ? end : -1; // Number('1.') is 1, Number('') 0: the comparison refuses them
  }
  if (textAt(text, i, 'true') || textAt(text, i, 'null')) return i + 4;
  if (textAt(text, i, 'false')) return i + 5;
  if (depth >= MAX_CANONICAL_DEPTH) return -1;
  if (c === OPEN_BRACKET) {
    i++;
    if (text.charCodeAt(i) === CLOSE_BRACKET) return i + 1;
    for (;;) {
      i = canonicalValueEnd(text, i, depth + 1);
      if (i < 0) return -1;
      const next = text.charCodeAt(i++);
      if (next === CLOSE_BRACKET) return i;
      if (next !== COMMA) return -1;
    }
  }
  if (c === OPEN_BRACE) {
    i++;
    if (text.charCodeAt(i) === CLOSE_BRACE) return i + 1;
    const keys: string[] = [];
    // JS orders array-index keys first, ascending: canonical only when the text already does.
    let lastIndex = -1;
    let named = false;
    for (;;) {
      const keyEnd = canonicalStringEnd(text, i);
      if (keyEnd < 0 || text.charCodeAt(keyEnd) !== COLON) return -1;
      const key = text.slice(i, keyEnd);
      if (keys.includes(key)) return -1;
      const index = ARRAY_INDEX_KEY.test(key) ? Number(key.slice(1, -1)) : -1;
      if (index >= 0 && index < 4_294_967_295) {
        if (named || index <= lastIndex) return -1;
        lastIndex = index;
      } else {
        named = true;
      }
      keys.push(key);
      i = canonicalValueEnd(text, keyEnd + 1, depth + 1);
      if (i < 0) return -1;
      const next = text.charCodeAt(i++);
      if (next === CLOSE_BRACE) return i;
      if (next !== COMMA) return -1;
    }
  }
  return -1;
}

/** A quoted key that may be an array index, which JS orders first (`"0"`, `"42"`; below 2^32 - 1). */
const ARRAY_INDEX_KEY = /^"(?:0|[1-9]\d{0,9})"$/;

/**
 * The index after the string starting at `i` (its opening quote) when `JSON.stringify` would
 * write it so: no raw control character or surrogate, and only the escapes it writes (`\"`,
 * `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00xx` for other control characters); -1 otherwise.
 */
function canonicalStringEnd(text: string, i: number): number {
  if (text.charCodeAt(i) !== QUOTE) return -1;
  for (let k = i + 1; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === QUOTE) return k + 1;
    if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) return -1;
    if (c !== BACKSLASH) continue;
    const e = text.charCodeAt(++k);
    if (e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) continue; // " \ b f n r t
    if (e !== 0x75 || !textAt(text, k + 1, '00')) return -1; // u00xx
    const hex = text.slice(k + 3, k + 5);
    const code = /^[0-9a-f]{2}$/.test(hex) ? parseInt(hex, 16) : -1;
    // JSON.stringify writes \u00xx (lower-case) for control characters without a short escape only.
    if (code < 0 || code >= 0x20 || code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) return -1;
    k += 4;
  }
  return -1;
}


/** The value of a JSON string literal (quotes included), or undefined when it is not one. */
function decodeString(literal: string): string | undefined {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The index after JSON whitespace from `i`. */
function skipSpace(line: string, i: number): number {
  for (;;) {
    const c = line.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return i;
    i++;
  }
}

/** The index of the quote closing a string that starts at `i` (after its opening quote), in a line without escapes; -1 for none. */
function stringEnd(line: string, i: number): number {
  return line.indexOf('"', i);
}

/** Whether the number `numberEnd` last accepted has a fraction. */
let numberHasFraction = false;

/**
 * The index after a JSON number starting at `i` that is plain: `-?(0|[1-9]\d*)(\.\d+)?` with at
 * most 15 digits in all; -1 otherwise (exponents, long numbers,
 * `-0`, invalid numbers).
 */
function numberEnd(line: string, i: number): number {
  const start = i;
  if (line.charCodeAt(i) === MINUS) i++;
  const intStart = i;
  let c = line.charCodeAt(i);
  if (c === ZERO) {
    i++;
  } else if (c > ZERO && c <= NINE) {
    while ((c = line.charCodeAt(i)) >= ZERO && c <= NINE) i++;
  } else {
    return -1;
  }
  let digits = i - intStart;
  numberHasFraction = line.charCodeAt(i) === DOT;
  if (numberHasFraction) {
    const fracStart = ++i;
    while ((c = line.charCodeAt(i)) >= ZERO && c <= NINE) i++;
    if (i === fracStart) return -1;
    digits += i - fracStart;
  }
  c = line.charCodeAt(i);
  if (c === 0x65 || c === 0x45) return -1; // e, E
  if (digits > MAX_PLAIN_DIGITS) return -1;
  if (line.charCodeAt(start) === MINUS && i === start + 2 && line.charCodeAt(start + 1) === ZERO) return -1; // -0
  return i;
}
