import { createHash, randomUUID } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import { BrokerError, Connection, PERSISTED, REJECTED, type DeliverySink, type QueueEntry, type QueueOptions } from '../../broker/index.js';
import { SocketSession, type SessionContext } from '../socket-session.js';
import { parseDestination, type Destination } from './destination.js';
import {
  CLOSE_ACCESS_REFUSED,
  CLOSE_NORMAL,
  decodeHeaders,
  encodeFrame,
  errorFrame,
  escapeHeader,
  receiptFrame,
  STOMP_VERSIONS,
  StompError,
  type RawFrame,
  type StompVersion,
} from './frame.js';
import { HeartBeats, negotiateHeartBeat } from './heartbeat.js';
import { ackId, integerHeader, optionalBoolean, queueOptions, required } from './headers.js';
import { messageFromSend, messageTail } from './message-mapping.js';
import { StompParser } from './parser.js';
import { Transactions } from './transactions.js';

type AckMode = 'auto' | 'client' | 'client-individual';
const ACK_MODES: readonly string[] = ['auto', 'client', 'client-individual'];

/** A SUBSCRIBE: one consumer of the broker Connection. */
interface Subscription {
  readonly id: string;
  readonly consumerTag: string;
  readonly queue: string;
  readonly ackMode: AckMode;
  /** A durable topic or exchange subscription's queue is deleted by an UNSUBSCRIBE with `durable:true`. */
  readonly ownsQueue: boolean;
  /** Delivery tags not acknowledged yet, in delivery order (client modes only). */
  readonly unacked: Set<number>;
  /** `MESSAGE`, `subscription` and the start of `message-id`, escaped: a delivery appends its tag. */
  readonly head: string;
  /** The start of the `ack` header, or '' in auto mode. */
  readonly ackHead: string;
}

/** A /queue/ destination's queue, unless headers say otherwise: durable, shared, kept (RabbitMQ's defaults). */
const QUEUE_DEFAULTS = { durable: true, exclusive: false, autoDelete: false };
const PASSIVE_EXCHANGE = { durable: true, autoDelete: false, internal: false, arguments: {} };

/**
 * One STOMP connection over a WebSocket (docs/stomp.md): frames in, through the same broker
 * Connection the native protocol uses, MESSAGE frames out. Output batching, confirms held behind
 * the store's sync, backpressure and alarms come from SocketSession.
 */
export class StompSession extends SocketSession implements DeliverySink {
  private readonly parser: StompParser;
  /** The agreed version; undefined until CONNECTED. */
  private version: StompVersion | undefined;
  private login: string | undefined;
  private heartBeats: HeartBeats | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  /** Subscriptions by consumer tag, reply queues' included. */
  private readonly byTag = new Map<string, Subscription>();
  private readonly transactions: Transactions;
  /** /queue/ names a SEND of this session has declared: later SENDs do not declare again, as in RabbitMQ. */
  private readonly declaredBySend = new Set<string>();
  /** `/temp-queue/<name>` → its queue. */
  private readonly replyQueues = new Map<string, string>();
  /** Deliveries caused by a frame wait until its RECEIPT is out (a SUBSCRIBE's receipt before its first MESSAGE). */
  private afterReceipt: string[] | undefined;
  /** An ERROR or DISCONNECT ended the session: nothing more is read. */
  private ended = false;

  constructor(socket: WebSocket, id: string, context: SessionContext, remoteAddress: string | undefined, maxFrameBytes: number) {
    super(socket, id, context);
    this.parser = new StompParser(maxFrameBytes);
    this.transactions = new Transactions(maxFrameBytes);
    this.logger.info({ address: remoteAddress, protocol: `stomp (${socket.protocol})` }, 'connection opened');
  }

  onMessage(data: RawData, _isBinary: boolean): void {
    if (this.ended) return;
    this.heartBeats?.markReceived();
    try {
      this.parser.push(toBuffer(data), this.onFrame);
    } catch (error) {
      this.fail(error, undefined);
    }
    const alarm = this.context.flow.alarm;
    if (alarm !== null && this.publisher) this.block(alarm);
  }

  onClose(code: number): void {
    this.releaseOutput();
    this.heartBeats?.stop();
    this.ended = true;
    this.connection?.close();
    this.logger.info({ code, login: this.login }, 'connection closed');
  }

