import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import type { IoCounts, Message } from '../../broker/index.js';
import { describeFsError, syncDirectory } from '../journal/file-sync.js';
import { JournalWriter } from '../journal/journal-writer.js';
import { decodeIndexPoints, decodeIndexSummary, EntryDecoder, EntryEncoder } from './entry-format.js';
import { GroupOffsets } from './group-offsets.js';
import { RecordCursor } from './segment-reader.js';
import {
  checkAppend,
  checkCommit,
  checkRead,
  closedError,
  resolveStreamLogOptions,
  segmentsToDrop,
  type ResolvedStreamLogOptions,
  type StreamEntry,
  type StreamLog,
  type StreamLogOptions,
} from './stream-log.js';
import { OFFSETS_FILE, recoverSegments, saveIndex } from './stream-recovery.js';
import { SEGMENT_NAME, SparseIndex, StreamSegment } from './stream-segment.js';
import { UnflushedTail } from './unflushed-tail.js';

/**
 * Entries are encoded straight into slabs; each batch hands the writer one slice of one. The
 * first slab is small (an idle stream holds little) and each next one twice the size, up to the
 * most: under load one slab serves several batches.
 */
const FIRST_SLAB_BYTES = 64 * 1024;
const MAX_SLAB_BYTES = 1024 * 1024;
const NO_BYTES = Buffer.alloc(0);
/** Sealed segments whose sparse index stays in memory after a read needed it (about 3 MiB at most). */
const CACHED_INDEXES = 8;
/** Segment files kept open for reading (few: a broker may hold many streams). */
const CACHED_FDS = 4;
/** Where readers stopped (offset → file position), so the next read of each goes straight there. */
const CACHED_HINTS = 4096;

const RESOLVED = Promise.resolve();

/** What a FileStreamLog is given besides its options; everything is optional. */
export interface FileStreamLogContext {
  /** Silent when absent. */
  logger?: Logger;
  /** Where the segment writes and their syncs are counted (a store's metrics). */
  io?: IoCounts;
  /**
   * Called by an append that finds nothing unflushed before it: from then on `flushed()` has
   * something to wait for (a store that syncs many streams waits only for those).
   */
  onUnflushed?: (log: FileStreamLog) => void;
}

/** What `FileStreamLog.create` is given besides its options. */
export interface NewStreamContext extends FileStreamLogContext {
  /**
   * Makes the stream's directory, in the caller's place: `create` then touches no file, and this
   * runs before the first write. Nothing is written until it resolves, so `flushed()` (and with it
   * the offsets file) waits for it; if it rejects, the waiting `flushed()` calls reject with its
   * error and it runs again before the next write.
   */
  prepare?: () => Promise<void>;
}

/**
 * A stream on disk (docs/stream-log.md): append-only segment files of entries in the journal's
 * framing, group-committed by the journal's writer (one synced write per event-loop turn), read
 * synchronously with preads through a sparse index, whole segments dropped by retention, and the
 * consumer groups' offsets in a small file written at most once per interval.
 */
export class FileStreamLog implements StreamLog {
  private readonly writer: JournalWriter;
  private readonly encoder = new EntryEncoder();
  private readonly decoder = new EntryDecoder();
  private readonly cursor = new RecordCursor();
  private readonly tail: UnflushedTail;
  private readonly groups: GroupOffsets;
  private active: StreamSegment;
  private nextOffset: number;
  private lastTimestamp: number;
  private totalBytes = 0;
  /** Entries are encoded into `slab`; what lies between `handed` and `used` is not yet given to the writer. */
  private slab = NO_BYTES;
  private nextSlabBytes = FIRST_SLAB_BYTES;
  private used = 0;
  private handed = 0;
  /** Bytes appended since open: an entry is on disk once the writer's `writtenBytes` reaches its end. */
  private appendedBytes = 0;
  private readonly hints = new Map<number, number>();
  /** Sealed segments with their index in memory because a read needed it, least recently used first. */
  private readonly cachedIndexes: StreamSegment[] = [];
  private readonly fds = new Map<StreamSegment, number>();
  /** Sealed segments whose index file is not written yet; dropped segments whose files are still to delete. */
  private readonly unsaved: StreamSegment[] = [];
  private readonly doomed: StreamSegment[] = [];
  private housekeeping: Promise<void> | null = null;
  private housekeepAgain = false;
  private readonly damaged = new Set<StreamSegment>();
  private closing: Promise<void> | null = null;
  /** The payload bytes the read in progress has gathered. */
  private readBytes = 0;

