import type { ConnectReply, ExchangeType, MessageCountReply, MessageProperties, QueueDeclareReply } from '../protocol/index.js';
import type { WarrenError } from './errors.js';
import type { WebSocketConstructor } from './websocket.js';

/** How the client retries after its socket drops; see {@link ConnectOptions.reconnect}. */
export interface ReconnectOptions {
  /** Delay before the first attempt, in ms (default 500). Each further attempt doubles it. */
  initialDelayMs?: number;
  /** The most the delay grows to, in ms (default 30000). */
  maxDelayMs?: number;
  /** Consecutive failed attempts after which the client gives up and closes (default: never gives up). */
  maxAttempts?: number;
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** User name; sent only when given (a broker without users lets anyone in). */
  username?: string;
  /** Password of `username`. */
  password?: string;
  /**
   * A token (a JWT) instead of a user name and password. It is sent at every
   * (re)connect; {@link WarrenClient.refreshToken} replaces it. When it expires
   * the broker closes the connection and the client does not reconnect: give
   * {@link getToken} to stay connected. Not with `getToken`, `username` or `password`.
   */
  token?: string;
  /**
   * Where the client gets a token from: called (and awaited) before the first
   * connect, before every reconnect attempt, and a little before the token in
   * use expires, when the client sends it with `auth.refresh` on its own
   * (see {@link WarrenClient.expiresAt}). A throw fails `connect`, counts as a
   * failed reconnect attempt, or becomes an `'error'` event of a failed refresh.
   * Not with `token`, `username` or `password`.
   */
  getToken?: () => string | Promise<string>;
  /** The vhost to work in (the broker's default: `/`). */
  vhost?: string;
  /** A name for this connection that the broker shows in its management views. */
  clientName?: string;
  /** The WebSocket class to use instead of the platform's (or, in Node 20, the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  /**
   * Reconnect when the socket drops without {@link WarrenClient.close} (default false).
   * `true` uses the default {@link ReconnectOptions}.
   *
   * The client gives up at once, without reconnecting, when the broker refuses
   * its credentials: `ACCESS_REFUSED` at a reconnect's handshake, or a close
   * with code 4401 or 4403 (an expired token, say) unless `getToken` can
   * supply a fresh token, which the next attempt then uses.
   */
  reconnect?: boolean | ReconnectOptions;
}

/** What the broker says about itself when the connection opens. */
export type ServerInfo = ConnectReply['server'];

/** Exchange types (protocol.md, "Exchanges"): the protocol's own type, imported for types only. */
export type { ExchangeType };

/** Arguments of a queue, an exchange or a binding, with RabbitMQ's names (`x-message-ttl`, `alternate-exchange`, `x-match`...). */
export type Arguments = Record<string, unknown>;

/** Options of {@link WarrenClient.declareExchange}; an option left out takes the broker's default. */
export interface DeclareExchangeOptions {
  /** Survives a broker restart (broker default true). */
  durable?: boolean;
  /** Deleted when its last binding goes (broker default false). */
  autoDelete?: boolean;
  /** Cannot be published to directly, only through exchange-to-exchange bindings (broker default false). */
  internal?: boolean;
  /** Only check that it exists: `NOT_FOUND` when not (broker default false). */
  passive?: boolean;
  /** E.g. `{ 'alternate-exchange': 'unrouted' }`. */
  arguments?: Arguments;
}

/** Options of {@link WarrenClient.deleteExchange}. */
export interface DeleteExchangeOptions {
  /** Refuse (`PRECONDITION_FAILED`) when the exchange has bindings (broker default false). */
  ifUnused?: boolean;
}

/** Options of {@link WarrenClient.declareQueue}; an option left out takes the broker's default. */
export interface DeclareQueueOptions {
  /** Survives a broker restart (broker default true). */
  durable?: boolean;
  /** Only this connection may use it, and it goes when the connection closes (broker default false). */
  exclusive?: boolean;
  /** Deleted when its last consumer goes, once it has had one (broker default false). */
  autoDelete?: boolean;
  /** Only check that it exists: `NOT_FOUND` when not (broker default false). */
  passive?: boolean;
  /** E.g. `{ 'x-message-ttl': 60000, 'x-dead-letter-exchange': 'dlx' }`. */
  arguments?: Arguments;
}

