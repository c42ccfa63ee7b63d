// The ceiling: a bare `ws` relay with no broker logic. A socket opened at `/?room=R&role=pub`
// has each of its WebSocket messages forwarded unchanged to every socket of room R opened with
// `role=sub` (1→1, 1→10, 1→N). Run as its own process, like the broker; prints one JSON
// `listening` line on stdout.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const rooms = new Map();
const server = createServer((_request, response) => response.writeHead(426).end());
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });

wss.on('connection', (ws, request) => {
  const params = new URL(request.url ?? '/', 'http://relay').searchParams;
  const room = params.get('room') ?? '';
  ws.on('error', () => {});
  if (params.get('role') === 'pub') {
    ws.on('message', (data, isBinary) => {
      const subscribers = rooms.get(room);
      if (subscribers) for (const subscriber of subscribers) subscriber.send(data, { binary: isBinary });
    });
    return;
  }
  if (!rooms.has(room)) rooms.set(room, new Set());
  rooms.get(room).add(ws);
  ws.on('close', () => rooms.get(room)?.delete(ws));
  ws.send('{"op":"ok","id":1}'); // tells the subscriber it is in the room
});

server.listen(0, process.argv[2] ?? '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address().port })}\n`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
