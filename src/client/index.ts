/**
 * Warren's client, for Node (20+) and browsers:
 *
 * ```ts
 * import { connect } from 'warren';
 * const client = await connect('ws://localhost:5680/ws');
 * ```
 *
 * It speaks the JSON-over-WebSocket protocol of docs/protocol.md and uses the
 * platform's WebSocket where there is one, else the `ws` package.
 * @module
 */
export { connect, WarrenClient, type ClientState } from './client.js';
export { WarrenError, type WarrenErrorCode } from './errors.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
export type {
  Arguments,
  FetchResult,
  StreamMessage,
  CancelledEvent,
  ClientCloseEvent,
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
  GetOptions,
  GetResult,
  HandlerErrorContext,
  MessageCountResult,
  MessageProperties,
  PublishOptions,
  ReconnectEvent,
  ReconnectOptions,
  ReturnedMessage,
  ServerInfo,
  WarrenClientEvents,
} from './types.js';
