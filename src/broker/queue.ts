import type { DeathReason } from './dead-letter.js';
import { EntryDeque, type QueueEntry } from './entry-deque.js';
import type { Policy } from './policy.js';
import { effectiveArguments, parseQueueArguments, type EffectiveArguments, type QueueArguments, type QueueType } from './queue-arguments.js';
import type { Lease, MessageStore, SharedEntry, SharedQueue, SharedQueueReceiver } from './store-port.js';
import type { Clock, ConsumeOptions, Message, QueueOptions, TimerHandle } from './types.js';
import { WaitingEntries } from './waiting-entries.js';

/**
 * Counts of one vhost that the management API reads (docs/management.md), kept up to date as they
 * change so that no request scans the queues.
 */
export interface VhostTotals {
  /** Ready messages in every queue. */
  messagesReady: number;
  /** Deliveries (to consumers and `get`s) not yet acknowledged. */
  messagesUnacknowledged: number;
  consumers: number;
  /** Logged-in connections. */
  connections: number;
}

/**
 * Running totals of what happened to messages in one vhost since start-up (RabbitMQ's
 * `message_stats` counts): plain increments on the paths that do it, read by the management API
 * and metrics, which turn them into rates.
 */
export interface MessageCounters {
  /** Messages published to an exchange (routed or not). */
  published: number;
  /** Published messages that reached no queue. */
  unroutable: number;
  /** Pushed to consumers that ack, and to `noAck` ones. */
  delivered: number;
  deliveredNoAck: number;
  /** Taken with `get`, to ack and `noAck`. */
  got: number;
  gotNoAck: number;
  /** Deliveries and gets of messages that had been returned before. */
  redelivered: number;
  acknowledged: number;
  /** Messages that died (expired, over a length limit, rejected, over the delivery limit) in a queue with a dead-letter exchange, by reason. */
  deadLettered: Record<DeathReason, number>;
  /** The same, in a queue without one: they were dropped. */
  deadDropped: Record<DeathReason, number>;
  /** Of `deadLettered`, those the dead-letter exchange did not take: it does not exist, or routed them to no queue. */
  deadLetterDropped: number;
}

const byReason = (): Record<DeathReason, number> => ({ expired: 0, maxlen: 0, rejected: 0, delivery_limit: 0 });
/** What a consumer without a prefetch limit fetches from a shared queue at a time. */
const UNLIMITED_PREFETCH_FETCH = 256;
/** How long a shared queue holds messages ahead of consumers that are all full before it gives them back. */
const STRANDED_MS = 1000;

/** The counts by reason of a queue where nothing died yet: shared, replaced at the first death (countDeath). */
const NO_DEATHS: Readonly<Record<DeathReason, number>> = Object.freeze(byReason());

function countDeath(counters: MessageCounters, outcome: 'deadLettered' | 'deadDropped', reason: DeathReason): void {
  if (counters[outcome] === NO_DEATHS) counters[outcome] = byReason();
  counters[outcome][reason]++;
}

export const newCounters = (): MessageCounters => ({
  published: 0,
  unroutable: 0,
  delivered: 0,
  deliveredNoAck: 0,
  got: 0,
  gotNoAck: 0,
  redelivered: 0,
  acknowledged: 0,
  deadLettered: NO_DEATHS,
  deadDropped: NO_DEATHS,
  deadLetterDropped: 0,
});

/** What a queue needs from the broker that owns it. */
export interface QueueHost {
  readonly store: MessageStore;
  readonly clock: Clock;
  /** The vhost's counts, which the queue keeps up to date for its messages and consumers. */
  readonly totals: VhostTotals;
  /** What its dead messages add to. */
  readonly counters: MessageCounters;
  /**
   * Republishes a copy to the queue's dead-letter exchange (docs/protocol.md, "Dead-lettering");
   * false when no queue got it (the exchange does not exist, or routed it nowhere).
   */
  deadLetter(queue: Queue, message: Message, reason: DeathReason): boolean;
  /** The queue removes itself: auto-delete after its last consumer, or `x-expires`. */
  removeQueue(queue: Queue): void;
  /** A new broker-wide sequence number, for a message fetched from a shared queue. */
  nextSeq(): number;
}

