import { describe, expect, it } from 'vitest';
import { caught, consumeOptions, drain, exchangeOptions, queueOptions, setup } from './helpers.js';

/** A broker with queue `q` (declared with `args`) and a publisher to it. */
async function withQueue(args: Record<string, unknown> = {}, options: Record<string, unknown> = {}) {
  const context = await setup();
  context.broker.declareQueue(null, 'q', queueOptions({ ...options, arguments: args }), false);
  const send = (...payloads: unknown[]) => {
    for (const payload of payloads) context.publish('', 'q', payload);
  };
  return { ...context, send, queue: () => context.broker.getQueue('q') };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('consume - push', () => {
  it('consume - round-robin among consumers of one connection', async () => {
    const { connect, send } = await withQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions({ consumerTag: 'a' }));
    connection.consume('q', consumeOptions({ consumerTag: 'b' }));
    connection.consume('q', consumeOptions({ consumerTag: 'c' }));
    send(...range(0, 7));
    expect(sink.deliveries.map((d) => [d.consumerTag, d.payload])).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
      ['a', 3],
      ['b', 4],
      ['c', 5],
      ['a', 6],
    ]);
  });

  it('consume - round-robin among consumers of several connections', async () => {
    const { connect, send } = await withQueue();
    const first = connect();
    const second = connect();
    first.connection.consume('q', consumeOptions());
    second.connection.consume('q', consumeOptions());
    send(1, 2, 3, 4);
    expect(first.sink.payloads()).toEqual([1, 3]);
    expect(second.sink.payloads()).toEqual([2, 4]);
  });

  it('consume - a consumer that joins gets messages already waiting', async () => {
    const { connect, send, queue } = await withQueue();
    send(1, 2, 3);
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions());
    expect(sink.payloads()).toEqual([1, 2, 3]);
    expect(queue()?.messageCount).toBe(0);
  });

  it('consume - prefetch limits unacknowledged deliveries per consumer', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions({ prefetch: 2 }));
    send(1, 2, 3, 4, 5);
    expect(sink.payloads()).toEqual([1, 2]);
    expect(queue()?.messageCount).toBe(3);
    connection.ack(sink.deliveries[0].deliveryTag, false);
    expect(sink.payloads()).toEqual([1, 2, 3]);
    connection.ack(sink.deliveries[2].deliveryTag, true);
    expect(sink.payloads()).toEqual([1, 2, 3, 4, 5]);
    expect(queue()?.messageCount).toBe(0);
  });

  it('consume - prefetch is per consumer: a full one is skipped in the round', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions({ consumerTag: 'small', prefetch: 1 }));
    connection.consume('q', consumeOptions({ consumerTag: 'big', prefetch: 3 }));
    send(1, 2, 3, 4, 5);
    expect(sink.deliveries.map((d) => [d.consumerTag, d.payload])).toEqual([
      ['small', 1],
      ['big', 2],
      ['big', 3],
      ['big', 4],
    ]);
    expect(queue()?.messageCount).toBe(1);
  });

  it('consume - consumer priority: the highest with room first, lower ones only when the higher have no room', async () => {
    const { connect, send } = await withQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions({ consumerTag: 'low', priority: 0 }));
    connection.consume('q', consumeOptions({ consumerTag: 'high', priority: 10, prefetch: 2 }));
    connection.consume('q', consumeOptions({ consumerTag: 'mid', priority: 5, prefetch: 1 }));
    send(1, 2, 3, 4, 5);
    expect(sink.deliveries.map((d) => [d.consumerTag, d.payload])).toEqual([
      ['high', 1],
      ['high', 2],
      ['mid', 3],
      ['low', 4],
      ['low', 5],
    ]);
    // Room again at the top: the next message goes there, not to `low`.
    connection.ack(sink.deliveries[0].deliveryTag, false);
    send(6);
    expect(sink.deliveries[5].consumerTag).toBe('high');
  });

  it('consume - consumer priority: round-robin among the highest, lower ones get nothing', async () => {
    const { connect, send } = await withQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions({ consumerTag: 'low', priority: -1 }));
    connection.consume('q', consumeOptions({ consumerTag: 'h1', priority: 3 }));
    connection.consume('q', consumeOptions({ consumerTag: 'h2', priority: 3 }));
    send(1, 2, 3, 4);
    expect(sink.deliveries.map((d) => d.consumerTag)).toEqual(['h1', 'h2', 'h1', 'h2']);
  });

  it('consume - single-active-consumer: only the first receives, the next takes over when it cancels', async () => {
    const { connect, send, queue } = await withQueue({ 'x-single-active-consumer': true });
    const first = connect();
    const second = connect();
    const firstTag = first.connection.consume('q', consumeOptions({ prefetch: 2 }));
    second.connection.consume('q', consumeOptions());
    send(1, 2, 3, 4);
    expect(first.sink.payloads()).toEqual([1, 2]);
    expect(second.sink.payloads()).toEqual([]);
    expect(queue()?.messageCount).toBe(2);
    first.connection.ack(first.sink.deliveries[0].deliveryTag, false);
    first.connection.cancel(firstTag);
    // First got 3 when 1 was acked; its unacknowledged 2 and 3 go back to their place, ahead of 4.
    expect(second.sink.payloads()).toEqual([2, 3, 4]);
    expect(second.sink.deliveries.map((d) => d.returns)).toEqual([1, 1, 0]);
  });

  it('consume - single-active-consumer: the next takes over when the active one closes its connection', async () => {
    const { connect, send } = await withQueue({ 'x-single-active-consumer': true });
    const first = connect();
    const second = connect();
    first.connection.consume('q', consumeOptions({ prefetch: 1 }));
    second.connection.consume('q', consumeOptions());
    send(1, 2, 3);
    expect(first.sink.payloads()).toEqual([1]);
    first.connection.close();
    expect(second.sink.payloads()).toEqual([1, 2, 3]);
    expect(second.sink.deliveries.map((d) => d.returns)).toEqual([1, 0, 0]);
  });

  it('consume - closing a connection delivers nothing more to it, even to its other consumers', async () => {
    const { connect, send, queue } = await withQueue({ 'x-single-active-consumer': true });
    const closing = connect();
    const other = connect();
    closing.connection.consume('q', consumeOptions({ consumerTag: 'active', prefetch: 1 }));
    closing.connection.consume('q', consumeOptions({ consumerTag: 'waiting' }));
    send(1, 2, 3);
    closing.connection.close();
    expect(closing.sink.deliveries.map((d) => [d.consumerTag, d.payload])).toEqual([['active', 1]]);
    expect(queue()?.messageCount).toBe(3);
    other.connection.consume('q', consumeOptions());
    expect(other.sink.payloads()).toEqual([1, 2, 3]);
    // Only message 1 was ever delivered, so only it counts a return.
    expect(other.sink.deliveries.map((d) => d.returns)).toEqual([1, 0, 0]);
  });

  it('consume - exclusive consume is refused on a queue with consumers: RESOURCE_LOCKED', async () => {
    const { connect, queue } = await withQueue();
    const first = connect();
    const second = connect();
    first.connection.consume('q', consumeOptions());
    for (const connection of [first.connection, second.connection]) {
      const error = caught(() => connection.consume('q', consumeOptions({ exclusive: true })));
      expect(error.code).toBe('RESOURCE_LOCKED');
      expect(error.message).toContain('"q"');
    }
    expect(queue()?.consumers).toHaveLength(1);
  });

  it('consume - any consume on a queue with an exclusive consumer is RESOURCE_LOCKED, until it cancels', async () => {
    const { connect, send } = await withQueue();
    const owner = connect();
    const other = connect();
    const tag = owner.connection.consume('q', consumeOptions({ exclusive: true }));
    expect(caught(() => other.connection.consume('q', consumeOptions())).code).toBe('RESOURCE_LOCKED');
    expect(caught(() => owner.connection.consume('q', consumeOptions())).code).toBe('RESOURCE_LOCKED');
    expect(caught(() => other.connection.consume('q', consumeOptions({ exclusive: true }))).code).toBe('RESOURCE_LOCKED');
    send(1);
    expect(owner.sink.payloads()).toEqual([1]);
    owner.connection.cancel(tag);
    other.connection.consume('q', consumeOptions());
    expect(other.sink.payloads()).toEqual([1]);
  });

  it('consume - a consumer tag already used on the connection is NOT_ALLOWED', async () => {
    const { broker, connect, send } = await withQueue();
    broker.declareQueue(null, 'q2', queueOptions(), false);
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions({ consumerTag: 'tag' }));
    const error = caught(() => connection.consume('q2', consumeOptions({ consumerTag: 'tag' })));
    expect(error.code).toBe('NOT_ALLOWED');
    expect(error.message).toContain('tag');
    expect(broker.getQueue('q2')?.consumers).toHaveLength(0);
    // Another connection may use the same tag; after a cancel the tag is free again.
    expect(connect().connection.consume('q', consumeOptions({ consumerTag: 'tag' }))).toBe('tag');
    connection.cancel('tag');
    expect(connection.consume('q2', consumeOptions({ consumerTag: 'tag' }))).toBe('tag');
    send(1);
    expect(sink.deliveries).toHaveLength(0);
  });

  it('consume - broker-chosen consumer tags are unique and avoid tags the client chose', async () => {
    const { connect } = await withQueue();
    const { connection } = connect();
    const first = connection.consume('q', consumeOptions());
    const clash = connection.consume('q', consumeOptions({ consumerTag: `amq.ctag-${connection.id}-2` }));
    const second = connection.consume('q', consumeOptions());
    expect(new Set([first, clash, second]).size).toBe(3);
  });

  it('consume - consume on a missing queue is NOT_FOUND', async () => {
    const { connect } = await setup();
    expect(caught(() => connect().connection.consume('missing', consumeOptions())).code).toBe('NOT_FOUND');
  });
});

