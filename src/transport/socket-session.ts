import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { Broker, Connection } from '../broker/index.js';
import type { UserConfig } from '../config/index.js';

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

/** A reply that waits for the store's sync, and whatever must follow it on this socket. */
interface HeldBatch {
  ready: boolean;
  frames: string[];
}

// Output of every session is flushed once per event-loop turn: all frames for one socket in one
// WebSocket message, and one setImmediate for the whole server rather than one per socket.
const sessionsToFlush = new Set<SocketSession>();
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  for (const session of sessionsToFlush) session.flush();
  sessionsToFlush.clear();
}

/**
 * What every protocol's session does with its socket, whatever its frames look like: output
 * batched per event-loop turn, replies held in order behind the store's sync, pushes stopped while
 * the socket is backed up (and the socket cut when it never drains), publishers blocked by an
 * alarm. The native JSON session and the STOMP session extend it.
 */
export abstract class SocketSession {
  /** Answered the last ping. */
  alive = true;
  /** Blocked by an alarm: the socket is not read until it clears. */
  blocked = false;
  protected connection: Connection | undefined;
  /** Has published: an alarm blocks it. */
  protected publisher = false;
  protected readonly logger: Logger;
  private readonly out: string[] = [];
  private readonly held: HeldBatch[] = [];
  /** Shutting down: pushes stay off. */
  private stopped = false;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by closeAfterOutput: the close to make once everything queued and held has been sent. */
  private pendingClose: { code: number; reason: string } | undefined;

  constructor(
    protected readonly socket: WebSocket,
    readonly id: string,
    protected readonly context: SessionContext,
  ) {
    this.logger = context.logger.child({ conn: id });
  }

  /** One WebSocket message from the client. */
  abstract onMessage(data: RawData, isBinary: boolean): void;
  /** The socket closed. Implementations call `releaseOutput()` and close their Connection. */
  abstract onClose(code: number): void;
  /** The frames queued in one event-loop turn, as one WebSocket message. */
  protected abstract encodeBatch(frames: string[]): string;
  /** The frame telling a publisher it is blocked; undefined when the protocol has none. */
  protected abstract blockedNotice(reason: string): string | undefined;
  /** The frame telling a publisher it is unblocked; undefined when the protocol has none. */
  protected abstract unblockedNotice(): string | undefined;

  onPong(): void {
    this.alive = true;
  }

  /** Sends everything queued for this socket as one WebSocket message. */
  flush(): void {
    const out = this.out;
    if (out.length === 0 || this.socket.readyState !== this.socket.OPEN) {
      out.length = 0;
      if (this.pendingClose !== undefined) this.closeIfSent();
      return;
    }
    const text = this.encodeBatch(out);
    out.length = 0;
    this.socket.send(text, this.afterSend);
    if (this.socket.bufferedAmount > this.context.highWaterBytes && this.connection?.writable) {
      this.connection.setWritable(false);
      this.drainTimer ??= setTimeout(() => this.onDrainTimeout(), this.context.drainTimeoutMs);
    }
    if (this.pendingClose !== undefined) this.closeIfSent();
  }

  /** An alarm is in force: a publishing connection is told, and its socket is no longer read. */
  block(reason: string): void {
    if (this.blocked || !this.publisher) return;
    this.blocked = true;
    const notice = this.blockedNotice(reason);
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
    const notice = this.unblockedNotice();
    if (notice !== undefined) this.emit(notice);
    this.socket.resume();
    this.logger.info('publisher unblocked');
  }

  private onDrainTimeout(): void {
    this.drainTimer = undefined;
    if (this.socket.bufferedAmount <= this.context.highWaterBytes / 2) return;
    this.logger.warn({ bufferedBytes: this.socket.bufferedAmount, timeoutMs: this.context.drainTimeoutMs }, 'socket did not drain; closing it');
    this.stopped = true;
    this.socket.terminate();
  }

  /** Shutdown: no more pushes; what is already queued for the socket goes out now. */
  stopPushing(): void {
    this.stopped = true;
    this.connection?.setWritable(false);
    this.flush();
  }

  private readonly afterSend = (error?: Error): void => {
    // A failed write means the socket is going away (its buffer empties because it was dropped):
    // resuming pushes then would pour the queue into a dead socket, to be requeued as redeliveries.
    if (error || this.socket.readyState !== this.socket.OPEN) return;
    // Resume pushes once the socket has drained below half the high-water mark.
    if (this.connection && !this.stopped && !this.connection.writable && this.socket.bufferedAmount <= this.context.highWaterBytes / 2) {
      clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
      this.connection.setWritable(true);
    }
  };

  protected emit(frame: string): void {
    if (this.held.length > 0) {
      this.held[this.held.length - 1].frames.push(frame);
      return;
    }
    this.enqueue(frame);
  }

  /** Queues a frame for this turn's flush, whatever is held. */
  private enqueue(frame: string): void {
    this.out.push(frame);
    if (this.out.length === 1) {
      sessionsToFlush.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /**
   * A confirm of a persisted message: it and every frame after it wait for the store's sync.
   * When the sync fails, `failed` gives the frame sent in its place.
   */
  protected emitAfterSync(frame: string, failed: () => string): void {
    const batch: HeldBatch = { ready: false, frames: [frame] };
    this.held.push(batch);
    this.context.broker.store.sync().then(
      () => this.release(batch),
      (error: unknown) => {
        this.logger.error({ err: error }, 'store sync failed');
        batch.frames[0] = failed();
        this.release(batch);
      },
    );
  }

  private release(batch: HeldBatch): void {
    batch.ready = true;
    while (this.held.length > 0 && this.held[0].ready) {
      const { frames } = this.held.shift() as HeldBatch;
      // Straight out, not through emit: while later batches are still held, emit would append
      // these frames to the last of them, behind replies to later frames.
      for (const frame of frames) this.enqueue(frame);
    }
  }

  /**
   * Closes the socket once everything emitted so far (held replies included) has been sent;
   * nothing more is pushed meanwhile. For protocols whose errors end the connection (STOMP).
   */
  protected closeAfterOutput(code: number, reason: string): void {
    if (this.pendingClose !== undefined) return;
    this.pendingClose = { code, reason };
    this.stopped = true;
    this.connection?.setWritable(false);
    if (this.held.length === 0 && this.out.length === 0) this.closeIfSent();
  }

  private closeIfSent(): void {
    if (this.held.length > 0 || this.out.length > 0 || this.pendingClose === undefined) return;
    const { code, reason } = this.pendingClose;
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(code, reason);
  }

  /** The socket closed: nothing more is flushed, and the drain timer stops. */
  protected releaseOutput(): void {
    sessionsToFlush.delete(this);
    clearTimeout(this.drainTimer);
  }
}
