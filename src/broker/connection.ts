import type { QueueEntry } from './entry-deque.js';
import { BrokerError, preconditionFailed, resourceError, resourceLocked } from './errors.js';
import { Consumer, type ConsumerOwner, type MessageCounters, type Queue, type QueueOwner, type VhostTotals } from './queue.js';
import { UnackedLog } from './unacked-log.js';
import type { Clock, ConsumeOptions, TimerHandle } from './types.js';

/** Where a connection's pushes go: the transport's session, or a test's recorder. */
export interface DeliverySink {
  /** A message pushed to consumer `consumerTag`. */
  deliver(consumerTag: string, deliveryTag: number, entry: QueueEntry): void;
  /** The broker cancelled the consumer: its queue was deleted, or (with `reason`) it timed out. */
  cancelled(consumerTag: string, reason?: string): void;
}

/** The per-connection limits (docs/configuration.md, "Limits, timeouts and alarms"). */
export interface ConnectionLimits {
  maxConsumersPerConnection: number;
  maxUnackedPerConnection: number;
  /** Default acknowledgement timeout for consumers in ms; 0 = none. */
  consumerTimeoutMs: number;
}

/** What a connection needs from the broker it belongs to. */
export interface ConnectionHost {
  readonly clock: Clock;
  readonly limits: ConnectionLimits;
  /** The vhost's counts: a connection counts itself in while open. */
  readonly totals: VhostTotals;
  /** What its deliveries, gets and acks add to. */
  readonly counters: MessageCounters;
  /** The queue this connection may use; NOT_FOUND or RESOURCE_LOCKED otherwise. */
  queueFor(owner: Connection, name: string): Queue;
  /** Deletes a queue (an exclusive queue of this connection, when it closes). */
  removeQueue(queue: Queue): void;
}

/** A delivery awaiting its ack, nack or reject. */
interface Unacked {
  readonly queue: Queue;
  readonly entry: QueueEntry;
  /** Undefined for a `get`. */
  readonly consumer: Consumer | undefined;
  /** Clock time of the delivery, for the consumer's acknowledgement timeout. */
  readonly deliveredAt: number;
}

/** Shared by every connection that has had nothing to settle yet; never added to. */
const NO_UNACKED = new UnackedLog<Unacked>();

/** The result of a `get`: the message and its tag, or null, and how many stay ready. */
export interface GetResult {
  delivery: { deliveryTag: number; entry: QueueEntry } | null;
  messageCount: number;
}

/**
 * One client's state in the model: its consumers, its delivery tags and unacknowledged
 * deliveries, its exclusive queues. The transport owns the socket; this owns the rules.
 */
export class Connection implements ConsumerOwner, QueueOwner {
  /** False while the client's socket is backed up: its consumers get no pushes until it drains. */
  writable = true;
  readonly consumers = new Map<string, Consumer>();
  readonly exclusiveQueues = new Set<Queue>();
  /** NO_UNACKED until the first delivery that needs an ack: connections that only publish or use noAck never make one. */
  private unacked = NO_UNACKED;
  private nextDeliveryTag = 1;
  private nextConsumerTag = 1;
  private closed = false;
  /** One timer per connection for the earliest acknowledgement deadline; none per delivery. */
  private timeoutTimer: TimerHandle | undefined;

  constructor(
    readonly id: string,
    private readonly broker: ConnectionHost,
    private readonly sink: DeliverySink,
  ) {
    broker.totals.connections++;
  }

  /** Subscribes to a queue; returns the consumer tag (docs/protocol.md, "Consuming"). */
  consume(queueName: string, options: ConsumeOptions): string {
    const queue = this.broker.queueFor(this, queueName);
    let tag = options.consumerTag;
    if (tag !== undefined && this.consumers.has(tag)) {
      throw new BrokerError('NOT_ALLOWED', `consumer tag "${tag}" is already in use on this connection; pick another or omit it`);
    }
    if (queue.hasExclusiveConsumer) throw resourceLocked(`queue "${queueName}" has an exclusive consumer`);
    if (options.exclusive && queue.consumers.length > 0) {
      throw resourceLocked(`queue "${queueName}" already has consumers, so an exclusive consume is refused`);
    }
    const { maxConsumersPerConnection } = this.broker.limits;
    if (this.consumers.size >= maxConsumersPerConnection) {
      throw resourceError(`this connection has ${this.consumers.size} consumers, the limit (limits.maxConsumersPerConnection); cancel some first`);
    }
    queue.checkConsume(options);
    const timeoutMs = consumerTimeout(options.arguments, queue.args.consumerTimeout ?? this.broker.limits.consumerTimeoutMs);
    while (tag === undefined || this.consumers.has(tag)) tag = `amq.ctag-${this.id}-${this.nextConsumerTag++}`;
    const consumer = new Consumer(tag, queue, this, options.prefetch, options.noAck, options.exclusive, options.priority, timeoutMs, options.arguments);
    this.consumers.set(tag, consumer);
    queue.addConsumer(consumer);
    return tag;
  }