describe('consume - acknowledgements', () => {
  it('consume - ack settles one delivery for good', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection, sink } = connect();
    const tag = connection.consume('q', consumeOptions());
    send(1, 2);
    connection.ack(sink.deliveries[0].deliveryTag, false);
    connection.cancel(tag);
    // Only the unacknowledged 2 went back.
    expect(queue()?.messageCount).toBe(1);
    expect(drain(connection, 'q')).toEqual([2]);
  });

  it('consume - ack multiple covers every unacknowledged tag up to and including it, across consumers and gets', async () => {
    const { broker, connect, send } = await withQueue();
    broker.declareQueue(null, 'other', queueOptions(), false);
    const { connection, sink } = connect();
    send(1, 2);
    const got = connection.get('q', false).delivery;
    connection.consume('q', consumeOptions({ consumerTag: 'a' }));
    connection.consume('other', consumeOptions({ consumerTag: 'b' }));
    broker.publish('', { exchange: '', routingKey: 'other', headers: {}, properties: {}, payload: '3', size: 1 });
    send(4);
    const tags = sink.deliveries.map((d) => d.deliveryTag);
    expect([got?.deliveryTag, ...tags]).toEqual([1, 2, 3, 4]);
    connection.ack(3, true);
    // 1..3 settled; 4 still outstanding.
    expect(caught(() => connection.ack(1, false)).code).toBe('PRECONDITION_FAILED');
    expect(caught(() => connection.ack(2, false)).code).toBe('PRECONDITION_FAILED');
    expect(caught(() => connection.ack(3, false)).code).toBe('PRECONDITION_FAILED');
    connection.close();
    expect(drain(connect().connection, 'q')).toEqual([4]);
    expect(drain(connect().connection, 'other')).toEqual([]);
  });

  it('consume - nack multiple with requeue returns every covered delivery in order', async () => {
    const { connect, send } = await withQueue();
    const { connection } = connect();
    send(1, 2, 3, 4);
    const tags = [1, 2, 3].map(() => connection.get('q', false).delivery?.deliveryTag as number);
    connection.nack(tags[1], true, true);
    // 1 and 2 back ahead of 4; 3 still outstanding.
    const reader = connect().connection;
    expect(reader.get('q', true).delivery?.entry).toMatchObject({ returns: 1, message: { payload: '1' } });
    expect(reader.get('q', true).delivery?.entry).toMatchObject({ returns: 1, message: { payload: '2' } });
    expect(reader.get('q', true).delivery?.entry).toMatchObject({ returns: 0, message: { payload: '4' } });
    connection.ack(tags[2], false);
  });

  it('consume - nack and reject without requeue drop the message (no dead-letter exchange)', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection } = connect();
    send(1, 2, 3);
    const tags = [1, 2, 3].map(() => connection.get('q', false).delivery?.deliveryTag as number);
    connection.reject(tags[0], false);
    connection.nack(tags[2], true, false);
    connection.close();
    expect(queue()?.messageCount).toBe(0);
  });

  it('consume - reject with requeue redelivers with the return counted', async () => {
    const { connect, send } = await withQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions({ prefetch: 1 }));
    send('m');
    connection.reject(sink.deliveries[0].deliveryTag, true);
    connection.nack(sink.deliveries[1].deliveryTag, false, true);
    expect(sink.payloads()).toEqual(['m', 'm', 'm']);
    expect(sink.deliveries.map((d) => d.returns)).toEqual([0, 1, 2]);
    expect(sink.deliveries.map((d) => d.deliveryTag)).toEqual([1, 2, 3]);
  });

  it('consume - an unknown or already settled tag is PRECONDITION_FAILED and settles nothing', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection } = connect();
    send(1, 2, 3);
    const tags = [1, 2, 3].map(() => connection.get('q', false).delivery?.deliveryTag as number);
    connection.ack(tags[1], false);
    for (const attempt of [
      () => connection.ack(tags[1], true),
      () => connection.ack(tags[1], false),
      () => connection.nack(tags[1], true, false),
      () => connection.reject(tags[1], false),
      () => connection.ack(99, true),
      () => connection.nack(99, true, true),
      () => connection.reject(99, true),
    ]) {
      const error = caught(attempt);
      expect(error.code).toBe('PRECONDITION_FAILED');
    }
    expect(caught(() => connection.ack(99, false)).message).toContain('99');
    // 1 and 3 are still outstanding: they can be settled, and a close requeues them.
    expect(queue()?.messageCount).toBe(0);
    connection.nack(tags[0], false, true);
    connection.close();
    expect(drain(connect().connection, 'q')).toEqual([1, 3]);
  });

  it('consume - another connection cannot settle a delivery', async () => {
    const { connect, send } = await withQueue();
    const owner = connect();
    const other = connect();
    send(1);
    const tag = owner.connection.get('q', false).delivery?.deliveryTag as number;
    expect(caught(() => other.connection.ack(tag, false)).code).toBe('PRECONDITION_FAILED');
    owner.connection.ack(tag, false);
  });

  it('consume - a requeued message goes back to its original position (FIFO kept)', async () => {
    const { connect, send } = await withQueue();
    const { connection } = connect();
    send(...range(0, 6));
    const tags = range(0, 4).map(() => connection.get('q', false).delivery?.deliveryTag as number);
    connection.reject(tags[2], true);
    connection.reject(tags[0], true);
    send(6);
    connection.reject(tags[3], true);
    connection.reject(tags[1], true);
    expect(drain(connection, 'q')).toEqual(range(0, 7));
  });

  it('consume - requeue keeps FIFO over many messages in any return order', async () => {
    const { connect, send } = await withQueue();
    const { connection } = connect();
    send(...range(0, 50));
    const tags = range(0, 45).map(() => connection.get('q', false).delivery?.deliveryTag as number);
    send(...range(50, 60));
    // Evens from the back, then odds from the front.
    const order = [...tags.filter((_, i) => i % 2 === 0).reverse(), ...tags.filter((_, i) => i % 2 === 1)];
    for (const tag of order) connection.reject(tag, true);
    expect(drain(connection, 'q')).toEqual(range(0, 60));
  });

  it('consume - requeue keeps the original position of a message dead-lettered into the queue during a publish', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('f', 'fanout', exchangeOptions(), false);
    broker.declareExchange('dlx', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'q1', queueOptions({ arguments: { 'x-max-length': 1, 'x-dead-letter-exchange': 'dlx' } }), false);
    broker.declareQueue(null, 'q2', queueOptions(), false);
    broker.bindQueue(null, 'q1', 'f', '', {});
    broker.bindQueue(null, 'q2', 'f', '', {});
    broker.bindQueue(null, 'q2', 'dlx', '', {});
    publish('f', '', 'm1');
    publish('f', '', 'm2'); // q1 drops m1 into q2 before q2 gets m2
    const { connection } = connect();
    const label = (message: { payload: string; headers: Record<string, unknown> } | undefined) =>
      `${message?.payload}${message?.headers['x-death'] ? ' (dead)' : ''}`;
    const deliveries = [1, 2, 3].map(() => connection.get('q2', false).delivery);
    expect(deliveries.map((delivery) => label(delivery?.entry.message))).toEqual(['"m1"', '"m1" (dead)', '"m2"']);
    for (const delivery of deliveries) connection.reject(delivery?.deliveryTag as number, true);
    const again = [1, 2, 3].map(() => label(connection.get('q2', true).delivery?.entry.message));
    expect(again).toEqual(['"m1"', '"m1" (dead)', '"m2"']);
  });

  it('consume - cancel requeues unacknowledged deliveries with returns incremented', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection, sink } = connect();
    const tag = connection.consume('q', consumeOptions({ prefetch: 2 }));
    send(1, 2, 3);
    connection.cancel(tag);
    expect(sink.payloads()).toEqual([1, 2]);
    expect(queue()?.consumers).toHaveLength(0);
    expect(queue()?.messageCount).toBe(3);
    const reader = connect();
    reader.connection.consume('q', consumeOptions());
    expect(reader.sink.payloads()).toEqual([1, 2, 3]);
    expect(reader.sink.deliveries.map((d) => d.returns)).toEqual([1, 1, 0]);
    // Their old tags are unknown now.
    expect(caught(() => connection.ack(sink.deliveries[0].deliveryTag, false)).code).toBe('PRECONDITION_FAILED');
  });

  it('consume - connection close requeues unacknowledged deliveries and gets, and cancels its consumers', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection } = connect();
    connection.consume('q', consumeOptions({ prefetch: 1 }));
    send(1, 2, 3);
    connection.get('q', false);
    connection.close();
    connection.close();
    expect(queue()?.consumers).toHaveLength(0);
    expect(queue()?.messageCount).toBe(3);
    const reader = connect().connection;
    const entries = [1, 2, 3].map(() => reader.get('q', true).delivery?.entry);
    expect(entries.map((entry) => [entry?.message.payload, entry?.returns])).toEqual([
      ['1', 1],
      ['2', 1],
      ['3', 0],
    ]);
  });

  it('consume - noAck deliveries need no ack, ignore prefetch and are not requeued', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions({ noAck: true, prefetch: 1 }));
    send(1, 2, 3);
    expect(sink.payloads()).toEqual([1, 2, 3]);
    expect(caught(() => connection.ack(sink.deliveries[0].deliveryTag, false)).code).toBe('PRECONDITION_FAILED');
    connection.close();
    expect(queue()?.messageCount).toBe(0);
  });
});