/** The result of {@link WarrenClient.declareQueue}: the fields of the broker's reply. */
export type DeclareQueueResult = Omit<QueueDeclareReply, 'op' | 'id'>;

/** Options of {@link WarrenClient.deleteQueue}. */
export interface DeleteQueueOptions {
  /** Refuse (`PRECONDITION_FAILED`) when the queue has consumers (broker default false). */
  ifUnused?: boolean;
  /** Refuse (`PRECONDITION_FAILED`) when the queue has ready messages (broker default false). */
  ifEmpty?: boolean;
}

/** Message properties (protocol.md, "Message properties and headers"): the protocol's own type, imported for types only. */
export type { MessageProperties };

/** Options of {@link WarrenClient.publish}. */
export interface PublishOptions {
  /** Message headers: an object of JSON values. */
  headers?: Record<string, unknown>;
  /** Message properties. */
  properties?: MessageProperties;
  /** When no queue gets the message, the broker sends it back as a `'return'` event (broker default false). */
  mandatory?: boolean;
  /**
   * Wait for the broker's confirm (default true): the promise resolves once
   * the message is in every queue it routes to (and on disk where it must
   * be), and rejects with the broker's error (`REJECTED`, `NOT_FOUND`...).
   * With `false` the message is sent fire-and-forget and the promise resolves
   * at once; a failure then arrives as an `'error'` event.
   */
  confirm?: boolean;
}

/** Options of {@link WarrenClient.consume}; an option left out takes the broker's default. */
export interface ConsumeOptions {
  /** Most unacknowledged deliveries at once (broker default 0: no limit). */
  prefetch?: number;
  /** Deliveries count as acknowledged when sent (broker default false). */
  noAck?: boolean;
  /** Be the queue's only consumer (broker default false). */
  exclusive?: boolean;
  /** Consumers of higher priority get messages first (broker default 0). */
  priority?: number;
  /** The tag to use; the broker picks one when left out. */
  consumerTag?: string;
  /**
   * On a stream queue, where to start reading (`x-stream-offset`): `'first'`, `'last'`, `'next'`
   * (the broker's default), an offset, or `{ timestamp }` in ms.
   */
  offset?: 'first' | 'last' | 'next' | number | { timestamp: number };
  /**
   * On a stream queue, the consumer group (`x-stream-consumer`): the broker keeps its committed
   * offset as deliveries are acked; one consumer of a group is active, the next takes over after
   * it, and without `offset` a consumer starts after the committed offset.
   */
  group?: string;
  arguments?: Arguments;
}

/** A stream entry as {@link WarrenClient.fetch} gives it. */
export interface StreamMessage {
  offset: number;
  exchange: string;
  routingKey: string;
  payload: unknown;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
}

/** The result of {@link WarrenClient.fetch}. */
export interface FetchResult {
  messages: StreamMessage[];
  /** The oldest offset the stream keeps. */
  first: number;
  /** The offset the next message published will get: fetch from here to wait for new ones. */
  next: number;
}

/** Options of {@link WarrenClient.get}. */
export interface GetOptions {
  /** The message counts as acknowledged when fetched (broker default false). */
  noAck?: boolean;
}

/** The result of {@link WarrenClient.get}. */
export interface GetResult {
  /** The message, or null when none was ready. */
  message: Delivery | null;
  /** Ready messages left in the queue. */
  messageCount: number;
}

/** The result of {@link WarrenClient.purgeQueue} and {@link WarrenClient.deleteQueue}: the fields of the broker's reply. */
export type MessageCountResult = Omit<MessageCountReply, 'op' | 'id'>;

/**
 * A message the broker delivered, to a consumer or through `get`.
 *
 * Settle it once with `ack`, `nack` or `reject` (unless it came with `noAck`).
 * The calls send nothing when the message needs no settling, was already
 * settled through this object, or came over a connection that has since
 * dropped (its delivery tag died with it; the broker requeued the message).
 */
