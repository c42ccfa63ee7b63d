import { createHash, randomUUID } from 'node:crypto';
import { BrokerError, PERSISTED, type QueueEntry, type QueueOptions } from '../../broker/index.js';
import { SetAside, type CodecSession, type LoggedIn, type WireCodec, type WireProtocol } from '../codec.js';
import { CLOSE_INTERNAL_ERROR } from '../session.js';
import { parseDestination, type Destination } from './destination.js';
import { CLOSE_NORMAL, decodeHeaders, encodeFrame, errorFrame, escapeHeader, receiptFrame, STOMP_VERSIONS, StompError, type RawFrame, type StompVersion } from './frame.js';
import { HeartBeats, negotiateHeartBeat } from './heartbeat.js';
import { ackId, integerHeader, optionalBoolean, queueOptions, required } from './headers.js';
import { messageFromSend, messageTail } from './message-mapping.js';
import { StompParser } from './parser.js';
import { Transactions } from './transactions.js';

/** STOMP over WebSocket (docs/stomp.md), as RabbitMQ Web-STOMP and stomp.js name its subprotocols. */
export function stompProtocol(maxFrameBytes: number): WireProtocol {
  return {
    name: 'stomp',
    subprotocols: ['v12.stomp', 'v11.stomp', 'v10.stomp'],
    refusalFrame: (message) => errorFrame(message, undefined),
    open: (session) => new StompCodec(session, maxFrameBytes),
  };
}

const ACK_MODES = ['auto', 'client', 'client-individual'] as const;
type AckMode = (typeof ACK_MODES)[number];
const isAckMode = (mode: string): mode is AckMode => ACK_MODES.some((known) => known === mode);

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

/** Everything a STOMP connection has from CONNECTED on. */
interface Connected extends LoggedIn {
  readonly version: StompVersion;
  readonly heartBeats: HeartBeats | undefined;
  readonly subscriptions: Map<string, Subscription>;
  /** Subscriptions by consumer tag, reply queues' included. */
  readonly byTag: Map<string, Subscription>;
  readonly transactions: Transactions;
  /** /queue/ names a SEND of this connection has declared: later SENDs do not declare again, as in RabbitMQ. */
  readonly declaredBySend: Set<string>;
  /** `/temp-queue/<name>` → its queue. */
  readonly replyQueues: Map<string, string>;
}

/** A /queue/ destination's queue, unless headers say otherwise: durable, shared, kept (RabbitMQ's defaults). */
const QUEUE_DEFAULTS = { durable: true, exclusive: false, autoDelete: false };
const PASSIVE_EXCHANGE = { durable: true, autoDelete: false, internal: false, arguments: {} };

/**
 * STOMP frames in, through the same broker Connection the native protocol uses, MESSAGE frames
 * out. Any refused frame is an ERROR that ends the connection (STOMP 1.2, "ERROR").
 */
class StompCodec implements WireCodec {
  private readonly parser: StompParser;
  /** Undefined until CONNECTED. */
  private connected: Connected | undefined;
  /** Frames that came while input was suspended (a CONNECT's login), handled at resume. */
  private readonly waiting = new SetAside<RawFrame>();

  constructor(
    private readonly session: CodecSession,
    private readonly maxFrameBytes: number,
  ) {
    this.parser = new StompParser(maxFrameBytes);
  }

  onMessage(data: Buffer): void {
    this.connected?.heartBeats?.markReceived();
    try {
      this.parser.push(data, this.onFrame);
    } catch (error) {
      this.fail(error, 'the frame', undefined);
    }
  }

  deliverFrame(consumerTag: string, deliveryTag: number, entry: QueueEntry): string | undefined {
    const connected = this.connected;
    const sub = connected?.byTag.get(consumerTag);
    if (connected === undefined || sub === undefined) return undefined;
    let ack = '';
    if (sub.ackHead !== '') {
      sub.unacked.add(deliveryTag);
      ack = `${sub.ackHead}${deliveryTag}`;
    }
    return `${sub.head}${deliveryTag}${ack}\nredelivered:${entry.returns > 0}${messageTail(entry, connected.version)}`;
  }

  cancelled(consumerTag: string, reason: string | undefined): void {
    const sub = this.connected?.byTag.get(consumerTag);
    if (this.connected === undefined || sub === undefined) return;
    this.connected.byTag.delete(consumerTag);
    this.connected.subscriptions.delete(sub.id);
    // STOMP has no frame for a subscription the broker ends, only ERROR, which ends the connection.
    const why = reason ?? `its queue "${sub.queue}" was deleted`;
    this.fail(new StompError(`subscription "${sub.id}" was cancelled by the broker: ${why}; subscribe again on a new connection`), 'the subscription', undefined);
  }

