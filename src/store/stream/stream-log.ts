import type { Message } from '../../broker/index.js';

/** One message of a stream, with the offset it was given and the time it was appended. */
export interface StreamEntry {
  readonly offset: number;
  /** Milliseconds since the epoch; never lower than the entry's before (see `StreamLog.append`). */
  readonly timestamp: number;
  readonly message: Message;
}

/**
 * The storage of one stream queue (the contract's "Stream queues", protocol 1.2), as the
 * broker model uses it: synchronously, on the event loop. Only `flushed`, `close` and `delete`
 * wait for the disk. A reader is an offset the caller keeps; the log keeps no state per reader.
 *
 * It depends on nothing but `Message`, so that it can move to `src/broker` (where the model
 * declares the ports it needs) as it is. See docs/stream-log.md.
 */
export interface StreamLog {
  /** The oldest offset kept (`next` when the stream is empty). Retention moves it up. */
  readonly first: number;
  /** The offset the next append gets: offsets are 0, 1, 2, ... and never given twice, restarts included. */
  readonly next: number;
  /**
   * The offset after the last entry known to be on disk (written and, with sync 'always',
   * fdatasync'd). Entries from here to `next` are readable but a crash may lose them, and their
   * offsets are then given again; a caller that must never show such an entry reads below this.
   */
  readonly flushedNext: number;
  /** The size of the stream's segments, bytes not yet written included; what `maxBytes` limits. */
  readonly bytes: number;

  /**
   * Appends `message` and returns its offset. `timestamp` (ms) is stored with it; one lower than
   * the previous entry's (a clock stepping back) is stored as the previous one, so that
   * timestamps never decrease along the stream and `offsetAtTimestamp` can search them. The write
   * is group-committed: what is appended in one event-loop turn goes out in one write (and one
   * fdatasync). When the append starts a new segment, retention runs with `timestamp` as now.
   */
  append(message: Message, timestamp: number): number;
  /**
   * Resolves once every entry appended so far is on disk (what a publish confirm waits for): one
   * promise per batch, shared by every caller. Rejects when the write failed; the entries stay
   * readable and are written again with the next batch.
   */
  flushed(): Promise<void>;
  /**
   * Up to `maxCount` entries from `offset` on, in offset order; it stops once the payloads read
   * add up to `maxBytes` or more, but always returns the entry at the start if there is one. An
   * offset below `first` reads from `first`; at or past `next`, nothing. Entries not yet flushed
   * are included.
   */
  read(offset: number, maxCount: number, maxBytes: number): StreamEntry[];
  /** The first offset whose timestamp is `ms` or later; `next` when there is none. */
  offsetAtTimestamp(ms: number): number;
  /**
   * Drops whole segments, oldest first and never the last one, while the stream is over
   * `maxBytes` or the oldest segment's newest entry is older than `now - maxAgeMs`. Returns the
   * number of offsets dropped (how far `first` moved); 0 once the log is closed (a retention
   * timer that fires during shutdown does no harm).
   */
  applyRetention(now: number): number;
  /**
   * Stores `offset` as the committed offset of consumer group `group`, overwriting the one before
   * (lower or higher: the caller decides what a group commits, as RabbitMQ's store_offset does).
   * It must be an entry of the stream: an integer below `next`. Durable without a sync of its own:
   * see the implementations.
   */
  commit(group: string, offset: number): void;
  /** The committed offset of `group`, or null if it has none. */
  committed(group: string): number | null;
  /** Writes what is left (entries and commits), syncs it and closes the files. Calls after it throw. */
  close(): Promise<void>;
  /** Closes the log and removes all its files (the queue was deleted). */
  delete(): Promise<void>;
}

/** Retention and tuning of one stream; the queue arguments of docs/protocol.md map onto the first three. */
export interface StreamLogOptions {
  /** `x-max-length-bytes`: retention drops the oldest segments while the stream is bigger. None by default. */
  maxBytes?: number;
  /** `x-max-age`, in ms: retention drops a segment whose newest entry is older. None by default. */
  maxAgeMs?: number;
  /** `x-stream-max-segment-size-bytes`: a new segment starts past this size (64 MiB by default). */
  segmentBytes?: number;
  /** 'always' (default): `flushed` waits for fdatasync. 'none': only for the write. */
  sync?: 'always' | 'none';
  /** Consumer group commits are written at most this often (ms, 1000 by default), and at close. */
  commitIntervalMs?: number;
}

