import { headersMatch, parseXMatch, type XMatch } from './headers-match.js';
import type { Policy } from './policy.js';
import type { Queue } from './queue.js';
import { TopicTrie } from './topic-trie.js';
import type { ExchangeOptions, ExchangeType, Message } from './types.js';

/** Where a binding leads: a queue, or another exchange; `kind` tells which. */
export type Destination = Queue | Exchange;

/** A route from an exchange to a queue or to another exchange. */
export interface Binding {
  readonly source: Exchange;
  readonly destination: Destination;
  readonly routingKey: string;
  readonly arguments: Record<string, unknown>;
  /** Only for headers exchanges. */
  readonly xMatch?: XMatch;
}

/** Keys remembered per topic exchange; past this the cache starts over rather than growing. */
const TOPIC_CACHE_SIZE = 4096;
/**
 * A cache that filled up with fewer hits than this was no help (the keys do not repeat within its
 * size): routing then goes without it for TOPIC_CACHE_REST lookups before trying it again.
 */
const TOPIC_CACHE_MIN_HITS = TOPIC_CACHE_SIZE / 4;
const TOPIC_CACHE_REST = TOPIC_CACHE_SIZE * 4;

const NO_BINDINGS: readonly Binding[] = [];

/** An exchange and the bindings it routes through, indexed for its type. */
export class Exchange {
  /** Tells a binding's destination apart from a queue. */
  readonly kind = 'exchange';
  /** Bindings in which this exchange is the source; a Set, so that unbinding one of 10,000 is O(1). */
  readonly bindings = new Set<Binding>();
  /** Set by routing so that one publish visits an exchange at most once. */
  routeMark = 0;
  /** An auto-delete exchange goes when its last binding goes, but only once it had one. */
  everBound = false;
  private readonly byKey = new Map<string, Binding[]>();
  private readonly trie: TopicTrie<Binding> | undefined;
  /** Topic routing results by key, dropped whenever the bindings change: repeated keys skip the trie walk. */
  private readonly topicCache = new Map<string, Binding[]>();
  private topicCacheHits = 0;
  /** Lookups left to make without the cache (see TOPIC_CACHE_MIN_HITS). */
  private topicCacheResting = 0;

  constructor(
    readonly name: string,
    readonly type: ExchangeType,
    readonly options: ExchangeOptions,
    policy?: Policy,
  ) {
    if (type === 'topic') this.trie = new TopicTrie();
    this.applyPolicy(policy);
  }

  /** `alternate-exchange`: where messages go that route nowhere from here; the argument's, else the policy's. */
  alternateExchange: string | undefined;
  /** The policy that applies to it, if any. */
  policy: Policy | undefined;

  applyPolicy(policy: Policy | undefined): void {
    this.policy = policy;
    const alternate = this.options.arguments['alternate-exchange'];
    this.alternateExchange = typeof alternate === 'string' ? alternate : policy?.alternateExchange;
  }

  /** Throws PRECONDITION_FAILED for an invalid `x-match` on a headers exchange. */
  addBinding(destination: Destination, routingKey: string, args: Record<string, unknown>): Binding {
    const xMatch = this.type === 'headers' ? parseXMatch(args) : undefined;
    const binding: Binding = { source: this, destination, routingKey, arguments: args, xMatch };
    this.bindings.add(binding);
    this.everBound = true;
    if (this.type === 'direct') {
      const list = this.byKey.get(routingKey);
      if (list) list.push(binding);
      else this.byKey.set(routingKey, [binding]);
    } else if (this.trie) {
      this.trie.add(routingKey, binding);
      this.topicCache.clear();
    }
    return binding;
  }

  removeBinding(binding: Binding): void {
    this.bindings.delete(binding);
    if (this.type === 'direct') {
      const list = this.byKey.get(binding.routingKey) ?? [];
      list.splice(list.indexOf(binding), 1);
      if (list.length === 0) this.byKey.delete(binding.routingKey);
    } else if (this.trie) {
      this.trie.remove(binding.routingKey, binding);
      this.topicCache.clear();
    }
  }

  private matchTopic(routingKey: string): Binding[] {
    if (this.topicCacheResting > 0) {
      this.topicCacheResting--;
      return this.walkTopic(routingKey);
    }
    const cache = this.topicCache;
    const cached = cache.get(routingKey);
    if (cached !== undefined) {
      this.topicCacheHits++;
      return cached;
    }
    const matched = this.walkTopic(routingKey);
    if (cache.size >= TOPIC_CACHE_SIZE) {
      if (this.topicCacheHits < TOPIC_CACHE_MIN_HITS) this.topicCacheResting = TOPIC_CACHE_REST;
      this.topicCacheHits = 0;
      cache.clear();
    }
    cache.set(routingKey, matched);
    return matched;
  }

  private walkTopic(routingKey: string): Binding[] {
    const matched: Binding[] = [];
    this.trie?.match(routingKey, matched);
    return matched;
  }

  /**
   * The bindings a message matches; may name a destination twice, the router dedupes. The router
   * walks a fanout's `bindings` itself rather than this copy.
   */
  match(message: Message): readonly Binding[] {
    switch (this.type) {
      case 'direct':
        return this.byKey.get(message.routingKey) ?? NO_BINDINGS;
      case 'fanout':
        return [...this.bindings];
      case 'topic':
        return this.matchTopic(message.routingKey);
      case 'headers':
        return [...this.bindings].filter((binding) => headersMatch(binding.arguments, binding.xMatch ?? 'all', message.headers));
    }
  }
}
