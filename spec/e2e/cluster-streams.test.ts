import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedis, startNode, startNodes, startRedis, type RunningRedis } from './cluster-harness.js';
import { api, eventually, RawClient, type Frame, type RunningBroker } from './harness.js';

// docs/clustering.md, "Stream queues": one stream in Redis, appended and read on every node.

const STREAM = { 'x-queue-type': 'stream' };
const deliveries = (client: RawClient, tag: unknown) => client.frames.filter((frame) => frame.op === 'deliver' && frame.consumerTag === tag);
const offsetsOf = (frames: Frame[]) => frames.map((frame) => (frame.headers as Record<string, unknown>)['x-stream-offset']);
const payloadsOf = (frames: Frame[]) => frames.map((frame) => frame.payload);

/** Waits for `count` deliveries to consumer `tag`; says which offsets came when they do not. */
async function received(client: RawClient, tag: unknown, count: number, what: string): Promise<void> {
  await eventually(() => deliveries(client, tag).length === count, what).catch((error: Error) => {
    throw new Error(`${error.message}: got offsets ${JSON.stringify(offsetsOf(deliveries(client, tag)))}`);
  });
}

/** `read` again until it gives something: what another node learns through Redis. */
async function until<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  let value: T | undefined;
  await eventually(async () => (value = await read()) !== undefined, what);
  return value as T;
}