  private readonly onUnflushed: ((log: FileStreamLog) => void) | undefined;

  private constructor(
    private readonly dir: string,
    private readonly options: ResolvedStreamLogOptions,
    private readonly logger: Logger,
    /** Oldest first; never empty: the last one is the active segment. */
    private readonly segments: StreamSegment[],
    commits: Map<string, number>,
    context: NewStreamContext,
  ) {
    this.active = segments[segments.length - 1];
    this.nextOffset = this.active.next;
    this.lastTimestamp = -Infinity;
    for (const segment of segments) {
      this.totalBytes += segment.bytes;
      if (segment.lastTimestamp > this.lastTimestamp) this.lastTimestamp = segment.lastTimestamp;
    }
    this.tail = new UnflushedTail(this.nextOffset);
    const sync = options.sync === 'always';
    this.writer = new JournalWriter(dir, sync, { beforeSeal: () => this.handOver(), afterWrite: () => this.onWritten(), prepare: context.prepare }, context.io);
    this.groups = new GroupOffsets(join(dir, OFFSETS_FILE), commits, options.commitIntervalMs, () => this.flushed(), logger);
    this.onUnflushed = context.onUnflushed;
  }

  /**
   * Opens (creating if needed) the stream in `dir` and reads it back (see recoverSegments): a
   * torn tail is cut off and logged, never thrown. Throws an Error a person can act on when the
   * dir cannot be used.
   */
  static async open(dir: string, options: StreamLogOptions = {}, context: FileStreamLogContext = {}): Promise<FileStreamLog> {
    const resolved = resolveStreamLogOptions(options);
    const log = streamLogger(dir, context.logger);
    const started = performance.now();
    try {
      await mkdir(dir, { recursive: true });
      if (resolved.sync === 'always') await syncDirectory(dirname(dir));
    } catch (error) {
      throw new Error(`cannot use stream dir "${dir}": ${describeFsError(error)}`, { cause: error });
    }
    let segments: StreamSegment[];
    let commits: Map<string, number>;
    try {
      segments = await recoverSegments(dir, log);
      commits = await GroupOffsets.load(join(dir, OFFSETS_FILE), log);
    } catch (error) {
      throw new Error(`cannot read the stream in "${dir}": ${describeFsError(error)}`, { cause: error });
    }
    if (segments.length === 0) {
      const empty = new StreamSegment(dir, 0);
      empty.index = new SparseIndex();
      segments.push(empty);
    }
    const next = segments[segments.length - 1].next;
    for (const [group, offset] of commits) {
      // Only with sync 'none' and a power cut: the commit was written, the entries were not.
      if (offset < next) continue;
      log.warn({ group, committed: offset, next }, 'stream: a consumer group committed an offset past the end of the stream as recovered; it now points at the last entry');
      if (next === 0) commits.delete(group);
      else commits.set(group, next - 1);
    }
    const stream = new FileStreamLog(dir, resolved, log, segments, commits, context);
    log.info(
      { first: stream.first, next, segments: segments.length, bytes: stream.bytes, groups: commits.size, ms: Math.round(performance.now() - started) },
      'stream recovered',
    );
    return stream;
  }

  /**
   * A new, empty stream in `dir`, without waiting (a stream queue declared at run time): nothing
   * is read, and the segment file is created by the writer at the first write, as the next one is
   * at each roll. Unless `context.prepare` makes the directory instead, `dir` is made here with
   * mkdirSync, must not hold a stream already (open that one), and with sync 'always' its entry in
   * the parent is synced before the first write. Throws an Error a person can act on when `dir`
   * cannot be made.
   */
  static create(dir: string, options: StreamLogOptions = {}, context: NewStreamContext = {}): FileStreamLog {
    const resolved = resolveStreamLogOptions(options);
    let prepare = context.prepare;
    if (!prepare) {
      let holdsStream: boolean;
      try {
        mkdirSync(dir, { recursive: true });
        holdsStream = readdirSync(dir).some((name) => SEGMENT_NAME.test(name));
      } catch (error) {
        throw new Error(`cannot use stream dir "${dir}": ${describeFsError(error)}`, { cause: error });
      }
      if (holdsStream) throw new Error(`cannot create a stream in "${dir}": it holds one already; open it instead`);
      if (resolved.sync === 'always') prepare = () => syncDirectory(dirname(dir));
    }
    const empty = new StreamSegment(dir, 0);
    empty.index = new SparseIndex();
    return new FileStreamLog(dir, resolved, streamLogger(dir, context.logger), [empty], new Map(), { ...context, prepare });
  }