describe('consume - get', () => {
  it('consume - get returns the head and the ready count left, null when empty', async () => {
    const { connect, send } = await withQueue();
    const { connection } = connect();
    expect(connection.get('q', false)).toEqual({ delivery: null, messageCount: 0 });
    send('a', 'b', 'c');
    const first = connection.get('q', false);
    expect(first.messageCount).toBe(2);
    expect(first.delivery?.deliveryTag).toBe(1);
    expect(first.delivery?.entry.message.payload).toBe('"a"');
    expect(first.delivery?.entry.returns).toBe(0);
    expect(connection.get('q', true).messageCount).toBe(1);
    expect(connection.get('q', true).messageCount).toBe(0);
    expect(connection.get('q', true)).toEqual({ delivery: null, messageCount: 0 });
  });

  it('consume - get without noAck must be settled; with noAck it is gone', async () => {
    const { connect, send, queue } = await withQueue();
    const { connection } = connect();
    send(1, 2);
    const acked = connection.get('q', false).delivery?.deliveryTag as number;
    const gone = connection.get('q', true).delivery?.deliveryTag as number;
    expect(caught(() => connection.ack(gone, false)).code).toBe('PRECONDITION_FAILED');
    connection.reject(acked, true);
    expect(queue()?.messageCount).toBe(1);
    const again = connection.get('q', false).delivery;
    expect(again?.entry.returns).toBe(1);
    expect(again?.entry.message.payload).toBe('1');
    connection.ack(again?.deliveryTag as number, false);
    connection.close();
    expect(queue()?.messageCount).toBe(0);
  });

  it('consume - get on a missing queue is NOT_FOUND', async () => {
    const { connect } = await setup();
    expect(caught(() => connect().connection.get('missing', false)).code).toBe('NOT_FOUND');
  });

  it('consume - delivery tags increase per connection across consumers and gets', async () => {
    const { broker, connect, send } = await withQueue();
    broker.declareQueue(null, 'q2', queueOptions(), false);
    const one = connect();
    const two = connect();
    send(1, 2, 3, 4, 5, 6);
    expect(one.connection.get('q', false).delivery?.deliveryTag).toBe(1);
    expect(one.connection.get('q', true).delivery?.deliveryTag).toBe(2);
    expect(two.connection.get('q', false).delivery?.deliveryTag).toBe(1);
    one.connection.consume('q', consumeOptions({ consumerTag: 'a', prefetch: 1 }));
    one.connection.consume('q2', consumeOptions({ consumerTag: 'b', noAck: true }));
    broker.publish('', { exchange: '', routingKey: 'q2', headers: {}, properties: {}, payload: '0', size: 1 });
    expect(one.connection.get('q', false).delivery?.deliveryTag).toBe(5);
    expect(one.sink.deliveries.map((d) => [d.consumerTag, d.deliveryTag])).toEqual([
      ['a', 3],
      ['b', 4],
    ]);
    one.connection.nack(3, false, true);
    expect(one.sink.deliveries.map((d) => d.deliveryTag)).toEqual([3, 4, 6]);
  });
});