/** What a queue needs from the connection a consumer belongs to. */
export interface ConsumerOwner {
  /** The connection can take pushes: its socket is not backed up and it is under its unacked limit. */
  readonly canPush: boolean;
  /** One push of `entry` to `consumer`. */
  deliver(consumer: Consumer, entry: QueueEntry): void;
  /** The queue dropped the consumer (it was deleted); `notify`: tell the client. */
  consumerGone(consumer: Consumer, notify: boolean): void;
}

/** The connection that owns an exclusive queue, as the broker tracks it. */
export interface QueueOwner {
  readonly exclusiveQueues: Set<Queue>;
}

/** A subscription of one connection to one queue. */
export class Consumer {
  /** Deliveries not yet acknowledged, against `prefetch`. */
  unacked = 0;

  constructor(
    readonly tag: string,
    readonly queue: Queue,
    readonly owner: ConsumerOwner,
    readonly prefetch: number,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    readonly priority: number,
    /** Acknowledgement timeout in ms; 0 = none. */
    readonly timeoutMs: number,
    /** The consume's arguments, as given (for the management API). */
    readonly consumeArguments: Readonly<Record<string, unknown>> = {},
  ) {}

  /** Room under the prefetch, and a connection that can take pushes. */
  hasRoom(): boolean {
    return this.owner.canPush && (this.prefetch === 0 || this.unacked < this.prefetch);
  }
}

export enum EnqueueResult {
  Rejected,
  Enqueued,
  /** Enqueued and written to the store: a confirm must wait for the store's sync. */
  Persisted,
}

/** A queue: ready messages in FIFO (by priority first), its consumers, TTL, limits and expiry. */
export class Queue implements SharedQueueReceiver {
  /** Tells a binding's destination apart from an exchange. */
  readonly kind = 'queue';
  /** What its own arguments say. */
  readonly declaredArgs: QueueArguments;
  /** What it works by: its arguments with its policy's (docs/management.md, "Policies"). */
  args: EffectiveArguments;
  /** The policy that applies to it, if any. */
  policy: Policy | undefined;
  readonly consumers: Consumer[] = [];
  /** What happened to its messages since start-up (`published`: enqueued here); the vhost's counters count the same. */
  readonly counters = newCounters();
  /** The missing dead-letter exchange the broker was told of, so that it is told once, not per message. */
  missingDeadLetterExchange: string | undefined;
  /** Set by routing so that one publish reaches a queue at most once. */
  routeMark = 0;
  deleted = false;
  private readonly ready: EntryDeque[];
  private readyCount = 0;
  private readyBytes = 0;
  private unackedCount = 0;
  private nextPosition = 0;
  private everHadConsumer = false;
  private nextConsumerIndex = 0;
  private dispatching = false;
  private expiryTimer: TimerHandle | undefined;
  private expiryAt = Infinity;
  /** Messages not ready yet, and the one timer for the first of them. */
  private readonly waiting = new WaitingEntries();
  private waitingTimer: TimerHandle | undefined;
  private waitingTimerAt = Infinity;
  private unusedTimer: TimerHandle | undefined;
  /** In a cluster: where the queue's messages are, for the consumers of every node (docs/clustering.md). */
  private shared: SharedQueue | undefined;
  /** `get`s waiting for a message fetched from the shared queue: what is fetched stays here for them. */
  private fetchingForGets = 0;
  /** In a cluster, with x-single-active-consumer: the turn of this node's consumers, one node at a time. */
  private activeTurn: Lease | undefined;
  private strandedTimer: TimerHandle | undefined;