  /** Cancels a consumer; its unacknowledged deliveries go back to the queue. Unknown tags succeed. */
  cancel(consumerTag: string): void {
    const consumer = this.consumers.get(consumerTag);
    if (!consumer) return;
    this.consumers.delete(consumerTag);
    // Requeue before detaching, so that whoever the queue serves next (a single active consumer
    // taking over, say) gets the messages in their original order. `Queue.requeue` does not push,
    // so nothing goes straight back to this consumer; detaching then dispatches.
    const taken = this.takeWhere((unacked) => unacked.consumer === consumer);
    for (const unacked of taken) unacked.queue.requeue(unacked.entry);
    consumer.queue.removeConsumer(consumer);
    dispatchQueuesOf(taken);
  }

  /** What must happen before `get` can answer (a cluster's fetch), or undefined. */
  beforeGet(queueName: string): Promise<void> | undefined {
    return this.broker.queueFor(this, queueName).beforeGet();
  }

  /** Pulls one message (a `get` without `noAck` is a delivery to settle like any other). */
  get(queueName: string, noAck: boolean): GetResult {
    const queue = this.broker.queueFor(this, queueName);
    // A get answered after a fetch from a cluster's Redis may find the connection closed meanwhile.
    if (this.closed) return { delivery: null, messageCount: queue.messageCount };
    if (!noAck && !this.underUnackedLimit) {
      throw resourceError(`this connection has ${this.unacked.size} unacknowledged deliveries, the limit (limits.maxUnackedPerConnection); ack some first`);
    }
    const entry = queue.get();
    if (!entry) return { delivery: null, messageCount: queue.messageCount };
    const deliveryTag = this.nextDeliveryTag++;
    for (const counters of [this.broker.counters, queue.counters]) {
      if (noAck) counters.gotNoAck++;
      else counters.got++;
      if (entry.returns > 0) counters.redelivered++;
    }
    if (noAck) {
      queue.settle(entry);
    } else {
      this.outstanding().add(deliveryTag, { queue, entry, consumer: undefined, deliveredAt: 0 });
      queue.countUnacked(1);
    }
    return { delivery: { deliveryTag, entry }, messageCount: queue.messageCount };
  }

  ack(deliveryTag: number, multiple: boolean): void {
    const wasAtLimit = !this.underUnackedLimit;
    const taken = this.take(deliveryTag, multiple);
    this.broker.counters.acknowledged += taken.length;
    for (const unacked of taken) {
      unacked.queue.counters.acknowledged++;
      unacked.queue.settle(unacked.entry);
    }
    this.dispatchAfterSettle(taken, wasAtLimit);
  }

  nack(deliveryTag: number, multiple: boolean, requeue: boolean): void {
    this.returnOrDeadLetter(this.take(deliveryTag, multiple), requeue);
  }

  reject(deliveryTag: number, requeue: boolean): void {
    this.returnOrDeadLetter(this.take(deliveryTag, false), requeue);
  }

  /** Whether queues may push to this connection: its socket is not backed up and it is under its unacked limit. */
  get canPush(): boolean {
    return this.writable && this.underUnackedLimit;
  }

  private get underUnackedLimit(): boolean {
    return this.unacked.size < this.broker.limits.maxUnackedPerConnection;
  }

  /** The socket's backpressure changed; on drain, every queue it consumes from may push again. */
  setWritable(writable: boolean): void {
    if (this.writable === writable) return;
    this.writable = writable;
    if (writable) this.dispatchAll();
  }

  private dispatchAll(): void {
    for (const consumer of this.consumers.values()) consumer.queue.dispatch();
  }

  /** The client went away: requeue its deliveries, cancel its consumers, delete its exclusive queues. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.broker.totals.connections--;
    // Nothing more is pushed to this connection while it is torn down, not even to a consumer of
    // it that a queue would serve next once another of its consumers is detached.
    this.writable = false;
    if (this.timeoutTimer !== undefined) this.broker.clock.clearTimer(this.timeoutTimer);
    const consumers = [...this.consumers.values()];
    this.consumers.clear();
    // Requeue before detaching, so that the next consumers get the messages in their original order.
    const taken = this.takeWhere(() => true);
    for (const unacked of taken) unacked.queue.requeue(unacked.entry);
    for (const consumer of consumers) consumer.queue.removeConsumer(consumer);
    dispatchQueuesOf(taken);
    for (const queue of this.exclusiveQueues) this.broker.removeQueue(queue);
  }

  /** Called by a queue's dispatch: one push to one of this connection's consumers. */
  deliver(consumer: Consumer, entry: QueueEntry): void {
    const deliveryTag = this.nextDeliveryTag++;
    const counters = this.broker.counters;
    const queueCounters = consumer.queue.counters;
    if (entry.returns > 0) {
      counters.redelivered++;
      queueCounters.redelivered++;
    }
    if (consumer.noAck) {
      counters.deliveredNoAck++;
      queueCounters.deliveredNoAck++;
      consumer.queue.settle(entry);
    } else {
      counters.delivered++;
      queueCounters.delivered++;
      consumer.unacked++;
      consumer.queue.countUnacked(1);
      const deliveredAt = consumer.timeoutMs > 0 ? this.broker.clock.now() : 0;
      this.outstanding().add(deliveryTag, { queue: consumer.queue, entry, consumer, deliveredAt });
      if (consumer.timeoutMs > 0 && this.timeoutTimer === undefined) this.scheduleTimeout(deliveredAt + consumer.timeoutMs);
    }
    this.sink.deliver(consumer.tag, deliveryTag, entry);
  }