  get first(): number {
    return this.segments[0].base;
  }

  get next(): number {
    return this.nextOffset;
  }

  get flushedNext(): number {
    return this.tail.start;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  append(message: Message, timestamp: number): number {
    if (this.closing) throw closedError(`in "${this.dir}"`);
    checkAppend(timestamp);
    const time = timestamp > this.lastTimestamp ? timestamp : this.lastTimestamp;
    const offset = this.nextOffset;
    const wasFlushed = this.tail.start === offset;
    const room = this.encoder.maxRecordBytes(message);
    if (this.slab.length - this.used < room) this.newSlab(room);
    const start = this.used;
    const length = this.encoder.encodeInto(this.slab, start, offset, time, message);
    let active = this.active;
    const rolls = active.bytes > 0 && active.bytes + length > this.options.segmentBytes;
    if (rolls) {
      // What came before this entry belongs to the segment being sealed.
      this.used = start;
      this.handOver();
      active = this.roll();
    }
    this.used = start + length;
    active.add(offset, time, length);
    this.totalBytes += length;
    this.appendedBytes += length;
    this.tail.push(message, time, this.appendedBytes);
    this.nextOffset = offset + 1;
    this.lastTimestamp = time;
    this.writer.schedule();
    if (rolls) this.applyRetention(timestamp);
    if (wasFlushed) this.onUnflushed?.(this);
    return offset;
  }

  flushed(): Promise<void> {
    this.handOver();
    return this.writer.barrier();
  }

  read(offset: number, maxCount: number, maxBytes: number): StreamEntry[] {
    this.checkOpen();
    checkRead(offset, maxCount, maxBytes);
    const out: StreamEntry[] = [];
    const next = this.nextOffset;
    let at = Math.max(Math.ceil(offset), this.first);
    if (at >= next || !(maxCount >= 1)) return out;
    const tail = this.tail;
    this.readBytes = 0;
    while (at < tail.start && out.length < maxCount && (this.readBytes < maxBytes || out.length === 0)) {
      const i = this.segmentWith(at);
      const segment = this.segments[i];
      // Past the segment's last entry: a gap left by damage; go on with the next segment.
      if (at >= segment.next) {
        at = i + 1 < this.segments.length ? this.segments[i + 1].base : next;
        continue;
      }
      const from = at;
      at = this.readSegment(segment, at, Math.min(segment.next, tail.start), out, maxCount, maxBytes);
      if (at === from) {
        // The segment's file holds less than its accounts say: not a state a write leaves.
        this.reportDamage(segment, at, 'the segment file ends before its last entry');
        at = segment.next;
      }
    }
    at = Math.max(at, tail.start);
    let bytes = this.readBytes;
    while (at < next && out.length < maxCount && (bytes < maxBytes || out.length === 0)) {
      const entry = tail.entry(at++);
      out.push(entry);
      bytes += entry.message.size;
    }
    return out;
  }

  offsetAtTimestamp(ms: number): number {
    this.checkOpen();
    const segments = this.segments;
    // Timestamps never decrease along the stream: the first segment whose newest entry is late enough.
    let low = 0;
    let high = segments.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (segments[mid].lastTimestamp < ms) low = mid + 1;
      else high = mid;
    }
    if (low === segments.length) return this.nextOffset;
    const segment = segments[low];
    if (segment.firstTimestamp >= ms) return segment.base;
    const index = this.indexOf(segment);
    const point = index.lastBefore(ms);
    let at = index.offsetAt(point);
    const end = Math.min(segment.next, this.tail.start);
    if (at < end) {
      const cursor = this.cursor;
      cursor.start(segment, this.fdOf(segment), index.positionAt(point), segment.file.written, at);
      while (cursor.expected < end && cursor.next(false)) if (cursor.timestamp >= ms) return cursor.offset;
      if (cursor.problem !== null) {
        this.reportDamage(segment, cursor.expected, cursor.problem);
        return segment.next;
      }
      at = end;
    }
    return this.tail.firstAtOrAfter(ms, at) ?? segment.next;
  }

