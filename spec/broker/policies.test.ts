import { describe, expect, it } from 'vitest';
import { Broker, type PolicyDefinition } from '../../src/broker/index.js';
import { caught, consumeOptions, drain, exchangeOptions, queueOptions, setup } from './helpers.js';

const policy = (name: string, definition: Record<string, unknown>, fields: Partial<PolicyDefinition> = {}): PolicyDefinition => ({
  name,
  pattern: '^orders',
  applyTo: 'all',
  priority: 0,
  definition,
  ...fields,
});

describe('policies - what applies', () => {
  it('policies - a policy applies to existing and new queues whose names match, and not to others', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'orders.old', queueOptions(), false);
    broker.declareQueue(null, 'billing', queueOptions(), false);
    broker.setPolicy(policy('limit', { 'max-length': 2 }));
    broker.declareQueue(null, 'orders.new', queueOptions(), false);
    expect(broker.getQueue('orders.old')?.policy?.name).toBe('limit');
    expect(broker.getQueue('orders.new')?.args.maxLength).toBe(2);
    expect(broker.getQueue('billing')?.policy).toBeUndefined();
    expect(broker.getQueue('billing')?.args.maxLength).toBeUndefined();
  });

  it('policies - the highest priority wins; equal priorities go to the first name', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'orders', queueOptions(), false);
    broker.setPolicy(policy('b-low', { 'max-length': 5 }, { priority: 1 }));
    broker.setPolicy(policy('a-high', { 'max-length': 9 }, { priority: 3 }));
    expect(broker.getQueue('orders')?.policy?.name).toBe('a-high');
    // Only one policy applies: the winner's keys, not a merge of both.
    expect(broker.getQueue('orders')?.args.maxLength).toBe(9);
    broker.setPolicy(policy('c-tie', { 'max-length': 1 }, { priority: 3 }));
    expect(broker.getQueue('orders')?.policy?.name).toBe('a-high');
    broker.deletePolicy('a-high');
    expect(broker.getQueue('orders')?.policy?.name).toBe('c-tie');
  });

  it('policies - apply-to keeps a queue policy off exchanges and the other way round', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'orders', queueOptions(), false);
    broker.declareExchange('orders.x', 'fanout', exchangeOptions(), false);
    broker.setPolicy(policy('q', { 'max-length': 1 }, { applyTo: 'queues' }));
    broker.setPolicy(policy('x', { 'alternate-exchange': 'ae' }, { applyTo: 'exchanges' }));
    expect(broker.getQueue('orders')?.policy?.name).toBe('q');
    expect(broker.getExchange('orders.x')?.policy?.name).toBe('x');
    broker.setPolicy(policy('quorum-only', { 'max-length': 3 }, { applyTo: 'quorum_queues', priority: 9 }));
    expect(broker.getQueue('orders')?.policy?.name).toBe('q');
    broker.declareQueue(null, 'orders.q', queueOptions({ arguments: { 'x-queue-type': 'quorum' } }), false);
    expect(broker.getQueue('orders.q')?.policy?.name).toBe('quorum-only');
  });
});

