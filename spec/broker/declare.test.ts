import { describe, expect, it } from 'vitest';
import { caught, consumeOptions, drain, exchangeExists, exchangeOptions, queueOptions, setup } from './helpers.js';

describe('declare - exchanges', () => {
  it('declare - exchange declare creates it, and redeclaring with the same properties succeeds', async () => {
    const { broker } = await setup();
    expect(exchangeExists(broker, 'x')).toBe(false);
    broker.declareExchange('x', 'topic', exchangeOptions({ arguments: { 'alternate-exchange': 'ae', other: [1] } }), false);
    expect(exchangeExists(broker, 'x')).toBe(true);
    expect(() => broker.declareExchange('x', 'topic', exchangeOptions({ arguments: { other: [1], 'alternate-exchange': 'ae' } }), false)).not.toThrow();
  });

  it('declare - exchange redeclare with other properties is PRECONDITION_FAILED and changes nothing', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('x', 'direct', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'x', 'k', {});
    const others: [string, Record<string, unknown>][] = [
      ['fanout', {}],
      ['direct', { durable: false }],
      ['direct', { autoDelete: true }],
      ['direct', { internal: true }],
      ['direct', { arguments: { 'alternate-exchange': 'ae' } }],
      ['direct', { arguments: { 'x-anything': 1 } }],
    ];
    for (const [type, overrides] of others) {
      const error = caught(() => broker.declareExchange('x', type as 'direct', exchangeOptions(overrides), false));
      expect(error.code).toBe('PRECONDITION_FAILED');
      expect(error.message).toContain('"x"');
    }
    // Still a direct exchange with its binding, publishable.
    publish('x', 'k', 1);
    publish('x', 'other', 2);
    expect(drain(connect().connection, 'q')).toEqual([1]);
  });

  it('declare - passive exchange declare is NOT_FOUND when absent and only checks when present', async () => {
    const { broker } = await setup();
    const error = caught(() => broker.declareExchange('missing', undefined, exchangeOptions(), true));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('missing');
    broker.declareExchange('x', 'fanout', exchangeOptions(), false);
    // Passive ignores type and properties.
    expect(() => broker.declareExchange('x', 'topic', exchangeOptions({ durable: false }), true)).not.toThrow();
    for (const builtIn of ['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers']) {
      expect(() => broker.declareExchange(builtIn, undefined, exchangeOptions(), true)).not.toThrow();
    }
  });

  it('declare - amq. exchange names cannot be declared or deleted: ACCESS_REFUSED', async () => {
    const { broker } = await setup();
    for (const name of ['amq.custom', 'amq.direct', 'amq.']) {
      const error = caught(() => broker.declareExchange(name, 'direct', exchangeOptions(), false));
      expect(error.code).toBe('ACCESS_REFUSED');
    }
    expect(exchangeExists(broker, 'amq.custom')).toBe(false);
    for (const name of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.custom']) {
      expect(caught(() => broker.deleteExchange(name, false)).code).toBe('ACCESS_REFUSED');
    }
    expect(exchangeExists(broker, 'amq.direct')).toBe(true);
  });

  it('declare - the default exchange cannot be declared or deleted: ACCESS_REFUSED', async () => {
    const { broker } = await setup();
    expect(caught(() => broker.declareExchange('', 'direct', exchangeOptions(), false)).code).toBe('ACCESS_REFUSED');
    expect(caught(() => broker.deleteExchange('', false)).code).toBe('ACCESS_REFUSED');
  });

  it('declare - an invalid alternate-exchange argument is PRECONDITION_FAILED naming it', async () => {
    const { broker } = await setup();
    const error = caught(() => broker.declareExchange('x', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 5 } }), false));
    expect(error.code).toBe('PRECONDITION_FAILED');
    expect(error.message).toContain('alternate-exchange');
    expect(exchangeExists(broker, 'x')).toBe(false);
  });

  it('declare - exchange delete ifUnused refuses an exchange with bindings', async () => {
    const { broker } = await setup();
    broker.declareExchange('x', 'direct', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'x', 'k', {});
    expect(caught(() => broker.deleteExchange('x', true)).code).toBe('PRECONDITION_FAILED');
    expect(exchangeExists(broker, 'x')).toBe(true);
    broker.unbindQueue(null, 'q', 'x', 'k', {});
    broker.deleteExchange('x', true);
    expect(exchangeExists(broker, 'x')).toBe(false);
  });

  it('declare - exchange delete removes its bindings, and a new exchange of that name starts without them', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('x', 'direct', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'x', 'k', {});
    broker.deleteExchange('x', false);
    expect(exchangeExists(broker, 'x')).toBe(false);
    broker.declareExchange('x', 'direct', exchangeOptions(), false);
    expect(publish('x', 'k', 1)).toBe(0);
    expect(drain(connect().connection, 'q')).toEqual([]);
  });

  it('declare - deleting a missing exchange succeeds', async () => {
    const { broker } = await setup();
    expect(() => broker.deleteExchange('missing', false)).not.toThrow();
    expect(() => broker.deleteExchange('missing', true)).not.toThrow();
  });
});