describe.skipIf(!hasRedis)('cluster - stream queues on Redis', () => {
  let redis: RunningRedis;
  let nodes: RunningBroker[];
  const clients: RawClient[] = [];
  const client = async (node: RunningBroker) => {
    const opened = await RawClient.connected(node.url);
    clients.push(opened);
    return opened;
  };
  const publish = async (on: RawClient, queue: string, payloads: unknown[]) => {
    for (const payload of payloads) expect(await on.request({ op: 'publish', exchange: '', routingKey: queue, payload })).toMatchObject({ op: 'ok' });
  };

  beforeAll(async () => {
    redis = await startRedis();
    // Nothing here kills a node: a long liveness, so that a loaded machine does not pass a lease on.
    nodes = await startNodes(redis, 2, {}, 10_000);
  });

  afterAll(async () => {
    for (const opened of clients) opened.close();
    for (const node of nodes ?? []) await node.stop();
    await redis?.stop();
  });

  it('cluster streams - appends on two nodes get one sequence of offsets, read by push and pull on either', async () => {
    const [a, b] = [await client(nodes[0]), await client(nodes[1])];
    expect(await a.request({ op: 'queue.declare', queue: 'events', arguments: STREAM })).toMatchObject({ op: 'ok', messageCount: 0 });
    await publish(a, 'events', [0, 1, 2, 3, 4]);
    await publish(b, 'events', [5, 6, 7, 8, 9]);
    const fetched = await until(async () => {
      const reply = await b.request({ op: 'fetch', queue: 'events', offset: 3, max: 4 });
      return reply.next === 10 ? reply : undefined;
    }, 'node 2 sees the ten entries');
    expect(fetched).toMatchObject({ op: 'ok', first: 0, next: 10 });
    expect((fetched.messages as Frame[]).map((entry) => [entry.offset, entry.payload])).toEqual([
      [3, 3],
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    const pushed = await b.request({ op: 'consume', queue: 'events', prefetch: 4, arguments: { 'x-stream-offset': 'first' } });
    await received(b, pushed.consumerTag, 4, 'the prefetch');
    b.send({ op: 'ack', deliveryTag: deliveries(b, pushed.consumerTag)[3].deliveryTag, multiple: true });
    await received(b, pushed.consumerTag, 8, 'four more after the acks');
    b.send({ op: 'ack', deliveryTag: deliveries(b, pushed.consumerTag)[7].deliveryTag, multiple: true });
    await received(b, pushed.consumerTag, 10, 'the rest');
    expect(offsetsOf(deliveries(b, pushed.consumerTag))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(payloadsOf(deliveries(b, pushed.consumerTag))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Appended on the other node, pushed here as it arrives.
    await publish(a, 'events', ['live']);
    await received(b, pushed.consumerTag, 11, 'an entry appended on node 1 reaches a consumer on node 2');
    expect(offsetsOf(deliveries(b, pushed.consumerTag)).at(-1)).toBe(10);
    for (const node of nodes) {
      await eventually(async () => {
        const queue = (await api(node, '/api/queues/%2F/events')).body as { stream: { next_offset: number } };
        return queue.stream.next_offset === 11;
      }, 'the management API of each node shows the stream');
    }
  });

  it('cluster streams - a consumer group commits on one node and resumes on the other; "next" and a timestamp start where they should', async () => {
    const [a, b] = [await client(nodes[0]), await client(nodes[1])];
    await a.request({ op: 'queue.declare', queue: 'audit', arguments: STREAM });
    await publish(a, 'audit', [0, 1, 2, 3, 4, 5]);
    const group = await a.request({ op: 'consume', queue: 'audit', prefetch: 10, arguments: { 'x-stream-consumer': 'billing', 'x-stream-offset': 'first' } });
    await received(a, group.consumerTag, 6, 'the group reads from the first');
    a.send({ op: 'ack', deliveryTag: deliveries(a, group.consumerTag)[3].deliveryTag, multiple: true });
    await eventually(async () => (await b.request({ op: 'committed', queue: 'audit', consumer: 'billing' })).offset === 3, 'node 2 sees the commit of node 1');
    expect(await a.request({ op: 'cancel', consumerTag: group.consumerTag })).toMatchObject({ op: 'ok' });
    const resumed = await b.request({ op: 'consume', queue: 'audit', prefetch: 10, arguments: { 'x-stream-consumer': 'billing' } });
    await received(b, resumed.consumerTag, 2, 'the group resumes after its committed offset on node 2');
    expect(offsetsOf(deliveries(b, resumed.consumerTag))).toEqual([4, 5]);

    const fresh = await b.request({ op: 'consume', queue: 'audit', prefetch: 10, arguments: { 'x-stream-offset': 'next' } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const since = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await publish(a, 'audit', [6, 7]);
    await received(b, fresh.consumerTag, 2, '"next" reads only what comes after the consume');
    expect(offsetsOf(deliveries(b, fresh.consumerTag))).toEqual([6, 7]);
    const timed = await b.request({ op: 'consume', queue: 'audit', prefetch: 10, arguments: { 'x-stream-offset': { timestamp: since } } });
    await received(b, timed.consumerTag, 2, 'a timestamp start is looked up in Redis');
    expect(offsetsOf(deliveries(b, timed.consumerTag))).toEqual([6, 7]);
    expect(await b.request({ op: 'commit', queue: 'audit', consumer: 'billing', offset: 99 })).toMatchObject({ op: 'error', code: 'PRECONDITION_FAILED' });
  });

  it('cluster streams - a consumer group has one active consumer in the cluster; another node\'s takes over at the committed offset', async () => {
    const [a, b] = [await client(nodes[0]), await client(nodes[1])];
    await a.request({ op: 'queue.declare', queue: 'orders', arguments: STREAM });
    const active = await a.request({ op: 'consume', queue: 'orders', prefetch: 10, arguments: { 'x-stream-consumer': 'shipping', 'x-stream-offset': 'first' } });
    await eventually(async () => ((await api(nodes[0], '/api/queues/%2F/orders')).body as { consumers: number }).consumers === 1, 'the first consumer is counted');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const waiting = await b.request({ op: 'consume', queue: 'orders', prefetch: 10, arguments: { 'x-stream-consumer': 'shipping', 'x-stream-offset': 'first' } });
    await publish(b, 'orders', [0, 1, 2, 3]);
    await received(a, active.consumerTag, 4, 'the active consumer reads');
    a.send({ op: 'ack', deliveryTag: deliveries(a, active.consumerTag)[1].deliveryTag, multiple: true });
    await eventually(async () => (await b.request({ op: 'committed', queue: 'orders', consumer: 'shipping' })).offset === 1, 'the commit reaches node 2');
    expect(deliveries(b, waiting.consumerTag)).toHaveLength(0);
    expect(await a.request({ op: 'cancel', consumerTag: active.consumerTag })).toMatchObject({ op: 'ok' });
    await received(b, waiting.consumerTag, 2, 'node 2 takes over after the committed offset');
    expect(offsetsOf(deliveries(b, waiting.consumerTag))).toEqual([2, 3]);
  });

  it('cluster streams - x-max-length-bytes drops the oldest entries in Redis, and a read below the first kept starts at it', async () => {
    const a = await client(nodes[0]);
    const b = await client(nodes[1]);
    await a.request({ op: 'queue.declare', queue: 'small', arguments: { ...STREAM, 'x-max-length-bytes': 2000 } });
    await publish(a, 'small', Array.from({ length: 40 }, (_, n) => ({ n, pad: 'x'.repeat(100) })));
    const reply = await until(async () => {
      const fetched = await b.request({ op: 'fetch', queue: 'small', offset: 0, max: 100 });
      return fetched.next === 40 ? fetched : undefined;
    }, 'node 2 sees the appends');
    expect(reply.first as number).toBeGreaterThan(20);
    const messages = reply.messages as Frame[];
    expect(messages[0].offset).toBe(reply.first);
    expect(messages.map((entry) => (entry.payload as { n: number }).n)).toEqual(Array.from({ length: 40 - (reply.first as number) }, (_, i) => (reply.first as number) + i));
  });

  it('cluster streams - a node started later reads the stream from Redis, and a deleted stream starts again from offset 0', async () => {
    const a = await client(nodes[0]);
    await a.request({ op: 'queue.declare', queue: 'history', arguments: STREAM });
    await publish(a, 'history', Array.from({ length: 1200 }, (_, n) => n));
    const late = await startNode(redis, 'node3', {}, 10_000);
    nodes.push(late);
    const c = await client(late);
    const all = await c.request({ op: 'consume', queue: 'history', prefetch: 2000, arguments: { 'x-stream-offset': 'first' } });
    await received(c, all.consumerTag, 1200, 'the late node reads every entry (several chunks)');
    expect(payloadsOf(deliveries(c, all.consumerTag))).toEqual(Array.from({ length: 1200 }, (_, n) => n));
    expect(await c.request({ op: 'fetch', queue: 'history', offset: 1199, max: 5 })).toMatchObject({ first: 0, next: 1200, messages: [{ offset: 1199, payload: 1199 }] });

    expect(await a.request({ op: 'queue.delete', queue: 'history' })).toMatchObject({ op: 'ok', messageCount: 1200 });
    await c.waitFor((frame) => frame.op === 'cancelled' && frame.consumerTag === all.consumerTag);
    await a.request({ op: 'queue.declare', queue: 'history', arguments: STREAM });
    await publish(a, 'history', ['again']);
    await eventually(async () => (await c.request({ op: 'fetch', queue: 'history', offset: 0, max: 5 })).next === 1, 'node 3 sees the new stream');
    expect(await c.request({ op: 'fetch', queue: 'history', offset: 0, max: 5 })).toMatchObject({ first: 0, next: 1, messages: [{ offset: 0, payload: 'again' }] });
  });

  it('cluster streams - a stream whose state Redis lost fails the publish that finds it so, then goes on with its offsets', async () => {
    const a = await client(nodes[0]);
    await a.request({ op: 'queue.declare', queue: 'fragile', arguments: STREAM });
    await publish(a, 'fragile', [0, 1, 2]);
    const admin = new Redis(redis.port, '127.0.0.1', { protocol: 2 });
    try {
      // What a failover after asynchronous replication can do: the stream's keys are gone, the queue is still declared.
      await admin.del('warren:{%2F}:q:fragile', 'warren:{%2F}:s:fragile');
    } finally {
      admin.disconnect();
    }
    const failed = await a.request({ op: 'publish', exchange: '', routingKey: 'fragile', payload: 'lost' });
    expect(failed).toMatchObject({ op: 'error' });
    expect(String(failed.message)).toMatch(/could not store the message/);
    await eventually(async () => (await a.request({ op: 'publish', exchange: '', routingKey: 'fragile', payload: 'after' })).op === 'ok', 'the stream is made again');
    const fetched = await a.request({ op: 'fetch', queue: 'fragile', offset: 0, max: 10 });
    // Offsets are not given twice: the new entries come after the ones Redis lost.
    expect(fetched).toMatchObject({ first: 3, next: 4, messages: [{ offset: 3, payload: 'after' }] });
  });
});
