import { describe, expect, it } from 'vitest';
import { Broker, Connection, PERSISTED, ROUTED } from '../../src/broker/index.js';
import { caught, consumeOptions, drain, exchangeExists, exchangeOptions, FakeClock, queueOptions, RecordingSink, setup } from './helpers.js';

const persistent = { properties: { persistent: true } };

/**
 * A broker with the state of `broker`'s store, as after a restart; the old broker stops its timers.
 * The clock goes on from where it was (a fresh one when none is given).
 */
async function restart(broker: Broker, clock = new FakeClock()) {
  broker.shutdown();
  const reopened = await Broker.open(broker.store, clock);
  const reader = new Connection('after-restart', reopened, new RecordingSink());
  return { broker: reopened, clock, reader };
}

describe('recovery - topology', () => {
  it('recovery - durable exchanges and queues survive with their properties; transient ones do not', async () => {
    const { broker, connect } = await setup();
    const owner = connect().connection;
    broker.declareExchange('dx', 'topic', exchangeOptions({ arguments: { 'alternate-exchange': 'ae' } }), false);
    broker.declareExchange('tx', 'fanout', exchangeOptions({ durable: false }), false);
    broker.declareQueue(null, 'dq', queueOptions({ arguments: { 'x-max-length': 10 } }), false);
    broker.declareQueue(null, 'tq', queueOptions({ durable: false }), false);
    broker.declareQueue(owner, 'exclusive-durable', queueOptions({ exclusive: true }), false);
    const after = await restart(broker);
    expect(exchangeExists(after.broker, 'dx')).toBe(true);
    expect(exchangeExists(after.broker, 'tx')).toBe(false);
    expect(after.broker.queueNames()).toEqual(['dq']);
    // Same properties: redeclaring as before succeeds, otherwise it is refused.
    expect(() => after.broker.declareExchange('dx', 'topic', exchangeOptions({ arguments: { 'alternate-exchange': 'ae' } }), false)).not.toThrow();
    expect(caught(() => after.broker.declareExchange('dx', 'direct', exchangeOptions(), false)).code).toBe('PRECONDITION_FAILED');
    expect(after.broker.declareQueue(null, 'dq', queueOptions({ arguments: { 'x-max-length': 10 } }), false)).toEqual({ queue: 'dq', messageCount: 0, consumerCount: 0 });
    expect(caught(() => after.broker.declareQueue(null, 'dq', queueOptions(), false)).code).toBe('PRECONDITION_FAILED');
  });

  it('recovery - bindings between durable ends survive, others do not', async () => {
    const { broker } = await setup();
    broker.declareExchange('dx', 'direct', exchangeOptions(), false);
    broker.declareExchange('tx', 'direct', exchangeOptions({ durable: false }), false);
    broker.declareExchange('dx2', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'dq', queueOptions(), false);
    broker.declareQueue(null, 'tq', queueOptions({ durable: false }), false);
    broker.bindQueue(null, 'dq', 'dx', 'durable-to-durable', {});
    broker.bindQueue(null, 'dq', 'amq.topic', 'built.in.#', {});
    broker.bindQueue(null, 'tq', 'dx', 'to-transient', {});
    broker.bindQueue(null, 'dq', 'tx', 'from-transient', {});
    broker.bindExchange('dx2', 'dx', 'e2e', {});
    broker.bindQueue(null, 'dq', 'dx2', '', {});
    broker.bindExchange('tx', 'dx', 'to-transient-exchange', {});
    const { broker: after, reader } = await restart(broker);
    const publish = (exchange: string, routingKey: string, payload: unknown) =>
      after.publish(exchange, { exchange, routingKey, headers: {}, properties: {}, payload: JSON.stringify(payload), size: 1 });
    expect(publish('dx', 'durable-to-durable', 1)).toBe(ROUTED);
    expect(publish('amq.topic', 'built.in.x', 2)).toBe(ROUTED);
    expect(publish('dx', 'e2e', 3)).toBe(ROUTED);
    expect(publish('dx', 'to-transient', 4)).toBe(0);
    expect(publish('dx', 'to-transient-exchange', 5)).toBe(0);
    expect(drain(reader, 'dq')).toEqual([1, 2, 3]);
  });

  it('recovery - deleted exchanges, queues and bindings stay deleted', async () => {
    const { broker } = await setup();
    broker.declareExchange('gone', 'direct', exchangeOptions(), false);
    broker.declareExchange('kept', 'direct', exchangeOptions(), false);
    broker.declareExchange('auto', 'direct', exchangeOptions({ autoDelete: true }), false);
    broker.declareQueue(null, 'gone-q', queueOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'gone', 'k', {});
    broker.bindQueue(null, 'q', 'kept', 'unbound', {});
    broker.bindQueue(null, 'q', 'kept', 'bound', {});
    broker.bindQueue(null, 'q', 'auto', 'k', {});
    broker.deleteExchange('gone', false);
    broker.deleteQueue(null, 'gone-q', false, false);
    broker.unbindQueue(null, 'q', 'kept', 'unbound', {});
    broker.unbindQueue(null, 'q', 'auto', 'k', {});
    const { broker: after, reader } = await restart(broker);
    expect(exchangeExists(after, 'gone')).toBe(false);
    expect(exchangeExists(after, 'auto')).toBe(false);
    expect(after.queueNames()).toEqual(['q']);
    const message = (routingKey: string) => ({ exchange: 'kept', routingKey, headers: {}, properties: {}, payload: '0', size: 1 });
    expect(after.publish('kept', message('unbound'))).toBe(0);
    expect(after.publish('kept', message('bound'))).toBe(ROUTED);
    expect(drain(reader, 'q')).toEqual([0]);
  });
});

