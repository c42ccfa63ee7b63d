import { bindingKey, type Message, type MessageStore, type StreamLog, type StreamLogOptions, type VhostStores, type RecoveredState, type StoredBinding, type StoredExchange, type StoredPolicy, type StoredQueue } from '../broker/index.js';
import { MemoryStreamLog } from './stream/index.js';

/**
 * Keeps the durable state in memory: nothing survives the process, but a broker reopened on the
 * same instance recovers it, which is how the store contract is tested without a disk.
 */
export class MemoryStore implements MessageStore {
  private readonly exchanges = new Map<string, StoredExchange>();
  private readonly queues = new Map<string, StoredQueue>();
  private readonly bindings = new Map<string, StoredBinding>();
  private readonly policies = new Map<string, StoredPolicy>();
  private readonly messages = new Map<string, Map<number, { message: Message; expiresAt: number | null }>>();
  /** Kept open across a reopen of the broker on this store, as a disk keeps the files. */
  private readonly streams = new Map<string, MemoryStreamLog>();

  async recover(): Promise<RecoveredState> {
    const messages = [...this.messages].flatMap(([queue, stored]) => [...stored].map(([seq, { message, expiresAt }]) => ({ queue, seq, message, expiresAt })));
    messages.sort((a, b) => a.seq - b.seq);
    return { exchanges: [...this.exchanges.values()], queues: [...this.queues.values()], bindings: [...this.bindings.values()], policies: [...this.policies.values()], messages };
  }

  putExchange(exchange: StoredExchange): void {
    this.exchanges.set(exchange.name, exchange);
  }

  deleteExchange(name: string): void {
    this.exchanges.delete(name);
  }

  putQueue(queue: StoredQueue): void {
    this.queues.set(queue.name, queue);
    if (!this.messages.has(queue.name)) this.messages.set(queue.name, new Map());
  }

  deleteQueue(name: string): void {
    this.queues.delete(name);
    this.messages.delete(name);
    void this.streams.get(name)?.delete();
    this.streams.delete(name);
  }

  openStream(queue: string, options: StreamLogOptions): StreamLog {
    let log = this.streams.get(queue);
    if (log) {
      log.setOptions(options);
    } else {
      log = MemoryStreamLog.create(options);
      this.streams.set(queue, log);
    }
    return log;
  }

  putBinding(binding: StoredBinding): void {
    this.bindings.set(bindingKey(binding), binding);
  }

  deleteBinding(binding: StoredBinding): void {
    this.bindings.delete(bindingKey(binding));
  }

  putPolicy(policy: StoredPolicy): void {
    this.policies.set(policy.name, policy);
  }

  deletePolicy(name: string): void {
    this.policies.delete(name);
  }

  putMessage(queue: string, seq: number, message: Message, expiresAt: number | null): void {
    this.messages.get(queue)?.set(seq, { message, expiresAt });
  }

  removeMessage(queue: string, seq: number): void {
    this.messages.get(queue)?.delete(seq);
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {}
}

/** A MemoryStore per vhost; reopening a vhost gives back its store, with what it holds. */
export class MemoryVhostStores implements VhostStores {
  private readonly stores: Map<string, MessageStore>;

  /** `root` is vhost "/"'s store (a test may pass one it controls). */
  constructor(root: MessageStore = new MemoryStore()) {
    this.stores = new Map([['/', root]]);
  }

  async list(): Promise<string[]> {
    return [...this.stores.keys()];
  }

  async open(vhost: string): Promise<MessageStore> {
    let store = this.stores.get(vhost);
    if (!store) this.stores.set(vhost, (store = new MemoryStore()));
    return store;
  }

  async remove(vhost: string): Promise<void> {
    this.stores.delete(vhost);
  }

  async close(): Promise<void> {}
}
