import type { ConnectReply, ReplyOf, Request, RequestFields, RequestOp } from '../protocol/index.js';
import { brokerError, connectionClosed, WarrenError } from './errors.js';
import { isFrame, type FieldsOf, type Frame, type Received } from './frame.js';
import { OPEN, type WebSocketLike } from './websocket.js';

/** The ops whose frames get no reply: settlements, and a publish without `id`. */
export type OneWayOp = Exclude<Request, { id: number }>['op'];

/**
 * The most characters sent in one batched WebSocket message. The broker
 * closes a socket whose message exceeds its limit (1 MiB by default), and a
 * UTF-16 code unit is at most 3 UTF-8 bytes, so 256 Ki units stay under it
 * with room to spare. A single frame larger than that is sent on its own.
 */
const MAX_BATCH_CHARS = 256 * 1024;

/** What a session reports to its owner. */
export interface SessionHandlers {
  /** A frame that answers no pending request: `deliver`, `return`, `cancelled`, `error` without `id`... */
  onFrame(frame: Frame, session: Session): void;
  /** The broker sent something the protocol does not allow. */
  onProtocolError(error: WarrenError, session: Session): void;
  /** The socket closed after a successful handshake, without {@link Session.close}. */
  onClose(event: { code: number; reason: string }, session: Session): void;
}

interface Pending {
  resolve(frame: Frame): void;
  reject(error: Error): void;
}

/**
 * One WebSocket connection: the `connect` handshake, request ids and reply
 * matching, outgoing batching, and parsing of incoming (possibly batched)
 * messages. It knows nothing of consumers or reconnecting; when its socket
 * goes, it is done and the client makes a new one.
 */
export class Session {
  readonly #socket: WebSocketLike;
  readonly #handlers: SessionHandlers;
  readonly #url: string;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #outbox: string[] = [];
  #flushQueued = false;
  /** Until the handshake succeeds, a close is reported as a failed handshake, not to onClose. */
  #ready = false;
  /** False once the socket closed or {@link close} was called: nothing more is sent or dispatched. */
  #alive = true;
  #lastSocketError = '';
  readonly #opened: Promise<void>;
  readonly #closed: Promise<void>;
  #resolveOpened!: () => void;
  #rejectOpened!: (error: Error) => void;
  #resolveClosed!: () => void;

