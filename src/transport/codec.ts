import type { Logger } from 'pino';
import type { Broker, Connection, ErrorCode, Message, QueueEntry } from '../broker/index.js';

/**
 * A wire format on top of the session core (src/transport/session.ts): it turns a client's
 * WebSocket messages into calls on the broker and the broker's pushes into frames. Everything
 * else a connection does (login, the broker Connection, reply order behind the store's sync,
 * batching, backpressure, alarms, error texts, close) is the core's. A new protocol is a
 * WireProtocol and its codec, registered in src/transport/server.ts.
 */
export interface WireCodec {
  /** One WebSocket message from the client; the session has already dropped input after its end. */
  onMessage(data: Buffer, isBinary: boolean): void;
  /**
   * A push to consumer `consumerTag`, as one frame; undefined when the codec knows no such consumer
   * (a bug: the session logs it, and the delivery is requeued when the connection closes).
   */
  deliverFrame(consumerTag: string, deliveryTag: number, entry: QueueEntry): string | undefined;
  /** The broker cancelled a consumer: its queue was deleted or, with `reason`, it timed out. */
  cancelled(consumerTag: string, reason: string | undefined): void;
  /** The frames queued in one event-loop turn, as one WebSocket message. */
  encodeBatch(frames: string[]): string;
  /** The frame telling a publisher that an alarm blocks it; undefined when the protocol has none. */
  blockedNotice(reason: string): string | undefined;
  /** The frame telling a publisher it is unblocked; undefined when the protocol has none. */
  unblockedNotice(): string | undefined;
  /** The socket closed: stop the codec's own timers. */
  closed(): void;
}

/** A protocol the server offers: the WebSocket subprotocols that select it, and a codec per socket. */
export interface WireProtocol {
  /** For log lines. */
  readonly name: string;
  /** Subprotocols that select it; '' stands for a handshake that offers none. */
  readonly subprotocols: readonly string[];
  /** The frame sent before closing a socket that is refused before any session exists (a connection limit). */
  refusalFrame(message: string): string;
  open(session: CodecSession): WireCodec;
}

/** User name and password, as a client presents them. */
export interface Credentials {
  username: string | undefined;
  password: string | undefined;
}

/** How a failed frame is reported: the protocol's error code and a sentence a person can act on. */
export interface Failure {
  code: ErrorCode;
  message: string;
  /** Not the client's doing: a bug or a broken store, logged by the session. */
  internal: boolean;
}

/** What the session core does for a codec. */
export interface CodecSession {
  readonly id: string;
  readonly logger: Logger;
  readonly broker: Broker;
  readonly serverVersion: string;
  /** The broker Connection, once `login` has opened it. */
  readonly connection: Connection | undefined;
  /** The connection is ending (refused, closed by an error or by the client): nothing more is read. */
  readonly ended: boolean;
  /** An alarm has stopped reading from this publisher. */
  readonly blocked: boolean;
  /**
   * Checks the credentials and opens the broker Connection. A refusal sends `refusal(message)`,
   * closes with 4401 and returns undefined. `details` go into the log lines about the connection.
   */
  login(credentials: Credentials, refusal: (message: string) => string, details: Record<string, unknown>): Connection | undefined;
  /** Routes a message; returns the broker's outcome bits. Throws REJECTED when a full queue refused it. */
  publish(message: Message): number;
  /**
   * Sends the confirm of a publish: now, or once the store has synced it when `persisted`; every
   * frame emitted after it waits with it. If the sync fails, `failed(message)` goes out instead.
   */
  confirm(frame: string, persisted: boolean, failed: (message: string) => string): void;
  /** Queues a frame for this event-loop turn's WebSocket message. */
  emit(frame: string): void;
  /** Deliveries made from now until `releaseDeliveries()` wait, so that the reply to the frame causing them goes first. */
  deferDeliveries(): void;
  releaseDeliveries(): void;
  /** Classifies an error thrown while handling a frame named `what`; logs the internal ones. */
  describeFailure(error: unknown, what: string): Failure;
  /** Ends the connection: nothing more is read, and the socket closes once what was emitted is out. */
  closeAfterOutput(code: number, reason: string): void;
  /** Writes straight to the socket, outside the batch (a heart-beat). */
  sendNow(data: string): void;
  /** Drops the socket at once; `reason` is logged. */
  terminate(reason: string): void;
}
