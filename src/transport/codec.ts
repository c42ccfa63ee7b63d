import type { Logger } from 'pino';
import type { GuardedVhost, Principal } from '../auth/index.js';
import type { Connection, ErrorCode, Message, QueueEntry } from '../broker/index.js';

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
  /** The frames queued in one event-loop turn (at least one), as one WebSocket message; one frame is itself (a session sends a lone frame without this). May change `frames`. */
  encodeBatch(frames: string[]): string;
  /** The frame telling a publisher that an alarm blocks it; undefined when the protocol has none. */
  blockedNotice(reason: string): string | undefined;
  /** The frame telling a publisher it is unblocked; undefined when the protocol has none. */
  unblockedNotice(): string | undefined;
  /** The socket closed: stop the codec's own timers. */
  closed(): void;
  /** The frame sent before the session closes a connection whose token expired (then close 4401). */
  accessEnded(message: string): string;
  /**
   * Input was suspended (an asynchronous login) and goes on: handle the frames put aside since,
   * in order, until the input is suspended again.
   */
  resume(): void;
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

/** What a client presents to log in: a user name and password, or a token; and the vhost it asks for. */
export interface Credentials {
  username: string | undefined;
  password: string | undefined;
  token: string | undefined;
  vhost: string | undefined;
}

/** How a failed frame is reported: the protocol's error code and a sentence a person can act on. */
export interface Failure {
  code: ErrorCode;
  message: string;
  /** Not the client's doing: a bug or a broken store, logged by the session. */
  internal: boolean;
}

/** A logged-in client: its broker Connection, its vhost as its permissions allow, and who it is. */
export interface LoggedIn {
  readonly connection: Connection;
  /** Every declare, bind, consume, get and publish goes through it: it checks the permissions. */
  readonly vhost: GuardedVhost;
  readonly principal: Principal;
}

/** What the session core does for a codec. */
export interface CodecSession {
  readonly id: string;
  readonly logger: Logger;
  readonly serverVersion: string;
  /** Set once `login` has succeeded. */
  readonly loggedIn: LoggedIn | undefined;
  /** The connection is ending (refused, closed by an error or by the client): nothing more is read. */
  readonly ended: boolean;
  /** An alarm has stopped reading from this publisher. */
  readonly blocked: boolean;
  /**
   * An asynchronous step (a login) is running: frames after the current one must be put aside,
   * in order, and handled when `WireCodec.resume` is called.
   */
  readonly inputSuspended: boolean;
  /**
   * Checks the credentials and opens the broker Connection, suspending input meanwhile; then
   * calls `opened`. A refusal sends `refusal(message)` and closes (4401, or 4403 for a vhost).
   * `details` go into the log lines about the connection; its `protocol` ("Warren/JSON", "STOMP 1.2")
   * and `clientName` are shown by the management API.
   */
  login(credentials: Credentials, details: Record<string, unknown>, refusal: (message: string) => string, opened: (loggedIn: LoggedIn) => void): void;
  /**
   * Replaces a token login's token (`auth.refresh`), suspending input meanwhile: `reply(expiresAt)`
   * on success, after which consumers of queues no longer readable are cancelled; `refusal(message)`
   * otherwise, and the connection keeps its old token.
   */
  refresh(token: string, reply: (expiresAt: number) => string, refusal: (message: string) => string): void;
  /** Routes a message in the logged-in vhost; returns the broker's outcome bits. Throws ACCESS_REFUSED, NOT_FOUND, or REJECTED when a full queue refused it. */
  publish(loggedIn: LoggedIn, message: Message): number;
  /**
   * Sends a publish's confirm: at once, or for a persisted one (`failed` given only for those) once
   * the store has synced it (every frame emitted after it then waits with it; if the sync fails,
   * `failed(message)` goes out instead).
   */
  confirm(frame: string, failed: ((message: string) => string) | undefined): void;
  /** Queues a frame for this event-loop turn's WebSocket message. */
  emit(frame: string): void;
  /**
   * Queues the reply to a topology change; in a cluster it waits, with every frame after it, until
   * every node applied the change (`failed` gives the frame sent instead when it was not written).
   */
  emitTopologyReply(frame: string, failed: (message: string) => string): void;
  /** Queues a reply made later (a cluster's `get`); it and every frame after it wait for it. */
  emitPending(reply: Promise<string>, failed: (error: unknown) => string): void;
  /** Deliveries made from now until `releaseDeliveries()` wait, so that the reply to the frame causing them goes first. */
  deferDeliveries(): void;
  releaseDeliveries(): void;
  /** Classifies an error thrown while handling a frame named `what`: a BrokerError as it is, anything else logged and internal. */
  describeFailure(error: unknown, what: string): Failure;
  /** Ends the connection: nothing more is read, and the socket closes once what was emitted is out. */
  closeAfterOutput(code: number, reason: string): void;
  /** Writes straight to the socket, outside the batch (a heart-beat). */
  sendNow(data: string): void;
  /** Drops the socket at once; `reason` is logged. */
  terminate(reason: string): void;
}

/**
 * Frames a codec put aside while its session's input was suspended (a login), in order: `replay`
 * hands them on until the input is suspended again, and keeps the rest for the next resume.
 */
export class SetAside<T> {
  private frames: T[] = [];

  add(frame: T): void {
    this.frames.push(frame);
  }

  replay(session: CodecSession, handle: (frame: T) => void): void {
    const frames = this.frames;
    this.frames = [];
    for (let index = 0; index < frames.length && !session.ended; index++) {
      if (session.inputSuspended) {
        this.frames = frames.slice(index);
        return;
      }
      handle(frames[index]);
    }
  }
}
