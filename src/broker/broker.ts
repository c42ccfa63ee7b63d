import type { Connection, ConnectionHost, ConnectionLimits } from './connection.js';
import { deadLetteredCopy, isDeathCycle, type DeathReason } from './dead-letter.js';
import { accessRefused, BrokerError, notFound, preconditionFailed, resourceError, resourceLocked } from './errors.js';
import { Exchange, type Binding, type Destination } from './exchange.js';
import { jsonEqual } from './json-equal.js';
import { Policy, winningPolicy, type PolicyDefinition } from './policy.js';
import { MAX_DELAY_MS, parseQueueArguments, sameQueueOptions } from './queue-arguments.js';
import { EnqueueResult, newCounters, Queue, type QueueHost, type VhostTotals } from './queue.js';
import { RelayQueue } from './relay-queue.js';
import { StreamQueue } from './stream-queue.js';
import type { MessageStore, StoredBinding, StoredRelayBinding } from './store-port.js';
import { systemClock, type Clock, type ExchangeOptions, type ExchangeType, type Message, type QueueOptions } from './types.js';

/** Bits of a publish's outcome (docs/protocol.md, "Publishing and confirms"). */
export const ROUTED = 1;
/** A queue with `reject-publish` overflow refused the message: the confirm is negative. */
export const REJECTED = 2;
/** The message went to the store: its confirm waits for `store.sync()`. */
export const PERSISTED = 4;

export interface QueueDeclareResult {
  queue: string;
  messageCount: number;
  consumerCount: number;
}

/** Resource limits (docs/configuration.md, "Limits, timeouts and alarms"); the model's defaults are unlimited. */
export interface BrokerLimits extends ConnectionLimits {
  maxQueues: number;
  maxExchanges: number;
  maxBindings: number;
}

const UNLIMITED: BrokerLimits = {
  maxQueues: Infinity,
  maxExchanges: Infinity,
  maxBindings: Infinity,
  maxConsumersPerConnection: Infinity,
  maxUnackedPerConnection: Infinity,
  consumerTimeoutMs: 0,
};

const NO_BINDINGS: ReadonlySet<Binding> = new Set();

const BUILT_IN_EXCHANGES: [string, ExchangeType][] = [
  ['', 'direct'],
  ['amq.direct', 'direct'],
  ['amq.fanout', 'fanout'],
  ['amq.topic', 'topic'],
  ['amq.headers', 'headers'],
];

/** Something the operator should hear of, which the model cannot log itself (it does no I/O). */
export interface BrokerNotice {
  /** A queue dead-lettered a message into an exchange that does not exist: the message was dropped. */
  kind: 'dead-letter-exchange-missing';
  queue: string;
  exchange: string;
}

/**
 * The broker's model: exchanges, bindings, queues and routing. No sockets, no JSON, no timers of
 * its own; every rule of docs/protocol.md is here and testable without I/O.
 */
export class Broker implements QueueHost, ConnectionHost {
  /** Counts the management API reads; queues and connections keep them up to date. */
  readonly totals: VhostTotals = { messagesReady: 0, messagesUnacknowledged: 0, consumers: 0, connections: 0 };
  /** What happened to messages since start-up; the management API makes rates of them. */
  readonly counters = newCounters();
  private readonly exchanges = new Map<string, Exchange>();
  private readonly queues = new Map<string, Queue>();
  private readonly policies = new Map<string, Policy>();
  /** In a cluster: the other nodes with exclusive queues bound here, each as one destination. */
  private readonly relays = new Map<string, RelayQueue>();
  /** Bindings by destination, made on a destination's first binding: what unbinding and deleting look up. */
  /** The bindings into each queue and exchange that has any: the binding itself while it is the only one (most queues), a Set past that. */
  private readonly bindingsInto = new Map<Destination, Binding | Set<Binding>>();
  private seq = 0;
  private routeEpoch = 0;
  private bindingCount = 0;

  private constructor(
    readonly store: MessageStore,
    readonly clock: Clock,
    readonly limits: BrokerLimits,
    private readonly onNotice: (notice: BrokerNotice) => void,
  ) {
    const builtIn: ExchangeOptions = { durable: true, autoDelete: false, internal: false, arguments: {} };
    for (const [name, type] of BUILT_IN_EXCHANGES) this.exchanges.set(name, new Exchange(name, type, builtIn));
  }

