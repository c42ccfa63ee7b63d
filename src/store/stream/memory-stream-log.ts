import type { Message } from '../../broker/index.js';
import { EntryEncoder } from './entry-format.js';
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

interface MemorySegment {
  /** Its entries, the first one's offset being the segment's first. */
  readonly entries: StreamEntry[];
  bytes: number;
  lastTimestamp: number;
}

/** What a memory stream keeps between a close and the next open (what a restart keeps). */
interface MemoryStreamState {
  readonly segments: MemorySegment[];
  /** Every kept entry, oldest first: segments[0].entries, segments[1].entries, ... concatenated. */
  readonly entries: StreamEntry[];
  next: number;
  bytes: number;
  lastTimestamp: number;
  readonly commits: Map<string, number>;
}

const RESOLVED = Promise.resolve();

/**
 * A StreamLog in memory, for tests of the model: it behaves as FileStreamLog does (the same
 * offsets, reads, timestamps, segment sizes, retention and commits; one contract suite runs
 * against both) except that nothing is ever lost, so `flushed` resolves at once. Its state
 * survives a close: `MemoryStreamLog.reopen` is a restarted broker finding it again.
 */
export class MemoryStreamLog implements StreamLog {
  private options: ResolvedStreamLogOptions;
  private readonly encoder = new EntryEncoder();
  private closed = false;

  private constructor(
    options: StreamLogOptions,
    private readonly state: MemoryStreamState,
  ) {
    this.options = resolveStreamLogOptions(options);
  }

  /** A new, empty stream. */
  static create(options: StreamLogOptions = {}): MemoryStreamLog {
    return new MemoryStreamLog(options, { segments: [], entries: [], next: 0, bytes: 0, lastTimestamp: -Infinity, commits: new Map() });
  }

  /** The stream `previous` held (which must be closed), as a restart finds it; `options` may differ (a changed policy). */
  static reopen(previous: MemoryStreamLog, options: StreamLogOptions = {}): MemoryStreamLog {
    if (!previous.closed) throw new Error('close the memory stream log before reopening it');
    return new MemoryStreamLog(options, previous.state);
  }

  get first(): number {
    return this.state.entries[0]?.offset ?? this.state.next;
  }

  get next(): number {
    return this.state.next;
  }

  get flushedNext(): number {
    return this.state.next;
  }

  get bytes(): number {
    return this.state.bytes;
  }

  append(message: Message, timestamp: number): number {
    this.checkOpen();
    checkAppend(timestamp);
    const state = this.state;
    const time = timestamp > state.lastTimestamp ? timestamp : state.lastTimestamp;
    const recordBytes = this.encoder.recordBytes(message);
    let segment = state.segments.at(-1);
    let rolled = false;
    if (!segment || (segment.bytes > 0 && segment.bytes + recordBytes > this.options.segmentBytes)) {
      rolled = segment !== undefined;
      segment = { entries: [], bytes: 0, lastTimestamp: -Infinity };
      state.segments.push(segment);
    }
    const entry: StreamEntry = { offset: state.next++, timestamp: time, message };
    segment.entries.push(entry);
    segment.bytes += recordBytes;
    segment.lastTimestamp = time;
    state.entries.push(entry);
    state.bytes += recordBytes;
    state.lastTimestamp = time;
    if (rolled) this.applyRetention(timestamp);
    return entry.offset;
  }

  flushed(): Promise<void> {
    return RESOLVED;
  }

  read(offset: number, maxCount: number, maxBytes: number): StreamEntry[] {
    this.checkOpen();
    checkRead(offset, maxCount, maxBytes);
    const entries = this.state.entries;
    const out: StreamEntry[] = [];
    if (entries.length === 0) return out;
    let at = Math.max(0, Math.ceil(offset) - entries[0].offset);
    let bytes = 0;
    while (at < entries.length && out.length < maxCount && (bytes < maxBytes || out.length === 0)) {
      const entry = entries[at++];
      out.push(entry);
      bytes += entry.message.size;
    }
    return out;
  }

  offsetAtTimestamp(ms: number): number {
    this.checkOpen();
    const entries = this.state.entries;
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (entries[mid].timestamp < ms) low = mid + 1;
      else high = mid;
    }
    return low < entries.length ? entries[low].offset : this.state.next;
  }

  applyRetention(now: number): number {
    if (this.closed) return 0;
    const state = this.state;
    const drop = segmentsToDrop(state.segments, state.bytes, this.options, now);
    if (drop === 0) return 0;
    const before = this.first;
    let count = 0;
    for (const segment of state.segments.splice(0, drop)) {
      state.bytes -= segment.bytes;
      count += segment.entries.length;
    }
    state.entries.splice(0, count);
    return this.first - before;
  }

  /** As FileStreamLog's: the options apply from now on; `sync` cannot change. */
  setOptions(options: StreamLogOptions): void {
    const resolved = resolveStreamLogOptions({ ...options, sync: options.sync ?? this.options.sync });
    if (resolved.sync !== this.options.sync) throw new RangeError(`stream log option sync cannot change on an open log (it is '${this.options.sync}')`);
    this.options = resolved;
  }

  commit(group: string, offset: number): void {
    this.checkOpen();
    checkCommit(group, offset, this.state.next);
    this.state.commits.set(group, offset);
  }

  committed(group: string): number | null {
    return this.state.commits.get(group) ?? null;
  }

  committedOffsets(): Map<string, number> {
    return new Map(this.state.commits);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async delete(): Promise<void> {
    this.closed = true;
    const state = this.state;
    state.segments.length = 0;
    state.entries.length = 0;
    state.bytes = 0;
    state.commits.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw closedError('in memory');
  }
}