  // DeliverySink: called by the broker's queues.
  deliver(consumerTag: string, deliveryTag: number, entry: QueueEntry): void {
    const sub = this.byTag.get(consumerTag) as Subscription;
    let ack = '';
    if (sub.ackHead !== '') {
      sub.unacked.add(deliveryTag);
      ack = `${sub.ackHead}${deliveryTag}`;
    }
    const frame = `${sub.head}${deliveryTag}${ack}\nredelivered:${entry.returns > 0}${messageTail(entry, this.version as StompVersion)}`;
    if (this.afterReceipt) this.afterReceipt.push(frame);
    else this.emit(frame);
  }

  cancelled(consumerTag: string, reason?: string): void {
    const sub = this.byTag.get(consumerTag);
    if (!sub) return;
    this.byTag.delete(consumerTag);
    this.subscriptions.delete(sub.id);
    // STOMP has no frame for a subscription the broker ends, only ERROR, which ends the connection.
    const why = reason ?? `its queue "${sub.queue}" was deleted`;
    this.fail(new StompError(`subscription "${sub.id}" was cancelled by the broker: ${why}; subscribe again on a new connection`), undefined);
  }

  protected encodeBatch(frames: string[]): string {
    // Frames end with NUL, so several go in one WebSocket message as they are.
    return frames.length === 1 ? frames[0] : frames.join('');
  }

  // STOMP has no frame for flow control: a blocked publisher's socket is simply not read, as in RabbitMQ.
  protected blockedNotice(): undefined {
    return undefined;
  }

  protected unblockedNotice(): undefined {
    return undefined;
  }

  private readonly onFrame = (frame: RawFrame): void => {
    if (this.ended) return;
    let receipt: string | undefined;
    this.afterReceipt = [];
    try {
      const headers = decodeHeaders(frame, this.version ?? '1.2');
      receipt = headers.get('receipt');
      if (this.version === undefined) {
        if (frame.command !== 'CONNECT' && frame.command !== 'STOMP') throw new StompError(`send CONNECT first: ${frame.command} is not allowed before it`);
        this.connect(headers);
        return;
      }
      const persisted = this.execute(frame.command, headers, frame.body);
      if (receipt !== undefined && frame.command !== 'DISCONNECT') {
        const receiptId = receipt;
        const reply = receiptFrame(receiptId, this.version);
        if (persisted) this.emitAfterSync(reply, () => this.syncFailed(receiptId));
        else this.emit(reply);
      }
    } catch (error) {
      this.emitDeferred();
      this.fail(error, receipt);
    } finally {
      this.emitDeferred();
    }
  };

  private emitDeferred(): void {
    const deferred = this.afterReceipt;
    this.afterReceipt = undefined;
    if (deferred) for (const frame of deferred) this.emit(frame);
  }

  /** Sends ERROR and closes once it is out (STOMP 1.2, "ERROR"); other connections are untouched. */
  private fail(error: unknown, receipt: string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    let message: string;
    let closeCode = CLOSE_NORMAL;
    if (error instanceof StompError) {
      message = error.message;
      closeCode = error.closeCode;
    } else if (error instanceof BrokerError) {
      message = error.message;
    } else {
      this.logger.error({ err: error }, 'internal error');
      message = 'the frame failed inside the broker; the failure is logged there';
      closeCode = 1011;
    }
    this.logger.info({ message }, 'STOMP ERROR sent');
    this.emit(errorFrame(message, this.version, receipt));
    this.heartBeats?.stop();
    this.closeAfterOutput(closeCode, 'STOMP ERROR sent');
  }

  private syncFailed(receiptId: string): string {
    this.ended = true;
    this.closeAfterOutput(1011, 'STOMP ERROR sent');
    return errorFrame('the broker could not write the message to disk; it may not survive a restart: send it again', this.version, receiptId);
  }