  /** A broker with the durable state the store recovers. */
  static async open(store: MessageStore, clock: Clock = systemClock, limits: Partial<BrokerLimits> = {}, onNotice: (notice: BrokerNotice) => void = () => {}): Promise<Broker> {
    const broker = new Broker(store, clock, { ...UNLIMITED, ...limits }, onNotice);
    const state = await store.recover();
    for (const policy of state.policies) broker.policies.set(policy.name, new Policy(policy));
    for (const { name, type, options } of state.exchanges) broker.exchanges.set(name, new Exchange(name, type, options, broker.exchangePolicy(name)));
    for (const { name, options } of state.queues) broker.queues.set(name, broker.newQueue(name, options, null, true));
    for (const binding of state.bindings) {
      const source = broker.exchanges.get(binding.source);
      const destination = binding.destinationType === 'queue' ? broker.queues.get(binding.destination) : broker.exchanges.get(binding.destination);
      if (source && destination) broker.link(source, destination, binding.routingKey, binding.arguments);
    }
    for (const binding of state.relayBindings ?? []) broker.bindRelay(binding, true);
    for (const queue of broker.queues.values()) if (queue instanceof StreamQueue) queue.openLog();
    for (const { queue, seq, message, expiresAt } of state.messages) {
      broker.queues.get(queue)?.restore(message, seq, expiresAt);
      broker.seq = Math.max(broker.seq, seq);
    }
    return broker;
  }

  // docs/protocol.md, "Exchanges"
  declareExchange(name: string, type: ExchangeType | undefined, options: ExchangeOptions, passive: boolean): void {
    const existing = this.exchanges.get(name);
    if (passive) {
      if (!existing) throw notFound(`exchange "${name}"`);
      return;
    }
    if (this.checkExchangeDeclare(name, type, options)) return;
    // The check refused an undefined type.
    const exchangeType = type as ExchangeType;
    this.exchanges.set(name, new Exchange(name, exchangeType, options, this.exchangePolicy(name)));
    if (this.keeps(options)) this.store.putExchange({ name, type: exchangeType, options });
  }

  /**
   * Throws what declaring the exchange would throw, changing nothing (a definitions import checks
   * every entry before it applies any); true when an equivalent exchange exists already.
   */
  checkExchangeDeclare(name: string, type: ExchangeType | undefined, options: ExchangeOptions): boolean {
    if (name === '') throw accessRefused('the default exchange "" always exists and cannot be declared');
    if (name.startsWith('amq.')) throw accessRefused(`exchange names starting with "amq." are reserved; "${name}" cannot be declared`);
    if (type === undefined) throw new BrokerError('SYNTAX_ERROR', 'exchange.declare needs a "type" unless it is passive');
    const existing = this.exchanges.get(name);
    if (existing) {
      if (existing.type !== type || !jsonEqual(existing.options, options)) {
        throw preconditionFailed(
          `exchange "${name}" already exists as ${describeExchange(existing.type, existing.options)}; redeclare it with the same properties, or delete it first`,
        );
      }
      return true;
    }
    const alternate = options.arguments['alternate-exchange'];
    if (alternate !== undefined && typeof alternate !== 'string') {
      throw preconditionFailed(`exchange argument alternate-exchange must be a string (got ${JSON.stringify(alternate)})`);
    }
    // The built-in exchanges do not count against the limit.
    if (this.exchanges.size - BUILT_IN_EXCHANGES.length >= this.limits.maxExchanges) {
      throw resourceError(`cannot declare exchange "${name}": the broker has ${this.limits.maxExchanges} exchanges, the limit (limits.maxExchanges)`);
    }
    return false;
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    if (name === '' || name.startsWith('amq.')) throw accessRefused(`exchange "${name}" is built in and cannot be deleted`);
    const exchange = this.exchanges.get(name);
    if (!exchange) return;
    if (ifUnused && exchange.bindings.size > 0) throw preconditionFailed(`exchange "${name}" has bindings, and ifUnused was set`);
    this.removeExchange(exchange);
  }

