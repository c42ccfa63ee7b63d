import type { RawData, WebSocket } from 'ws';
import { BrokerError, Connection, PERSISTED, REJECTED, ROUTED, type DeliverySink, type QueueEntry } from '../broker/index.js';
import {
  blockedFrame,
  cancelledFrame,
  deliverFrame,
  describeSchemaError,
  errorFrame,
  getOkFrame,
  NO_FIELDS,
  okFrame,
  publishedMessage,
  rawPayloads,
  returnFrame,
  validatorFor,
  type ConnectRequest,
  type PublishRequest,
  type Request,
  UNBLOCKED_FRAME,
} from '../protocol/index.js';
import { SocketSession, type SessionContext } from './socket-session.js';

export type { SessionContext } from './socket-session.js';

/** WebSocket close code after failed authentication (docs/protocol.md, "Connecting"). */
const CLOSE_ACCESS_REFUSED = 4401;


/**
 * One WebSocket: decodes frames, applies them to the broker through its Connection, and writes
 * replies and deliveries in batches, stopping pushes while the socket is backed up.
 */
export class Session extends SocketSession implements DeliverySink {
  private clientName: string | undefined;
  /** Set while a consume runs: the deliveries it starts wait until its ok is out. */
  private afterReply: string[] | undefined;
  /** The last consumer tag delivered to and its JSON: one consumer per connection is the usual case. */
  private lastConsumerTag = '';
  private lastConsumerTagJson = '""';

  constructor(socket: WebSocket, id: string, context: SessionContext, remoteAddress: string | undefined) {
    super(socket, id, context);
    this.logger.info({ address: remoteAddress }, 'connection opened');
  }

  onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.emit(errorFrame('SYNTAX_ERROR', 'binary WebSocket messages are not accepted: send frames as JSON text'));
      return;
    }
    const text = data.toString();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      this.emit(errorFrame('SYNTAX_ERROR', `the message is not valid JSON: ${(error as Error).message}`));
      return;
    }
    const payloads = text.includes('"payload"') ? this.findPayloads(text) : [];
    if (Array.isArray(parsed)) for (let index = 0; index < parsed.length; index++) this.handleFrame(parsed[index], payloads[index]);
    else this.handleFrame(parsed, payloads[0]);
    const alarm = this.context.flow.alarm;
    if (alarm !== null && this.publisher) this.block(alarm);
  }

  /** The payloads' source text; should the scanner ever fail, they are serialised again instead. */
  private findPayloads(text: string): (string | undefined)[] {
    try {
      return rawPayloads(text);
    } catch (error) {
      this.logger.error({ err: error }, 'payload scanner failed on a valid message; payloads re-serialised');
      return [];
    }
  }

  onClose(code: number): void {
    this.releaseOutput();
    this.connection?.close();
    this.logger.info({ code, clientName: this.clientName }, 'connection closed');
  }

  // DeliverySink: called by the broker's queues.
  deliver(consumerTag: string, deliveryTag: number, entry: QueueEntry): void {
    if (consumerTag !== this.lastConsumerTag) {
      this.lastConsumerTag = consumerTag;
      this.lastConsumerTagJson = JSON.stringify(consumerTag);
    }
    const frame = deliverFrame(this.lastConsumerTagJson, deliveryTag, entry);
    if (this.afterReply) this.afterReply.push(frame);
    else this.emit(frame);
  }

  cancelled(consumerTag: string, reason?: string): void {
    this.emit(cancelledFrame(consumerTag, reason));
    if (reason) this.logger.warn({ consumerTag, reason }, 'consumer cancelled');
  }

  protected encodeBatch(out: string[]): string {
    return out.length === 1 ? out[0] : `[${out.join(',')}]`;
  }

  protected blockedNotice(reason: string): string {
    return blockedFrame(reason);
  }

  protected unblockedNotice(): string {
    return UNBLOCKED_FRAME;
  }

  /** `rawPayload` is the source text of the frame's payload, when the scanner found it. */
  private handleFrame(raw: unknown, rawPayload: string | undefined): void {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      this.emit(errorFrame('SYNTAX_ERROR', 'each frame must be a JSON object with an "op"'));
      return;
    }
    const { op, id: rawId } = raw as { op?: unknown; id?: unknown };
    const id = readableId(rawId);
    const validate = typeof op === 'string' ? validatorFor(op) : undefined;
    if (!validate) {
      const problem = typeof op === 'string' ? `unknown op ${JSON.stringify(op)}` : 'the frame has no string "op"';
      this.emit(errorFrame('SYNTAX_ERROR', `${problem}; see docs/protocol.md for the ops`, id));
      return;
    }
    if (!validate(raw)) {
      this.emit(errorFrame('SYNTAX_ERROR', describeSchemaError(op as string, validate.errors?.[0]), id));
      return;
    }
    const frame = raw as Request;
    try {
      if (frame.op === 'connect') this.connect(frame);
      else if (!this.connection) throw new BrokerError('NOT_ALLOWED', `send "connect" first; "${frame.op}" is not allowed before it`);
      else if (frame.op === 'publish') this.publish(frame, rawPayload);
      else this.execute(this.connection, frame);
    } catch (error) {
      this.emit(errorFrame(...this.describeFailure(error, frame.op), id));
    }
  }

  private describeFailure(error: unknown, op: string): [BrokerError['code'], string] {
    if (error instanceof BrokerError) return [error.code, error.message];
    if (error instanceof RangeError) return ['SYNTAX_ERROR', `${op}: the frame nests too deeply to process`];
    this.logger.error({ err: error, op }, 'internal error');
    return ['INTERNAL_ERROR', `${op} failed inside the broker; the failure is logged there`];
  }

  private connect(frame: ConnectRequest): void {
    if (this.connection) throw new BrokerError('NOT_ALLOWED', 'this connection is already connected; "connect" is allowed once');
    const { users } = this.context;
    if (users.length > 0 && !users.some((user) => user.username === frame.username && user.password === frame.password)) {
      this.logger.warn({ username: frame.username }, 'authentication failed');
      this.emit(errorFrame('ACCESS_REFUSED', 'unknown username or wrong password', frame.id));
      this.flush();
      this.socket.close(CLOSE_ACCESS_REFUSED, 'access refused');
      return;
    }
    this.clientName = frame.clientName;
    this.connection = new Connection(this.id, this.context.broker, this);
    this.logger.info({ clientName: this.clientName, username: frame.username }, 'connected');
    this.emit(okFrame(frame.id, { server: { name: 'warren', version: this.context.serverVersion }, connectionId: this.id }));
  }

  // docs/protocol.md, "Requests" and "Consuming": one case per op.
  private execute(connection: Connection, f: Exclude<Request, ConnectRequest | PublishRequest>): void {
    const broker = this.context.broker;
    switch (f.op) {
      case 'ack':
        connection.ack(f.deliveryTag, f.multiple ?? false);
        return;
      case 'nack':
        connection.nack(f.deliveryTag, f.multiple ?? false, f.requeue ?? true);
        return;
      case 'reject':
        connection.reject(f.deliveryTag, f.requeue ?? true);
        return;
      case 'exchange.declare':
        broker.declareExchange(
          f.exchange,
          f.type,
          { durable: f.durable ?? true, autoDelete: f.autoDelete ?? false, internal: f.internal ?? false, arguments: f.arguments ?? {} },
          f.passive ?? false,
        );
        break;
      case 'exchange.delete':
        broker.deleteExchange(f.exchange, f.ifUnused ?? false);
        break;
      case 'exchange.bind':
      case 'exchange.unbind': {
        const bind = f.op === 'exchange.bind' ? broker.bindExchange : broker.unbindExchange;
        bind.call(broker, f.destination, f.source, f.routingKey ?? '', f.arguments ?? {});
        break;
      }
      case 'queue.declare': {
        const options = { durable: f.durable ?? true, exclusive: f.exclusive ?? false, autoDelete: f.autoDelete ?? false, arguments: f.arguments ?? {} };
        this.emit(okFrame(f.id, { ...broker.declareQueue(connection, f.queue ?? '', options, f.passive ?? false) }));
        return;
      }
      case 'queue.bind':
      case 'queue.unbind': {
        const bind = f.op === 'queue.bind' ? broker.bindQueue : broker.unbindQueue;
        bind.call(broker, connection, f.queue, f.exchange, f.routingKey ?? '', f.arguments ?? {});
        break;
      }
      case 'queue.purge':
        this.emit(okFrame(f.id, { messageCount: broker.purgeQueue(connection, f.queue) }));
        return;
      case 'queue.delete':
        this.emit(okFrame(f.id, { messageCount: broker.deleteQueue(connection, f.queue, f.ifUnused ?? false, f.ifEmpty ?? false) }));
        return;
      case 'consume': {
        // The consume's ok goes before the deliveries it starts.
        const deferred: string[] = [];
        this.afterReply = deferred;
        try {
          const consumerTag = connection.consume(f.queue, {
            consumerTag: f.consumerTag,
            prefetch: f.prefetch ?? 0,
            noAck: f.noAck ?? false,
            exclusive: f.exclusive ?? false,
            priority: f.priority ?? 0,
            arguments: f.arguments ?? {},
          });
          this.emit(okFrame(f.id, { consumerTag }));
        } finally {
          this.afterReply = undefined;
        }
        for (const delivery of deferred) this.emit(delivery);
        return;
      }
      case 'cancel':
        connection.cancel(f.consumerTag);
        break;
      case 'get': {
        const { delivery, messageCount } = connection.get(f.queue, f.noAck ?? false);
        this.emit(getOkFrame(f.id, delivery, messageCount));
        return;
      }
    }
    this.emit(okFrame(f.id));
  }

  // docs/protocol.md, "Publishing and confirms".
  private publish(frame: PublishRequest, rawPayload: string | undefined): void {
    this.publisher = true;
    // Encoded now, once: a message that cannot be serialised fails here, not at each delivery.
    const message = publishedMessage(
      frame.exchange ?? '',
      frame.routingKey ?? '',
      rawPayload ?? JSON.stringify(frame.payload),
      frame.headers ?? NO_FIELDS,
      frame.properties ?? NO_FIELDS,
    );
    const outcome = this.context.broker.publish(message.exchange, message);
    const id = frame.id;
    if (frame.mandatory === true && !(outcome & ROUTED)) this.emit(returnFrame(message, id));
    if (outcome & REJECTED) {
      throw new BrokerError('REJECTED', 'a queue the message routes to is full (x-overflow reject-publish); it reached any other queues it routes to');
    }
    if (id === undefined) return;
    if (outcome & PERSISTED) this.emitAfterSync(okFrame(id), () => syncFailedFrame(id));
    else this.emit(okFrame(id));
  }
}

const syncFailedFrame = (id: number): string =>
  errorFrame('INTERNAL_ERROR', 'the broker could not write the message to disk; it may not survive a restart: publish it again', id);

function readableId(id: unknown): number | undefined {
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 1 ? id : undefined;
}
