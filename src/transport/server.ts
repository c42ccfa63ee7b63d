import proxyaddr from '@fastify/proxy-addr';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { WireProtocol } from './codec.js';
import { JSON_PROTOCOL } from './json-codec.js';
import { originPolicy } from './origins.js';
import type { ServerSocket } from './server-socket.js';
import { Session, type ConnectionDetails, type SessionContext } from './session.js';
import { stompProtocol } from './stomp/index.js';

export interface TransportOptions {
  path: string;
  maxMessageBytes: number;
  heartbeatMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** PEM contents: the port then serves only wss:// and https://. */
  tls?: { cert: Buffer; key: Buffer };
  /** Patterns of the origins allowed to open a socket; undefined allows every origin. */
  allowedOrigins?: readonly string[];
  /** Proxies whose X-Forwarded-For names the client (docs/clustering.md, "The proxy"). */
  trustedProxies?: readonly string[];
}

/** WebSocket close code for "try again later": a connection limit was reached. */
const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * One http.Server carrying the WebSocket endpoint (sessions are created per socket) and, under the
 * prefixes given to `serveHttp`, plain HTTP handlers (docs/management.md); other plain requests get 426.
 */
export class Transport {
  readonly httpServer: Server;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<WebSocket, Session>();
  /** The protocols by the subprotocol that selects them ('' for none; docs/protocol.md, "Transport and frames"). */
  private readonly protocols: ReadonlyMap<string, WireProtocol>;
  private readonly pingTimer: ReturnType<typeof setInterval> | undefined;
  private nextSessionId = 1;
  private closing = false;
  private readonly perAddress = new Map<string, number>();
  private readonly originAllowed: (origin: string | undefined) => boolean;
  private readonly trustsProxy: ((address: string, hop: number) => boolean) | undefined;
  /** Plain HTTP handlers by path prefix, in the order given. */
  private readonly httpHandlers: { prefix: string; listener: RequestListener }[] = [];