describe('consume - auto-delete queues', () => {
  it('consume - an auto-delete queue is deleted when its last consumer cancels', async () => {
    const { broker, connect, send } = await withQueue({}, { autoDelete: true });
    const first = connect();
    const second = connect();
    const a = first.connection.consume('q', consumeOptions());
    const b = second.connection.consume('q', consumeOptions());
    first.connection.cancel(a);
    expect(broker.getQueue('q')).toBeDefined();
    send(1);
    expect(second.sink.payloads()).toEqual([1]);
    second.connection.cancel(b);
    expect(broker.getQueue('q')).toBeUndefined();
  });

  it('consume - an auto-delete queue is deleted when the connection of its last consumer closes', async () => {
    const { broker, connect } = await withQueue({}, { autoDelete: true });
    const { connection } = connect();
    connection.consume('q', consumeOptions());
    connection.close();
    expect(broker.getQueue('q')).toBeUndefined();
  });

  it('consume - an auto-delete queue that never had a consumer stays', async () => {
    const { broker, connect, send } = await withQueue({}, { autoDelete: true });
    const { connection } = connect();
    send(1, 2);
    connection.get('q', true);
    connection.cancel('none');
    connection.close();
    expect(broker.getQueue('q')?.messageCount).toBe(1);
  });
});

