import type { ExchangeType, Headers, MessageProperties } from '../broker/index.js';

// The frames a client sends, as the schemas in schemas.ts guarantee them after validation.

type Table = Record<string, unknown>;

export interface ConnectRequest { op: 'connect'; id: number; version: 1; username?: string; password?: string; token?: string; vhost?: string; clientName?: string }
export interface ExchangeDeclareRequest {
  op: 'exchange.declare'; id: number; exchange: string; type?: ExchangeType;
  durable?: boolean; autoDelete?: boolean; internal?: boolean; passive?: boolean; arguments?: Table;
}
export interface ExchangeDeleteRequest { op: 'exchange.delete'; id: number; exchange: string; ifUnused?: boolean }
export interface ExchangeBindRequest { op: 'exchange.bind' | 'exchange.unbind'; id: number; destination: string; source: string; routingKey?: string; arguments?: Table }
export interface QueueDeclareRequest {
  op: 'queue.declare'; id: number; queue?: string; durable?: boolean; exclusive?: boolean; autoDelete?: boolean; passive?: boolean; arguments?: Table;
}
export interface QueueBindRequest { op: 'queue.bind' | 'queue.unbind'; id: number; queue: string; exchange: string; routingKey?: string; arguments?: Table }
export interface QueuePurgeRequest { op: 'queue.purge'; id: number; queue: string }
export interface QueueDeleteRequest { op: 'queue.delete'; id: number; queue: string; ifUnused?: boolean; ifEmpty?: boolean }
export interface PublishRequest {
  op: 'publish'; id?: number; exchange?: string; routingKey?: string; payload: unknown; headers?: Headers; properties?: MessageProperties; mandatory?: boolean;
}
export interface ConsumeRequest {
  op: 'consume'; id: number; queue: string; consumerTag?: string; prefetch?: number; noAck?: boolean; exclusive?: boolean; priority?: number; arguments?: Table;
}
export interface CancelRequest { op: 'cancel'; id: number; consumerTag: string }
export interface GetRequest { op: 'get'; id: number; queue: string; noAck?: boolean }
export interface AuthRefreshRequest { op: 'auth.refresh'; id: number; token: string }
export interface FetchRequest { op: 'fetch'; id: number; queue: string; offset: number; max?: number }
export interface CommitRequest { op: 'commit'; id: number; queue: string; consumer: string; offset: number }
export interface CommittedRequest { op: 'committed'; id: number; queue: string; consumer: string }
export interface AckRequest { op: 'ack'; deliveryTag: number; multiple?: boolean }
export interface NackRequest { op: 'nack'; deliveryTag: number; multiple?: boolean; requeue?: boolean }
export interface RejectRequest { op: 'reject'; deliveryTag: number; requeue?: boolean }

export type Request =
  | ConnectRequest | ExchangeDeclareRequest | ExchangeDeleteRequest | ExchangeBindRequest | QueueDeclareRequest | QueueBindRequest
  | QueuePurgeRequest | QueueDeleteRequest | PublishRequest | ConsumeRequest | CancelRequest | GetRequest | AuthRefreshRequest
  | FetchRequest | CommitRequest | CommittedRequest | AckRequest | NackRequest | RejectRequest;

export type RequestOp = Request['op'];

/** The request of `op` (`exchange.bind` and `exchange.unbind` share one shape, as do the queue pair). */
export type RequestOf<Op extends RequestOp, R extends Request = Request> = R extends unknown ? (Op extends R['op'] ? R : never) : never;

/** What a client fills in for `op`: its request without `op` and `id`, which the client's session adds. */
export type RequestFields<Op extends RequestOp> = Omit<RequestOf<Op>, 'op' | 'id'>;
