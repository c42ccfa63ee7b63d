import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { hasNginx, hasRedis, startCluster } from './cluster-harness.js';
import { RawClient, startBroker, type RunningBroker } from './harness.js';

const CONFIG = { server: { maxMessageBytes: 64 * 1024 } };

// The same tests against one broker and against three nodes on Redis behind nginx
// (docs/clustering.md), where consecutive connections land on different nodes.
const TARGETS: { target: string; start: () => Promise<Pick<RunningBroker, 'url' | 'stop'>> }[] = [
  { target: 'one node', start: () => startBroker(CONFIG) },
  ...(hasRedis && hasNginx ? [{ target: 'three nodes behind nginx', start: () => startCluster(3, CONFIG) }] : []),
];

describe.each(TARGETS)('protocol on $target', ({ start }) => {
  let broker: Pick<RunningBroker, 'url' | 'stop'>;
  beforeAll(async () => {
    broker = await start();
  });
  afterAll(async () => {
    await broker.stop();
  });

  describe('protocol - connecting', () => {
    it('protocol - connect replies with the server and a connection id', async () => {
      const client = await RawClient.open(broker.url);
      const reply = await client.request({ op: 'connect', version: 1, clientName: 'spec' });
      expect(reply).toMatchObject({ op: 'ok', id: 1, server: { name: 'warren' } });
      expect(typeof reply.connectionId).toBe('string');
      expect(await client.request({ op: 'connect', version: 1 })).toMatchObject({ op: 'error', code: 'NOT_ALLOWED' });
      client.close();
    });

    it('protocol - a frame before connect is NOT_ALLOWED, a malformed one SYNTAX_ERROR', async () => {
      const client = await RawClient.open(broker.url);
      expect(await client.request({ op: 'queue.declare', queue: 'x' })).toMatchObject({ op: 'error', code: 'NOT_ALLOWED' });
      expect(await client.request({ op: 'queue.declare', queue: 5 })).toMatchObject({ op: 'error', code: 'SYNTAX_ERROR' });
      client.send('{not json');
      await client.waitFor((frame) => frame.code === 'SYNTAX_ERROR' && frame.id === undefined);
      expect((await client.request({ op: 'connect', version: 1 })).op).toBe('ok');
      client.close();
    });

    it('protocol - the subprotocol warren.v1 is accepted and an unknown one refused', async () => {
      const client = await RawClient.open(broker.url, ['warren.v1']);
      expect(client.socket.protocol).toBe('warren.v1');
      client.close();
      await expect(RawClient.open(broker.url, ['mqtt'])).rejects.toThrow();
    });
  });

  describe('protocol - hostile input', () => {
    it('protocol - every bad frame gets its own error and the connection stays usable', async () => {
      const client = await RawClient.connected(broker.url);
      const cases: [unknown, string][] = [
        [{ op: 'nope', id: 10 }, 'SYNTAX_ERROR'],
        [{ op: 'queue.declare', id: 11, queue: 'a', durable: 'yes' }, 'SYNTAX_ERROR'],
        [{ op: 'queue.declare', id: 12, queue: 'a', colour: 'red' }, 'SYNTAX_ERROR'],
        [{ op: 'queue.declare', id: 13, queue: 'é'.repeat(128) }, 'SYNTAX_ERROR'],
        [{ op: 'exchange.declare', id: 14, exchange: 'e', type: 'x-delayed' }, 'SYNTAX_ERROR'],
        [{ op: 'publish', id: 15, routingKey: 'a' }, 'SYNTAX_ERROR'],
        [{ op: 'publish', id: 16, payload: 1, properties: { colour: 1 } }, 'SYNTAX_ERROR'],
        [{ op: 'publish', id: 17, payload: 1, properties: { priority: 256 } }, 'SYNTAX_ERROR'],
        [{ op: 'get', id: 18, queue: 'missing' }, 'NOT_FOUND'],
        [{ op: 'publish', id: 19, exchange: 'missing', payload: 1 }, 'NOT_FOUND'],
        [{ op: 'exchange.declare', id: 20, exchange: 'amq.mine', type: 'direct' }, 'ACCESS_REFUSED'],
        [{ op: 'queue.declare', id: 21, queue: 'bad-ttl', arguments: { 'x-message-ttl': -1 } }, 'PRECONDITION_FAILED'],
      ];
      for (const [frame] of cases) client.send(frame);
      for (const [frame, code] of cases) {
        const id = (frame as { id: number }).id;
        const reply = await client.waitFor((f) => f.id === id);
        expect(reply, JSON.stringify(frame)).toMatchObject({ op: 'error', code });
        expect(typeof reply.message).toBe('string');
      }
      client.send({ op: 'ack', deliveryTag: 0 });
      client.send({ op: 'ack', deliveryTag: 99 });
      await client.waitFor((f) => f.code === 'PRECONDITION_FAILED' && f.id === undefined);
      expect(client.frames.filter((f) => f.code === 'SYNTAX_ERROR' && f.id === undefined).length).toBeGreaterThanOrEqual(1);
      expect((await client.request({ op: 'queue.declare', queue: 'still-alive', durable: false })).op).toBe('ok');
      client.close();
    });

    it('protocol - arrays are processed in order and a non-object element gets its own error', async () => {
      const client = await RawClient.connected(broker.url);
      client.send([{ op: 'queue.declare', id: 2, queue: 'arr', durable: false }, 7, { op: 'queue.purge', id: 3, queue: 'arr' }]);
      await client.waitFor((f) => f.id === 3);
      const answers = client.frames.slice(1);
      expect(answers.map((f) => [f.op, f.id, f.code])).toEqual([
        ['ok', 2, undefined],
        ['error', undefined, 'SYNTAX_ERROR'],
        ['ok', 3, undefined],
      ]);
      client.send([]);
      expect((await client.request({ op: 'queue.delete', queue: 'arr' })).op).toBe('ok');
      client.close();
    });

    it('protocol - binary messages, deep nesting and prototype keys are refused or harmless', async () => {
      const client = await RawClient.connected(broker.url);
      client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
      await client.waitFor((f) => f.code === 'SYNTAX_ERROR' && /binary/.test(String(f.message)));
      const deep = '['.repeat(30000) + ']'.repeat(30000);
      client.send(`{"op":"publish","id":40,"payload":${deep}}`);
      const deepReply = await client.waitFor((f) => f.id === 40);
      expect(['ok', 'error']).toContain(deepReply.op);
      client.send('{"op":"publish","id":41,"payload":1,"headers":{"__proto__":{"polluted":true}},"__proto__":{"x":1}}');
      expect(await client.waitFor((f) => f.id === 41)).toMatchObject({ op: 'error', code: 'SYNTAX_ERROR' });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect((await client.request({ op: 'queue.declare', queue: '', durable: false, exclusive: true })).op).toBe('ok');
      client.close();
    });

    it('protocol - an oversized message closes only that socket with 1009', async () => {
      const bystander = await RawClient.connected(broker.url);
      const client = await RawClient.connected(broker.url);
      client.send({ op: 'publish', payload: 'x'.repeat(70 * 1024) });
      expect(await client.waitForClose()).toBe(1009);
      expect((await bystander.request({ op: 'queue.declare', queue: '', exclusive: true })).op).toBe('ok');
      bystander.close();
    });
  });

  describe('protocol - publishing and consuming', () => {
    it('protocol - a confirmed publish is delivered with the contract fields and acked', async () => {
      const consumer = await RawClient.connected(broker.url);
      const producer = await RawClient.connected(broker.url);
      await consumer.request({ op: 'queue.declare', queue: 'e2e.basic', durable: false });
      const consumed = await consumer.request({ op: 'consume', queue: 'e2e.basic', prefetch: 10 });
      expect(consumed).toMatchObject({ op: 'ok', consumerTag: expect.any(String) });
      const confirm = await producer.request({
        op: 'publish',
        routingKey: 'e2e.basic',
        payload: { text: 'hi', n: [1, 2] },
        headers: { a: 1 },
        properties: { messageId: 'm1', persistent: true },
      });
      expect(confirm).toEqual({ op: 'ok', id: 2 });
      const delivery = await consumer.waitFor((f) => f.op === 'deliver');
      expect(delivery).toEqual({
        op: 'deliver',
        consumerTag: consumed.consumerTag,
        deliveryTag: 1,
        redelivered: false,
        exchange: '',
        routingKey: 'e2e.basic',
        payload: { text: 'hi', n: [1, 2] },
        headers: { a: 1 },
        properties: { messageId: 'm1', persistent: true },
      });
      consumer.send({ op: 'nack', deliveryTag: 1 });
      const redelivery = await consumer.waitFor((f) => f.op === 'deliver' && f.deliveryTag === 2);
      expect(redelivery).toMatchObject({ redelivered: true, headers: { a: 1, 'x-delivery-count': 1 } });
      consumer.send({ op: 'ack', deliveryTag: 2 });
      expect(await consumer.request({ op: 'queue.declare', queue: 'e2e.basic', passive: true })).toMatchObject({ messageCount: 0, consumerCount: 1 });
      consumer.close();
      producer.close();
    });

    it('protocol - the payload reaches the consumer as the publisher wrote it', async () => {
      const client = await RawClient.connected(broker.url);
      await client.request({ op: 'queue.declare', queue: 'e2e.verbatim', durable: false });
      const texts: string[] = [];
      client.socket.on('message', (data) => texts.push(data.toString()));
      const written = '{ "b" : [1, 2.50, "\\u00e9\\""] ,"a":{} }';
      client.send(`[{"op":"publish","id":90,"routingKey":"e2e.verbatim","payload": ${written} },{"op":"consume","id":91,"queue":"e2e.verbatim","noAck":true}]`);
      await client.waitFor((frame) => frame.op === 'deliver');
      expect(texts.join('\n')).toContain(`"payload":${written},`);
      expect(client.frames.find((frame) => frame.op === 'deliver')?.payload).toEqual({ b: [1, 2.5, 'é"'], a: {} });
      client.close();
    });

    it('protocol - the ok of a consume comes before the deliveries it starts', async () => {
      const client = await RawClient.connected(broker.url);
      await client.request({ op: 'queue.declare', queue: 'e2e.waiting', durable: false });
      await client.request({ op: 'publish', routingKey: 'e2e.waiting', payload: 1 });
      await client.request({ op: 'publish', routingKey: 'e2e.waiting', payload: 2 });
      const start = client.frames.length;
      client.send({ op: 'consume', id: 77, queue: 'e2e.waiting' });
      await client.waitFor(() => client.frames.length >= start + 3);
      expect(client.frames.slice(start).map((frame) => frame.op)).toEqual(['ok', 'deliver', 'deliver']);
      client.close();
    });

    it('protocol - a mandatory unroutable publish is returned before its confirm', async () => {
      const client = await RawClient.connected(broker.url);
      client.send({ op: 'publish', id: 5, exchange: 'amq.direct', routingKey: 'nowhere', payload: 'x', mandatory: true });
      await client.waitFor((f) => f.op === 'ok' && f.id === 5);
      expect(client.frames.slice(1)).toEqual([
        { op: 'return', id: 5, replyCode: 312, replyText: 'NO_ROUTE', exchange: 'amq.direct', routingKey: 'nowhere', payload: 'x', headers: {}, properties: {} },
        { op: 'ok', id: 5 },
      ]);
      client.close();
    });

    it('protocol - a full reject-publish queue nacks the publish and the other queues still get it', async () => {
      const client = await RawClient.connected(broker.url);
      await client.request({ op: 'exchange.declare', exchange: 'e2e.fan', type: 'fanout', durable: false });
      for (const [queue, args] of [['e2e.full', { 'x-max-length': 0, 'x-overflow': 'reject-publish' }], ['e2e.open', {}]] as const) {
        await client.request({ op: 'queue.declare', queue, durable: false, arguments: args });
        await client.request({ op: 'queue.bind', queue, exchange: 'e2e.fan' });
      }
      expect(await client.request({ op: 'publish', exchange: 'e2e.fan', payload: 1 })).toMatchObject({ op: 'error', code: 'REJECTED' });
      expect(await client.request({ op: 'queue.declare', queue: 'e2e.open', passive: true })).toMatchObject({ messageCount: 1 });
      client.close();
    });

    it('protocol - closing a connection requeues its unacked deliveries for another consumer', async () => {
      const first = await RawClient.connected(broker.url);
      await first.request({ op: 'queue.declare', queue: 'e2e.requeue', durable: false });
      await first.request({ op: 'consume', queue: 'e2e.requeue' });
      await first.request({ op: 'publish', routingKey: 'e2e.requeue', payload: 'one' });
      await first.waitFor((f) => f.op === 'deliver');
      first.close();
      const second = await RawClient.connected(broker.url);
      await second.request({ op: 'consume', queue: 'e2e.requeue' });
      expect(await second.waitFor((f) => f.op === 'deliver')).toMatchObject({ payload: 'one', redelivered: true, headers: { 'x-delivery-count': 1 } });
      second.close();
    });

    it('protocol - a consumer whose socket does not read stops getting pushes until it drains', async () => {
      const slow = await RawClient.connected(broker.url);
      const producer = await RawClient.connected(broker.url);
      await slow.request({ op: 'queue.declare', queue: 'e2e.slow', durable: false });
      await slow.request({ op: 'consume', queue: 'e2e.slow', noAck: true });
      slow.socket.pause();
      const total = 4000;
      const payload = 'y'.repeat(8 * 1024);
      for (let i = 0; i < total; i++) producer.send({ op: 'publish', routingKey: 'e2e.slow', payload });
      const counted = await producer.request({ op: 'queue.declare', queue: 'e2e.slow', passive: true });
      // 32 MB cannot all sit in the socket buffers: the broker held the rest back in the queue.
      expect(counted.messageCount as number).toBeGreaterThan(0);
      slow.socket.resume();
      // The last delivery's tag, not a count of all frames: waitFor runs the predicate on every
      // frame each time a WebSocket message arrives, and a count there is quadratic.
      await slow.waitFor((frame) => frame.op === 'deliver' && frame.deliveryTag === total, 20_000);
      expect(slow.frames.filter((frame) => frame.op === 'deliver')).toHaveLength(total);
      slow.close();
      producer.close();
    });

    it('protocol - a peer that stops answering pings is closed and its deliveries requeued', async () => {
      const beating = await startBroker({ server: { heartbeatMs: 200 } });
      try {
        const socket = new WebSocket(beating.url, { autoPong: false });
        await new Promise((resolve) => socket.once('open', resolve));
        const replies: Record<string, unknown>[] = [];
        socket.on('message', (data) => replies.push(JSON.parse(data.toString())));
        socket.send(JSON.stringify([
          { op: 'connect', id: 1, version: 1 },
          { op: 'queue.declare', id: 2, queue: 'hb', durable: false },
          { op: 'consume', id: 3, queue: 'hb' },
          { op: 'publish', id: 4, routingKey: 'hb', payload: 'beat' },
        ]));
        const closed = await new Promise<number>((resolve) => socket.once('close', resolve));
        expect(closed).toBe(1006);
        const watcher = await RawClient.connected(beating.url);
        expect(await watcher.request({ op: 'queue.declare', queue: 'hb', passive: true })).toMatchObject({ messageCount: 1, consumerCount: 0 });
        watcher.close();
      } finally {
        await beating.stop();
      }
    });
  });

  describe('protocol - authentication', () => {
    it('protocol - with users configured, a wrong password is ACCESS_REFUSED and closed with 4401', async () => {
      const secured = await startBroker({ users: [{ username: 'ann', password: 's3cret' }] });
      try {
        const refused = await RawClient.open(secured.url);
        expect(await refused.request({ op: 'connect', version: 1, username: 'ann', password: 'nope' })).toMatchObject({ code: 'ACCESS_REFUSED' });
        expect(await refused.waitForClose()).toBe(4401);
        const accepted = await RawClient.open(secured.url);
        expect((await accepted.request({ op: 'connect', version: 1, username: 'ann', password: 's3cret' })).op).toBe('ok');
        accepted.close();
      } finally {
        await secured.stop();
      }
    });
  });
});
