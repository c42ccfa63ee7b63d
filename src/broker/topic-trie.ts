interface VocabularyWord {
  readonly id: number;
  /** Patterns using the word, each counted once per use: it leaves the vocabulary at zero. */
  uses: number;
}

/** Topic keys are dot-separated words; the empty key has no words (as in RabbitMQ). */
export const topicWords = (key: string): string[] => (key === '' ? [] : key.split('.'));

/** A key's word that no pattern uses: it can only be matched by `*` or `#`. */
const UNKNOWN_WORD = -1;

// A node's fields in `nodes`, at node * NODE_STRIDE: its `*` child and its `#` child (NONE when it
// has none), and how many children by word it has (those are in the edge table).
const STAR = 0;
const HASH = 1;
const WORD_CHILDREN = 2;
const NODE_STRIDE = 4;
// An edge's fields in `edges`, at slot * EDGE_STRIDE: its parent node (NONE: the slot is free),
// the word's id, the child node.
const PARENT = 0;
const WORD = 1;
const CHILD = 2;
const EDGE_STRIDE = 4;
const NONE = 0;
const ROOT = 1;

/** Where the edge (node, word) starts looking in an edge table of `mask + 1` slots. */
function homeSlot(node: number, word: number, mask: number): number {
  const mixed = Math.imul(node, 0x9e3779b1) ^ Math.imul(word + 2, 0x85ebca77);
  return (mixed ^ (mixed >>> 15)) & mask;
}

/**
 * Topic binding patterns in a trie: a routing key is matched in one walk over its words rather
 * than against every binding. `*` matches exactly one word, `#` zero or more.
 *
 * The words of the patterns are numbered: a key's words are looked up by their text once per
 * match, and the walk then follows small integers. A `#` retries its continuation at every later
 * word, so without the numbering each word's text would be hashed and compared once per retry
 * and per branch.
 *
 * The nodes and the edges by word live in two typed arrays (the edges in one open-addressed hash
 * table for the whole trie) rather than an object and a Map per node: with 10,000 bindings and keys
 * that differ every message, a walk spends its time waiting on memory, and a step here touches one
 * or two cache lines where an object, its Map and the Map's table touched four to six.
 */
export class TopicTrie<T> {
  private nodes = new Int32Array(NODE_STRIDE * 16);
  /** The values bound at each node, by node number; undefined where there are none. */
  private readonly values: (T[] | undefined)[] = [];
  /** Node numbers used so far (0 is NONE, 1 the root); freed ones are reused first. */
  private nodesUsed = ROOT + 1;
  private readonly freeNodes: number[] = [];
  private edges = new Int32Array(EDGE_STRIDE * 16);
  private edgeMask = 15;
  private edgeCount = 0;
  private readonly vocabulary = new Map<string, VocabularyWord>();
  private nextWordId = 0;
  /** The ids of the key being matched; reused because a match never runs inside another. */
  private readonly keyIds: number[] = [];

  add(pattern: string, value: T): void {
    let node = ROOT;
    for (const word of topicWords(pattern)) {
      const field = word === '*' ? STAR : word === '#' ? HASH : -1;
      if (field >= 0) {
        let next = this.nodes[node * NODE_STRIDE + field];
        if (next === NONE) {
          // Made before the write: making a node may replace `this.nodes` with a larger array.
          next = this.newNode();
          this.nodes[node * NODE_STRIDE + field] = next;
        }
        node = next;
        continue;
      }
      const id = this.use(word);
      let next = this.child(node, id);
      if (next === NONE) {
        next = this.newNode();
        this.addEdge(node, id, next);
        this.nodes[node * NODE_STRIDE + WORD_CHILDREN]++;
      }
      node = next;
    }
    (this.values[node] ??= []).push(value);
  }