  constructor(
    private readonly context: SessionContext,
    private readonly options: TransportOptions,
  ) {
    this.trustsProxy = options.trustedProxies?.length ? proxyaddr.compile([...options.trustedProxies]) : undefined;
    this.protocols = new Map([JSON_PROTOCOL, stompProtocol(options.maxMessageBytes)].flatMap((protocol) => protocol.subprotocols.map((name) => [name, protocol])));
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      clientTracking: false,
      handleProtocols: (offered) => {
        for (const protocol of offered) if (this.protocols.has(protocol)) return protocol;
        return false;
      },
    });
    const plainHttp: RequestListener = (request, response) => {
      const path = (request.url ?? '').split('?')[0];
      const handler = this.httpHandlers.find(({ prefix }) => path === prefix || path.startsWith(`${prefix}/`));
      if (handler) handler.listener(request, response);
      else response.writeHead(426, { 'content-type': 'text/plain' }).end(`Warren speaks WebSocket at ${options.path}\n`);
    };
    this.httpServer = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, plainHttp) : createServer(plainHttp);
    this.originAllowed = originPolicy(options.allowedOrigins);
    this.httpServer.on('upgrade', (request, socket, head) => this.upgrade(request, socket, head));
    if (options.heartbeatMs > 0) {
      this.pingTimer = setInterval(() => this.pingAll(), options.heartbeatMs);
      this.pingTimer.unref();
    }
  }

  /** Plain HTTP requests whose path is `prefix` or under `prefix/` go to `listener`; WebSocket upgrades never do. */
  serveHttp(prefix: string, listener: RequestListener): void {
    this.httpHandlers.push({ prefix, listener });
  }

  /** The memory or disk alarm in force, or null. */
  get alarm(): string | null {
    return this.context.flow.alarm;
  }

  /** Whether the port serves TLS (https:// and wss://). */
  get secure(): boolean {
    return this.options.tls !== undefined;
  }

  /** Who sent a request: the peer, or behind trusted proxies the last address in X-Forwarded-For that is not one of them. */
  clientAddress(request: IncomingMessage): string {
    return this.trustsProxy ? proxyaddr(request, this.trustsProxy) : (request.socket.remoteAddress ?? '');
  }

  /** The address the server listens on, or null before `listen`. */
  address(): AddressInfo | null {
    const address = this.httpServer.address();
    return typeof address === 'object' ? address : null;
  }

  /** The logged-in connections, as the management API shows them (docs/management.md, "Connections"). */
  connections(): ConnectionDetails[] {
    const details: ConnectionDetails[] = [];
    for (const session of this.sessions.values()) {
      const one = session.details();
      if (one) details.push(one);
    }
    return details;
  }

  /** Publishes confirmed since start-up, over every connection. */
  get confirmed(): number {
    return this.context.counts.confirmed;
  }

  /** Connections that have published (RabbitMQ's publishers, which counts channels). */
  publishers(): number {
    let count = 0;
    for (const session of this.sessions.values()) if (session.isPublisher) count++;
    return count;
  }

  /** A memory or disk alarm started (reason) or cleared (null): publishers are blocked or unblocked. */
  setAlarm(reason: string | null): void {
    this.context.flow.alarm = reason;
    for (const session of this.sessions.values()) {
      if (reason === null) session.unblock();
      else session.block(reason);
    }
  }

  /**
   * Graceful shutdown: refuse new sockets (503), stop pushing, send what is already answered,
   * close every socket (their unacknowledged deliveries are requeued) and wait up to
   * `graceMs` for the closing handshakes before cutting the rest.
   */
  async close(graceMs = 2000): Promise<void> {
    this.closing = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    const stopped = new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    for (const [socket, session] of this.sessions) {
      session.stopPushing();
      socket.close(1001, 'broker shutting down');
    }
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const socket of this.sessions.keys()) socket.terminate();
    await stopped;
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (request.url ?? '').split('?')[0];
    const offered = request.headers['sec-websocket-protocol'];
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nWarren is shutting down\n');
      return;
    }
    if (path !== this.options.path) {
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nWarren speaks WebSocket at ${this.options.path}\n`);
      return;
    }
    const origin = request.headers.origin;
    if (!this.originAllowed(origin)) {
      this.context.logger.warn({ origin, address: this.clientAddress(request) }, 'WebSocket upgrade refused: origin not allowed (server.allowedOrigins)');
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\norigin ${origin} is not allowed to connect (server.allowedOrigins)\n`);
      return;
    }
    if (offered && !offered.split(',').some((protocol) => protocol.trim() !== '' && this.protocols.has(protocol.trim()))) {
      const known = [...this.protocols.keys()].filter((name) => name !== '');
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nunsupported subprotocol: offer ${known.join(', ')} or none\n`);
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, request));
  }

  private accept(ws: WebSocket, request: IncomingMessage): void {
    const address = this.clientAddress(request);
    const fromAddress = this.perAddress.get(address) ?? 0;
    const protocol = this.protocols.get(ws.protocol) ?? JSON_PROTOCOL;
    const refusal =
      this.sessions.size >= this.options.maxConnections
        ? `the broker has ${this.options.maxConnections} connections, the limit (limits.maxConnections); try again later`
        : fromAddress >= this.options.maxConnectionsPerAddress
          ? `address ${address} has ${fromAddress} connections, the limit (limits.maxConnectionsPerAddress); close some first`
          : undefined;
    if (refusal) {
      this.context.logger.warn({ address }, refusal);
      ws.send(protocol.refusalFrame(refusal));
      ws.close(CLOSE_TRY_AGAIN_LATER, 'connection limit reached');
      return;
    }
    this.perAddress.set(address, fromAddress + 1);
    const id = String(this.nextSessionId++);
    // ws's WebSocket has every member of the ServerSocket port.
    const socket: ServerSocket = ws;
    const endpoints = { peerHost: address, peerPort: request.socket.remotePort ?? 0, host: request.socket.localAddress ?? '', port: request.socket.localPort ?? 0, ssl: this.secure };
    const session = new Session(socket, id, this.context, protocol, address, endpoints);
    this.sessions.set(ws, session);
    ws.on('message', (data, isBinary) => session.onMessage(toBuffer(data), isBinary));
    ws.on('pong', () => session.onPong());
    ws.on('error', (error) => this.context.logger.warn({ conn: session.id, err: error }, 'socket error'));
    ws.on('close', (code) => {
      this.sessions.delete(ws);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left === 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
      session.onClose(code);
    });
  }

  /** A socket that did not answer the previous ping is dead: terminate it (docs/protocol.md, "Transport and frames"). */
  private pingAll(): void {
    for (const [socket, session] of this.sessions) {
      // A blocked publisher's socket is not read, so its pongs cannot arrive: it is not dead.
      if (session.blocked) continue;
      if (!session.alive) {
        socket.terminate();
        continue;
      }
      session.alive = false;
      socket.ping();
    }
  }
}

/** ws hands over a Buffer with its default binaryType; the other shapes of RawData are joined into one. */
function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
