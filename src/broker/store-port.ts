import type { PolicyDefinition } from './policy.js';
import type { StreamLog, StreamLogOptions } from './stream-port.js';
import type { ExchangeOptions, ExchangeType, Message, QueueOptions } from './types.js';

export interface StoredExchange {
  name: string;
  type: ExchangeType;
  options: ExchangeOptions;
}

export interface StoredQueue {
  name: string;
  options: QueueOptions;
}

export interface StoredBinding {
  source: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: Record<string, unknown>;
}

/** A binding from `source` into node `node`'s exclusive queues (one for all of them with the same key and arguments). */
export interface StoredRelayBinding {
  node: string;
  source: string;
  routingKey: string;
  arguments: Record<string, unknown>;
}

/** A policy as the store keeps it: as it was set. */
export type StoredPolicy = PolicyDefinition;

/** A binding's identity in a store: all of its fields (two bindings that differ only in arguments are two bindings). */
export const bindingKey = (binding: StoredBinding): string =>
  JSON.stringify([binding.source, binding.destinationType, binding.destination, binding.routingKey, binding.arguments]);

export interface StoredMessage {
  queue: string;
  /** Broker-wide sequence number: a message's identity in the store and its place in its queue. */
  seq: number;
  message: Message;
  /** When the message expires (ms since epoch), or null without a TTL: expiry survives a restart. */
  expiresAt: number | null;
}

/** What a store hands back at start-up: the durable state as it was last synced. */
export interface RecoveredState {
  /** A shared store: the bindings into other nodes' exclusive queues, as relays to those nodes. */
  relayBindings?: StoredRelayBinding[];
  exchanges: StoredExchange[];
  queues: StoredQueue[];
  bindings: StoredBinding[];
  policies: StoredPolicy[];
  /** Ordered by `seq`. */
  messages: StoredMessage[];
}

/**
 * The port through which the broker keeps durable topology and persistent messages in durable
 * queues. Writes are fire-and-forget and applied in call order; `sync()` is the barrier a
 * publisher confirm waits for. Kept this small so a journal (or a distributed backend) fits behind it.
 */
export interface MessageStore {
  /**
   * Several nodes share this store (a cluster, docs/clustering.md): every exchange, queue and
   * binding that is not exclusive goes to it, durable or not, and queues keep their messages in it
   * through `openShared`. Absent on a store of one node.
   */
  readonly shared?: boolean;
  recover(): Promise<RecoveredState>;
  putExchange(exchange: StoredExchange): void;
  deleteExchange(name: string): void;
  putQueue(queue: StoredQueue): void;
  /** Also forgets every message stored for the queue, and deletes its stream log if it is a stream. */
  deleteQueue(name: string): void;
  /**
   * The log of stream queue `queue` (put with putQueue before): the one recovered with the store,
   * or a new empty one. Synchronous, as a declare needs it at once; the same log for the same
   * queue until deleteQueue. `options` (its retention) apply from now on. A shared store calls
   * `changed` when entries became readable without an append here (appended on another node, or
   * read from the shared store after a `read` missed them); a local store never does.
   */
  openStream(queue: string, options: StreamLogOptions, changed?: () => void): StreamLog;
  /**
   * Where a shared store keeps the messages of queue `queue` (put with putQueue before); `receiver`
   * gets those this node fetched for its consumers. Only on a `shared` store.
   */
  openShared?(queue: string, receiver: SharedQueueReceiver): SharedQueue;
  putBinding(binding: StoredBinding): void;
  deleteBinding(binding: StoredBinding): void;
  /** Adds or replaces the policy of that name. */
  putPolicy(policy: StoredPolicy): void;
  deletePolicy(name: string): void;
  /** `message.encoded` is a cache of the wire form: do not store it. */
  putMessage(queue: string, seq: number, message: Message, expiresAt: number | null): void;
  removeMessage(queue: string, seq: number): void;
  /** Resolves once every write made before the call is durable, stream appends included. */
  sync(): Promise<void>;
  /**
   * A shared store: a binding into one of this node's exclusive queues was made (+1) or removed
   * (-1); the store tells the other nodes, which relay what matches it here (docs/clustering.md).
   */
  localBinding?(binding: StoredBinding, delta: 1 | -1): void;
  /**
   * A shared store: the adds and removals of shared queues that `work` makes happen in one step
   * (a dead-lettered message leaves its queue and reaches its targets together).
   */
  atomically?(work: () => void): void;
  /** A shared store: hands a message routed to node `node`'s exclusive queues to that node. */
  relay?(node: string, message: Message): void;
  /**
   * A shared store: resolves once every node has applied the topology changes made here before
   * the call, so that a client told its declare is done may publish through any node.
   */
  topologySettled?(): Promise<void>;
  /**
   * A shared store: asks for the lease `name` (one node at a time holds it: a single active
   * consumer's turn). `changed` is called with the first answer, and whenever it changes after.
   */
  lease?(name: string, changed: (held: boolean) => void): Lease;
  close(): Promise<void>;
}

