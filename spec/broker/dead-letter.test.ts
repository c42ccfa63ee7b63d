import { describe, expect, it } from 'vitest';
import type { Connection, DeathRecord, Message } from '../../src/broker/index.js';
import { consumeOptions, exchangeOptions, queueOptions, setup } from './helpers.js';

const START = 1_000_000; // FakeClock's initial time

/** Takes the next ready message of `queue` (noAck) and returns it whole; fails when there is none. */
function take(connection: Connection, queue: string): Message {
  const { delivery } = connection.get(queue, true);
  if (!delivery) throw new Error(`queue ${queue} has no ready message`);
  return delivery.entry.message;
}

/** Gets one message from `queue` and rejects it without requeue. */
function rejectNext(connection: Connection, queue: string): void {
  const { delivery } = connection.get(queue, false);
  if (!delivery) throw new Error(`queue ${queue} has no ready message`);
  connection.reject(delivery.deliveryTag, false);
}

const deaths = (message: Message) => message.headers['x-death'] as DeathRecord[];

/** Exchange `work` (direct, key `job`) into `q`, whose dead-letter exchange is the fanout `dlx` into `dlq`. */
async function withDeadLetterQueue(args: Record<string, unknown> = {}) {
  const context = await setup();
  const { broker } = context;
  broker.declareExchange('work', 'direct', exchangeOptions(), false);
  broker.declareExchange('dlx', 'fanout', exchangeOptions(), false);
  broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-dead-letter-exchange': 'dlx', ...args } }), false);
  broker.declareQueue(null, 'dlq', queueOptions(), false);
  broker.bindQueue(null, 'q', 'work', 'job', {});
  broker.bindQueue(null, 'dlq', 'dlx', '', {});
  return { ...context, reader: context.connect().connection };
}

