/**
 * The part of the WebSocket API the client uses. Browsers' `WebSocket`,
 * Node 22's global one and the `ws` package's all have it.
 */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: (event: unknown) => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
}

/** A WebSocket class: `globalThis.WebSocket`, `ws`'s `WebSocket`, or a fake in tests. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `WebSocket.OPEN`: the value of `readyState` once the socket is open. */
export const OPEN = 1;

/**
 * The WebSocket class to use: the one the caller gave, else the platform's
 * (browsers, Node 22+), else the `ws` package, imported only then so that a
 * browser never loads it.
 */
export async function resolveWebSocket(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (given) return given;
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof platform === 'function') return platform;
  const ws = await import('ws');
  return ws.default;
}
