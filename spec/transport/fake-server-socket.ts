import { pino } from 'pino';
import { Authenticator, configUser } from '../../src/auth/index.js';
import { VirtualHosts, type Broker, type MessageStore } from '../../src/broker/index.js';
import { MemoryStore, MemoryVhostStores } from '../../src/store/index.js';
import { OPEN, Session, type ServerSocket, type SessionContext, type WireProtocol } from '../../src/transport/index.js';

/**
 * A server-side socket the tests drive by hand: `sent` records each WebSocket message, `drain()`
 * completes the writes (until then `bufferedAmount` counts them when `holdWrites` is set).
 */
export class FakeServerSocket implements ServerSocket {
  readyState = OPEN;
  bufferedAmount = 0;
  paused = false;
  readonly sent: string[] = [];
  closed: { code: number; reason: string } | undefined;
  terminated = false;
  /** Writes stay buffered until `drain()`: a client that does not read. */
  holdWrites = false;
  private readonly pendingCallbacks: Array<(error?: Error) => void> = [];

  constructor(readonly protocol = '') {}

  send(data: string, callback?: (error?: Error) => void): void {
    this.sent.push(data);
    if (!this.holdWrites) {
      callback?.();
      return;
    }
    this.bufferedAmount += data.length;
    if (callback) this.pendingCallbacks.push(callback);
  }

  /** The client reads everything buffered: every write completes. */
  drain(): void {
    this.bufferedAmount = 0;
    for (const callback of this.pendingCallbacks.splice(0)) callback();
  }

  close(code: number, reason: string): void {
    this.closed = { code, reason };
    this.readyState = 2;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  ping(): void {}
}

const oneTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Until sessions have flushed what they queued: a login settles in microtasks and queues its
 * reply for the next turn's flush, so two turns.
 */
export const nextTurn = async (): Promise<void> => {
  await oneTurn();
  await oneTurn();
};

export interface SessionRig {
  broker: Broker;
  context: SessionContext;
  /** A session of `protocol` on a new fake socket. */
  open(protocol: WireProtocol, subprotocol?: string): { session: Session; socket: FakeServerSocket };
}

/** The vhosts of a broker without a disk, and vhost "/"'s broker; `root` is that vhost's store. */
export async function memoryVhosts(root: MessageStore = new MemoryStore()): Promise<{ vhosts: VirtualHosts; broker: Broker }> {
  const vhosts = await VirtualHosts.open(new MemoryVhostStores(root));
  const broker = vhosts.get('/');
  if (!broker) throw new Error('VirtualHosts.open made no vhost "/"');
  return { vhosts, broker };
}

/** Who may connect, as the config's `users` list says it (none: anonymous development access). */
export function usersAuth(users: readonly { username: string; password: string }[] = []): Authenticator {
  return new Authenticator({ users: users.map((user) => configUser(user.username, user.password)), vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
}

/** A broker and what its sessions share, without a server or a port; `auth` beats `users`. */
export async function sessionRig(
  options: { store?: MessageStore; users?: { username: string; password: string }[]; auth?: Authenticator; highWaterBytes?: number } = {},
): Promise<SessionRig> {
  const { vhosts, broker } = await memoryVhosts(options.store);
  const context: SessionContext = {
    vhosts,
    auth: options.auth ?? usersAuth(options.users),
    highWaterBytes: options.highWaterBytes ?? 1 << 20,
    drainTimeoutMs: 60_000,
    flow: { alarm: null }, counts: { confirmed: 0 },
    serverVersion: 'test',
    logger: pino({ level: 'silent' }),
  };
  let nextId = 1;
  return {
    broker,
    context,
    open(protocol, subprotocol = '') {
      const socket = new FakeServerSocket(subprotocol);
      return { session: new Session(socket, String(nextId++), context, protocol, '127.0.0.1'), socket };
    },
  };
}