describe('dead-letter - x-death', () => {
  it('dead-letter - a rejected message is republished with x-death and the first/last-death headers exactly', async () => {
    const { clock, publish, reader } = await withDeadLetterQueue();
    publish('work', 'job', { n: 1 }, { headers: { mine: 'kept' }, properties: { messageId: 'm-1', persistent: true, priority: 3 } });
    clock.advance(250);
    rejectNext(reader, 'q');
    const dead = take(reader, 'dlq');
    expect(dead.exchange).toBe('dlx');
    expect(dead.routingKey).toBe('job');
    expect(JSON.parse(dead.payload)).toEqual({ n: 1 });
    expect(dead.properties).toEqual({ messageId: 'm-1', persistent: true, priority: 3 });
    expect(dead.headers).toEqual({
      mine: 'kept',
      'x-death': [{ queue: 'q', reason: 'rejected', count: 1, exchange: 'work', 'routing-keys': ['job'], time: START + 250 }],
      'x-first-death-queue': 'q',
      'x-first-death-reason': 'rejected',
      'x-first-death-exchange': 'work',
      'x-last-death-queue': 'q',
      'x-last-death-reason': 'rejected',
      'x-last-death-exchange': 'work',
    });
  });

  it('dead-letter - nack without requeue dead-letters with reason rejected, multiple included', async () => {
    const { connect, publish, reader } = await withDeadLetterQueue();
    const { connection, sink } = connect();
    connection.consume('q', consumeOptions());
    publish('work', 'job', 1);
    publish('work', 'job', 2);
    connection.nack(sink.deliveries[1].deliveryTag, true, false);
    expect([take(reader, 'dlq'), take(reader, 'dlq')].map((m) => [m.payload, deaths(m)[0].reason])).toEqual([
      ['1', 'rejected'],
      ['2', 'rejected'],
    ]);
  });

  it('dead-letter - the original message is not changed: other queues keep it without x-death', async () => {
    const { broker, publish, reader } = await withDeadLetterQueue();
    broker.declareQueue(null, 'sibling', queueOptions(), false);
    broker.bindQueue(null, 'sibling', 'work', 'job', {});
    publish('work', 'job', 'shared', { headers: { h: 1 } });
    rejectNext(reader, 'q');
    expect(take(reader, 'dlq').headers['x-death']).toHaveLength(1);
    expect(take(reader, 'sibling').headers).toEqual({ h: 1 });
  });

  it('dead-letter - x-death is most recent first; a recurring pair counts up, moves to the front and keeps its first time, exchange and keys', async () => {
    const { broker, clock, publish, connect } = await setup();
    const reader = connect().connection;
    broker.declareExchange('work', 'direct', exchangeOptions(), false);
    // a and b dead-letter into each other through the default exchange.
    broker.declareQueue(null, 'a', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'b' } }), false);
    broker.declareQueue(null, 'b', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'a' } }), false);
    broker.bindQueue(null, 'a', 'work', 'job', {});
    publish('work', 'job', 'm');
    clock.advance(10);
    rejectNext(reader, 'a'); // time START+10, into b as ('', 'b')
    clock.advance(10);
    rejectNext(reader, 'b'); // time START+20, into a as ('', 'a')
    clock.advance(10);
    rejectNext(reader, 'a'); // time START+30: the (a, rejected) pair recurs
    const message = take(reader, 'b');
    expect(message.exchange).toBe('');
    expect(message.routingKey).toBe('b');
    expect(deaths(message)).toEqual([
      { queue: 'a', reason: 'rejected', count: 2, exchange: 'work', 'routing-keys': ['job'], time: START + 10 },
      { queue: 'b', reason: 'rejected', count: 1, exchange: '', 'routing-keys': ['b'], time: START + 20 },
    ]);
    expect(message.headers['x-first-death-queue']).toBe('a');
    expect(message.headers['x-first-death-exchange']).toBe('work');
    expect(message.headers['x-last-death-queue']).toBe('a');
    expect(message.headers['x-last-death-exchange']).toBe('');
  });

  it('dead-letter - one entry per (queue, reason) pair: another reason in the same queue is a new entry', async () => {
    const { broker, clock, publish, connect } = await setup();
    const reader = connect().connection;
    broker.declareQueue(null, 'a', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'b', 'x-message-ttl': 100 } }), false);
    broker.declareQueue(null, 'b', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'a' } }), false);
    broker.declareQueue(null, 'end', queueOptions(), false);
    publish('', 'a', 'm');
    rejectNext(reader, 'a'); // (a, rejected) at START
    rejectNext(reader, 'b'); // (b, rejected) at START
    clock.advance(101); // (a, expired) at START+101
    const message = take(reader, 'b');
    expect(deaths(message).map((death) => [death.queue, death.reason, death.count, death.time])).toEqual([
      ['a', 'expired', 1, START + 101],
      ['b', 'rejected', 1, START],
      ['a', 'rejected', 1, START],
    ]);
    expect(message.headers['x-first-death-reason']).toBe('rejected');
    expect(message.headers['x-last-death-reason']).toBe('expired');
  });

  it('dead-letter - x-first-death-* never change, x-last-death-* follow the latest death', async () => {
    const { broker, clock, publish, connect } = await setup();
    const reader = connect().connection;
    broker.declareExchange('work', 'topic', exchangeOptions(), false);
    broker.declareExchange('dlx2', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'first', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'second' } }), false);
    broker.declareQueue(null, 'second', queueOptions({ arguments: { 'x-dead-letter-exchange': 'dlx2', 'x-message-ttl': 50 } }), false);
    broker.declareQueue(null, 'third', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'end', 'x-max-length': 0 } }), false);
    broker.declareQueue(null, 'end', queueOptions(), false);
    broker.bindQueue(null, 'first', 'work', '#', {});
    broker.bindQueue(null, 'third', 'dlx2', '', {});
    publish('work', 'a.b', 'm');
    rejectNext(reader, 'first');
    clock.advance(51); // expires in second, into third, dropped there at once by x-max-length 0
    const message = take(reader, 'end');
    expect(message.headers).toMatchObject({
      'x-first-death-queue': 'first',
      'x-first-death-reason': 'rejected',
      'x-first-death-exchange': 'work',
      'x-last-death-queue': 'third',
      'x-last-death-reason': 'maxlen',
      'x-last-death-exchange': 'dlx2',
    });
    expect(deaths(message).map((death) => [death.queue, death.reason, death.exchange, death['routing-keys']])).toEqual([
      ['third', 'maxlen', 'dlx2', ['second']],
      ['second', 'expired', '', ['second']],
      ['first', 'rejected', 'work', ['a.b']],
    ]);
  });
});

