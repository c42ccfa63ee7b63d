import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryVhosts, usersAuth } from './fake-server-socket.js';
import { Transport } from '../../src/transport/index.js';
import { RawClient } from '../e2e/harness.js';

// docs/protocol.md, "Reply order": confirms that wait for the store's sync leave in the order of
// their publishes, also when several wait at once (regression: a released batch's frames were
// appended to the last batch still held, behind later replies).

let transport: Transport | undefined;
afterEach(async () => {
  await transport?.close(100);
});

describe('transport - reply order', () => {
  it('transport - several persistent confirms waiting for sync come back in publish order', async () => {
    const { vhosts } = await memoryVhosts();
    transport = new Transport(
      { vhosts, auth: usersAuth(), highWaterBytes: 1 << 20, drainTimeoutMs: 60_000, flow: { alarm: null }, counts: { confirmed: 0 }, serverVersion: 'test', logger: pino({ level: 'silent' }) },
      { path: '/ws', maxMessageBytes: 1 << 20, heartbeatMs: 0, maxConnections: 100, maxConnectionsPerAddress: 100 },
    );
    const server = transport.httpServer;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = await RawClient.connected(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`);
    await client.request({ op: 'queue.declare', queue: 'ordered' });
    const ids = [10, 11, 12, 13, 14];
    client.send(ids.map((id) => ({ op: 'publish', id, routingKey: 'ordered', payload: id, properties: { persistent: true } })));
    await client.waitFor((frame) => frame.id === 14);
    expect(client.frames.filter((frame) => typeof frame.id === 'number' && frame.id >= 10).map((frame) => [frame.op, frame.id])).toEqual(ids.map((id) => ['ok', id]));
    client.close();
  });
});
