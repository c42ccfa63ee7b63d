interface TrieNode<T> {
  words: Map<string, TrieNode<T>>;
  star?: TrieNode<T>;
  hash?: TrieNode<T>;
  values: T[];
}

const newNode = <T>(): TrieNode<T> => ({ words: new Map(), values: [] });

/** Topic keys are dot-separated words; the empty key has no words (as in RabbitMQ). */
export const topicWords = (key: string): string[] => (key === '' ? [] : key.split('.'));

/**
 * Topic binding patterns in a trie: a routing key is matched in one walk over its words rather
 * than against every binding. `*` matches exactly one word, `#` zero or more.
 */
export class TopicTrie<T> {
  private readonly root: TrieNode<T> = newNode();

  add(pattern: string, value: T): void {
    let node = this.root;
    for (const word of topicWords(pattern)) {
      if (word === '*') node = node.star ??= newNode();
      else if (word === '#') node = node.hash ??= newNode();
      else {
        let next = node.words.get(word);
        if (!next) node.words.set(word, (next = newNode()));
        node = next;
      }
    }
    node.values.push(value);
  }

  remove(pattern: string, value: T): void {
    const path: TrieNode<T>[] = [this.root];
    const words = topicWords(pattern);
    for (const word of words) {
      const node = path[path.length - 1];
      const next = word === '*' ? node.star : word === '#' ? node.hash : node.words.get(word);
      if (!next) return;
      path.push(next);
    }
    const leaf = path[path.length - 1];
    const index = leaf.values.indexOf(value);
    if (index >= 0) leaf.values.splice(index, 1);
    // Prune empty nodes so a churn of bindings does not grow the trie forever.
    for (let i = words.length; i > 0; i--) {
      const node = path[i];
      if (node.values.length > 0 || node.words.size > 0 || node.star || node.hash) break;
      const parent = path[i - 1];
      const word = words[i - 1];
      if (word === '*') parent.star = undefined;
      else if (word === '#') parent.hash = undefined;
      else parent.words.delete(word);
    }
  }

  /** Appends to `out` each value whose pattern matches `key`; a value may appear more than once. */
  match(key: string, out: T[]): void {
    matchFrom(this.root, topicWords(key), 0, out);
  }
}

function matchFrom<T>(node: TrieNode<T>, words: string[], index: number, out: T[]): void {
  if (node.hash) {
    // `#` swallows zero or more words.
    for (let i = index; i <= words.length; i++) matchFrom(node.hash, words, i, out);
  }
  if (index === words.length) {
    for (const value of node.values) out.push(value);
    return;
  }
  const next = node.words.get(words[index]);
  if (next) matchFrom(next, words, index + 1, out);
  if (node.star) matchFrom(node.star, words, index + 1, out);
}