describe('recovery - messages', () => {
  it('recovery - PERSISTED is set only for a persistent message reaching a durable queue', async () => {
    const { broker, publish } = await setup();
    broker.declareQueue(null, 'dq', queueOptions(), false);
    broker.declareQueue(null, 'tq', queueOptions({ durable: false }), false);
    broker.declareExchange('both', 'fanout', exchangeOptions(), false);
    broker.bindQueue(null, 'dq', 'both', '', {});
    broker.bindQueue(null, 'tq', 'both', '', {});
    expect(publish('', 'dq', 1, persistent)).toBe(ROUTED | PERSISTED);
    expect(publish('', 'dq', 2)).toBe(ROUTED);
    expect(publish('', 'dq', 3, { properties: { persistent: false } })).toBe(ROUTED);
    expect(publish('', 'tq', 4, persistent)).toBe(ROUTED);
    expect(publish('both', '', 5, persistent)).toBe(ROUTED | PERSISTED);
    expect(publish('', 'nowhere', 6, persistent)).toBe(0);
  });

  it('recovery - persistent messages in durable queues survive in order; transient messages and queues do not', async () => {
    const { broker, publish } = await setup();
    broker.declareQueue(null, 'dq', queueOptions(), false);
    broker.declareQueue(null, 'tq', queueOptions({ durable: false }), false);
    publish('', 'dq', 1, persistent);
    publish('', 'dq', 2);
    publish('', 'dq', 3, persistent);
    publish('', 'tq', 4, persistent);
    const { broker: after, reader } = await restart(broker);
    expect(after.getQueue('dq')?.messageCount).toBe(2);
    expect(drain(reader, 'dq')).toEqual([1, 3]);
    expect(after.getQueue('tq')).toBeUndefined();
  });

  it('recovery - a recovered message keeps its fields', async () => {
    const { broker, publish } = await setup();
    broker.declareExchange('x', 'topic', exchangeOptions(), false);
    broker.declareQueue(null, 'dq', queueOptions(), false);
    broker.bindQueue(null, 'dq', 'x', '#', {});
    publish('x', 'a.b', { deep: [1, 'two'] }, { headers: { h: [1] }, properties: { persistent: true, messageId: 'id-1', timestamp: 42 } });
    const { reader } = await restart(broker);
    const message = reader.get('dq', true).delivery?.entry.message;
    expect(message).toMatchObject({ exchange: 'x', routingKey: 'a.b', headers: { h: [1] }, properties: { persistent: true, messageId: 'id-1', timestamp: 42 } });
    expect(JSON.parse(message?.payload as string)).toEqual({ deep: [1, 'two'] });
  });

  it('recovery - acknowledged, rejected and purged messages do not come back; unacknowledged and requeued ones do', async () => {
    const { broker, publish, connect } = await setup();
    broker.declareQueue(null, 'dq', queueOptions(), false);
    for (const n of [1, 2, 3, 4, 5, 6]) publish('', 'dq', n, persistent);
    const { connection } = connect();
    const tags = [1, 2, 3, 4].map(() => connection.get('dq', false).delivery?.deliveryTag as number);
    connection.ack(tags[0], false); // 1 acked
    connection.reject(tags[1], false); // 2 rejected, dropped
    connection.reject(tags[2], true); // 3 requeued
    // 4 stays unacknowledged over the restart; 5 and 6 are ready.
    connection.get('dq', true); // 3 taken with noAck: settled
    const { broker: after, reader } = await restart(broker);
    expect(drain(reader, 'dq')).toEqual([4, 5, 6]);
    expect(after.getQueue('dq')?.messageCount).toBe(0);

    const second = await setup();
    second.broker.declareQueue(null, 'p', queueOptions(), false);
    second.publish('', 'p', 'purged', persistent);
    second.broker.purgeQueue(null, 'p');
    const { reader: secondReader } = await restart(second.broker);
    expect(drain(secondReader, 'p')).toEqual([]);
  });

  it('recovery - messages acknowledged through a consumer do not come back', async () => {
    const { broker, publish, connect } = await setup();
    broker.declareQueue(null, 'dq', queueOptions(), false);
    const { connection, sink } = connect();
    connection.consume('dq', consumeOptions({ noAck: true }));
    publish('', 'dq', 'auto-acked', persistent);
    const other = connect();
    connection.close();
    other.connection.consume('dq', consumeOptions());
    publish('', 'dq', 'acked', persistent);
    other.connection.ack(other.sink.deliveries[0].deliveryTag, false);
    expect(sink.payloads()).toEqual(['auto-acked']);
    const { reader } = await restart(broker);
    expect(drain(reader, 'dq')).toEqual([]);
  });

  it('recovery - a deleted and redeclared queue does not get the old messages back', async () => {
    const { broker, publish } = await setup();
    broker.declareQueue(null, 'dq', queueOptions(), false);
    publish('', 'dq', 'old', persistent);
    broker.deleteQueue(null, 'dq', false, false);
    broker.declareQueue(null, 'dq', queueOptions(), false);
    publish('', 'dq', 'new', persistent);
    const { reader } = await restart(broker);
    expect(drain(reader, 'dq')).toEqual(['new']);
  });

  it('recovery - messages published after a restart queue behind the recovered ones and survive the next restart', async () => {
    const { broker, publish } = await setup();
    broker.declareQueue(null, 'dq', queueOptions(), false);
    publish('', 'dq', 1, persistent);
    publish('', 'dq', 2, persistent);
    const first = await restart(broker);
    const message = (payload: number) => ({ exchange: '', routingKey: 'dq', headers: {}, properties: { persistent: true }, payload: String(payload), size: 1 });
    expect(first.broker.publish('', message(3))).toBe(ROUTED | PERSISTED);
    const second = await restart(first.broker);
    expect(drain(second.reader, 'dq')).toEqual([1, 2, 3]);
  });

  it('recovery - a persistent message dead-lettered into a durable queue survives', async () => {
    const { broker, publish, connect } = await setup();
    broker.declareQueue(null, 'dq', queueOptions({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dlq' } }), false);
    broker.declareQueue(null, 'dlq', queueOptions(), false);
    publish('', 'dq', 'm', persistent);
    const { connection } = connect();
    connection.reject(connection.get('dq', false).delivery?.deliveryTag as number, false);
    const { reader } = await restart(broker);
    expect(drain(reader, 'dq')).toEqual([]);
    const dead = reader.get('dlq', true).delivery?.entry.message;
    expect(dead?.payload).toBe('"m"');
    expect(dead?.headers['x-first-death-reason']).toBe('rejected');
  });

  it('recovery - recovered messages of a priority queue come back in priority order', async () => {
    const { broker, publish } = await setup();
    broker.declareQueue(null, 'pq', queueOptions({ arguments: { 'x-max-priority': 5 } }), false);
    publish('', 'pq', 'low', { properties: { persistent: true, priority: 1 } });
    publish('', 'pq', 'high', { properties: { persistent: true, priority: 5 } });
    const { reader } = await restart(broker);
    expect(drain(reader, 'pq')).toEqual(['high', 'low']);
  });

  it('recovery - a recovered message keeps its expiry and expires at the head without waiting for a consumer', async () => {
    const { broker, clock, publish } = await setup();
    broker.declareQueue(null, 'dq', queueOptions({ arguments: { 'x-message-ttl': 1000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dlq' } }), false);
    broker.declareQueue(null, 'dlq', queueOptions(), false);
    publish('', 'dq', 'm', persistent);
    clock.advance(600);
    const { broker: after } = await restart(broker, clock);
    expect(after.getQueue('dq')?.messageCount).toBe(1);
    clock.advance(400);
    expect(after.getQueue('dq')?.messageCount).toBe(1);
    clock.advance(1);
    expect(after.getQueue('dq')?.messageCount).toBe(0);
    expect(after.getQueue('dlq')?.messageCount).toBe(1);
  });
});