  private connect(headers: Map<string, string>): void {
    const accepted = (headers.get('accept-version') ?? '1.0').split(',').map((version) => version.trim());
    const version = STOMP_VERSIONS.find((candidate) => accepted.includes(candidate));
    if (version === undefined) {
      throw new StompError(`this broker speaks STOMP ${STOMP_VERSIONS.join(', ')}; the client accepts only ${accepted.join(', ')}`);
    }
    const { users } = this.context;
    const login = headers.get('login');
    if (users.length > 0 && !users.some((user) => user.username === login && user.password === headers.get('passcode'))) {
      this.logger.warn({ login }, 'authentication failed');
      throw new StompError('access refused: unknown login or wrong passcode', CLOSE_ACCESS_REFUSED);
    }
    const terms = negotiateHeartBeat(version === '1.0' ? undefined : headers.get('heart-beat'));
    this.version = version;
    this.login = login;
    this.connection = new Connection(this.id, this.context.broker, this);
    if (terms.sendMs > 0 || terms.expectMs > 0) this.heartBeats = new HeartBeats(terms, this.sendHeartBeat, this.isBlocked, this.onSilent);
    const connected: [string, string][] = [
      ['version', version],
      ['server', `Warren/${this.context.serverVersion}`],
      ['session', `session-${this.id}`],
    ];
    if (version !== '1.0') connected.push(['heart-beat', terms.header]);
    this.emit(encodeFrame('CONNECTED', connected, '', version));
    this.logger.info({ login, version, heartBeat: terms.header }, 'connected');
  }

  private readonly sendHeartBeat = (): void => {
    if (!this.ended && this.socket.readyState === this.socket.OPEN) this.socket.send('\n');
  };

  private readonly isBlocked = (): boolean => this.blocked;

  private readonly onSilent = (): void => {
    this.logger.warn('no heart-beat or frame from the client within twice the agreed interval; closing');
    this.ended = true;
    this.socket.terminate();
  };

  /** One frame after CONNECTED; returns whether its RECEIPT must wait for the store's sync. */
  private execute(command: string, headers: Map<string, string>, body: Buffer): boolean {
    switch (command) {
      case 'SEND':
        return this.deferred(command, headers, body) ? false : this.send(headers, body);
      case 'ACK':
      case 'NACK':
        if (!this.deferred(command, headers, body)) this.settle(command, headers);
        return false;
      case 'SUBSCRIBE':
        this.subscribe(headers);
        return false;
      case 'UNSUBSCRIBE':
        this.unsubscribe(headers);
        return false;
      case 'BEGIN':
        this.transactions.begin(required(headers, 'transaction', command));
        return false;
      case 'COMMIT': {
        const frames = this.transactions.end(required(headers, 'transaction', command), command);
        let persisted = false;
        for (const frame of frames) {
          if (frame.command === 'SEND') persisted = this.send(frame.headers, frame.body) || persisted;
          else this.settle(frame.command, frame.headers);
        }
        return persisted;
      }
      case 'ABORT':
        this.transactions.end(required(headers, 'transaction', command), command);
        return false;
      case 'DISCONNECT': {
        this.ended = true;
        const receipt = headers.get('receipt');
        if (receipt !== undefined) this.emit(receiptFrame(receipt, this.version as StompVersion));
        this.heartBeats?.stop();
        this.closeAfterOutput(CLOSE_NORMAL, 'DISCONNECT');
        return false;
      }
      default:
        throw new StompError('this connection is already connected; CONNECT is sent once');
    }
  }

  /** A frame with a `transaction` header is checked now and applied at COMMIT. */
  private deferred(command: string, headers: Map<string, string>, body: Buffer): boolean {
    const name = headers.get('transaction');
    if (name === undefined) return false;
    this.transactions.check(name, command);
    if (command === 'SEND') parseDestination(required(headers, 'destination', command));
    else ackId(headers, command);
    this.transactions.add(name, { command, headers, body });
    return true;
  }

  // docs/stomp.md, "Destinations": SEND. Returns whether the message was written to the store.
  private send(headers: Map<string, string>, body: Buffer): boolean {
    this.publisher = true;
    const destination = parseDestination(required(headers, 'destination', 'SEND'));
    let exchange = '';
    let routingKey: string;
    switch (destination.kind) {
      case 'exchange':
        exchange = destination.exchange;
        routingKey = destination.key;
        break;
      case 'topic':
        exchange = 'amq.topic';
        routingKey = destination.key;
        break;
      case 'queue':
        routingKey = destination.queue;
        if (!this.declaredBySend.has(routingKey)) {
          this.declareQueue(routingKey, queueOptions(headers, QUEUE_DEFAULTS, false));
          this.declaredBySend.add(routingKey);
        }
        break;
      case 'amq-queue':
      case 'reply-queue':
        routingKey = destination.queue;
        break;
      case 'temp-queue':
        throw new StompError('a /temp-queue/ destination goes in the reply-to header of a SEND; reply to the /reply-queue/ that reply-to was rewritten to');
    }
    const replyTo = headers.get('reply-to');
    const message = messageFromSend(exchange, routingKey, headers, body, replyTo?.startsWith('/temp-queue/') ? this.replyQueue(replyTo) : replyTo);
    const outcome = this.context.broker.publish(exchange, message);
    if (outcome & REJECTED) {
      throw new StompError('a queue the message routes to is full (x-overflow reject-publish); it reached any other queues it routes to; send it again later');
    }
    return (outcome & PERSISTED) !== 0;
  }

