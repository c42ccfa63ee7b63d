import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, WebSocket as WsWebSocket } from 'ws';
import { connect, type Delivery } from '../../src/client/index.js';
import { resolveWebSocket } from '../../src/client/websocket.js';
import { fakeWebSocket, tick } from './fake-websocket.js';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('client websocket', () => {
  it('client websocket - the WebSocket option wins, then the platform global, then the ws package', async () => {
    const given = fakeWebSocket().WebSocket;
    const platform = fakeWebSocket().WebSocket;
    vi.stubGlobal('WebSocket', platform);
    expect(await resolveWebSocket(given)).toBe(given);
    expect(await resolveWebSocket(undefined)).toBe(platform);
    vi.stubGlobal('WebSocket', undefined);
    expect(await resolveWebSocket(undefined)).toBe(WsWebSocket);
  });

  it('client websocket - connect uses the platform WebSocket when there is one', async () => {
    const { WebSocket, sockets } = fakeWebSocket();
    vi.stubGlobal('WebSocket', WebSocket);
    void connect('ws://platform.test/ws').catch(() => {});
    await tick();
    expect(sockets.map((s) => s.url)).toEqual(['ws://platform.test/ws']);
    sockets[0].drop();
  });

  it('client websocket - talks to a real ws server: handshake, batched replies, delivery and ack', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
    await once(server, 'listening');
    const received: unknown[] = [];
    server.on('connection', (socket) => {
      socket.on('message', (data, isBinary) => {
        expect(isBinary).toBe(false);
        const parsed = JSON.parse(data.toString()) as Record<string, unknown> | Array<Record<string, unknown>>;
        const frames = Array.isArray(parsed) ? parsed : [parsed];
        const replies: unknown[] = [];
        for (const frame of frames) {
          received.push(frame);
          if (frame.op === 'connect') replies.push({ op: 'ok', id: frame.id, server: { name: 'warren', version: 'test' }, connectionId: 'real-1' });
          if (frame.op === 'consume') {
            replies.push({ op: 'ok', id: frame.id, consumerTag: 'amq.ctag-1' });
            replies.push({ op: 'deliver', consumerTag: 'amq.ctag-1', deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q', payload: { hello: 'world' }, headers: {}, properties: {} });
          }
          if (frame.op === 'queue.declare') replies.push({ op: 'ok', id: frame.id, queue: frame.queue, messageCount: 0, consumerCount: 0 });
        }
        if (replies.length > 0) socket.send(JSON.stringify(replies.length === 1 ? replies[0] : replies));
      });
    });
    try {
      const { port } = server.address() as AddressInfo;
      const client = await connect(`ws://127.0.0.1:${port}/ws`, { clientName: 'spec' });
      expect(client.server).toEqual({ name: 'warren', version: 'test' });
      const delivered = new Promise<Delivery>((resolve) => {
        void client.declareQueue('q').then(() => client.consume('q', resolve));
      });
      const message = await delivered;
      expect(message.payload).toEqual({ hello: 'world' });
      message.ack();
      await client.close();
      expect(received).toEqual([
        { op: 'connect', id: 1, version: 1, clientName: 'spec' },
        { op: 'queue.declare', id: 2, queue: 'q' },
        { op: 'consume', id: 3, queue: 'q' },
        { op: 'ack', deliveryTag: 1 },
      ]);
    } finally {
      for (const socket of server.clients) socket.terminate();
      server.close();
    }
  });
});
