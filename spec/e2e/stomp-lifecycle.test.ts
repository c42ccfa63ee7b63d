import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, startBroker, type RunningBroker } from './harness.js';
import { RawStomp, StompPeer, until } from './stomp-peer.js';

// STOMP connections over time: heart-beats both ways, durable topic subscriptions across
// reconnects, and receipted persistent messages across a kill -9 (docs/stomp.md).

const CONFIG = { users: [{ username: 'guest', password: 'guest' }] };
let broker: RunningBroker;

beforeAll(async () => {
  broker = await startBroker(CONFIG);
});
afterAll(async () => {
  await broker.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('stomp - heart-beats', () => {
  it('stomp - agreed heart-beats flow both ways and keep an idle connection open', async () => {
    const peer = await StompPeer.connect(broker.url, { heartbeatIncoming: 100, heartbeatOutgoing: 100 });
    expect(peer.connected.headers['heart-beat']).toBe('100,100');
    await sleep(700);
    expect(peer.heartbeatsReceived).toBeGreaterThanOrEqual(3);
    expect(peer.closeCode).toBeUndefined();
    const inbox = await peer.subscribe('/queue/heartbeat.alive');
    await peer.send('/queue/heartbeat.alive', 'ok');
    expect((await inbox.take(1))[0].body).toBe('ok');
    await peer.close();
  });

  it('stomp - the broker sends EOLs as asked, and never more often than every 100 ms', async () => {
    const peer = await RawStomp.open(broker.url);
    peer.send('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\nheart-beat:0,10\n\n\0');
    expect((await peer.waitFor('CONNECTED')).headers['heart-beat']).toBe('100,0');
    await sleep(450);
    const beats = peer.received.slice(peer.received.indexOf('\0') + 1);
    expect(beats).toMatch(/^\n{3,5}$/);
    peer.socket.close();
  });

  it('stomp - a client silent past twice its promised interval is disconnected', async () => {
    const peer = await RawStomp.open(broker.url);
    const started = Date.now();
    peer.send('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\nheart-beat:150,0\n\n\0');
    expect((await peer.waitFor('CONNECTED')).headers['heart-beat']).toBe('0,150');
    await peer.waitForClose(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });
});

describe('stomp - durable subscriptions', () => {
  it('stomp - a durable topic subscription keeps what is published while its client is away', async () => {
    const headers = { id: 'alerts-keeper', durable: 'true', 'auto-delete': 'false', ack: 'client-individual' };
    const first = await StompPeer.connect(broker.url);
    await first.subscribe('/topic/alerts.#', headers);
    const transient = await StompPeer.connect(broker.url);
    await transient.subscribe('/topic/alerts.#', { id: 'alerts-transient' });
    await first.close();
    await transient.close();

    const producer = await StompPeer.connect(broker.url);
    await producer.send('/topic/alerts.fire', 'fire', { persistent: 'true' });
    await producer.send('/topic/alerts.flood', 'flood', { persistent: 'true' });

    const again = await StompPeer.connect(broker.url);
    const kept = await again.subscribe('/topic/alerts.#', headers);
    const messages = await kept.take(2);
    expect(messages.map((m) => [m.body, m.headers.destination])).toEqual([
      ['fire', '/topic/alerts.fire'],
      ['flood', '/topic/alerts.flood'],
    ]);
    for (const message of messages) message.ack();
    const lost = await again.subscribe('/topic/alerts.#', { id: 'alerts-transient' });

    // UNSUBSCRIBE with durable:true deletes the subscription for good.
    again.client.unsubscribe('alerts-keeper', { durable: 'true' });
    await producer.send('/topic/alerts.quake', 'quake');
    const renewed = await again.subscribe('/topic/alerts.#', { ...headers, id: 'alerts-keeper' });
    await producer.send('/topic/alerts.storm', 'storm');
    expect((await renewed.take(1))[0].body).toBe('storm');
    expect((await lost.take(2)).map((m) => m.body)).toEqual(['quake', 'storm']);
    await producer.close();
    await again.close();
  });

  it('stomp - a persistent SEND whose RECEIPT came survives a kill -9', async () => {
    const restartable = await startBroker(CONFIG);
    try {
      const peer = await StompPeer.connect(restartable.url);
      await peer.subscribe('/topic/ledger', { id: 'ledger', durable: 'true', 'auto-delete': 'false' });
      await peer.close();
      const producer = await StompPeer.connect(restartable.url);
      for (let i = 1; i <= 5; i++) await producer.send('/topic/ledger', `entry ${i}`, { persistent: 'true' });
      await producer.send('/queue/ledger.direct', 'direct entry', { persistent: 'true' });
      restartable.process.kill('SIGKILL');
      await restartable.stop();

      const restarted = await startBroker(CONFIG, [], 0, { dataDir: restartable.dataDir });
      try {
        const back = await StompPeer.connect(restarted.url);
        const ledger = await back.subscribe('/topic/ledger', { id: 'ledger', durable: 'true', 'auto-delete': 'false' });
        expect((await ledger.take(5)).map((m) => m.body)).toEqual(['entry 1', 'entry 2', 'entry 3', 'entry 4', 'entry 5']);
        expect(ledger.messages[0].headers.persistent).toBe('true');
        const native = await RawClient.open(restarted.url);
        await native.request({ op: 'connect', version: 1, username: 'guest', password: 'guest' });
        const direct = await native.request({ op: 'get', queue: 'ledger.direct', noAck: true });
        expect(direct).toMatchObject({ message: { payload: 'direct entry' } });
        native.close();
        await back.close();
      } finally {
        await restarted.stop();
      }
    } finally {
      await restartable.stop();
    }
  });
});

describe('stomp - shutdown', () => {
  it('stomp - a broker shutting down closes STOMP sockets with 1001', async () => {
    const own = await startBroker(CONFIG);
    const peer = await StompPeer.connect(own.url);
    const inbox = await peer.subscribe('/queue/shutdown', { ack: 'client' });
    await peer.send('/queue/shutdown', 'unacked', { persistent: 'true' });
    await inbox.take(1);
    expect(await own.stop()).toBe(0);
    expect(await until(() => peer.closeCode, 'the close')).toBe(1001);
  });
});
