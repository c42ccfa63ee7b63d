import { describe, expect, it } from 'vitest';
import { FULL_ACCESS, GuardedVhost, regexAccess, type PermissionRegexes, type TopicPermissionRegexes } from '../../src/auth/index.js';
import { caught, consumeOptions, exchangeOptions, message, queueOptions, setup } from '../broker/helpers.js';

// docs/security.md, "Permissions": RabbitMQ's table, one test per row. The user "ann" may
// configure, write and read names starting "ann."; "other.*" names exist but are not hers.

const ANN: PermissionRegexes = { configure: '^ann\\.', write: '^ann\\.', read: '^ann\\.' };

async function guarded(permission: PermissionRegexes = ANN, topics: TopicPermissionRegexes[] = []) {
  const rig = await setup();
  const { broker } = rig;
  broker.declareExchange('other.x', 'topic', exchangeOptions(), false);
  broker.declareExchange('ann.x', 'topic', exchangeOptions(), false);
  broker.declareQueue(null, 'other.q', queueOptions(), false);
  broker.declareQueue(null, 'ann.q', queueOptions(), false);
  const vhost = new GuardedVhost(broker, regexAccess(permission, topics, { username: 'ann', vhost: '/' }), 'ann', '/');
  return { ...rig, vhost, connection: rig.connect().connection };
}

const refused = (call: () => unknown) => {
  const error = caught(call);
  expect(error.code).toBe('ACCESS_REFUSED');
  return error.message;
};