describe('declare - queues', () => {
  it('declare - queue declare returns its name and counts', async () => {
    const { broker, publish, connect } = await setup();
    expect(broker.declareQueue(null, 'q', queueOptions(), false)).toEqual({ queue: 'q', messageCount: 0, consumerCount: 0 });
    publish('', 'q', 1);
    publish('', 'q', 2);
    publish('', 'q', 3);
    const { connection } = connect();
    connection.get('q', false); // unacknowledged: not ready, so not counted
    expect(broker.declareQueue(null, 'q', queueOptions(), false)).toEqual({ queue: 'q', messageCount: 2, consumerCount: 0 });
    connection.consume('q', consumeOptions({ prefetch: 1 }));
    connection.consume('q', consumeOptions({ prefetch: 1 }));
    expect(broker.declareQueue(null, 'q', queueOptions(), false)).toEqual({ queue: 'q', messageCount: 0, consumerCount: 2 });
    expect(broker.declareQueue(null, 'q', queueOptions({ durable: false }), true)).toEqual({ queue: 'q', messageCount: 0, consumerCount: 2 });
  });

  it('declare - consumerCount counts waiting single-active consumers too', async () => {
    const { broker, connect } = await setup();
    broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-single-active-consumer': true } }), false);
    const { connection } = connect();
    connection.consume('q', consumeOptions());
    connection.consume('q', consumeOptions());
    connection.consume('q', consumeOptions());
    expect(broker.declareQueue(null, 'q', queueOptions(), true).consumerCount).toBe(3);
  });

  it('declare - queue redeclare with other properties or arguments is PRECONDITION_FAILED', async () => {
    const { broker, connect } = await setup();
    broker.declareQueue(null, 'q', queueOptions({ arguments: { 'x-message-ttl': 1000 } }), false);
    const { connection } = connect();
    const others = [
      { durable: false, arguments: { 'x-message-ttl': 1000 } },
      { autoDelete: true, arguments: { 'x-message-ttl': 1000 } },
      { exclusive: true, arguments: { 'x-message-ttl': 1000 } },
      { arguments: {} },
      { arguments: { 'x-message-ttl': 2000 } },
      { arguments: { 'x-message-ttl': 1000, 'x-max-length': 5 } },
      { arguments: { 'x-message-ttl': 1000, 'x-unknown': 'kept' } },
    ];
    for (const overrides of others) {
      const error = caught(() => broker.declareQueue(connection, 'q', queueOptions(overrides), false));
      expect(error.code).toBe('PRECONDITION_FAILED');
      expect(error.message).toContain('"q"');
    }
    expect(broker.getQueue('q')?.options).toEqual(queueOptions({ arguments: { 'x-message-ttl': 1000 } }));
    expect(broker.declareQueue(connection, 'q', queueOptions({ arguments: { 'x-message-ttl': 1000 } }), false).queue).toBe('q');
  });

  it('declare - passive queue declare is NOT_FOUND when absent', async () => {
    const { broker } = await setup();
    const error = caught(() => broker.declareQueue(null, 'missing', queueOptions(), true));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('missing');
    expect(broker.getQueue('missing')).toBeUndefined();
  });

  it('declare - amq. queue names cannot be declared: ACCESS_REFUSED', async () => {
    const { broker } = await setup();
    for (const name of ['amq.q', 'amq.gen-chosen', 'amq.']) {
      const error = caught(() => broker.declareQueue(null, name, queueOptions(), false));
      expect(error.code).toBe('ACCESS_REFUSED');
      expect(error.message).toContain(name);
      expect(broker.getQueue(name)).toBeUndefined();
    }
    // Passively, an amq. name is only looked up.
    expect(caught(() => broker.declareQueue(null, 'amq.q', queueOptions(), true)).code).toBe('NOT_FOUND');
  });

  it('declare - an empty queue name gets a server name amq.gen-, unique, usable and deletable', async () => {
    const { broker, connect, publish } = await setup();
    const first = broker.declareQueue(null, '', queueOptions(), false);
    const second = broker.declareQueue(null, '', queueOptions(), false);
    expect(first.queue).toMatch(/^amq\.gen-.+/);
    expect(second.queue).toMatch(/^amq\.gen-.+/);
    expect(second.queue).not.toBe(first.queue);
    expect(first).toEqual({ queue: first.queue, messageCount: 0, consumerCount: 0 });
    publish('', first.queue, 'hello');
    expect(broker.declareQueue(null, first.queue, queueOptions(), true)).toEqual({ queue: first.queue, messageCount: 1, consumerCount: 0 });
    // Not declarable again by name, except passively.
    expect(caught(() => broker.declareQueue(null, first.queue, queueOptions(), false)).code).toBe('ACCESS_REFUSED');
    expect(drain(connect().connection, first.queue)).toEqual(['hello']);
    expect(broker.deleteQueue(null, first.queue, false, false)).toBe(0);
    expect(broker.getQueue(first.queue)).toBeUndefined();
    expect(caught(() => broker.declareQueue(null, first.queue, queueOptions(), true)).code).toBe('NOT_FOUND');
  });

  it('declare - queue.delete returns the ready count and removes the queue and its bindings', async () => {
    const { broker, publish } = await setup();
    broker.declareExchange('x', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'x', '', {});
    publish('x', '', 1);
    publish('x', '', 2);
    expect(broker.deleteQueue(null, 'q', false, false)).toBe(2);
    expect(broker.getQueue('q')).toBeUndefined();
    broker.declareQueue(null, 'q', queueOptions(), false);
    expect(publish('x', '', 3)).toBe(0);
    expect(broker.getQueue('q')?.messageCount).toBe(0);
  });

  it('declare - queue.delete ifUnused refuses a queue with consumers', async () => {
    const { broker, connect } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    const { connection } = connect();
    const tag = connection.consume('q', consumeOptions());
    const error = caught(() => broker.deleteQueue(null, 'q', true, false));
    expect(error.code).toBe('PRECONDITION_FAILED');
    expect(error.message).toContain('"q"');
    expect(broker.getQueue('q')).toBeDefined();
    connection.cancel(tag);
    expect(broker.deleteQueue(null, 'q', true, false)).toBe(0);
    expect(broker.getQueue('q')).toBeUndefined();
  });

  it('declare - queue.delete ifEmpty refuses a queue with ready messages, not one with only unacked ones', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    publish('', 'q', 1);
    const error = caught(() => broker.deleteQueue(null, 'q', false, true));
    expect(error.code).toBe('PRECONDITION_FAILED');
    expect(broker.getQueue('q')?.messageCount).toBe(1);
    const { connection } = connect();
    connection.get('q', false);
    expect(broker.deleteQueue(null, 'q', false, true)).toBe(0);
    expect(broker.getQueue('q')).toBeUndefined();
  });

  it('declare - deleting what does not exist succeeds', async () => {
    const { broker, connect } = await setup();
    expect(broker.deleteQueue(null, 'missing', false, false)).toBe(0);
    expect(broker.deleteQueue(null, 'missing', true, true)).toBe(0);
    const { connection } = connect();
    expect(() => connection.cancel('no-such-tag')).not.toThrow();
  });

  it('declare - queue.purge removes ready messages only and returns how many', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    for (let i = 0; i < 4; i++) publish('', 'q', i);
    const { connection } = connect();
    const { delivery } = connection.get('q', false);
    expect(broker.purgeQueue(null, 'q')).toBe(3);
    expect(broker.getQueue('q')?.messageCount).toBe(0);
    // The unacknowledged one survives the purge and comes back on requeue.
    connection.reject(delivery?.deliveryTag as number, true);
    expect(drain(connection, 'q')).toEqual([0]);
    expect(caught(() => broker.purgeQueue(null, 'missing')).code).toBe('NOT_FOUND');
  });
});

