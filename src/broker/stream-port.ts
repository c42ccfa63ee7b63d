import type { Message } from './types.js';

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
 * Implemented in src/store/stream (docs/stream-log.md).
 */
export interface StreamLog {
  /** The oldest offset kept (`next` when the stream is empty). Retention moves it up. */
  readonly first: number;
  /** The offset the next append gets: offsets are 0, 1, 2, ... and never given twice, restarts included. */
  readonly next: number;
  /**
   * The offset after the last entry known to be on disk (written and, with sync 'always',
   * synced). Entries from here to `next` are readable but a crash may lose them, and their
   * offsets are then given again; a caller that must never show such an entry reads below this.
   */
  readonly flushedNext: number;
  /** The size of the stream's segments, bytes not yet written included; what `maxBytes` limits. */
  readonly bytes: number;

  /**
   * Appends `message` and returns its offset (-1 from a shared store, where the offset is given
   * when the append reaches it). `timestamp` (ms) is stored with it; one lower than
   * the previous entry's (a clock stepping back) is stored as the previous one, so that
   * timestamps never decrease along the stream and `offsetAtTimestamp` can search them. The write
   * is group-committed: what is appended in one event-loop turn goes out in one write (synced
   * with sync 'always'). When the append starts a new segment, retention runs with `timestamp` as now.
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
   * are included. A shared store returns what it has in memory, and may stop short (even at
   * nothing) where it must read the shared store first: it then calls the `changed` of
   * `openStream` once it can.
   */
  read(offset: number, maxCount: number, maxBytes: number): StreamEntry[];
  /**
   * Resolves once `read(offset, count, ...)` returns what the stream holds from `offset` (at least
   * its first entry); undefined when it does now. A pull waits for it; only a shared store ever
   * needs to.
   */
  readable?(offset: number, count: number): Promise<void> | undefined;
  /** The first offset whose timestamp is `ms` or later; `next` when there is none. A shared store answers later. */
  offsetAtTimestamp(ms: number): number | Promise<number>;
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
  /** Every group's committed offset (a copy), for the management API. */
  committedOffsets(): Map<string, number>;
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
  /** 'always' (default): `flushed` waits for the write to be synced to disk. 'none': only for the write. */
  sync?: 'always' | 'none';
  /** Consumer group commits are written at most this often (ms, 1000 by default), and at close. */
  commitIntervalMs?: number;
}

