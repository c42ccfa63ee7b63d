import type { Logger } from 'pino';
import { BrokerError, Connection, REJECTED, type Broker, type DeliverySink, type Message, type QueueEntry, type VirtualHosts } from '../broker/index.js';
import { CLOSE_ACCESS_REFUSED, CLOSE_VHOST_REFUSED, GuardedVhost, type Authenticator, type LoginOutcome, type Principal } from '../auth/index.js';
import type { CodecSession, Credentials, Failure, LoggedIn, WireCodec, WireProtocol } from './codec.js';
import { OPEN, type ServerSocket } from './server-socket.js';

/** What every session of one server shares. */
export interface SessionContext {
  readonly vhosts: VirtualHosts;
  readonly auth: Authenticator;
  readonly highWaterBytes: number;
  /** A socket above the high-water mark this long is cut (a consumer that never reads). */
  readonly drainTimeoutMs: number;
  /** The memory or disk alarm in force, shared by every session; null when none. */
  readonly flow: { alarm: string | null };
  /** Counts over every session, for the metrics: publishes confirmed (`ok` to a publish with an id, a SEND's RECEIPT). */
  readonly counts: { confirmed: number };
  readonly serverVersion: string;
  readonly logger: Logger;
}

/** WebSocket close code when the broker ends a connection because of its own failure (RFC 6455). */
export const CLOSE_INTERNAL_ERROR = 1011;
/** WebSocket close code when an administrator closes a connection (AMQP's CONNECTION_FORCED, 320; docs/management.md). */
export const CLOSE_CONNECTION_FORCED = 4320;
/** The most UTF-8 bytes a WebSocket close reason may have (RFC 6455: 125 bytes of payload, 2 of them the code). */
const MAX_CLOSE_REASON_BYTES = 123;

/** Both ends of a socket, as they were when it opened. */
export interface Endpoints {
  readonly peerHost: string;
  readonly peerPort: number;
  readonly host: string;
  readonly port: number;
  readonly ssl: boolean;
}

/** A logged-in connection as the management API shows it (docs/management.md, "Connections"). */
export interface ConnectionDetails {
  /** Warren's connection id (the `connectionId` of the connect reply). */
  readonly id: string;
  readonly endpoints: Endpoints;
  /** "Warren/JSON" or "STOMP 1.x". */
  readonly protocol: string;
  /** When the socket opened, in ms since the epoch. */
  readonly connectedAt: number;
  /** The `clientName` the client gave at connect, if any. */
  readonly clientName: string | undefined;
  readonly username: string | undefined;
  readonly vhost: string;
  readonly connection: Connection;
  /** Closes it as an administrator would (code 4320, `reason`); its unacknowledged deliveries are requeued. */
  close(reason: string): void;
}
/** The longest a Node timer waits. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const PUBLISH_REJECTED = 'a queue the message routes to is full (x-overflow reject-publish); it reached any other queues it routes to; publish it again later';
const TOPOLOGY_FAILED = "the cluster's Redis did not take the change, so other nodes may not know of it: check the broker's log and Redis, then try again";
const SYNC_FAILED = 'the broker could not store the message (on disk, or in a cluster in Redis); it may not survive a restart: publish it again';

/**
 * Confirms that wait for one store sync, and whatever must follow them on this socket. Confirms
 * of the same sync share one batch: one promise reaction for all of them, not one each.
 */
interface HeldBatch {
  ready: boolean;
  frames: string[];
  readonly sync: Promise<void>;
  // Two arrays rather than an object per confirm: a confirm waits for a sync, long enough to be
  // copied by a young-generation collection.
  /** Where in `frames` each confirm is. */
  readonly confirmAt: number[];
  /** For each confirm, the frame that replaces it if the sync fails. */
  readonly failed: Failed[];
}

/** The frame that replaces a held confirm whose wait failed, given why. */
type Failed = (message: string) => string;

