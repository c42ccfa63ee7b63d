import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IoCounts } from '../../broker/index.js';
import { describeFsError, syncDirectory } from './file-sync.js';
import type { Segment } from './segment.js';

interface Waiter {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

/** Records for one segment, written with one (synced) write. */
interface Batch {
  readonly segment: Segment;
  chunks: Buffer[];
  bytes: number;
  /** Shared by every `barrier()` call that this batch ends. */
  waiter: Waiter | null;
}

export interface WriterHooks {
  /** Called before a batch is sealed, so that records the store still holds back go into it. */
  beforeSeal(): void;
  /** Called after each batch is on disk, with the segment it went to (reclaiming runs here). */
  afterWrite(segment: Segment): Promise<void>;
  /**
   * Runs before the first write, and nothing is written until it resolves (a stream whose
   * directory is still being made). A rejection fails the batch as a failed write does: the
   * waiting barriers reject, the records are kept, and it runs again before the next try.
   */
  prepare?(): Promise<void>;
}

const RESOLVED = Promise.resolve();

/**
 * On Linux a segment is opened with O_DSYNC: a write returns once the bytes it wrote are as
 * durable as fdatasync would make them, one trip to the thread pool per batch instead of two
 * (PostgreSQL's `open_datasync`). Elsewhere each write is followed by fdatasync: macOS has
 * O_DSYNC, but only fdatasync (F_FULLFSYNC in libuv) flushes the drive's cache there.
 */
const APPEND_DSYNC = process.platform === 'linux' && constants.O_DSYNC !== undefined ? constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC : undefined;

/**
 * Group commit: records appended during one event-loop turn, or while the previous batch is
 * being written, go out together in one synced `write` (APPEND_DSYNC), with async fs so the event
 * loop never waits on the disk. A failed write is cut back off the file and kept to be written
 * again, so a full disk fails confirms without leaving a torn record in front of later ones.
 */
export class JournalWriter {
  /** Batches not yet on disk, oldest first; the last one may still be taking records. */
  private readonly batches: Batch[] = [];
  private open: Batch | null = null;
  private scheduled = false;
  private draining = false;
  /** The current (or last) drain, for close() to wait on. */
  private drained: Promise<void> = RESOLVED;
  private file: { segment: Segment; handle: FileHandle } | null = null;
  /** Set when a failed write could not be undone: nothing more is written. */
  private broken: Error | null = null;
  /** `hooks.prepare` has yet to succeed. */
  private unprepared: boolean;
  /** Bytes appended since open, in all segments. */
  appendedBytes = 0;
  /** Bytes written (and synced) since open: everything appended up to this position is on disk. */
  writtenBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly syncEachBatch: boolean,
    private readonly hooks: WriterHooks,
    /** Where writes and syncs are counted, for the metrics. */
    private readonly io: IoCounts = { writtenBytes: 0, syncs: 0 },
  ) {
    this.unprepared = hooks.prepare !== undefined;
  }

  append(segment: Segment, record: Buffer): void {
    let batch = this.open;
    if (!batch || batch.segment !== segment) {
      batch = { segment, chunks: [], bytes: 0, waiter: null };
      this.open = batch;
      this.batches.push(batch);
      segment.pending++;
    }
    batch.chunks.push(record);
    batch.bytes += record.length;
    this.appendedBytes += record.length;
    this.schedule();
  }

  /** Makes sure a write happens soon: records held back by the store go out with the next batch. */
  schedule(): void {
    if (this.scheduled || this.draining) return;
    this.scheduled = true;
    setImmediate(this.onImmediate);
  }

  /** Resolves once everything appended so far is written (and synced); one promise per batch. */
  barrier(): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    const last = this.batches.at(-1);
    if (!last) return RESOLVED;
    this.schedule();
    return (last.waiter ??= newWaiter()).promise;
  }

  /** Writes what is left, syncs it (also with sync 'none': a clean stop loses nothing) and closes the file. */
  async close(): Promise<void> {
    try {
      await this.barrier();
      await this.drained;
      if (this.file && !this.syncEachBatch) {
        await this.file.handle.datasync();
        this.io.syncs++;
      }
    } finally {
      await this.file?.handle.close();
      this.file = null;
    }
  }

  private readonly onImmediate = (): void => {
    this.scheduled = false;
    if (!this.draining) this.drained = this.drain();
  };

  // `draining` is set and cleared synchronously with the loop's own checks, so a record appended
  // at any moment is either seen by the loop or schedules a new drain.
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      for (;;) {
        this.hooks.beforeSeal();
        const batch = this.batches[0];
        if (!batch || this.broken) return;
        if (batch === this.open) this.open = null;
        try {
          await this.write(batch);
        } catch (error) {
          await this.undo(batch, error);
          return;
        }
        this.batches.shift();
        batch.segment.pending--;
        batch.chunks = [];
        batch.waiter?.resolve();
        await this.hooks.afterWrite(batch.segment);
      }
    } finally {
      this.draining = false;
    }
  }

  private async write(batch: Batch): Promise<void> {
    if (this.unprepared) {
      await this.hooks.prepare?.();
      this.unprepared = false;
    }
    const handle = await this.handleFor(batch.segment);
    const data = batch.chunks.length === 1 ? batch.chunks[0] : Buffer.concat(batch.chunks, batch.bytes);
    batch.chunks = [data];
    for (let at = 0; at < data.length; ) {
      const { bytesWritten } = await handle.write(data, at, data.length - at);
      at += bytesWritten;
    }
    if (this.syncEachBatch) {
      if (APPEND_DSYNC === undefined) await handle.datasync();
      this.io.syncs++;
    }
    batch.segment.written += data.length;
    this.writtenBytes += data.length;
    this.io.writtenBytes += data.length;
  }

  private async handleFor(segment: Segment): Promise<FileHandle> {
    if (this.file?.segment === segment) return this.file.handle;
    // Batches go out in order: an older segment's file has everything it will ever get.
    const previous = this.file;
    this.file = null;
    await previous?.handle.close();
    const handle = await open(segment.path, this.syncEachBatch ? (APPEND_DSYNC ?? 'a') : 'a');
    try {
      // O_DSYNC syncs only what this handle writes: bytes an earlier process left unsynced in the
      // file (one that ran with sync 'none', or stopped between a write and its sync) are synced
      // once here, or a power cut could make a hole in front of confirmed records.
      if (this.syncEachBatch && APPEND_DSYNC !== undefined && segment.written > 0) await handle.datasync();
      if (this.syncEachBatch) await syncDirectory(this.dir);
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.file = { segment, handle };
    return handle;
  }

  /**
   * After a failed write or sync: cut the file back to what was written before, so a torn record
   * never sits in front of later ones, fail every waiting barrier, and keep the batches to write
   * again with the next one. If the file cannot be cut back the journal stops taking writes.
   */
  private async undo(batch: Batch, error: unknown): Promise<void> {
    const reason = `could not write the journal in ${this.dir}: ${describeFsError(error)}`;
    const failure = new Error(reason, { cause: error });
    if (this.file?.segment === batch.segment) {
      try {
        await this.file.handle.truncate(batch.segment.written);
      } catch (truncateError) {
        this.broken = new Error(`${reason}, and could not undo the partial write (${describeFsError(truncateError)}); restart the broker`, { cause: error });
      }
    }
    for (const waiting of this.batches) {
      waiting.waiter?.reject(this.broken ?? failure);
      waiting.waiter = null;
    }
  }
}

function newWaiter(): Waiter {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