  encodeBatch(frames: string[]): string {
    // Frames end with NUL, so several go in one WebSocket message as they are.
    return frames.length === 1 ? frames[0] : frames.join('');
  }

  // STOMP has no frame for flow control: a blocked publisher's socket is simply not read, as in RabbitMQ.
  blockedNotice(): undefined {
    return undefined;
  }

  unblockedNotice(): undefined {
    return undefined;
  }

  closed(): void {
    this.connected?.heartBeats?.stop();
  }

  accessEnded(message: string): string {
    this.connected?.heartBeats?.stop();
    return errorFrame(message, this.connected?.version);
  }

  resume(): void {
    this.waiting.replay(this.session, this.onFrame);
  }

  private readonly onFrame = (frame: RawFrame): void => {
    const { session } = this;
    if (session.ended) return;
    if (session.inputSuspended) {
      this.waiting.add(frame);
      return;
    }
    let receipt: string | undefined;
    // Deliveries a frame causes wait for its RECEIPT (a SUBSCRIBE's receipt before its first MESSAGE).
    session.deferDeliveries();
    try {
      const connected = this.connected;
      const headers = decodeHeaders(frame, connected?.version ?? '1.2');
      receipt = headers.get('receipt');
      if (connected === undefined) {
        if (frame.command !== 'CONNECT' && frame.command !== 'STOMP') throw new StompError(`send CONNECT first: ${frame.command} is not allowed before it`);
        this.connect(headers, receipt);
        return;
      }
      const persisted = this.execute(connected, frame.command, headers, frame.body);
      if (receipt !== undefined && frame.command !== 'DISCONNECT') {
        const receiptId = receipt;
        const reply = receiptFrame(receiptId, connected.version);
        if (frame.command === 'SEND') session.confirm(reply, persisted ? (message) => this.syncFailed(connected, receiptId, message) : undefined);
        else session.emit(reply);
      }
    } catch (error) {
      session.releaseDeliveries();
      this.fail(error, frame.command, receipt);
    } finally {
      session.releaseDeliveries();
    }
  };

  /** Sends ERROR and closes once it is out (STOMP 1.2, "ERROR"); other connections are untouched. */
  private fail(error: unknown, what: string, receipt: string | undefined): void {
    const { session } = this;
    if (session.ended) return;
    let message: string;
    let closeCode = CLOSE_NORMAL;
    if (error instanceof StompError) {
      message = error.message;
      closeCode = error.closeCode;
    } else {
      const failure = session.describeFailure(error, what);
      message = failure.message;
      if (failure.internal) closeCode = CLOSE_INTERNAL_ERROR;
    }
    session.logger.info({ message }, 'STOMP ERROR sent');
    session.emit(errorFrame(message, this.connected?.version, receipt));
    this.connected?.heartBeats?.stop();
    session.closeAfterOutput(closeCode, 'STOMP ERROR sent');
  }

  private syncFailed(connected: Connected, receiptId: string, message: string): string {
    this.session.closeAfterOutput(CLOSE_INTERNAL_ERROR, 'STOMP ERROR sent');
    return errorFrame(message, connected.version, receiptId);
  }

  // docs/stomp.md, "Connecting".
  private connect(headers: Map<string, string>, receipt: string | undefined): void {
    const accepted = (headers.get('accept-version') ?? '1.0').split(',').map((version) => version.trim());
    const version = STOMP_VERSIONS.find((candidate) => accepted.includes(candidate));
    if (version === undefined) {
      throw new StompError(`this broker speaks STOMP ${STOMP_VERSIONS.join(', ')}; the client accepts only ${accepted.join(', ')}`);
    }
    const login = headers.get('login');
    const passcode = headers.get('passcode');
    // As RabbitMQ's Web-STOMP with OAuth 2: an empty login with a passcode is a token login.
    const tokenLogin = login === '' && passcode !== undefined && passcode !== '';
    const credentials = {
      username: tokenLogin ? undefined : login,
      password: tokenLogin ? undefined : passcode,
      token: tokenLogin ? passcode : undefined,
      vhost: headers.get('host'),
    };
    this.session.login(
      credentials,
      { protocol: `STOMP ${version}`, version },
      (message) => {
        this.session.logger.info({ message }, 'STOMP ERROR sent');
        return errorFrame(message, undefined, receipt);
      },
      (loggedIn) => {
        try {
          this.opened(loggedIn, version, headers);
        } catch (error) {
          this.fail(error, 'CONNECT', receipt);
        }
      },
    );
  }

