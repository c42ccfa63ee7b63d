import type {
  BlockedFrame,
  CancelledFrame,
  ConnectReply,
  ReplyOf,
  RequestFields,
  RequestOp,
  ReturnFrame,
} from '../protocol/index.js';
import { backoffDelay, reconnectPolicy, type ReconnectPolicy } from './backoff.js';
import { IncomingDelivery, isDeliverFrame } from './delivery.js';
import { Emitter, type Listener } from './emitter.js';
import { brokerError, connectionClosed, WarrenError } from './errors.js';
import { num, obj, pick, str, type FieldsOf, type Frame, type Received } from './frame.js';
import { Session, type SessionHandlers } from './session.js';
import { MIN_REFRESH_INTERVAL_MS, refreshDelay, retryDelay, unrefTimer } from './token-refresh.js';
import type {
  Arguments,
  ConnectOptions,
  ConsumeOptions,
  DeclareExchangeOptions,
  DeclareQueueOptions,
  DeclareQueueResult,
  DeleteExchangeOptions,
  DeleteQueueOptions,
  Delivery,
  DeliveryHandler,
  DisconnectEvent,
  ExchangeType,
  FetchResult,
  GetOptions,
  GetResult,
  MessageCountResult,
  PublishOptions,
  ReturnedMessage,
  ServerInfo,
  StreamMessage,
  WarrenClientEvents,
} from './types.js';
import { resolveWebSocket, type WebSocketConstructor } from './websocket.js';

/** Where the client is in its life. */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

interface Consumer {
  readonly queue: string;
  readonly handler: DeliveryHandler;
  /** The `consume` frame's fields with the tag in use: what a reconnect sends again. */
  readonly fields: RequestFields<'consume'>;
  readonly noAck: boolean;
  /** A `cancel` is on its way: a reconnect does not restore it. */
  cancelling: boolean;
}

/** The close codes of a login the broker refused or ended (protocol.md, "Connecting"): credentials or token, vhost. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
/** The longest delay setTimeout takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

// Set in WarrenClient's static block: lets connect() open a client without a public method for it.
let openClient: (client: WarrenClient) => Promise<void>;

/**
 * A connection to a Warren broker. Get one with {@link connect}.
 *
 * Every request method returns a promise that settles with the broker's
 * reply: it rejects with a {@link WarrenError} carrying the broker's `code`,
 * or `CONNECTION_CLOSED` when the connection closed (or was closing, or is
 * reconnecting) before the reply came.
 */