  /** Throws PRECONDITION_FAILED when an argument is invalid. */
  constructor(
    readonly name: string,
    readonly options: QueueOptions,
    /** The connection that owns an exclusive queue. */
    readonly owner: QueueOwner | null,
    protected readonly host: QueueHost,
  ) {
    this.declaredArgs = parseQueueArguments(name, options);
    // Without its policy until the broker applies one (which takes the queue's type).
    this.args = effectiveArguments(this.declaredArgs, undefined);
    this.ready = Array.from({ length: (this.args.maxPriority ?? 0) + 1 }, () => new EntryDeque());
    this.scheduleUnusedExpiry();
  }

  /** Kept in the store: durable (or the store is shared), and not exclusive (an exclusive queue dies with its connection). */
  get stored(): boolean {
    return (this.options.durable || this.host.store.shared === true) && !this.options.exclusive;
  }

  /** Keeps the messages in the shared store's queue from now on: the broker calls it once, when the queue is made. */
  share(shared: SharedQueue): void {
    this.shared = shared;
    this.limitShared();
  }

  /**
   * What the shared store applies to the messages no node holds: drop-head, and x-message-ttl. A
   * refused publish is refused here, against the count as last known.
   */
  private limitShared(): void {
    if (!this.shared) return;
    this.shared.maxLength = this.args.overflow === 'drop-head' ? this.args.maxLength : undefined;
    this.shared.messageTtl = this.args.messageTtl;
  }

  diedInStore(message: Message, returns: number, reason: 'maxlen' | 'expired', adopt: (seq: number) => void): void {
    const entry = { ...this.newEntry(message, this.host.nextSeq(), true), returns };
    adopt(entry.seq);
    this.discard(entry, reason);
  }

  /** A message fetched from the shared queue for this node's consumers (`dispatch()` pushes it); returns the seq it is known by here. */
  receive(message: Message, returns: number, expiresAt: number | null): number {
    const entry = { ...this.newEntry(message, this.host.nextSeq(), true), expiresAt: expiresAt ?? Infinity, returns };
    if (!this.deleted && (message.readyAt === undefined || !this.wait(entry, message.readyAt))) this.pushReady(entry);
    return entry.seq;
  }

  get type(): QueueType {
    return this.declaredArgs.type;
  }

  /**
   * Applies a policy (or none) at once: lower limits drop heads now (on a drop-head queue), a new
   * `expires` restarts the countdown; a new `message-ttl` applies to messages enqueued from now on,
   * as in RabbitMQ, whose classic queues fix each message's expiry when it arrives.
   */
  applyPolicy(policy: Policy | undefined): void {
    if (policy === this.policy) return;
    this.policy = policy;
    const before = this.args;
    this.args = effectiveArguments(this.declaredArgs, policy?.queueArguments);
    if (this.args.expires !== before.expires) {
      this.cancelUnusedExpiry();
      this.touch();
    }
    if (this.args.overflow === 'drop-head') this.dropHeadsOverLimit();
    this.limitShared();
    this.dispatch();
  }

  get messageCount(): number {
    return this.readyCount + (this.shared?.readyElsewhere ?? 0);
  }

  /** The ready messages this node holds: in a cluster, without those in Redis that no node holds (which `messageCount` adds). */
  get heldReadyCount(): number {
    return this.readyCount;
  }

  /** Deliveries of this queue's messages (to consumers and `get`s) not yet acknowledged. */
  get unacknowledgedCount(): number {
    return this.unackedCount;
  }

  /** A delivery that needs an ack went out (+1), or was settled or returned (-1): its connection says. */
  countUnacked(delta: 1 | -1): void {
    // A deleted queue took its count out of the totals; deliveries that outlive it are only acked.
    if (this.deleted) return;
    this.unackedCount += delta;
    this.host.totals.messagesUnacknowledged += delta;
  }

  get hasExclusiveConsumer(): boolean {
    return this.consumers.length > 0 && this.consumers[0].exclusive;
  }

  /** Full, with an overflow that refuses publishes: `enqueue` would reject `message`. */
  refuses(message: Message): boolean {
    return this.args.overflow !== 'drop-head' && this.isFull(message.size);
  }

