import type { ErrorCode, Headers, MessageProperties } from '../broker/index.js';
import type { RequestOp } from './requests.js';

// The frames the broker sends (docs/protocol.md), as frames.ts encodes them. A client reads them
// off the network: it checks every field it uses rather than trusting these types.

/** The reply of a request that has no result. */
export interface OkReply {
  op: 'ok';
  id: number;
}

/** `connect`'s reply. */
export interface ConnectReply extends OkReply {
  server: { name: string; version: string };
  /** The broker's id for this connection. */
  connectionId: string;
  /** Who logged in (the token's `sub` for a token login); absent for an anonymous connection. */
  user?: string;
  /** The vhost the connection works in. */
  vhost: string;
  /** When the token expires (ms since the epoch), for a token login. */
  expiresAt?: number;
}

/** `queue.declare`'s reply. */
export interface QueueDeclareReply extends OkReply {
  /** The queue's name: the one given, or the one the broker chose (`amq.gen-...`). */
  queue: string;
  /** Messages ready for delivery. */
  messageCount: number;
  /** Consumers of the queue. */
  consumerCount: number;
}

/** The reply of `queue.purge` and `queue.delete`. */
export interface MessageCountReply extends OkReply {
  /** Ready messages removed. */
  messageCount: number;
}

/** `consume`'s reply. */
export interface ConsumeReply extends OkReply {
  /** The tag given, or the one the broker chose. */
  consumerTag: string;
}

/** `auth.refresh`'s reply. */
export interface AuthRefreshReply extends OkReply {
  /** When the new token expires (ms since the epoch). */
  expiresAt: number;
}

/** A message's fields as every frame that carries one encodes them (frames.ts, `messageBody`). */
export interface MessageFields {
  exchange: string;
  routingKey: string;
  /** The JSON value published. */
  payload: unknown;
  headers: Headers;
  properties: MessageProperties;
}

/** A message as `deliver` and `get` hand it to a client. */
export interface DeliveredMessage extends MessageFields {
  deliveryTag: number;
  /** Delivered before and returned to its queue (its headers then carry `x-delivery-count`). */
  redelivered: boolean;
}

/** `get`'s reply. */
export interface GetReply extends OkReply {
  /** Null when no message was ready. */
  message: DeliveredMessage | null;
  /** Ready messages left in the queue. */
  messageCount: number;
}

/** A stream entry as `fetch` gives it (its headers carry `x-stream-offset` too). */
export interface StreamMessage extends MessageFields {
  offset: number;
}

/** `fetch`'s reply: the entries, the oldest offset the stream keeps, and the offset of the next one published. */
export interface FetchReply extends OkReply {
  messages: StreamMessage[];
  first: number;
  next: number;
}

/** `committed`'s reply: the group's committed offset, null when it has none. */
export interface CommittedReply extends OkReply {
  offset: number | null;
}

/** A message pushed to a consumer. */
export interface DeliverFrame extends DeliveredMessage {
  op: 'deliver';
  consumerTag: string;
}

/** A `mandatory` message that routed nowhere, sent back before its confirm. */
export interface ReturnFrame extends MessageFields {
  op: 'return';
  /** The publish's id, when it had one. */
  id?: number;
  replyCode: 312;
  replyText: 'NO_ROUTE';
}

/** The broker cancelled a consumer. */
export interface CancelledFrame {
  op: 'cancelled';
  consumerTag: string;
  /** Why, when it was not its queue's deletion. */
  reason?: string;
}

/** The broker stopped reading from the connection (a memory or disk alarm). */
export interface BlockedFrame {
  op: 'blocked';
  reason: string;
}

export interface UnblockedFrame {
  op: 'unblocked';
}

/** A refused request (with its `id`), or a failure no request waits for (without). */
export interface ErrorFrame {
  op: 'error';
  id?: number;
  code: ErrorCode;
  message: string;
}

/** Every frame the broker sends. */
export type ServerFrame =
  | OkReply | ConnectReply | QueueDeclareReply | MessageCountReply | ConsumeReply | GetReply | AuthRefreshReply | FetchReply | CommittedReply
  | DeliverFrame | ReturnFrame | CancelledFrame | BlockedFrame | UnblockedFrame | ErrorFrame;

/** The `ok` replies that carry a result, by the op they answer. */
interface RepliesWithResult {
  connect: ConnectReply;
  'queue.declare': QueueDeclareReply;
  'queue.purge': MessageCountReply;
  'queue.delete': MessageCountReply;
  consume: ConsumeReply;
  get: GetReply;
  'auth.refresh': AuthRefreshReply;
  fetch: FetchReply;
  committed: CommittedReply;
}

/** The `ok` reply to a request of `op`. */
export type ReplyOf<Op extends RequestOp> = Op extends keyof RepliesWithResult ? RepliesWithResult[Op] : OkReply;
