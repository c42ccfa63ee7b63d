import { join } from 'node:path';
import { Segment } from '../journal/segment.js';

/** A point every this many bytes of a segment: a read from any offset scans at most this much to find it. */
export const INDEX_INTERVAL_BYTES = 4096;

export const SEGMENT_NAME = /^(\d{20})\.stream$/;
export const INDEX_NAME = /^(\d{20})\.index$/;

/** `<first offset, 20 digits>`: names sort in offset order, and an empty segment still says where it starts (as Kafka's). */
const baseName = (base: number): string => String(base).padStart(20, '0');
export const segmentPath = (dir: string, base: number): string => join(dir, `${baseName(base)}.stream`);
export const indexPath = (dir: string, base: number): string => join(dir, `${baseName(base)}.index`);

/**
 * A sparse index of one segment: (offset, timestamp, file position) of its first entry and of
 * the first entry at least INDEX_INTERVAL_BYTES past the previous point, in a Float64Array
 * (24 bytes a point: 384 KiB for a full 64 MiB segment).
 */
export class SparseIndex {
  private points: Float64Array;
  private count: number;
  private lastPosition: number;

  constructor(points?: Float64Array) {
    this.points = points ?? new Float64Array(3 * 64);
    this.count = points ? points.length / 3 : 0;
    this.lastPosition = this.count > 0 ? this.points[3 * this.count - 1] : -Infinity;
  }

  get size(): number {
    return this.count;
  }

  /** Notes the entry at `position`: it becomes a point if it is the first or far enough past the last one. */
  note(offset: number, timestamp: number, position: number): void {
    if (position - this.lastPosition < INDEX_INTERVAL_BYTES) return;
    if (3 * (this.count + 1) > this.points.length) {
      const grown = new Float64Array(Math.max(3 * 64, this.points.length * 2));
      grown.set(this.points);
      this.points = grown;
    }
    const at = 3 * this.count++;
    this.points[at] = offset;
    this.points[at + 1] = timestamp;
    this.points[at + 2] = position;
    this.lastPosition = position;
  }

  /** The last point at or before `offset` (0 when none is: the segment's first entry). */
  floor(offset: number): number {
    let low = 0;
    let high = this.count - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.points[3 * mid] <= offset) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /** The last point whose timestamp is before `ms` (0 when none is). */
  lastBefore(ms: number): number {
    let low = 0;
    let high = this.count - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.points[3 * mid + 1] < ms) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  offsetAt(point: number): number {
    return this.points[3 * point];
  }

  positionAt(point: number): number {
    return this.points[3 * point + 2];
  }

  /** The points, for the index file. */
  toArray(): Float64Array {
    return this.points.subarray(0, 3 * this.count);
  }
}

/**
 * One segment file of a stream and what the log knows of it without reading it: its offsets,
 * timestamps and size. `file` is the same segment as the JournalWriter sees it (what is written,
 * what waits in a batch).
 */
export class StreamSegment {
  readonly file: Segment;
  readonly indexPath: string;
  /** The offset after its last entry (`base` while it has none). */
  next: number;
  /** Bytes appended to it, written or still in a batch. */
  bytes = 0;
  firstTimestamp = Infinity;
  /** -Infinity while it has no entries. */
  lastTimestamp = -Infinity;
  /** In memory for the active segment, a sealed one whose index file is not written yet, and the few sealed ones read lately. */
  index: SparseIndex | null = null;
  /** Its index file is on disk (so `index` may be let go). */
  indexSaved = false;
  /** Dropped by retention: its files are deleted once nothing waits to be written to it. */
  dropped = false;
  /** Found on disk at recovery; a new segment's file exists once a batch for it is written. */
  recovered = false;

  constructor(
    dir: string,
    readonly base: number,
  ) {
    this.file = new Segment(base, segmentPath(dir, base));
    this.indexPath = indexPath(dir, base);
    this.next = base;
  }

  /** Its file is on disk: the name that tells a restart where offsets go on. */
  get fileExists(): boolean {
    return this.recovered || this.file.written > 0;
  }

  get path(): string {
    return this.file.path;
  }

  /** Accounts for an entry of `length` bytes appended at the end; returns its position. */
  add(offset: number, timestamp: number, length: number): number {
    const position = this.bytes;
    (this.index as SparseIndex).note(offset, timestamp, position);
    this.bytes = position + length;
    this.next = offset + 1;
    if (this.firstTimestamp === Infinity) this.firstTimestamp = timestamp;
    this.lastTimestamp = timestamp;
    return position;
  }
}