  /** Enqueues a routed message unless the queue is full and refuses publishes. */
  enqueue(message: Message, seq: number): EnqueueResult {
    const args = this.args;
    if (this.refuses(message)) {
      if (args.overflow === 'reject-publish-dlx') this.died(message, 'maxlen');
      return EnqueueResult.Rejected;
    }
    this.counters.published++;
    if (this.shared) {
      // Whichever node's consumer has room takes it from there, this node's through `receive`.
      const expiresAt = this.expiryOf(message);
      this.shared.add(message, expiresAt === Infinity ? null : expiresAt);
      return EnqueueResult.Persisted;
    }
    const persisted = this.stored && message.properties.persistent === true;
    const entry = this.newEntry(message, seq, persisted);
    if (persisted) this.host.store.putMessage(this.name, seq, message, entry.expiresAt === Infinity ? null : entry.expiresAt);
    if (message.readyAt !== undefined && this.wait(entry, message.readyAt)) return persisted ? EnqueueResult.Persisted : EnqueueResult.Enqueued;
    this.pushReady(entry);
    this.dispatch();
    if (args.maxLength !== undefined || args.maxLengthBytes !== undefined) this.dropHeadsOverLimit();
    return persisted ? EnqueueResult.Persisted : EnqueueResult.Enqueued;
  }

  /** Puts a message back from the store at start-up, with the expiry it had. */
  restore(message: Message, seq: number, expiresAt: number | null): void {
    const entry = { ...this.newEntry(message, seq, true), expiresAt: expiresAt ?? Infinity };
    if (message.readyAt !== undefined && this.wait(entry, message.readyAt)) return;
    this.pushReady(entry);
    this.scheduleHeadExpiry();
  }

  /** Returns an unacknowledged message to its original position (docs/protocol.md, "Consuming"). */
  requeue(entry: QueueEntry): void {
    if (this.deleted) {
      // Deliveries outlive their deleted queue only to be acked; a requeue drops them.
      return;
    }
    entry.returns++;
    if (this.args.deliveryLimit !== undefined && entry.returns > this.args.deliveryLimit) {
      this.discard(entry, 'delivery_limit');
      return;
    }
    const delays = this.args.retryDelays;
    if (delays !== undefined && this.wait(entry, this.host.clock.now() + delays[Math.min(entry.returns - 1, delays.length - 1)])) return;
    this.reinsert(entry);
  }

  /** Messages waiting to be ready (`x-delay`, `x-retry-delays`): not counted as ready. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Holds `entry` back until `readyAt`, unless that time has come; false when it is ready now. */
  private wait(entry: QueueEntry, readyAt: number): boolean {
    if (readyAt <= this.host.clock.now()) return false;
    entry.readyAt = readyAt;
    this.waiting.push(entry);
    this.scheduleWaiting();
    return true;
  }

  private scheduleWaiting(): void {
    const next = this.waiting.nextReadyAt;
    if (next === Infinity || this.deleted || (this.waitingTimer !== undefined && this.waitingTimerAt <= next)) return;
    if (this.waitingTimer !== undefined) this.host.clock.clearTimer(this.waitingTimer);
    this.waitingTimerAt = next;
    this.waitingTimer = this.host.clock.setTimer(() => this.onWaitingReady(), Math.max(0, next - this.host.clock.now()));
  }

  /**
   * The first waiting messages' time came. A returned message goes back to its place, as any
   * requeued one; a message never delivered waited for its `x-delay` and joins the tail, as the
   * delayed-message exchange of RabbitMQ publishes it only then.
   */
  private onWaitingReady(): void {
    this.waitingTimer = undefined;
    this.waitingTimerAt = Infinity;
    for (const entry of this.waiting.takeReady(this.host.clock.now())) {
      if (entry.returns > 0) {
        entry.readyAt = 0;
        this.reinsert(entry);
      } else {
        this.pushReady({ ...entry, position: this.nextPosition++, readyAt: 0 });
        // Length limits count ready messages: one that joins a full queue pushes out its head.
        if (this.args.maxLength !== undefined || this.args.maxLengthBytes !== undefined) this.dropHeadsOverLimit();
      }
    }
    this.scheduleWaiting();
    this.dispatch();
  }