describe('consume - queue deletion', () => {
  it('consume - deleting a queue cancels its consumers, whose deliveries can still be acked', async () => {
    const { broker, connect, send } = await withQueue();
    const { connection, sink } = connect();
    const tag = connection.consume('q', consumeOptions({ consumerTag: 'c1', prefetch: 2 }));
    send(1, 2, 3);
    expect(broker.deleteQueue(null, 'q', false, false)).toBe(1);
    expect(sink.cancelledTags).toEqual([tag]);
    expect(connection.consumers.has(tag)).toBe(false);
    expect(() => connection.ack(sink.deliveries[0].deliveryTag, false)).not.toThrow();
    expect(() => connection.ack(sink.deliveries[1].deliveryTag, false)).not.toThrow();
    expect(caught(() => connection.ack(sink.deliveries[1].deliveryTag, false)).code).toBe('PRECONDITION_FAILED');
    // The tag is free again.
    broker.declareQueue(null, 'q', queueOptions(), false);
    expect(connection.consume('q', consumeOptions({ consumerTag: 'c1' }))).toBe('c1');
  });

  it('consume - requeuing deliveries of a deleted queue drops them, even into a new queue of that name', async () => {
    const { broker, connect, send } = await withQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions());
    send(1, 2, 3);
    broker.deleteQueue(null, 'q', false, false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    connection.reject(sink.deliveries[0].deliveryTag, true);
    connection.nack(sink.deliveries[1].deliveryTag, false, true);
    expect(broker.getQueue('q')?.messageCount).toBe(0);
    connection.close();
    expect(broker.getQueue('q')?.messageCount).toBe(0);
    expect(sink.cancelledTags).toHaveLength(1);
  });

  it('consume - a consumer cancelled by its client is not told it was cancelled', async () => {
    const { connect } = await withQueue();
    const { connection, sink } = connect();
    connection.cancel(connection.consume('q', consumeOptions()));
    expect(sink.cancelledTags).toEqual([]);
  });
});