  /** Removes one `value` added under `pattern`; nothing happens when there is none. */
  remove(pattern: string, value: T): void {
    const words = topicWords(pattern);
    const path = [ROOT];
    const ids = words.map((word) => this.vocabulary.get(word)?.id ?? UNKNOWN_WORD);
    for (let i = 0; i < words.length; i++) {
      const at = path[i] * NODE_STRIDE;
      const next = words[i] === '*' ? this.nodes[at + STAR] : words[i] === '#' ? this.nodes[at + HASH] : ids[i] === UNKNOWN_WORD ? NONE : this.child(path[i], ids[i]);
      if (next === NONE) return;
      path.push(next);
    }
    const leaf = path[words.length];
    const values = this.values[leaf];
    const index = values ? values.indexOf(value) : -1;
    if (!values || index < 0) return;
    values.splice(index, 1);
    if (values.length === 0) this.values[leaf] = undefined;
    // Prune empty nodes so a churn of bindings does not grow the trie forever.
    for (let i = words.length; i > 0; i--) {
      const node = path[i];
      const at = node * NODE_STRIDE;
      if (this.values[node] || this.nodes[at + STAR] !== NONE || this.nodes[at + HASH] !== NONE || this.nodes[at + WORD_CHILDREN] !== 0) break;
      const parentAt = path[i - 1] * NODE_STRIDE;
      if (words[i - 1] === '*') this.nodes[parentAt + STAR] = NONE;
      else if (words[i - 1] === '#') this.nodes[parentAt + HASH] = NONE;
      else {
        this.removeEdge(path[i - 1], ids[i - 1]);
        this.nodes[parentAt + WORD_CHILDREN]--;
      }
      this.freeNodes.push(node);
    }
    for (const word of words) if (word !== '*' && word !== '#') this.release(word);
  }

  /** Appends to `out` each value whose pattern matches `key`; a value may appear more than once. */
  match(key: string, out: T[]): void {
    const ids = this.keyIds;
    ids.length = 0;
    if (key !== '') {
      for (let start = 0; ; ) {
        const dot = key.indexOf('.', start);
        const word = dot < 0 ? key.slice(start) : key.slice(start, dot);
        ids.push(this.vocabulary.get(word)?.id ?? UNKNOWN_WORD);
        if (dot < 0) break;
        start = dot + 1;
      }
    }
    this.matchFrom(ROOT, ids, 0, out);
  }

  private matchFrom(node: number, ids: readonly number[], index: number, out: T[]): void {
    const nodes = this.nodes;
    const at = node * NODE_STRIDE;
    const hash = nodes[at + HASH];
    if (hash !== NONE) this.matchHash(hash, ids, index, out);
    if (index === ids.length) {
      const values = this.values[node];
      if (values) for (const value of values) out.push(value);
      return;
    }
    const id = ids[index];
    if (id !== UNKNOWN_WORD && nodes[at + WORD_CHILDREN] !== 0) {
      const next = this.child(node, id);
      if (next !== NONE) this.matchFrom(next, ids, index + 1, out);
    }
    const star = nodes[at + STAR];
    if (star !== NONE) this.matchFrom(star, ids, index + 1, out);
  }

  /**
   * `#` swallows zero or more words: what follows it is tried at every later word. When only words
   * follow it (the common `#.a.b`), they are looked up directly at each position rather than
   * through a call each, and a `#` that ends its patterns matches once, whatever is left.
   */
  private matchHash(hash: number, ids: readonly number[], index: number, out: T[]): void {
    const at = hash * NODE_STRIDE;
    if (this.nodes[at + HASH] !== NONE || this.nodes[at + STAR] !== NONE) {
      for (let i = index; i <= ids.length; i++) this.matchFrom(hash, ids, i, out);
      return;
    }
    const values = this.values[hash];
    if (values) for (const value of values) out.push(value);
    if (this.nodes[at + WORD_CHILDREN] === 0) return;
    for (let i = index; i < ids.length; i++) {
      const id = ids[i];
      if (id === UNKNOWN_WORD) continue;
      const next = this.child(hash, id);
      if (next !== NONE) this.matchFrom(next, ids, i + 1, out);
    }
  }

