import { Broker, BrokerError, Connection, type BrokerNotice, type Clock, type DeliverySink, type Message, type QueueEntry, type TimerHandle } from '../../src/broker/index.js';
import { MemoryStore } from '../../src/store/index.js';

/** A clock whose time moves only when a test says so. */
export class FakeClock implements Clock {
  private time = 1_000_000;
  private timers: { at: number; callback: () => void; id: number }[] = [];
  private nextId = 1;

  now(): number {
    return this.time;
  }

  setTimer(callback: () => void, ms: number): TimerHandle {
    const timer = { at: this.time + ms, callback, id: this.nextId++ };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers = this.timers.filter((timer) => timer.id !== handle);
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.time = Math.max(this.time, due.at);
      due.callback();
    }
    this.time = end;
  }
}

export interface RecordedDelivery {
  consumerTag: string;
  deliveryTag: number;
  entry: QueueEntry;
  payload: unknown;
  /** `entry.returns` when it was delivered (the entry is shared, and counts on after). */
  returns: number;
}

/** A sink that records what the broker pushes. */
export class RecordingSink implements DeliverySink {
  readonly deliveries: RecordedDelivery[] = [];
  readonly cancelledTags: string[] = [];

  deliver(consumerTag: string, deliveryTag: number, entry: QueueEntry): void {
    this.deliveries.push({ consumerTag, deliveryTag, entry, payload: JSON.parse(entry.message.payload), returns: entry.returns });
  }

  cancelled(consumerTag: string): void {
    this.cancelledTags.push(consumerTag);
  }

  payloads(): unknown[] {
    return this.deliveries.map((delivery) => delivery.payload);
  }
}

export function message(payload: unknown, fields: Partial<Omit<Message, 'payload' | 'size'>> = {}): Message {
  const text = JSON.stringify(payload);
  return { exchange: '', routingKey: '', headers: {}, properties: {}, ...fields, payload: text, size: Buffer.byteLength(text) };
}

export async function setup() {
  const clock = new FakeClock();
  const store = new MemoryStore();
  const notices: BrokerNotice[] = [];
  const broker = await Broker.open(store, clock, {}, (notice) => notices.push(notice));
  let connections = 0;
  const connect = () => {
    const sink = new RecordingSink();
    const connection = new Connection(`t${++connections}`, broker, sink);
    return { connection, sink };
  };
  const publish = (exchange: string, routingKey: string, payload: unknown, fields: Partial<Omit<Message, 'payload' | 'size'>> = {}) =>
    broker.publish(exchange, message(payload, { exchange, routingKey, ...fields }));
  return { clock, store, broker, connect, publish, notices };
}

export const queueOptions = (overrides: Record<string, unknown> = {}) => ({ durable: true, exclusive: false, autoDelete: false, arguments: {}, ...overrides });
export const exchangeOptions = (overrides: Record<string, unknown> = {}) => ({ durable: true, autoDelete: false, internal: false, arguments: {}, ...overrides });
export const consumeOptions = (overrides: Record<string, unknown> = {}) => ({ prefetch: 0, noAck: false, exclusive: false, priority: 0, arguments: {}, ...overrides });

/** The BrokerError a call throws; fails the test when it succeeds or throws something else. */
export function caught(call: () => unknown): BrokerError {
  try {
    call();
  } catch (error) {
    if (error instanceof BrokerError) return error;
    throw error;
  }
  throw new Error('expected a BrokerError, but the call succeeded');
}

/** Takes every ready message from a queue with `get` (noAck) and returns the payloads in order. */
export function drain(connection: Connection, queue: string): unknown[] {
  const payloads: unknown[] = [];
  for (;;) {
    const { delivery } = connection.get(queue, true);
    if (!delivery) return payloads;
    payloads.push(JSON.parse(delivery.entry.message.payload));
  }
}

/** Whether an exchange exists, asked the way a client would: a passive declare. */
export function exchangeExists(broker: Broker, name: string): boolean {
  try {
    broker.declareExchange(name, undefined, exchangeOptions(), true);
    return true;
  } catch (error) {
    if (error instanceof BrokerError && error.code === 'NOT_FOUND') return false;
    throw error;
  }
}