describe('declare - queue arguments', () => {
  const invalid: [string, unknown, Record<string, unknown>?][] = [
    ['x-message-ttl', -1],
    ['x-message-ttl', 1.5],
    ['x-message-ttl', '1000'],
    ['x-message-ttl', null],
    ['x-expires', 0],
    ['x-expires', -5],
    ['x-expires', 'soon'],
    ['x-max-length', -1],
    ['x-max-length', 2.5],
    ['x-max-length', '10'],
    ['x-max-length-bytes', -1],
    ['x-max-length-bytes', true],
    ['x-overflow', 'drop-tail'],
    ['x-overflow', 1],
    ['x-overflow', null],
    ['x-dead-letter-exchange', 5],
    ['x-dead-letter-exchange', null],
    ['x-dead-letter-routing-key', 7, { 'x-dead-letter-exchange': 'dlx' }],
    ['x-dead-letter-routing-key', 'rk'],
    ['x-delivery-limit', -1],
    ['x-delivery-limit', 'three'],
    ['x-max-priority', 0],
    ['x-max-priority', 256],
    ['x-max-priority', 1.5],
    ['x-max-priority', '5'],
    ['x-single-active-consumer', 'true'],
    ['x-single-active-consumer', 1],
    ['x-single-active-consumer', null],
  ];

  it.each(invalid)('declare - invalid queue argument %s = %j is PRECONDITION_FAILED naming it', async (key, value, extra) => {
    const { broker } = await setup();
    const error = caught(() => broker.declareQueue(null, 'q', queueOptions({ arguments: { ...extra, [key]: value } }), false));
    expect(error.code).toBe('PRECONDITION_FAILED');
    expect(error.message).toContain(key);
    expect(broker.getQueue('q')).toBeUndefined();
  });

  it('declare - boundary values of queue arguments are accepted', async () => {
    const { broker } = await setup();
    const valid: Record<string, unknown>[] = [
      { 'x-message-ttl': 0 },
      { 'x-expires': 1 },
      { 'x-max-length': 0 },
      { 'x-max-length-bytes': 0 },
      { 'x-overflow': 'drop-head' },
      { 'x-overflow': 'reject-publish' },
      { 'x-overflow': 'reject-publish-dlx' },
      { 'x-dead-letter-exchange': '' },
      { 'x-dead-letter-exchange': 'missing-is-fine', 'x-dead-letter-routing-key': '' },
      { 'x-delivery-limit': 0 },
      { 'x-max-priority': 1 },
      { 'x-max-priority': 255 },
      { 'x-single-active-consumer': false },
      { 'x-unknown-argument': { anything: true } },
    ];
    valid.forEach((args, index) => {
      expect(() => broker.declareQueue(null, `q${index}`, queueOptions({ arguments: args }), false)).not.toThrow();
    });
    expect(broker.queueNames()).toHaveLength(valid.length);
  });
});

