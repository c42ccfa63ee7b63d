// RabbitMQ over Web-STOMP (port 15674, path /ws) with @stomp/stompjs on a `ws` socket:
// ack mode `client` (cumulative) acked once per event-loop turn, `prefetch-count` on SUBSCRIBE,
// receipts on SEND as publisher confirms.
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { HIGH_WATER, drained } from './ws-socket.mjs';

export const STOMP_URL = 'ws://127.0.0.1:15674/ws';

function connectStomp() {
  return new Promise((resolve, reject) => {
    const client = new Client({
      webSocketFactory: () => new WebSocket(STOMP_URL, ['v12.stomp'], { perMessageDeflate: false }),
      connectHeaders: { login: 'guest', passcode: 'guest', host: '/' },
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      reconnectDelay: 0,
      debug: () => {},
    });
    client.onConnect = () => resolve(client);
    client.onStompError = (frame) => reject(new Error(`STOMP error: ${frame.headers.message}`));
    client.onWebSocketError = () => reject(new Error(`cannot open ${STOMP_URL}`));
    client.activate();
  });
}

export async function openPublisher(_url, { exchange, persistent = false, confirm = false }, onConfirm) {
  const client = await connectStomp();
  let nextReceipt = 1;
  const onReceipt = () => onConfirm?.(true);
  const ws = () => client.webSocket;
  return {
    send(keys, bodies) {
      for (let i = 0; i < bodies.length; i++) {
        const headers = { 'content-type': 'application/json' };
        if (persistent) headers.persistent = 'true';
        if (confirm) {
          const receipt = `r${nextReceipt++}`;
          headers.receipt = receipt;
          client.watchForReceipt(receipt, onReceipt);
        }
        client.publish({ destination: `/exchange/${exchange}/${keys[i]}`, headers, body: bodies[i] });
      }
    },
    backlogged: () => ws().bufferedAmount > HIGH_WATER,
    drain: () => drained(ws()),
    errors: () => 0,
    close: () => client.deactivate(),
  };
}

export async function openConsumer(_url, queues, { prefetch = 100, noAck = false }, sink) {
  const client = await connectStomp();
  let last;
  let scheduled = false;
  const settle = () => {
    scheduled = false;
    if (last && !noAck) last.ack();
    last = undefined;
    sink.flush();
  };
  const headers = { ack: noAck ? 'auto' : 'client', 'prefetch-count': String(prefetch) };
  for (const queue of queues) {
    client.subscribe(
      `/amq/queue/${queue}`,
      (message) => {
        sink.received(JSON.parse(message.body).t);
        last = message;
        if (!scheduled) {
          scheduled = true;
          setImmediate(settle);
        }
      },
      headers,
    );
  }
  return { errors: () => 0, close: () => client.deactivate() };
}
