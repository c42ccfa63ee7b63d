import type { Message } from '../../broker/index.js';
import type { StreamEntry } from './stream-log.js';

/**
 * The entries appended but not yet written, oldest first, so that reads see them before the
 * write completes. Parallel arrays (no object per entry); an entry leaves once the writer's count
 * of bytes written passes its end. Under load it holds what one or two batches hold.
 */
export class UnflushedTail {
  /** The offset of the oldest entry held (the `next` of the log when none is). */
  start: number;
  private messages: (Message | undefined)[] = [];
  private timestamps: number[] = [];
  /** Each entry's end, counted in bytes appended since the log was opened. */
  private ends: number[] = [];
  private head = 0;

  constructor(start: number) {
    this.start = start;
  }

  get length(): number {
    return this.messages.length - this.head;
  }

  push(message: Message, timestamp: number, end: number): void {
    this.messages.push(message);
    this.timestamps.push(timestamp);
    this.ends.push(end);
  }

  /** The entry with `offset` (from `start` to `start + length - 1`). */
  entry(offset: number): StreamEntry {
    const at = this.head + offset - this.start;
    return { offset, timestamp: this.timestamps[at], message: this.messages[at] as Message };
  }

  /** The first offset from `from` on whose timestamp is `ms` or later, or null. */
  firstAtOrAfter(ms: number, from: number): number | null {
    let low = this.head + Math.max(0, from - this.start);
    let high = this.messages.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.timestamps[mid] < ms) low = mid + 1;
      else high = mid;
    }
    return low < this.messages.length ? this.start + low - this.head : null;
  }

  /** Lets go of the entries that end at or before `written` bytes. */
  dropUntil(written: number): void {
    const ends = this.ends;
    let head = this.head;
    while (head < ends.length && ends[head] <= written) this.messages[head++] = undefined;
    this.start += head - this.head;
    if (head === ends.length) {
      this.messages.length = 0;
      this.timestamps.length = 0;
      ends.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > ends.length) {
      this.messages.splice(0, head);
      this.timestamps.splice(0, head);
      ends.splice(0, head);
      head = 0;
    }
    this.head = head;
  }
}