describe('dead-letter - expiration', () => {
  it('dead-letter - expiration is removed and kept as original-expiration', async () => {
    const { publish, reader } = await withDeadLetterQueue();
    publish('work', 'job', 'm', { properties: { expiration: 60_000, appId: 'app' } });
    rejectNext(reader, 'q');
    const dead = take(reader, 'dlq');
    expect(dead.properties).toEqual({ appId: 'app' });
    expect(deaths(dead)[0]['original-expiration']).toBe(60_000);
  });

  it('dead-letter - an expired message carries original-expiration; one without expiration has none', async () => {
    const { clock, publish, reader } = await withDeadLetterQueue({ 'x-message-ttl': 1000 });
    publish('work', 'job', 'per-message', { properties: { expiration: 100 } });
    clock.advance(101);
    const dead = take(reader, 'dlq');
    expect(dead.properties).toEqual({});
    expect(deaths(dead)).toEqual([{ queue: 'q', reason: 'expired', count: 1, exchange: 'work', 'routing-keys': ['job'], time: START + 101, 'original-expiration': 100 }]);
    publish('work', 'job', 'queue-ttl');
    clock.advance(1001);
    expect(deaths(take(reader, 'dlq'))[0]).not.toHaveProperty('original-expiration');
  });

  it('dead-letter - a dead-lettered message no longer expires in its next queue unless that queue has a TTL', async () => {
    const { clock, publish, reader } = await withDeadLetterQueue();
    publish('work', 'job', 'm', { properties: { expiration: 100 } });
    rejectNext(reader, 'q');
    clock.advance(10_000);
    expect(take(reader, 'dlq').payload).toBe('"m"');
  });
});