  bindExchange(destinationName: string, sourceName: string, routingKey: string, args: Record<string, unknown>): void {
    if (destinationName === '') throw accessRefused('the default exchange "" cannot be bound');
    const { source, destination } = this.bindingEnds(sourceName, this.exchanges.get(destinationName), `exchange "${destinationName}"`);
    if (!this.findBinding(source, destination, routingKey, args)) this.persistBinding(this.link(source, destination, routingKey, args), 'put');
  }

  unbindExchange(destinationName: string, sourceName: string, routingKey: string, args: Record<string, unknown>): void {
    this.unlink(this.exchanges.get(sourceName), this.exchanges.get(destinationName), routingKey, args);
  }

  // docs/protocol.md, "Queues": `owner` is null for definitions loaded at start-up; `serverName` is
  // what `requestedName` "" becomes (permissions are checked on it before the declare).
  declareQueue(owner: Connection | null, requestedName: string, options: QueueOptions, passive: boolean, serverName = newQueueName()): QueueDeclareResult {
    if (passive) {
      const queue = this.queueFor(owner, requestedName);
      queue.touch();
      return declared(queue);
    }
    if (requestedName.startsWith('amq.')) throw accessRefused(`queue names starting with "amq." are reserved; "${requestedName}" cannot be declared`);
    const name = requestedName === '' ? serverName : requestedName;
    const existing = this.checkQueueDeclare(owner, name, options);
    if (existing) {
      existing.touch();
      return declared(existing);
    }
    const queue = this.newQueue(name, options, options.exclusive ? owner : null);
    this.queues.set(name, queue);
    if (queue.owner) {
      queue.owner.exclusiveQueues.add(queue);
      this.defaultRelay(queue, 1);
    }
    return declared(queue);
  }

  /**
   * Throws what declaring the queue would throw, changing nothing (invalid arguments included);
   * returns the equivalent queue that exists already, if any.
   */
  checkQueueDeclare(owner: Connection | null, name: string, options: QueueOptions): Queue | undefined {
    const existing = this.queues.get(name);
    if (existing) {
      this.checkExclusiveAccess(owner, existing);
      if (!sameQueueOptions(existing.options, options)) {
        throw preconditionFailed(`queue "${name}" already exists with other properties or arguments; redeclare it with the same ones, or delete it first`);
      }
      return existing;
    }
    if (this.queues.size >= this.limits.maxQueues) {
      throw resourceError(`cannot declare queue "${name}": the broker has ${this.limits.maxQueues} queues, the limit (limits.maxQueues)`);
    }
    if (options.exclusive && !owner) throw preconditionFailed(`queue "${name}" cannot be exclusive: only a connection can own an exclusive queue`);
    parseQueueArguments(name, options);
    return undefined;
  }

  bindQueue(owner: Connection | null, queueName: string, exchangeName: string, routingKey: string, args: Record<string, unknown>): void {
    const queue = this.queueFor(owner, queueName);
    const { source, destination } = this.bindingEnds(exchangeName, queue, `queue "${queueName}"`);
    if (!this.findBinding(source, destination, routingKey, args)) this.persistBinding(this.link(source, destination, routingKey, args), 'put');
  }

  unbindQueue(owner: Connection | null, queueName: string, exchangeName: string, routingKey: string, args: Record<string, unknown>): void {
    const queue = this.queues.get(queueName);
    if (queue) this.checkExclusiveAccess(owner, queue);
    if (exchangeName === '') throw accessRefused('the default exchange "" cannot be bound or unbound');
    this.unlink(this.exchanges.get(exchangeName), queue, routingKey, args);
  }

  purgeQueue(owner: Connection | null, name: string): number {
    return this.queueFor(owner, name).purge();
  }

  deleteQueue(owner: Connection | null, name: string, ifUnused: boolean, ifEmpty: boolean): number {
    const queue = this.queues.get(name);
    if (!queue) return 0;
    this.checkExclusiveAccess(owner, queue);
    if (ifUnused && queue.consumers.length > 0) throw preconditionFailed(`queue "${name}" has consumers, and ifUnused was set`);
    if (ifEmpty && queue.messageCount + queue.waitingCount > 0) {
      const delayed = queue.waitingCount > 0 ? ` and ${queue.waitingCount} delayed` : '';
      throw preconditionFailed(`queue "${name}" has ${queue.messageCount} ready${delayed} messages, and ifEmpty was set`);
    }
    return this.removeQueue(queue);
  }