// Output of every session is flushed once per event-loop turn: a socket's frames in as few
// WebSocket messages as MAX_MESSAGE_CHARS allows, and one setImmediate for the whole server
// rather than one per socket. An array, not a Set, as a wide fan-out lists 10,000 sessions in a
// turn and a Set's growth and iteration allocated per session. A session is listed when its
// turn's first frame is queued, so once, unless a flush came between (block, stopPushing) or it
// closed: its later entries then find nothing to send.
let sessionsToFlush: Session[] = [];
/**
 * A turn's output for one socket is split into WebSocket messages of about this many characters:
 * a longer string is a large object to V8, allocated on pages of its own and freed only by a full
 * garbage collection, and joining, measuring and writing one cost several times as much per byte
 * (a consumer of 100 queues with 1,000 deliveries in a turn spent a sixth of the broker's time there).
 */
const MAX_MESSAGE_CHARS = 64 * 1024;
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  const sessions = sessionsToFlush;
  sessionsToFlush = [];
  for (let i = 0; i < sessions.length; i++) sessions[i].flush();
}

/**
 * One WebSocket connection, whatever its wire format: login and the broker Connection, output
 * batched per event-loop turn, replies held in order behind the store's sync, pushes stopped while
 * the socket is backed up (and the socket cut when it never drains), publishers blocked by an
 * alarm, error classification, close. Its codec (the native JSON one, or STOMP) decodes frames
 * and encodes pushes.
 */
export class Session implements CodecSession, DeliverySink {
  /** Answered the last ping. */
  alive = true;
  /** Blocked by an alarm: the socket is not read until it clears. */
  blocked = false;
  ended = false;
  readonly logger: Logger;
  private readonly codec: WireCodec;
  loggedIn: LoggedIn | undefined;
  /** Has published: an alarm blocks it. */
  private publisher = false;
  /** Names the client in the log lines, once logged in. */
  private identity: Record<string, unknown> = {};
  /** Set while a login runs: WebSocket messages that arrive meanwhile wait here, in order. */
  private heldInput: { data: Buffer; isBinary: boolean }[] | undefined;
  /** Set by deferDeliveries: the deliveries waiting for the reply to the frame that caused them. */
  private deferred: string[] | undefined;
  /** This turn's output: its one frame as it is (most turns of most sockets), several in an array. */
  private out: string | string[] | undefined;
  private readonly held: HeldBatch[] = [];
  /** Shutting down or closing: pushes stay off. */
  private stopped = false;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** Fires when the token of a token login expires. */
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by closeAfterOutput: the close to make once everything queued and held has been sent. */
  private pendingClose: { code: number; reason: string } | undefined;
  /** When the socket opened (ms since the epoch). */
  readonly connectedAt = Date.now();

  constructor(
    private readonly socket: ServerSocket,
    readonly id: string,
    private readonly context: SessionContext,
    protocol: WireProtocol,
    private readonly remoteAddress: string | undefined,
    readonly endpoints: Endpoints = { peerHost: remoteAddress ?? '', peerPort: 0, host: '', port: 0, ssl: false },
  ) {
    this.logger = context.logger.child({ conn: id });
    this.codec = protocol.open(this);
    this.logger.info({ address: remoteAddress, protocol: protocol.name, subprotocol: socket.protocol || undefined }, 'connection opened');
  }

  get serverVersion(): string {
    return this.context.serverVersion;
  }

  get connection(): Connection | undefined {
    return this.loggedIn?.connection;
  }

  get inputSuspended(): boolean {
    return this.heldInput !== undefined;
  }

