import { Redis } from 'ioredis';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Delivery, type WarrenClient } from '../../src/client/index.js';
import WebSocket from 'ws';
import { hasNginx, hasRedis, startCluster, startNode, startNodes, startRedis, type RunningCluster, type RunningRedis } from './cluster-harness.js';
import { ADMIN, ADMIN_CONFIG, api, RawClient, startBroker, type RunningBroker } from './harness.js';
import { freePort } from '../../scripts/cluster-parts.mjs';

/** Waits until `check` passes (it throws until then), for what another node learns through Redis. */
async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
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

  it('cluster - get pulls through any node what was published on another', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareQueue('pulled', { durable: true });
    await one.publish('', 'pulled', 'first');
    await one.publish('', 'pulled', 'second');
    const { message } = await two.get('pulled');
    expect(message?.payload).toBe('first');
    message?.ack();
    expect((await two.get('pulled', { noAck: true })).message?.payload).toBe('second');
    expect(await two.get('pulled')).toEqual({ message: null, messageCount: 0 });
    await eventually(async () => expect(await admin.xlen('warren:{%2F}:q:pulled')).toBe(0));
  });

  it('cluster - a message rejected on one node is dead-lettered into a queue another node reads, leaving its own queue in the same step', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareExchange('work.dlx', 'fanout', { durable: true });
    await one.declareQueue('work.dead', { durable: true });
    await one.bindQueue('work.dead', 'work.dlx');
    await one.declareQueue('work', { durable: true, arguments: { 'x-dead-letter-exchange': 'work.dlx' } });
    const rejected = collector(1, (delivery) => delivery.nack({ requeue: false }));
    await two.consume('work', rejected.handler, { prefetch: 1 });
    await one.publish('', 'work', 'doomed job');
    await rejected.all;
    const dead = await eventually(async () => {
      const { message } = await one.get('work.dead', { noAck: true });
      if (!message) throw new Error('not dead-lettered yet');
      return message;
    });
    expect(dead.payload).toBe('doomed job');
    expect(dead.headers['x-death']).toMatchObject([{ queue: 'work', reason: 'rejected', count: 1, exchange: '' }]);
    expect(await admin.xlen('warren:{%2F}:q:work')).toBe(0);
  });

  it('cluster - purge removes what no node holds; a message a consumer holds stays until it is acked', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareQueue('purged', { durable: true });
    const held = collector(1, () => {});
    const consumerTag = await one.consume('purged', held.handler, { prefetch: 1 });
    for (let n = 0; n < 20; n++) await two.publish('', 'purged', { n });
    await held.all;
    await two.purgeQueue('purged');
    // Node one holds the delivery and one prefetch window ahead, still in Redis (returned should
    // node one die); the rest is gone.
    await eventually(async () => expect(await admin.xlen('warren:{%2F}:q:purged')).toBeLessThanOrEqual(2));
    expect(await admin.xlen('warren:{%2F}:q:purged')).toBeGreaterThanOrEqual(1);
    held.received[0].ack();
    await one.cancel(consumerTag);
    await eventually(async () => expect((await two.declareQueue('purged', { passive: true })).messageCount).toBe(1));
    expect(held.received[0].payload).toEqual({ n: 0 });
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

  it('cluster - a publish reaches the exclusive queues of subscribers on every node, each once, by their binding keys', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareExchange('news', 'topic', { durable: true });
    await eventually(() => two.declareExchange('news', 'topic', { passive: true }));
    const subscribers: unknown[][] = [];
    for (const [opened, key] of [[one, 'news.sport'], [two, 'news.sport'], [two, 'news.#'], [two, 'news.weather'], [two, 'news.sport']] as const) {
      const { queue } = await opened.declareQueue('', { exclusive: true });
      await opened.bindQueue(queue, 'news', key);
      const got: unknown[] = [];
      await opened.consume(queue, (delivery) => void got.push(delivery.payload), { noAck: true });
      subscribers.push(got);
    }
    const publisher = await client(nodes[0]);
    await publisher.publish('news', 'news.sport', 'goal');
    await publisher.publish('news', 'news.politics', 'vote');
    await eventually(() => expect(subscribers).toEqual([['goal'], ['goal'], ['goal', 'vote'], [], ['goal']]));
    // One relay binding per node and key, whatever the number of its queues so bound.
    const relays = (await admin.hkeys('warren:{%2F}:topology')).filter((field) => field.startsWith('r:'));
    expect(relays.filter((field) => field.includes('news.sport')).sort()).toEqual(['r:["node1","news","news.sport",{}]', 'r:["node2","news","news.sport",{}]']);
    await two.close();
    await eventually(async () => expect((await admin.hkeys('warren:{%2F}:topology')).filter((field) => field.startsWith('r:["node2"'))).toEqual([]));
  });

  it('cluster - a reply published through the default exchange reaches an exclusive reply queue on another node by its name', async () => {
    const [requester, responder] = [await client(nodes[1]), await client(nodes[0])];
    const { queue: replyTo } = await requester.declareQueue('', { exclusive: true });
    const replies = collector(1);
    await requester.consume(replyTo, replies.handler);
    await responder.publish('', replyTo, { answer: 42 }, { properties: { correlationId: 'q1' } });
    await replies.all;
    expect(replies.received[0]).toMatchObject({ payload: { answer: 42 }, properties: { correlationId: 'q1' } });
    // Gone with its queue: a reply to a queue that no longer exists is unroutable.
    await requester.deleteQueue(replyTo);
    await eventually(async () => expect(await admin.hkeys('warren:{%2F}:topology')).not.toContain(`r:["node2","",${JSON.stringify(replyTo)},{}]`));
  });

  it('cluster - x-max-length holds for the queue in Redis: drop-head dead-letters the oldest, reject-publish refuses on any node', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareExchange('capped.dlx', 'fanout', { durable: true });
    await one.declareQueue('capped.dead', { durable: true });
    await one.bindQueue('capped.dead', 'capped.dlx');
    await one.declareQueue('capped', { durable: true, arguments: { 'x-max-length': 3, 'x-dead-letter-exchange': 'capped.dlx' } });
    for (let n = 0; n < 3; n++) await one.publish('', 'capped', { n });
    for (let n = 3; n < 5; n++) await two.publish('', 'capped', { n });
    expect(await admin.xlen('warren:{%2F}:q:capped')).toBe(3);
    const kept = [];
    for (let n = 0; n < 3; n++) kept.push((await one.get('capped', { noAck: true })).message?.payload);
    expect(kept).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
    const dead = await eventually(async () => {
      const taken = [];
      for (;;) {
        const { message } = await two.get('capped.dead', { noAck: true });
        if (!message) break;
        taken.push(message);
      }
      if (taken.length < 2) throw new Error(`${taken.length} dead-lettered so far`);
      return taken;
    });
    expect(dead.map((message) => message.payload)).toEqual([{ n: 0 }, { n: 1 }]);
    expect(dead[0].headers['x-death']).toMatchObject([{ queue: 'capped', reason: 'maxlen' }]);
    await one.declareQueue('keeps-nothing', { durable: true, arguments: { 'x-max-length': 0 } });
    await one.publish('', 'keeps-nothing', 'dropped at once');
    expect(await admin.xlen('warren:{%2F}:q:keeps-nothing')).toBe(0);

    await one.declareQueue('refusing', { durable: true, arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
    await one.publish('', 'refusing', 'first');
    await two.publish('', 'refusing', 'second');
    // Each node counts what Redis holds once a second (and its own publishes at once): until then
    // another node's publishes are not counted.
    for (const node of nodes) await eventually(async () => expect((await api(node, '/api/queues/%2F/refusing')).body).toMatchObject({ messages_ready: 2 }), 3000);
    await expect(one.publish('', 'refusing', 'third')).rejects.toThrow(/full/);
    await expect(two.publish('', 'refusing', 'fourth')).rejects.toThrow(/full/);
    expect(await admin.xlen('warren:{%2F}:q:refusing')).toBe(2);
  });

  it('cluster - x-message-ttl expires what Redis holds and no node fetched, dead-lettering it', async () => {
    const one = await client(nodes[0]);
    await one.declareExchange('brief.dlx', 'fanout', { durable: true });
    await one.declareQueue('brief.dead', { durable: true });
    await one.bindQueue('brief.dead', 'brief.dlx');
    await one.declareQueue('brief', { durable: true, arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': 'brief.dlx' } });
    for (let n = 0; n < 3; n++) await one.publish('', 'brief', { n });
    // No consumer anywhere: the nodes' once-a-second sweep finds them expired in Redis.
    await eventually(async () => expect(await admin.xlen('warren:{%2F}:q:brief')).toBe(0), 5000);
    const dead: Delivery[] = [];
    await eventually(async () => {
      for (let got = await one.get('brief.dead', { noAck: true }); got.message; got = await one.get('brief.dead', { noAck: true })) dead.push(got.message);
      expect(dead).toHaveLength(3);
    });
    expect(dead.map((message) => message.payload)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(dead[0].headers['x-death']).toMatchObject([{ queue: 'brief', reason: 'expired' }]);
    await eventually(async () => expect((await api(nodes[1], '/api/queues/%2F/brief')).body).toMatchObject({ messages_ready: 0 }), 3000);
  });

  it('cluster - a read whose answer a dropped connection lost is taken again after the reconnect', async () => {
    const one = await client(nodes[0]);
    await one.declareQueue('lost-read', { durable: true });
    const key = 'warren:{%2F}:q:lost-read';
    // What a lost answer leaves: an entry Redis gave node1 (pending under it) that node1 never saw.
    await admin.xadd(key, '*', 'm', JSON.stringify(['', 'lost-read', {}, {}, null, null]), 'p', JSON.stringify('lost'));
    await admin.call('XREADGROUP', 'GROUP', 'warren', 'node1', 'COUNT', 1, 'STREAMS', key, '>');
    const clients = (await admin.client('LIST')) as string;
    for (const line of clients.split('\n').filter((entry) => entry.includes('name=warren:node1 '))) await admin.client('KILL', 'ID', /id=(\d+)/.exec(line)![1]);
    const { handler, all, received } = collector(1);
    await eventually(() => one.consume('lost-read', handler, { prefetch: 10 }));
    await all;
    expect(received[0].payload).toBe('lost');
    await eventually(async () => expect(await admin.xlen(key)).toBe(0));
  });

  it('cluster - x-single-active-consumer serves one consumer in the whole cluster; the next node\'s takes over when it goes', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareQueue('single', { durable: true, arguments: { 'x-single-active-consumer': true } });
    const first = collector(3);
    const firstTag = await one.consume('single', first.handler, { prefetch: 10 });
    // The first consumer's node has the turn before the second one asks.
    await eventually(async () => expect((await api(nodes[0], '/api/consumers/%2F')).body).toEqual(expect.arrayContaining([expect.objectContaining({ consumer_tag: firstTag, active: true })])));
    const second = collector(2);
    await two.consume('single', second.handler, { prefetch: 10 });
    for (let n = 0; n < 3; n++) await two.publish('', 'single', { n });
    await first.all;
    expect(first.received.map((delivery) => delivery.payload)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(second.received).toHaveLength(0);
    const views = (await api(nodes[1], '/api/consumers/%2F')).body as { queue: { name: string }; active: boolean; channel_details: { node: string } }[];
    expect(views.filter((view) => view.queue.name === 'single').map((view) => [view.channel_details.node, view.active]).sort()).toEqual([
      ['warren@node1', true],
      ['warren@node2', false],
    ]);
    await one.cancel(firstTag);
    for (let n = 3; n < 5; n++) await one.publish('', 'single', { n });
    await second.all;
    expect(second.received.map((delivery) => delivery.payload)).toEqual([{ n: 3 }, { n: 4 }]);
  });

  it('cluster - a second process under a running node\'s name is refused; a node started before its Redis waits for it', async () => {
    await expect(startNode(redis, 'node1')).rejects.toThrow(/a node named "node1" is already running in this cluster/);
    const port = await freePort();
    const starting = startBroker({ cluster: { redis: `redis://127.0.0.1:${port}`, node: 'early' } });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const late = await startRedis(['--port', String(port)]);
    try {
      const early = await starting;
      await early.stop();
    } finally {
      await late.stop();
    }
  });

  it('cluster - what a node holds ahead of a consumer that does not ack goes to an idle consumer on another node', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareQueue('stalled', { durable: true });
    const stuck = collector(1, () => {});
    await one.consume('stalled', stuck.handler, { prefetch: 1 });
    for (let n = 0; n < 10; n++) await one.publish('', 'stalled', { n });
    await stuck.all;
    // Node one holds one more ahead of its full consumer; it goes back after a second.
    const idle = collector(9);
    await two.consume('stalled', idle.handler, { prefetch: 10 });
    await eventually(() => expect(idle.received).toHaveLength(9), 5000);
    expect(new Set([...stuck.received, ...idle.received].map((delivery) => (delivery.payload as { n: number }).n)).size).toBe(10);
  });

  it('cluster - a slow consumer that keeps acking keeps its messages in order (what is held ahead of it stays)', async () => {
    const one = await client(nodes[0]);
    await one.declareQueue('slow', { durable: true });
    // Full nearly all the time (each ack is refilled from what the node holds ahead), for 4 s.
    const slow = collector(30, (delivery) => setTimeout(() => delivery.ack(), 130));
    await one.consume('slow', slow.handler, { prefetch: 1 });
    for (let n = 0; n < 30; n++) await one.publish('', 'slow', { n });
    await slow.all;
    expect(slow.received.map((delivery) => (delivery.payload as { n: number }).n)).toEqual(Array.from({ length: 30 }, (_, n) => n));
    expect(slow.received.every((delivery) => !delivery.redelivered)).toBe(true);
  });

  it('cluster - the management API of one node counts what the other holds: its consumers, their unacknowledged messages, its exclusive queues', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareQueue('counted', { durable: true });
    const held = collector(3, () => {});
    await two.consume('counted', held.handler, { prefetch: 3 });
    const subscription = await two.declareQueue('', { exclusive: true });
    for (let n = 0; n < 5; n++) await one.publish('', 'counted', { n });
    await held.all;
    type QueueView = { name: string; node: string; consumers: number; messages: number; messages_ready: number; messages_unacknowledged: number; exclusive: boolean };
    const queue = await eventually(async () => {
      const view = (await api(nodes[0], '/api/queues/%2F/counted')).body as QueueView;
      // Two more are ready: in Redis, or held by node two ahead of its consumer.
      expect(view).toMatchObject({ consumers: 1, messages_unacknowledged: 3, messages_ready: 2, messages: 5 });
      return view;
    });
    expect(queue.node).toBe('warren@node1');
    // Published on node one, delivered on node two: node one's view has both.
    expect((queue as unknown as { message_stats: Record<string, unknown> }).message_stats).toMatchObject({ publish: 5, deliver: 3 });
    const listed = (await api(nodes[0], '/api/queues/%2F')).body as QueueView[];
    expect(listed.find((view) => view.name === 'counted')).toMatchObject({ consumers: 1, messages_unacknowledged: 3 });
    expect(listed.find((view) => view.name === subscription.queue)).toMatchObject({ exclusive: true, node: 'warren@node2' });
    expect((await api(nodes[0], `/api/queues/%2F/${encodeURIComponent(subscription.queue)}`)).body).toMatchObject({ name: subscription.queue, node: 'warren@node2' });
    // Refused as this node's own exclusive queues are, not unknown.
    const refused = await api(nodes[0], `/api/queues/%2F/${encodeURIComponent(subscription.queue)}`, { method: 'DELETE' });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toMatch(/exclusive to a connection on another node/);
    const consumers = (await api(nodes[0], '/api/consumers/%2F')).body as { queue: { name: string }; channel_details: { node: string } }[];
    expect(consumers.find((consumer) => consumer.queue.name === 'counted')?.channel_details.node).toBe('warren@node2');
    const overview = (await api(nodes[0], '/api/overview')).body as { object_totals: { consumers: number; queues: number }; queue_totals: { messages_unacknowledged: number }; message_stats: { deliver: number } };
    const onlyHere = (await api(nodes[1], '/api/overview')).body as { message_stats: { deliver: number } };
    expect(overview.message_stats.deliver).toBe(onlyHere.message_stats.deliver);
    expect(overview.object_totals.consumers).toBeGreaterThanOrEqual(1);
    expect(overview.queue_totals.messages_unacknowledged).toBeGreaterThanOrEqual(3);
    const vhost = (await api(nodes[0], '/api/vhosts/%2F')).body as { messages_unacknowledged: number };
    expect(vhost.messages_unacknowledged).toBe(overview.queue_totals.messages_unacknowledged);
    const listedNodes = ((await api(nodes[0], '/api/nodes')).body as { name: string }[]).map((view) => view.name);
    expect(listedNodes).toEqual(expect.arrayContaining(['warren@node1', 'warren@node2']));
    expect((await api(nodes[0], '/api/nodes/warren%40node2')).body).toMatchObject({ name: 'warren@node2', running: true });
    for (const delivery of held.received) delivery.ack();
  });

  it('cluster - a Redis that lost everything (restarted without persistence) gets the topology back from the nodes', async () => {
    const [one, two] = [await client(nodes[0]), await client(nodes[1])];
    await one.declareExchange('kept', 'direct', { durable: true });
    await one.declareQueue('kept.q', { durable: true });
    await one.bindQueue('kept.q', 'kept', 'k');
    await admin.flushall();
    // The nodes' connections drop, as with a restarted Redis; on reconnecting they find its topology version gone back.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal');
    await eventually(async () => expect(await admin.hexists('warren:{%2F}:topology', 'q:kept.q')).toBe(1));
    const got = collector(1);
    await two.consume('kept.q', got.handler);
    await eventually(() => one.publish('kept', 'k', 'after the loss'));
    await got.all;
    expect(got.received[0].payload).toBe('after the loss');
    expect(await admin.hexists('warren:{%2F}:topology', 'x:kept')).toBe(1);
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

describe.skipIf(!hasRedis)('cluster - a node that just joined', () => {
  it('cluster - a declare waits for a node started since the declaring node last renewed its liveness', async () => {
    const redis = await startRedis();
    // Renewals 10 s apart: the first node's last view of the live nodes does not have the second.
    const nodes = [await startNode(redis, 'node1', {}, 30_000)];
    const opened: WarrenClient[] = [];
    try {
      nodes.push(await startNode(redis, 'node2', {}, 30_000));
      opened.push(await connect(nodes[0].url, { reconnect: false }));
      // Stopped, the second node cannot apply the declare: the reply must wait for it.
      nodes[1].process.kill('SIGSTOP');
      const declared = opened[0].declareQueue('joined', { durable: true }).then(() => 'declared');
      const early = await Promise.race([declared, new Promise((resolve) => setTimeout(resolve, 500, 'waiting'))]);
      nodes[1].process.kill('SIGCONT');
      expect(early).toBe('waiting');
      expect(await declared).toBe('declared');
      opened.push(await connect(nodes[1].url, { reconnect: false }));
      await opened[1].consume('joined', () => {});
    } finally {
      nodes[1]?.process.kill('SIGCONT');
      for (const client of opened) await client.close().catch(() => {});
      for (const node of nodes) await node.stop();
      await redis.stop();
    }
  });
});

describe.skipIf(!hasRedis)('cluster - Redis out of reach', () => {
  it('cluster - a node whose Redis stops blocks its publishers and fails its alarms check, until Redis is back', async () => {
    let redis = await startRedis();
    const port = redis.port;
    const [node] = await startNodes(redis, 1);
    const publisher = await RawClient.connected(node.url);
    try {
      await publisher.request({ op: 'queue.declare', queue: 'waits' });
      expect(await publisher.request({ op: 'publish', exchange: '', routingKey: 'waits', payload: 'before' })).toMatchObject({ op: 'ok' });
      await redis.stop('SIGKILL');
      await publisher.waitFor((frame) => frame.op === 'blocked', 5000);
      expect(String(publisher.frames.find((frame) => frame.op === 'blocked')?.reason)).toMatch(/the broker's Redis \(cluster\.redis\) does not answer/);
      expect((await api(node, '/api/health/checks/alarms')).status).toBe(503);
      redis = await startRedis(['--port', String(port)]);
      await publisher.waitFor((frame) => frame.op === 'unblocked', 15_000);
      expect((await api(node, '/api/health/checks/alarms')).status).toBe(200);
    } finally {
      publisher.close();
      await node.stop();
      await redis.stop();
    }
  });
});

describe('cluster - configuration errors', () => {
  it('cluster - a Redis that is not there stops the start with an error naming cluster.redis', async () => {
    const start = startBroker({ cluster: { redis: 'redis://127.0.0.1:1', node: 'lonely' } });
    await expect(start).rejects.toThrow(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(cluster\.redis\)/);
  });

  it('cluster - a cluster.redis at a port where something else answers (HTTP) stops the start at once, saying so', async () => {
    const http = createServer((_, response) => response.end('not redis'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    try {
      const started = Date.now();
      const start = startBroker({ cluster: { redis: `redis://127.0.0.1:${port}`, node: 'misdirected' } });
      await expect(start).rejects.toThrow(new RegExp(`the server at redis://127\\.0\\.0\\.1:${port} \\(cluster\\.redis\\) answered, but not as Redis does .*Point cluster\\.redis at redis-server's`));
      // Not the 10 s an absent Redis is waited for.
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      http.close();
    }
  });

  it('cluster - a malformed cluster section is refused with its path', async () => {
    await expect(startBroker({ cluster: { redis: 'http://x', node: 'bad name!' } })).rejects.toThrow(/cluster\.redis[\s\S]*cluster\.node/);
  });
});

describe.skipIf(!hasRedis || !hasNginx)('cluster - three nodes behind nginx', () => {
  let cluster: RunningCluster;
  beforeAll(async () => {
    cluster = await startCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /** The node whose log says that a client of this name connected. */
  const nodeOf = (clientName: string) => cluster.nodes.find((node) => node.logs.some((line) => line.msg === 'connected' && line.clientName === clientName));

  it('cluster - nginx spreads connections over the nodes, and each client\'s address is its own (X-Forwarded-For from a trusted proxy)', async () => {
    const opened = await Promise.all(Array.from({ length: 6 }, (_, i) => connect(cluster.url, { reconnect: false, clientName: `spread-${i}` })));
    await eventually(() => {
      for (const node of cluster.nodes) expect(node.logs.filter((line) => line.msg === 'connection opened').length).toBeGreaterThanOrEqual(1);
    });
    expect(cluster.nodes.flatMap((node) => node.logs).filter((line) => line.msg === 'connection opened').every((line) => line.address === '127.0.0.1')).toBe(true);
    for (const client of opened) await client.close();
    // A client elsewhere (its address in X-Forwarded-For, as a proxy in front of nginx would say) is no
    // longer "this machine": anonymous access, the loopback-only default, is refused.
    const far = new WebSocket(cluster.url, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const replies: Record<string, unknown>[] = [];
    far.on('message', (data) => replies.push(JSON.parse(data.toString()) as Record<string, unknown>));
    await new Promise((resolve) => far.once('open', resolve));
    far.send(JSON.stringify({ op: 'connect', id: 1, version: 1 }));
    await new Promise((resolve) => far.once('close', resolve));
    expect(replies[0]).toMatchObject({ op: 'error', code: 'ACCESS_REFUSED' });
    await eventually(() => expect(cluster.nodes.flatMap((node) => node.logs).some((line) => line.msg === 'connection opened' && line.address === '203.0.113.7')).toBe(true));
  });

  it('cluster - nginx answers /healthz with a node\'s alarms check', async () => {
    const reply = await fetch(`http://127.0.0.1:${cluster.port}/healthz`);
    expect(reply.status).toBe(200);
    expect(await reply.json()).toEqual({ status: 'ok' });
  });

  it('cluster - the management API of any node lists every node\'s connections with their node, and closes one on another node', async () => {
    const opened = await Promise.all(Array.from({ length: 3 }, (_, i) => connect(cluster.url, { reconnect: false, clientName: `listed-${i}` })));
    const listed = async () => (await api(cluster.nodes[0], '/api/connections')).body as { name: string; node: string; client_properties: { connection_name?: string } }[];
    const ours = (await listed()).filter((view) => view.client_properties.connection_name?.startsWith('listed-'));
    expect(ours.map((view) => view.client_properties.connection_name).sort()).toEqual(['listed-0', 'listed-1', 'listed-2']);
    expect(new Set(ours.map((view) => view.node))).toEqual(new Set(cluster.nodes.map((_, i) => `warren@node${i + 1}`)));
    const far = ours.find((view) => view.node !== 'warren@node1')!;
    const farClient = opened[Number(far.client_properties.connection_name?.slice('listed-'.length))];
    const closed = new Promise((resolve) => farClient.on('close', resolve));
    expect((await api(cluster.nodes[0], `/api/connections/${encodeURIComponent(far.name)}`, { method: 'DELETE' })).status).toBe(204);
    await closed;
    for (const client of opened) await client.close();
  });

  it('cluster - kill -9 of a node: its client reconnects through nginx to another, resumes, and gets the unacknowledged messages again', async () => {
    const setup = await connect(cluster.url, { reconnect: false });
    await setup.declareQueue('survives', { durable: true });
    await setup.close();
    const consumer = await connect(cluster.url, { clientName: 'resumer', reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    const received: [unknown, boolean][] = [];
    let acking = false;
    await consumer.consume(
      'survives',
      (delivery) => {
        received.push([delivery.payload, delivery.redelivered]);
        if (acking) delivery.ack();
      },
      { prefetch: 10 },
    );
    // The node's log line may reach the harness after the client heard its reply.
    const victim = await eventually(() => nodeOf('resumer') ?? Promise.reject(new Error('no node logged the client yet')));
    const publisher = await connect(`ws://127.0.0.1:${cluster.nodes.find((node) => node !== victim)?.port}/ws`, { reconnect: false });
    for (let n = 0; n < 3; n++) await publisher.publish('', 'survives', { n });
    await eventually(() => expect(received).toHaveLength(3));
    const reconnected = new Promise((resolve) => consumer.on('reconnect', resolve));
    acking = true;
    await victim.stop('SIGKILL');
    await reconnected;
    // The dead node's deliveries come back once another node finds it dead (cluster.nodeTimeoutMs, 1 s here).
    await eventually(() => expect(received.slice(3)).toEqual([[{ n: 0 }, true], [{ n: 1 }, true], [{ n: 2 }, true]]), 10_000);
    await publisher.publish('', 'survives', { n: 3 });
    await eventually(() => expect(received.at(-1)).toEqual([{ n: 3 }, false]));
    await consumer.close();
    await publisher.close();
    cluster.nodes.splice(cluster.nodes.indexOf(victim), 1);
  });
});

describe.skipIf(!hasRedis)('cluster - users, permissions and vhosts', () => {
  let redis: RunningRedis;
  let nodes: RunningBroker[];
  beforeAll(async () => {
    redis = await startRedis();
    nodes = await startNodes(redis, 2, ADMIN_CONFIG);
  });
  afterAll(async () => {
    for (const node of nodes ?? []) await node.stop();
    await redis?.stop();
  });

  it('cluster - a user, its permissions and a vhost made through one node\'s API work on the other; deleting the user there refuses it here', async () => {
    const on = (path: string, method = 'GET', body?: unknown) => api(nodes[0], path, { user: ADMIN, method, body });
    expect((await on('/api/vhosts/shop', 'PUT')).status).toBe(201);
    expect((await on('/api/users/erin', 'PUT', { password: 'erin-pw', tags: '' })).status).toBe(201);
    expect((await on('/api/permissions/shop/erin', 'PUT', { configure: '^erin\\.', write: '^erin\\.', read: '^erin\\.' })).status).toBe(201);
    const erin = await eventually(async () => connect(nodes[1].url, { username: 'erin', password: 'erin-pw', vhost: 'shop', reconnect: false }));
    await erin.declareQueue('erin.inbox', { durable: true });
    await expect(erin.declareQueue('other', { durable: true })).rejects.toThrow(/access refused: user "erin" may not/);
    await erin.close();
    expect((await on('/api/users/erin', 'DELETE')).status).toBe(204);
    await eventually(() => expect(connect(nodes[1].url, { username: 'erin', password: 'erin-pw', vhost: 'shop', reconnect: false })).rejects.toThrow(/ACCESS_REFUSED|refused/));
  });
});