describe('consume - backpressure', () => {
  it('consume - setWritable(false) stops pushes and setWritable(true) resumes them', async () => {
    const { connect, send, queue } = await withQueue();
    const slow = connect();
    slow.connection.consume('q', consumeOptions());
    send(1);
    slow.connection.setWritable(false);
    send(2, 3);
    expect(slow.sink.payloads()).toEqual([1]);
    expect(queue()?.messageCount).toBe(2);
    slow.connection.setWritable(true);
    expect(slow.sink.payloads()).toEqual([1, 2, 3]);
    expect(queue()?.messageCount).toBe(0);
  });

  it('consume - a blocked connection does not hold up consumers on other connections', async () => {
    const { connect, send } = await withQueue();
    const slow = connect();
    const fast = connect();
    slow.connection.consume('q', consumeOptions());
    fast.connection.consume('q', consumeOptions());
    slow.connection.setWritable(false);
    send(1, 2, 3);
    expect(slow.sink.payloads()).toEqual([]);
    expect(fast.sink.payloads()).toEqual([1, 2, 3]);
  });

  it('consume - a resumed connection gets messages from every queue it consumes', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareQueue(null, 'a', queueOptions(), false);
    broker.declareQueue(null, 'b', queueOptions(), false);
    const { connection, sink } = connect();
    connection.setWritable(false);
    connection.consume('a', consumeOptions());
    connection.consume('b', consumeOptions());
    publish('', 'a', 'a1');
    publish('', 'b', 'b1');
    expect(sink.payloads()).toEqual([]);
    connection.setWritable(true);
    expect(sink.payloads().sort()).toEqual(['a1', 'b1']);
  });
});
