/**
 * One connection's deliveries awaiting an ack, nack or reject, in delivery-tag order. Tags only
 * grow and acks mostly come in order (and `multiple`), so two parallel arrays with a moving start
 * replace a Map: a Map's table was reallocated each time it filled and emptied, and those tables
 * were a third of what the garbage collector had to copy in a fan-out. An item settled out of
 * order leaves a hole, skipped and compacted away.
 */
export class UnackedLog<T> {
  private readonly tags: number[] = [];
  private readonly items: (T | undefined)[] = [];
  private start = 0;
  private end = 0;
  /** Items outstanding (holes not counted). */
  size = 0;

  /** `tag` must be greater than every tag added before. */
  add(tag: number, item: T): void {
    this.tags[this.end] = tag;
    this.items[this.end] = item;
    this.end++;
    this.size++;
  }

  has(tag: number): boolean {
    return this.indexOf(tag) >= 0;
  }

  /** Removes and returns the item with `tag`, or undefined when it is not outstanding. */
  remove(tag: number): T | undefined {
    const index = this.indexOf(tag);
    if (index < 0) return undefined;
    const item = this.items[index];
    this.items[index] = undefined;
    this.size--;
    this.tidy();
    return item;
  }

  /** Removes the items with a tag up to `tag` and appends them to `out`, in tag order. */
  removeUpTo(tag: number, out: T[]): void {
    let index = this.start;
    for (; index < this.end && this.tags[index] <= tag; index++) {
      const item = this.items[index];
      if (item === undefined) continue;
      this.items[index] = undefined;
      this.size--;
      out.push(item);
    }
    this.tidy();
  }

  /** Removes the items `selected` picks and appends them to `out`, in tag order. */
  removeWhere(selected: (item: T) => boolean, out: T[]): void {
    for (let index = this.start; index < this.end; index++) {
      const item = this.items[index];
      if (item === undefined || !selected(item)) continue;
      this.items[index] = undefined;
      this.size--;
      out.push(item);
    }
    this.tidy();
  }

  /** The outstanding items, in tag order. */
  *values(): IterableIterator<T> {
    for (let index = this.start; index < this.end; index++) {
      const item = this.items[index];
      if (item !== undefined) yield item;
    }
  }

  /** Binary search over the live range; -1 when absent or already removed. */
  private indexOf(tag: number): number {
    let low = this.start;
    let high = this.end - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const found = this.tags[mid];
      if (found === tag) return this.items[mid] === undefined ? -1 : mid;
      if (found < tag) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** Skips holes at the start, and keeps the arrays no longer than about twice what is outstanding. */
  private tidy(): void {
    while (this.start < this.end && this.items[this.start] === undefined) this.start++;
    if (this.start === this.end) {
      // Empty: start over at 0 and keep the arrays' capacity for the next deliveries.
      this.start = 0;
      this.end = 0;
      return;
    }
    if (this.end - this.start > 2 * this.size + 32 || (this.start >= 32 && this.start >= this.end - this.start)) this.compact();
  }

  /** Moves the outstanding items to the front, in order, dropping holes. */
  private compact(): void {
    let to = 0;
    for (let from = this.start; from < this.end; from++) {
      const item = this.items[from];
      if (item === undefined) continue;
      this.tags[to] = this.tags[from];
      this.items[to] = item;
      to++;
    }
    for (let index = to; index < this.end; index++) this.items[index] = undefined;
    this.start = 0;
    this.end = to;
  }
}
