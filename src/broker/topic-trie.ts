import { ABSENT, PairTable } from './pair-table.js';

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
// has none), how many children by word it has (those are in the edge table), and whether it is
// itself a `#` (1), which can take any number of words and stay where it is.
const STAR = 0;
const HASH = 1;
const WORD_CHILDREN = 2;
const IS_HASH = 3;
const NODE_STRIDE = 4;
// Node and state numbers start at 1, as PairTable's first keys must, and its ABSENT is "none".
const NONE = ABSENT;
const ROOT = 1;
const NO_VALUES: readonly never[] = [];
/**
 * How much the compiled matcher may hold per trie node, counting a step and each node of a state's
 * set as one (about 30 bytes each), before it starts over: its memory follows the bindings,
 * whatever keys come. Exact words compile to one step and one node per trie node, wildcards to a
 * few; only many `#`s meeting many different word sequences reach the bound.
 */
const COMPILED_PER_NODE = 16;
const MIN_COMPILED = 256;
const NO_NODES: readonly number[] = [];
/** A state whose nodes have values bound at more than one of them. */
const MANY = -1;

/**
 * Topic binding patterns in a trie, and a matcher compiled from it. `*` matches exactly one word,
 * `#` zero or more.
 *
 * A key is matched word by word on sets of trie nodes: the set its words so far lead to, which
 * the next word advances. Once the patterns have stayed unchanged for a while, those steps are
 * compiled as keys take them (a lazily built DFA whose states are the sets): each (state, word)
 * step is worked out once, then found in one probe, however many `*` and `#` the patterns have.
 * What was compiled is dropped whenever a pattern is added or removed.
 *
 * The words of the patterns are numbered, and a key's words are looked up by their text once per
 * match: steps are keyed by small integers. Words no pattern uses share one number, so keys full
 * of ids compile to no more states than keys without.
 *
 * The nodes live in one typed array, and the edges by word and the compiled steps in a PairTable
 * each, rather than an object and a Map per node (see PairTable for why).
 */
