import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryVhosts, usersAuth } from '../fake-server-socket.js';
import type { Broker } from '../../../src/broker/index.js';
import { Transport } from '../../../src/transport/index.js';
import { RawStomp, until } from '../../e2e/stomp-peer.js';

// The STOMP session shares the native session's flow control: alarms block publishers by not
// reading their socket, and a socket that does not read stops getting pushes.

let transport: Transport | undefined;
afterEach(async () => {
  await transport?.close(100);
});

async function listening(highWaterBytes = 1 << 20): Promise<{ transport: Transport; broker: Broker; url: string }> {
  const { vhosts, broker } = await memoryVhosts();
  transport = new Transport(
    { vhosts, auth: usersAuth(), highWaterBytes, drainTimeoutMs: 60_000, flow: { alarm: null }, counts: { confirmed: 0 }, serverVersion: 'test', logger: pino({ level: 'silent' }) },
    { path: '/ws', maxMessageBytes: 1 << 20, heartbeatMs: 0, maxConnections: 100, maxConnectionsPerAddress: 100 },
  );
  const server = transport.httpServer;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { transport, broker, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws` };
}

describe('stomp - flow control', () => {
  it('stomp - an alarm stops reading a STOMP publisher until it clears; its SENDs are then handled', async () => {
    const { transport, url } = await listening();
    const publisher = await RawStomp.connected(url, 'accept-version:1.2');
    publisher.send('SEND\ndestination:/queue/q\nreceipt:1\n\nfirst\0');
    await publisher.waitFor('RECEIPT');
    transport.setAlarm('memory: test');
    publisher.send('SEND\ndestination:/queue/q\nreceipt:2\n\nsecond\0');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(publisher.frames.filter((frame) => frame.command === 'RECEIPT')).toHaveLength(1);
    transport.setAlarm(null);
    await until(() => publisher.frames.filter((frame) => frame.command === 'RECEIPT').length === 2, 'the second RECEIPT');
    expect(publisher.frames.map((frame) => frame.command)).toEqual(['CONNECTED', 'RECEIPT', 'RECEIPT']);
    publisher.socket.close();
  });

  it('stomp - a STOMP consumer that does not read gets no more pushes; messages wait in the queue', async () => {
    const { broker, url } = await listening(64 * 1024);
    const consumer = await RawStomp.connected(url, 'accept-version:1.2');
    consumer.send('SUBSCRIBE\nid:s\ndestination:/queue/slow\nreceipt:r\n\n\0');
    await consumer.waitFor('RECEIPT');
    // Stop reading at the TCP level: the broker's send buffer fills up.
    const tcp = (consumer.socket as unknown as { _socket: Socket })._socket;
    tcp.pause();
    const producer = await RawStomp.connected(url, 'accept-version:1.2');
    const body = 'x'.repeat(16 * 1024);
    const total = 2000;
    for (let i = 0; i < total; i++) producer.send(`SEND\ndestination:/queue/slow\n\n${body}\0`);
    producer.send('SEND\ndestination:/queue/slow\nreceipt:done\n\nlast\0');
    await producer.waitFor('RECEIPT', 20_000);
    const waiting = broker.getQueue('slow')?.messageCount ?? 0;
    expect(waiting).toBeGreaterThan(0);
    tcp.resume();
    await until(() => broker.getQueue('slow')?.messageCount === 0 && consumer.frames.length >= total + 3, 'every message pushed', 20_000);
    expect(consumer.frames.filter((frame) => frame.command === 'MESSAGE')).toHaveLength(total + 1);
    consumer.socket.close();
    producer.socket.close();
  });
});
