import { describe, expect, it } from 'vitest';
import { REJECTED, ROUTED, type DeathRecord } from '../../src/broker/index.js';
import { caught, consumeOptions, drain, exchangeOptions, queueOptions, setup } from './helpers.js';

/**
 * A broker with queue `q` declared with `args`, a fanout dead-letter exchange `dlx` and its queue
 * `dlq` (use `'x-dead-letter-exchange': 'dlx'` to dead-letter there).
 */
async function withQueue(args: Record<string, unknown> = {}) {
  const context = await setup();
  const { broker } = context;
  broker.declareExchange('dlx', 'fanout', exchangeOptions(), false);
  broker.declareQueue(null, 'dlq', queueOptions(), false);
  broker.bindQueue(null, 'dlq', 'dlx', '', {});
  broker.declareQueue(null, 'q', queueOptions({ arguments: args }), false);
  const reader = context.connect().connection;
  const send = (payload: unknown, properties: Record<string, unknown> = {}) => context.publish('', 'q', payload, { properties });
  const ready = () => broker.getQueue('q')?.messageCount;
  /** Payload and last death reason of everything dead-lettered so far. */
  const deadLettered = () => {
    const out: [unknown, unknown][] = [];
    for (;;) {
      const { delivery } = reader.get('dlq', true);
      if (!delivery) return out;
      const deaths = delivery.entry.message.headers['x-death'] as DeathRecord[];
      out.push([JSON.parse(delivery.entry.message.payload), deaths[0].reason]);
    }
  };
  return { ...context, reader, send, ready, deadLettered };
}

describe('limits-ttl - message TTL', () => {
  it('limits-ttl - x-message-ttl expires a waiting message after exactly that long', async () => {
    const { clock, send, ready } = await withQueue({ 'x-message-ttl': 1000 });
    send('m');
    clock.advance(1000);
    expect(ready()).toBe(1);
    clock.advance(1);
    expect(ready()).toBe(0);
  });

  it('limits-ttl - per-message expiration expires a waiting message', async () => {
    const { clock, send, ready } = await withQueue();
    send('m', { expiration: 500 });
    send('forever');
    clock.advance(500);
    expect(ready()).toBe(2);
    clock.advance(1);
    expect(ready()).toBe(1);
  });

  it('limits-ttl - the lower of x-message-ttl and expiration wins', async () => {
    for (const [queueTtl, expiration] of [
      [1000, 300],
      [300, 1000],
    ]) {
      const { clock, send, ready } = await withQueue({ 'x-message-ttl': queueTtl });
      send('m', { expiration });
      clock.advance(300);
      expect(ready()).toBe(1);
      clock.advance(1);
      expect(ready()).toBe(0);
    }
  });

  it('limits-ttl - expiration 0 with no consumer expires at once; with a consumer with room it is delivered', async () => {
    const { clock, connect, send, ready } = await withQueue();
    send('lost', { expiration: 0 });
    clock.advance(1);
    expect(ready()).toBe(0);
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions());
    send('taken', { expiration: 0 });
    expect(sink.payloads()).toEqual(['taken']);
  });

  it('limits-ttl - an expired message is dead-lettered at the head without any consumer', async () => {
    const { clock, send, ready, deadLettered } = await withQueue({ 'x-message-ttl': 100, 'x-dead-letter-exchange': 'dlx' });
    send(1);
    clock.advance(50);
    send(2);
    clock.advance(51);
    expect(ready()).toBe(1);
    expect(deadLettered()).toEqual([[1, 'expired']]);
    clock.advance(50);
    expect(ready()).toBe(0);
    expect(deadLettered()).toEqual([[2, 'expired']]);
  });

  it('limits-ttl - an expired message is dropped at the head without a dead-letter exchange', async () => {
    const { clock, send, ready, deadLettered } = await withQueue({ 'x-message-ttl': 100 });
    send(1);
    clock.advance(101);
    expect(ready()).toBe(0);
    expect(deadLettered()).toEqual([]);
  });

  it('limits-ttl - an expired message is never delivered, even before it reaches the head', async () => {
    const { clock, connect, send, reader, deadLettered } = await withQueue({ 'x-dead-letter-exchange': 'dlx' });
    send('head');
    send('short', { expiration: 100 });
    send('tail');
    clock.advance(200);
    // `short` expired behind `head`; neither a get nor a push may hand it out.
    expect(reader.get('q', true).delivery?.entry.message.payload).toBe('"head"');
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions());
    expect(sink.payloads()).toEqual(['tail']);
    expect(deadLettered()).toEqual([['short', 'expired']]);
  });

  it('limits-ttl - an expired message behind the head leaves once it reaches the head', async () => {
    const { clock, send, reader, ready, deadLettered } = await withQueue({ 'x-dead-letter-exchange': 'dlx' });
    send('head');
    send('short', { expiration: 100 });
    clock.advance(200);
    expect(ready()).toBe(2);
    const taken = reader.get('q', false).delivery;
    expect(taken?.entry.message.payload).toBe('"head"');
    clock.advance(1);
    expect(ready()).toBe(0);
    expect(deadLettered()).toEqual([['short', 'expired']]);
    reader.ack(taken?.deliveryTag as number, false);
  });

  it('limits-ttl - a requeued message keeps its original expiry', async () => {
    const { clock, send, reader, ready } = await withQueue({ 'x-message-ttl': 1000 });
    send('m');
    const tag = reader.get('q', false).delivery?.deliveryTag as number;
    clock.advance(600);
    reader.reject(tag, true);
    expect(ready()).toBe(1);
    clock.advance(400);
    expect(ready()).toBe(1);
    clock.advance(1);
    expect(ready()).toBe(0);
  });

  it('limits-ttl - a message requeued after its expiry is never delivered again', async () => {
    const { clock, connect, send, reader, deadLettered } = await withQueue({ 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'dlx' });
    send('m');
    const tag = reader.get('q', false).delivery?.deliveryTag as number;
    clock.advance(1500);
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions());
    reader.reject(tag, true);
    expect(sink.deliveries).toEqual([]);
    expect(reader.get('q', true).delivery).toBeNull();
    clock.advance(1);
    expect(deadLettered()).toEqual([['m', 'expired']]);
  });

  it('limits-ttl - an unacknowledged message does not expire while it is out', async () => {
    const { clock, send, reader, ready } = await withQueue({ 'x-message-ttl': 100, 'x-dead-letter-exchange': 'dlx' });
    send('m');
    const tag = reader.get('q', false).delivery?.deliveryTag as number;
    clock.advance(1000);
    reader.ack(tag, false);
    expect(ready()).toBe(0);
    expect(reader.get('dlq', true).delivery).toBeNull();
  });
});