  /** Puts back a ready message taken but not delivered (a move the destination refused): not a return. */
  putBack(entry: QueueEntry): void {
    this.reinsert(entry);
    this.scheduleHeadExpiry();
  }

  private reinsert(entry: QueueEntry): void {
    this.ready[entry.priority].insertInOrder(entry);
    this.readyCount++;
    this.host.totals.messagesReady++;
    this.readyBytes += entry.message.size;
    // As RabbitMQ does on a requeue: a drop-head queue back over its limit drops from the head.
    const { overflow, maxLength, maxLengthBytes } = this.args;
    if (overflow === 'drop-head' && (maxLength !== undefined || maxLengthBytes !== undefined)) this.dropHeadsOverLimit();
  }

  /** Settles a delivered message for good: acked, or nacked without requeue (then dead-lettered). */
  settle(entry: QueueEntry, reason?: DeathReason): void {
    if (this.deleted) return;
    this.discard(entry, reason);
  }

  /** Pushes ready messages to consumers with room, round-robin among the highest priority. */
  dispatch(): void {
    if (this.dispatching || this.deleted) return;
    this.dispatching = true;
    try {
      while (this.readyCount > 0) {
        const consumer = this.nextConsumer();
        if (!consumer) break;
        const entry = this.takeReady();
        if (!entry) break;
        consumer.owner.deliver(consumer, entry);
      }
    } finally {
      this.dispatching = false;
    }
    if (this.shared) this.balanceShared(this.shared);
    this.scheduleHeadExpiry();
  }

  /** Gives up this node's turn (its last consumer went, or the queue is gone), for another node's consumers. */
  private endTurn(): void {
    this.activeTurn?.release();
    this.activeTurn = undefined;
  }

  /** A consumer this node may push to: with x-single-active-consumer in a cluster, only in this node's turn. */
  private get mayServe(): boolean {
    return this.activeTurn === undefined || this.activeTurn.held;
  }

  /** Whether `consumer` is the one served (the first, with x-single-active-consumer; in a cluster, in its node's turn). */
  isActive(consumer: Consumer): boolean {
    return !this.args.singleActiveConsumer || (this.consumers[0] === consumer && this.mayServe);
  }

  /**
   * Fetches what this node's consumers have room for beyond what it holds, and gives back what it
   * holds with no consumer left to take it, so that consumers on other nodes get it.
   */
  private balanceShared(shared: SharedQueue): void {
    if (this.consumers.length === 0 || !this.mayServe) {
      if (this.readyCount > 0 && this.fetchingForGets === 0) shared.giveBack(this.drainReady());
      shared.want(0);
      return;
    }
    // Room under the prefetch of consumers that can take pushes, and one prefetch window more
    // held here ahead of their acks, so that an ack is answered from this node's memory, not
    // after a read from Redis (without it a consumer waits a Redis round trip per window).
    let room = 0;
    for (const consumer of this.consumers) {
      if (!consumer.owner.canPush) continue;
      const window = consumer.prefetch === 0 ? UNLIMITED_PREFETCH_FETCH : consumer.prefetch;
      room += window + (consumer.prefetch === 0 ? 0 : Math.max(0, consumer.prefetch - consumer.unacked));
    }
    // Delayed messages held here count too: a node must not pull a queue's backlog of them.
    shared.want(Math.max(0, room - this.readyCount - this.waiting.length));
    if (this.readyCount > 0 && this.strandedTimer === undefined && !this.consumers.some((consumer) => consumer.hasRoom())) this.watchStranded(shared);
  }

