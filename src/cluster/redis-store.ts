import {
  bindingKey,
  type Message,
  type Lease,
  type MessageStore,
  type RecoveredState,
  type SharedQueue,
  type SharedQueueReceiver,
  type StoredBinding,
  type StoredExchange,
  type StoredPolicy,
  type StoredQueue,
  type StoredRelayBinding,
  type StreamLog,
  type StreamLogOptions,
  type VhostStores,
} from '../broker/index.js';
import { relayText } from './entry-codec.js';
import { GROUP, leaseKey, queueKey, relayChannel, streamStateKey, topologyKey, VHOSTS_KEY } from './keys.js';
import { withTimeout, type ClusterNode } from './node.js';
import { RedisSharedQueue } from './shared-queue.js';
import { RedisStreamLog } from './stream-log.js';

/**
 * A vhost's store in Redis, shared by every node: its topology in one hash (field `x:`, `q:`, `b:`,
 * `p:` and the name, the stored definition as JSON), each change announced on the topology
 * channel, and each queue's messages in a stream (docs/clustering.md).
 */
export class RedisStore implements MessageStore {
  readonly shared = true;
  /**
   * Set while a change made on another node is applied here through the model: it is in Redis
   * already, so the model's writes go nowhere (its local bookkeeping still happens).
   */
  applyingRemote = false;
  private readonly sharedQueues = new Map<string, RedisSharedQueue>();
  /** The vhost's stream queues, each with the state this node mirrors (opened or not). */
  private readonly streams = new Map<string, RedisStreamLog>();
  /** How many of this node's exclusive queues are bound with each relay binding's key: it is announced while above 0. */
  private readonly localBindings = new Map<string, number>();
  /**
   * The vhost's topology as this node knows it (the hash's fields but the relays): what it writes
   * back when Redis lost it (a failover after asynchronous replication, a restart without persistence).
   */
  private readonly known = new Map<string, string>();
  /** Queues whose missing stream is being made again: once at a time. */
  private readonly restoring = new Set<string>();

  constructor(
    private readonly node: ClusterNode,
    readonly vhost: string,
  ) {}

  async recover(): Promise<RecoveredState> {
    const fields = await this.node.redis.hgetall(topologyKey(this.vhost));
    const relayBindings: StoredRelayBinding[] = [];
    const state: RecoveredState = { exchanges: [], queues: [], bindings: [], policies: [], messages: [] };
    for (const [field, json] of Object.entries(fields)) {
      if (!field.startsWith('r:')) this.known.set(field, json);
      if (field.startsWith('r:')) {
        const binding = relayBinding(field);
        // This node's own are from before a restart: its exclusive queues died with it.
        if (binding.node === this.node.name) this.node.changeTopology(topologyKey(this.vhost), 'hdel', field, { vhost: this.vhost, field, value: null });
        else relayBindings.push(binding);
        continue;
      }
      const value = JSON.parse(json) as unknown;
      if (field.startsWith('x:')) state.exchanges.push(value as StoredExchange);
      else if (field.startsWith('q:')) state.queues.push(value as StoredQueue);
      else if (field.startsWith('b:')) state.bindings.push(value as StoredBinding);
      else if (field.startsWith('p:')) state.policies.push(value as StoredPolicy);
    }
    await this.loadStreamStates(state.queues.filter(isStream).map((queue) => queue.name));
    return relayBindings.length > 0 ? { ...state, relayBindings } : state;
  }

  /** The stream queues' states, before the model opens them: a consumer's "next" must be the stream's. */
  private async loadStreamStates(names: string[]): Promise<void> {
    if (names.length === 0) return;
    const pipeline = this.node.redis.pipeline();
    for (const name of names) pipeline.hgetall(this.streamLog(name).stateKey);
    const replies = (await pipeline.exec()) ?? [];
    replies.forEach(([error, fields], i) => {
      if (error) throw error;
      this.streamLog(names[i]).loadState(fields as Record<string, string>);
    });
  }

  putExchange(exchange: StoredExchange): void {
    this.put(`x:${exchange.name}`, exchange);
  }

  deleteExchange(name: string): void {
    this.put(`x:${name}`, null);
  }

  putQueue(queue: StoredQueue): void {
    this.put(`q:${queue.name}`, queue);
    if (!isStream(queue)) return;
    // Mirrored from the declare on: its announcements find it.
    const log = this.streamLog(queue.name);
    // After the declare, on the same connection: the script finds the queue declared.
    if (!this.applyingRemote) this.node.write(this.ensureStream(queue.name, 0));
    // Declared on another node, which may have appended before this node applied the declare.
    else this.node.background(this.node.redis.hgetall(log.stateKey).then((fields) => log.loadState(fields)));
  }

  deleteQueue(name: string): void {
    this.sharedQueues.get(name)?.close();
    this.sharedQueues.delete(name);
    const stream = this.streams.get(name);
    if (stream) {
      void stream.delete();
      this.streams.delete(name);
      this.node.streams.delete(stream.stateKey);
    }
    if (this.applyingRemote) return;
    // Undeclared first: a node that finds the keys missing meanwhile does not make them again.
    this.put(`q:${name}`, null);
    this.node.write(this.node.redis.del(queueKey(this.vhost, name), streamStateKey(this.vhost, name)));
  }

