import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { Broker, BrokerError, Connection, PERSISTED, REJECTED, ROUTED, type DeliverySink, type Message, type QueueEntry } from '../broker/index.js';
import type { UserConfig } from '../config/index.js';
import {
  blockedFrame,
  cancelledFrame,
  deliverFrame,
  describeSchemaError,
  errorFrame,
  getOkFrame,
  messageBody,
  okFrame,
  returnFrame,
  validatorFor,
  type ConnectRequest,
  type PublishRequest,
  type Request,
  UNBLOCKED_FRAME,
} from '../protocol/index.js';

/** What every session of one server shares. */
export interface SessionContext {
  readonly broker: Broker;
  readonly users: readonly UserConfig[];
  readonly highWaterBytes: number;
  /** A socket above the high-water mark this long is cut (a consumer that never reads). */
  readonly drainTimeoutMs: number;
  /** The memory or disk alarm in force, shared by every session; null when none. */
  readonly flow: { alarm: string | null };
  readonly serverVersion: string;
  readonly logger: Logger;
}

/** WebSocket close code after failed authentication (docs/protocol.md, "Connecting"). */
const CLOSE_ACCESS_REFUSED = 4401;


/** A reply that waits for the store's sync, and whatever must follow it on this socket. */
interface HeldBatch {
  ready: boolean;
  frames: string[];
}

// Output of every session is flushed once per event-loop turn: all frames for one socket in one
// WebSocket message, and one setImmediate for the whole server rather than one per socket.
const sessionsToFlush = new Set<Session>();
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  for (const session of sessionsToFlush) session.flush();
  sessionsToFlush.clear();
}

/**
 * One WebSocket: decodes frames, applies them to the broker through its Connection, and writes
 * replies and deliveries in batches, stopping pushes while the socket is backed up.
 */
export class Session implements DeliverySink {
  /** Answered the last ping. */
  alive = true;
  private connection: Connection | undefined;
  private clientName: string | undefined;
  private readonly out: string[] = [];
  private readonly held: HeldBatch[] = [];
  /** Deliveries caused by a request wait until its reply is out (a consume's ok before its first delivery). */
  private afterReply: string[] | undefined;
  private readonly consumerTagJson = new Map<string, string>();
  /** Shutting down: pushes stay off. */
  private stopped = false;
  /** Has published: an alarm blocks it. */
  private publisher = false;
  /** Blocked by an alarm: the socket is not read until it clears. */
  blocked = false;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly logger: Logger;

  constructor(
    private readonly socket: WebSocket,
    readonly id: string,
    private readonly context: SessionContext,
    remoteAddress: string | undefined,
  ) {
    this.logger = context.logger.child({ conn: id });
    this.logger.info({ address: remoteAddress }, 'connection opened');
  }

  onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.emit(errorFrame('SYNTAX_ERROR', 'binary WebSocket messages are not accepted: send frames as JSON text'));
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch (error) {
      this.emit(errorFrame('SYNTAX_ERROR', `the message is not valid JSON: ${(error as Error).message}`));
      return;
    }
    if (Array.isArray(parsed)) for (const frame of parsed) this.handleFrame(frame);
    else this.handleFrame(parsed);
    const alarm = this.context.flow.alarm;
    if (alarm !== null && this.publisher) this.block(alarm);
  }

  onPong(): void {
    this.alive = true;
  }

  onClose(code: number): void {
    sessionsToFlush.delete(this);
    clearTimeout(this.drainTimer);
    this.connection?.close();
    this.logger.info({ code, clientName: this.clientName }, 'connection closed');
  }

  // DeliverySink: called by the broker's queues.
  deliver(consumerTag: string, deliveryTag: number, entry: QueueEntry): void {
    let tagJson = this.consumerTagJson.get(consumerTag);
    if (tagJson === undefined) this.consumerTagJson.set(consumerTag, (tagJson = JSON.stringify(consumerTag)));
    const frame = deliverFrame(tagJson, deliveryTag, entry);
    if (this.afterReply) this.afterReply.push(frame);
    else this.emit(frame);
  }

  cancelled(consumerTag: string, reason?: string): void {
    this.consumerTagJson.delete(consumerTag);
    this.emit(cancelledFrame(consumerTag, reason));
    if (reason) this.logger.warn({ consumerTag, reason }, 'consumer cancelled');
  }

  /** Sends everything queued for this socket as one WebSocket message. */
  flush(): void {
    const out = this.out;
    if (out.length === 0 || this.socket.readyState !== this.socket.OPEN) {
      out.length = 0;
      return;
    }
    const text = out.length === 1 ? out[0] : `[${out.join(',')}]`;
    out.length = 0;
    this.socket.send(text, this.afterSend);
    if (this.socket.bufferedAmount > this.context.highWaterBytes && this.connection?.writable) {
      this.connection.setWritable(false);
      this.drainTimer ??= setTimeout(this.onDrainTimeout, this.context.drainTimeoutMs);
    }
  }

  /** An alarm is in force: a publishing connection is told, and its socket is no longer read. */
  block(reason: string): void {
    if (this.blocked || !this.publisher) return;
    this.blocked = true;
    this.emit(blockedFrame(reason));
    this.flush();
    this.socket.pause();
    this.logger.info({ reason }, 'publisher blocked');
  }

  unblock(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.emit(UNBLOCKED_FRAME);
    this.socket.resume();
    this.logger.info('publisher unblocked');
  }

  private readonly onDrainTimeout = (): void => {
    this.drainTimer = undefined;
    if (this.socket.bufferedAmount <= this.context.highWaterBytes / 2) return;
    this.logger.warn({ bufferedBytes: this.socket.bufferedAmount, timeoutMs: this.context.drainTimeoutMs }, 'socket did not drain; closing it');
    this.socket.terminate();
  };

  /** Shutdown: no more pushes; what is already queued for the socket goes out now. */
  stopPushing(): void {
    this.stopped = true;
    this.connection?.setWritable(false);
    this.flush();
  }

  private readonly afterSend = (): void => {
    // Resume pushes once the socket has drained below half the high-water mark.
    if (this.connection && !this.stopped && !this.connection.writable && this.socket.bufferedAmount <= this.context.highWaterBytes / 2) {
      clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
      this.connection.setWritable(true);
    }
  };

  private emit(frame: string): void {
    if (this.held.length > 0) {
      this.held[this.held.length - 1].frames.push(frame);
      return;
    }
    this.out.push(frame);
    if (this.out.length === 1) {
      sessionsToFlush.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /** A confirm of a persisted message: it and every frame after it wait for the store's sync. */
  private emitAfterSync(frame: string, id: number): void {
    const batch: HeldBatch = { ready: false, frames: [frame] };
    this.held.push(batch);
    this.context.broker.store.sync().then(
      () => this.release(batch),
      (error: unknown) => {
        this.logger.error({ err: error }, 'store sync failed');
        batch.frames[0] = errorFrame('INTERNAL_ERROR', 'the broker could not write the message to disk; it may not survive a restart: publish it again', id);
        this.release(batch);
      },
    );
  }

  private release(batch: HeldBatch): void {
    batch.ready = true;
    while (this.held.length > 0 && this.held[0].ready) {
      const { frames } = this.held.shift() as HeldBatch;
      for (const frame of frames) this.emit(frame);
    }
  }

  private handleFrame(raw: unknown): void {
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
    this.afterReply = [];
    try {
      if (frame.op === 'connect') this.connect(frame);
      else if (!this.connection) throw new BrokerError('NOT_ALLOWED', `send "connect" first; "${frame.op}" is not allowed before it`);
      else this.execute(this.connection, frame);
    } catch (error) {
      this.emit(errorFrame(...this.describeFailure(error, frame.op), id));
    } finally {
      const deferred = this.afterReply;
      this.afterReply = undefined;
      for (const delivery of deferred) this.emit(delivery);
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
  private execute(connection: Connection, f: Exclude<Request, ConnectRequest>): void {
    const broker = this.context.broker;
    switch (f.op) {
      case 'publish':
        this.publish(f);
        return;
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
        const consumerTag = connection.consume(f.queue, {
          consumerTag: f.consumerTag,
          prefetch: f.prefetch ?? 0,
          noAck: f.noAck ?? false,
          exclusive: f.exclusive ?? false,
          priority: f.priority ?? 0,
          arguments: f.arguments ?? {},
        });
        this.emit(okFrame(f.id, { consumerTag }));
        return;
      }
      case 'cancel':
        connection.cancel(f.consumerTag);
        this.consumerTagJson.delete(f.consumerTag);
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
  private publish(frame: PublishRequest): void {
    this.publisher = true;
    const payload = JSON.stringify(frame.payload);
    const message: Message = {
      exchange: frame.exchange ?? '',
      routingKey: frame.routingKey ?? '',
      payload,
      size: Buffer.byteLength(payload, 'utf8'),
      headers: frame.headers ?? {},
      properties: frame.properties ?? {},
    };
    // Encode now, once: a message that cannot be serialised fails here, not at each delivery.
    messageBody(message);
    const outcome = this.context.broker.publish(message.exchange, message);
    const id = frame.id;
    if (frame.mandatory === true && !(outcome & ROUTED)) this.emit(returnFrame(message, id));
    if (outcome & REJECTED) {
      throw new BrokerError('REJECTED', 'a queue the message routes to is full (x-overflow reject-publish); it reached any other queues it routes to');
    }
    if (id === undefined) return;
    if (outcome & PERSISTED) this.emitAfterSync(okFrame(id), id);
    else this.emit(okFrame(id));
  }
}

function readableId(id: unknown): number | undefined {
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 1 ? id : undefined;
}
