import {
  BrokerError,
  newQueueName,
  type Broker,
  type ConsumeOptions,
  type Connection,
  type ExchangeOptions,
  type ExchangeType,
  type GetResult,
  type Message,
  type QueueDeclareResult,
  type QueueOptions,
  type StreamQueue,
} from '../broker/index.js';
import { FULL_ACCESS, type VhostAccess } from './access.js';

type Permission = 'configure' | 'write' | 'read';

/** RabbitMQ checks the default exchange under this name. */
const DEFAULT_EXCHANGE = 'amq.default';
/** Write cache entries kept per connection before it starts over. */
const WRITE_CACHE_SIZE = 256;

/**
 * A vhost's broker as one principal may use it: every operation is checked against RabbitMQ's
 * permission table (docs/security.md, "Permissions") before it reaches the model, so each rule is
 * written once for every protocol. A refusal is ACCESS_REFUSED and changes nothing.
 */
export class GuardedVhost {
  /** Unrestricted principals skip every check. */
  private readonly full: boolean;
  /** Publish permission by exchange name, so a publisher pays a regex once per exchange; made at the first check (an idle subscriber has none). */
  private writable: Map<string, boolean> | undefined;
  /** The last exchange published to: a publisher mostly repeats it, and then not even the map is asked. */
  private lastExchange: string | undefined;

  constructor(
    readonly broker: Broker,
    private readonly access: VhostAccess,
    /** For refusal messages: the user name, or undefined when anonymous. */
    private readonly username: string | undefined,
    private readonly vhost: string,
  ) {
    this.full = access === FULL_ACCESS;
  }

  // docs/security.md, "Permissions": one method per row of the table.
  declareExchange(name: string, type: ExchangeType | undefined, options: ExchangeOptions, passive: boolean): void {
    if (!passive) {
      this.check('configure', 'exchange', name);
      this.checkNamedExchange(options.arguments['alternate-exchange']);
    }
    this.broker.declareExchange(name, type, options, passive);
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    this.check('configure', 'exchange', name);
    this.broker.deleteExchange(name, ifUnused);
  }

  bindExchange(destination: string, source: string, routingKey: string, args: Record<string, unknown>, unbind = false): void {
    this.check('write', 'exchange', destination);
    this.check('read', 'exchange', source);
    this.checkReadTopic(source, routingKey);
    if (unbind) this.broker.unbindExchange(destination, source, routingKey, args);
    else this.broker.bindExchange(destination, source, routingKey, args);
  }

  declareQueue(owner: Connection | null, name: string, options: QueueOptions, passive: boolean): QueueDeclareResult {
    // RabbitMQ checks a server-named queue under the name it is given.
    const serverName = newQueueName();
    if (!passive) {
      this.check('configure', 'queue', name === '' ? serverName : name);
      const deadLetterExchange = options.arguments['x-dead-letter-exchange'];
      this.checkNamedExchange(deadLetterExchange);
      const deadLetterKey = options.arguments['x-dead-letter-routing-key'];
      if (typeof deadLetterExchange === 'string' && typeof deadLetterKey === 'string') this.checkWriteTopic(deadLetterExchange, deadLetterKey);
    }
    return this.broker.declareQueue(owner, name, options, passive, serverName);
  }

  deleteQueue(owner: Connection | null, name: string, ifUnused: boolean, ifEmpty: boolean): number {
    this.check('configure', 'queue', name);
    return this.broker.deleteQueue(owner, name, ifUnused, ifEmpty);
  }

  bindQueue(owner: Connection | null, queue: string, exchange: string, routingKey: string, args: Record<string, unknown>, unbind = false): void {
    this.check('write', 'queue', queue);
    this.check('read', 'exchange', exchange);
    this.checkReadTopic(exchange, routingKey);
    if (unbind) this.broker.unbindQueue(owner, queue, exchange, routingKey, args);
    else this.broker.bindQueue(owner, queue, exchange, routingKey, args);
  }

