import { describe, expect, it } from 'vitest';
import { Broker, type DeathRecord } from '../../src/broker/index.js';
import { caught, consumeOptions, drain, exchangeOptions, message, queueOptions, setup } from './helpers.js';

// docs/protocol.md, "Delayed redelivery and delayed messages".

/** Queue `q` with `args`, a consumer on it (prefetch 10) whose deliveries the sink records, and a dead-letter queue `dlq`. */
async function withConsumer(args: Record<string, unknown>) {
  const context = await setup();
  const { broker } = context;
  broker.declareExchange('dlx', 'fanout', exchangeOptions(), false);
  broker.declareQueue(null, 'dlq', queueOptions(), false);
  broker.bindQueue(null, 'dlq', 'dlx', '', {});
  broker.declareQueue(null, 'q', queueOptions({ arguments: args }), false);
  const { connection, sink } = context.connect();
  connection.consume('q', consumeOptions({ prefetch: 10 }));
  const queue = broker.getQueue('q')!;
  const send = (payload: unknown) => context.publish('', 'q', payload);
  /** Payloads delivered since the last call. */
  let seen = 0;
  const delivered = () => sink.deliveries.slice(seen, (seen = sink.deliveries.length)).map((delivery) => delivery.payload);
  /** Nacks with requeue every delivery outstanding, in delivery order. */
  const nackAll = () => {
    for (const delivery of sink.deliveries.splice(0)) connection.nack(delivery.deliveryTag, false, true);
    seen = 0;
  };
  return { ...context, queue, connection, sink, send, delivered, nackAll };
}

describe('delays - x-retry-delays', () => {
  it('delays - a returned message waits delays[n] after its n-th earlier return, the last delay repeating', async () => {
    const { clock, queue, send, delivered, nackAll } = await withConsumer({ 'x-retry-delays': [1000, 5000] });
    send('job');
    expect(delivered()).toEqual(['job']);
    for (const wait of [1000, 5000, 5000]) {
      nackAll();
      expect([queue.messageCount, queue.waitingCount]).toEqual([0, 1]);
      clock.advance(wait - 1);
      expect(delivered()).toEqual([]);
      clock.advance(1);
      expect(delivered()).toEqual(['job']);
      expect(queue.waitingCount).toBe(0);
    }
  });

  it('delays - messages waiting the same time keep their order, and go back to their places before later messages', async () => {
    const { clock, send, delivered, nackAll } = await withConsumer({ 'x-retry-delays': [1000] });
    send(1);
    send(2);
    expect(delivered()).toEqual([1, 2]);
    nackAll();
    clock.advance(500);
    send(3);
    expect(delivered()).toEqual([3]);
    clock.advance(500);
    // 1 and 2 are ready again: delivered in their order (3 is out, unacked, meanwhile).
    expect(delivered()).toEqual([1, 2]);
  });

  it('delays - with x-delivery-limit a message is retried with its delays, then dead-lettered once over the limit', async () => {
    const { clock, broker, connect, send, delivered, nackAll } = await withConsumer({ 'x-retry-delays': [100, 200], 'x-delivery-limit': 2, 'x-dead-letter-exchange': 'dlx' });
    send('flaky');
    expect(delivered()).toEqual(['flaky']);
    nackAll();
    clock.advance(100);
    expect(delivered()).toEqual(['flaky']);
    nackAll();
    clock.advance(200);
    expect(delivered()).toEqual(['flaky']);
    nackAll();
    expect(broker.getQueue('q')!.waitingCount).toBe(0);
    const { delivery } = connect().connection.get('dlq', true);
    expect((delivery!.entry.message.headers['x-death'] as DeathRecord[])[0]).toMatchObject({ queue: 'q', reason: 'delivery_limit' });
  });

  it('delays - a consumer that goes away returns its messages to wait too; a 0 delay is at once', async () => {
    const { clock, queue, connection, send, connect } = await withConsumer({ 'x-retry-delays': [0, 2000] });
    send('a');
    connection.close();
    expect(queue.messageCount).toBe(1);
    const second = connect();
    second.connection.consume('q', consumeOptions({ prefetch: 1 }));
    second.connection.close();
    expect([queue.messageCount, queue.waitingCount]).toEqual([0, 1]);
    clock.advance(2000);
    expect(queue.messageCount).toBe(1);
  });

  it('delays - x-retry-delays must be a non-empty array of whole ms', async () => {
    const { broker } = await setup();
    for (const bad of [[], [-1], [1.5], ['1s'], 1000, [2 ** 31]]) {
      const error = caught(() => broker.declareQueue(null, 'bad', queueOptions({ arguments: { 'x-retry-delays': bad } }), false));
      expect(error.code).toBe('PRECONDITION_FAILED');
      expect(error.message).toMatch(/x-retry-delays must be a non-empty array of delays in ms/);
    }
  });
});

describe('delays - x-delay', () => {
  it('delays - a delayed message is routed at once to every queue but ready in none before its time', async () => {
    const { clock, broker, connect, publish } = await setup();
    broker.declareExchange('fan', 'fanout', exchangeOptions(), false);
    for (const name of ['a', 'b']) {
      broker.declareQueue(null, name, queueOptions(), false);
      broker.bindQueue(null, name, 'fan', '', {});
    }
    publish('fan', '', 'later', { headers: { 'x-delay': 3000 } });
    publish('fan', '', 'now');
    const { connection } = connect();
    expect([drain(connection, 'a'), broker.getQueue('b')!.waitingCount]).toEqual([['now'], 1]);
    clock.advance(3000);
    expect([drain(connection, 'a'), drain(connection, 'b')]).toEqual([['later'], ['now', 'later']]);
  });

  it('delays - x-delay 0 is ready at once; one outside 0 .. 2^31-1 or not a whole number is refused and routes nothing', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    publish('', 'q', 'zero', { headers: { 'x-delay': 0 } });
    for (const bad of [-1, 2 ** 31, 1.5, '1000']) {
      const error = caught(() => publish('', 'q', 'bad', { headers: { 'x-delay': bad } }));
      expect(error.code).toBe('PRECONDITION_FAILED');
      expect(error.message).toMatch(/header x-delay must be a delay in ms/);
    }
    expect(drain(connect().connection, 'q')).toEqual(['zero']);
    expect(broker.counters.published).toBe(1);
  });

  it('delays - a persistent delayed message in a durable queue keeps its time across a restart', async () => {
    const { clock, store, broker, publish } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    publish('', 'q', 'later', { headers: { 'x-delay': 5000 }, properties: { persistent: true } });
    clock.advance(1000);
    broker.shutdown();
    const restarted = await Broker.open(store, clock);
    const queue = restarted.getQueue('q')!;
    expect([queue.messageCount, queue.waitingCount]).toEqual([0, 1]);
    clock.advance(3999);
    expect(queue.messageCount).toBe(0);
    clock.advance(1);
    expect(queue.messageCount).toBe(1);
  });

  it('delays - purge drops waiting messages too; a deleted queue fires no timer', async () => {
    const { clock, broker, publish } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    publish('', 'q', 1, { headers: { 'x-delay': 1000 } });
    publish('', 'q', 2);
    expect(broker.getQueue('q')!.purge()).toBe(2);
    publish('', 'q', 3, { headers: { 'x-delay': 1000 } });
    const queue = broker.getQueue('q')!;
    broker.deleteQueue(null, 'q', false, false);
    clock.advance(1000);
    expect(queue.messageCount).toBe(0);
    expect(message(1).payload).toBe('1');
  });
});