  /**
   * Routes a message and enqueues it in every queue it reaches, at most once each; returns
   * ROUTED | REJECTED | PERSISTED bits. Throws NOT_FOUND for a missing exchange.
   */
  publish(exchangeName: string, published: Message): number {
    const exchange = this.exchanges.get(exchangeName);
    if (!exchange) throw notFound(`exchange "${exchangeName}"`);
    if (exchange.options.internal) throw accessRefused(`exchange "${exchangeName}" is internal: publish to an exchange bound to it instead`);
    const delay = published.headers['x-delay'];
    const message = delay === undefined ? published : this.delayed(published, delay);
    const queues = this.route(exchange, message);
    this.counters.published++;
    if (queues.length === 0) {
      this.counters.unroutable++;
      return 0;
    }
    const seq = ++this.seq;
    let outcome = ROUTED;
    for (let i = 0; i < queues.length; i++) {
      const result = queues[i].enqueue(message, seq);
      if (result === EnqueueResult.Rejected) outcome |= REJECTED;
      else if (result === EnqueueResult.Persisted) outcome |= PERSISTED;
    }
    return outcome;
  }

  /**
   * A message another node routed here for this node's exclusive queues (it enqueued it in every
   * shared one): routed again, into the exclusive queues of this node only.
   */
  publishRelayed(message: Message): void {
    const exchange = this.exchanges.get(message.exchange);
    if (!exchange) return;
    for (const queue of this.route(exchange, message)) {
      if (!queue.stored && !(queue instanceof RelayQueue)) queue.enqueue(message, ++this.seq);
    }
  }

  /** In a cluster: node `binding.node` has exclusive queues bound with this key (`bound` true) or no longer (false). */
  bindRelay(binding: StoredRelayBinding, bound: boolean): void {
    const source = this.exchanges.get(binding.source);
    if (!source) return;
    let relay = this.relays.get(binding.node);
    if (!relay) {
      if (!bound) return;
      relay = new RelayQueue(binding.node, this, (node, message) => this.store.relay?.(node, message));
      this.relays.set(binding.node, relay);
    }
    const existing = this.findBinding(source, relay, binding.routingKey, binding.arguments);
    if (bound && !existing) this.link(source, relay, binding.routingKey, binding.arguments);
    else if (!bound && existing) this.removeBinding(existing);
  }

  /**
   * Moves up to `count` ready messages from the head of `sourceName` to `destinationName`, as they
   * are (headers, `x-death` included), in order; returns how many moved. A message is in the
   * destination (and its store) before it leaves the source, so a crash in between duplicates it
   * rather than losing it. Stops early when the destination refuses one (it is full), which stays
   * at the source's head. Unacknowledged deliveries are not moved.
   */
  moveMessages(sourceName: string, destinationName: string, count = Infinity): number {
    const source = this.queueFor(null, sourceName);
    const destination = this.queueFor(null, destinationName);
    if (source === destination) throw preconditionFailed(`cannot move messages from queue "${sourceName}" to itself`);
    let moved = 0;
    while (moved < count) {
      const entry = source.get();
      if (!entry) break;
      if (destination.refuses(entry.message)) {
        source.putBack(entry);
        break;
      }
      destination.enqueue(entry.message, ++this.seq);
      source.settle(entry);
      moved++;
    }
    return moved;
  }

  /** The stream queue a connection may read (fetch, commit, committed); PRECONDITION_FAILED for another kind of queue. */
  streamFor(owner: Connection | null, name: string): StreamQueue {
    const queue = this.queueFor(owner, name);
    if (!(queue instanceof StreamQueue)) throw preconditionFailed(`queue "${name}" is not a stream: fetch, commit and committed read stream queues (x-queue-type "stream")`);
    return queue;
  }

  /** The queue a connection may use; NOT_FOUND or RESOURCE_LOCKED otherwise. */
  queueFor(owner: Connection | null, name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw notFound(`queue "${name}"`);
    this.checkExclusiveAccess(owner, queue);
    return queue;
  }

  /** Deletes a queue: its consumers are cancelled, its bindings go; returns its ready count. */
  removeQueue(queue: Queue): number {
    if (this.queues.get(queue.name) !== queue) return 0;
    this.queues.delete(queue.name);
    if (queue.owner) {
      queue.owner.exclusiveQueues.delete(queue);
      this.defaultRelay(queue, -1);
    }
    this.removeBindingsInto(queue);
    if (queue.stored) this.store.deleteQueue(queue.name);
    return queue.destroy();
  }