  purgeQueue(owner: Connection | null, name: string): number {
    this.check('read', 'queue', name);
    return this.broker.purgeQueue(owner, name);
  }

  consume(connection: Connection, queue: string, options: ConsumeOptions): string {
    this.check('read', 'queue', queue);
    return connection.consume(queue, options);
  }

  beforeGet(connection: Connection, queue: string): Promise<void> | undefined {
    this.check('read', 'queue', queue);
    return connection.beforeGet(queue);
  }

  get(connection: Connection, queue: string, noAck: boolean): GetResult {
    this.check('read', 'queue', queue);
    return connection.get(queue, noAck);
  }

  /** A stream read by pull (fetch, commit, committed: docs/protocol.md, "Stream queues"): a read of the queue, as a consume is. */
  stream(connection: Connection, queue: string): StreamQueue {
    this.check('read', 'queue', queue);
    return this.broker.streamFor(connection, queue);
  }

  /** A move (docs/management.md): taking from the source is a read, putting into the destination a write, as a binding's. */
  moveMessages(source: string, destination: string, count?: number): number {
    this.check('read', 'queue', source);
    this.check('write', 'queue', destination);
    return this.broker.moveMessages(source, destination, count);
  }

  /** Returns the broker's outcome bits, as Broker.publish. */
  publish(message: Message): number {
    if (!this.full) this.checkPublish(message.exchange, message.routingKey);
    return this.broker.publish(message.exchange, message);
  }

  /** Whether the principal may still read from `queue` (a refreshed token may take it away). */
  mayRead(queue: string): boolean {
    return this.access.read(queue);
  }

  private checkPublish(exchange: string, routingKey: string): void {
    if (exchange !== this.lastExchange) {
      const writable = (this.writable ??= new Map());
      let allowed = writable.get(exchange);
      if (allowed === undefined) {
        allowed = this.access.write(exchange === '' ? DEFAULT_EXCHANGE : exchange);
        if (writable.size >= WRITE_CACHE_SIZE) writable.clear();
        writable.set(exchange, allowed);
      }
      if (!allowed) throw this.refusal('write', 'exchange', exchange);
      this.lastExchange = exchange;
    }
    this.checkWriteTopic(exchange, routingKey);
  }

  private checkWriteTopic(exchange: string, routingKey: string): void {
    if (!this.access.restrictsTopics || this.broker.exchangeType(exchange) !== 'topic' || this.access.writeTopic(exchange, routingKey)) return;
    throw new BrokerError(
      'ACCESS_REFUSED',
      `access refused: ${this.who} may not publish to topic exchange "${exchange}" with routing key "${routingKey}" in vhost "${this.vhost}" (topic permission)`,
    );
  }

  private checkReadTopic(exchange: string, routingKey: string): void {
    if (!this.access.restrictsTopics || this.broker.exchangeType(exchange) !== 'topic' || this.access.readTopic(exchange, routingKey)) return;
    throw new BrokerError(
      'ACCESS_REFUSED',
      `access refused: ${this.who} may not bind from topic exchange "${exchange}" with binding key "${routingKey}" in vhost "${this.vhost}" (topic permission)`,
    );
  }

  /** An exchange an argument names (alternate or dead-letter exchange) must be writable. */
  private checkNamedExchange(name: unknown): void {
    if (typeof name === 'string') this.check('write', 'exchange', name);
  }

  private check(permission: Permission, kind: 'exchange' | 'queue', name: string): void {
    if (this.full) return;
    const resource = kind === 'exchange' && name === '' ? DEFAULT_EXCHANGE : name;
    if (!this.access[permission](resource)) throw this.refusal(permission, kind, name);
  }

  private refusal(permission: Permission, kind: 'exchange' | 'queue', name: string): BrokerError {
    return new BrokerError('ACCESS_REFUSED', `access refused: ${this.who} may not ${permission} ${kind} "${name}" in vhost "${this.vhost}" (${permission} permission)`);
  }

  private get who(): string {
    return this.username === undefined ? 'an anonymous client' : `user "${this.username}"`;
  }
}
