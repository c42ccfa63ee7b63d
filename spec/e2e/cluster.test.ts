import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Delivery, type WarrenClient } from '../../src/client/index.js';
import { hasRedis, startNode, startNodes, startRedis, type RunningRedis } from './cluster-harness.js';
import { startBroker, type RunningBroker } from './harness.js';

/** Waits until `check` passes (it throws until then), for what another node learns through Redis. */
async function eventually(check: () => unknown | Promise<unknown>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Resolves once `count` deliveries arrived; keeps them in `received`. */
function collector(count: number, onDelivery: (delivery: Delivery) => void = (delivery) => delivery.ack()) {
  const received: Delivery[] = [];
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => (done = resolve));
  const handler = (delivery: Delivery) => {
    received.push(delivery);
    onDelivery(delivery);
    if (received.length === count) done();
  };
  return { handler, all, received };
}

describe.skipIf(!hasRedis)('cluster - nodes on one Redis', () => {
  let redis: RunningRedis;
  let nodes: RunningBroker[];
  let admin: Redis;
  const clients: WarrenClient[] = [];
  const client = async (node: RunningBroker) => {
    const opened = await connect(node.url, { reconnect: false });
    clients.push(opened);
    return opened;
  };

  beforeAll(async () => {
    redis = await startRedis();
    nodes = await startNodes(redis, 2);
    admin = new Redis(redis.port, '127.0.0.1', { lazyConnect: true, protocol: 2 });
    await admin.connect();
  });
  afterAll(async () => {
    for (const opened of clients) await opened.close().catch(() => {});
    admin?.disconnect();
    for (const node of nodes ?? []) await node.stop();
    await redis?.stop();
  });

  it('cluster - what one node declares, another routes to and delivers from', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareExchange('orders', 'topic', { durable: true });
    await one.declareQueue('orders.created', { durable: true });
    await one.bindQueue('orders.created', 'orders', 'order.*.created');
    await eventually(() => two.declareQueue('orders.created', { passive: true }));
    const { handler, all, received } = collector(3);
    await two.consume('orders.created', handler, { prefetch: 10 });
    for (let i = 1; i <= 3; i++) await one.publish('orders', `order.${i}.created`, { id: i });
    await one.publish('orders', 'order.9.shipped', { id: 'not routed' });
    await all;
    expect(received.map((delivery) => delivery.payload)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(received.every((delivery) => !delivery.redelivered)).toBe(true);
    // Acknowledged: gone from Redis too.
    await eventually(async () => expect(await admin.xlen('warren:{%2F}:q:orders.created')).toBe(0));
  });

  it('cluster - consumers on two nodes compete: each message reaches one of them, once', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareQueue('jobs', { durable: true });
    await eventually(() => two.declareQueue('jobs', { passive: true }));
    const seen: number[] = [];
    const counts = [0, 0];
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => (done = resolve));
    const consumer = (index: number) => (delivery: Delivery) => {
      counts[index]++;
      seen.push((delivery.payload as { n: number }).n);
      delivery.ack();
      if (seen.length === 200) done();
    };
    await one.consume('jobs', consumer(0), { prefetch: 5 });
    await two.consume('jobs', consumer(1), { prefetch: 5 });
    const publisher = await client(nodes[1]);
    await Promise.all(Array.from({ length: 200 }, (_, n) => publisher.publish('', 'jobs', { n })));
    await all;
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    expect(counts[0] + counts[1]).toBe(200);
  });

  it('cluster - a node\'s unacknowledged deliveries go to a consumer on another node when its client leaves', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareQueue('handover', { durable: true });
    await eventually(() => two.declareQueue('handover', { passive: true }));
    const held = collector(3, () => {});
    await one.consume('handover', held.handler, { prefetch: 10 });
    for (let n = 0; n < 3; n++) await two.publish('', 'handover', { n });
    await held.all;
    const later = collector(3);
    await two.consume('handover', later.handler, { prefetch: 10 });
    await one.close();
    await later.all;
    expect(later.received.map((delivery) => [delivery.payload, delivery.redelivered])).toEqual([
      [{ n: 0 }, true],
      [{ n: 1 }, true],
      [{ n: 2 }, true],
    ]);
  });

  it('cluster - a killed node\'s unacknowledged deliveries are redelivered by another node after cluster.nodeTimeoutMs', async () => {
    const doomed = await startNode(redis, 'doomed');
    const [one, survivor] = [await client(doomed), await client(nodes[0])];
    await one.declareQueue('orphans', { durable: true });
    await eventually(() => survivor.declareQueue('orphans', { passive: true }));
    const held = collector(2, () => {});
    await one.consume('orphans', held.handler, { prefetch: 10 });
    await survivor.publish('', 'orphans', { n: 0 });
    await survivor.publish('', 'orphans', { n: 1 });
    await held.all;
    const later = collector(2);
    await survivor.consume('orphans', later.handler, { prefetch: 10 });
    await doomed.stop('SIGKILL');
    await later.all;
    expect(later.received.map((delivery) => [delivery.payload, delivery.redelivered])).toEqual([
      [{ n: 0 }, true],
      [{ n: 1 }, true],
    ]);
    // Whichever node saw it dead first says so.
    await eventually(() => expect(nodes.flatMap((node) => node.logs).filter((line) => line.node === 'doomed' && line.returned === 2)).toHaveLength(1));
  });

  it('cluster - a node restarted under the same name comes back with the topology, from Redis', async () => {
    const one = await client(nodes[0]);
    await one.declareExchange('events', 'fanout', { durable: false });
    await one.declareQueue('events.audit', { durable: false });
    await one.bindQueue('events.audit', 'events');
    await nodes[1].stop();
    nodes[1] = await startNode(redis, 'node2');
    const two = await client(nodes[1]);
    const { handler, all, received } = collector(1);
    await two.consume('events.audit', handler);
    await one.publish('events', '', 'hello');
    await all;
    expect(received[0].payload).toBe('hello');
  });
});

describe('cluster - configuration errors', () => {
  it('cluster - a Redis that is not there stops the start with an error naming cluster.redis', async () => {
    const start = startBroker({ cluster: { redis: 'redis://127.0.0.1:1', node: 'lonely' } });
    await expect(start).rejects.toThrow(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(cluster\.redis\)/);
  });

  it('cluster - a malformed cluster section is refused with its path', async () => {
    await expect(startBroker({ cluster: { redis: 'http://x', node: 'bad name!' } })).rejects.toThrow(/cluster\.redis[\s\S]*cluster\.node/);
  });
});
