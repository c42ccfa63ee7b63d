import type { WebSocketLike } from '../../src/client/index.js';

/** A frame as the tests read it. */
export type TestFrame = { op: string } & Record<string, unknown>;

type AnyListener = (event: never) => void;

/**
 * A WebSocket the tests drive by hand: `open()`, `receive()` and `drop()`
 * play the broker's part; `sent` records what the client sent.
 */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  /** Every WebSocket message the client sent, as text. */
  readonly sent: string[] = [];
  /** The arguments of each `close()` call. */
  readonly closeCalls: Array<{ code?: number; reason?: string }> = [];
  #taken = 0;
  readonly #listeners = new Map<string, AnyListener[]>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: AnyListener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error(`send while readyState is ${this.readyState}`);
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closeCalls.push({ code, reason });
    if (this.readyState >= 2) return;
    this.readyState = 2;
    // The closing handshake completes a little later, as with a real socket.
    setImmediate(() => this.drop(code ?? 1005, reason ?? ''));
  }

  /** The connection opens. */
  open(): void {
    this.readyState = 1;
    this.#fire('open', { type: 'open' });
  }

  /** The broker sends one WebSocket message holding `frames` (a frame or an array of frames). */
  receive(frames: TestFrame | TestFrame[]): void {
    this.receiveRaw(JSON.stringify(frames));
  }

  /** The broker sends `data` as it is. */
  receiveRaw(data: unknown): void {
    this.#fire('message', { data });
  }

  /** The connection closes (code 1006: it dropped). */
  drop(code = 1006, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#fire('close', { code, reason });
  }

  /** The frames sent since the last call, batches unpacked. */
  takeFrames(): TestFrame[] {
    return this.takeMessages().flatMap((text) => {
      const parsed = JSON.parse(text) as TestFrame | TestFrame[];
      return Array.isArray(parsed) ? parsed : [parsed];
    });
  }

  /** The raw messages sent since the last call. */
  takeMessages(): string[] {
    const messages = this.sent.slice(this.#taken);
    this.#taken = this.sent.length;
    return messages;
  }

  #fire(type: string, event: unknown): void {
    for (const listener of this.#listeners.get(type) ?? []) (listener as (event: unknown) => void)(event);
  }
}

/** A fresh fake WebSocket class, and the sockets made with it. */
export function fakeWebSocket(): { WebSocket: new (url: string) => FakeSocket; sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = [];
  class WebSocket extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return { WebSocket, sockets };
}

/** Lets every queued microtask and immediate run (the client flushes its outbox in a microtask). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
