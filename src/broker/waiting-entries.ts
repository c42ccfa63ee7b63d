import type { QueueEntry } from './entry-deque.js';

/**
 * A queue's messages that are not ready yet (`x-delay`, `x-retry-delays`): a binary min-heap by
 * the time they become ready, then by their place in the queue, so that messages waiting the same
 * time keep their order. The queue keeps one timer, for the heap's top: not one per message.
 */
export class WaitingEntries {
  private readonly heap: QueueEntry[] = [];

  get length(): number {
    return this.heap.length;
  }

  /** When the first one becomes ready; Infinity when none waits. */
  get nextReadyAt(): number {
    return this.heap.length === 0 ? Infinity : this.heap[0].readyAt;
  }

  push(entry: QueueEntry): void {
    const heap = this.heap;
    heap.push(entry);
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!before(entry, heap[parent])) break;
      heap[at] = heap[parent];
      at = parent;
    }
    heap[at] = entry;
  }

  /** Removes and returns, in order, every entry ready at `now`. */
  takeReady(now: number): QueueEntry[] {
    const ready: QueueEntry[] = [];
    while (this.heap.length > 0 && this.heap[0].readyAt <= now) ready.push(this.pop());
    return ready;
  }

  /** Removes and returns every entry, in no particular order. */
  drain(): QueueEntry[] {
    return this.heap.splice(0);
  }

  private pop(): QueueEntry {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop() as QueueEntry;
    if (heap.length === 0) return top;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right], heap[left]) ? right : left;
      if (!before(heap[child], last)) break;
      heap[at] = heap[child];
      at = child;
    }
    heap[at] = last;
    return top;
  }
}

const before = (a: QueueEntry, b: QueueEntry): boolean => a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.position < b.position);
