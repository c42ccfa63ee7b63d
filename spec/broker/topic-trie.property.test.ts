import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicTrie } from '../../src/broker/index.js';

// The reference: RabbitMQ topic semantics written as plainly as possible, independent of the trie.
// A key or pattern is split on "."; the empty string has zero words; "*" is exactly one word;
// "#" is zero or more words.
const split = (text: string): string[] => (text === '' ? [] : text.split('.'));

function wordsMatch(pattern: readonly string[], key: readonly string[]): boolean {
  if (pattern.length === 0) return key.length === 0;
  const [head, ...rest] = pattern;
  if (head === '#') return wordsMatch(rest, key) || (key.length > 0 && wordsMatch(pattern, key.slice(1)));
  if (key.length === 0) return false;
  return (head === '*' || head === key[0]) && wordsMatch(rest, key.slice(1));
}

const referenceMatches = (pattern: string, key: string): boolean => wordsMatch(split(pattern), split(key));

// A small alphabet so that patterns and keys often match; "" as a word gives keys like "a..b".
const keyWord = fc.constantFrom('a', 'b', 'c', '');
const patternWord = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('a', 'b', 'c') }, { weight: 2, arbitrary: fc.constantFrom('*', '#') }, { weight: 1, arbitrary: fc.constant('') });
const key = fc.array(keyWord, { maxLength: 5 }).map((words) => words.join('.'));
const pattern = fc.array(patternWord, { maxLength: 5 }).map((words) => words.join('.'));

/** What the trie keeps about its matches: tests set it to choose between walking and compiling. */
const matchMode = (trie: TopicTrie<unknown>) => trie as unknown as { matchesSinceChange: number; steps: { size: number }; compiledNodes: number; nodesUsed: number; freeNodes: number[] };

/**
 * The values `trie` reports for `key`, once each, sorted: walked, then compiled (the steps already
 * compiled stay, so later keys reuse them), which must agree.
 */
function trieMatches(trie: TopicTrie<number>, topicKey: string): number[] {
  const inside = matchMode(trie);
  inside.matchesSinceChange = 0;
  const walked = [...new Set(trie.match(topicKey))].sort((a, b) => a - b);
  inside.matchesSinceChange = Number.MAX_SAFE_INTEGER;
  const compiled = [...new Set(trie.match(topicKey))].sort((a, b) => a - b);
  expect(compiled).toEqual(walked);
  return walked;
}

/** The values whose pattern matches `key` by the reference, sorted. */
function expectedMatches(bindings: readonly (readonly [string, number])[], topicKey: string): number[] {
  return bindings
    .filter(([bindingPattern]) => referenceMatches(bindingPattern, topicKey))
    .map(([, value]) => value)
    .sort((a, b) => a - b);
}

describe('topic-trie - reference matcher', () => {
  // The reference itself must be right, or the properties below prove nothing.
  it('topic-trie - reference follows RabbitMQ on hand-picked cases', () => {
    const cases: [string, string, boolean][] = [
      ['', '', true],
      ['', 'a', false],
      ['#', '', true],
      ['#', 'a.b.c', true],
      ['*', '', false],
      ['*', 'a', true],
      ['*', 'a.b', false],
      ['a.#', 'a', true],
      ['a.#', 'a.b.c', true],
      ['#.a', 'a', true],
      ['a.#.b', 'a.b', true],
      ['a.#.b', 'a.x.y.b', true],
      ['a.#.b', 'a.x.y', false],
      ['a.*.b', 'a.b', false],
      ['a.*.b', 'a..b', true],
      ['*.#', '', false],
      ['#.#', '', true],
      ['a', 'a.', false],
      ['a.', 'a.', true],
      ['a.*', 'a.', true],
    ];
    for (const [bindingPattern, topicKey, expected] of cases) expect([bindingPattern, topicKey, referenceMatches(bindingPattern, topicKey)]).toEqual([bindingPattern, topicKey, expected]);
  });
});