  /** The child of `node` by word `id`, or NONE. */
  private child(node: number, id: number): number {
    const edges = this.edges;
    const mask = this.edgeMask;
    for (let slot = homeSlot(node, id, mask); ; slot = (slot + 1) & mask) {
      const at = slot * EDGE_STRIDE;
      const parent = edges[at + PARENT];
      if (parent === node && edges[at + WORD] === id) return edges[at + CHILD];
      if (parent === NONE) return NONE;
    }
  }

  private addEdge(node: number, id: number, child: number): void {
    // At most half full, so that a miss (most lookups of a `#`'s words) ends within a slot or two.
    if ((this.edgeCount + 1) * 2 > this.edgeMask + 1) this.resizeEdges((this.edgeMask + 1) * 2);
    this.edgeCount++;
    const edges = this.edges;
    const mask = this.edgeMask;
    let slot = homeSlot(node, id, mask);
    while (edges[slot * EDGE_STRIDE + PARENT] !== NONE) slot = (slot + 1) & mask;
    const at = slot * EDGE_STRIDE;
    edges[at + PARENT] = node;
    edges[at + WORD] = id;
    edges[at + CHILD] = child;
  }

  /** Deletes the edge (node, id), moving back the entries after it that would no longer be found. */
  private removeEdge(node: number, id: number): void {
    const edges = this.edges;
    const mask = this.edgeMask;
    let hole = homeSlot(node, id, mask);
    while (edges[hole * EDGE_STRIDE + PARENT] !== node || edges[hole * EDGE_STRIDE + WORD] !== id) hole = (hole + 1) & mask;
    for (let slot = (hole + 1) & mask; edges[slot * EDGE_STRIDE + PARENT] !== NONE; slot = (slot + 1) & mask) {
      const at = slot * EDGE_STRIDE;
      const home = homeSlot(edges[at + PARENT], edges[at + WORD], mask);
      // The entry may fill the hole when its home is not in (hole, slot], cyclically.
      const reachable = hole <= slot ? home > hole && home <= slot : home > hole || home <= slot;
      if (reachable) continue;
      edges.copyWithin(hole * EDGE_STRIDE, at, at + EDGE_STRIDE);
      hole = slot;
    }
    edges.fill(NONE, hole * EDGE_STRIDE, hole * EDGE_STRIDE + EDGE_STRIDE);
    this.edgeCount--;
  }

  private resizeEdges(slots: number): void {
    const old = this.edges;
    this.edges = new Int32Array(slots * EDGE_STRIDE);
    this.edgeMask = slots - 1;
    this.edgeCount = 0;
    for (let at = 0; at < old.length; at += EDGE_STRIDE) {
      if (old[at + PARENT] !== NONE) this.addEdge(old[at + PARENT], old[at + WORD], old[at + CHILD]);
    }
  }

  private newNode(): number {
    const reused = this.freeNodes.pop();
    if (reused !== undefined) {
      this.nodes.fill(0, reused * NODE_STRIDE, reused * NODE_STRIDE + NODE_STRIDE);
      return reused;
    }
    const node = this.nodesUsed++;
    if (node * NODE_STRIDE >= this.nodes.length) {
      const grown = new Int32Array(this.nodes.length * 2);
      grown.set(this.nodes);
      this.nodes = grown;
    }
    return node;
  }

  private use(word: string): number {
    let known = this.vocabulary.get(word);
    if (!known) this.vocabulary.set(word, (known = { id: this.nextWordId++, uses: 0 }));
    known.uses++;
    return known.id;
  }

  private release(word: string): void {
    const known = this.vocabulary.get(word);
    if (known && --known.uses === 0) this.vocabulary.delete(word);
  }
}
