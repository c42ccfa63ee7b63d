/**
 * The part of a server-side WebSocket that a session uses. `ws`'s `WebSocket` has exactly these
 * members, so the server hands its sockets over as they are; tests and the in-process bench pass
 * a fake. Incoming messages, pongs and the close are passed to the session by whoever owns the
 * socket (src/transport/server.ts), not listened for here.
 */
export interface ServerSocket {
  /** The subprotocol agreed in the handshake; '' when none. */
  readonly protocol: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed (the WebSocket API's values). */
  readonly readyState: number;
  /** Bytes queued for the network and not yet written. */
  readonly bufferedAmount: number;
  /** Queues one WebSocket text message; `callback` runs once it is written or has failed. */
  send(data: string, callback?: (error?: Error) => void): void;
  /** Starts the closing handshake. */
  close(code: number, reason: string): void;
  /** Drops the connection at once, without a closing handshake. */
  terminate(): void;
  /** Stops reading from the socket (an alarm blocks its publisher) until `resume()`. */
  pause(): void;
  resume(): void;
  ping(): void;
}

/** `readyState` of an open socket. */
export const OPEN = 1;