  openShared(queue: string, receiver: SharedQueueReceiver): SharedQueue {
    const shared = new RedisSharedQueue(
      this.node,
      queueKey(this.vhost, queue),
      receiver,
      () => this.restoreStream(queue, shared).catch((error: Error) => this.node.logger.warn({ vhost: this.vhost, queue, err: error.message }, 'a lost stream could not be made again')),
      { hash: topologyKey(this.vhost), field: `q:${queue}` },
    );
    this.sharedQueues.set(queue, shared);
    this.node.queues.set(shared.key, shared);
    // Before any publish to it reaches Redis: commands on one connection run in order.
    this.node.write(shared.ensureGroup());
    return shared;
  }

  openStream(queue: string, options: StreamLogOptions, changed = (): void => {}): StreamLog {
    const log = this.streamLog(queue);
    log.options = options;
    log.changed = changed;
    return log;
  }

  /** The stream queue's log, made at its first mention (its state, an announcement, the model's open). */
  private streamLog(queue: string): RedisStreamLog {
    let log = this.streams.get(queue);
    if (!log) {
      log = new RedisStreamLog(this.node, queueKey(this.vhost, queue), streamStateKey(this.vhost, queue), (next) => this.restoreStreamState(queue, next));
      this.streams.set(queue, log);
      this.node.streams.set(log.stateKey, log);
    }
    return log;
  }

  /** Makes a stream queue's state unless it exists, while the queue is declared; offsets go on from `next`. */
  private ensureStream(queue: string, next: number): Promise<number> {
    return this.node.redis.streamEnsure(streamStateKey(this.vhost, queue), topologyKey(this.vhost), queueKey(this.vhost, queue), `q:${queue}`, String(next));
  }

  /** A stream queue's state is gone while the queue is declared (Redis lost it): made again, offsets going on from what this node knew. */
  private restoreStreamState(queue: string, next: number): void {
    this.node.background(
      this.ensureStream(queue, next).then((declared) => {
        if (declared === 1) this.node.logger.warn({ vhost: this.vhost, queue }, `stream queue "${queue}" lost its entries in Redis (as after a failover that lost writes): made again, empty, its offsets going on from ${next}`);
      }),
    );
  }

  putBinding(binding: StoredBinding): void {
    this.put(`b:${bindingKey(binding)}`, binding);
  }

  deleteBinding(binding: StoredBinding): void {
    this.put(`b:${bindingKey(binding)}`, null);
  }

  putPolicy(policy: StoredPolicy): void {
    this.put(`p:${policy.name}`, policy);
  }

  deletePolicy(name: string): void {
    this.put(`p:${name}`, null);
  }

  putMessage(queue: string, _seq: number, _message: Message): void {
    // Every queue kept here is shared: its messages go through openShared.
    throw new Error(`RedisStore.putMessage: queue "${queue}" should keep its messages through its shared queue`);
  }

  removeMessage(): void {
    // As putMessage: a shared queue removes through its SharedQueue.
  }

  /**
   * A queue's stream is missing while the queue is still declared in Redis: Redis lost it (a
   * failover after asynchronous replication): it is made again, empty, so that publishes work.
   */
  private async restoreStream(queue: string, shared: RedisSharedQueue): Promise<void> {
    if (this.restoring.has(queue)) return;
    this.restoring.add(queue);
    try {
      if (this.sharedQueues.get(queue) !== shared || !(await this.node.redis.hexists(topologyKey(this.vhost), `q:${queue}`))) return;
      this.node.logger.warn({ vhost: this.vhost, queue }, `queue "${queue}" lost its messages in Redis (its stream was missing, as after a failover that lost writes): made again, empty`);
      await shared.ensureGroup();
    } finally {
      this.restoring.delete(queue);
    }
  }

  /** The stream keys of the vhost's shared queues open here. */
  sharedQueueKeys(): string[] {
    return [...this.sharedQueues.values()].map((queue) => queue.key);
  }

  sync(): Promise<void> {
    return this.node.sync();
  }

  /**
   * Stops the queues' reads, and returns what this node still holds under its name (delayed
   * messages, a read answered too late): no node reaps a node that left cleanly.
   */
  async close(): Promise<void> {
    const keys = this.sharedQueueKeys();
    for (const queue of this.sharedQueues.values()) queue.close();
    for (const stream of this.streams.values()) this.node.streams.delete(stream.stateKey);
    await Promise.all([...this.streams.values()].map((stream) => stream.close()));
    this.sharedQueues.clear();
    try {
      await withTimeout(Promise.all(keys.map((key) => this.node.redis.returnPending(key, GROUP, this.node.name))), 5000, 'Redis did not answer within 5 s');
    } catch (error) {
      this.node.holdsDeliveries = true;
      this.node.logger.warn({ vhost: this.vhost, err: (error as Error).message }, 'what this node held could not be returned to its queues: the other nodes return it once they take this node for dead');
    }
  }