describe('guarded vhost - the permission table', () => {
  it('guarded vhost - exchange.declare and exchange.delete need configure on the exchange; a passive declare needs nothing', async () => {
    const { vhost, broker } = await guarded();
    vhost.declareExchange('ann.new', 'direct', exchangeOptions(), false);
    expect(refused(() => vhost.declareExchange('other.new', 'direct', exchangeOptions(), false))).toMatch(/user "ann" may not configure exchange "other.new" in vhost "\/"/);
    vhost.declareExchange('other.x', undefined, exchangeOptions(), true);
    refused(() => vhost.deleteExchange('other.x', false));
    vhost.deleteExchange('ann.new', false);
    expect(broker.exchangeType('other.x')).toBe('topic');
    expect(broker.exchangeType('ann.new')).toBeUndefined();
  });

  it('guarded vhost - queue.declare and queue.delete need configure on the queue; server-named queues are checked under their amq.gen- name', async () => {
    const { vhost, connection, broker } = await guarded({ ...ANN, configure: '^(ann\\.|amq\\.gen-)' });
    vhost.declareQueue(connection, 'ann.new', queueOptions(), false);
    refused(() => vhost.declareQueue(connection, 'other.new', queueOptions(), false));
    expect(vhost.declareQueue(connection, '', queueOptions({ durable: false }), false).queue).toMatch(/^amq\.gen-/);
    expect(vhost.declareQueue(connection, 'other.q', queueOptions(), true).queue).toBe('other.q');
    refused(() => vhost.deleteQueue(connection, 'other.q', false, false));
    expect(broker.getQueue('other.q')).toBeDefined();
    const strict = await guarded();
    refused(() => strict.vhost.declareQueue(strict.connection, '', queueOptions(), false));
  });

  it('guarded vhost - declaring with alternate-exchange or x-dead-letter-exchange needs write on that exchange', async () => {
    const { vhost, connection } = await guarded();
    refused(() => vhost.declareExchange('ann.e', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'other.x' } }), false));
    vhost.declareExchange('ann.e', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'ann.x' } }), false);
    expect(refused(() => vhost.declareQueue(connection, 'ann.dl', queueOptions({ arguments: { 'x-dead-letter-exchange': 'other.x' } }), false))).toMatch(/write exchange "other.x"/);
    vhost.declareQueue(connection, 'ann.dl', queueOptions({ arguments: { 'x-dead-letter-exchange': 'ann.x' } }), false);
  });

  it('guarded vhost - queue.bind and queue.unbind need write on the queue and read on the exchange', async () => {
    const { vhost, connection } = await guarded();
    vhost.bindQueue(connection, 'ann.q', 'ann.x', 'k', {});
    refused(() => vhost.bindQueue(connection, 'other.q', 'ann.x', 'k', {}));
    refused(() => vhost.bindQueue(connection, 'ann.q', 'other.x', 'k', {}));
    refused(() => vhost.bindQueue(connection, 'ann.q', 'other.x', 'k', {}, true));
    vhost.bindQueue(connection, 'ann.q', 'ann.x', 'k', {}, true);
  });

  it('guarded vhost - exchange.bind and exchange.unbind need write on the destination and read on the source', async () => {
    const { vhost } = await guarded();
    vhost.bindExchange('ann.x', 'ann.x', 'k', {});
    refused(() => vhost.bindExchange('other.x', 'ann.x', 'k', {}));
    refused(() => vhost.bindExchange('ann.x', 'other.x', 'k', {}));
    refused(() => vhost.bindExchange('other.x', 'ann.x', 'k', {}, true));
  });

  it('guarded vhost - publish needs write on the exchange, the default exchange checked as amq.default', async () => {
    const { vhost } = await guarded({ ...ANN, write: '^(ann\\.|amq\\.default$)' });
    vhost.publish(message(1, { exchange: 'ann.x', routingKey: 'k' }));
    expect(refused(() => vhost.publish(message(1, { exchange: 'other.x', routingKey: 'k' })))).toMatch(/write exchange "other.x"/);
    vhost.publish(message(1, { exchange: '', routingKey: 'ann.q' }));
    const strict = await guarded();
    refused(() => strict.vhost.publish(message(1, { exchange: '', routingKey: 'ann.q' })));
  });

  it('guarded vhost - consume, get and queue.purge need read on the queue', async () => {
    const { vhost, connection, broker } = await guarded();
    broker.publish('', message('x', { routingKey: 'other.q' }));
    refused(() => vhost.consume(connection, 'other.q', consumeOptions()));
    refused(() => vhost.get(connection, 'other.q', true));
    refused(() => vhost.purgeQueue(connection, 'other.q'));
    expect(broker.getQueue('other.q')?.messageCount).toBe(1);
    vhost.consume(connection, 'ann.q', consumeOptions());
    expect(vhost.get(connection, 'ann.q', true).delivery).toBeNull();
    expect(vhost.purgeQueue(connection, 'ann.q')).toBe(0);
  });

  it('guarded vhost - "" denies everything', async () => {
    const { vhost, connection } = await guarded({ configure: '', write: '', read: '' });
    refused(() => vhost.declareQueue(connection, 'ann.q2', queueOptions(), false));
    refused(() => vhost.publish(message(1, { exchange: 'ann.x', routingKey: 'k' })));
    refused(() => vhost.get(connection, 'ann.q', true));
  });

  it('guarded vhost - topic permissions check the routing key of a publish and the binding key of a bind on that topic exchange', async () => {
    const topics = [{ exchange: 'ann.x', write: '^user\\.{username}\\.', read: '^user\\.{username}\\.' }];
    const { vhost, connection } = await guarded(ANN, topics);
    vhost.publish(message(1, { exchange: 'ann.x', routingKey: 'user.ann.email' }));
    expect(refused(() => vhost.publish(message(1, { exchange: 'ann.x', routingKey: 'user.bob.email' })))).toMatch(/routing key "user.bob.email"/);
    vhost.bindQueue(connection, 'ann.q', 'ann.x', 'user.ann.#', {});
    expect(refused(() => vhost.bindQueue(connection, 'ann.q', 'ann.x', '#', {}))).toMatch(/binding key "#"/);
  });

  it('guarded vhost - a dead-letter routing key into a topic exchange is checked against the topic write permission', async () => {
    const topics = [{ exchange: 'ann.x', write: '^user\\.ann\\.', read: '.*' }];
    const { vhost, connection } = await guarded(ANN, topics);
    const dlx = (key: string) => queueOptions({ arguments: { 'x-dead-letter-exchange': 'ann.x', 'x-dead-letter-routing-key': key } });
    expect(refused(() => vhost.declareQueue(connection, 'ann.dl1', dlx('admin.cmd'), false))).toMatch(/routing key "admin.cmd"/);
    vhost.declareQueue(connection, 'ann.dl2', dlx('user.ann.retry'), false);
  });

  it('guarded vhost - the write check is cached per exchange, so a repeated publish asks the permissions once', async () => {
    const rig = await setup();
    rig.broker.declareExchange('x', 'direct', exchangeOptions(), false);
    let asked = 0;
    const access = { ...FULL_ACCESS, write: () => (asked++, true) };
    const vhost = new GuardedVhost(rig.broker, access, 'ann', '/');
    for (let i = 0; i < 100; i++) vhost.publish(message(i, { exchange: 'x', routingKey: 'k' }));
    expect(asked).toBe(1);
  });
});