  applyRetention(now: number): number {
    if (this.closing) return 0;
    const drop = segmentsToDrop(this.segments, this.totalBytes, this.options, now);
    if (drop === 0) return 0;
    const before = this.first;
    for (const segment of this.segments.splice(0, drop)) {
      segment.dropped = true;
      this.totalBytes -= segment.bytes;
      this.closeFd(segment);
      this.cursor.forget(segment);
      remove(this.cachedIndexes, segment);
      remove(this.unsaved, segment);
      this.damaged.delete(segment);
      segment.index = null;
      this.doomed.push(segment);
    }
    this.logger.debug({ segments: drop, first: this.first }, 'stream: retention dropped segments');
    this.startHousekeeping();
    return this.first - before;
  }

  /**
   * Applies changed retention and tuning from now on (the options a declare or a policy gives a
   * stream that was recovered or opened before): `maxBytes` and `maxAgeMs` at the next retention,
   * `segmentBytes` from the next roll, `commitIntervalMs` from the next write of the offsets file.
   * `sync` stays what the log was opened with: a different one is refused.
   */
  setOptions(options: StreamLogOptions): void {
    const resolved = resolveStreamLogOptions({ ...options, sync: options.sync ?? this.options.sync });
    if (resolved.sync !== this.options.sync) throw new RangeError(`stream log option sync cannot change on an open log (it is '${this.options.sync}')`);
    Object.assign(this.options, resolved);
    this.groups.intervalMs = resolved.commitIntervalMs;
  }

  commit(group: string, offset: number): void {
    this.checkOpen();
    checkCommit(group, offset, this.nextOffset);
    this.groups.set(group, offset);
  }

  committed(group: string): number | null {
    return this.groups.get(group);
  }

  committedOffsets(): Map<string, number> {
    return new Map(this.groups.entries());
  }

  /** Writes and syncs every entry and commit, writes the sealed segments' index files, and closes the files. */
  close(): Promise<void> {
    this.closing ??= this.shutDown(false);
    return this.closing;
  }

  async delete(): Promise<void> {
    this.closing ??= this.shutDown(true);
    await this.closing.catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
    if (this.options.sync === 'always') await syncDirectory(dirname(this.dir)).catch(() => {});
  }

  private async shutDown(deleting: boolean): Promise<void> {
    this.handOver();
    let failure: unknown = null;
    try {
      await this.writer.close();
    } catch (error) {
      failure = error;
    }
    try {
      if (deleting || failure) await this.groups.discard();
      else await this.groups.close();
    } catch (error) {
      failure ??= error;
    }
    if (deleting) while (this.housekeeping) await this.housekeeping;
    else await this.settleHousekeeping();
    for (const segment of [...this.fds.keys()]) this.closeFd(segment);
    if (failure) throw failure;
  }

  private checkOpen(): void {
    if (this.closing) throw closedError(`in "${this.dir}"`);
  }

  /** Gives the writer what was encoded since the last hand-over: one slice, one chunk of the next batch. */
  private handOver(): void {
    if (this.used === this.handed) return;
    this.writer.append(this.active.file, this.slab.subarray(this.handed, this.used));
    this.handed = this.used;
  }

  private newSlab(room: number): void {
    this.handOver();
    this.slab = Buffer.allocUnsafe(Math.max(this.nextSlabBytes, room));
    this.nextSlabBytes = Math.min(2 * this.nextSlabBytes, MAX_SLAB_BYTES);
    this.used = this.handed = 0;
  }

  /** Seals the active segment and starts the next one at the next offset. */
  private roll(): StreamSegment {
    const sealed = this.active;
    const next = new StreamSegment(this.dir, this.nextOffset);
    next.index = new SparseIndex();
    this.segments.push(next);
    this.active = next;
    // Its index stays in memory until its index file is written, once its last batch is.
    this.unsaved.push(sealed);
    return next;
  }