  deadLetter(queue: Queue, message: Message, reason: DeathReason): boolean {
    const exchangeName = queue.args.deadLetterExchange as string;
    const exchange = this.exchanges.get(exchangeName);
    if (!exchange) {
      // RabbitMQ drops these without a word; say it once per queue, as it starts happening.
      if (queue.missingDeadLetterExchange !== exchangeName) {
        queue.missingDeadLetterExchange = exchangeName;
        this.onNotice({ kind: 'dead-letter-exchange-missing', queue: queue.name, exchange: exchangeName });
      }
      return false;
    }
    queue.missingDeadLetterExchange = undefined;
    const copy = deadLetteredCopy(message, queue.name, reason, exchangeName, queue.args.deadLetterRoutingKey, this.clock.now());
    const targets = this.route(exchange, copy).filter((target) => !isDeathCycle(copy, target.name));
    if (targets.length === 0) return false;
    const seq = ++this.seq;
    for (const target of targets) target.enqueue(copy, seq);
    return true;
  }

  /** `message` held back by its `x-delay` header (docs/protocol.md, "Delayed redelivery and delayed messages"). */
  private delayed(message: Message, delay: unknown): Message {
    if (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_MS) {
      throw preconditionFailed(`header x-delay must be a delay in ms, an integer from 0 to ${MAX_DELAY_MS} (got ${JSON.stringify(delay)})`);
    }
    return delay === 0 ? message : { ...message, readyAt: this.clock.now() + delay };
  }

  /**
   * Sets a policy (docs/management.md, "Policies"): kept in the store, and applied at once to the
   * queues and exchanges it now matches and to those it no longer does. Throws
   * PRECONDITION_FAILED when it is invalid. Returns whether it replaced one of the same name.
   */
  setPolicy(definition: PolicyDefinition): boolean {
    const policy = new Policy(definition);
    const replaced = this.policies.has(policy.name);
    this.policies.set(policy.name, policy);
    this.store.putPolicy(policy.definition);
    this.applyPolicies();
    return replaced;
  }

  /** Removes a policy, and its effects; false when there is none by that name. */
  deletePolicy(name: string): boolean {
    if (!this.policies.delete(name)) return false;
    this.store.deletePolicy(name);
    this.applyPolicies();
    return true;
  }

  /** The policies, for management (read them, do not change them). */
  allPolicies(): IterableIterator<Policy> {
    return this.policies.values();
  }

  getPolicy(name: string): Policy | undefined {
    return this.policies.get(name);
  }

  /** Names of the queues, for management and tests. */
  queueNames(): string[] {
    return [...this.queues.keys()];
  }

  /** Every queue, for management (read them, do not change them). */
  allQueues(): IterableIterator<Queue> {
    return this.queues.values();
  }

  get queueCount(): number {
    return this.queues.size;
  }

  /** Every exchange, the built-in ones included, for management (read them, do not change them). */
  allExchanges(): IterableIterator<Exchange> {
    return this.exchanges.values();
  }

  /** An exchange by name ("" is the default exchange), for management. */
  getExchange(name: string): Exchange | undefined {
    return this.exchanges.get(name);
  }

  /** The bindings into a queue or an exchange, for management (read them, do not change them). */
  bindingsOf(destination: Destination): Iterable<Binding> {
    const into = this.bindingsInto.get(destination);
    return into === undefined ? NO_BINDINGS : into instanceof Set ? into : [into];
  }

  get exchangeCount(): number {
    return this.exchanges.size;
  }

  /** The type of an exchange, or undefined when there is none by that name. */
  exchangeType(name: string): ExchangeType | undefined {
    return this.exchanges.get(name)?.type;
  }