describe('limits-ttl - queue expiry', () => {
  it('limits-ttl - x-expires deletes an unused queue, without dead-lettering its messages', async () => {
    const { broker, clock, send, deadLettered } = await withQueue({ 'x-expires': 1000, 'x-dead-letter-exchange': 'dlx' });
    send(1);
    clock.advance(999);
    expect(broker.getQueue('q')).toBeDefined();
    clock.advance(1);
    expect(broker.getQueue('q')).toBeUndefined();
    expect(caught(() => broker.declareQueue(null, 'q', queueOptions(), true)).code).toBe('NOT_FOUND');
    expect(deadLettered()).toEqual([]);
  });

  it('limits-ttl - x-expires is reset by a declare, a passive declare and a get', async () => {
    const args = { 'x-expires': 1000 };
    const { broker, clock, reader } = await withQueue(args);
    const uses = [
      () => broker.declareQueue(null, 'q', queueOptions({ arguments: args }), false),
      () => broker.declareQueue(null, 'q', queueOptions(), true),
      () => reader.get('q', false),
    ];
    for (const use of uses) {
      clock.advance(800);
      use();
    }
    clock.advance(999);
    expect(broker.getQueue('q')).toBeDefined();
    clock.advance(1);
    expect(broker.getQueue('q')).toBeUndefined();
  });

  it('limits-ttl - x-expires is not reset by a publish', async () => {
    const { broker, clock, send } = await withQueue({ 'x-expires': 1000 });
    clock.advance(800);
    send(1);
    clock.advance(200);
    expect(broker.getQueue('q')).toBeUndefined();
  });

  it('limits-ttl - x-expires does not delete a queue while it has consumers, and counts again from the last one leaving', async () => {
    const { broker, clock, connect } = await withQueue({ 'x-expires': 1000 });
    const { connection } = connect();
    const tag = connection.consume('q', consumeOptions());
    clock.advance(5000);
    expect(broker.getQueue('q')).toBeDefined();
    connection.cancel(tag);
    clock.advance(999);
    expect(broker.getQueue('q')).toBeDefined();
    clock.advance(1);
    expect(broker.getQueue('q')).toBeUndefined();
  });
});

