import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryVhosts, usersAuth } from './fake-server-socket.js';
import { Transport } from '../../src/transport/index.js';
import { RawClient } from '../e2e/harness.js';

let transport: Transport | undefined;
afterEach(async () => {
  await transport?.close(100);
});

async function listening(): Promise<{ transport: Transport; url: string }> {
  const { vhosts } = await memoryVhosts();
  const logger = pino({ level: 'silent' });
  transport = new Transport(
    { vhosts, auth: usersAuth(), highWaterBytes: 1 << 20, drainTimeoutMs: 60_000, flow: { alarm: null }, counts: { confirmed: 0 }, serverVersion: 'test', logger },
    { path: '/ws', maxMessageBytes: 1 << 20, heartbeatMs: 0, maxConnections: 100, maxConnectionsPerAddress: 100 },
  );
  const server = transport.httpServer;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { transport, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws` };
}

describe('transport - flow control', () => {
  it('transport - an alarm blocks publishers until it clears, then their frames are read and answered', async () => {
    const { transport, url } = await listening();
    const publisher = await RawClient.connected(url);
    const bystander = await RawClient.connected(url);
    await publisher.request({ op: 'queue.declare', queue: 'q', durable: false });
    await publisher.request({ op: 'publish', routingKey: 'q', payload: 1 });
    transport.setAlarm('memory: test');
    expect(await publisher.waitFor((frame) => frame.op === 'blocked')).toEqual({ op: 'blocked', reason: 'memory: test' });
    publisher.send({ op: 'publish', id: 9, routingKey: 'q', payload: 2 });
    // A connection that never published is not blocked: it can still work.
    expect(await bystander.request({ op: 'get', queue: 'q', noAck: true })).toMatchObject({ message: { payload: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(publisher.frames.some((frame) => frame.id === 9)).toBe(false);
    transport.setAlarm(null);
    await publisher.waitFor((frame) => frame.op === 'unblocked');
    expect(await publisher.waitFor((frame) => frame.id === 9)).toEqual({ op: 'ok', id: 9 });
    expect(bystander.frames.some((frame) => frame.op === 'blocked' || frame.op === 'unblocked')).toBe(false);
    publisher.close();
    bystander.close();
  });

  it('transport - new sockets are refused with 503 during shutdown', async () => {
    const { transport, url } = await listening();
    const open = await RawClient.connected(url);
    const closing = transport.close(500);
    await expect(RawClient.open(url)).rejects.toThrow(/503|ECONNREFUSED/);
    await closing;
    expect(await open.waitForClose()).toBe(1001);
  });
});