export class WarrenClient {
  readonly #url: string;
  readonly #WebSocket: WebSocketConstructor;
  /** What each handshake sends: the options as they were when the client was made. */
  readonly #connectOptions: ConnectOptions;
  readonly #reconnect: ReconnectPolicy | null;
  readonly #events = new Emitter<WarrenClientEvents>((error, event) => this.#onListenerError(error, event));
  readonly #consumers = new Map<string, Consumer>();
  readonly #handlers: SessionHandlers = {
    onFrame: (frame, session) => this.#onFrame(frame, session),
    onProtocolError: (error) => this.#emitError(error),
    onClose: (event, session) => this.#onSessionClose(event, session),
  };
  #session: Session | null = null;
  #state: ClientState = 'connecting';
  #server: ServerInfo = { name: '', version: '' };
  #connectionId = '';
  /** `consume` requests without a tag waiting for their reply (which names the tag). */
  #untaggedConsumes = 0;
  /** Deliveries that came before the reply naming their consumer's tag was handled. */
  #early: Array<{ frame: Frame & { consumerTag: string; deliveryTag: number }; session: Session }> = [];
  #closing: Promise<void> | null = null;
  /** Set between the broker's `blocked` and `unblocked`: publishes wait for it. */
  #blocked: { promise: Promise<void>; resolve: () => void } | null = null;
  /** Ends the reconnect back-off wait early (when the client closes). */
  #wake: (() => void) | null = null;
  /** The token the next handshake sends (without `getToken`): the option's, or the last one {@link refreshToken} got in. */
  #token: string | undefined;
  #user: string | undefined;
  #vhost = '';
  #expiresAt: number | undefined;
  /** The `getToken` refresh due next (one at most); cleared when the connection drops or closes. */
  #refreshTimer: ReturnType<typeof setTimeout> | null = null;
  /** The broker's last `ACCESS_REFUSED` without `id` on this connection: the error of a close 4401 or 4403 that follows it. */
  #refusal: WarrenError | null = null;

  static {
    openClient = (client) => client.#open();
  }

  /**
   * @internal Use {@link connect}: a client made with `new` is not connected.
   */
  constructor(url: string, WebSocket: WebSocketConstructor, options: ConnectOptions = {}) {
    this.#url = url;
    this.#WebSocket = WebSocket;
    this.#connectOptions = { ...options };
    this.#reconnect = reconnectPolicy(options.reconnect);
    this.#token = options.token;
  }

  /** `open`, `reconnecting` (requests reject with `CONNECTION_CLOSED` meanwhile) or `closed`. */
  get state(): ClientState {
    return this.#state;
  }

  /** The broker's name and version, from the last handshake. */
  get server(): ServerInfo {
    return this.#server;
  }

  /** The broker's id for the current connection (a new one after each reconnect). */
  get connectionId(): string {
    return this.#connectionId;
  }

  /** Who the broker logged this connection in as (a token's `sub`); undefined for an anonymous connection. */
  get user(): string | undefined {
    return this.#user;
  }

  /** The vhost the connection works in. */
  get vhost(): string {
    return this.#vhost;
  }

  /**
   * When the token in use expires (ms since the epoch), for a token login;
   * undefined otherwise. The broker closes the connection then (code 4401)
   * unless a later token came first: with `getToken` the client sends one on
   * its own a little before (80% through the remaining lifetime, between 60 s
   * and 1 s before expiry); without, call {@link refreshToken}.
   */
  get expiresAt(): number | undefined {
    return this.#expiresAt;
  }

  /**
   * Replaces the connection's token (`auth.refresh`): the new token's
   * permissions apply from then on, and consumers of queues it may not read
   * are cancelled (a `'cancelled'` event with reason `permission`). Without
   * `getToken` a later reconnect logs in with it too.
   * @returns the new token's expiry (ms since the epoch), also in {@link expiresAt}
   * @throws WarrenError `ACCESS_REFUSED` when the broker refuses it (the connection keeps its old token), `NOT_ALLOWED` for a connection that did not log in with a token
   */
  async refreshToken(token: string): Promise<number> {
    const session = this.#live('refresh the token');
    const expiresAt = await this.#refresh(session, token);
    if (this.#session === session && this.#connectOptions.getToken === undefined) this.#token = token;
    return expiresAt;
  }

  /**
   * Declares an exchange, or with `passive` checks that it exists.
   * @throws WarrenError `PRECONDITION_FAILED` when it exists with other properties, `ACCESS_REFUSED` for `amq.*` names
   */
  async declareExchange(exchange: string, type: ExchangeType, options?: DeclareExchangeOptions): Promise<void> {
    await this.#request('exchange.declare', { exchange, type, ...pick(options, ['durable', 'autoDelete', 'internal', 'passive', 'arguments']) });
  }

  /** Deletes an exchange; deleting one that does not exist succeeds. */
  async deleteExchange(exchange: string, options?: DeleteExchangeOptions): Promise<void> {
    await this.#request('exchange.delete', { exchange, ...pick(options, ['ifUnused']) });
  }

  /** Routes what reaches exchange `source` with `routingKey` on to exchange `destination`. */
  async bindExchange(destination: string, source: string, routingKey = '', args?: Arguments): Promise<void> {
    await this.#request('exchange.bind', { destination, source, routingKey, ...argumentsField(args) });
  }

  /** Removes a binding made by {@link bindExchange}; removing one that does not exist succeeds. */
  async unbindExchange(destination: string, source: string, routingKey = '', args?: Arguments): Promise<void> {
    await this.#request('exchange.unbind', { destination, source, routingKey, ...argumentsField(args) });
  }

  /**
   * Declares a queue, or with `passive` checks that it exists.
   * @param queue its name; `''` (the default) lets the broker name it `amq.gen-...`
   * @returns its name and counts
   */
  async declareQueue(queue = '', options?: DeclareQueueOptions): Promise<DeclareQueueResult> {
    const reply = await this.#request('queue.declare', { queue, ...pick(options, ['durable', 'exclusive', 'autoDelete', 'passive', 'arguments']) });
    return { queue: str(reply.queue), messageCount: num(reply.messageCount), consumerCount: num(reply.consumerCount) };
  }

  /** Routes what reaches `exchange` with `routingKey` (or, for a headers exchange, matching `args`) into `queue`. */
  async bindQueue(queue: string, exchange: string, routingKey = '', args?: Arguments): Promise<void> {
    await this.#request('queue.bind', { queue, exchange, routingKey, ...argumentsField(args) });
  }

  /** Removes a binding made by {@link bindQueue}; removing one that does not exist succeeds. */
  async unbindQueue(queue: string, exchange: string, routingKey = '', args?: Arguments): Promise<void> {
    await this.#request('queue.unbind', { queue, exchange, routingKey, ...argumentsField(args) });
  }

  /** Removes a queue's ready messages (not the unacknowledged ones). */
  async purgeQueue(queue: string): Promise<MessageCountResult> {
    const reply = await this.#request('queue.purge', { queue });
    return { messageCount: num(reply.messageCount) };
  }

  /** Deletes a queue (its consumers get cancelled); deleting one that does not exist succeeds. */
  async deleteQueue(queue: string, options?: DeleteQueueOptions): Promise<MessageCountResult> {
    const reply = await this.#request('queue.delete', { queue, ...pick(options, ['ifUnused', 'ifEmpty']) });
    return { messageCount: num(reply.messageCount) };
  }

  /**
   * Publishes a message.
   *
   * By default it waits for the broker's confirm (see {@link PublishOptions.confirm}).
   * With `mandatory` an unroutable message comes back as a `'return'` event
   * (before the confirm).
   * @param exchange `''` is the default exchange, which routes to the queue named `routingKey`
   * @param payload any JSON value (`null` included, `undefined` not)
   * @throws TypeError when `payload` is `undefined` or cannot be encoded as JSON
   */
  async publish(exchange: string, routingKey: string, payload: unknown, options?: PublishOptions): Promise<void> {
    if (payload === undefined) throw new TypeError('publish: payload is undefined; use null for a message without content');
    // While the broker has us blocked (a memory or disk alarm) publishes wait here, in order, rather than pile up in the socket.
    if (this.#blocked) await this.#blocked.promise;
    const fields = { exchange, routingKey, payload, ...pick(options, ['headers', 'properties', 'mandatory']) };
    if (options?.confirm === false) {
      this.#live('publish').send('publish', fields);
      return;
    }
    await this.#request('publish', fields);
  }

  /**
   * Subscribes `handler` to `queue`: the broker pushes messages to it, up to
   * `prefetch` unacknowledged at once. Settle each with `ack`, `nack` or
   * `reject` unless `noAck`. A handler that throws or rejects is reported as
   * an `'error'` event and its message stays unacknowledged.
   *
   * With `reconnect`, the consumer is restored with the same options and tag
   * after the socket drops.
   * @returns the consumer tag, to {@link cancel} it
   */
  async consume(queue: string, handler: (message: Delivery) => void | Promise<void>, options?: ConsumeOptions): Promise<string> {
    const session = this.#live('consume');
    const fields = { queue, ...pick(options, ['prefetch', 'noAck', 'exclusive', 'priority', 'consumerTag']), ...streamArguments(options) };
    const noAck = options?.noAck === true;
    const given = options?.consumerTag;
    if (given !== undefined) {
      if (this.#consumers.has(given)) {
        throw new WarrenError('NOT_ALLOWED', `consumer tag "${given}" is already in use on this connection`);
      }
      // Registered before the reply, in case a delivery overtakes it.
      const consumer: Consumer = { queue, handler, fields, noAck, cancelling: false };
      this.#consumers.set(given, consumer);
      try {
        await session.request('consume', fields);
      } catch (error) {
        if (this.#consumers.get(given) === consumer) this.#consumers.delete(given);
        throw error;
      }
      return given;
    }
    this.#untaggedConsumes++;
    try {
      const reply = await session.request('consume', fields);
      const tag = str(reply.consumerTag);
      if (this.#state === 'closed') return tag;
      const consumer: Consumer = { queue, handler, fields: { ...fields, consumerTag: tag }, noAck, cancelling: false };
      this.#consumers.set(tag, consumer);
      // The reply resolves this promise in a later microtask than the one that
      // dispatched it, so deliveries in the same batch came first: hand them over now.
      const mine = this.#early.filter((early) => early.frame.consumerTag === tag);
      if (mine.length > 0) {
        this.#early = this.#early.filter((early) => early.frame.consumerTag !== tag);
        for (const early of mine) this.#deliver(consumer, early.frame, early.session);
      }
      return tag;
    } finally {
      if (--this.#untaggedConsumes === 0) this.#early = [];
    }
  }

  /**
   * Cancels a consumer. Its handler still gets what the broker sent before
   * the cancel; its unacknowledged messages go back to the queue. Cancelling
   * an unknown tag succeeds; while reconnecting, the consumer is just not restored.
   */
  async cancel(consumerTag: string): Promise<void> {
    const consumer = this.#consumers.get(consumerTag);
    if (this.#state === 'reconnecting') {
      // Its subscription ended with the dropped connection.
      this.#consumers.delete(consumerTag);
      return;
    }
    if (consumer) consumer.cancelling = true;
    try {
      await this.#request('cancel', { consumerTag });
    } catch (error) {
      const dropped = error instanceof WarrenError && error.code === 'CONNECTION_CLOSED' && this.state === 'reconnecting';
      if (!dropped) {
        if (consumer) consumer.cancelling = false;
        throw error;
      }
    }
    if (this.#consumers.get(consumerTag) === consumer) this.#consumers.delete(consumerTag);
  }

  /**
   * Fetches one message from `queue` (a pull, where {@link consume} is a push).
   * Settle it like a consumed one, unless `noAck`.
   * @returns the message, or null when none is ready, and the count of ready messages left
   */
  async get(queue: string, options?: GetOptions): Promise<GetResult> {
    const session = this.#live('get');
    const reply = await session.request('get', { queue, ...pick(options, ['noAck']) });
    const found = reply.message !== null && typeof reply.message === 'object';
    const message = found ? new IncomingDelivery(obj(reply.message), options?.noAck === true ? null : session) : null;
    return { message, messageCount: num(reply.messageCount) };
  }

  /**
   * Pulls up to `max` (default 100, at most 1,000) entries of stream queue `queue` from `offset`
   * (clamped to what the stream keeps): Kafka's side of the same data. Nothing is acked.
   */
  async fetch(queue: string, offset: number, max?: number): Promise<FetchResult> {
    const reply = await this.#live('fetch').request('fetch', { queue, offset, ...(max === undefined ? {} : { max }) });
    const messages = Array.isArray(reply.messages) ? reply.messages.map((entry: unknown) => streamMessage(obj(entry))) : [];
    return { messages, first: num(reply.first), next: num(reply.next) };
  }

  /** Stores `offset` as consumer group `group`'s committed offset on stream queue `queue`. */
  async commit(queue: string, group: string, offset: number): Promise<void> {
    await this.#live('commit').request('commit', { queue, consumer: group, offset });
  }

  /** Consumer group `group`'s committed offset on stream queue `queue`, or null. */
  async committed(queue: string, group: string): Promise<number | null> {
    const reply = await this.#live('committed').request('committed', { queue, consumer: group });
    return reply.offset === null || reply.offset === undefined ? null : num(reply.offset);
  }

  /**
   * Closes the connection: sends what is queued (acks included), rejects
   * every pending request with `CONNECTION_CLOSED`, stops reconnecting, and
   * resolves once the socket has closed. The broker requeues unacknowledged
   * messages. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Adds a listener; see {@link WarrenClientEvents} for the events and their arguments. */
  on<E extends keyof WarrenClientEvents>(event: E, listener: Listener<WarrenClientEvents, E>): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Removes a listener added with {@link on}. */
  off<E extends keyof WarrenClientEvents>(event: E, listener: Listener<WarrenClientEvents, E>): this {
    this.#events.off(event, listener);
    return this;
  }

  async #open(): Promise<void> {
    try {
      // A failing getToken fails connect before any socket is opened.
      const fields = await this.#connectFields();
      const session = this.#newSession();
      this.#adopt(await session.handshake(fields));
      this.#state = 'open';
      this.#scheduleRefresh(session);
    } catch (error) {
      this.#state = 'closed';
      this.#session = null;
      throw error;
    }
  }

  #newSession(): Session {
    const session = new Session(new this.#WebSocket(this.#url), this.#url, this.#handlers);
    this.#session = session;
    return session;
  }

  /** What the next `connect` sends: with `getToken`, a token fresh from it. */
  async #connectFields(): Promise<RequestFields<'connect'>> {
    const options = this.#connectOptions;
    const token = options.getToken === undefined ? this.#token : await this.#freshToken(options.getToken);
    return {
      version: 1,
      ...pick(options, ['username', 'password']),
      ...(token === undefined ? {} : { token }),
      ...pick(options, ['vhost', 'clientName']),
    };
  }

  async #freshToken(getToken: () => string | Promise<string>): Promise<string> {
    const token: unknown = await getToken();
    // Its type only: the token itself goes in no message.
    if (typeof token !== 'string' || token === '') {
      throw new TypeError(`getToken must return a non-empty string, got ${token === '' ? 'an empty string' : typeof token}`);
    }
    return token;
  }

  /** Takes in the handshake's reply. */
  #adopt(reply: Received<ConnectReply>): void {
    const server = obj(reply.server);
    this.#server = { name: str(server.name), version: str(server.version) };
    this.#connectionId = typeof reply.connectionId === 'number' ? String(reply.connectionId) : str(reply.connectionId);
    this.#user = typeof reply.user === 'string' ? reply.user : undefined;
    this.#vhost = str(reply.vhost, this.#connectOptions.vhost ?? '/');
    this.#expiresAt = typeof reply.expiresAt === 'number' ? reply.expiresAt : undefined;
    this.#refusal = null;
  }

  /** Sends `auth.refresh` on `session`; on success takes in the new expiry and schedules the next refresh from it. */
  async #refresh(session: Session, token: string): Promise<number> {
    const reply = await session.request('auth.refresh', { token });
    const expiresAt = typeof reply.expiresAt === 'number' ? reply.expiresAt : undefined;
    if (this.#session === session) {
      this.#expiresAt = expiresAt;
      // Not at once again, should getToken hand out tokens about to expire.
      this.#scheduleRefresh(session, MIN_REFRESH_INTERVAL_MS);
    }
    return num(expiresAt);
  }

  /** With `getToken` and a token that expires: one timer, for a little before it does, `minDelay` ms from now at the soonest. */
  #scheduleRefresh(session: Session, minDelay = 0): void {
    this.#clearRefresh();
    if (this.#connectOptions.getToken === undefined || this.#expiresAt === undefined) return;
    this.#setRefreshTimer(session, Math.max(minDelay, refreshDelay(this.#expiresAt, Date.now())));
  }

  #setRefreshTimer(session: Session, delay: number): void {
    this.#clearRefresh();
    // Timers take at most 2^31 - 1 ms (about 24.8 days; a longer delay fires at once): a
    // longer-lived token gets a timer that only schedules again.
    const far = delay > MAX_TIMER_MS;
    this.#refreshTimer = setTimeout(
      () => {
        this.#refreshTimer = null;
        if (far) this.#scheduleRefresh(session);
        else void this.#autoRefresh(session);
      },
      far ? MAX_TIMER_MS : delay,
    );
    unrefTimer(this.#refreshTimer);
  }

  #clearRefresh(): void {
    if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
  }

  /** A `getToken` refresh: on failure an `'error'` event, and another try while the token has time left. */
  async #autoRefresh(session: Session): Promise<void> {
    const getToken = this.#connectOptions.getToken;
    if (getToken === undefined) return;
    const current = (): boolean => this.#session === session && this.#state === 'open';
    try {
      const token = await this.#freshToken(getToken).catch((error: unknown) => {
        const cause = toError(error);
        throw new Error(`token refresh failed: getToken failed: ${cause.message}`, { cause });
      });
      if (!current()) return;
      await this.#refresh(session, token);
    } catch (error) {
      if (!current()) return;
      this.#emitError(error instanceof WarrenError ? new WarrenError(error.code, `token refresh failed: ${error.message}`) : toError(error));
      // A refresh that succeeded meanwhile (refreshToken) has scheduled the next one already.
      if (this.#refreshTimer !== null || this.#expiresAt === undefined) return;
      const delay = retryDelay(this.#expiresAt, Date.now());
      if (delay !== null) this.#setRefreshTimer(session, delay);
    }
  }

  /** The current session, when requests can be made. */
  #live(op: string): Session {
    if (this.#state === 'open' && this.#session !== null) return this.#session;
    throw connectionClosed(
      this.#state === 'reconnecting'
        ? `cannot ${op}: the connection dropped and the client is reconnecting`
        : `cannot ${op}: the client is closed`,
    );
  }

  async #request<Op extends RequestOp, F extends RequestFields<Op>>(op: Op, fields: FieldsOf<Op, F>): Promise<Received<ReplyOf<Op>>> {
    return this.#live(op).request(op, fields);
  }

  #onFrame(frame: Frame, session: Session): void {
    if (session !== this.#session) return;
    switch (frame.op) {
      case 'deliver':
        this.#onDeliver(frame, session);
        return;
      case 'return':
        this.#events.emit('return', returnedMessage(frame));
        return;
      case 'cancelled':
        this.#onCancelled(frame);
        return;
      case 'blocked':
        this.#onBlocked(frame);
        return;
      case 'unblocked':
        this.#unblock();
        this.#events.emit('unblocked');
        return;
      case 'error': {
        // Without an id (or with one no request waits for): a failed
        // fire-and-forget publish, an ack of an unknown tag, a frame the broker
        // could not read, an expired token (then a close 4401 follows).
        const error = brokerError(frame, 'the broker reported an error');
        if (error.code === 'ACCESS_REFUSED') this.#refusal = error;
        this.#emitError(error);
        return;
      }
      case 'ok':
        this.#emitError(new WarrenError('PROTOCOL_ERROR', `the broker sent a reply for request ${String(frame.id)}, which is not pending`));
        return;
      default:
      // An op this version does not know: ignored, so a newer broker does not break older clients.
    }
  }

  #onCancelled(frame: Received<CancelledFrame>): void {
    // The broker cancelled it (its queue was deleted, or a refreshed token may
    // not read it: reason "permission"): no reconnect brings it back.
    const consumerTag = str(frame.consumerTag);
    this.#consumers.delete(consumerTag);
    this.#events.emit('cancelled', typeof frame.reason === 'string' ? { consumerTag, reason: frame.reason } : { consumerTag });
  }

  #onBlocked(frame: Received<BlockedFrame>): void {
    this.#blocked ??= deferred();
    this.#events.emit('blocked', { reason: str(frame.reason) });
  }

  #onDeliver(frame: Frame, session: Session): void {
    if (!isDeliverFrame(frame)) {
      this.#emitError(new WarrenError('PROTOCOL_ERROR', 'the broker sent a deliver frame without a consumerTag or a valid deliveryTag'));
      return;
    }
    const consumer = this.#consumers.get(frame.consumerTag);
    if (consumer !== undefined) {
      this.#deliver(consumer, frame, session);
    } else if (this.#untaggedConsumes > 0) {
      this.#early.push({ frame, session });
    }
    // Else no consumer of ours has that tag, which the protocol does not
    // allow; left unacknowledged, the message is requeued when that consumer
    // or this connection goes.
  }

  #deliver(consumer: Consumer, frame: Frame, session: Session): void {
    const message = new IncomingDelivery(frame, consumer.noAck ? null : session);
    const consumerTag = str(frame.consumerTag);
    // Like RabbitMQ's clients: a failing handler is reported; settling is left to the application.
    try {
      const result = consumer.handler(message);
      if (isPromiseLike(result)) {
        result.then(undefined, (error: unknown) => this.#emitError(toError(error), { consumerTag, message }));
      }
    } catch (error) {
      this.#emitError(toError(error), { consumerTag, message });
    }
  }

  /** Releases the publishes held while the broker had this client blocked. */
  #unblock(): void {
    this.#blocked?.resolve();
    this.#blocked = null;
  }

  #onSessionClose(event: DisconnectEvent, session: Session): void {
    if (session !== this.#session) return;
    this.#session = null;
    this.#early = [];
    // A reconnect logs in with a fresh token anyway.
    this.#clearRefresh();
    // A new socket starts unblocked; held publishes go on and fail or succeed with it.
    this.#unblock();
    // While reconnecting, the reconnect loop sees the session die and tries again.
    if (this.#state !== 'open') return;
    // The broker refused the credentials (4401: e.g. the token expired; 4403: the vhost).
    const refused = event.code === CLOSE_UNAUTHORIZED || event.code === CLOSE_FORBIDDEN;
    const refusal = refused ? (this.#refusal ?? new WarrenError('ACCESS_REFUSED', `the broker closed the connection (code ${event.code}${event.reason ? `, ${event.reason}` : ''})`)) : undefined;
    if (this.#reconnect === null) {
      this.#state = 'closed';
      this.#consumers.clear();
      this.#events.emit('close', { code: event.code, reason: event.reason, byClient: false, ...(refusal ? { error: refusal } : {}) });
      return;
    }
    if (refusal !== undefined && this.#connectOptions.getToken === undefined) {
      // The same credentials would be refused again (the rule for ACCESS_REFUSED at a reconnect's
      // handshake): give up at once rather than loop. With getToken, a fresh token may do.
      this.#state = 'closed';
      this.#consumers.clear();
      this.#events.emit('close', { code: event.code, reason: `gave up reconnecting: ${refusal.message}`, byClient: false, error: refusal });
      return;
    }
    this.#state = 'reconnecting';
    this.#events.emit('disconnect', event);
    void this.#reconnectLoop(this.#reconnect, event);
  }

  async #reconnectLoop(policy: ReconnectPolicy, dropped: DisconnectEvent): Promise<void> {
    let lastError: Error = connectionClosed(`the connection closed (code ${dropped.code})`);
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      await this.#sleep(backoffDelay(policy, attempt));
      if (this.#state !== 'reconnecting') return;
      let session: Session | null = null;
      try {
        // Fresh from getToken for every attempt; a throw fails this attempt only.
        const fields = await this.#connectFields();
        if (this.#state !== 'reconnecting') return;
        session = this.#newSession();
        this.#adopt(await session.handshake(fields));
        const restored = await this.#restoreConsumers(session);
        if (this.#state !== 'reconnecting') return;
        if (!session.alive) throw connectionClosed('the connection closed again while consumers were being restored');
        this.#state = 'open';
        this.#scheduleRefresh(session);
        this.#events.emit('reconnect', { attempts: attempt, consumerTags: restored });
        return;
      } catch (error) {
        if (this.#state !== 'reconnecting') return;
        if (session !== null && this.#session === session) this.#session = null;
        lastError = toError(error);
        // Retrying will not change the broker's mind about the credentials.
        if (error instanceof WarrenError && error.code === 'ACCESS_REFUSED') break;
      }
    }
    this.#state = 'closed';
    this.#consumers.clear();
    this.#events.emit('close', {
      code: dropped.code,
      reason: `gave up reconnecting: ${lastError.message}`,
      byClient: false,
      error: lastError,
    });
  }

  /**
   * Consumes again, with the same options and tags, for every consumer that
   * is not being cancelled. A consumer the broker refuses now (e.g. its
   * queue was exclusive or auto-deleted and went with the old connection) is
   * dropped with a `'cancelled'` and an `'error'` event.
   * @returns the tags restored
   */
  async #restoreConsumers(session: Session): Promise<string[]> {
    const consumers = [...this.#consumers].filter(([, consumer]) => !consumer.cancelling);
    const results = await Promise.allSettled(consumers.map(([, consumer]) => session.request('consume', consumer.fields)));
    if (!session.alive) return [];
    const restored: string[] = [];
    results.forEach((result, i) => {
      const [consumerTag, consumer] = consumers[i];
      const current = this.#consumers.get(consumerTag) === consumer;
      if (result.status === 'fulfilled') {
        if (current) restored.push(consumerTag);
        // Cancelled by the application while it was being restored.
        else session.request('cancel', { consumerTag }).catch(() => {});
        return;
      }
      if (!current) return;
      this.#consumers.delete(consumerTag);
      const error = toError(result.reason);
      this.#events.emit('cancelled', { consumerTag, error: error instanceof WarrenError ? error : undefined });
      this.#emitError(error);
    });
    return restored;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  async #shutdown(): Promise<void> {
    const was = this.#state;
    this.#state = 'closed';
    this.#wake?.();
    this.#clearRefresh();
    this.#unblock();
    this.#consumers.clear();
    this.#early = [];
    const session = this.#session;
    this.#session = null;
    if (session !== null) await session.close();
    if (was !== 'closed') this.#events.emit('close', { code: 1000, reason: 'closed by the client', byClient: true });
  }

  #emitError(error: Error, context?: WarrenClientEvents['error'][1]): void {
    if (this.#events.listenerCount('error') > 0) {
      this.#events.emit('error', error, context);
      return;
    }
    // Dropping it silently would hide failing handlers and refused publishes.
    console.error('warren client: unhandled error (add an "error" listener):', error);
  }

  #onListenerError(error: unknown, event: keyof WarrenClientEvents): void {
    if (event !== 'error') {
      this.#emitError(toError(error));
      return;
    }
    // An 'error' listener threw: report it to the host (uncaught) rather than loop.
    queueMicrotask(() => {
      throw error;
    });
  }
}

