// An entry's fields, at slot * STRIDE: its first key (FREE: the slot is empty), its second key,
// its value. Four rather than three, so that an entry never straddles two cache lines.
const FIRST = 0;
const SECOND = 1;
const VALUE = 2;
const STRIDE = 4;
const FREE = 0;
const INITIAL_SLOTS = 16;

/** What `get` answers for a pair that has no entry. */
export const ABSENT = 0;

/** Where the pair starts looking in a table of `mask + 1` slots. */
function homeSlot(first: number, second: number, mask: number): number {
  const mixed = Math.imul(first, 0x9e3779b1) ^ Math.imul(second + 2, 0x85ebca77);
  return (mixed ^ (mixed >>> 15)) & mask;
}

/**
 * A hash table from a pair of integers to an integer, open-addressed in one typed array: the topic
 * trie's edges, (node, word) → child, and its compiled steps, (state, word) → state. With 10,000
 * bindings and keys that differ every message, matching spends its time waiting on memory, and a
 * lookup here touches one or two cache lines where a Map per node, its table and its entries
 * touched four to six. First keys are positive; values are never ABSENT.
 */
export class PairTable {
  private slots = new Int32Array(STRIDE * INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(first: number, second: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let slot = homeSlot(first, second, mask); ; slot = (slot + 1) & mask) {
      const at = slot * STRIDE;
      const found = slots[at + FIRST];
      if (found === first && slots[at + SECOND] === second) return slots[at + VALUE];
      if (found === FREE) return ABSENT;
    }
  }

  /** Adds an entry for a pair that has none. */
  add(first: number, second: number, value: number): void {
    // At most half full, so that a miss ends within a slot or two.
    if ((this.count + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    this.count++;
    const slots = this.slots;
    const mask = this.mask;
    let slot = homeSlot(first, second, mask);
    while (slots[slot * STRIDE + FIRST] !== FREE) slot = (slot + 1) & mask;
    const at = slot * STRIDE;
    slots[at + FIRST] = first;
    slots[at + SECOND] = second;
    slots[at + VALUE] = value;
  }

  /** Deletes the pair's entry, which must exist, moving back the entries after it that would no longer be found. */
  delete(first: number, second: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let hole = homeSlot(first, second, mask);
    while (slots[hole * STRIDE + FIRST] !== first || slots[hole * STRIDE + SECOND] !== second) hole = (hole + 1) & mask;
    for (let slot = (hole + 1) & mask; slots[slot * STRIDE + FIRST] !== FREE; slot = (slot + 1) & mask) {
      const at = slot * STRIDE;
      const home = homeSlot(slots[at + FIRST], slots[at + SECOND], mask);
      // The entry may fill the hole when its home is not in (hole, slot], cyclically.
      const reachable = hole <= slot ? home > hole && home <= slot : home > hole || home <= slot;
      if (reachable) continue;
      slots.copyWithin(hole * STRIDE, at, at + STRIDE);
      hole = slot;
    }
    slots.fill(FREE, hole * STRIDE, hole * STRIDE + STRIDE);
    this.count--;
  }

  /** Empties the table, and gives back the memory it grew to. */
  clear(): void {
    this.slots = new Int32Array(STRIDE * INITIAL_SLOTS);
    this.mask = INITIAL_SLOTS - 1;
    this.count = 0;
  }

  private resize(slotCount: number): void {
    const old = this.slots;
    this.slots = new Int32Array(slotCount * STRIDE);
    this.mask = slotCount - 1;
    this.count = 0;
    for (let at = 0; at < old.length; at += STRIDE) {
      if (old[at + FIRST] !== FREE) this.add(old[at + FIRST], old[at + SECOND], old[at + VALUE]);
    }
  }
}