describe('dead-letter - routing', () => {
  it('dead-letter - x-dead-letter-routing-key replaces the routing key; x-death keeps the original', async () => {
    const { broker, publish, connect } = await setup();
    const reader = connect().connection;
    broker.declareExchange('dlx', 'direct', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-dead-letter-exchange': 'dlx', 'x-dead-letter-routing-key': 'dead' } }), false);
    broker.declareQueue(null, 'by-own-key', queueOptions(), false);
    broker.declareQueue(null, 'by-dl-key', queueOptions(), false);
    broker.bindQueue(null, 'by-own-key', 'dlx', 'q', {});
    broker.bindQueue(null, 'by-dl-key', 'dlx', 'dead', {});
    publish('', 'q', 'm');
    rejectNext(reader, 'q');
    expect(reader.get('by-own-key', true).delivery).toBeNull();
    const dead = take(reader, 'by-dl-key');
    expect(dead.routingKey).toBe('dead');
    expect(deaths(dead)[0]['routing-keys']).toEqual(['q']);
  });

  it('dead-letter - without x-dead-letter-routing-key the message keeps its own routing key', async () => {
    const { broker, publish, connect } = await setup();
    const reader = connect().connection;
    broker.declareExchange('dlx', 'topic', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-dead-letter-exchange': 'dlx' } }), false);
    broker.declareQueue(null, 'orders', queueOptions(), false);
    broker.declareQueue(null, 'others', queueOptions(), false);
    broker.bindQueue(null, 'orders', 'dlx', 'q', {});
    broker.bindQueue(null, 'others', 'dlx', 'other', {});
    publish('', 'q', 'm');
    rejectNext(reader, 'q');
    expect(take(reader, 'orders').routingKey).toBe('q');
    expect(reader.get('others', true).delivery).toBeNull();
  });

  it('dead-letter - a missing dead-letter exchange drops the message', async () => {
    const { broker, publish, connect } = await setup();
    const reader = connect().connection;
    broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-dead-letter-exchange': 'missing' } }), false);
    publish('', 'q', 'm');
    expect(() => rejectNext(reader, 'q')).not.toThrow();
    expect(broker.queueNames().map((name) => broker.getQueue(name)?.messageCount)).toEqual([0]);
  });

  it('dead-letter - a dead-letter exchange that was deleted drops the message', async () => {
    const { broker, publish, reader } = await withDeadLetterQueue();
    broker.deleteExchange('dlx', false);
    publish('work', 'job', 'm');
    rejectNext(reader, 'q');
    expect(broker.getQueue('dlq')?.messageCount).toBe(0);
    expect(broker.getQueue('q')?.messageCount).toBe(0);
  });

  it('dead-letter - without a dead-letter exchange a rejected message is dropped', async () => {
    const { broker, publish, connect } = await setup();
    const reader = connect().connection;
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.declareQueue(null, 'other', queueOptions(), false);
    publish('', 'q', 'm');
    rejectNext(reader, 'q');
    expect([broker.getQueue('q')?.messageCount, broker.getQueue('other')?.messageCount]).toEqual([0, 0]);
  });
});

describe('dead-letter - cycles', () => {
  it('dead-letter - a message expiring back into its own queue is dropped (automatic cycle)', async () => {
    const { broker, clock, publish } = await setup();
    broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': '' } }), false);
    publish('', 'q', 'm');
    clock.advance(101);
    expect(broker.getQueue('q')?.messageCount).toBe(0);
    clock.advance(1000);
    expect(broker.getQueue('q')?.messageCount).toBe(0);
  });

  it('dead-letter - an automatic cycle through two queues is dropped when it comes round', async () => {
    const { broker, clock, publish } = await setup();
    broker.declareQueue(null, 'a', queueOptions({ arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'b' } }), false);
    broker.declareQueue(null, 'b', queueOptions({ arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'a' } }), false);
    publish('', 'a', 'm');
    clock.advance(101);
    expect([broker.getQueue('a')?.messageCount, broker.getQueue('b')?.messageCount]).toEqual([0, 1]);
    clock.advance(101);
    expect([broker.getQueue('a')?.messageCount, broker.getQueue('b')?.messageCount]).toEqual([0, 0]);
  });

  it('dead-letter - a cycle drops only the copy for the cycling queue; other targets still get it', async () => {
    const { broker, clock, publish, connect } = await setup();
    broker.declareExchange('dlx', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': 'dlx' } }), false);
    broker.declareQueue(null, 'dlq', queueOptions(), false);
    broker.bindQueue(null, 'q', 'dlx', '', {});
    broker.bindQueue(null, 'dlq', 'dlx', '', {});
    publish('', 'q', 'm');
    clock.advance(101);
    expect(broker.getQueue('q')?.messageCount).toBe(0);
    expect(deaths(take(connect().connection, 'dlq'))[0]).toMatchObject({ queue: 'q', reason: 'expired' });
  });

  it('dead-letter - a cycle with a rejection in it continues', async () => {
    const { broker, clock, publish, connect } = await setup();
    const reader = connect().connection;
    broker.declareQueue(null, 'work', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'retry' } }), false);
    broker.declareQueue(null, 'retry', queueOptions({ arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'work' } }), false);
    publish('', 'work', 'job');
    for (let round = 1; round <= 3; round++) {
      rejectNext(reader, 'work');
      expect(broker.getQueue('retry')?.messageCount).toBe(1);
      clock.advance(101);
      expect(broker.getQueue('work')?.messageCount).toBe(1);
    }
    const message = take(reader, 'work');
    expect(deaths(message).map((death) => [death.queue, death.reason, death.count])).toEqual([
      ['retry', 'expired', 3],
      ['work', 'rejected', 3],
    ]);
  });

  it('dead-letter - an automatic cycle after an older rejection elsewhere is still dropped', async () => {
    const { broker, clock, publish, connect } = await setup();
    const reader = connect().connection;
    // x rejects into a; a expires into b; b expires back into a: the rejection in x is not part of that cycle.
    broker.declareQueue(null, 'x', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'a' } }), false);
    broker.declareQueue(null, 'a', queueOptions({ arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'b' } }), false);
    broker.declareQueue(null, 'b', queueOptions({ arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'a' } }), false);
    publish('', 'x', 'm');
    rejectNext(reader, 'x');
    clock.advance(101);
    expect(broker.getQueue('b')?.messageCount).toBe(1);
    clock.advance(101);
    expect([broker.getQueue('a')?.messageCount, broker.getQueue('b')?.messageCount]).toEqual([0, 0]);
  });
});