  /**
   * Messages held ahead of consumers that stay full and take nothing (they do not ack) would wait
   * here while a consumer on another node is idle: held that long, they go back to the queue (at
   * its tail), and this node fetches again once one of its consumers has room.
   */
  private watchStranded(shared: SharedQueue): void {
    const deliveredBefore = this.deliveredCount;
    this.strandedTimer = this.host.clock.setTimer(() => {
      this.strandedTimer = undefined;
      if (this.deleted || this.readyCount === 0 || this.fetchingForGets > 0 || this.consumers.some((consumer) => consumer.hasRoom())) return;
      // Its consumers took messages meanwhile: slow, not stalled; what is held keeps its place.
      if (this.deliveredCount !== deliveredBefore) return this.watchStranded(shared);
      shared.giveBack(this.drainReady());
      shared.want(0);
    }, STRANDED_MS);
  }

  private get deliveredCount(): number {
    return this.counters.delivered + this.counters.deliveredNoAck;
  }

  private drainReady(): SharedEntry[] {
    const entries: SharedEntry[] = [];
    for (const deque of this.ready) {
      for (const { seq, message, returns, expiresAt } of deque.drain()) entries.push({ seq, message, returns, expiresAt: expiresAt === Infinity ? null : expiresAt });
    }
    this.host.totals.messagesReady -= this.readyCount;
    this.readyCount = 0;
    this.readyBytes = 0;
    return entries;
  }

  /**
   * Before a `get`: in a cluster, a queue holding no message here fetches one from the shared
   * queue (resolves once it is here, or there was none); undefined when `get` may run at once.
   */
  beforeGet(): Promise<void> | undefined {
    const shared = this.shared;
    if (!shared || this.readyCount > 0) return undefined;
    this.fetchingForGets++;
    return shared.fetchOne().finally(() => {
      this.fetchingForGets--;
      // After the get had its turn (it may have failed before taking the message): what it
      // fetched and no one took goes back.
      this.host.clock.setTimer(() => {
        if (this.fetchingForGets === 0 && !this.deleted) this.balanceShared(shared);
      }, 0);
    });
  }

  /** The next ready message for a `get`, or undefined. */
  get(): QueueEntry | undefined {
    this.touch();
    const entry = this.takeReady();
    // What a get fetched and another get took first goes back, with no consumer here.
    if (this.shared) this.balanceShared(this.shared);
    this.scheduleHeadExpiry();
    return entry;
  }

  /** Throws what a consume with `options` is refused for by this kind of queue, before the consumer exists. */
  checkConsume(_options: ConsumeOptions): void {}

  addConsumer(consumer: Consumer): void {
    this.consumers.push(consumer);
    this.host.totals.consumers++;
    this.everHadConsumer = true;
    if (this.shared && this.args.singleActiveConsumer && !this.activeTurn && this.host.store.lease) this.activeTurn = this.host.store.lease(`q:${this.name}`, () => this.dispatch());
    this.cancelUnusedExpiry();
    this.dispatch();
  }

  removeConsumer(consumer: Consumer): void {
    const index = this.consumers.indexOf(consumer);
    if (index < 0) return;
    this.consumers.splice(index, 1);
    this.host.totals.consumers--;
    // With a single active consumer, the next one in line may now take over; a shared queue
    // gives back what it holds once its last consumer here is gone.
    if (this.consumers.length === 0) this.endTurn();
    if (this.consumers.length > 0 || this.shared) this.dispatch();
    if (this.consumers.length > 0) return;
    if (this.options.autoDelete && this.everHadConsumer) this.host.removeQueue(this);
    else this.touch();
  }

  /** Marks the queue as used (declare, `get`): restarts the `x-expires` countdown. */
  touch(): void {
    if (this.args.expires !== undefined && this.consumers.length === 0) this.scheduleUnusedExpiry();
  }

  /** Removes every ready and waiting message (not the unacknowledged ones); returns how many (in a shared queue, as last counted). */
  purge(): number {
    let count = this.shared?.readyElsewhere ?? 0;
    this.shared?.purge();
    for (const entry of this.waiting.drain()) {
      this.discard(entry);
      count++;
    }
    for (const deque of this.ready) {
      for (const entry of deque.drain()) {
        this.discard(entry);
        count++;
      }
    }
    this.host.totals.messagesReady -= this.readyCount;
    this.readyCount = 0;
    this.readyBytes = 0;
    return count;
  }

