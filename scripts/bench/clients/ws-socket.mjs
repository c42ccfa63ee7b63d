// A WebSocket opened the way every bench client opens one: no compression, Nagle off (ws's
// default), and a promise that settles on open or failure.
import WebSocket from 'ws';

export const HIGH_WATER = 1 << 20; // bytes buffered in a client socket before a publisher waits

/** `onMessage`, when given, is attached before the socket opens: it sees a message sent on open. */
export function openSocket(url, protocols, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    if (onMessage) ws.on('message', onMessage);
    const fail = (error) => reject(new Error(`cannot open ${url}: ${error.message}`));
    ws.once('error', fail);
    ws.once('open', () => {
      ws.off('error', fail);
      ws.on('error', () => {}); // reported through 'close'
      resolve(ws);
    });
  });
}

/** Resolves once the socket's send buffer is below half the high-water mark (or it closed). */
export function drained(ws) {
  return new Promise((resolve) => {
    const check = () => {
      if (ws.bufferedAmount <= HIGH_WATER / 2 || ws.readyState !== WebSocket.OPEN) resolve();
      else setTimeout(check, 1);
    };
    check();
  });
}