export class TopicTrie<T> {
  private nodes = new Int32Array(NODE_STRIDE * 16);
  /** The values bound at each node, by node number; undefined where there are none. */
  private readonly values: (T[] | undefined)[] = [];
  /** Node numbers used so far (0 is NONE, 1 the root); freed ones are reused first. */
  private nodesUsed = ROOT + 1;
  private readonly freeNodes: number[] = [];
  /** Children by word: (node, word id) → child node. */
  private readonly edges = new PairTable();
  private readonly vocabulary = new Map<string, VocabularyWord>();
  private nextWordId = 0;
  /** The compiled matcher's states, by number (0 is NONE): each a sorted set of trie nodes. */
  private stateNodes: (readonly number[])[] = [NO_NODES];
  /** State numbers by their node set, joined with commas: a set reached twice is one state. */
  private stateBySet = new Map<string, number>();
  /**
   * By state, where a key ending there finds its values (see acceptingNode): most states have one
   * such node, whose own array is then the result, and a match makes no array at all.
   */
  private stateAccepting: number[] = [NONE];
  private startState = NONE;
  /** The state of no nodes, once a key has reached it: nothing matches from there. */
  private deadState = NONE;
  /** The compiled steps: (state, word id) → state. */
  private readonly steps = new PairTable();
  /** The nodes in all states' sets, counted toward COMPILED_PER_NODE. */
  private compiledNodes = 0;
  /** Keys matched since the last add or remove, up to the trie's node count (see match). */
  private matchesSinceChange = 0;

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
          if (field === HASH) this.nodes[next * NODE_STRIDE + IS_HASH] = 1;
        }
        node = next;
        continue;
      }
      const id = this.use(word);
      let next = this.edges.get(node, id);
      if (next === NONE) {
        next = this.newNode();
        this.edges.add(node, id, next);
        this.nodes[node * NODE_STRIDE + WORD_CHILDREN]++;
      }
      node = next;
    }
    (this.values[node] ??= []).push(value);
    this.changed();
  }

  /** Removes one `value` added under `pattern`; nothing happens when there is none. */
  remove(pattern: string, value: T): void {
    const words = topicWords(pattern);
    const path = [ROOT];
    const ids = words.map((word) => this.vocabulary.get(word)?.id ?? UNKNOWN_WORD);
    for (let i = 0; i < words.length; i++) {
      const at = path[i] * NODE_STRIDE;
      const next = words[i] === '*' ? this.nodes[at + STAR] : words[i] === '#' ? this.nodes[at + HASH] : ids[i] === UNKNOWN_WORD ? NONE : this.edges.get(path[i], ids[i]);
      if (next === NONE) return;
      path.push(next);
    }
    const leaf = path[words.length];
    const values = this.values[leaf];
    const index = values ? values.indexOf(value) : -1;
    if (!values || index < 0) return;
    values.splice(index, 1);
    if (values.length === 0) this.values[leaf] = undefined;
    this.changed();
    // Prune empty nodes so a churn of bindings does not grow the trie forever.
    for (let i = words.length; i > 0; i--) {
      const node = path[i];
      const at = node * NODE_STRIDE;
      if (this.values[node] || this.nodes[at + STAR] !== NONE || this.nodes[at + HASH] !== NONE || this.nodes[at + WORD_CHILDREN] !== 0) break;
      const parentAt = path[i - 1] * NODE_STRIDE;
      if (words[i - 1] === '*') this.nodes[parentAt + STAR] = NONE;
      else if (words[i - 1] === '#') this.nodes[parentAt + HASH] = NONE;
      else {
        this.edges.delete(path[i - 1], ids[i - 1]);
        this.nodes[parentAt + WORD_CHILDREN]--;
      }
      this.freeNodes.push(node);
    }
    for (const word of words) if (word !== '*' && word !== '#') this.release(word);
  }

  /**
   * The values whose pattern matches `key`; a value bound under two matching patterns appears
   * twice. The array may be the trie's own: read it before the next add or remove, never change it.
   */
  match(key: string): readonly T[] {
    // Compiling a step costs about what walking a whole key does, and every add or remove throws
    // the steps away: while the patterns keep changing, keys are walked instead (one set of nodes
    // after another, nothing kept), until as many keys as the trie has nodes went by unchanged.
    const compiled = this.matchesSinceChange >= this.nodeCount();
    if (!compiled) this.matchesSinceChange++;
    let state = compiled ? (this.startState === NONE ? (this.startState = this.stateOf(this.reach([], ROOT))) : this.startState) : NONE;
    let nodes = compiled ? NO_NODES : this.reach([], ROOT);
    if (key !== '') {
      for (let start = 0; ; ) {
        const dot = key.indexOf('.', start);
        const word = dot < 0 ? key.slice(start) : key.slice(start, dot);
        const id = this.vocabulary.get(word)?.id ?? UNKNOWN_WORD;
        // Either way, once no node is left no pattern can match, whatever the rest of the key.
        if (compiled) {
          state = this.step(state, id);
          if (state === this.deadState) return NO_VALUES;
        } else {
          nodes = this.advance(nodes, id);
          if (nodes.length === 0) return NO_VALUES;
        }
        if (dot < 0) break;
        start = dot + 1;
      }
    }
    if (!compiled) return this.valuesAt(nodes);
    const accepting = this.stateAccepting[state];
    if (accepting === NONE) return NO_VALUES;
    return accepting === MANY ? this.valuesAt(this.stateNodes[state]) : (this.values[accepting] ?? NO_VALUES);
  }

  /** The state reached from `state` by the word `id`: compiled the first time it is asked for. */
  private step(state: number, id: number): number {
    const next = this.steps.get(state, id);
    return next !== NONE ? next : this.compileStep(state, id);
  }

  private compileStep(state: number, id: number): number {
    const reached = this.advance(this.stateNodes[state], id);
    if (this.steps.size + this.compiledNodes >= Math.max(MIN_COMPILED, COMPILED_PER_NODE * this.nodeCount())) {
      // Starting over keeps memory bounded where many `#`s meet many different keys; the steps
      // this key still needs are compiled again below and by the matches that follow.
      this.forgetCompiled();
      return this.stateOf(reached);
    }
    const next = this.stateOf(reached);
    this.steps.add(state, id, next);
    return next;
  }

  /** The nodes that `nodes` lead to by one word: each one's child by that word, its `*`, or itself when it is a `#`. */
  private advance(nodes: readonly number[], id: number): number[] {
    const reached: number[] = [];
    for (const node of nodes) {
      const at = node * NODE_STRIDE;
      if (id !== UNKNOWN_WORD && this.nodes[at + WORD_CHILDREN] !== 0) this.reach(reached, this.edges.get(node, id));
      this.reach(reached, this.nodes[at + STAR]);
      if (this.nodes[at + IS_HASH] === 1) this.reach(reached, node);
    }
    return reached;
  }

  /** Adds `node` to `set`, with the `#` after it (a `#` may match no word), unless NONE or there already. */
  private reach(set: number[], node: number): number[] {
    for (; node !== NONE && !set.includes(node); node = this.nodes[node * NODE_STRIDE + HASH]) set.push(node);
    return set;
  }

  /** The values bound at `nodes`: one node's own array when only one has any. */
  private valuesAt(nodes: readonly number[]): readonly T[] {
    let first: T[] | undefined;
    let all: T[] | undefined;
    for (const node of nodes) {
      const bound = this.values[node];
      if (!bound) continue;
      if (!first) first = bound;
      else {
        all ??= [...first];
        for (const value of bound) all.push(value);
      }
    }
    return all ?? first ?? NO_VALUES;
  }

  private stateOf(nodes: number[]): number {
    const set = nodes.sort((a, b) => a - b).join(',');
    let state = this.stateBySet.get(set);
    if (state === undefined) {
      state = this.stateNodes.length;
      this.stateNodes.push(nodes);
      this.compiledNodes += nodes.length;
      this.stateAccepting.push(this.acceptingNode(nodes));
      this.stateBySet.set(set, state);
      if (nodes.length === 0) this.deadState = state;
    }
    return state;
  }

  /** The one node of `nodes` with values bound, NONE when none has, MANY when several have. */
  private acceptingNode(nodes: readonly number[]): number {
    let found = NONE;
    for (const node of nodes) {
      if (!this.values[node]) continue;
      if (found !== NONE) return MANY;
      found = node;
    }
    return found;
  }

  private changed(): void {
    this.matchesSinceChange = 0;
    this.forgetCompiled();
  }

  /** Drops the compiled matcher: the trie changed, or it grew past its bound. */
  private forgetCompiled(): void {
    if (this.stateNodes.length === 1) return;
    this.stateNodes = [NO_NODES];
    this.stateAccepting = [NONE];
    this.stateBySet = new Map();
    this.startState = NONE;
    this.deadState = NONE;
    this.steps.clear();
    this.compiledNodes = 0;
  }

  /** Nodes in the trie now, the root included: what the compiled matcher's bound and patience scale with. */
  private nodeCount(): number {
    return this.nodesUsed - this.freeNodes.length;
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