describe('limits-ttl - length limits', () => {
  it('limits-ttl - x-max-length drops from the head and dead-letters with reason maxlen', async () => {
    const { send, reader, ready, deadLettered } = await withQueue({ 'x-max-length': 2, 'x-dead-letter-exchange': 'dlx' });
    for (const payload of [1, 2, 3, 4]) expect(send(payload)).toBe(ROUTED);
    expect(ready()).toBe(2);
    expect(deadLettered()).toEqual([
      [1, 'maxlen'],
      [2, 'maxlen'],
    ]);
    expect(drain(reader, 'q')).toEqual([3, 4]);
  });

  it('limits-ttl - x-max-length counts ready messages only', async () => {
    const { send, reader, ready, deadLettered } = await withQueue({ 'x-max-length': 1, 'x-dead-letter-exchange': 'dlx' });
    send(1);
    const tag = reader.get('q', false).delivery?.deliveryTag as number;
    send(2);
    expect(deadLettered()).toEqual([]);
    // Back at the head, 1 takes the queue over its limit: as in RabbitMQ, the head is dropped.
    reader.reject(tag, true);
    expect(ready()).toBe(1);
    expect(deadLettered()).toEqual([[1, 'maxlen']]);
    send(3);
    expect(drain(reader, 'q')).toEqual([3]);
    expect(deadLettered()).toEqual([[2, 'maxlen']]);
  });

  it('limits-ttl - reject-publish does not drop a requeued message over the limit', async () => {
    const { send, reader, ready } = await withQueue({ 'x-max-length': 1, 'x-overflow': 'reject-publish' });
    send(1);
    const tag = reader.get('q', false).delivery?.deliveryTag as number;
    send(2);
    reader.reject(tag, true);
    expect(ready()).toBe(2);
    expect(drain(reader, 'q')).toEqual([1, 2]);
  });

  it('limits-ttl - x-max-length 0 drops every message that no consumer takes at once', async () => {
    const { connect, send, ready, deadLettered } = await withQueue({ 'x-max-length': 0, 'x-dead-letter-exchange': 'dlx' });
    send(1);
    expect(ready()).toBe(0);
    expect(deadLettered()).toEqual([[1, 'maxlen']]);
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions());
    send(2);
    expect(sink.payloads()).toEqual([2]);
  });

  it('limits-ttl - x-max-length-bytes counts the UTF-8 bytes of each payload JSON text', async () => {
    // JSON "é" is 4 bytes: two quotes and a 2-byte character.
    const { send, reader, deadLettered } = await withQueue({ 'x-max-length-bytes': 8, 'x-dead-letter-exchange': 'dlx' });
    send('é');
    send('é');
    expect(deadLettered()).toEqual([]);
    send('é');
    expect(deadLettered()).toEqual([['é', 'maxlen']]);
    send(12345);
    // 4 + 4 + 5 = 13 > 8: one drops (9 left, still over), then another (5 left).
    expect(deadLettered()).toEqual([
      ['é', 'maxlen'],
      ['é', 'maxlen'],
    ]);
    expect(drain(reader, 'q')).toEqual([12345]);
  });

  it('limits-ttl - reject-publish refuses a message when full: REJECTED, nothing dropped, other queues still get it', async () => {
    const { broker, publish, reader, deadLettered } = await withQueue({ 'x-max-length': 2, 'x-overflow': 'reject-publish', 'x-dead-letter-exchange': 'dlx' });
    broker.declareExchange('fan', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'other', queueOptions(), false);
    broker.bindQueue(null, 'q', 'fan', '', {});
    broker.bindQueue(null, 'other', 'fan', '', {});
    expect(publish('fan', '', 1)).toBe(ROUTED);
    expect(publish('fan', '', 2)).toBe(ROUTED);
    expect(publish('fan', '', 3)).toBe(ROUTED | REJECTED);
    expect(publish('', 'q', 4)).toBe(ROUTED | REJECTED);
    expect(drain(reader, 'other')).toEqual([1, 2, 3]);
    expect(deadLettered()).toEqual([]);
    // Room again once one leaves.
    reader.get('q', true);
    expect(publish('', 'q', 5)).toBe(ROUTED);
    expect(drain(reader, 'q')).toEqual([2, 5]);
  });

  it('limits-ttl - reject-publish with x-max-length-bytes refuses a message that would go over', async () => {
    const { send, reader } = await withQueue({ 'x-max-length-bytes': 6, 'x-overflow': 'reject-publish' });
    expect(send(123)).toBe(ROUTED);
    expect(send(456)).toBe(ROUTED);
    expect(send(7)).toBe(ROUTED | REJECTED);
    expect(drain(reader, 'q')).toEqual([123, 456]);
  });

  it('limits-ttl - reject-publish-dlx refuses and dead-letters the refused copy with reason maxlen', async () => {
    const { broker, publish, reader, deadLettered } = await withQueue({
      'x-max-length': 1,
      'x-overflow': 'reject-publish-dlx',
      'x-dead-letter-exchange': 'dlx',
    });
    broker.declareExchange('fan', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'other', queueOptions(), false);
    broker.bindQueue(null, 'q', 'fan', '', {});
    broker.bindQueue(null, 'other', 'fan', '', {});
    expect(publish('fan', '', 1)).toBe(ROUTED);
    expect(publish('fan', '', 2)).toBe(ROUTED | REJECTED);
    expect(deadLettered()).toEqual([[2, 'maxlen']]);
    expect(drain(reader, 'q')).toEqual([1]);
    expect(drain(reader, 'other')).toEqual([1, 2]);
  });
});

