/**
 * Where each stored message of one queue is: seq → the value given (the journal's segment).
 *
 * A queue's puts come in increasing seq order and its acks remove mostly from the front, so the
 * seqs are kept in an ascending array with their values beside them: a put is a push, a remove
 * finds its seq at the front or by binary search, and the front's removed slots are dropped as
 * they come. A `Map` here cost S3u's broker about 4% of its samples (hashing into a table of
 * 10,000 entries that a FIFO's deletes keep rebuilding). A seq that comes out of order (a
 * compaction's copy of an older put, a replay of one) goes to a `Map` beside the array.
 */
export class SeqIndex<T> {
  /** Ascending from `head`; a removed slot keeps its seq and has `undefined` as its value (so T never includes undefined). */
  private seqs: number[] = [];
  private values: (T | undefined)[] = [];
  /** Slots before it are removed (and dropped at the next rebuild). */
  private head = 0;
  /** Removed slots at or after `head`. */
  private holes = 0;
  /** Seqs put when a higher one was already in the array and they were not in it. */
  private readonly others = new Map<number, T>();

  get size(): number {
    return this.seqs.length - this.head - this.holes + this.others.size;
  }

  /** Puts `value` at `seq`; returns the value it replaces, if any. */
  put(seq: number, value: T): T | undefined {
    const seqs = this.seqs;
    // A seq above the array's last can still be one of `others`: the array's tail was removed
    // and dropped since it went there.
    if ((seqs.length === this.head || seq > seqs[seqs.length - 1]) && (this.others.size === 0 || !this.others.has(seq))) {
      seqs.push(seq);
      this.values.push(value);
      return undefined;
    }
    const at = this.slotOf(seq);
    if (at < 0) {
      const older = this.others.get(seq);
      this.others.set(seq, value);
      return older;
    }
    const older = this.values[at];
    if (older === undefined) this.holes--;
    this.values[at] = value;
    return older;
  }

  /** Removes `seq`; returns its value, or undefined when it had none. */
  take(seq: number): T | undefined {
    const at = this.slotOf(seq);
    if (at < 0) {
      const value = this.others.get(seq);
      if (value !== undefined) this.others.delete(seq);
      return value;
    }
    const value = this.values[at];
    if (value === undefined) return undefined;
    this.values[at] = undefined;
    this.holes++;
    this.dropRemovedFront();
    return value;
  }

  *[Symbol.iterator](): IterableIterator<[number, T]> {
    for (let at = this.head; at < this.seqs.length; at++) {
      const value = this.values[at];
      if (value !== undefined) yield [this.seqs[at], value];
    }
    yield* this.others;
  }

  /** The slot holding `seq` (live or removed) at or after `head`, or -1. */
  private slotOf(seq: number): number {
    const seqs = this.seqs;
    let low = this.head;
    // Acks mostly remove the oldest: the front is tried before the search.
    if (low < seqs.length && seqs[low] === seq) return low;
    let high = seqs.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = seqs[middle];
      if (found === seq) return middle;
      if (found < seq) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /**
   * Moves `head` past removed slots, then gives back the array's dropped front once it is most
   * of the array, and rebuilds it without its holes once they are most of what is left: each
   * copy moves fewer slots than were removed since the last, so the work per remove is constant
   * and the arrays stay within about four times the live seqs, plus 2,048.
   */
  private dropRemovedFront(): void {
    const values = this.values;
    const length = values.length;
    while (this.head < length && values[this.head] === undefined) {
      this.head++;
      this.holes--;
    }
    if (this.head === length) {
      this.seqs = [];
      this.values = [];
      this.head = 0;
      return;
    }
    const slots = length - this.head;
    if (this.head > 1024 && this.head > slots) this.rebuild();
    else if (this.holes > 1024 && this.holes * 2 > slots) this.rebuild();
  }

  private rebuild(): void {
    const seqs: number[] = [];
    const values: T[] = [];
    for (let at = this.head; at < this.seqs.length; at++) {
      const value = this.values[at];
      if (value === undefined) continue;
      seqs.push(this.seqs[at]);
      values.push(value);
    }
    this.seqs = seqs;
    this.values = values;
    this.head = 0;
    this.holes = 0;
  }
}