  /** Called by the broker when the queue is deleted: stops timers, cancels consumers; returns the ready count. */
  destroy(): number {
    const count = this.readyCount;
    this.deleted = true;
    this.clearTimers();
    this.endTurn();
    const totals = this.host.totals;
    totals.consumers -= this.consumers.length;
    totals.messagesReady -= this.readyCount;
    totals.messagesUnacknowledged -= this.unackedCount;
    this.unackedCount = 0;
    for (const consumer of this.consumers.splice(0)) consumer.owner.consumerGone(consumer, true);
    for (const deque of this.ready) deque.drain();
    this.waiting.drain();
    this.readyCount = 0;
    this.readyBytes = 0;
    return count;
  }

  clearTimers(): void {
    if (this.expiryTimer !== undefined) this.host.clock.clearTimer(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryAt = Infinity;
    if (this.waitingTimer !== undefined) this.host.clock.clearTimer(this.waitingTimer);
    this.waitingTimer = undefined;
    this.waitingTimerAt = Infinity;
    if (this.strandedTimer !== undefined) this.host.clock.clearTimer(this.strandedTimer);
    this.strandedTimer = undefined;
    this.cancelUnusedExpiry();
  }

  /** When a message enqueued now expires (Infinity without a TTL): fixed on arrival, as RabbitMQ's classic queues do. */
  private expiryOf(message: Message): number {
    const ttl = minTtl(this.args.messageTtl, message.properties.expiration);
    return ttl === undefined ? Infinity : this.host.clock.now() + ttl;
  }

  private newEntry(message: Message, seq: number, persisted: boolean): QueueEntry {
    const expiresAt = this.expiryOf(message);
    const maxPriority = this.args.maxPriority;
    const priority = maxPriority === undefined ? 0 : Math.min(message.properties.priority ?? 0, maxPriority);
    return { seq, position: this.nextPosition++, message, expiresAt, priority, returns: 0, readyAt: 0, persisted };
  }

  private isFull(size: number): boolean {
    const { maxLength, maxLengthBytes } = this.args;
    // In a cluster the count includes what Redis holds that no node has, as last counted there.
    return (maxLength !== undefined && this.messageCount >= maxLength) || (maxLengthBytes !== undefined && this.readyBytes + size > maxLengthBytes);
  }

  private dropHeadsOverLimit(): void {
    const { maxLength, maxLengthBytes } = this.args;
    while (
      this.readyCount > 0 &&
      ((maxLength !== undefined && this.readyCount > maxLength) || (maxLengthBytes !== undefined && this.readyBytes > maxLengthBytes))
    ) {
      this.discard(this.shiftHead() as QueueEntry, 'maxlen');
    }
    this.scheduleHeadExpiry();
  }

  private nextConsumer(): Consumer | undefined {
    const consumers = this.consumers;
    if (consumers.length === 0) return undefined;
    if (this.args.singleActiveConsumer) return this.mayServe && consumers[0].hasRoom() ? consumers[0] : undefined;
    let best: Consumer | undefined;
    let bestIndex = 0;
    for (let i = 0; i < consumers.length; i++) {
      const index = (this.nextConsumerIndex + i) % consumers.length;
      const consumer = consumers[index];
      if ((!best || consumer.priority > best.priority) && consumer.hasRoom()) {
        best = consumer;
        bestIndex = index;
      }
    }
    this.nextConsumerIndex = bestIndex + 1;
    return best;
  }

  private pushReady(entry: QueueEntry): void {
    this.ready[entry.priority].push(entry);
    this.readyCount++;
    this.readyBytes += entry.message.size;
    this.host.totals.messagesReady++;
  }

  private peekHead(): QueueEntry | undefined {
    for (let priority = this.ready.length - 1; priority >= 0; priority--) {
      const entry = this.ready[priority].peek();
      if (entry) return entry;
    }
    return undefined;
  }

  private shiftHead(): QueueEntry | undefined {
    for (let priority = this.ready.length - 1; priority >= 0; priority--) {
      const entry = this.ready[priority].shift();
      if (entry) {
        this.readyCount--;
        this.readyBytes -= entry.message.size;
        this.host.totals.messagesReady--;
        return entry;
      }
    }
    return undefined;
  }

  /** The head, skipping (and dead-lettering) expired messages: an expired message is never delivered. */
  private takeReady(): QueueEntry | undefined {
    for (;;) {
      const entry = this.shiftHead();
      if (!entry || entry.expiresAt === Infinity || this.host.clock.now() <= entry.expiresAt) return entry;
      this.discard(entry, 'expired');
    }
  }

  private discard(entry: QueueEntry, reason?: DeathReason): void {
    const shared = this.shared;
    if (shared && reason) return this.discardShared(shared, entry, reason);
    if (shared) shared.remove(entry.seq);
    else if (entry.persisted) this.host.store.removeMessage(this.name, entry.seq);
    if (reason) this.died(entry.message, reason);
  }

  // Split out of discard: a closure there makes V8 allocate its context on every call (each ack),
  // though only a cluster's dead-lettering takes this path.
  private discardShared(shared: SharedQueue, entry: QueueEntry, reason: DeathReason): void {
    // The message leaves the shared queue and reaches its dead-letter targets in one step.
    const work = () => {
      shared.remove(entry.seq);
      this.died(entry.message, reason);
    };
    const { store } = this.host;
    if (store.atomically) store.atomically(work);
    else work();
  }

  /** A message died: dead-lettered when the queue has a dead-letter exchange, dropped otherwise; counted either way. */
  private died(message: Message, reason: DeathReason): void {
    if (this.args.deadLetterExchange === undefined) {
      countDeath(this.host.counters, 'deadDropped', reason);
      countDeath(this.counters, 'deadDropped', reason);
      return;
    }
    countDeath(this.host.counters, 'deadLettered', reason);
    countDeath(this.counters, 'deadLettered', reason);
    if (this.host.deadLetter(this, message, reason)) return;
    this.host.counters.deadLetterDropped++;
    this.counters.deadLetterDropped++;
  }

  /** One timer per queue, for the head's expiry: expired messages leave without waiting for a consumer. */
  private scheduleHeadExpiry(): void {
    const head = this.peekHead();
    if (!head || head.expiresAt === Infinity || this.deleted) return;
    if (this.expiryTimer !== undefined && this.expiryAt <= head.expiresAt) return;
    if (this.expiryTimer !== undefined) this.host.clock.clearTimer(this.expiryTimer);
    this.expiryAt = head.expiresAt;
    const delay = Math.max(0, head.expiresAt - this.host.clock.now() + 1);
    this.expiryTimer = this.host.clock.setTimer(() => this.onHeadExpiry(), delay);
  }

  private onHeadExpiry(): void {
    this.expiryTimer = undefined;
    this.expiryAt = Infinity;
    const now = this.host.clock.now();
    for (let head = this.peekHead(); head && head.expiresAt < now; head = this.peekHead()) {
      this.discard(this.shiftHead() as QueueEntry, 'expired');
    }
    this.scheduleHeadExpiry();
  }

  private scheduleUnusedExpiry(): void {
    if (this.args.expires === undefined || this.deleted) return;
    this.cancelUnusedExpiry();
    this.unusedTimer = this.host.clock.setTimer(() => this.onUnused(), this.args.expires);
  }

  private cancelUnusedExpiry(): void {
    if (this.unusedTimer !== undefined) this.host.clock.clearTimer(this.unusedTimer);
    this.unusedTimer = undefined;
  }

  private onUnused(): void {
    this.unusedTimer = undefined;
    if (this.consumers.length === 0 && !this.deleted) this.host.removeQueue(this);
  }
}

function minTtl(queueTtl: number | undefined, expiration: number | undefined): number | undefined {
  if (queueTtl === undefined) return expiration;
  if (expiration === undefined) return queueTtl;
  return Math.min(queueTtl, expiration);
}