  /**
   * Starts connecting `socket`; call {@link handshake} next.
   * @param url only for error messages
   */
  constructor(socket: WebSocketLike, url: string, handlers: SessionHandlers) {
    this.#socket = socket;
    this.#url = url;
    this.#handlers = handlers;
    this.#opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    this.#opened.catch(() => {}); // handshake() awaits it; this only avoids an unhandled rejection
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    socket.addEventListener('open', () => this.#resolveOpened());
    socket.addEventListener('message', (event) => this.#onMessage(event.data));
    socket.addEventListener('error', (event) => {
      // Browsers give no detail; ws gives the cause. The close event follows either way.
      const message = (event as { message?: unknown }).message;
      if (typeof message === 'string') this.#lastSocketError = message;
    });
    socket.addEventListener('close', (event) => this.#onSocketClose(event.code, event.reason));
  }

  /** Whether the session can still send (its socket has not closed and {@link close} was not called). */
  get alive(): boolean {
    return this.#alive;
  }

  /**
   * Waits for the socket to open, sends `connect` (id 1) with `fields` (the
   * version, credentials, vhost and name), and returns the broker's `ok`
   * reply. Rejects with the broker's error (e.g. `ACCESS_REFUSED`) or
   * `CONNECTION_CLOSED`, and then the socket is closed.
   */
  async handshake(fields: RequestFields<'connect'>): Promise<Received<ConnectReply>> {
    try {
      await this.#opened;
      const reply = await this.request('connect', fields);
      this.#ready = true;
      return reply;
    } catch (error) {
      if (this.#alive) this.#shutdown(connectionClosed('the handshake failed'));
      throw error;
    }
  }

  /** Sends a request with the next id; resolves with the `ok` reply, rejects with a {@link WarrenError}. */
  request<Op extends RequestOp, F extends RequestFields<Op>>(op: Op, fields: FieldsOf<Op, F>): Promise<Received<ReplyOf<Op>>> {
    if (!this.#alive) return Promise.reject(connectionClosed(`cannot send ${op}: the connection is closed`));
    const id = this.#nextId;
    // Serialise first: a payload JSON cannot encode rejects this request alone, without using up an id.
    const text = JSON.stringify({ op, id, ...fields });
    this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#enqueue(text);
    });
  }

  /** Sends a frame that gets no reply (ack, nack, reject, fire-and-forget publish); does nothing once closed. */
  send<Op extends OneWayOp, F extends RequestFields<Op>>(op: Op, fields: FieldsOf<Op, F>): void {
    if (!this.#alive) return;
    this.#enqueue(JSON.stringify({ op, ...fields }));
  }

  /**
   * Sends what is queued, rejects every pending request with
   * `CONNECTION_CLOSED`, closes the socket and resolves once it has closed.
   */
  close(): Promise<void> {
    if (this.#alive) {
      this.#flush();
      this.#shutdown(connectionClosed('the connection was closed by the client'));
    }
    return this.#closed;
  }

  #shutdown(error: WarrenError): void {
    this.#alive = false;
    this.#outbox = [];
    this.#rejectOpened(error);
    this.#failPending(error);
    if (this.#socket.readyState === 3) this.#resolveClosed();
    else this.#socket.close(1000);
  }

  #enqueue(text: string): void {
    this.#outbox.push(text);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // Everything sent in this turn of the event loop goes out as one message (protocol.md, "Transport and frames").
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    const frames = this.#outbox;
    if (frames.length === 0) return;
    this.#outbox = [];
    // A socket that is no longer open fails the pending requests through its close event.
    if (this.#socket.readyState !== OPEN) return;
    let batch: string[] = [];
    let chars = 0;
    for (const text of frames) {
      if (batch.length > 0 && chars + text.length > MAX_BATCH_CHARS) {
        this.#sendBatch(batch);
        batch = [];
        chars = 0;
      }
      batch.push(text);
      chars += text.length + 1;
    }
    this.#sendBatch(batch);
  }

  #sendBatch(batch: string[]): void {
    this.#socket.send(batch.length === 1 ? batch[0] : `[${batch.join(',')}]`);
  }

  #onMessage(data: unknown): void {
    if (!this.#alive) return;
    if (typeof data !== 'string') {
      this.#protocolError('the broker sent a binary message; the protocol uses text messages only');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.#protocolError(`the broker sent a message that is not JSON: ${data.slice(0, 100)}`);
      return;
    }
    if (!Array.isArray(parsed)) {
      this.#dispatch(parsed);
      return;
    }
    for (const frame of parsed) {
      // A handler may close the client part-way through a batch.
      if (!this.#alive) return;
      this.#dispatch(frame);
    }
  }

  #dispatch(frame: unknown): void {
    if (!isFrame(frame)) {
      this.#protocolError(`the broker sent a frame that is not an object with an "op": ${JSON.stringify(frame)?.slice(0, 100)}`);
      return;
    }
    if ((frame.op === 'ok' || frame.op === 'error') && typeof frame.id === 'number') {
      const pending = this.#pending.get(frame.id);
      if (pending) {
        this.#pending.delete(frame.id);
        if (frame.op === 'ok') pending.resolve(frame);
        else pending.reject(brokerError(frame, 'the broker refused the request'));
        return;
      }
    }
    this.#handlers.onFrame(frame, this);
  }

  #protocolError(message: string): void {
    this.#handlers.onProtocolError(new WarrenError('PROTOCOL_ERROR', message), this);
  }

  #onSocketClose(code: number, reason: string): void {
    const wasAlive = this.#alive;
    this.#alive = false;
    this.#outbox = [];
    this.#resolveClosed();
    if (!wasAlive) return;
    const detail = `code ${code}${reason ? `, ${reason}` : this.#lastSocketError ? `, ${this.#lastSocketError}` : ''}`;
    if (!this.#ready) {
      const error = connectionClosed(`could not connect to ${this.#url}: the socket closed (${detail})`);
      this.#rejectOpened(error);
      this.#failPending(error);
      return;
    }
    this.#failPending(connectionClosed(`the connection closed (${detail})`));
    this.#handlers.onClose({ code, reason: reason || this.#lastSocketError }, this);
  }

  #failPending(error: WarrenError): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const request of pending) request.reject(error);
  }
}