  /** The session's queue for a `/temp-queue/<name>` reply-to, declared and subscribed on first use. */
  private replyQueue(replyTo: string): string {
    const destination = parseDestination(replyTo) as Extract<Destination, { kind: 'temp-queue' }>;
    let queue = this.replyQueues.get(destination.name);
    if (queue === undefined) {
      const connection = this.connection as Connection;
      queue = this.context.broker.declareQueue(connection, '', { durable: false, exclusive: true, autoDelete: true, arguments: {} }, false).queue;
      const id = `/temp-queue/${destination.name}`;
      const sub = this.subscription(id, `R_${destination.name}`, queue, 'auto', false);
      this.byTag.set(sub.consumerTag, sub);
      connection.consume(queue, { consumerTag: sub.consumerTag, prefetch: 0, noAck: true, exclusive: false, priority: 0, arguments: {} });
      this.replyQueues.set(destination.name, queue);
    }
    return `/reply-queue/${queue}`;
  }

  // docs/stomp.md, "Destinations" and "Subscribing".
  private subscribe(headers: Map<string, string>): void {
    const destinationText = required(headers, 'destination', 'SUBSCRIBE');
    const destination = parseDestination(destinationText);
    // STOMP 1.0 made id optional; RabbitMQ then uses the destination.
    const id = headers.get('id') ?? (this.version === '1.0' ? destinationText : undefined);
    if (id === undefined) throw new StompError('SUBSCRIBE needs an id header: a name for the subscription, unique on this connection, that UNSUBSCRIBE and ACK refer to');
    if (this.subscriptions.has(id)) throw new StompError(`subscription id "${id}" is already in use on this connection; UNSUBSCRIBE it first or choose another id`);
    const ackMode = headers.get('ack') ?? 'auto';
    if (!ACK_MODES.includes(ackMode)) throw new StompError(`header ack must be auto, client or client-individual (got ${JSON.stringify(ackMode)})`);
    const prefetchHeader = headers.get('prefetch-count');
    const prefetch = prefetchHeader === undefined ? 0 : integerHeader('prefetch-count', prefetchHeader, 0, 65535);
    const priorityHeader = headers.get('x-priority');
    const priority = priorityHeader === undefined ? 0 : integerHeader('x-priority', priorityHeader, -(2 ** 31), 2 ** 31 - 1);
    const queue = this.subscriptionQueue(destination, destinationText, id, headers);
    const ownsQueue = destination.kind === 'topic' || destination.kind === 'exchange';
    const sub = this.subscription(id, `T_${id}`, queue, ackMode as AckMode, ownsQueue);
    this.subscriptions.set(id, sub);
    this.byTag.set(sub.consumerTag, sub);
    try {
      (this.connection as Connection).consume(queue, { consumerTag: sub.consumerTag, prefetch, noAck: ackMode === 'auto', exclusive: false, priority, arguments: {} });
    } catch (error) {
      this.subscriptions.delete(id);
      this.byTag.delete(sub.consumerTag);
      throw error;
    }
  }

  private subscription(id: string, consumerTag: string, queue: string, ackMode: AckMode, ownsQueue: boolean): Subscription {
    const version = this.version as StompVersion;
    // The message-id and ack are RabbitMQ's form, T_<subscription>@@session-<n>@@<delivery tag>.
    const idPrefix = escapeHeader(`T_${id}@@session-${this.id}@@`, version);
    return {
      id,
      consumerTag,
      queue,
      ackMode,
      ownsQueue,
      unacked: new Set(),
      head: `MESSAGE\nsubscription:${escapeHeader(id, version)}\nmessage-id:${idPrefix}`,
      ackHead: ackMode === 'auto' ? '' : `\nack:${idPrefix}`,
    };
  }