describe('declare - exclusive queues', () => {
  async function withExclusive() {
    const context = await setup();
    const owner = context.connect();
    const other = context.connect();
    context.broker.declareExchange('x', 'direct', exchangeOptions(), false);
    context.broker.declareQueue(owner.connection, 'mine', queueOptions({ exclusive: true }), false);
    return { ...context, owner, other };
  }

  it('declare - another connection gets RESOURCE_LOCKED for everything on an exclusive queue', async () => {
    const { broker, owner, other, publish } = await withExclusive();
    publish('', 'mine', 'kept');
    const attempts: [string, () => unknown][] = [
      ['declare', () => broker.declareQueue(other.connection, 'mine', queueOptions({ exclusive: true }), false)],
      ['passive declare', () => broker.declareQueue(other.connection, 'mine', queueOptions(), true)],
      ['consume', () => other.connection.consume('mine', consumeOptions())],
      ['get', () => other.connection.get('mine', true)],
      ['purge', () => broker.purgeQueue(other.connection, 'mine')],
      ['delete', () => broker.deleteQueue(other.connection, 'mine', false, false)],
      ['bind', () => broker.bindQueue(other.connection, 'mine', 'x', 'k', {})],
      ['unbind', () => broker.unbindQueue(other.connection, 'mine', 'x', 'k', {})],
      ['definitions (no connection)', () => broker.declareQueue(null, 'mine', queueOptions({ exclusive: true }), true)],
    ];
    for (const [what, attempt] of attempts) {
      const error = caught(attempt);
      expect([what, error.code]).toEqual([what, 'RESOURCE_LOCKED']);
      expect(error.message).toContain('mine');
    }
    // Nothing changed: the message is there, no consumer, no binding.
    expect(broker.getQueue('mine')?.messageCount).toBe(1);
    expect(broker.getQueue('mine')?.consumers).toHaveLength(0);
    expect(publish('x', 'k', 'unbound')).toBe(0);
    expect(drain(owner.connection, 'mine')).toEqual(['kept']);
  });

  it('declare - the owner can use its exclusive queue in every way', async () => {
    const { broker, owner, publish } = await withExclusive();
    expect(broker.declareQueue(owner.connection, 'mine', queueOptions({ exclusive: true }), false).queue).toBe('mine');
    expect(broker.declareQueue(owner.connection, 'mine', queueOptions(), true).queue).toBe('mine');
    broker.bindQueue(owner.connection, 'mine', 'x', 'k', {});
    publish('x', 'k', 1);
    expect(broker.purgeQueue(owner.connection, 'mine')).toBe(1);
    publish('x', 'k', 2);
    expect(owner.connection.get('mine', true).delivery?.entry.message.payload).toBe('2');
    broker.unbindQueue(owner.connection, 'mine', 'x', 'k', {});
    owner.connection.consume('mine', consumeOptions());
    expect(broker.deleteQueue(owner.connection, 'mine', false, false)).toBe(0);
    expect(broker.getQueue('mine')).toBeUndefined();
  });

  it('declare - publishing to another connection exclusive queue is allowed', async () => {
    const { owner, publish } = await withExclusive();
    expect(publish('', 'mine', 'from anyone')).toBe(1);
    expect(drain(owner.connection, 'mine')).toEqual(['from anyone']);
  });

  it('declare - an exclusive queue is deleted when its owner closes, and the name is free again', async () => {
    const { broker, owner, other } = await withExclusive();
    broker.declareQueue(owner.connection, 'mine-too', queueOptions({ exclusive: true, durable: false }), false);
    broker.bindQueue(owner.connection, 'mine', 'x', 'k', {});
    owner.connection.close();
    expect(broker.getQueue('mine')).toBeUndefined();
    expect(broker.getQueue('mine-too')).toBeUndefined();
    expect(broker.queueNames()).toEqual([]);
    expect(broker.declareQueue(other.connection, 'mine', queueOptions({ exclusive: true }), false).queue).toBe('mine');
    expect(other.connection.exclusiveQueues.size).toBe(1);
  });

  it('declare - an exclusive queue needs a connection to own it', async () => {
    const { broker } = await setup();
    expect(caught(() => broker.declareQueue(null, 'q', queueOptions({ exclusive: true }), false)).code).toBe('PRECONDITION_FAILED');
    expect(broker.getQueue('q')).toBeUndefined();
  });
});