/**
 * Connects to a Warren broker and completes the `connect` handshake.
 *
 * @param url the broker's WebSocket address, e.g. `ws://localhost:5680/ws`
 * @returns an open client
 * @throws WarrenError `ACCESS_REFUSED` when the credentials are refused, `CONNECTION_CLOSED` when the socket fails or closes first
 * @throws RangeError for an invalid `reconnect` option, or credentials that exclude each other (`token`, `getToken`, `username`/`password`)
 * @throws whatever `getToken` throws
 * @example
 * ```ts
 * const client = await connect('ws://localhost:5680/ws', { reconnect: true });
 * await client.declareQueue('jobs');
 * await client.consume('jobs', async (message) => { await work(message.payload); message.ack(); }, { prefetch: 10 });
 * await client.publish('', 'jobs', { id: 1 });
 * ```
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<WarrenClient> {
  // Bad options fail before any socket is opened.
  reconnectPolicy(options.reconnect);
  checkCredentials(options);
  const WebSocket = await resolveWebSocket(options.WebSocket);
  const client = new WarrenClient(url, WebSocket, options);
  await openClient(client);
  return client;
}

/** One way to log in: a token, a token source, or a user name and password (the broker would ignore the rest). */
function checkCredentials(options: ConnectOptions): void {
  const { token, getToken, username, password } = options;
  if (getToken !== undefined && typeof getToken !== 'function') throw new TypeError(`getToken must be a function, got ${typeof getToken}`);
  if (token !== undefined && getToken !== undefined) {
    throw new RangeError('connect: give token or getToken, not both (getToken supplies every token, the first one included)');
  }
  const tokenOption = getToken !== undefined ? 'getToken' : token !== undefined ? 'token' : null;
  const passwordOption = username !== undefined ? 'username' : password !== undefined ? 'password' : null;
  if (tokenOption !== null && passwordOption !== null) {
    throw new RangeError(`connect: give ${tokenOption} or ${passwordOption}, not both (a token login names its user in the token)`);
  }
}