  /** Logged in: heart-beats are agreed (a malformed header is an ERROR only once the login is known good) and CONNECTED goes out. */
  private opened(loggedIn: LoggedIn, version: StompVersion, headers: Map<string, string>): void {
    const terms = negotiateHeartBeat(version === '1.0' ? undefined : headers.get('heart-beat'));
    this.connected = {
      ...loggedIn,
      version,
      heartBeats: terms.sendMs > 0 || terms.expectMs > 0 ? new HeartBeats(terms, this.sendHeartBeat, this.isBlocked, this.onSilent) : undefined,
      subscriptions: new Map(),
      byTag: new Map(),
      transactions: new Transactions(this.maxFrameBytes),
      declaredBySend: new Set(),
      replyQueues: new Map(),
    };
    const reply: [string, string][] = [
      ['version', version],
      ['server', `Warren/${this.session.serverVersion}`],
      ['session', `session-${this.session.id}`],
    ];
    if (version !== '1.0') reply.push(['heart-beat', terms.header]);
    this.session.emit(encodeFrame('CONNECTED', reply, '', version));
    this.session.logger.debug({ heartBeat: terms.header }, 'STOMP heart-beats agreed');
  }

  private readonly sendHeartBeat = (): void => this.session.sendNow('\n');

  private readonly isBlocked = (): boolean => this.session.blocked;

  private readonly onSilent = (): void => this.session.terminate('no heart-beat or frame from the client within twice the agreed interval; closing');

  /** One frame after CONNECTED; returns whether its RECEIPT must wait for the store's sync. */
  private execute(connected: Connected, command: string, headers: Map<string, string>, body: Buffer): boolean {
    switch (command) {
      case 'SEND':
        return this.deferred(connected, command, headers, body) ? false : this.send(connected, headers, body);
      case 'ACK':
      case 'NACK':
        if (!this.deferred(connected, command, headers, body)) this.settle(connected, command, headers);
        return false;
      case 'SUBSCRIBE':
        this.subscribe(connected, headers);
        return false;
      case 'UNSUBSCRIBE':
        this.unsubscribe(connected, headers);
        return false;
      case 'BEGIN':
        connected.transactions.begin(required(headers, 'transaction', command));
        return false;
      case 'COMMIT': {
        const frames = connected.transactions.end(required(headers, 'transaction', command), command);
        let persisted = false;
        for (const frame of frames) {
          if (frame.command === 'SEND') persisted = this.send(connected, frame.headers, frame.body) || persisted;
          else this.settle(connected, frame.command, frame.headers);
        }
        return persisted;
      }
      case 'ABORT':
        connected.transactions.end(required(headers, 'transaction', command), command);
        return false;
      case 'DISCONNECT': {
        const receipt = headers.get('receipt');
        if (receipt !== undefined) this.session.emit(receiptFrame(receipt, connected.version));
        connected.heartBeats?.stop();
        this.session.closeAfterOutput(CLOSE_NORMAL, 'DISCONNECT');
        return false;
      }
      default:
        throw new StompError('this connection is already connected; CONNECT is sent once');
    }
  }

  /** A frame with a `transaction` header is checked now and applied at COMMIT. */
  private deferred(connected: Connected, command: string, headers: Map<string, string>, body: Buffer): boolean {
    const name = headers.get('transaction');
    if (name === undefined) return false;
    connected.transactions.check(name, command);
    if (command === 'SEND') parseDestination(required(headers, 'destination', command));
    else ackId(headers, command);
    connected.transactions.add(name, { command, headers, body });
    return true;
  }

