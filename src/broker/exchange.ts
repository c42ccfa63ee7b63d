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
    }
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
        return this.trie?.match(message.routingKey) ?? NO_BINDINGS;
      case 'headers':
        return [...this.bindings].filter((binding) => headersMatch(binding.arguments, binding.xMatch ?? 'all', message.headers));
    }
  }
}
