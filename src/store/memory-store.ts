import { bindingKey, type Message, type MessageStore, type RecoveredState, type StoredBinding, type StoredExchange, type StoredQueue } from '../broker/index.js';

/**
 * Keeps the durable state in memory: nothing survives the process, but a broker reopened on the
 * same instance recovers it, which is how the store contract is tested without a disk.
 */
export class MemoryStore implements MessageStore {
  private readonly exchanges = new Map<string, StoredExchange>();
  private readonly queues = new Map<string, StoredQueue>();
  private readonly bindings = new Map<string, StoredBinding>();
  private readonly messages = new Map<string, Map<number, { message: Message; expiresAt: number | null }>>();

  async recover(): Promise<RecoveredState> {
    const messages = [...this.messages].flatMap(([queue, stored]) => [...stored].map(([seq, { message, expiresAt }]) => ({ queue, seq, message, expiresAt })));
    messages.sort((a, b) => a.seq - b.seq);
    return { exchanges: [...this.exchanges.values()], queues: [...this.queues.values()], bindings: [...this.bindings.values()], messages };
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
  }

  putBinding(binding: StoredBinding): void {
    this.bindings.set(bindingKey(binding), binding);
  }

  deleteBinding(binding: StoredBinding): void {
    this.bindings.delete(bindingKey(binding));
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
