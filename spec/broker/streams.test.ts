import { describe, expect, it } from 'vitest';
import { Broker, StreamQueue } from '../../src/broker/index.js';
import { caught, consumeOptions, queueOptions, setup } from './helpers.js';

// docs/protocol.md, "Stream queues": the model over the memory store's stream log.

const STREAM = { 'x-queue-type': 'stream' };

async function withStream(args: Record<string, unknown> = {}) {
  const context = await setup();
  context.broker.declareQueue(null, 's', queueOptions({ arguments: { ...STREAM, ...args } }), false);
  const publishN = (from: number, to: number) => {
    for (let n = from; n <= to; n++) context.publish('', 's', n);
  };
  const stream = context.broker.getQueue('s') as StreamQueue;
  return { ...context, stream, publishN };
}

/** A consumer on `s` with `args`, and what it was delivered: payload and x-stream-offset. */
function reader(context: Awaited<ReturnType<typeof withStream>>, args: Record<string, unknown>, prefetch = 100) {
  const { connection, sink } = context.connect();
  const tag = connection.consume('s', consumeOptions({ prefetch, arguments: args }));
  const seen = () => sink.deliveries.map((delivery) => [delivery.payload, delivery.entry.message.headers['x-stream-offset']]);
  const ackAll = () => {
    for (const delivery of sink.deliveries.splice(0)) connection.ack(delivery.deliveryTag, false);
  };
  return { connection, sink, tag, seen, ackAll };
}

describe('streams - declare', () => {
  it('streams - a stream is durable, not exclusive or auto-delete, and refuses what a log cannot have', async () => {
    const { broker } = await setup();
    const refused = (options: Record<string, unknown>) => caught(() => broker.declareQueue(null, 'bad', queueOptions({ ...options, arguments: { ...STREAM, ...(options.arguments as object) } }), false));
    expect(refused({ durable: false }).message).toMatch(/streams are always durable/);
    expect(refused({ exclusive: true }).code).toBe('PRECONDITION_FAILED');
    for (const key of ['x-dead-letter-exchange', 'x-message-ttl', 'x-max-length', 'x-max-priority', 'x-overflow', 'x-delivery-limit']) {
      expect(refused({ arguments: { [key]: key === 'x-overflow' || key === 'x-dead-letter-exchange' ? 'x' : 1 } }).message).toMatch(new RegExp(`with argument ${key}`));
    }
    expect(refused({ arguments: { 'x-max-age': '7 days' } }).message).toMatch(/x-max-age must be a positive whole number and a unit/);
    broker.declareQueue(null, 'ok', queueOptions({ arguments: { ...STREAM, 'x-max-age': '7D', 'x-max-length-bytes': 1_000_000, 'x-stream-max-segment-size-bytes': 100_000 } }), false);
    expect(broker.getQueue('ok')).toBeInstanceOf(StreamQueue);
  });
});

describe('streams - consume', () => {
  it('streams - each delivery carries its offset; first, last, next, an offset and a timestamp start where they say', async () => {
    const context = await withStream();
    const { clock, publishN } = context;
    publishN(0, 4);
    clock.advance(1000);
    publishN(5, 9);
    expect(reader(context, { 'x-stream-offset': 'first' }).seen()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => [n, n]));
    expect(reader(context, { 'x-stream-offset': 'last' }).seen()).toEqual([[9, 9]]);
    expect(reader(context, { 'x-stream-offset': 7 }).seen()).toEqual([[7, 7], [8, 8], [9, 9]]);
    expect(reader(context, { 'x-stream-offset': 500 }).seen()).toEqual([]);
    expect(reader(context, { 'x-stream-offset': { timestamp: clock.now() } }).seen().map(([n]) => n)).toEqual([5, 6, 7, 8, 9]);
    const next = reader(context, {});
    expect(next.seen()).toEqual([]);
    publishN(10, 10);
    expect(next.seen()).toEqual([[10, 10]]);
  });

  it('streams - prefetch is credit: a reader gets that many until it acks, and a slow reader holds back nobody', async () => {
    const context = await withStream();
    context.publishN(0, 9);
    const slow = reader(context, { 'x-stream-offset': 'first' }, 2);
    const fast = reader(context, { 'x-stream-offset': 'first' }, 100);
    expect(slow.seen()).toHaveLength(2);
    expect(fast.seen()).toHaveLength(10);
    slow.ackAll();
    expect(slow.sink.deliveries.map((delivery) => delivery.payload)).toEqual([2, 3]);
    // Reading removes nothing.
    expect(context.stream.messageCount).toBe(10);
  });

  it('streams - consumers must ack with a prefetch; get and purge are not allowed; nack changes nothing', async () => {
    const context = await withStream();
    const { connection, sink } = context.connect();
    expect(caught(() => connection.consume('s', consumeOptions({ prefetch: 10, noAck: true }))).code).toBe('PRECONDITION_FAILED');
    expect(caught(() => connection.consume('s', consumeOptions({ prefetch: 0 }))).message).toMatch(/prefetch of at least 1/);
    expect(caught(() => connection.consume('s', consumeOptions({ prefetch: 1, arguments: { 'x-stream-offset': 'middle' } }))).message).toMatch(/x-stream-offset must be/);
    expect(connection.consumers.size).toBe(0);
    expect(caught(() => connection.get('s', false)).code).toBe('NOT_ALLOWED');
    expect(caught(() => context.broker.purgeQueue(null, 's')).code).toBe('NOT_ALLOWED');
    context.publishN(0, 1);
    connection.consume('s', consumeOptions({ prefetch: 1, arguments: { 'x-stream-offset': 'first' } }));
    connection.nack(sink.deliveries[0].deliveryTag, false, true);
    expect(sink.deliveries.map((delivery) => delivery.payload)).toEqual([0, 1]);
  });
});

