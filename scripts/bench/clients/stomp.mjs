// STOMP 1.2 over WebSocket with @stomp/stompjs on a `ws` socket, for RabbitMQ's Web-STOMP (port
// 15674, path /ws; target `stomp`) and for Warren's /ws (target `wstomp`, the job's url), with
// the same destinations on both: SEND to `/exchange/<name>/<key>`, SUBSCRIBE to
// `/amq/queue/<name>` (the topology is declared beforehand, over AMQP or Warren's own protocol).
// Ack mode `client` (cumulative) acked once per event-loop turn, `prefetch-count` on SUBSCRIBE,
// receipts on SEND as publisher confirms. ERROR frames and unexpected closes count as errors.
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { HIGH_WATER, drained } from './ws-socket.mjs';

export const STOMP_URL = 'ws://127.0.0.1:15674/ws';

function connectStomp(url) {
  return new Promise((resolve, reject) => {
    const problems = { errors: 0, lastError: undefined, closing: false };
    const problem = (text) => {
      problems.errors++;
      problems.lastError ??= text;
    };
    const client = new Client({
      webSocketFactory: () => new WebSocket(url, ['v12.stomp'], { perMessageDeflate: false }),
      connectHeaders: { login: 'guest', passcode: 'guest', host: '/' },
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      reconnectDelay: 0,
      debug: () => {},
    });
    client.onConnect = () => resolve({ client, problems });
    client.onStompError = (frame) => {
      const text = `STOMP ERROR: ${frame.headers.message}${frame.body ? ` (${frame.body.trim().slice(0, 200)})` : ''}`;
      problem(text);
      reject(new Error(text));
    };
    client.onWebSocketError = () => reject(new Error(`cannot open ${url}`));
    client.onWebSocketClose = (event) => {
      if (!problems.closing) problem(`the broker closed the STOMP connection (code ${event.code}${event.reason ? `, ${event.reason}` : ''})`);
    };
    client.activate();
  });
}

function closer(client, problems) {
  return () => {
    problems.closing = true;
    return client.deactivate();
  };
}

export async function openPublisher(url, { exchange, persistent = false, confirm = false }, onConfirm) {
  const { client, problems } = await connectStomp(url || STOMP_URL);
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
    errors: () => problems.errors,
    lastError: () => problems.lastError,
    close: closer(client, problems),
  };
}

export async function openConsumer(url, queues, { prefetch = 100, noAck = false }, sink) {
  const { client, problems } = await connectStomp(url || STOMP_URL);
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
  return { errors: () => problems.errors, lastError: () => problems.lastError, close: closer(client, problems) };
}