function argumentsField(args: Arguments | undefined): { arguments?: Arguments } {
  return args === undefined ? {} : { arguments: args };
}

function returnedMessage(frame: Received<ReturnFrame>): ReturnedMessage {
  return {
    replyCode: num(frame.replyCode),
    replyText: str(frame.replyText),
    exchange: str(frame.exchange),
    routingKey: str(frame.routingKey),
    payload: frame.payload,
    headers: obj(frame.headers),
    properties: obj(frame.properties),
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** `arguments`, with `offset` and `group` as the stream arguments they stand for. */
function streamArguments(options: ConsumeOptions | undefined): { arguments?: Arguments } {
  if (options?.offset === undefined && options?.group === undefined) return options?.arguments === undefined ? {} : { arguments: options.arguments };
  return {
    arguments: {
      ...options.arguments,
      ...(options.offset === undefined ? {} : { 'x-stream-offset': options.offset }),
      ...(options.group === undefined ? {} : { 'x-stream-consumer': options.group }),
    },
  };
}

function streamMessage(entry: Record<string, unknown>): StreamMessage {
  return { offset: num(entry.offset), exchange: str(entry.exchange), routingKey: str(entry.routingKey), payload: entry.payload, headers: obj(entry.headers), properties: obj(entry.properties) };
}