describe('policies - effect', () => {
  it('policies - the lower of a policy and an argument wins for numeric limits; the argument wins for the others', async () => {
    const { broker } = await setup();
    broker.declareExchange('dlx-arg', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'orders', queueOptions({ arguments: { 'x-max-length': 10, 'x-message-ttl': 100, 'x-dead-letter-exchange': 'dlx-arg' } }), false);
    broker.setPolicy(policy('p', { 'max-length': 3, 'message-ttl': 5000, 'dead-letter-exchange': 'dlx-policy', 'dead-letter-routing-key': 'dead', overflow: 'reject-publish' }));
    const args = broker.getQueue('orders')?.args;
    expect(args).toMatchObject({ maxLength: 3, messageTtl: 100, deadLetterExchange: 'dlx-arg', deadLetterRoutingKey: 'dead', overflow: 'reject-publish' });
  });

  it('policies - a lower max-length applied to a full queue drops from the head at once, dead-lettering with maxlen', async () => {
    const { broker, publish, connect } = await setup();
    broker.declareExchange('dlx', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'dead', queueOptions(), false);
    broker.bindQueue(null, 'dead', 'dlx', '', {});
    broker.declareQueue(null, 'orders', queueOptions(), false);
    for (let i = 1; i <= 5; i++) publish('', 'orders', i);
    broker.setPolicy(policy('p', { 'max-length': 2, 'dead-letter-exchange': 'dlx' }));
    const { connection } = connect();
    expect(drain(connection, 'orders')).toEqual([4, 5]);
    expect(drain(connection, 'dead')).toEqual([1, 2, 3]);
    // Removing the policy lifts the limit for what comes next.
    broker.deletePolicy('p');
    for (let i = 6; i <= 9; i++) publish('', 'orders', i);
    expect(drain(connection, 'orders')).toEqual([6, 7, 8, 9]);
  });

  it('policies - a policy message-ttl applies to messages enqueued after it', async () => {
    const { broker, publish, clock, connect } = await setup();
    broker.declareQueue(null, 'orders', queueOptions(), false);
    publish('', 'orders', 'before');
    broker.setPolicy(policy('ttl', { 'message-ttl': 1000 }));
    publish('', 'orders', 'after');
    clock.advance(1001);
    expect(drain(connect().connection, 'orders')).toEqual(['before']);
  });

  it('policies - expires removes an unused queue; a policy delivery-limit dead-letters on the next return', async () => {
    const { broker, clock, publish, connect } = await setup();
    broker.declareQueue(null, 'orders.idle', queueOptions(), false);
    broker.setPolicy(policy('p', { expires: 500, 'delivery-limit': 0 }));
    clock.advance(501);
    expect(broker.getQueue('orders.idle')).toBeUndefined();
    broker.declareQueue(null, 'orders.work', queueOptions(), false);
    const { connection, sink } = connect();
    connection.consume('orders.work', consumeOptions({ consumerTag: 'c', prefetch: 1 }));
    publish('', 'orders.work', 'job');
    connection.nack(sink.deliveries[0].deliveryTag, false, true);
    expect(sink.deliveries).toHaveLength(1);
    expect(broker.getQueue('orders.work')?.messageCount).toBe(0);
  });

  it('policies - a policy alternate-exchange catches what routes nowhere, unless the exchange has its own', async () => {
    const { broker, publish, connect } = await setup();
    broker.declareExchange('orders', 'direct', exchangeOptions(), false);
    broker.declareExchange('orders.own', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'own-ae' } }), false);
    broker.declareExchange('ae', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'unrouted', queueOptions(), false);
    broker.bindQueue(null, 'unrouted', 'ae', '', {});
    broker.setPolicy(policy('p', { 'alternate-exchange': 'ae' }));
    publish('orders', 'nowhere', 'm1');
    publish('orders.own', 'nowhere', 'm2');
    expect(drain(connect().connection, 'unrouted')).toEqual(['m1']);
  });
});

