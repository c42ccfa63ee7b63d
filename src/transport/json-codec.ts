import { BrokerError, DEFAULT_FETCH, PERSISTED, ROUTED, type QueueEntry } from '../broker/index.js';
import {
  blockedFrame,
  cancelledFrame,
  deliverFrame,
  deliverPrefix,
  describeSchemaError,
  errorFrame,
  fetchOkFrame,
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
import { SetAside, type CodecSession, type LoggedIn, type WireCodec, type WireProtocol } from './codec.js';

/** The arguments of a frame that has none: shared (an idle subscriber's queue, binding and consumer held three empty objects). */
const NO_ARGUMENTS: Record<string, unknown> = Object.freeze({});

/** Warren's own protocol (docs/protocol.md): JSON frames, selected by `warren.v1` or by no subprotocol. */
export const JSON_PROTOCOL: WireProtocol = {
  name: 'warren',
  subprotocols: ['', 'warren.v1'],
  refusalFrame: (message) => errorFrame('RESOURCE_ERROR', message),
  open: (session) => new JsonCodec(session),
};

const NO_TAG_DELIVER_PREFIX = deliverPrefix('');

/** Decodes JSON frames into broker calls and encodes replies and pushes as JSON. */
class JsonCodec implements WireCodec {
  /** The last consumer tag delivered to and its frames' start: one consumer per connection is the usual case. */
  private lastConsumerTag = '';
  private lastDeliverPrefix = NO_TAG_DELIVER_PREFIX;
  /** Frames of a message that came after one that suspended input (a connect), with their payloads' text. */
  private readonly waiting = new SetAside<{ raw: unknown; rawPayload: string | undefined }>();

  constructor(private readonly session: CodecSession) {}

  // docs/protocol.md, "Transport and frames".
  onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.session.emit(errorFrame('SYNTAX_ERROR', 'binary WebSocket messages are not accepted: send frames as JSON text'));
      return;
    }
    const text = data.toString();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      this.session.emit(errorFrame('SYNTAX_ERROR', `the message is not valid JSON: ${(error as Error).message}`));
      return;
    }
    const payloads = text.includes('"payload"') ? this.findPayloads(text) : [];
    if (!Array.isArray(parsed)) {
      this.handleFrame(parsed, payloads[0]);
      return;
    }
    for (let index = 0; index < parsed.length && !this.session.ended; index++) {
      if (this.session.inputSuspended) this.waiting.add({ raw: parsed[index], rawPayload: payloads[index] });
      else this.handleFrame(parsed[index], payloads[index]);
    }
  }

  resume(): void {
    this.waiting.replay(this.session, ({ raw, rawPayload }) => this.handleFrame(raw, rawPayload));
  }

  deliverFrame(consumerTag: string, deliveryTag: number, entry: QueueEntry): string {
    if (consumerTag !== this.lastConsumerTag) {
      this.lastConsumerTag = consumerTag;
      this.lastDeliverPrefix = deliverPrefix(consumerTag);
    }
    return deliverFrame(this.lastDeliverPrefix, deliveryTag, entry);
  }

  cancelled(consumerTag: string, reason: string | undefined): void {
    this.session.emit(cancelledFrame(consumerTag, reason));
  }

  // The brackets go onto the end frames, not around the joined text: `[${joined}]` is a cons
  // string, which ws flattens into a second copy of the whole turn to count its bytes.
  encodeBatch(frames: string[]): string {
    const last = frames.length - 1;
    if (last === 0) return frames[0];
    frames[0] = '[' + frames[0];
    frames[last] += ']';
    return frames.join(',');
  }

  blockedNotice(reason: string): string {
    return blockedFrame(reason);
  }

  unblockedNotice(): string {
    return UNBLOCKED_FRAME;
  }

  closed(): void {}

  accessEnded(message: string): string {
    return errorFrame('ACCESS_REFUSED', message);
  }

  /** The payloads' source text; should the scanner ever fail, they are serialised again instead. */
  private findPayloads(text: string): (string | undefined)[] {
    try {
      return rawPayloads(text);
    } catch (error) {
      this.session.logger.error({ err: error }, 'payload scanner failed on a valid message; payloads re-serialised');
      return [];
    }
  }

  /** `rawPayload` is the source text of the frame's payload, when the scanner found it. */
  private handleFrame(raw: unknown, rawPayload: string | undefined): void {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      this.session.emit(errorFrame('SYNTAX_ERROR', 'each frame must be a JSON object with an "op"'));
      return;
    }
    const { op, id: rawId } = raw as { op?: unknown; id?: unknown };
    const id = readableId(rawId);
    const validate = typeof op === 'string' ? validatorFor(op) : undefined;
    if (typeof op !== 'string' || !validate) {
      const problem = typeof op === 'string' ? `unknown op ${JSON.stringify(op)}` : 'the frame has no string "op"';
      this.session.emit(errorFrame('SYNTAX_ERROR', `${problem}; see docs/protocol.md for the ops`, id));
      return;
    }
    if (!validate(raw)) {
      this.session.emit(errorFrame('SYNTAX_ERROR', describeSchemaError(op, validate.errors?.[0]), id));
      return;
    }
    const frame = raw as Request;
    const { loggedIn } = this.session;
    try {
      if (frame.op === 'connect') this.connect(frame);
      else if (!loggedIn) throw new BrokerError('NOT_ALLOWED', `send "connect" first; "${frame.op}" is not allowed before it`);
      else if (frame.op === 'publish') this.publish(loggedIn, frame, rawPayload);
      else this.execute(loggedIn, frame);
    } catch (error) {
      // Ajv and JSON.stringify recurse: a frame nested deep enough overflows the stack.
      const { code, message } =
        error instanceof RangeError ? { code: 'SYNTAX_ERROR' as const, message: `${frame.op}: the frame nests too deeply to process` } : this.session.describeFailure(error, frame.op);
      this.session.emit(errorFrame(code, message, id));
    }
  }

  // docs/protocol.md, "Connecting".
  private connect(frame: ConnectRequest): void {
    if (this.session.loggedIn) throw new BrokerError('NOT_ALLOWED', 'this connection is already connected; "connect" is allowed once');
    const { id } = frame;
    this.session.login(
      { username: frame.username, password: frame.password, token: frame.token, vhost: frame.vhost },
      { protocol: 'Warren/JSON', clientName: frame.clientName },
      (message) => errorFrame('ACCESS_REFUSED', message, id),
      ({ principal }) => {
        const server = { name: 'warren', version: this.session.serverVersion };
        const expiresAt = principal.expiresAt === undefined ? {} : { expiresAt: principal.expiresAt };
        this.session.emit(okFrame(id, { server, connectionId: this.session.id, user: principal.username, vhost: principal.vhost, ...expiresAt }));
      },
    );
  }

  // docs/protocol.md, "Requests and replies": one case per op.
  private execute({ connection, vhost }: LoggedIn, f: Exclude<Request, ConnectRequest | PublishRequest>): void {
    const { session } = this;
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
        vhost.declareExchange(
          f.exchange,
          f.type,
          { durable: f.durable ?? true, autoDelete: f.autoDelete ?? false, internal: f.internal ?? false, arguments: f.arguments ?? NO_ARGUMENTS },
          f.passive ?? false,
        );
        break;
      case 'exchange.delete':
        vhost.deleteExchange(f.exchange, f.ifUnused ?? false);
        break;
      case 'exchange.bind':
      case 'exchange.unbind':
        vhost.bindExchange(f.destination, f.source, f.routingKey ?? '', f.arguments ?? NO_ARGUMENTS, f.op === 'exchange.unbind');
        break;
      case 'queue.declare': {
        const options = { durable: f.durable ?? true, exclusive: f.exclusive ?? false, autoDelete: f.autoDelete ?? false, arguments: f.arguments ?? NO_ARGUMENTS };
        session.emitTopologyReply(okFrame(f.id, { ...vhost.declareQueue(connection, f.queue ?? '', options, f.passive ?? false) }), internalError(f.id));
        return;
      }
      case 'queue.bind':
      case 'queue.unbind':
        vhost.bindQueue(connection, f.queue, f.exchange, f.routingKey ?? '', f.arguments ?? NO_ARGUMENTS, f.op === 'queue.unbind');
        break;
      case 'queue.purge':
        session.emit(okFrame(f.id, { messageCount: vhost.purgeQueue(connection, f.queue) }));
        return;
      case 'queue.delete':
        session.emitTopologyReply(okFrame(f.id, { messageCount: vhost.deleteQueue(connection, f.queue, f.ifUnused ?? false, f.ifEmpty ?? false) }), internalError(f.id));
        return;
      case 'consume': {
        // The consume's ok goes before the deliveries it starts.
        session.deferDeliveries();
        try {
          const consumerTag = vhost.consume(connection, f.queue, {
            consumerTag: f.consumerTag,
            prefetch: f.prefetch ?? 0,
            noAck: f.noAck ?? false,
            exclusive: f.exclusive ?? false,
            priority: f.priority ?? 0,
            arguments: f.arguments ?? NO_ARGUMENTS,
          });
          session.emit(okFrame(f.id, { consumerTag }));
        } finally {
          session.releaseDeliveries();
        }
        return;
      }
      case 'cancel':
        connection.cancel(f.consumerTag);
        session.emit(okFrame(f.id));
        return;
      case 'get': {
        const reply = () => {
          const { delivery, messageCount } = vhost.get(connection, f.queue, f.noAck ?? false);
          return getOkFrame(f.id, delivery, messageCount);
        };
        replyWhenReady(session, vhost.beforeGet(connection, f.queue), reply, 'get', f.id);
        return;
      }
      case 'fetch': {
        const stream = vhost.stream(connection, f.queue);
        const max = f.max ?? DEFAULT_FETCH;
        const reply = () => fetchOkFrame(f.id, stream.fetch(f.offset, max), stream.firstOffset, stream.nextOffset);
        replyWhenReady(session, stream.beforeFetch(f.offset, max), reply, 'fetch', f.id);
        return;
      }
      case 'commit':
        vhost.stream(connection, f.queue).commit(f.consumer, f.offset);
        session.emit(okFrame(f.id));
        return;
      case 'committed':
        session.emit(okFrame(f.id, { offset: vhost.stream(connection, f.queue).committed(f.consumer) }));
        return;
      case 'auth.refresh': {
        const { id } = f;
        session.refresh(
          f.token,
          (expiresAt) => okFrame(id, { expiresAt }),
          (message) => errorFrame('ACCESS_REFUSED', message, id),
        );
        return;
      }
    }
    // What falls through changed the topology: exchanges and bindings.
    session.emitTopologyReply(okFrame(f.id), internalError(f.id));
  }

  // docs/protocol.md, "Publishing and confirms".
  private publish(loggedIn: LoggedIn, frame: PublishRequest, rawPayload: string | undefined): void {
    // Encoded now, once: a message that cannot be serialised fails here, not at each delivery.
    const message = publishedMessage(
      frame.exchange ?? '',
      frame.routingKey ?? '',
      rawPayload ?? JSON.stringify(frame.payload),
      frame.headers ?? NO_FIELDS,
      frame.properties ?? NO_FIELDS,
    );
    const outcome = this.session.publish(loggedIn, message);
    const id = frame.id;
    if (frame.mandatory === true && !(outcome & ROUTED)) this.session.emit(returnFrame(message, id));
    if (id === undefined) return;
    this.session.confirm(okFrame(id), (outcome & PERSISTED) !== 0 ? internalError(id) : undefined);
  }
}

/** `reply` now, or once `ready` resolves (a cluster's read from Redis first); a failure answers as `op` failing. */
function replyWhenReady(session: CodecSession, ready: Promise<void> | undefined, reply: () => string, op: string, id: number | undefined): void {
  if (ready === undefined) return session.emit(reply());
  session.emitPending(ready.then(reply), (error) => {
    const { code, message } = session.describeFailure(error, op);
    return errorFrame(code, message, id);
  });
}

/** The frame for a reply the broker could not give after all (a store's or a cluster's write failed). */
const internalError =
  (id: number | undefined) =>
  (message: string): string =>
    errorFrame('INTERNAL_ERROR', message, id);

function readableId(id: unknown): number | undefined {
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 1 ? id : undefined;
}