/*
 * 64 MiB rather than RabbitMQ's 500 MB: a segment is what retention drops at once and what
 * recovery reads whole (the last one, to find a torn tail), so a smaller one drops in finer steps
 * and starts faster; at 64 MiB a stream of 100 GB is still only 1,600 files, and a segment's
 * sparse index (a point per 4 KiB) is 384 KiB.
 */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_COMMIT_INTERVAL_MS = 1000;

export type ResolvedStreamLogOptions = Required<StreamLogOptions>;

/** The options with their defaults; a value that is not a positive number is refused, naming it. */
export function resolveStreamLogOptions(options: StreamLogOptions = {}): ResolvedStreamLogOptions {
  const resolved: ResolvedStreamLogOptions = {
    maxBytes: options.maxBytes ?? Infinity,
    maxAgeMs: options.maxAgeMs ?? Infinity,
    segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
    sync: options.sync ?? 'always',
    commitIntervalMs: options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS,
  };
  for (const key of ['maxBytes', 'maxAgeMs', 'segmentBytes'] as const) {
    const value = resolved[key];
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) throw new RangeError(`stream log option ${key} must be a number above 0, not ${String(value)}`);
  }
  if (!Number.isSafeInteger(resolved.segmentBytes)) throw new RangeError(`stream log option segmentBytes must be a whole number of bytes, not ${resolved.segmentBytes}`);
  if (typeof resolved.commitIntervalMs !== 'number' || !(resolved.commitIntervalMs >= 0)) throw new RangeError(`stream log option commitIntervalMs must be 0 or more, not ${String(resolved.commitIntervalMs)}`);
  if (resolved.sync !== 'always' && resolved.sync !== 'none') throw new RangeError(`stream log option sync must be 'always' or 'none', not ${String(resolved.sync)}`);
  return resolved;
}

/** What retention looks at in a segment. */
export interface RetainedSegment {
  readonly bytes: number;
  /** -Infinity for a segment without entries. */
  readonly lastTimestamp: number;
}

/**
 * How many of the oldest segments retention drops: while the stream is over `maxBytes`, or the
 * oldest segment's newest entry is older than `now - maxAgeMs`; never the last segment. Both
 * logs decide with this one function, so they drop alike.
 */
export function segmentsToDrop(segments: readonly RetainedSegment[], totalBytes: number, options: ResolvedStreamLogOptions, now: number): number {
  const cutoff = now - options.maxAgeMs;
  let bytes = totalBytes;
  let drop = 0;
  while (drop < segments.length - 1) {
    const oldest = segments[drop];
    if (bytes <= options.maxBytes && !(oldest.lastTimestamp < cutoff)) break;
    bytes -= oldest.bytes;
    drop++;
  }
  return drop;
}

/** Checks the arguments the port refuses (programming errors of the caller, not client input). */
export function checkAppend(timestamp: number): void {
  if (!Number.isFinite(timestamp)) throw new RangeError(`a stream entry's timestamp must be a finite number, not ${timestamp}`);
}

export function checkRead(offset: number, maxCount: number, maxBytes: number): void {
  if (Number.isNaN(offset) || Number.isNaN(maxCount) || Number.isNaN(maxBytes)) throw new RangeError('stream read: offset, maxCount and maxBytes must be numbers');
}

export function checkCommit(group: string, offset: number, next: number): void {
  if (typeof group !== 'string') throw new TypeError('a consumer group name must be a string');
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= next) {
    throw new RangeError(`cannot commit offset ${offset} for group "${group}": it must be an offset of the stream, an integer from 0 to ${next - 1}`);
  }
}

export const closedError = (what: string): Error => new Error(`the stream log ${what} is closed`);