  /** After each batch is on disk: the entries in it leave the tail; index files and deletions that waited for it go ahead. */
  private onWritten(): Promise<void> {
    this.tail.dropUntil(this.writer.writtenBytes);
    if (this.unsaved.length > 0 || this.doomed.length > 0) this.startHousekeeping();
    return RESOLVED;
  }

  private startHousekeeping(): void {
    if (this.housekeeping) {
      this.housekeepAgain = true;
      return;
    }
    this.housekeeping = this.housekeep()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'stream: housekeeping failed; it is tried again later'))
      .finally(() => {
        this.housekeeping = null;
        if (this.housekeepAgain) {
          this.housekeepAgain = false;
          this.startHousekeeping();
        }
      });
  }

  private async settleHousekeeping(): Promise<void> {
    this.startHousekeeping();
    while (this.housekeeping) await this.housekeeping;
  }

  /**
   * One at a time, off the write path: writes the index files of sealed segments whose entries
   * are all written, and deletes the files of dropped segments once no batch for them is still
   * to be written (the writer would create the file again).
   */
  private async housekeep(): Promise<void> {
    for (const segment of this.unsaved.filter(isWritten)) {
      await saveIndex(segment, this.logger);
      if (segment.dropped) continue;
      remove(this.unsaved, segment);
      // From now on its index may be let go; keep it while it is likely to be read soon.
      if (segment.indexSaved) this.cacheIndex(segment);
    }
    // A dropped segment's file also waits until a later segment's file is on disk: file names are
    // what tells a restart where offsets go on, and with none left a crash would start them again at 0.
    const continued = this.segments.findLast((segment) => segment.fileExists)?.base ?? -1;
    const deletable = this.doomed.filter((segment) => segment.file.pending === 0 && segment.base < continued);
    if (deletable.length === 0) return;
    for (const segment of deletable) {
      remove(this.doomed, segment);
      await unlink(segment.path).catch(ignoreMissing);
      await unlink(segment.indexPath).catch(ignoreMissing);
    }
    if (this.options.sync === 'always') await syncDirectory(this.dir);
  }

  /** The index of the segment holding `offset`: the last one starting at or before it. */
  private segmentWith(offset: number): number {
    const segments = this.segments;
    let low = 0;
    let high = segments.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (segments[mid].base <= offset) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /**
   * Reads entries of `segment` from `at` up to `end` (exclusive) into `out`, within the limits;
   * returns the offset to go on from. It starts where a reader stopped last (a hint) or at the
   * sparse index's point before `at`, and checks the CRC32 of every entry it returns.
   */
  private readSegment(segment: StreamSegment, at: number, end: number, out: StreamEntry[], maxCount: number, maxBytes: number): number {
    let position = this.hints.get(at);
    let from = at;
    if (position === undefined) {
      const index = this.indexOf(segment);
      const point = index.floor(at);
      position = index.positionAt(point);
      from = index.offsetAt(point);
    } else {
      this.hints.delete(at);
    }
    const cursor = this.cursor;
    // Fetch about what this read needs: the entries up to `at`, then maxCount of the segment's average size.
    const entries = segment.next - segment.base;
    const average = entries > 0 ? segment.bytes / entries : 0;
    const wanted = (at - from + Math.min(maxCount, end - at)) * average;
    cursor.start(segment, this.fdOf(segment), position, segment.file.written, from, Math.min(wanted, maxBytes + 4096) * 1.25);
    let bytes = this.readBytes;
    while (cursor.expected < end) {
      if (!cursor.next(false)) break;
      if (cursor.offset < at) continue;
      let message: Message;
      try {
        if (!cursor.crcMatches()) throw new Error('a record whose CRC32 does not match its bytes');
        message = this.decoder.message(cursor.data, cursor.bodyAt, cursor.bodyLength);
      } catch (error) {
        cursor.problem = (error as Error).message;
        break;
      }
      out.push({ offset: at++, timestamp: cursor.timestamp, message });
      bytes += message.size;
      if (out.length >= maxCount || bytes >= maxBytes) break;
    }
    this.readBytes = bytes;
    if (cursor.problem !== null) {
      this.reportDamage(segment, at, cursor.problem);
      return segment.next;
    }
    if (at < end && at === cursor.expected) this.hint(at, cursor.nextPosition);
    return at;
  }

  private hint(offset: number, position: number): void {
    const hints = this.hints;
    if (hints.size >= CACHED_HINTS) hints.delete(hints.keys().next().value as number);
    hints.set(offset, position);
  }

  /** Logs damage found by a read (once per segment); reads step over the rest of the segment. */
  private reportDamage(segment: StreamSegment, offset: number, problem: string): void {
    if (this.damaged.has(segment)) return;
    this.damaged.add(segment);
    this.logger.error(
      { segment: segment.path, offset, lostUpTo: segment.next - 1, reason: problem },
      `stream: a read met a damaged entry (${problem}); the entries from ${offset} to the end of that segment are skipped`,
    );
  }

  /** The segment's sparse index: in memory, or read from its index file (or rebuilt by a scan) into a small LRU cache. */
  private indexOf(segment: StreamSegment): SparseIndex {
    const inMemory = segment.index;
    if (inMemory) {
      const cached = this.cachedIndexes.indexOf(segment);
      if (cached >= 0 && cached !== this.cachedIndexes.length - 1) {
        this.cachedIndexes.splice(cached, 1);
        this.cachedIndexes.push(segment);
      }
      return inMemory;
    }
    let index = this.readIndexFile(segment);
    if (!index) {
      this.logger.warn({ segment: segment.path }, 'stream: a segment index file is missing or stale; rebuilding it by reading the segment');
      index = this.scanIndex(segment);
      segment.index = index;
      segment.indexSaved = false;
      this.unsaved.push(segment);
      this.startHousekeeping();
      return index;
    }
    segment.index = index;
    this.cacheIndex(segment);
    return index;
  }

  private cacheIndex(segment: StreamSegment): void {
    remove(this.cachedIndexes, segment);
    this.cachedIndexes.push(segment);
    if (this.cachedIndexes.length > CACHED_INDEXES) {
      const evicted = this.cachedIndexes.shift() as StreamSegment;
      if (evicted.indexSaved && evicted !== this.active) evicted.index = null;
    }
  }

  private readIndexFile(segment: StreamSegment): SparseIndex | null {
    try {
      const file = readFileSync(segment.indexPath);
      const summary = decodeIndexSummary(file);
      const points = decodeIndexPoints(file);
      if (!summary || !points || summary.base !== segment.base || summary.bytes !== segment.bytes || summary.next !== segment.next) return null;
      return new SparseIndex(points);
    } catch {
      return null;
    }
  }

  /** Builds a sealed segment's index by reading it through (synchronously: a rare repair). */
  private scanIndex(segment: StreamSegment): SparseIndex {
    const index = new SparseIndex();
    const cursor = this.cursor;
    cursor.start(segment, this.fdOf(segment), 0, segment.file.written, segment.base);
    while (cursor.expected < segment.next && cursor.next(true)) index.note(cursor.offset, cursor.timestamp, cursor.position);
    if (cursor.problem !== null) this.reportDamage(segment, cursor.expected, cursor.problem);
    return index;
  }

  private fdOf(segment: StreamSegment): number {
    const fds = this.fds;
    let fd = fds.get(segment);
    if (fd !== undefined) {
      // Least recently used first.
      fds.delete(segment);
      fds.set(segment, fd);
      return fd;
    }
    if (fds.size >= CACHED_FDS) {
      const [oldest] = fds.keys();
      this.closeFd(oldest);
    }
    fd = openSync(segment.path, 'r');
    fds.set(segment, fd);
    return fd;
  }

  private closeFd(segment: StreamSegment): void {
    const fd = this.fds.get(segment);
    if (fd === undefined) return;
    this.fds.delete(segment);
    this.cursor.forget(segment);
    closeSync(fd);
  }
}

const streamLogger = (dir: string, logger: Logger | undefined): Logger => (logger ?? pino({ level: 'silent' })).child({ component: 'stream', stream: dir });

const isWritten = (segment: StreamSegment): boolean => segment.file.pending === 0 && segment.file.written === segment.bytes;

function remove<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