export interface Delivery {
  /** The consumer it was delivered to; absent for `get`. */
  consumerTag?: string;
  /** Its tag on this connection. */
  deliveryTag: number;
  /** It was delivered before and returned to the queue. */
  redelivered: boolean;
  /** The exchange it was published to. */
  exchange: string;
  /** The routing key it was published with. */
  routingKey: string;
  /** The JSON value published. */
  payload: unknown;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
  /** Acknowledge it; `multiple` also acknowledges every earlier unsettled delivery of the connection. */
  ack(options?: { multiple?: boolean }): void;
  /** Refuse it: back to its queue with `requeue` (broker default true), else dead-lettered or dropped. */
  nack(options?: { requeue?: boolean; multiple?: boolean }): void;
  /** Refuse it, like `nack` without `multiple`. */
  reject(options?: { requeue?: boolean }): void;
}

/** A consumer's callback. A throw or rejection becomes an `'error'` event; the message stays unacknowledged. */
export type DeliveryHandler = (message: Delivery) => void | Promise<void>;

/** A `mandatory` message that no queue took, sent back by the broker. */
export interface ReturnedMessage {
  /** 312 */
  replyCode: number;
  /** `NO_ROUTE` */
  replyText: string;
  exchange: string;
  routingKey: string;
  payload: unknown;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
}

/** The argument of the `'cancelled'` event. */
export interface CancelledEvent {
  /** The consumer that is gone. */
  consumerTag: string;
  /**
   * Why, when the client could not restore it after a reconnect; absent when
   * the broker cancelled it.
   */
  error?: WarrenError;
  /**
   * The broker's reason, when it gave one: `permission` after a token refresh
   * whose token may no longer read the queue. Absent when the queue was deleted.
   */
  reason?: string;
}

/** What went wrong in a consumer's handler; the second argument of `'error'` then. */
export interface HandlerErrorContext {
  consumerTag: string;
  message: Delivery;
}

/** The argument of the `'close'` event. */
export interface ClientCloseEvent {
  /** The WebSocket close code (1000 after {@link WarrenClient.close}). */
  code: number;
  /** The WebSocket close reason, or why the client gave up. */
  reason: string;
  /** Whether {@link WarrenClient.close} closed it. */
  byClient: boolean;
  /**
   * The last error, when the client gave up reconnecting; the broker's
   * `ACCESS_REFUSED` when it closed the connection for its credentials (close
   * code 4401, e.g. an expired token, or 4403).
   */
  error?: Error;
}

/** The argument of the `'disconnect'` event. */
export interface DisconnectEvent {
  /** The WebSocket close code. */
  code: number;
  /** The WebSocket close reason, or the socket's error. */
  reason: string;
}

/** The argument of the `'reconnect'` event. */
export interface ReconnectEvent {
  /** How many attempts it took. */
  attempts: number;
  /** Consumers restored with their tags. */
  consumerTags: string[];
}

/** The client's events and the arguments their listeners get. */
export interface WarrenClientEvents {
  /** A `mandatory` message came back unrouted. */
  return: [message: ReturnedMessage];
  /** A consumer is gone: its queue was deleted, a refreshed token may no longer read it, or it could not be restored after a reconnect. */
  cancelled: [event: CancelledEvent];
  /**
   * An error no request is waiting for: a broker `error` frame without `id`
   * (e.g. a failed fire-and-forget publish, an ack of an unknown tag), or a
   * consumer's handler that threw (then with a context), or a token refresh
   * of `getToken` that failed (the client retries until the token expires).
   */
  error: [error: Error, context?: HandlerErrorContext];
  /** The broker stopped reading from this connection (memory or disk alarm). */
  blocked: [event: { reason: string }];
  /** The broker reads again. */
  unblocked: [];
  /** The socket dropped and the client is reconnecting (only with the `reconnect` option). */
  disconnect: [event: DisconnectEvent];
  /** The client is closed for good. */
  close: [event: ClientCloseEvent];
  /** The socket dropped and the client is connected again, consumers restored. */
  reconnect: [event: ReconnectEvent];
}