  /** The log of unacknowledged deliveries, made on first use. */
  private outstanding(): UnackedLog<Unacked> {
    if (this.unacked === NO_UNACKED) this.unacked = new UnackedLog();
    return this.unacked;
  }

  private scheduleTimeout(at: number): void {
    this.timeoutTimer = this.broker.clock.setTimer(() => this.onTimeout(), Math.max(0, at - this.broker.clock.now()));
  }

  /** Consumers holding a delivery past their acknowledgement timeout are cancelled and their deliveries requeued. */
  private onTimeout(): void {
    this.timeoutTimer = undefined;
    const now = this.broker.clock.now();
    const expired = new Set<Consumer>();
    let next = Infinity;
    for (const { consumer, deliveredAt } of this.unacked.values()) {
      if (!consumer || consumer.timeoutMs === 0 || expired.has(consumer)) continue;
      const deadline = deliveredAt + consumer.timeoutMs;
      if (deadline <= now) expired.add(consumer);
      else next = Math.min(next, deadline);
    }
    for (const consumer of expired) {
      this.cancel(consumer.tag);
      this.sink.cancelled(consumer.tag, `delivery acknowledgement timed out after ${consumer.timeoutMs} ms; its unacknowledged messages were requeued`);
    }
    if (next !== Infinity) this.scheduleTimeout(next);
  }

  /** Called when a queue drops a consumer of this connection (queue deleted): tell the client. */
  consumerGone(consumer: Consumer, notify: boolean): void {
    if (this.consumers.get(consumer.tag) !== consumer) return;
    this.consumers.delete(consumer.tag);
    if (notify && !this.closed) this.sink.cancelled(consumer.tag);
  }

  /** Removes and returns the deliveries that an ack/nack/reject names; nothing changes if the tag is not outstanding. */
  private take(deliveryTag: number, multiple: boolean): Unacked[] {
    if (!this.unacked.has(deliveryTag)) {
      throw preconditionFailed(`delivery tag ${deliveryTag} is unknown or already settled on this connection`);
    }
    const taken: Unacked[] = [];
    if (multiple) this.unacked.removeUpTo(deliveryTag, taken);
    else taken.push(this.unacked.remove(deliveryTag) as Unacked);
    uncount(taken);
    return taken;
  }

  private returnOrDeadLetter(taken: Unacked[], requeue: boolean): void {
    const wasAtLimit = this.unacked.size + taken.length >= this.broker.limits.maxUnackedPerConnection;
    for (const unacked of taken) {
      if (requeue) unacked.queue.requeue(unacked.entry);
      else unacked.queue.settle(unacked.entry, 'rejected');
    }
    this.dispatchAfterSettle(taken, wasAtLimit);
  }

  /** Settled deliveries free prefetch room and requeues refill queues; leaving the unacked limit frees every queue. */
  private dispatchAfterSettle(taken: Unacked[], wasAtLimit: boolean): void {
    if (wasAtLimit) this.dispatchAll();
    dispatchQueuesOf(taken);
  }

  /** Removes and returns the outstanding deliveries that `selected` picks, in tag order. */
  private takeWhere(selected: (unacked: Unacked) => boolean): Unacked[] {
    const taken: Unacked[] = [];
    this.unacked.removeWhere(selected, taken);
    uncount(taken);
    return taken;
  }
}

/** Deliveries taken off the log are no longer unacknowledged, for their consumers' prefetch and their queues' counts. */
function uncount(taken: Unacked[]): void {
  for (const unacked of taken) {
    if (unacked.consumer) unacked.consumer.unacked--;
    unacked.queue.countUnacked(-1);
  }
}

/** Let the queues of settled or requeued deliveries push again. */
function dispatchQueuesOf(taken: Unacked[]): void {
  let previous: Queue | undefined;
  for (const { queue } of taken) {
    if (queue !== previous) queue.dispatch();
    previous = queue;
  }
}

/** `x-consumer-timeout` from the consume's arguments, else the queue's or the broker's; 0 disables it. */
function consumerTimeout(args: Record<string, unknown>, fallback: number): number {
  const value = args['x-consumer-timeout'];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw preconditionFailed(`consume argument x-consumer-timeout must be an integer >= 1 (milliseconds) (got ${JSON.stringify(value)})`);
  }
  return value;
}
