import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rabbitPasswordHash } from '../../src/auth/passwords.js';
import { RawClient, startBroker, type Frame, type RunningBroker } from './harness.js';
import { StompPeer } from './stomp-peer.js';

// Vhosts through the real process: separate namespaces from a definitions export, chosen at
// connect (native `vhost`, STOMP `host`), with permissions per vhost, surviving a restart.

const DEFINITIONS = {
  users: [
    { name: 'ops', password_hash: rabbitPasswordHash('ops-pw', 'rabbit_password_hashing_sha256'), tags: ['administrator'] },
    { name: 'dev', password_hash: rabbitPasswordHash('dev-pw', 'rabbit_password_hashing_sha256'), tags: [] },
  ],
  vhosts: [{ name: '/' }, { name: 'prod' }],
  permissions: [
    { user: 'ops', vhost: '/', configure: '.*', write: '.*', read: '.*' },
    { user: 'ops', vhost: 'prod', configure: '.*', write: '.*', read: '.*' },
    { user: 'dev', vhost: '/', configure: '.*', write: '.*', read: '.*' },
  ],
  queues: [
    { name: 'orders', vhost: '/', durable: true },
    { name: 'orders', vhost: 'prod', durable: true },
  ],
  exchanges: [{ name: 'events', vhost: 'prod', type: 'fanout', durable: true }],
  bindings: [{ source: 'events', vhost: 'prod', destination: 'orders', destination_type: 'queue', routing_key: '' }],
};

async function login(url: string, fields: Frame): Promise<RawClient> {
  const client = await RawClient.open(url);
  const reply = await client.request({ op: 'connect', version: 1, ...fields });
  if (reply.op !== 'ok') throw new Error(`login refused: ${JSON.stringify(reply)}`);
  return client;
}

describe('vhosts - namespaces', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ definitions: DEFINITIONS });
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('vhosts - a queue of one name in two vhosts: a message published in one never reaches the other', async () => {
    const root = await login(broker.url, { username: 'ops', password: 'ops-pw' });
    const prod = await login(broker.url, { username: 'ops', password: 'ops-pw', vhost: 'prod' });
    expect(await prod.request({ op: 'publish', exchange: 'events', payload: 'to prod', properties: { persistent: true } })).toMatchObject({ op: 'ok' });
    expect(await root.request({ op: 'publish', exchange: 'events', payload: 'no events exchange in /' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await root.request({ op: 'publish', routingKey: 'orders', payload: 'to root', properties: { persistent: true } })).toMatchObject({ op: 'ok' });
    expect(await prod.request({ op: 'get', queue: 'orders', noAck: true })).toMatchObject({ message: { payload: 'to prod' }, messageCount: 0 });
    expect(await root.request({ op: 'queue.declare', queue: 'orders', passive: true })).toMatchObject({ messageCount: 1 });
    // Each vhost has its own amq.* exchanges.
    expect(await prod.request({ op: 'exchange.declare', exchange: 'amq.topic', passive: true })).toMatchObject({ op: 'ok' });
    root.close();
    prod.close();
  });

  it('vhosts - a user without permissions on a vhost is refused there with 4403; an unknown vhost too', async () => {
    const dev = await RawClient.open(broker.url);
    expect(await dev.request({ op: 'connect', version: 1, username: 'dev', password: 'dev-pw', vhost: 'prod' })).toMatchObject({
      code: 'ACCESS_REFUSED',
      message: 'access refused: user "dev" has no permissions on vhost "prod"',
    });
    expect(await dev.waitForClose()).toBe(4403);
    const lost = await RawClient.open(broker.url);
    expect(await lost.request({ op: 'connect', version: 1, username: 'ops', password: 'ops-pw', vhost: 'staging' })).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await lost.waitForClose()).toBe(4403);
  });

  it('vhosts - STOMP picks the vhost with the host header (real stompjs)', async () => {
    const peer = await StompPeer.connect(broker.url, { login: 'ops', passcode: 'ops-pw', host: 'prod' });
    await peer.send('/exchange/events', 'over stomp to prod');
    await peer.close();
    const prod = await login(broker.url, { username: 'ops', password: 'ops-pw', vhost: 'prod' });
    expect(await prod.request({ op: 'get', queue: 'orders', noAck: true })).toMatchObject({ message: { payload: 'over stomp to prod' } });
    prod.close();
  });
});

describe('vhosts - durability', () => {
  it('vhosts - persistent messages of each vhost come back in their own vhost after a kill -9', async () => {
    const first = await startBroker({ definitions: DEFINITIONS });
    const prod = await login(first.url, { username: 'ops', password: 'ops-pw', vhost: 'prod' });
    const root = await login(first.url, { username: 'ops', password: 'ops-pw' });
    await prod.request({ op: 'publish', exchange: 'events', payload: 'prod survives', properties: { persistent: true } });
    await root.request({ op: 'publish', routingKey: 'orders', payload: 'root survives', properties: { persistent: true } });
    await first.stop('SIGKILL');
    const second = await startBroker({ definitions: DEFINITIONS }, [], 0, { dataDir: first.dataDir });
    try {
      const prodAgain = await login(second.url, { username: 'ops', password: 'ops-pw', vhost: 'prod' });
      const rootAgain = await login(second.url, { username: 'ops', password: 'ops-pw' });
      expect(await prodAgain.request({ op: 'get', queue: 'orders', noAck: true })).toMatchObject({ message: { payload: 'prod survives' }, messageCount: 0 });
      expect(await rootAgain.request({ op: 'get', queue: 'orders', noAck: true })).toMatchObject({ message: { payload: 'root survives' }, messageCount: 0 });
      prodAgain.close();
      rootAgain.close();
    } finally {
      await second.stop();
    }
  });
});