describe('dead-letter - dropped dead letters are counted and told', () => {
  it('dead-letter - a missing dead-letter exchange drops the message, counts it on the queue and the vhost, and is told once per queue', async () => {
    const { broker, publish, connect, notices } = await withDeadLetterQueue();
    broker.declareQueue(null, 'orders', queueOptions({ arguments: { 'x-dead-letter-exchange': 'orders.dlx' } }), false);
    const reader = connect().connection;
    publish('', 'orders', 1);
    publish('', 'orders', 2);
    rejectNext(reader, 'orders');
    rejectNext(reader, 'orders');
    const orders = broker.getQueue('orders')!;
    expect(orders.counters.deadLettered.rejected).toBe(2);
    expect(orders.counters.deadLetterDropped).toBe(2);
    expect(broker.counters.deadLetterDropped).toBe(2);
    expect(notices).toEqual([{ kind: 'dead-letter-exchange-missing', queue: 'orders', exchange: 'orders.dlx' }]);
    // Once the exchange exists the messages go there; should it go again, that is told again.
    broker.declareExchange('orders.dlx', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'orders.dead', queueOptions(), false);
    broker.bindQueue(null, 'orders.dead', 'orders.dlx', '', {});
    publish('', 'orders', 3);
    rejectNext(reader, 'orders');
    expect(take(reader, 'orders.dead').payload).toBe('3');
    expect(orders.counters.deadLetterDropped).toBe(2);
    broker.deleteExchange('orders.dlx', false);
    publish('', 'orders', 4);
    rejectNext(reader, 'orders');
    expect(notices).toHaveLength(2);
    expect(orders.counters.deadLetterDropped).toBe(3);
  });

  it('dead-letter - a dead-letter exchange that routes the message nowhere counts it dropped, silently (the exchange exists)', async () => {
    const { broker, publish, reader, notices } = await withDeadLetterQueue();
    broker.unbindQueue(null, 'dlq', 'dlx', '', {});
    publish('work', 'job', 1);
    rejectNext(reader, 'q');
    expect(broker.getQueue('q')!.counters.deadLetterDropped).toBe(1);
    expect(notices).toEqual([]);
  });

  it('dead-letter - a queue counts what happens to its own messages; the vhost counts them all', async () => {
    const { broker, publish, connect } = await withDeadLetterQueue();
    const { connection } = connect();
    publish('work', 'job', 'a');
    publish('work', 'job', 'b');
    publish('work', 'job', 'c');
    connection.consume('q', consumeOptions({ prefetch: 2 }));
    connection.ack(1, false);
    connection.nack(2, false, true);
    const q = broker.getQueue('q')!.counters;
    expect([q.published, q.delivered, q.acknowledged, q.redelivered]).toEqual([3, 4, 1, 1]);
    expect(broker.getQueue('dlq')!.counters.published).toBe(0);
    expect(broker.counters.published).toBe(3);
  });
});