/** A lease a node asked a shared store for (`MessageStore.lease`). */
export interface Lease {
  readonly held: boolean;
  /** Gives it up (to the next node that asks), or stops asking. */
  release(): void;
}

/**
 * A queue's messages as a shared store keeps them, for the consumers of every node: a node holds
 * only the messages it fetched for its own consumers (with room under their prefetch).
 */
export interface SharedQueue {
  /** A routed message for whichever node's consumer is free first; `sync()` resolves once it is kept. */
  add(message: Message, expiresAt: number | null): void;
  /** This node's consumers have room for `count` more than it holds: fetch up to that many (0: none now). */
  want(count: number): void;
  /** The message this node fetched as `seq` was acknowledged or dropped: it leaves the queue. */
  remove(seq: number): void;
  /** Messages this node fetched and has no consumer for: back to the queue for any node, as redeliveries. */
  giveBack(entries: readonly SharedEntry[]): void;
  /** Removes every message no node holds. */
  purge(): void;
  /** Fetches one more message for a `get` now, if there is one; it arrives through the receiver. */
  fetchOne(): Promise<void>;
  /** Messages in the queue that no node holds, as last counted. */
  readonly readyElsewhere: number;
  /** `x-max-length` with `drop-head`: the store takes the oldest messages no node holds past it for this node, to `diedInStore`. */
  maxLength: number | undefined;
  /** `x-message-ttl`: the store takes the expired messages no node holds at the queue's head for this node, to `diedInStore`. */
  messageTtl: number | undefined;
}

/** A message of a shared queue as a node holds it. */
export interface SharedEntry {
  seq: number;
  message: Message;
  /** How often it went back to the queue: `x-delivery-count`, and `redelivered` when above 0. */
  returns: number;
  expiresAt: number | null;
}

/** The queue that takes what a SharedQueue fetched. */
export interface SharedQueueReceiver {
  /** Takes a fetched message as ready (or waiting) and numbers it with a new `seq`, which it returns. */
  receive(message: Message, returns: number, expiresAt: number | null): number;
  /** Pushes what it took to consumers with room. */
  dispatch(): void;
  /**
   * A message the store took for this node because it died there (past the queue's length limit
   * with drop-head, or expired): numbered with a new seq, told to `adopt` before anything else,
   * then dead-lettered and removed (through `SharedQueue.remove`) in one step.
   */
  diedInStore(message: Message, returns: number, reason: 'maxlen' | 'expired', adopt: (seq: number) => void): void;
}

/**
 * The stores of every vhost: one MessageStore each, so that vhosts share nothing on disk, as
 * RabbitMQ keeps a message store per vhost. Which vhosts exist is what this port recovers.
 */
export interface VhostStores {
  /** The vhosts that have a store, "/" among them once it was ever opened. */
  list(): Promise<string[]>;
  /** Opens a vhost's store, creating it when the vhost is new. */
  open(vhost: string): Promise<MessageStore>;
  /** Deletes a vhost's store and everything in it; the caller has closed it. */
  remove(vhost: string): Promise<void>;
  /** Called after every store is closed (releases the data dir). */
  close(): Promise<void>;
  /** Disk writes of every vhost's store since start-up, for the metrics; absent for stores that write nothing. */
  readonly io?: IoCounts;
}

/** What a store wrote to disk: RabbitMQ's `io_write_bytes` and `io_sync_ops`. */
export interface IoCounts {
  writtenBytes: number;
  syncs: number;
}