  /** A queue by name, without access checks (management, tests). */
  getQueue(name: string): Queue | undefined {
    return this.queues.get(name);
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** Stops every timer, so the process can exit; the state stays in the store. */
  shutdown(): void {
    for (const queue of this.queues.values()) queue.clearTimers();
  }

  /** Throws PRECONDITION_FAILED for invalid arguments. */
  private newQueue(name: string, options: QueueOptions, owner: Connection | null, recovered = false): Queue {
    const queue = options.arguments['x-queue-type'] === 'stream' ? new StreamQueue(name, options, this) : new Queue(name, options, owner, this);
    // The policy is looked up once the queue's type is known from its arguments.
    queue.applyPolicy(this.queuePolicy(queue));
    if (!recovered && queue.stored) this.store.putQueue({ name, options });
    // After the put: a shared store makes the queue's place for messages with it.
    if (queue.stored && !(queue instanceof StreamQueue) && this.store.openShared) queue.share(this.store.openShared(name, queue));
    return queue;
  }

  private queuePolicy(queue: Queue): Policy | undefined {
    return this.policies.size === 0 ? undefined : winningPolicy(this.policies.values(), (policy) => policy.appliesToQueue(queue.name, queue.type));
  }

  private exchangePolicy(name: string): Policy | undefined {
    // The default exchange routes by queue name only: nothing of a policy applies to it.
    return this.policies.size === 0 || name === '' ? undefined : winningPolicy(this.policies.values(), (policy) => policy.appliesToExchange(name));
  }

  private applyPolicies(): void {
    for (const queue of this.queues.values()) queue.applyPolicy(this.queuePolicy(queue));
    for (const exchange of this.exchanges.values()) exchange.applyPolicy(this.exchangePolicy(exchange.name));
  }

  /** Every queue the message reaches from `exchange`, once each, with alternate exchanges for what routes nowhere. */
  private route(exchange: Exchange, message: Message): Queue[] {
    const epoch = ++this.routeEpoch;
    const queues: Queue[] = [];
    for (let current: Exchange | undefined = exchange; current && current.routeMark !== epoch; ) {
      this.collect(current, message, epoch, queues);
      if (queues.length > 0) break;
      const alternate: string | undefined = current.alternateExchange;
      current = alternate === undefined ? undefined : this.exchanges.get(alternate);
    }
    return queues;
  }

  private collect(exchange: Exchange, message: Message, epoch: number, queues: Queue[]): void {
    if (exchange.routeMark === epoch) return;
    exchange.routeMark = epoch;
    if (exchange.name === '') {
      const queue = this.queues.get(message.routingKey);
      if (queue) {
        if (queue.routeMark !== epoch) {
          queue.routeMark = epoch;
          queues.push(queue);
        }
        return;
      }
      // No client can bind the default exchange: its only bindings are a cluster's relays to other
      // nodes' exclusive queues, by their names.
      if (exchange.bindings.size === 0) return;
    }
    // Without iterators: a publish is seldom hot enough to be optimised, and unoptimised `for…of`
    // makes an object per step (10,000 for one publish to a wide fan-out).
    if (exchange.type === 'fanout') {
      exchange.bindings.forEach((binding) => this.reach(binding.destination, message, epoch, queues));
      return;
    }
    const matched = exchange.match(message);
    for (let i = 0; i < matched.length; i++) this.reach(matched[i].destination, message, epoch, queues);
  }

  private reach(destination: Destination, message: Message, epoch: number, queues: Queue[]): void {
    if (destination.kind === 'queue') {
      if (destination.routeMark !== epoch) {
        destination.routeMark = epoch;
        queues.push(destination);
      }
    } else {
      this.collect(destination, message, epoch, queues);
    }
  }

  private bindingEnds<T extends Destination>(sourceName: string, destination: T | undefined, destinationLabel: string): { source: Exchange; destination: T } {
    if (sourceName === '') throw accessRefused('the default exchange "" cannot be bound: every queue is already bound to it by its own name');
    const source = this.exchanges.get(sourceName);
    if (!source) throw notFound(`exchange "${sourceName}"`);
    if (!destination) throw notFound(destinationLabel);
    return { source, destination };
  }

  private link(source: Exchange, destination: Destination, routingKey: string, args: Record<string, unknown>): Binding {
    if (this.bindingCount >= this.limits.maxBindings) {
      throw resourceError(`cannot bind to exchange "${source.name}": the broker has ${this.limits.maxBindings} bindings, the limit (limits.maxBindings)`);
    }
    const binding = source.addBinding(destination, routingKey, args);
    this.bindingCount++;
    const into = this.bindingsInto.get(destination);
    if (into === undefined) this.bindingsInto.set(destination, binding);
    else if (into instanceof Set) into.add(binding);
    else this.bindingsInto.set(destination, new Set([into, binding]));
    return binding;
  }

  private findBinding(source: Exchange, destination: Destination, routingKey: string, args: Record<string, unknown>): Binding | undefined {
    // Searched from the destination's side: a queue has few bindings, a fanout exchange may have thousands.
    for (const binding of this.bindingsOf(destination)) {
      if (binding.source === source && binding.routingKey === routingKey && jsonEqual(binding.arguments, args)) return binding;
    }
    return undefined;
  }

  private unlink(source: Exchange | undefined, destination: Destination | undefined, routingKey: string, args: Record<string, unknown>): void {
    if (!source || !destination) return;
    const binding = this.findBinding(source, destination, routingKey, args);
    if (binding) this.removeBinding(binding);
  }

  private removeBinding(binding: Binding): void {
    binding.source.removeBinding(binding);
    this.bindingCount--;
    const into = this.bindingsInto.get(binding.destination);
    if (into === binding || (into instanceof Set && into.delete(binding) && into.size === 0)) this.bindingsInto.delete(binding.destination);
    this.persistBinding(binding, 'delete');
    const source = binding.source;
    if (source.options.autoDelete && source.everBound && source.bindings.size === 0) this.removeExchange(source);
  }

  private removeBindingsInto(destination: Destination): void {
    for (const binding of [...this.bindingsOf(destination)]) this.removeBinding(binding);
  }

  private removeExchange(exchange: Exchange): void {
    if (this.exchanges.get(exchange.name) !== exchange) return;
    this.exchanges.delete(exchange.name);
    for (const binding of [...exchange.bindings]) this.removeBinding(binding);
    this.removeBindingsInto(exchange);
    if (this.keeps(exchange.options)) this.store.deleteExchange(exchange.name);
  }

  /**
   * In a cluster, an exclusive queue is reached through the default exchange by its name from
   * every node (a reply queue's name in `replyTo`): as a binding from "" for the other nodes' relays.
   */
  private defaultRelay(queue: Queue, delta: 1 | -1): void {
    this.store.localBinding?.({ source: '', destination: queue.name, destinationType: 'queue', routingKey: queue.name, arguments: {} }, delta);
  }

  /** Durable exchanges are kept; in a shared store every exchange is, for the other nodes. */
  private keeps(options: ExchangeOptions): boolean {
    return options.durable || this.store.shared === true;
  }

  /** Bindings between durable ends are durable (docs/protocol.md, "Durability"); in a shared store, every binding between kept ends. */
  private persistBinding(binding: Binding, action: 'put' | 'delete'): void {
    const destination = binding.destination;
    const keptDestination = destination.kind === 'queue' ? destination.stored : this.keeps(destination.options);
    if (destination.kind === 'queue' && !keptDestination && !(destination instanceof RelayQueue) && this.store.localBinding) {
      const { source, routingKey, arguments: args } = binding;
      this.store.localBinding({ source: source.name, destination: destination.name, destinationType: 'queue', routingKey, arguments: args }, action === 'put' ? 1 : -1);
    }
    if (!this.keeps(binding.source.options) || !keptDestination) return;
    const stored: StoredBinding = {
      source: binding.source.name,
      destination: destination.name,
      destinationType: destination.kind,
      routingKey: binding.routingKey,
      arguments: binding.arguments,
    };
    if (action === 'put') this.store.putBinding(stored);
    else this.store.deleteBinding(stored);
  }

  private checkExclusiveAccess(owner: Connection | null, queue: Queue): void {
    if (queue.owner && queue.owner !== owner) {
      throw resourceLocked(`queue "${queue.name}" is exclusive to another connection`);
    }
  }
}

/** A server-named queue's name (docs/protocol.md, "Queues"). */
export const newQueueName = (): string => `amq.gen-${globalThis.crypto.randomUUID()}`;

const declared = (queue: Queue): QueueDeclareResult => ({ queue: queue.name, messageCount: queue.messageCount, consumerCount: queue.consumers.length });


function describeExchange(type: ExchangeType, options: ExchangeOptions): string {
  return `type ${type}, durable ${options.durable}, autoDelete ${options.autoDelete}, internal ${options.internal}, arguments ${JSON.stringify(options.arguments)}`;
}
