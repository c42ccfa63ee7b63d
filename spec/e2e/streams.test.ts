import { describe, expect, it } from 'vitest';
import { connect, type Delivery } from '../../src/client/index.js';
import { api, eventually, RawClient, startBroker, type Frame } from './harness.js';

// docs/protocol.md, "Stream queues", through the real process and its journal.

const STREAM = { 'x-queue-type': 'stream' };
const deliveries = (client: RawClient, tag: unknown) => client.frames.filter((frame) => frame.op === 'deliver' && frame.consumerTag === tag);
const offsetsOf = (frames: Frame[]) => frames.map((frame) => (frame.headers as Record<string, unknown>)['x-stream-offset']);

describe('streams - through the broker process', () => {
  it('streams - confirmed appends are read by offset, pushed and pulled, and groups keep their committed offset across a restart', async () => {
    let broker = await startBroker();
    const client = await RawClient.connected(broker.url);
    expect(await client.request({ op: 'queue.declare', queue: 'events', arguments: STREAM })).toMatchObject({ op: 'ok', messageCount: 0 });
    for (let n = 0; n < 20; n++) expect(await client.request({ op: 'publish', exchange: '', routingKey: 'events', payload: { n } })).toMatchObject({ op: 'ok' });
    const pushed = await client.request({ op: 'consume', queue: 'events', prefetch: 5, arguments: { 'x-stream-offset': 'first' } });
    await eventually(() => deliveries(client, pushed.consumerTag).length === 5, 'five deliveries: the prefetch');
    expect(offsetsOf(deliveries(client, pushed.consumerTag))).toEqual([0, 1, 2, 3, 4]);
    client.send({ op: 'ack', deliveryTag: deliveries(client, pushed.consumerTag)[4].deliveryTag, multiple: true });
    await eventually(() => deliveries(client, pushed.consumerTag).length === 10, 'five more after the acks');
    const fetched = await client.request({ op: 'fetch', queue: 'events', offset: 18, max: 10 });
    expect(fetched).toMatchObject({ op: 'ok', first: 0, next: 20 });
    expect((fetched.messages as Frame[]).map((entry) => [entry.offset, (entry.payload as { n: number }).n])).toEqual([
      [18, 18],
      [19, 19],
    ]);
    expect(await client.request({ op: 'get', queue: 'events' })).toMatchObject({ op: 'error', code: 'NOT_ALLOWED' });
    expect(await client.request({ op: 'commit', queue: 'events', consumer: 'audit', offset: 11 })).toMatchObject({ op: 'ok' });
    expect(await client.request({ op: 'committed', queue: 'events', consumer: 'audit' })).toMatchObject({ op: 'ok', offset: 11 });
    expect(await client.request({ op: 'committed', queue: 'events', consumer: 'nobody' })).toMatchObject({ op: 'ok', offset: null });
    const queue = (await api(broker, '/api/queues/%2F/events')).body as Record<string, unknown>;
    expect(queue).toMatchObject({ type: 'stream', messages_ready: 20, stream: { first_offset: 0, next_offset: 20 } });
    client.close();

    expect(await broker.stop('SIGTERM')).toBe(0);
    broker = await startBroker({}, [], 0, { dataDir: broker.dataDir });
    try {
      const again = await RawClient.connected(broker.url);
      expect(await again.request({ op: 'committed', queue: 'events', consumer: 'audit' })).toMatchObject({ offset: 11 });
      const group = await again.request({ op: 'consume', queue: 'events', prefetch: 100, arguments: { 'x-stream-consumer': 'audit' } });
      await eventually(() => deliveries(again, group.consumerTag).length === 8, 'the group resumes after its committed offset');
      expect(offsetsOf(deliveries(again, group.consumerTag))).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);
      expect(await again.request({ op: 'publish', exchange: '', routingKey: 'events', payload: 'after' })).toMatchObject({ op: 'ok' });
      await eventually(() => deliveries(again, group.consumerTag).length === 9, 'a new entry is pushed');
      expect(offsetsOf(deliveries(again, group.consumerTag)).at(-1)).toBe(20);
      again.close();
    } finally {
      await broker.stop();
    }
  });

  it('streams - every confirmed append survives kill -9 with its offset', async () => {
    let broker = await startBroker();
    const client = await RawClient.connected(broker.url);
    await client.request({ op: 'queue.declare', queue: 'log', arguments: STREAM });
    for (let n = 0; n < 2000; n++) client.send({ op: 'publish', id: 1000 + n, exchange: '', routingKey: 'log', payload: n });
    await client.waitFor((frame) => frame.id === 1000 + 1999, 20_000);
    const confirmed = client.frames.filter((frame) => frame.op === 'ok' && (frame.id as number) >= 1000).length;
    expect(confirmed).toBe(2000);
    await broker.stop('SIGKILL');
    broker = await startBroker({}, [], 0, { dataDir: broker.dataDir });
    try {
      const reader = await RawClient.connected(broker.url);
      const payloads: unknown[] = [];
      for (let offset = 0; offset < 2000; ) {
        const { messages } = (await reader.request({ op: 'fetch', queue: 'log', offset, max: 1000 })) as { messages: Frame[] };
        expect(messages.length).toBeGreaterThan(0);
        for (const entry of messages) {
          expect(entry.offset).toBe(payloads.length);
          payloads.push(entry.payload);
        }
        offset += messages.length;
      }
      expect(payloads).toEqual(Array.from({ length: 2000 }, (_, n) => n));
      reader.close();
    } finally {
      await broker.stop();
    }
  });

  it('streams - the client library: consume from an offset in a group, fetch, commit and committed', async () => {
    const broker = await startBroker();
    const client = await connect(broker.url);
    try {
      await client.declareQueue('feed', { arguments: STREAM });
      for (let n = 0; n < 5; n++) await client.publish('', 'feed', n);
      const seen: number[] = [];
      await client.consume(
        'feed',
        (message: Delivery) => {
          seen.push(message.headers['x-stream-offset'] as number);
          message.ack();
        },
        { prefetch: 10, offset: 'first', group: 'ui' },
      );
      await eventually(() => seen.length === 5, 'five deliveries');
      await eventually(async () => (await client.committed('feed', 'ui')) === 4, 'the group committed its last ack');
      const { messages, first, next } = await client.fetch('feed', 3);
      expect([messages.map((entry) => entry.payload), first, next]).toEqual([[3, 4], 0, 5]);
      await client.commit('feed', 'other', 2);
      expect(await client.committed('feed', 'other')).toBe(2);
    } finally {
      await client.close();
      await broker.stop();
    }
  });
});
