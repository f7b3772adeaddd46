import type { Destination } from '../destinations/destination.js';
import { StateError } from '../errors.js';
import type { Logger } from '../core/types.js';
import type { SingerState, StreamBookmark } from '../state/singer-state.js';
import { STREAM_NAMES, type StreamDefinition } from '../streams/stream-table.js';
import { parseInstant } from '../core/instants.js';

/** A stream whose bookmark `seedBookmarks` stored, and the value it stored. */
export interface SeededBookmark {
  stream: string;
  bookmark: StreamBookmark;
}

/**
 * `sync --state FILE` into DuckDB or PostgreSQL, the migration path from Stitch, Meltano or the
 * Python tap-iterable: the file's bookmarks seed the selected incremental streams that have no
 * bookmark in the destination. A stream whose stored bookmark differs from the file's is a
 * conflict: nothing is stored and a StateError names the stream and both values (the same
 * instant written differently is no conflict). The seeds are stored up front, in one transaction
 * of their own, so a migration holds even if the first window of a stream fails; every later
 * commit moves them on as usual. Call it before anything is read.
 */
export async function seedBookmarks(options: {
  destination: Destination;
  state: SingerState;
  /** The streams of this run; bookmarks of other streams are left alone. */
  streams: readonly StreamDefinition[];
  /** Where the state came from, for messages, e.g. `state file meltano-state.json`. */
  origin: string;
  logger: Logger;
}): Promise<SeededBookmark[]> {
  const { destination, state, streams, origin, logger } = options;
  const stored = (await destination.readState()).bookmarks;
  const toSeed: Record<string, StreamBookmark> = {};
  const conflicts: Array<{ stream: string; text: string }> = [];
  const alreadyStored: string[] = [];
  const notInRun: string[] = [];
  for (const [name, fileBookmark] of Object.entries(state.bookmarks)) {
    const stream = streams.find((s) => s.name === name);
    if (!stream) {
      if (STREAM_NAMES.includes(name)) notInRun.push(name);
      else logger.warn(`${origin}: bookmark of unknown stream "${name}" ignored (valid streams: ${STREAM_NAMES.join(', ')})`);
      continue;
    }
    const key = stream.replicationKey;
    if (stream.method !== 'INCREMENTAL' || key === undefined) {
      logger.info(`${origin}: bookmark of ${name} ignored: ${name} is FULL_TABLE and re-read whole every run`);
      continue;
    }
    const value = fileBookmark[key];
    if (value === undefined) {
      throw new StateError(
        `${origin}: the bookmark of ${name} has no "${key}" (it has ${JSON.stringify(fileBookmark)}); ` +
          `${name} follows ${key}, e.g. {"${name}": {"${key}": "2024-05-01T00:00:00.000000Z"}}`,
      );
    }
    const existing = stored[name]?.[key];
    if (existing === undefined) {
      toSeed[name] = { [key]: value };
    } else if (sameInstant(existing, value)) {
      alreadyStored.push(name);
    } else {
      conflicts.push({ stream: name, text: `${name}.${key} is ${value} in the file but ${existing} in ${destination.description}` });
    }
  }
  if (conflicts.length > 0) {
    throw new StateError(
      `${origin} conflicts with the bookmarks in the destination: ${conflicts.map((c) => c.text).join('; ')}. Nothing was read. ` +
        `The destination's bookmarks are the ones syncs keep: run without --state to continue from them, ` +
        `or \`iterable-sync reset --streams ${conflicts.map((c) => c.stream).join(',')}\` first to start from the file's`,
    );
  }
  if (alreadyStored.length > 0) logger.info(`${origin}: ${alreadyStored.join(', ')} already hold the file's bookmark in the destination`);
  if (notInRun.length > 0) logger.info(`${origin}: bookmarks of ${notInRun.join(', ')} not seeded: not synced in this run`);
  const seeded = await destination.seedState(toSeed);
  for (const name of seeded) {
    const [key, value] = Object.entries(toSeed[name]!)[0]!;
    logger.info(`${name}: seeded bookmark ${key} = ${value} from ${origin}`);
  }
  return seeded.map((stream) => ({ stream, bookmark: toSeed[stream]! }));
}

function sameInstant(a: string, b: string): boolean {
  if (a === b) return true;
  const [x, y] = [parseInstant(a), parseInstant(b)];
  return x !== null && y !== null && x.getTime() === y.getTime();
}
