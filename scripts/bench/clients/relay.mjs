// Clients of the bare ws relay (relay-server.mjs): the publisher sends exactly the WebSocket
// messages Warren's publisher sends, and a subscriber parses what it gets as Warren's
// consumer does, so the difference to Warren is the broker's work alone.
import { drained, HIGH_WATER, openSocket } from './ws-socket.mjs';

const roomUrl = (url, room, role) => `${url}/?room=${encodeURIComponent(room)}&role=${role}`;

/** Opens a subscriber and waits for the relay's word that it joined the room. */
async function join(url, room, onFrame) {
  let joined;
  const inRoom = new Promise((resolve) => (joined = resolve));
  const ws = await openSocket(roomUrl(url, room, 'sub'), undefined, (data) => {
    const parsed = JSON.parse(data.toString());
    if (Array.isArray(parsed)) for (const frame of parsed) onFrame(frame);
    else if (parsed.op === 'ok') joined();
    else onFrame(parsed);
  });
  await inRoom;
  return ws;
}

export async function openPublisher(url, { exchange, publishBatch = 50 }) {
  const ws = await openSocket(roomUrl(url, exchange, 'pub'));
  const head = `{"op":"publish","exchange":${JSON.stringify(exchange)}`;
  return {
    send(keys, bodies) {
      for (let i = 0; i < bodies.length; i += publishBatch) {
        const frames = [];
        for (let j = i; j < Math.min(bodies.length, i + publishBatch); j++) {
          frames.push(`${head},"routingKey":${JSON.stringify(keys[j])},"payload":${bodies[j]}}`);
        }
        ws.send(frames.length === 1 ? frames[0] : `[${frames.join(',')}]`);
      }
    },
    backlogged: () => ws.bufferedAmount > HIGH_WATER,
    drain: () => drained(ws),
    errors: () => 0,
    close: async () => ws.close(),
  };
}

/** A relay "queue" is a room: the subscriber joins the room named after the exchange. */
export async function openConsumer(url, rooms, _options, sink) {
  const sockets = [];
  for (const room of rooms) {
    const ws = await join(url, room, (frame) => sink.received(frame.payload.t));
    ws.on('message', () => sink.flush());
    sockets.push(ws);
  }
  return { errors: () => 0, close: async () => sockets.forEach((ws) => ws.close()) };
}

export async function openSubscriber(url, room, onDeliver) {
  const ws = await join(url, room, (frame) => onDeliver(frame.payload.t));
  return { close: async () => ws.close(), ws };
}