describe('topic-trie - properties', () => {
  it('topic-trie - matches exactly the values whose pattern the reference matches', () => {
    fc.assert(
      fc.property(fc.array(pattern, { maxLength: 12 }), fc.array(key, { minLength: 1, maxLength: 12 }), (patterns, keys) => {
        const trie = new TopicTrie<number>();
        const bindings = patterns.map((bindingPattern, value) => [bindingPattern, value] as const);
        for (const [bindingPattern, value] of bindings) trie.add(bindingPattern, value);
        for (const topicKey of keys) expect(trieMatches(trie, topicKey)).toEqual(expectedMatches(bindings, topicKey));
      }),
      { numRuns: 500 },
    );
  });

  it('topic-trie - a single pattern matches a key exactly when the reference says so', () => {
    fc.assert(
      fc.property(pattern, key, (bindingPattern, topicKey) => {
        const trie = new TopicTrie<string>();
        trie.add(bindingPattern, 'v');
        expect(trie.match(topicKey).length > 0).toBe(referenceMatches(bindingPattern, topicKey));
      }),
      { numRuns: 2000 },
    );
  });

  it('topic-trie - add/remove churn leaves the same matches as a fresh trie', () => {
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), pattern }),
      // Removes the n-th live binding (modulo), or, with `stray`, a value that was never added there.
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(), stray: fc.boolean(), pattern }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 40 }), fc.array(key, { minLength: 1, maxLength: 10 }), (operations, keys) => {
        const churned = new TopicTrie<number>();
        let live: (readonly [string, number])[] = [];
        let nextValue = 0;
        for (const op of operations) {
          if (op.kind === 'add') {
            const value = nextValue++;
            churned.add(op.pattern, value);
            live.push([op.pattern, value]);
          } else if (op.stray || live.length === 0) {
            churned.remove(op.pattern, -1);
          } else {
            const [removedPattern, removedValue] = live[op.pick % live.length];
            churned.remove(removedPattern, removedValue);
            live = live.filter(([, value]) => value !== removedValue);
          }
        }
        const fresh = new TopicTrie<number>();
        for (const [bindingPattern, value] of live) fresh.add(bindingPattern, value);
        for (const topicKey of keys) {
          const expected = expectedMatches(live, topicKey);
          expect(trieMatches(churned, topicKey)).toEqual(expected);
          expect(trieMatches(fresh, topicKey)).toEqual(expected);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('topic-trie - many words and bindings, added and removed: the edge table grows and closes its gaps, and matches stay the reference\'s', () => {
    // Forty words and up to 300 bindings: the table of edges by word doubles several times, and
    // each removal moves back the entries probed past the freed slot.
    const manyWords = fc.integer({ min: 0, max: 39 }).map((n) => `w${n}`);
    const wide = fc.array(fc.oneof({ weight: 4, arbitrary: manyWords }, { weight: 1, arbitrary: fc.constantFrom('*', '#') }), { minLength: 1, maxLength: 4 }).map((words) => words.join('.'));
    const wideKey = fc.array(manyWords, { maxLength: 4 }).map((words) => words.join('.'));
    fc.assert(
      fc.property(fc.array(wide, { minLength: 50, maxLength: 300 }), fc.array(fc.boolean(), { minLength: 300, maxLength: 300 }), fc.array(wideKey, { minLength: 20, maxLength: 20 }), (patterns, removed, keys) => {
        const trie = new TopicTrie<number>();
        patterns.forEach((bindingPattern, value) => trie.add(bindingPattern, value));
        const live = patterns.map((bindingPattern, value) => [bindingPattern, value] as const).filter(([bindingPattern, value]) => {
          if (!removed[value]) return true;
          trie.remove(bindingPattern, value);
          return false;
        });
        for (const topicKey of [...keys, ...live.map(([bindingPattern]) => bindingPattern.replaceAll('*', 'w1').replaceAll('#', 'w2.w3'))]) {
          expect(trieMatches(trie, topicKey)).toEqual(expectedMatches(live, topicKey));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('topic-trie - removing every pattern prunes the trie back to an empty root', () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 15 }), fc.infiniteStream(fc.nat()), (patterns, picks) => {
        const trie = new TopicTrie<number>();
        patterns.forEach((bindingPattern, value) => trie.add(bindingPattern, value));
        // Remove in a shuffled order.
        const remaining = patterns.map((bindingPattern, value) => [bindingPattern, value] as const);
        const order = picks[Symbol.iterator]();
        while (remaining.length > 0) {
          const [bindingPattern, value] = remaining.splice(order.next().value % remaining.length, 1)[0];
          trie.remove(bindingPattern, value);
        }
        const inside = trie as unknown as { nodesUsed: number; freeNodes: number[]; edges: { size: number; slots: Int32Array }; nodes: Int32Array; values: unknown[]; vocabulary: Map<string, unknown> };
        // Only the root is left (node 0 is "none"), with no children and no values.
        expect(inside.nodesUsed - inside.freeNodes.length).toBe(2);
        expect(inside.edges.size).toBe(0);
        expect(inside.edges.slots.every((field) => field === 0)).toBe(true);
        expect([...inside.nodes.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
        expect(inside.values.filter(Boolean)).toEqual([]);
        expect(inside.vocabulary.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('topic-trie - a match between adds and removes follows the patterns bound at that moment', () => {
    // Matches compile steps; every add and remove must drop them, or a later match answers from
    // the patterns as they were.
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), pattern }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('match' as const), key }) },
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const trie = new TopicTrie<number>();
        let live: (readonly [string, number])[] = [];
        operations.forEach((op, value) => {
          if (op.kind === 'add') {
            trie.add(op.pattern, value);
            live.push([op.pattern, value]);
          } else if (op.kind === 'remove') {
            if (live.length === 0) return;
            const [removedPattern, removedValue] = live[op.pick % live.length];
            trie.remove(removedPattern, removedValue);
            live = live.filter(([, bound]) => bound !== removedValue);
          } else {
            expect(trieMatches(trie, op.key)).toEqual(expectedMatches(live, op.key));
          }
        });
      }),
      { numRuns: 500 },
    );
  });

  it('topic-trie - many `#`s meeting many different keys: the compiled matcher starts over within its bound, and matches stay the reference\'s', () => {
    // Each `#` lets a key's words land in more combinations of nodes, so the states multiply with
    // the keys' variety: this is the case the bound is for.
    const trie = new TopicTrie<number>();
    const bindings = Array.from({ length: 12 }, (_, i) => [`#.w${i % 6}.#.w${(i * 5) % 7}.#`, i] as const);
    for (const [bindingPattern, value] of bindings) trie.add(bindingPattern, value);
    const inside = matchMode(trie);
    const bound = Math.max(256, 16 * (inside.nodesUsed - inside.freeNodes.length));
    let startedOver = 0;
    let previous = 0;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 9 }), (words) => {
        const topicKey = words.map((word) => `w${word}`).join('.');
        expect(trieMatches(trie, topicKey)).toEqual(expectedMatches(bindings, topicKey));
        const compiled = inside.steps.size + inside.compiledNodes;
        expect(compiled).toBeLessThanOrEqual(bound + 2 * 9);
        if (compiled < previous) startedOver++;
        previous = compiled;
      }),
      { numRuns: 4000 },
    );
    expect(startedOver).toBeGreaterThan(0);
  });

  it('topic-trie - keys are walked until as many as the trie has nodes went by with no add or remove, then compiled', () => {
    const trie = new TopicTrie<string>();
    trie.add('a.*.c', 'v');
    trie.add('a.#', 'w');
    const inside = matchMode(trie);
    const nodes = inside.nodesUsed - inside.freeNodes.length;
    for (let i = 0; i < nodes; i++) expect([...trie.match('a.b.c')].sort()).toEqual(['v', 'w']);
    expect(inside.steps.size).toBe(0);
    expect([...trie.match('a.b.c')].sort()).toEqual(['v', 'w']);
    expect(inside.steps.size).toBe(3);
    trie.add('x', 'x');
    expect(inside.steps.size).toBe(0);
    expect([...trie.match('a.b.c')].sort()).toEqual(['v', 'w']);
    expect(inside.steps.size).toBe(0);
  });

  it('topic-trie - the same value under two patterns is removed from one only', () => {
    const trie = new TopicTrie<string>();
    trie.add('a.*', 'v');
    trie.add('#', 'v');
    expect(trie.match('a.b')).toEqual(['v', 'v']);
    trie.remove('a.*', 'v');
    expect(trie.match('a.b')).toEqual(['v']);
    trie.remove('#', 'v');
    expect(trie.match('a.b')).toEqual([]);
  });
});
