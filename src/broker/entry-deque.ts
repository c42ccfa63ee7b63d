import type { Message } from './types.js';

/** A message's place in one queue. */
export interface QueueEntry {
  /** Broker-wide sequence number: the message's key in the store. */
  readonly seq: number;
  /** Increasing per queue: FIFO order, and where a requeued message goes back to. */
  readonly position: number;
  readonly message: Message;
  /** Absolute time after which the message is expired; Infinity without a TTL. */
  readonly expiresAt: number;
  readonly priority: number;
  /** How often the message was returned to its queue (requeued); `x-delivery-count`. */
  returns: number;
  /** Not ready before this time (`x-delay`, `x-retry-delays`); 0 for a message ready at once. */
  readyAt: number;
  /** Written to the store (persistent message in a durable queue). */
  readonly persisted: boolean;
}

/** Shared by every empty deque until its first push: most queues of a wide fan-out stay empty. */
const NO_ITEMS: readonly (QueueEntry | undefined)[] = [];

/**
 * A ring buffer of entries ordered by `position`: O(1) push and shift (no `Array.shift()` on long
 * arrays), and an ordered insert for requeued messages, which go back near the head.
 */

export class EntryDeque {
  private items = NO_ITEMS as (QueueEntry | undefined)[];
  private head = 0;
  length = 0;

  push(entry: QueueEntry): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & (this.items.length - 1)] = entry;
    this.length++;
  }

  peek(): QueueEntry | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  shift(): QueueEntry | undefined {
    if (this.length === 0) return undefined;
    const entry = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.length--;
    return entry;
  }

  /** Puts an entry back where its `position` belongs. */
  insertInOrder(entry: QueueEntry): void {
    if (this.length === 0 || this.at(this.length - 1).position < entry.position) {
      this.push(entry);
      return;
    }
    let low = 0;
    let high = this.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.at(mid).position < entry.position) low = mid + 1;
      else high = mid;
    }
    if (this.length === this.items.length) this.grow();
    const mask = this.items.length - 1;
    if (low < this.length / 2) {
      // Closer to the head: move the first `low` entries one slot back.
      this.head = (this.head - 1) & mask;
      for (let i = 0; i < low; i++) this.items[(this.head + i) & mask] = this.items[(this.head + i + 1) & mask];
    } else {
      for (let i = this.length; i > low; i--) this.items[(this.head + i) & mask] = this.items[(this.head + i - 1) & mask];
    }
    this.items[(this.head + low) & mask] = entry;
    this.length++;
  }

  /** Removes and returns every entry, oldest first. */
  drain(): QueueEntry[] {
    const all: QueueEntry[] = [];
    for (let entry = this.shift(); entry; entry = this.shift()) all.push(entry);
    return all;
  }

  private at(index: number): QueueEntry {
    return this.items[(this.head + index) & (this.items.length - 1)] as QueueEntry;
  }

  private grow(): void {
    const bigger: (QueueEntry | undefined)[] = new Array(Math.max(16, this.items.length * 2));
    for (let i = 0; i < this.length; i++) bigger[i] = this.at(i);
    this.items = bigger;
    this.head = 0;
  }
}