describe('streams - consumer groups', () => {
  it('streams - one consumer of a group is active; the next takes over after the last offset acked with all before it', async () => {
    const context = await withStream();
    context.publishN(0, 5);
    const a = reader(context, { 'x-stream-consumer': 'billing', 'x-stream-offset': 'first' }, 10);
    const b = reader(context, { 'x-stream-consumer': 'billing' }, 10);
    expect(a.seen()).toHaveLength(6);
    expect(b.seen()).toEqual([]);
    // Acked 0, 1 and 3: the committed offset is 1 (2 is not acked).
    for (const tag of [1, 2, 4]) a.connection.ack(tag, false);
    expect(context.stream.committed('billing')).toBe(1);
    a.connection.close();
    expect(b.seen().map(([n]) => n)).toEqual([2, 3, 4, 5]);
  });

  it('streams - a group consume without x-stream-offset starts after its committed offset; fetch, commit and committed are the pull side', async () => {
    const context = await withStream();
    context.publishN(0, 9);
    const { stream } = context;
    expect(stream.fetch(0, 3).map((entry) => entry.offset)).toEqual([0, 1, 2]);
    expect(stream.fetch(8, 100).map((entry) => JSON.parse(entry.message.payload))).toEqual([8, 9]);
    expect(stream.fetch(10, 100)).toEqual([]);
    expect(stream.committed('reports')).toBeNull();
    stream.commit('reports', 6);
    expect(caught(() => stream.commit('reports', 10)).code).toBe('PRECONDITION_FAILED');
    expect(reader(context, { 'x-stream-consumer': 'reports' }).seen().map(([n]) => n)).toEqual([7, 8, 9]);
    expect(caught(() => context.broker.streamFor(null, 'nope')).code).toBe('NOT_FOUND');
  });

  it('streams - offsets and commits survive a broker restart on the same store', async () => {
    const context = await withStream();
    context.publishN(0, 4);
    context.stream.commit('g', 2);
    context.broker.shutdown();
    const restarted = await Broker.open(context.store, context.clock);
    const stream = restarted.streamFor(null, 's');
    expect([stream.firstOffset, stream.nextOffset, stream.committed('g')]).toEqual([0, 5, 2]);
  });
});

describe('streams - retention', () => {
  it('streams - x-max-age drops whole old segments on the queue\'s timer; a reader below them starts at the first kept', async () => {
    const context = await withStream({ 'x-max-age': '10s', 'x-stream-max-segment-size-bytes': 200 });
    context.publishN(0, 19);
    context.clock.advance(11_000);
    context.publishN(20, 29);
    context.clock.advance(1000);
    const { stream } = context;
    expect(stream.firstOffset).toBeGreaterThan(0);
    expect(stream.nextOffset).toBe(30);
    const first = reader(context, { 'x-stream-offset': 0 });
    expect(first.seen()[0][1]).toBe(stream.firstOffset);
  });
});

describe('streams - groups for the management API', () => {
  it('streams - every group with a commit or consumers, its committed offset, lag and consumers', async () => {
    const context = await withStream();
    context.publishN(0, 9);
    context.stream.commit('reports', 6);
    reader(context, { 'x-stream-consumer': 'live', 'x-stream-offset': 'next' });
    reader(context, { 'x-stream-consumer': 'live' });
    expect(context.stream.groupStates()).toEqual([
      { name: 'live', committed: null, lag: 10, consumers: 2 },
      { name: 'reports', committed: 6, lag: 3, consumers: 0 },
    ]);
  });
});

describe('streams - the vhost counts', () => {
  it('streams - a stream\'s entries count as its vhost\'s ready messages, from a restart on, and leave with the stream', async () => {
    const context = await withStream();
    context.publishN(0, 4);
    expect(context.broker.totals.messagesReady).toBe(5);
    context.broker.shutdown();
    const restarted = await Broker.open(context.store, context.clock);
    expect(restarted.totals.messagesReady).toBe(5);
    expect(restarted.deleteQueue(null, 's', false, false)).toBe(5);
    expect(restarted.totals.messagesReady).toBe(0);
  });
});