  // docs/stomp.md, "Destinations": SEND. Returns whether the message was written to the store.
  private send(connected: Connected, headers: Map<string, string>, body: Buffer): boolean {
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
        if (!connected.declaredBySend.has(routingKey)) {
          this.declareQueue(connected, routingKey, queueOptions(headers, QUEUE_DEFAULTS, false));
          connected.declaredBySend.add(routingKey);
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
    const message = messageFromSend(exchange, routingKey, headers, body, replyTo?.startsWith('/temp-queue/') ? this.replyQueue(connected, replyTo) : replyTo);
    return (this.session.publish(connected, message) & PERSISTED) !== 0;
  }

  /** The connection's queue for a `/temp-queue/<name>` reply-to, declared and subscribed on first use. */
  private replyQueue(connected: Connected, replyTo: string): string {
    const destination = parseDestination(replyTo);
    if (destination.kind !== 'temp-queue') throw new StompError(`reply-to ${JSON.stringify(replyTo)} is not a /temp-queue/<name>`);
    let queue = connected.replyQueues.get(destination.name);
    if (queue === undefined) {
      queue = connected.vhost.declareQueue(connected.connection, '', { durable: false, exclusive: true, autoDelete: true, arguments: {} }, false).queue;
      const sub = this.subscription(connected, `/temp-queue/${destination.name}`, `R_${destination.name}`, queue, 'auto', false);
      connected.byTag.set(sub.consumerTag, sub);
      connected.vhost.consume(connected.connection, queue, { consumerTag: sub.consumerTag, prefetch: 0, noAck: true, exclusive: false, priority: 0, arguments: {} });
      connected.replyQueues.set(destination.name, queue);
    }
    return `/reply-queue/${queue}`;
  }

  // docs/stomp.md, "Destinations" and "Subscribing and acknowledging".
  private subscribe(connected: Connected, headers: Map<string, string>): void {
    const destinationText = required(headers, 'destination', 'SUBSCRIBE');
    const destination = parseDestination(destinationText);
    // STOMP 1.0 made id optional; RabbitMQ then uses the destination.
    const id = headers.get('id') ?? (connected.version === '1.0' ? destinationText : undefined);
    if (id === undefined) throw new StompError('SUBSCRIBE needs an id header: a name for the subscription, unique on this connection, that UNSUBSCRIBE and ACK refer to');
    if (connected.subscriptions.has(id)) throw new StompError(`subscription id "${id}" is already in use on this connection; UNSUBSCRIBE it first or choose another id`);
    const ackMode = headers.get('ack') ?? 'auto';
    if (!isAckMode(ackMode)) throw new StompError(`header ack must be auto, client or client-individual (got ${JSON.stringify(ackMode)})`);
    const prefetchHeader = headers.get('prefetch-count');
    const prefetch = prefetchHeader === undefined ? 0 : integerHeader('prefetch-count', prefetchHeader, 0, 65535);
    const priorityHeader = headers.get('x-priority');
    const priority = priorityHeader === undefined ? 0 : integerHeader('x-priority', priorityHeader, -(2 ** 31), 2 ** 31 - 1);
    const queue = this.subscriptionQueue(connected, destination, destinationText, id, headers);
    const ownsQueue = destination.kind === 'topic' || destination.kind === 'exchange';
    const sub = this.subscription(connected, id, `T_${id}`, queue, ackMode, ownsQueue);
    connected.subscriptions.set(id, sub);
    connected.byTag.set(sub.consumerTag, sub);
    try {
      connected.vhost.consume(connected.connection, queue, { consumerTag: sub.consumerTag, prefetch, noAck: ackMode === 'auto', exclusive: false, priority, arguments: streamArguments(headers) });
    } catch (error) {
      connected.subscriptions.delete(id);
      connected.byTag.delete(sub.consumerTag);
      throw error;
    }
  }

  private subscription(connected: Connected, id: string, consumerTag: string, queue: string, ackMode: AckMode, ownsQueue: boolean): Subscription {
    const { version } = connected;
    // The message-id and ack are RabbitMQ's form, T_<subscription>@@session-<n>@@<delivery tag>.
    const idPrefix = escapeHeader(`T_${id}@@session-${this.session.id}@@`, version);
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
  private subscriptionQueue(connected: Connected, destination: Destination, text: string, id: string, headers: Map<string, string>): string {
    const { vhost } = connected;
    switch (destination.kind) {
      case 'queue':
        return this.declareQueue(connected, destination.queue, queueOptions(headers, QUEUE_DEFAULTS, true));
      case 'amq-queue':
        return destination.queue;
      case 'topic':
      case 'exchange': {
        const exchange = destination.kind === 'topic' ? 'amq.topic' : destination.exchange;
        if (destination.kind === 'exchange') vhost.declareExchange(exchange, undefined, PASSIVE_EXCHANGE, true);
        const durable = optionalBoolean(headers, 'durable') ?? optionalBoolean(headers, 'persistent') ?? false;
        // A durable subscription's queue is named after destination and id, so that it is found again on reconnect.
        const name = headers.get('x-queue-name') ?? `stomp-subscription-${durable ? createHash('md5').update(JSON.stringify([text, id])).digest('base64url') : randomUUID()}`;
        const queue = this.declareQueue(connected, name, queueOptions(headers, { durable, exclusive: !durable, autoDelete: true }, true));
        vhost.bindQueue(connected.connection, queue, exchange, destination.key, {});
        return queue;
      }
      case 'temp-queue':
      case 'reply-queue':
        throw new StompError(
          `cannot SUBSCRIBE to ${text}: a /temp-queue/ is subscribed automatically when a SEND names it in reply-to, and its replies arrive with subscription:/temp-queue/<name>`,
        );
    }
  }

  private declareQueue(connected: Connected, name: string, options: QueueOptions): string {
    try {
      return connected.vhost.declareQueue(connected.connection, name, options, false).queue;
    } catch (error) {
      if (error instanceof BrokerError && error.code === 'PRECONDITION_FAILED' && error.message.includes('already exists')) {
        throw new StompError(`${error.message}; the durable, auto-delete, exclusive and x- headers of the frame declare it, and /amq/queue/${name} uses an existing queue as it is`);
      }
      throw error;
    }
  }

  private unsubscribe(connected: Connected, headers: Map<string, string>): void {
    const id = headers.get('id') ?? (connected.version === '1.0' ? headers.get('destination') : undefined);
    if (id === undefined) throw new StompError('UNSUBSCRIBE needs the id header of the subscription to end');
    const sub = connected.subscriptions.get(id);
    if (!sub) throw new StompError(`UNSUBSCRIBE names subscription "${id}", which this connection does not have`);
    connected.subscriptions.delete(id);
    connected.byTag.delete(sub.consumerTag);
    connected.connection.cancel(sub.consumerTag);
    // RabbitMQ: an UNSUBSCRIBE with durable:true deletes a durable topic subscription for good.
    if (sub.ownsQueue && (optionalBoolean(headers, 'durable') ?? optionalBoolean(headers, 'persistent'))) {
      connected.vhost.deleteQueue(connected.connection, sub.queue, false, false);
    }
  }

  /** ACK or NACK: `client` subscriptions settle every earlier message of the subscription too. */
  private settle(connected: Connected, command: string, headers: Map<string, string>): void {
    const id = ackId(headers, command);
    const found = this.findDelivery(connected, id);
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
    for (const settled of tags) {
      sub.unacked.delete(settled);
      if (command === 'ACK') connected.connection.ack(settled, false);
      else connected.connection.nack(settled, false, requeue);
    }
  }

  /** The subscription and delivery tag an ack id (`T_<subscription>@@session-<n>@@<tag>`) names, when unsettled. */
  private findDelivery(connected: Connected, id: string): { sub: Subscription; tag: number } | undefined {
    const at = id.lastIndexOf('@@');
    const marker = `@@session-${this.session.id}`;
    if (at < 0 || !id.startsWith('T_') || !id.slice(0, at).endsWith(marker)) return undefined;
    const tag = Number(id.slice(at + 2));
    const sub = connected.subscriptions.get(id.slice(2, at - marker.length));
    return sub && Number.isSafeInteger(tag) && sub.unacked.has(tag) ? { sub, tag } : undefined;
  }
}

/**
 * A stream subscription's `x-stream-offset` (RabbitMQ Web-STOMP's forms: `first`, `last`, `next`,
 * `offset=<n>`, `timestamp=<seconds>`) and `x-stream-consumer`, as consume arguments.
 */
function streamArguments(headers: Map<string, string>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  const offset = headers.get('x-stream-offset');
  if (offset !== undefined) {
    const [form, value] = offset.split('=', 2);
    if (value === undefined && (form === 'first' || form === 'last' || form === 'next')) args['x-stream-offset'] = form;
    else if (form === 'offset' && value !== undefined) args['x-stream-offset'] = integerHeader('x-stream-offset offset', value, 0);
    else if (form === 'timestamp' && value !== undefined) args['x-stream-offset'] = { timestamp: integerHeader('x-stream-offset timestamp', value, 0) * 1000 };
    else throw new StompError(`header x-stream-offset must be first, last, next, offset=<n> or timestamp=<seconds> (got ${JSON.stringify(offset.slice(0, 40))})`);
  }
  const group = headers.get('x-stream-consumer');
  if (group !== undefined) args['x-stream-consumer'] = group;
  return args;
}