  /** The queue a SUBSCRIBE consumes from, declared and bound as its destination asks. */
  private subscriptionQueue(destination: Destination, text: string, id: string, headers: Map<string, string>): string {
    const broker = this.context.broker;
    switch (destination.kind) {
      case 'queue':
        return this.declareQueue(destination.queue, queueOptions(headers, QUEUE_DEFAULTS, true));
      case 'amq-queue':
        return destination.queue;
      case 'topic':
      case 'exchange': {
        const exchange = destination.kind === 'topic' ? 'amq.topic' : destination.exchange;
        if (destination.kind === 'exchange') broker.declareExchange(exchange, undefined, PASSIVE_EXCHANGE, true);
        const durable = optionalBoolean(headers, 'durable') ?? optionalBoolean(headers, 'persistent') ?? false;
        // A durable subscription's queue is named after destination and id, so that it is found again on reconnect.
        const name = headers.get('x-queue-name') ?? `stomp-subscription-${durable ? createHash('md5').update(JSON.stringify([text, id])).digest('base64url') : randomUUID()}`;
        const queue = this.declareQueue(name, queueOptions(headers, { durable, exclusive: !durable, autoDelete: true }, true));
        broker.bindQueue(this.connection as Connection, queue, exchange, destination.key, {});
        return queue;
      }
      case 'temp-queue':
      case 'reply-queue':
        throw new StompError(
          `cannot SUBSCRIBE to ${text}: a /temp-queue/ is subscribed automatically when a SEND names it in reply-to, and its replies arrive with subscription:/temp-queue/<name>`,
        );
    }
  }

  private declareQueue(name: string, options: QueueOptions): string {
    try {
      return this.context.broker.declareQueue(this.connection as Connection, name, options, false).queue;
    } catch (error) {
      if (error instanceof BrokerError && error.code === 'PRECONDITION_FAILED' && error.message.includes('already exists')) {
        throw new StompError(`${error.message}; the durable, auto-delete, exclusive and x- headers of the frame declare it, and /amq/queue/${name} uses an existing queue as it is`);
      }
      throw error;
    }
  }

  private unsubscribe(headers: Map<string, string>): void {
    const id = headers.get('id') ?? (this.version === '1.0' ? headers.get('destination') : undefined);
    if (id === undefined) throw new StompError('UNSUBSCRIBE needs the id header of the subscription to end');
    const sub = this.subscriptions.get(id);
    if (!sub) throw new StompError(`UNSUBSCRIBE names subscription "${id}", which this connection does not have`);
    this.subscriptions.delete(id);
    this.byTag.delete(sub.consumerTag);
    const connection = this.connection as Connection;
    connection.cancel(sub.consumerTag);
    // RabbitMQ: an UNSUBSCRIBE with durable:true deletes a durable topic subscription for good.
    if (sub.ownsQueue && (optionalBoolean(headers, 'durable') ?? optionalBoolean(headers, 'persistent'))) {
      this.context.broker.deleteQueue(connection, sub.queue, false, false);
    }
  }

  /** ACK or NACK: `client` subscriptions settle every earlier message of the subscription too. */
  private settle(command: string, headers: Map<string, string>): void {
    const id = ackId(headers, command);
    const found = this.findDelivery(id);
    if (!found) {
      throw new StompError(
        `${command} ${JSON.stringify(id)}: no unacknowledged message has that id on this connection (acknowledged already, delivered in ack mode auto, or its subscription ended)`,
      );
    }
    const { sub, tag } = found;
    const requeue = command === 'NACK' ? (optionalBoolean(headers, 'requeue') ?? true) : false;
    const tags: number[] = [];
    if (sub.ackMode === 'client') {
      for (const unacked of sub.unacked) {
        if (unacked > tag) break;
        tags.push(unacked);
      }
    } else {
      tags.push(tag);
    }
    const connection = this.connection as Connection;
    for (const settled of tags) {
      sub.unacked.delete(settled);
      if (command === 'ACK') connection.ack(settled, false);
      else connection.nack(settled, false, requeue);
    }
  }

  /** The subscription and delivery tag an ack id (`T_<subscription>@@session-<n>@@<tag>`) names, when unsettled. */
  private findDelivery(id: string): { sub: Subscription; tag: number } | undefined {
    const at = id.lastIndexOf('@@');
    const marker = `@@session-${this.id}`;
    if (at < 0 || !id.startsWith('T_') || !id.slice(0, at).endsWith(marker)) return undefined;
    const tag = Number(id.slice(at + 2));
    const sub = this.subscriptions.get(id.slice(2, at - marker.length));
    return sub && Number.isSafeInteger(tag) && sub.unacked.has(tag) ? { sub, tag } : undefined;
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
