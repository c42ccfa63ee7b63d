import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/index.js';
import { caught, drain, exchangeOptions, queueOptions, setup } from './helpers.js';

describe('move - ready messages from one queue to another', () => {
  it('move - moves from the head in order, as they are, and a persistent one is stored once, in the destination', async () => {
    const { broker, publish, connect, store, clock } = await setup();
    broker.declareQueue(null, 'dead', queueOptions(), false);
    broker.declareQueue(null, 'work', queueOptions(), false);
    publish('', 'dead', 1, { headers: { 'x-death': [{ queue: 'work', reason: 'rejected', count: 1 }] }, properties: { persistent: true } });
    publish('', 'dead', 2, { properties: { persistent: true } });
    publish('', 'dead', 3);
    expect(broker.moveMessages('dead', 'work', 2)).toBe(2);
    const reopened = await Broker.open(store, clock);
    expect(reopened.getQueue('dead')?.messageCount).toBe(0);
    expect(reopened.getQueue('work')?.messageCount).toBe(2);
    const { connection } = connect();
    const { delivery } = connection.get('work', true);
    expect(delivery?.entry.message.headers['x-death']).toEqual([{ queue: 'work', reason: 'rejected', count: 1 }]);
    expect(delivery?.entry.message.routingKey).toBe('dead');
    expect(drain(connection, 'work')).toEqual([2]);
    expect(drain(connection, 'dead')).toEqual([3]);
  });

  it('move - leaves unacknowledged deliveries where they are, and counts only what moved', async () => {
    const { broker, publish, connect } = await setup();
    broker.declareQueue(null, 'a', queueOptions(), false);
    broker.declareQueue(null, 'b', queueOptions(), false);
    publish('', 'a', 'held');
    publish('', 'a', 'ready');
    const { connection } = connect();
    connection.get('a', false);
    expect(broker.moveMessages('a', 'b')).toBe(1);
    expect(broker.totals).toMatchObject({ messagesReady: 1, messagesUnacknowledged: 1 });
    expect(drain(connection, 'b')).toEqual(['ready']);
  });

  it('move - a destination that refuses stops the move; the message stays at the head, not counted as returned', async () => {
    const { broker, publish, connect } = await setup();
    broker.declareExchange('dlx', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'dlq', queueOptions(), false);
    broker.bindQueue(null, 'dlq', 'dlx', '', {});
    broker.declareQueue(null, 'src', queueOptions(), false);
    broker.declareQueue(null, 'full', queueOptions({ arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': 'dlx' } }), false);
    for (const n of [1, 2, 3]) publish('', 'src', n);
    expect(broker.moveMessages('src', 'full')).toBe(1);
    const { connection } = connect();
    // reject-publish-dlx would dead-letter a refused publish: a move asks first, so nothing is copied there.
    expect(drain(connection, 'dlq')).toEqual([]);
    const { delivery } = connection.get('src', true);
    expect(delivery?.entry.returns).toBe(0);
    expect(JSON.parse(delivery?.entry.message.payload ?? 'null')).toBe(2);
  });

  it('move - unknown queues are NOT_FOUND; a queue to itself is PRECONDITION_FAILED', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    expect(caught(() => broker.moveMessages('q', 'missing')).code).toBe('NOT_FOUND');
    expect(caught(() => broker.moveMessages('missing', 'q')).code).toBe('NOT_FOUND');
    expect(caught(() => broker.moveMessages('q', 'q')).code).toBe('PRECONDITION_FAILED');
  });
});