  localBinding(binding: StoredBinding, delta: 1 | -1): void {
    const key = JSON.stringify([binding.source, binding.routingKey, binding.arguments]);
    const count = (this.localBindings.get(key) ?? 0) + delta;
    if (count > 0) this.localBindings.set(key, count);
    else this.localBindings.delete(key);
    if (count === 1 && delta === 1) this.changeRelay(binding, '1');
    else if (count === 0) this.changeRelay(binding, null);
  }

  atomically(work: () => void): void {
    this.node.atomically(work);
  }

  /**
   * Redis lost topology changes (its version went back): writes back what this node knows of the
   * vhost, makes its queues' streams again, and announces its relays again. Every node does the
   * same with the same definitions, so the order does not matter.
   */
  async restoreTopology(): Promise<void> {
    const key = topologyKey(this.vhost);
    if (this.known.size > 0) await this.node.redis.hset(key, Object.fromEntries(this.known));
    await this.node.redis.sadd(VHOSTS_KEY, this.vhost);
    for (const shared of this.sharedQueues.values()) {
      await shared.ensureGroup();
      // Its reads stopped while the stream was missing: they start again.
      shared.want(shared.wanted);
    }
    for (const [queue, stream] of this.streams) await this.ensureStream(queue, stream.next);
    this.announceRelays();
  }

  /** Announces every relay binding of this node again (another node took it for dead and deleted them). */
  announceRelays(): void {
    for (const key of this.localBindings.keys()) {
      const [source, routingKey, args] = JSON.parse(key) as [string, string, Record<string, unknown>];
      this.changeRelay({ source, destination: '', destinationType: 'queue', routingKey, arguments: args }, '1');
    }
  }

  relay(node: string, message: Message): void {
    this.node.background(this.node.redis.publish(relayChannel(node), relayText(this.vhost, message)));
  }

  /** Takes out the relay bindings of a dead node: its exclusive queues died with it. */
  async forgetRelaysOf(node: string): Promise<void> {
    const key = topologyKey(this.vhost);
    const fields = (await this.node.redis.hkeys(key)).filter((field) => field.startsWith(`r:${JSON.stringify([node]).slice(0, -1)},`));
    for (const field of fields) this.node.changeTopology(key, 'hdel', field, { vhost: this.vhost, field, value: null });
  }

  topologySettled(): Promise<void> {
    return this.node.topologySettled();
  }

  lease(name: string, changed: (held: boolean) => void): Lease {
    return this.node.lease(leaseKey(this.vhost, name), changed);
  }

  /** Not held back while a remote change is applied: this node's exclusive queues are its own. */
  private changeRelay({ source, routingKey, arguments: args }: StoredBinding, value: string | null): void {
    const field = `r:${JSON.stringify([this.node.name, source, routingKey, args])}`;
    this.node.changeTopology(topologyKey(this.vhost), value === null ? 'hdel' : 'hset', field, { vhost: this.vhost, field, value });
  }

  private put(field: string, value: object | null): void {
    const json = value === null ? null : JSON.stringify(value);
    if (json === null) this.known.delete(field);
    else this.known.set(field, json);
    if (this.applyingRemote) return;
    this.node.changeTopology(topologyKey(this.vhost), json === null ? 'hdel' : 'hset', field, { vhost: this.vhost, field, value: json });
  }
}

const isStream = (queue: StoredQueue): boolean => queue.options.arguments['x-queue-type'] === 'stream';

/** A relay binding from its topology field: `r:` and [node, source, routingKey, arguments] as JSON. */
export function relayBinding(field: string): StoredRelayBinding {
  const [node, source, routingKey, args] = JSON.parse(field.slice(2)) as [string, string, string, Record<string, unknown>];
  return { node, source, routingKey, arguments: args };
}

/** The vhosts of the cluster: their names in a Redis set, each one's store a RedisStore. */
export class RedisVhostStores implements VhostStores {
  /** As RedisStore.applyingRemote, for vhosts made or deleted on another node. */
  applyingRemote = false;
  readonly stores = new Map<string, RedisStore>();

  constructor(readonly node: ClusterNode) {}

  list(): Promise<string[]> {
    return this.node.redis.smembers(VHOSTS_KEY);
  }

  async open(vhost: string): Promise<MessageStore> {
    if (!this.applyingRemote) this.node.changeTopology(VHOSTS_KEY, 'sadd', vhost, { vhost, field: '', value: '{}' });
    const store = new RedisStore(this.node, vhost);
    this.stores.set(vhost, store);
    return store;
  }

  async remove(vhost: string): Promise<void> {
    this.stores.delete(vhost);
    if (this.applyingRemote) return;
    const topology = await this.node.redis.hkeys(topologyKey(vhost));
    const streams = topology.filter((field) => field.startsWith('q:')).flatMap((field) => [queueKey(vhost, field.slice(2)), streamStateKey(vhost, field.slice(2))]);
    await this.node.redis.del(topologyKey(vhost), ...streams);
    this.node.changeTopology(VHOSTS_KEY, 'srem', vhost, { vhost, field: '', value: null });
    await this.node.topologySettled();
  }

  async close(): Promise<void> {
    await this.node.close();
  }
}