  /** One WebSocket message from the client. */
  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.ended) return;
    if (this.heldInput) {
      this.heldInput.push({ data, isBinary });
      return;
    }
    this.codec.onMessage(data, isBinary);
    this.checkAlarm();
  }

  onPong(): void {
    this.alive = true;
  }

  /** The socket closed: its deliveries are requeued, its consumers and exclusive queues go. */
  onClose(code: number): void {
    // It may still be listed for this turn's flush: that finds nothing to send.
    this.out = undefined;
    clearTimeout(this.drainTimer);
    clearTimeout(this.expiryTimer);
    this.ended = true;
    this.codec.closed();
    this.loggedIn?.connection.close();
    this.logger.info({ code, ...this.identity }, 'connection closed');
  }

  login(credentials: Credentials, details: Record<string, unknown>, refusal: (message: string) => string, opened: (loggedIn: LoggedIn) => void): void {
    const attempt = this.context.auth.login({ ...credentials, remoteAddress: this.remoteAddress });
    this.whileInputWaits(attempt, 'login', refusal, (outcome) => {
      if (!outcome.ok) {
        this.logger.warn({ username: credentials.username, vhost: credentials.vhost, reason: outcome.reason }, 'login refused');
        this.emit(refusal(outcome.message));
        this.closeAfterOutput(outcome.closeCode, 'access refused');
        return;
      }
      const { principal } = outcome;
      const broker = this.context.vhosts.get(principal.vhost);
      if (!broker) {
        // Deleted while the login was being decided.
        this.emit(refusal(`access refused: vhost ${JSON.stringify(principal.vhost)} does not exist`));
        this.closeAfterOutput(CLOSE_VHOST_REFUSED, 'access refused');
        return;
      }
      this.identity = { username: principal.username, vhost: principal.vhost, ...details };
      const loggedIn = this.adopt(new Connection(this.id, broker, this), broker, principal);
      this.logger.info(this.identity, 'connected');
      opened(loggedIn);
    });
  }

  /** This connection for the management API; undefined before login and once it is ending. */
  details(): ConnectionDetails | undefined {
    const loggedIn = this.loggedIn;
    if (!loggedIn || this.ended) return undefined;
    const { protocol, clientName } = this.identity;
    return {
      id: this.id,
      endpoints: this.endpoints,
      protocol: typeof protocol === 'string' ? protocol : 'unknown',
      connectedAt: this.connectedAt,
      clientName: typeof clientName === 'string' ? clientName : undefined,
      username: loggedIn.principal.username,
      vhost: loggedIn.principal.vhost,
      connection: loggedIn.connection,
      close: (reason) => this.forceClose(reason),
    };
  }

  /** An administrator closes the connection: what is already queued goes out, then close 4320 with the reason. */
  forceClose(reason: string): void {
    if (this.ended) return;
    this.logger.info({ reason, ...this.identity }, 'connection closed by an administrator');
    this.closeAfterOutput(CLOSE_CONNECTION_FORCED, truncateUtf8(reason, MAX_CLOSE_REASON_BYTES));
  }

  refresh(token: string, reply: (expiresAt: number) => string, refusal: (message: string) => string): void {
    const loggedIn = this.loggedIn;
    if (!loggedIn || loggedIn.principal.expiresAt === undefined) {
      throw new BrokerError('NOT_ALLOWED', 'auth.refresh replaces the token of a connection that logged in with a token; this one did not');
    }
    this.whileInputWaits(this.context.auth.refresh(token, loggedIn.principal), 'auth.refresh', refusal, (outcome) => {
      if (!outcome.ok) {
        this.logger.warn({ reason: outcome.reason }, 'token refresh refused; the connection keeps its token');
        this.emit(refusal(outcome.message));
        return;
      }
      const { principal } = outcome;
      this.adopt(loggedIn.connection, loggedIn.vhost.broker, principal);
      this.emit(reply(principal.expiresAt ?? 0));
      // docs/security.md, "Tokens": what the new token no longer lets it read, it stops reading.
      for (const [tag, consumer] of loggedIn.connection.consumers) {
        if (principal.access.read(consumer.queue.name)) continue;
        loggedIn.connection.cancel(tag);
        this.cancelled(tag, 'permission');
      }
      this.logger.info({ expiresAt: principal.expiresAt }, 'token refreshed');
    });
  }

  /** Runs an authentication step with input suspended; an unexpected failure is reported, and ends a login. */
  private whileInputWaits(attempt: Promise<LoginOutcome>, what: string, refusal: (message: string) => string, settled: (outcome: LoginOutcome) => void): void {
    this.suspendInput();
    attempt
      .then(
        (outcome) => {
          if (!this.ended) settled(outcome);
        },
        (error: unknown) => {
          if (this.ended) return;
          this.emit(refusal(this.describeFailure(error, what).message));
          if (!this.loggedIn) this.closeAfterOutput(CLOSE_INTERNAL_ERROR, 'login failed');
        },
      )
      .finally(() => this.resumeInput());
  }

  /** The connection works as `principal` from now on: its permissions, and its token's expiry. */
  private adopt(connection: Connection, broker: Broker, principal: Principal): LoggedIn {
    const loggedIn = { connection, vhost: new GuardedVhost(broker, principal.access, principal.username, principal.vhost), principal };
    this.loggedIn = loggedIn;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (principal.expiresAt !== undefined) this.expireAt(principal.expiresAt);
    return loggedIn;
  }

  /** One timer per connection; timers cannot wait longer than about 24.8 days, so a later expiry re-arms. */
  private expireAt(expiresAt: number): void {
    this.expiryTimer = setTimeout(() => this.expireIfDue(expiresAt), Math.max(0, Math.min(expiresAt - Date.now(), MAX_TIMER_MS)));
    this.expiryTimer.unref();
  }

  /** Always from the timer, never at once: a token accepted within the clock tolerance gets its login reply first. */
  private expireIfDue(expiresAt: number): void {
    if (expiresAt > Date.now()) {
      this.expireAt(expiresAt);
      return;
    }
    this.expiryTimer = undefined;
    const message = `access refused: the token expired at ${new Date(expiresAt).toISOString()}; send auth.refresh with a new token before it expires`;
    this.logger.info({ expiresAt }, 'token expired; closing');
    this.emit(this.codec.accessEnded(message));
    this.closeAfterOutput(CLOSE_ACCESS_REFUSED, 'token expired');
  }

  // docs/protocol.md, "Publishing and confirms".
  publish(loggedIn: LoggedIn, message: Message): number {
    this.publisher = true;
    const outcome = loggedIn.vhost.publish(message);
    if (outcome & REJECTED) throw new BrokerError('REJECTED', PUBLISH_REJECTED);
    return outcome;
  }

  /** `failed` only for a persisted message: its confirm then waits for the store's sync. */
  confirm(frame: string, failed: Failed | undefined): void {
    this.context.counts.confirmed++;
    if (failed) this.emitAfterSync(frame, failed);
    else this.emit(frame);
  }

  /** Whether this connection has published: what blocks it under an alarm, and RabbitMQ's "publishers". */
  get isPublisher(): boolean {
    return this.publisher;
  }

  describeFailure(error: unknown, what: string): Failure {
    if (error instanceof BrokerError) return { code: error.code, message: error.message, internal: false };
    this.logger.error({ err: error, op: what }, 'internal error');
    return { code: 'INTERNAL_ERROR', message: `${what} failed inside the broker; the failure is logged there`, internal: true };
  }

  // DeliverySink: called by the broker's queues.
  deliver(consumerTag: string, deliveryTag: number, entry: QueueEntry): void {
    const frame = this.codec.deliverFrame(consumerTag, deliveryTag, entry);
    if (frame === undefined) {
      this.logger.error({ consumerTag, deliveryTag }, 'a delivery to a consumer the session does not know; it is requeued when the connection closes');
    } else if (this.deferred) {
      this.deferred.push(frame);
    } else {
      this.emit(frame);
    }
  }

  cancelled(consumerTag: string, reason?: string): void {
    if (reason) this.logger.warn({ consumerTag, reason }, 'consumer cancelled');
    this.codec.cancelled(consumerTag, reason);
  }

  deferDeliveries(): void {
    this.deferred = [];
  }

  releaseDeliveries(): void {
    const deferred = this.deferred;
    this.deferred = undefined;
    if (deferred) for (const frame of deferred) this.emit(frame);
  }

  /** Sends everything queued for this socket (a lone frame as it is: encodeBatch of one frame is that frame). */
  flush(): void {
    const out = this.out;
    this.out = undefined;
    if (out === undefined || this.socket.readyState !== OPEN) {
      if (this.pendingClose !== undefined) this.closeIfSent();
      return;
    }
    this.socket.send(typeof out === 'string' ? out : this.sendAllButLast(out), this.afterSend);
    const connection = this.loggedIn?.connection;
    if (this.socket.bufferedAmount > this.context.highWaterBytes && connection?.writable) {
      connection.setWritable(false);
      this.drainTimer ??= setTimeout(() => this.onDrainTimeout(), this.context.drainTimeoutMs);
    }
    if (this.pendingClose !== undefined) this.closeIfSent();
  }

  /**
   * Sends a turn's frames in WebSocket messages of about MAX_MESSAGE_CHARS (see there), but the
   * last, which it returns. Only that one reports its write (afterSend): writes complete in
   * order, so that one says the whole flush is out.
   */
  private sendAllButLast(out: string[]): string {
    let start = 0;
    let chars = 0;
    for (let i = 0; i < out.length - 1; i++) {
      chars += out[i].length;
      if (chars < MAX_MESSAGE_CHARS) continue;
      this.socket.send(this.codec.encodeBatch(out.slice(start, i + 1)));
      start = i + 1;
      chars = 0;
    }
    return this.codec.encodeBatch(start === 0 ? out : out.slice(start));
  }

  sendNow(data: string): void {
    if (!this.ended && this.socket.readyState === OPEN) this.socket.send(data);
  }

  terminate(reason: string): void {
    this.logger.warn(reason);
    this.ended = true;
    this.socket.terminate();
  }

  /** An alarm is in force: a publishing connection is told, and its socket is no longer read. */
  block(reason: string): void {
    if (this.blocked || !this.publisher) return;
    this.blocked = true;
    const notice = this.codec.blockedNotice(reason);
    if (notice !== undefined) {
      this.emit(notice);
      this.flush();
    }
    this.socket.pause();
    this.logger.info({ reason }, 'publisher blocked');
  }

  unblock(): void {
    if (!this.blocked) return;
    this.blocked = false;
    const notice = this.codec.unblockedNotice();
    if (notice !== undefined) this.emit(notice);
    if (!this.heldInput) this.socket.resume();
    this.logger.info('publisher unblocked');
  }

  private checkAlarm(): void {
    const alarm = this.context.flow.alarm;
    if (alarm !== null && this.publisher) this.block(alarm);
  }

  /** Until resumeInput, the socket is not read and what arrives anyway waits, so frames stay in order. */
  private suspendInput(): void {
    this.heldInput ??= [];
    this.socket.pause();
  }

  /** Suspended again while replaying: what is left goes back in front of what arrives meanwhile. */
  private holdAgain(messages: { data: Buffer; isBinary: boolean }[]): void {
    this.heldInput = [...messages, ...(this.heldInput ?? [])];
  }

  private resumeInput(): void {
    const held = this.heldInput ?? [];
    this.heldInput = undefined;
    if (!this.ended) this.codec.resume();
    for (let next = held.shift(); next !== undefined && !this.ended; next = held.shift()) {
      if (this.inputSuspended) {
        this.holdAgain([next, ...held]);
        return;
      }
      this.codec.onMessage(next.data, next.isBinary);
    }
    if (this.inputSuspended) return;
    // Once ended the socket is read again all the same, so that its closing handshake can complete.
    if (this.ended || !this.blocked) this.socket.resume();
    if (!this.ended) this.checkAlarm();
  }

  /** Shutdown: no more pushes; what is already queued for the socket goes out now. */
  stopPushing(): void {
    this.stopped = true;
    this.loggedIn?.connection.setWritable(false);
    this.flush();
  }

  emit(frame: string): void {
    if (this.held.length > 0) {
      this.held[this.held.length - 1].frames.push(frame);
      return;
    }
    this.enqueue(frame);
  }

  closeAfterOutput(code: number, reason: string): void {
    this.ended = true;
    if (this.pendingClose !== undefined) return;
    this.pendingClose = { code, reason };
    this.stopped = true;
    this.loggedIn?.connection.setWritable(false);
    if (this.held.length === 0 && this.out === undefined) this.closeIfSent();
  }

  private onDrainTimeout(): void {
    this.drainTimer = undefined;
    if (this.socket.bufferedAmount <= this.context.highWaterBytes / 2) return;
    this.logger.warn({ bufferedBytes: this.socket.bufferedAmount, timeoutMs: this.context.drainTimeoutMs }, 'socket did not drain; closing it');
    this.stopped = true;
    this.socket.terminate();
  }

  private readonly afterSend = (error?: Error): void => {
    // A failed write means the socket is going away (its buffer empties because it was dropped):
    // resuming pushes then would pour the queue into a dead socket, to be requeued as redeliveries.
    if (error || this.socket.readyState !== OPEN) return;
    // Resume pushes once the socket has drained below half the high-water mark.
    const connection = this.loggedIn?.connection;
    if (connection && !this.stopped && !connection.writable && this.socket.bufferedAmount <= this.context.highWaterBytes / 2) {
      clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
      connection.setWritable(true);
    }
  };

  /** Queues a frame for this turn's flush, whatever is held. */
  private enqueue(frame: string): void {
    const out = this.out;
    if (out === undefined) {
      this.out = frame;
      sessionsToFlush.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    } else if (typeof out === 'string') {
      this.out = [out, frame];
    } else {
      out.push(frame);
    }
  }

  emitTopologyReply(frame: string, failed: (message: string) => string): void {
    const settled = this.loggedIn?.vhost.broker.store.topologySettled?.();
    if (settled === undefined) this.emit(frame);
    else this.emitAfter(settled, TOPOLOGY_FAILED, frame, failed);
  }

  emitPending(reply: Promise<string>, failed: (error: unknown) => string): void {
    // The batch's own promise must not reject unhandled: `failed` answers for the reply.
    const batch: HeldBatch = { ready: false, frames: [''], sync: reply.then(() => {}, () => {}), confirmAt: [], failed: [] };
    this.held.push(batch);
    reply.then(
      (frame) => {
        batch.frames[0] = frame;
        this.release(batch);
      },
      (error: unknown) => {
        batch.frames[0] = failed(error);
        this.release(batch);
      },
    );
  }

  /** `frame` and every frame after it wait for the store's sync; when it fails, `failed` gives the frame sent in its place. */
  private emitAfterSync(frame: string, failed: Failed): void {
    const store = this.loggedIn?.vhost.broker.store;
    if (!store) throw new Error('a confirm waits for the store of a logged-in connection; this one has none');
    this.emitAfter(store.sync(), SYNC_FAILED, frame, failed);
  }

  /** `failure` is what each held confirm's `failed` is given if `sync` rejects; confirms that join the batch share its promise, so its source. */
  private emitAfter(sync: Promise<void>, failure: string, frame: string, failed: Failed): void {
    const last = this.held.at(-1);
    if (last !== undefined && !last.ready && last.sync === sync) {
      last.confirmAt.push(last.frames.length);
      last.failed.push(failed);
      last.frames.push(frame);
      return;
    }
    const batch: HeldBatch = { ready: false, frames: [frame], sync, confirmAt: [0], failed: [failed] };
    this.held.push(batch);
    sync.then(
      () => this.release(batch),
      (error: unknown) => {
        this.logger.error({ err: error }, 'store sync failed');
        batch.confirmAt.forEach((index, i) => (batch.frames[index] = batch.failed[i](failure)));
        this.release(batch);
      },
    );
  }

  private release(batch: HeldBatch): void {
    batch.ready = true;
    let front = this.held[0];
    while (front !== undefined && front.ready) {
      this.held.shift();
      // Straight out, not through emit: while later batches are still held, emit would append
      // these frames to the last of them, behind replies to later frames.
      for (const frame of front.frames) this.enqueue(frame);
      front = this.held[0];
    }
  }

  private closeIfSent(): void {
    if (this.held.length > 0 || this.out !== undefined || this.pendingClose === undefined) return;
    const { code, reason } = this.pendingClose;
    if (this.socket.readyState === OPEN) this.socket.close(code, reason);
  }
}

/** `text` cut to at most `maxBytes` UTF-8 bytes, never inside a character. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let cut = '';
  for (const char of text) {
    if (Buffer.byteLength(cut + char, 'utf8') > maxBytes) break;
    cut += char;
  }
  return cut;
}
