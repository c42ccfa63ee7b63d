interface TrieNode<T> {
  /** Children by word id (see TopicTrie.vocabulary); undefined until the first one. */
  words: Map<number, TrieNode<T>> | undefined;
  star: TrieNode<T> | undefined;
  hash: TrieNode<T> | undefined;
  values: T[];
}

interface VocabularyWord {
  readonly id: number;
  /** Patterns using the word, each counted once per use: it leaves the vocabulary at zero. */
  uses: number;
}

// Every field from the start: nodes share one shape, so the walk's property reads stay monomorphic.
const newNode = <T>(): TrieNode<T> => ({ words: undefined, star: undefined, hash: undefined, values: [] });

/** Topic keys are dot-separated words; the empty key has no words (as in RabbitMQ). */
export const topicWords = (key: string): string[] => (key === '' ? [] : key.split('.'));

/** A key's word that no pattern uses: it can only be matched by `*` or `#`. */
const UNKNOWN_WORD = -1;

/**
 * Topic binding patterns in a trie: a routing key is matched in one walk over its words rather
 * than against every binding. `*` matches exactly one word, `#` zero or more.
 *
 * The words of the patterns are numbered: a key's words are looked up by their text once per
 * match, and the walk then follows small integers. A `#` retries its continuation at every later
 * word, so without the numbering each word's text would be hashed and compared once per retry
 * and per branch.
 */
export class TopicTrie<T> {
  private readonly root: TrieNode<T> = newNode();
  private readonly vocabulary = new Map<string, VocabularyWord>();
  private nextWordId = 0;
  /** The ids of the key being matched; reused because a match never runs inside another. */
  private readonly keyIds: number[] = [];

  add(pattern: string, value: T): void {
    let node = this.root;
    for (const word of topicWords(pattern)) {
      if (word === '*') node = node.star ??= newNode();
      else if (word === '#') node = node.hash ??= newNode();
      else {
        const id = this.use(word);
        const words = (node.words ??= new Map());
        let next = words.get(id);
        if (!next) words.set(id, (next = newNode()));
        node = next;
      }
    }
    node.values.push(value);
  }

  /** Removes one `value` added under `pattern`; nothing happens when there is none. */
  remove(pattern: string, value: T): void {
    const words = topicWords(pattern);
    const path: TrieNode<T>[] = [this.root];
    const ids = words.map((word) => this.vocabulary.get(word)?.id ?? UNKNOWN_WORD);
    for (let i = 0; i < words.length; i++) {
      const node = path[i];
      const next = words[i] === '*' ? node.star : words[i] === '#' ? node.hash : node.words?.get(ids[i]);
      if (!next) return;
      path.push(next);
    }
    const leaf = path[words.length];
    const index = leaf.values.indexOf(value);
    if (index < 0) return;
    leaf.values.splice(index, 1);
    // Prune empty nodes so a churn of bindings does not grow the trie forever.
    for (let i = words.length; i > 0; i--) {
      const node = path[i];
      if (node.values.length > 0 || node.words || node.star || node.hash) break;
      const parent = path[i - 1];
      if (words[i - 1] === '*') parent.star = undefined;
      else if (words[i - 1] === '#') parent.hash = undefined;
      else if (parent.words?.delete(ids[i - 1]) && parent.words.size === 0) parent.words = undefined;
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
    matchFrom(this.root, ids, 0, out);
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

function matchFrom<T>(node: TrieNode<T>, ids: readonly number[], index: number, out: T[]): void {
  if (node.hash) matchHash(node.hash, ids, index, out);
  if (index === ids.length) {
    for (const value of node.values) out.push(value);
    return;
  }
  const id = ids[index];
  if (node.words && id !== UNKNOWN_WORD) {
    const next = node.words.get(id);
    if (next) matchFrom(next, ids, index + 1, out);
  }
  if (node.star) matchFrom(node.star, ids, index + 1, out);
}

/**
 * `#` swallows zero or more words: what follows it is tried at every later word. When only words
 * follow it (the common `#.a.b`), they are looked up directly at each position rather than through
 * a call each, and a `#` that ends its patterns matches once, whatever is left.
 */
function matchHash<T>(hash: TrieNode<T>, ids: readonly number[], index: number, out: T[]): void {
  if (hash.hash || hash.star) {
    for (let i = index; i <= ids.length; i++) matchFrom(hash, ids, i, out);
    return;
  }
  for (const value of hash.values) out.push(value);
  const words = hash.words;
  if (!words) return;
  for (let i = index; i < ids.length; i++) {
    const id = ids[i];
    if (id === UNKNOWN_WORD) continue;
    const next = words.get(id);
    if (next) matchFrom(next, ids, i + 1, out);
  }
}