describe('limits-ttl - priorities', () => {
  it('limits-ttl - x-max-priority delivers higher priorities first, FIFO within one', async () => {
    const { send, reader } = await withQueue({ 'x-max-priority': 10 });
    const priorities = [1, 5, 10, 0, 5, 7];
    priorities.forEach((priority, index) => send(`${index}:p${priority}`, { priority }));
    send('none');
    expect(drain(reader, 'q')).toEqual(['2:p10', '5:p7', '1:p5', '4:p5', '0:p1', '3:p0', 'none']);
  });

  it('limits-ttl - priorities above x-max-priority are capped to it', async () => {
    const { send, reader } = await withQueue({ 'x-max-priority': 3 });
    send('p9', { priority: 9 });
    send('p3', { priority: 3 });
    send('p5', { priority: 5 });
    send('p2', { priority: 2 });
    expect(drain(reader, 'q')).toEqual(['p9', 'p3', 'p5', 'p2']);
  });

  it('limits-ttl - without x-max-priority the priority is ignored', async () => {
    const { send, reader } = await withQueue();
    send('low', { priority: 0 });
    send('high', { priority: 9 });
    expect(drain(reader, 'q')).toEqual(['low', 'high']);
  });

  it('limits-ttl - a requeued message goes back to its place within its priority', async () => {
    const { send, reader } = await withQueue({ 'x-max-priority': 5 });
    send('a5', { priority: 5 });
    send('b5', { priority: 5 });
    send('c1', { priority: 1 });
    const first = reader.get('q', false).delivery?.deliveryTag as number;
    send('d5', { priority: 5 });
    reader.reject(first, true);
    expect(drain(reader, 'q')).toEqual(['a5', 'b5', 'd5', 'c1']);
  });
});

describe('limits-ttl - delivery limit', () => {
  it('limits-ttl - x-delivery-limit N: delivered at most N+1 times, then dead-lettered with reason delivery_limit', async () => {
    const { connect, send, ready, deadLettered } = await withQueue({ 'x-delivery-limit': 2, 'x-dead-letter-exchange': 'dlx' });
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions());
    send('m');
    for (let i = 0; i < 3; i++) connection.nack(sink.deliveries[i].deliveryTag, false, true);
    expect(sink.payloads()).toEqual(['m', 'm', 'm']);
    expect(sink.deliveries.map((d) => d.returns)).toEqual([0, 1, 2]);
    expect(ready()).toBe(0);
    expect(deadLettered()).toEqual([['m', 'delivery_limit']]);
  });

  it('limits-ttl - x-delivery-limit 0: one delivery only; gets and closes count as returns', async () => {
    const { connect, send, reader, ready, deadLettered } = await withQueue({ 'x-delivery-limit': 0, 'x-dead-letter-exchange': 'dlx' });
    send('by-get');
    send('by-close');
    reader.reject(reader.get('q', false).delivery?.deliveryTag as number, true);
    const { connection } = connect();
    connection.get('q', false);
    connection.close();
    expect(ready()).toBe(0);
    expect(deadLettered()).toEqual([
      ['by-get', 'delivery_limit'],
      ['by-close', 'delivery_limit'],
    ]);
  });

  it('limits-ttl - over the delivery limit without a dead-letter exchange the message is dropped', async () => {
    const { send, reader, ready } = await withQueue({ 'x-delivery-limit': 1 });
    send('m');
    reader.reject(reader.get('q', false).delivery?.deliveryTag as number, true);
    const second = reader.get('q', false).delivery;
    expect(second?.entry.returns).toBe(1);
    reader.reject(second?.deliveryTag as number, true);
    expect(ready()).toBe(0);
    expect(reader.get('q', false).delivery).toBeNull();
  });
});