describe('policies - validation and durability', () => {
  it.each([
    [{ pattern: '(' }, /pattern "\(" is not a valid regular expression/],
    [{ applyTo: 'streams' }, /apply-to "streams" is not accepted: policies do not apply to stream queues yet/],
    [{ applyTo: 'everything' }, /apply-to "everything" is not accepted: use one of all, queues, exchanges/],
    [{ priority: 1.5 }, /priority must be an integer/],
    [{ definition: {} }, /definition is empty/],
    [{ definition: { 'federation-upstream-set': 'all' } }, /"federation-upstream-set" is not a policy key Warren knows/],
    [{ definition: { 'max-length': -1 } }, /policy "bad": max-length must be an integer >= 0 \(got -1\)/],
    [{ definition: { overflow: 'drop-tail' } }, /policy "bad": overflow must be one of drop-head/],
    [{ definition: { 'alternate-exchange': 5 } }, /alternate-exchange must be a string/],
  ])('policies - an invalid policy %j is PRECONDITION_FAILED, naming what is wrong, and changes nothing', async (fields, reason) => {
    const { broker } = await setup();
    broker.declareQueue(null, 'orders', queueOptions(), false);
    const error = caught(() => broker.setPolicy(policy('bad', { 'max-length': 1 }, fields as Partial<PolicyDefinition>)));
    expect(error.code).toBe('PRECONDITION_FAILED');
    expect(error.message).toMatch(reason);
    expect([...broker.allPolicies()]).toEqual([]);
    expect(broker.getQueue('orders')?.policy).toBeUndefined();
  });

  it('policies - mirroring and storage keys of RabbitMQ exports are accepted and change nothing', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'orders', queueOptions(), false);
    broker.setPolicy(policy('ha', { 'ha-mode': 'all', 'ha-sync-mode': 'automatic', 'queue-mode': 'lazy' }));
    expect(broker.getQueue('orders')?.policy?.name).toBe('ha');
    expect(broker.getQueue('orders')?.args.maxLength).toBeUndefined();
  });

  it('policies - are kept by the store and applied again after a restart', async () => {
    const { broker, store, clock } = await setup();
    broker.declareQueue(null, 'orders', queueOptions(), false);
    broker.setPolicy(policy('p', { 'max-length': 4 }));
    broker.setPolicy(policy('gone', { 'max-length': 1 }, { priority: 5 }));
    broker.deletePolicy('gone');
    const reopened = await Broker.open(store, clock);
    expect(reopened.getQueue('orders')?.policy?.name).toBe('p');
    expect(reopened.getQueue('orders')?.args.maxLength).toBe(4);
    expect([...reopened.allPolicies()].map((one) => one.name)).toEqual(['p']);
  });
});

describe('policies - quorum queues', () => {
  it('policies - a quorum queue dead-letters after 20 returns by default; an argument or policy lowers it', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'q1', queueOptions({ arguments: { 'x-queue-type': 'quorum' } }), false);
    expect(broker.getQueue('q1')?.args.deliveryLimit).toBe(20);
    expect(broker.getQueue('q1')?.type).toBe('quorum');
    broker.declareQueue(null, 'q2', queueOptions({ arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3 } }), false);
    expect(broker.getQueue('q2')?.args.deliveryLimit).toBe(3);
    broker.setPolicy(policy('p', { 'delivery-limit': 50 }, { pattern: '^q' }));
    // With a policy and no argument, the policy's limit replaces the default.
    expect(broker.getQueue('q1')?.args.deliveryLimit).toBe(50);
    expect(broker.getQueue('q2')?.args.deliveryLimit).toBe(3);
  });

  it.each([
    [{ durable: false }, /cannot be a quorum queue that is not durable/],
    [{ autoDelete: true }, /that is auto-delete/],
    [{ arguments: { 'x-max-priority': 5 } }, /with argument x-max-priority/],
    [{ arguments: { 'x-queue-mode': 'lazy' } }, /with argument x-queue-mode/],
  ])('policies - a quorum queue %j is refused as RabbitMQ refuses it', async (overrides, reason) => {
    const { broker } = await setup();
    const options = queueOptions(overrides);
    options.arguments = { ...options.arguments, 'x-queue-type': 'quorum' };
    expect(caught(() => broker.declareQueue(null, 'q', options, false)).message).toMatch(reason);
  });

  it('policies - x-queue-type classic may be left out on a redeclare; quorum and stream may not', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'c', queueOptions({ arguments: { 'x-queue-type': 'classic' } }), false);
    broker.declareQueue(null, 'c', queueOptions(), false);
    broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-queue-type': 'quorum' } }), false);
    expect(caught(() => broker.declareQueue(null, 'q', queueOptions(), false)).code).toBe('PRECONDITION_FAILED');
    broker.declareQueue(null, 's', queueOptions({ arguments: { 'x-queue-type': 'stream' } }), false);
    expect(caught(() => broker.declareQueue(null, 's', queueOptions(), false)).code).toBe('PRECONDITION_FAILED');
  });
});
