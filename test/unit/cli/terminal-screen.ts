/**
 * A tiny terminal: enough of a VT100 to replay what the progress display writes (text, CR, LF,
 * cursor up, erase line / below) into the lines a user would see, scrollback included. It wraps
 * at `columns` like a real terminal and counts each wrap, so a test can assert that nothing wrapped.
 */
export class TerminalScreen {
  /** Every line ever shown: scrollback, then the screen. */
  readonly lines: string[] = [''];
  /** The lines that were longer than the terminal and wrapped (their first `columns` characters). */
  readonly wrapped: string[] = [];
  /** Where the line being written started (before any wrap), and whether it wrapped already. */
  private logicalRow = 0;
  private isLogicalWrapped = false;
  /** Escape sequences seen, e.g. `[3A`. */
  readonly sequences: string[] = [];
  private top = 0;
  private row = 0;
  private col = 0;

  constructor(
    readonly columns: number,
    readonly rows: number,
  ) {}

  /** Feeds output; `\n` is a line feed plus carriage return (a pty's ONLCR). */
  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === '\x1b' && text[i + 1] === '[') {
        const match = /^\x1b\[([0-9;?]*)([A-Za-z])/.exec(text.slice(i));
        if (!match) throw new Error(`unfinished escape sequence at ${JSON.stringify(text.slice(i, i + 10))}`);
        this.csi(match[1]!, match[2]!);
        this.startLogicalLine();
        this.sequences.push(match[0].slice(1));
        i += match[0].length - 1;
      } else if (ch === '\x1b') {
        throw new Error(`escape sequence this screen does not know: ${JSON.stringify(text.slice(i, i + 10))}`);
      } else if (ch === '\r') {
        this.col = 0;
        this.startLogicalLine();
      } else if (ch === '\n') {
        this.lineFeed();
        this.col = 0;
        this.startLogicalLine();
      } else {
        if (this.col >= this.columns) {
          if (!this.isLogicalWrapped) this.wrapped.push(this.lines[this.logicalRow]!);
          this.isLogicalWrapped = true;
          this.lineFeed();
          this.col = 0;
        }
        const line = this.lines[this.row]!.padEnd(this.col);
        this.lines[this.row] = line.slice(0, this.col) + ch + line.slice(this.col + 1);
        this.col += 1;
      }
    }
  }

  /** The lines without trailing blank ones. */
  text(): string[] {
    const out = this.lines.map((l) => l.trimEnd());
    while (out.length > 0 && out[out.length - 1] === '') out.pop();
    return out;
  }

  private startLogicalLine(): void {
    this.logicalRow = this.row;
    this.isLogicalWrapped = false;
  }

  private lineFeed(): void {
    this.row += 1;
    if (this.row >= this.lines.length) this.lines.push('');
    if (this.row - this.top >= this.rows) this.top = this.row - this.rows + 1;
  }

  private csi(params: string, command: string): void {
    const n = params === '' ? 1 : Number(params);
    switch (command) {
      case 'A':
        this.row = Math.max(this.top, this.row - n);
        this.col = Math.min(this.col, this.columns - 1);
        break;
      case 'J': // erase below (0 or none)
        if (params !== '' && params !== '0') throw new Error(`ESC[${params}J is not used by the progress display`);
        this.lines[this.row] = this.lines[this.row]!.slice(0, this.col);
        this.lines.length = this.row + 1;
        break;
      case 'K': // erase line: 0 to the end, 2 whole
        this.lines[this.row] = params === '2' ? '' : this.lines[this.row]!.slice(0, this.col);
        break;
      default:
        // Colours and modes do not move anything.
        break;
    }
  }
}
