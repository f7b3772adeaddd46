import type { Writable } from 'node:stream';
import { FlatDocument, type Row } from '../../core/rows.js';
import type { RejectedRecord } from '../../core/types.js';
import type { CommitResult, Destination, LoadMode, TableLoad, TableSpec } from '../destination.js';
import { emptyState, type SingerState, type StreamBookmark } from '../../state/singer-state.js';

/** Writes Singer messages to a stream, batching small writes and waiting on `drain`. */
export class SingerWriter {
  private buffer = '';
  constructor(
    private readonly out: Writable,
    /** Bytes buffered before a write. Default 64 KiB. */
    private readonly flushBytes = 65_536,
  ) {}

  /** Appends one message; returns a promise only when the buffer had to be written. */
  async message(message: Record<string, unknown>): Promise<void> {
    await this.line(JSON.stringify(message));
  }

  /** Appends one message given as its JSON text. */
  async line(json: string): Promise<void> {
    this.buffer += `${json}\n`;
    if (this.buffer.length >= this.flushBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.buffer) return;
    const chunk = this.buffer;
    this.buffer = '';
    if (!this.out.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.out.off('error', onError);
          resolve();
        };
        const onError = (error: Error) => {
          this.out.off('drain', onDrain);
          reject(error);
        };
        this.out.once('drain', onDrain);
        this.out.once('error', onError);
      });
    }
  }
}

/**
 * The Singer "destination": SCHEMA, RECORD and STATE messages on stdout (contract §6 `singer:`).
 * State is the one given with `--state`, with each committed bookmark merged in; a STATE message
 * follows every commit, so a target that persists the last STATE resumes exactly there.
 */
export class SingerDestination implements Destination {
  readonly description = 'singer: (stdout)';
  private readonly state: SingerState;
  private readonly writer: SingerWriter;
  private readonly rejectedSink: (record: RejectedRecord) => void;
  /** RECORD messages written since the last STATE (of any stream). */
  private recordsSinceState = 0;

  constructor(options: { out: Writable; state?: SingerState; onRejected?: (record: RejectedRecord) => void }) {
    this.writer = new SingerWriter(options.out);
    this.state = structuredClone(options.state ?? emptyState());
    this.rejectedSink = options.onRejected ?? (() => undefined);
  }

  async open(): Promise<void> {}

  async readState(): Promise<SingerState> {
    return structuredClone(this.state);
  }

  async resetState(streams?: readonly string[]): Promise<string[]> {
    const names = streams ?? Object.keys(this.state.bookmarks);
    for (const name of names) delete this.state.bookmarks[name];
    return [...names];
  }

  async seedState(bookmarks: Readonly<Record<string, StreamBookmark>>): Promise<string[]> {
    const seeded = Object.keys(bookmarks).filter((name) => this.state.bookmarks[name] === undefined);
    for (const name of seeded) this.state.bookmarks[name] = { ...bookmarks[name] };
    return seeded.sort();
  }

  async beginLoad(table: TableSpec, _mode: LoadMode): Promise<TableLoad> {
    const { writer, state } = this;
    const onRejected = this.rejectedSink;
    const destination = this;
    const { replicationKey } = table;
    await writer.message({
      type: 'SCHEMA',
      stream: table.name,
      schema: table.schema,
      key_properties: table.keyProperties,
      ...(replicationKey ? { bookmark_properties: [replicationKey] } : {}),
    });
    let pendingRows = 0;
    let pendingRejected = 0;
    return {
      async write(rows: readonly Row[]): Promise<void> {
        const timeExtracted = new Date().toISOString();
        const head = `{"type":"RECORD","stream":${JSON.stringify(table.name)},"record":`;
        const tail = `,"time_extracted":"${timeExtracted}"}`;
        for (const row of rows) {
          // A flat document is the record's JSON text already.
          await (row instanceof FlatDocument
            ? writer.line(head + row.text + tail)
            : writer.message({ type: 'RECORD', stream: table.name, record: row, time_extracted: timeExtracted }));
        }
        pendingRows += rows.length;
        destination.recordsSinceState += rows.length;
      },
      async reject(records: readonly RejectedRecord[]): Promise<void> {
        for (const record of records) onRejected(record);
        pendingRejected += records.length;
      },
      async commit(bookmark: StreamBookmark | null): Promise<CommitResult> {
        if (bookmark) state.bookmarks[table.name] = { ...bookmark };
        await writer.message({ type: 'STATE', value: state });
        await writer.flush();
        destination.recordsSinceState = 0;
        const result = { rowsWritten: pendingRows, rowsRescued: 0, columnsAdded: [], rejected: pendingRejected };
        pendingRows = 0;
        pendingRejected = 0;
        return result;
      },
      async rollback(): Promise<void> {
        // Records already on stdout cannot be taken back; a re-read repeats them with the same
        // key (_event_id), which a Singer target upserts. Counting restarts.
        pendingRows = 0;
        pendingRejected = 0;
      },
      async close(): Promise<void> {
        await writer.flush();
      },
    };
  }

  /** Ends with the committed STATE when records followed the last one (a stream failed or the run stopped mid-window). */
  async close(): Promise<void> {
    if (this.recordsSinceState > 0) {
      await this.writer.message({ type: 'STATE', value: this.state });
      this.recordsSinceState = 0;
    }
    await this.writer.flush();
  }
}
