import { Client, type IFrame, type IMessage, type StompHeaders } from '@stomp/stompjs';
import WebSocket from 'ws';

// Test peers for the STOMP adapter: the real @stomp/stompjs client over `ws`, and a raw socket
// for input stompjs would never send.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `ready` returns a value, or fails with `what` after `timeoutMs`. */
export async function until<T>(ready: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = ready();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export interface PeerOptions {
  login?: string;
  passcode?: string;
  /** The vhost (STOMP's `host` header); not sent when absent. */
  host?: string;
  heartbeatIncoming?: number;
  heartbeatOutgoing?: number;
  protocols?: string[];
}

/** Messages of one subscription, in arrival order. */
export class Inbox {
  readonly messages: IMessage[] = [];
  id = '';

  /** Waits until `count` messages have arrived and returns them. */
  async take(count: number, timeoutMs = 5000): Promise<IMessage[]> {
    await until(() => this.messages.length >= count, `${count} messages (have ${this.messages.length})`, timeoutMs);
    return this.messages.slice(0, count);
  }
}

/** A stompjs Client connected through `ws` with a STOMP subprotocol, as a Node app would use it. */
export class StompPeer {
  readonly errors: IFrame[] = [];
  readonly unhandled: IMessage[] = [];
  closeCode: number | undefined;
  connected!: IFrame;
  heartbeatsReceived = 0;
  private receipts = 0;

  private constructor(readonly client: Client) {}

  static async connect(url: string, options: PeerOptions = {}): Promise<StompPeer> {
    const client = new Client({
      webSocketFactory: () => new WebSocket(url, options.protocols ?? ['v12.stomp', 'v11.stomp', 'v10.stomp']),
      connectHeaders: { login: options.login ?? 'guest', passcode: options.passcode ?? 'guest', ...(options.host === undefined ? {} : { host: options.host }) },
      heartbeatIncoming: options.heartbeatIncoming ?? 0,
      heartbeatOutgoing: options.heartbeatOutgoing ?? 0,
      reconnectDelay: 0,
    });
    const peer = new StompPeer(client);
    client.onStompError = (frame) => peer.errors.push(frame);
    client.onUnhandledMessage = (message) => peer.unhandled.push(message);
    client.onHeartbeatReceived = () => peer.heartbeatsReceived++;
    client.onWebSocketClose = (event: { code: number }) => (peer.closeCode = event.code);
    await new Promise<void>((resolve, reject) => {
      client.onConnect = (frame) => {
        peer.connected = frame;
        resolve();
      };
      client.onWebSocketClose = (event: { code: number }) => {
        peer.closeCode = event.code;
        reject(new Error(`closed before CONNECTED (${event.code}): ${peer.errors.map((error) => error.headers.message).join('; ')}`));
      };
      client.activate();
    });
    client.onWebSocketClose = (event: { code: number }) => (peer.closeCode = event.code);
    return peer;
  }

  /** Subscribes and waits for the subscription's RECEIPT, so it is in place when this resolves. */
  async subscribe(destination: string, headers: StompHeaders = {}): Promise<Inbox> {
    const inbox = new Inbox();
    const receipt = `sub-receipt-${++this.receipts}`;
    const done = this.receiptFor(receipt);
    inbox.id = this.client.subscribe(destination, (message) => inbox.messages.push(message), { ...headers, receipt }).id;
    await done;
    return inbox;
  }

  /** SEND with a receipt; resolves with the RECEIPT (the broker's confirm). */
  async send(destination: string, body: string, headers: StompHeaders = {}): Promise<IFrame> {
    const receipt = `send-receipt-${++this.receipts}`;
    const done = this.receiptFor(receipt);
    this.client.publish({ destination, body, headers: { ...headers, receipt } });
    return done;
  }

  /** Resolves when the RECEIPT `receiptId` arrives; fails on an ERROR or a close first. */
  receiptFor(receiptId: string, timeoutMs = 5000): Promise<IFrame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no RECEIPT ${receiptId}; errors: ${this.errors.map((error) => error.headers.message).join('; ')}`)), timeoutMs);
      this.client.watchForReceipt(receiptId, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  /** A round trip: every frame sent before it has been handled when this resolves (a SEND that routes nowhere). */
  async sync(): Promise<void> {
    await this.send('/topic/spec.sync.nobody-listens', '');
  }

  async waitForError(timeoutMs = 5000): Promise<IFrame> {
    return until(() => this.errors[0], 'an ERROR frame', timeoutMs);
  }

  async waitForClose(timeoutMs = 5000): Promise<number> {
    return until(() => this.closeCode, 'the socket to close', timeoutMs);
  }

  async close(): Promise<void> {
    await this.client.deactivate();
  }
}

/** A raw STOMP peer: sends text as it is and records the frames and the close it gets back. */
export class RawStomp {
  readonly frames: { command: string; headers: Record<string, string>; body: string }[] = [];
  closeCode: number | undefined;
  /** Everything received, heart-beat EOLs included. */
  received = '';

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const text = data.toString();
      this.received += text;
      this.parse(text);
    });
    socket.on('close', (code) => (this.closeCode = code));
  }

  static async open(url: string, protocols: string[] = ['v12.stomp']): Promise<RawStomp> {
    const socket = new WebSocket(url, protocols);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    return new RawStomp(socket);
  }

  /** Opens and sends CONNECT; resolves with CONNECTED. */
  static async connected(url: string, headers = 'accept-version:1.2\nlogin:guest\npasscode:guest'): Promise<RawStomp> {
    const peer = await RawStomp.open(url);
    peer.send(`CONNECT\n${headers}\n\n\0`);
    await peer.waitFor('CONNECTED');
    return peer;
  }

  send(text: string | Buffer): void {
    this.socket.send(text);
  }

  async waitFor(command: string, timeoutMs = 5000) {
    return until(() => this.frames.find((frame) => frame.command === command), command, timeoutMs);
  }

  async waitForClose(timeoutMs = 5000): Promise<number> {
    return until(() => this.closeCode, 'the socket to close', timeoutMs);
  }

  /** Received text after the last NUL: the start of a frame still arriving. */
  private partial = '';

  // Only what arrived: parsing everything received again on each message made a test that
  // receives 32 MB quadratic, and it ran out of time on a slow machine.
  private parse(arrived: string): void {
    const chunks = (this.partial + arrived).split('\0');
    this.partial = chunks.pop() ?? '';
    for (const chunk of chunks) {
      const text = chunk.replace(/^[\r\n]+/, '');
      if (text === '') continue;
      const end = text.indexOf('\n\n');
      const [command, ...lines] = text.slice(0, end < 0 ? text.length : end).split('\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        // Every test connection speaks 1.2: values are escaped except in CONNECTED.
        const unescape = (text: string) => (command === 'CONNECTED' ? text : text.replace(/\\([rnc\\])/g, (_, c: string) => ({ r: '\r', n: '\n', c: ':' })[c] ?? '\\'));
        const name = unescape(line.slice(0, colon));
        if (!(name in headers)) headers[name] = unescape(line.slice(colon + 1));
      }
      this.frames.push({ command, headers, body: end < 0 ? '' : text.slice(end + 2) });
    }
  }
}
