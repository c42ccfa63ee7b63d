import { describe, expect, it } from 'vitest';
import { ROUTED, type ExchangeType } from '../../src/broker/index.js';
import { caught, drain, exchangeExists, exchangeOptions, queueOptions, setup } from './helpers.js';

/** A broker with one exchange of `type` and the named queues, plus a connection to read them. */
async function withExchange(type: ExchangeType, queues: string[], options = exchangeOptions()) {
  const context = await setup();
  context.broker.declareExchange('x', type, options, false);
  for (const queue of queues) context.broker.declareQueue(null, queue, queueOptions(), false);
  const { connection } = context.connect();
  const read = (queue: string) => drain(connection, queue);
  return { ...context, connection, read };
}

describe('routing - direct', () => {
  it('routing - direct routes on an exactly equal key, to every queue bound with it', async () => {
    const { broker, publish, read } = await withExchange('direct', ['q1', 'q2', 'q3']);
    broker.bindQueue(null, 'q1', 'x', 'red', {});
    broker.bindQueue(null, 'q2', 'x', 'red', {});
    broker.bindQueue(null, 'q3', 'x', 'green', {});
    expect(publish('x', 'red', 1)).toBe(ROUTED);
    expect(publish('x', 'Red', 2)).toBe(0);
    expect(publish('x', 'red.x', 3)).toBe(0);
    expect(publish('x', 'green', 4)).toBe(ROUTED);
    expect(read('q1')).toEqual([1]);
    expect(read('q2')).toEqual([1]);
    expect(read('q3')).toEqual([4]);
  });

  it('routing - direct with an empty binding key matches only the empty routing key', async () => {
    const { broker, publish, read } = await withExchange('direct', ['q']);
    broker.bindQueue(null, 'q', 'x', '', {});
    publish('x', '', 'empty');
    publish('x', 'a', 'a');
    expect(read('q')).toEqual(['empty']);
  });
});

describe('routing - fanout', () => {
  it('routing - fanout routes to every bound queue whatever the key', async () => {
    const { broker, publish, read } = await withExchange('fanout', ['q1', 'q2', 'unbound']);
    broker.bindQueue(null, 'q1', 'x', 'ignored', {});
    broker.bindQueue(null, 'q2', 'x', '', {});
    expect(publish('x', 'anything', 1)).toBe(ROUTED);
    expect(publish('x', '', 2)).toBe(ROUTED);
    expect(read('q1')).toEqual([1, 2]);
    expect(read('q2')).toEqual([1, 2]);
    expect(read('unbound')).toEqual([]);
  });

  it('routing - fanout with no bindings routes nowhere', async () => {
    const { publish } = await withExchange('fanout', []);
    expect(publish('x', 'k', 1)).toBe(0);
  });
});

describe('routing - topic', () => {
  /** Which of `keys` a single topic binding `pattern` lets through. */
  async function matching(pattern: string, keys: string[]): Promise<string[]> {
    const { broker, publish, read } = await withExchange('topic', ['q']);
    broker.bindQueue(null, 'q', 'x', pattern, {});
    for (const key of keys) publish('x', key, key);
    return read('q') as string[];
  }

  it('routing - topic exact words match only the same key', async () => {
    expect(await matching('a.b', ['a.b', 'a', 'a.b.c', 'b.a', 'a.bb'])).toEqual(['a.b']);
  });

  it('routing - topic * matches exactly one word', async () => {
    expect(await matching('a.*', ['a', 'a.b', 'a.c', 'a.b.c', 'b.a', ''])).toEqual(['a.b', 'a.c']);
    expect(await matching('*.b.*', ['x.b.y', 'b.y', 'x.b', 'x.y.b.z', 'x.b.y.z'])).toEqual(['x.b.y']);
  });

  it('routing - topic * matches an empty word', async () => {
    expect(await matching('a.*.c', ['a..c', 'a.c'])).toEqual(['a..c']);
  });

  it('routing - topic # matches zero words', async () => {
    expect(await matching('a.#', ['a'])).toEqual(['a']);
    expect(await matching('#.a', ['a'])).toEqual(['a']);
    expect(await matching('a.#.b', ['a.b'])).toEqual(['a.b']);
  });

  it('routing - topic # matches one or more words', async () => {
    expect(await matching('a.#', ['a.b', 'a.b.c', 'b', 'b.a', 'ab'])).toEqual(['a.b', 'a.b.c']);
    expect(await matching('a.#.z', ['a.z', 'a.b.z', 'a.b.c.z', 'a.b.c', 'z'])).toEqual(['a.z', 'a.b.z', 'a.b.c.z']);
  });

  it('routing - topic # alone matches every key, the empty key included', async () => {
    expect(await matching('#', ['', 'a', 'a.b', 'a.b.c', '.'])).toEqual(['', 'a', 'a.b', 'a.b.c', '.']);
  });

  it('routing - topic empty routing key has zero words: # matches it, * does not', async () => {
    expect(await matching('*', ['', 'a', 'a.b'])).toEqual(['a']);
    expect(await matching('#.#', [''])).toEqual(['']);
  });

  it('routing - topic empty binding key matches only the empty routing key', async () => {
    expect(await matching('', ['', 'a', '.'])).toEqual(['']);
  });

  it('routing - topic # and * combined', async () => {
    expect(await matching('*.#', ['', 'a', 'a.b'])).toEqual(['a', 'a.b']);
    expect(await matching('#.*.#', ['', 'a', 'a.b'])).toEqual(['a', 'a.b']);
    expect(await matching('*.*.#', ['a', 'a.b', 'a.b.c'])).toEqual(['a.b', 'a.b.c']);
  });
});

describe('routing - topic matcher, walked and compiled', () => {
  it('routing - a key routed before a bind or unbind routes by the new bindings after it', async () => {
    const { broker, publish, read } = await withExchange('topic', ['q1', 'q2']);
    broker.bindQueue(null, 'q1', 'x', 'a.*', {});
    expect(publish('x', 'a.b', 1)).toBe(ROUTED);
    broker.bindQueue(null, 'q2', 'x', '#.b', {});
    expect(publish('x', 'a.b', 2)).toBe(ROUTED);
    broker.unbindQueue(null, 'q1', 'x', 'a.*', {});
    expect(publish('x', 'a.b', 3)).toBe(ROUTED);
    broker.unbindQueue(null, 'q2', 'x', '#.b', {});
    expect(publish('x', 'a.b', 4)).toBe(0);
    expect(read('q1')).toEqual([1, 2]);
    expect(read('q2')).toEqual([2, 3]);
  });

  it('routing - many distinct keys route correctly once the matcher compiles them', async () => {
    const { broker, publish, read } = await withExchange('topic', ['q1']);
    broker.bindQueue(null, 'q1', 'x', 'k.*.even', {});
    for (let i = 0; i < 10_000; i++) publish('x', `k.${i}.${i % 2 === 0 ? 'even' : 'odd'}`, i);
    expect(read('q1')).toEqual(Array.from({ length: 5000 }, (_, i) => i * 2));
  });

  it('routing - after many keys compiled, a bind or unbind still counts at once', async () => {
    const { broker, publish, read } = await withExchange('topic', ['q1', 'q2']);
    broker.bindQueue(null, 'q1', 'x', 'k.#', {});
    for (let i = 0; i < 5000; i++) publish('x', `k.${i}`, -1);
    read('q1');
    broker.bindQueue(null, 'q2', 'x', 'k.*', {});
    expect(publish('x', 'k.new', 1)).toBe(ROUTED);
    broker.unbindQueue(null, 'q1', 'x', 'k.#', {});
    expect(publish('x', 'k.new', 2)).toBe(ROUTED);
    for (let i = 0; i < 20_000; i++) publish('x', `k.${i % 3}`, 3);
    expect(read('q1')).toEqual([1]);
    expect(read('q2')).toEqual([1, 2, ...Array.from({ length: 20_000 }, () => 3)]);
  });
});

describe('routing - bindings into one destination', () => {
  it('routing - a queue with one, then several, then no bindings routes and lists exactly what is bound', async () => {
    const { broker, publish, read } = await withExchange('direct', ['q1']);
    const keys = () => [...broker.bindingsOf(broker.getQueue('q1')!)].map((binding) => binding.routingKey).sort();
    broker.bindQueue(null, 'q1', 'x', 'a', {});
    expect(keys()).toEqual(['a']);
    broker.bindQueue(null, 'q1', 'x', 'b', {});
    broker.bindQueue(null, 'q1', 'x', 'c', {});
    broker.unbindQueue(null, 'q1', 'x', 'b', {});
    expect(keys()).toEqual(['a', 'c']);
    broker.unbindQueue(null, 'q1', 'x', 'a', {});
    broker.unbindQueue(null, 'q1', 'x', 'a', {});
    expect(keys()).toEqual(['c']);
    broker.unbindQueue(null, 'q1', 'x', 'c', {});
    expect(keys()).toEqual([]);
    broker.bindQueue(null, 'q1', 'x', 'd', {});
    for (const [key, n] of [['a', 1], ['b', 2], ['c', 3], ['d', 4]] as const) publish('x', key, n);
    expect(read('q1')).toEqual([4]);
    expect(keys()).toEqual(['d']);
  });
});

describe('routing - headers', () => {
  /** Which messages (by header set) one headers binding with `args` lets through. */
  async function matching(args: Record<string, unknown>, headerSets: Record<string, unknown>[]): Promise<number[]> {
    const { broker, publish, read } = await withExchange('headers', ['q']);
    broker.bindQueue(null, 'q', 'x', '', args);
    headerSets.forEach((headers, index) => publish('x', '', index, { headers }));
    return read('q') as number[];
  }

  it('routing - headers all (the default) needs every binding key with an equal value', async () => {
    const sets = [{ a: 1, b: 'two' }, { a: 1 }, { a: 1, b: 'two', c: 3 }, { a: 2, b: 'two' }, { a: '1', b: 'two' }, {}];
    expect(await matching({ a: 1, b: 'two' }, sets)).toEqual([0, 2]);
    expect(await matching({ 'x-match': 'all', a: 1, b: 'two' }, sets)).toEqual([0, 2]);
  });

  it('routing - headers any needs one binding key with an equal value', async () => {
    const sets = [{ a: 1 }, { b: 'two' }, { a: 2, b: 'three' }, { c: 1 }, {}];
    expect(await matching({ 'x-match': 'any', a: 1, b: 'two' }, sets)).toEqual([0, 1]);
  });

  it('routing - headers values compare as JSON values', async () => {
    const sets = [{ a: { p: [1, 2], q: null } }, { a: { q: null, p: [1, 2] } }, { a: { p: [2, 1], q: null } }, { a: null }];
    expect(await matching({ a: { p: [1, 2], q: null } }, sets)).toEqual([0, 1]);
    expect(await matching({ a: null }, [{ a: null }, {}, { a: 0 }])).toEqual([0]);
  });

  it('routing - headers all ignores x- keys of the binding', async () => {
    expect(await matching({ 'x-match': 'all', a: 1, 'x-tag': 'v' }, [{ a: 1 }, { a: 1, 'x-tag': 'other' }, { 'x-tag': 'v' }])).toEqual([0, 1]);
  });

  it('routing - headers any ignores x- keys of the binding', async () => {
    expect(await matching({ 'x-match': 'any', a: 1, 'x-tag': 'v' }, [{ 'x-tag': 'v' }, { a: 1 }])).toEqual([1]);
  });

  it('routing - headers all-with-x needs the x- keys too', async () => {
    const sets = [{ a: 1 }, { a: 1, 'x-tag': 'v' }, { a: 1, 'x-tag': 'w' }, { 'x-tag': 'v' }];
    expect(await matching({ 'x-match': 'all-with-x', a: 1, 'x-tag': 'v' }, sets)).toEqual([1]);
  });

  it('routing - headers any-with-x is satisfied by an x- key', async () => {
    const sets = [{ 'x-tag': 'v' }, { a: 1 }, { 'x-tag': 'w' }, {}];
    expect(await matching({ 'x-match': 'any-with-x', a: 1, 'x-tag': 'v' }, sets)).toEqual([0, 1]);
  });

  it('routing - headers all with no keys matches every message, any with no keys matches none', async () => {
    expect(await matching({}, [{}, { a: 1 }])).toEqual([0, 1]);
    expect(await matching({ 'x-match': 'any' }, [{}, { a: 1 }])).toEqual([]);
    expect(await matching({ 'x-match': 'any', 'x-tag': 'v' }, [{ 'x-tag': 'v' }])).toEqual([]);
  });

  it('routing - headers invalid x-match is PRECONDITION_FAILED and binds nothing', async () => {
    const { broker, publish, read } = await withExchange('headers', ['q']);
    broker.declareExchange('dest', 'fanout', exchangeOptions(), false);
    for (const xMatch of ['none', 'ALL', 1, true, null, ['all']]) {
      const error = caught(() => broker.bindQueue(null, 'q', 'x', '', { 'x-match': xMatch, a: 1 }));
      expect(error.code).toBe('PRECONDITION_FAILED');
      expect(error.message).toContain('x-match');
      expect(caught(() => broker.bindExchange('dest', 'x', '', { 'x-match': xMatch })).code).toBe('PRECONDITION_FAILED');
    }
    publish('x', '', 1, { headers: { a: 1 } });
    expect(read('q')).toEqual([]);
  });

  it('routing - headers ignores the routing key', async () => {
    expect(await matching({ a: 1 }, [{ a: 1 }])).toEqual([0]);
    const { broker, publish, read } = await withExchange('headers', ['q']);
    broker.bindQueue(null, 'q', 'x', 'some-key', { a: 1 });
    publish('x', 'other-key', 'm', { headers: { a: 1 } });
    expect(read('q')).toEqual(['m']);
  });
});

describe('routing - default exchange', () => {
  it('routing - default exchange routes to the queue named by the routing key', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareQueue(null, 'orders', queueOptions(), false);
    broker.declareQueue(null, 'other', queueOptions(), false);
    const { connection } = connect();
    expect(publish('', 'orders', 1)).toBe(ROUTED);
    expect(publish('', 'missing', 2)).toBe(0);
    expect(publish('', '', 3)).toBe(0);
    expect(drain(connection, 'orders')).toEqual([1]);
    expect(drain(connection, 'other')).toEqual([]);
  });

  it('routing - default exchange cannot be bound or unbound: ACCESS_REFUSED', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.declareExchange('x', 'direct', exchangeOptions(), false);
    expect(caught(() => broker.bindQueue(null, 'q', '', 'k', {})).code).toBe('ACCESS_REFUSED');
    expect(caught(() => broker.unbindQueue(null, 'q', '', 'q', {})).code).toBe('ACCESS_REFUSED');
    expect(caught(() => broker.bindExchange('x', '', 'k', {})).code).toBe('ACCESS_REFUSED');
    expect(caught(() => broker.bindExchange('', 'x', 'k', {})).code).toBe('ACCESS_REFUSED');
  });

  it('routing - a missing exchange is NOT_FOUND', async () => {
    const { publish } = await setup();
    const error = caught(() => publish('nope', 'k', 1));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('nope');
  });

  it('routing - binding to a missing exchange or queue is NOT_FOUND', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.declareExchange('x', 'direct', exchangeOptions(), false);
    expect(caught(() => broker.bindQueue(null, 'q', 'missing', 'k', {})).code).toBe('NOT_FOUND');
    expect(caught(() => broker.bindQueue(null, 'missing', 'x', 'k', {})).code).toBe('NOT_FOUND');
    expect(caught(() => broker.bindExchange('x', 'missing', 'k', {})).code).toBe('NOT_FOUND');
    expect(caught(() => broker.bindExchange('missing', 'x', 'k', {})).code).toBe('NOT_FOUND');
  });
});

describe('routing - exchange to exchange', () => {
  it('routing - exchange-to-exchange chains apply each hop binding to the routing key', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('entry', 'topic', exchangeOptions(), false);
    broker.declareExchange('middle', 'direct', exchangeOptions(), false);
    broker.declareExchange('last', 'fanout', exchangeOptions(), false);
    broker.bindExchange('middle', 'entry', 'orders.#', {});
    broker.bindExchange('last', 'middle', 'orders.eu', {});
    broker.declareQueue(null, 'mid', queueOptions(), false);
    broker.declareQueue(null, 'end', queueOptions(), false);
    broker.bindQueue(null, 'mid', 'middle', 'orders.us', {});
    broker.bindQueue(null, 'end', 'last', '', {});
    const { connection } = connect();
    expect(publish('entry', 'orders.eu', 'eu')).toBe(ROUTED);
    expect(publish('entry', 'orders.us', 'us')).toBe(ROUTED);
    expect(publish('entry', 'orders.asia', 'asia')).toBe(0);
    expect(publish('entry', 'invoices.eu', 'inv')).toBe(0);
    expect(drain(connection, 'mid')).toEqual(['us']);
    expect(drain(connection, 'end')).toEqual(['eu']);
  });

  it('routing - a message reaches a queue at most once through several bindings', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('t', 'topic', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    for (const key of ['a.b', 'a.*', '#', '*.b', 'a.#']) broker.bindQueue(null, 'q', 't', key, {});
    const { connection } = connect();
    publish('t', 'a.b', 'once');
    expect(broker.getQueue('q')?.messageCount).toBe(1);
    expect(drain(connection, 'q')).toEqual(['once']);
  });

  it('routing - a message reaches a queue at most once through several exchange paths', async () => {
    const { broker, connect, publish } = await setup();
    // entry -> left -> q, entry -> right -> q, entry -> q, and left -> right: a diamond with extra edges.
    broker.declareExchange('entry', 'fanout', exchangeOptions(), false);
    broker.declareExchange('left', 'fanout', exchangeOptions(), false);
    broker.declareExchange('right', 'direct', exchangeOptions(), false);
    broker.bindExchange('left', 'entry', '', {});
    broker.bindExchange('right', 'entry', '', {});
    broker.bindExchange('right', 'left', '', {});
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.declareQueue(null, 'r', queueOptions(), false);
    broker.bindQueue(null, 'q', 'left', '', {});
    broker.bindQueue(null, 'q', 'right', 'k', {});
    broker.bindQueue(null, 'q', 'entry', '', {});
    broker.bindQueue(null, 'r', 'right', 'k', {});
    const { connection } = connect();
    expect(publish('entry', 'k', 'm')).toBe(ROUTED);
    expect(drain(connection, 'q')).toEqual(['m']);
    expect(drain(connection, 'r')).toEqual(['m']);
  });

  it('routing - a cycle of exchange bindings terminates and delivers once', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('a', 'fanout', exchangeOptions(), false);
    broker.declareExchange('b', 'fanout', exchangeOptions(), false);
    broker.declareExchange('c', 'topic', exchangeOptions(), false);
    broker.bindExchange('b', 'a', '', {});
    broker.bindExchange('c', 'b', '', {});
    broker.bindExchange('a', 'c', '#', {});
    broker.bindExchange('a', 'a', '', {});
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'c', 'k', {});
    const { connection } = connect();
    expect(publish('b', 'k', 1)).toBe(ROUTED);
    expect(publish('a', 'other', 2)).toBe(0);
    expect(drain(connection, 'q')).toEqual([1]);
  });

  it('routing - binding the same thing twice keeps one binding', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('x', 'direct', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'x', 'k', {});
    broker.bindQueue(null, 'q', 'x', 'k', {});
    broker.unbindQueue(null, 'q', 'x', 'k', {});
    const { connection } = connect();
    publish('x', 'k', 1);
    expect(drain(connection, 'q')).toEqual([]);
  });
});

describe('routing - alternate exchange', () => {
  it('routing - alternate-exchange receives only what routes nowhere', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('ae', 'fanout', exchangeOptions(), false);
    broker.declareExchange('x', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'ae' } }), false);
    broker.declareQueue(null, 'main', queueOptions(), false);
    broker.declareQueue(null, 'unrouted', queueOptions(), false);
    broker.bindQueue(null, 'main', 'x', 'known', {});
    broker.bindQueue(null, 'unrouted', 'ae', '', {});
    const { connection } = connect();
    expect(publish('x', 'known', 1)).toBe(ROUTED);
    expect(publish('x', 'unknown', 2)).toBe(ROUTED);
    expect(drain(connection, 'main')).toEqual([1]);
    expect(drain(connection, 'unrouted')).toEqual([2]);
  });

  it('routing - alternate exchanges chain, and the alternate routes with the original key', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('ae2', 'topic', exchangeOptions(), false);
    broker.declareExchange('ae1', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'ae2' } }), false);
    broker.declareExchange('x', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'ae1' } }), false);
    broker.declareQueue(null, 'q1', queueOptions(), false);
    broker.declareQueue(null, 'q2', queueOptions(), false);
    broker.bindQueue(null, 'q1', 'ae1', 'one', {});
    broker.bindQueue(null, 'q2', 'ae2', 'two.#', {});
    const { connection } = connect();
    publish('x', 'one', 'to-ae1');
    publish('x', 'two.x', 'to-ae2');
    expect(publish('x', 'three', 'nowhere')).toBe(0);
    expect(drain(connection, 'q1')).toEqual(['to-ae1']);
    expect(drain(connection, 'q2')).toEqual(['to-ae2']);
  });

  it('routing - a missing alternate exchange or a cycle of alternates routes nowhere', async () => {
    const { broker, publish } = await setup();
    broker.declareExchange('lonely', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'missing' } }), false);
    broker.declareExchange('p', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'r' } }), false);
    broker.declareExchange('r', 'direct', exchangeOptions({ arguments: { 'alternate-exchange': 'p' } }), false);
    expect(publish('lonely', 'k', 1)).toBe(0);
    expect(publish('p', 'k', 2)).toBe(0);
  });
});

describe('routing - internal exchanges', () => {
  it('routing - an internal exchange refuses a direct publish with ACCESS_REFUSED but routes what reaches it through a binding', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('inner', 'fanout', exchangeOptions({ internal: true }), false);
    broker.declareExchange('outer', 'direct', exchangeOptions(), false);
    broker.bindExchange('inner', 'outer', 'k', {});
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'inner', '', {});
    const error = caught(() => publish('inner', 'k', 'direct'));
    expect(error.code).toBe('ACCESS_REFUSED');
    expect(error.message).toContain('inner');
    expect(publish('outer', 'k', 'via-binding')).toBe(ROUTED);
    const { connection } = connect();
    expect(drain(connection, 'q')).toEqual(['via-binding']);
  });
});

describe('routing - unbind', () => {
  it('routing - queue.unbind stops that binding only', async () => {
    const { broker, publish, read } = await withExchange('direct', ['q']);
    broker.bindQueue(null, 'q', 'x', 'a', {});
    broker.bindQueue(null, 'q', 'x', 'b', {});
    broker.unbindQueue(null, 'q', 'x', 'a', {});
    publish('x', 'a', 'a');
    publish('x', 'b', 'b');
    expect(read('q')).toEqual(['b']);
  });

  it('routing - unbind matches the binding arguments', async () => {
    const { broker, publish, read } = await withExchange('headers', ['q']);
    broker.bindQueue(null, 'q', 'x', '', { a: 1 });
    broker.unbindQueue(null, 'q', 'x', '', { a: 2 });
    publish('x', '', 'still', { headers: { a: 1 } });
    broker.unbindQueue(null, 'q', 'x', '', { a: 1 });
    publish('x', '', 'gone', { headers: { a: 1 } });
    expect(read('q')).toEqual(['still']);
  });

  it('routing - exchange.unbind stops the exchange-to-exchange route', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('src', 'topic', exchangeOptions(), false);
    broker.declareExchange('dst', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'dst', '', {});
    broker.bindExchange('dst', 'src', '#', {});
    publish('src', 'a', 1);
    broker.unbindExchange('dst', 'src', '#', {});
    expect(publish('src', 'a', 2)).toBe(0);
    const { connection } = connect();
    expect(drain(connection, 'q')).toEqual([1]);
  });

  it('routing - removing a binding that does not exist succeeds', async () => {
    const { broker } = await setup();
    broker.declareExchange('x', 'topic', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    expect(() => broker.unbindQueue(null, 'q', 'x', 'never', {})).not.toThrow();
    expect(() => broker.unbindQueue(null, 'missing-queue', 'x', 'k', {})).not.toThrow();
    expect(() => broker.unbindQueue(null, 'q', 'missing-exchange', 'k', {})).not.toThrow();
    expect(() => broker.unbindExchange('x', 'amq.topic', 'never', {})).not.toThrow();
    expect(() => broker.unbindExchange('missing', 'x', 'k', {})).not.toThrow();
  });
});

describe('routing - auto-delete exchanges', () => {
  it('routing - auto-delete exchange stays until its first binding, and goes after its last one is removed', async () => {
    const { broker } = await setup();
    broker.declareExchange('auto', 'direct', exchangeOptions({ autoDelete: true }), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    expect(exchangeExists(broker, 'auto')).toBe(true);
    broker.bindQueue(null, 'q', 'auto', 'a', {});
    broker.bindQueue(null, 'q', 'auto', 'b', {});
    broker.unbindQueue(null, 'q', 'auto', 'a', {});
    expect(exchangeExists(broker, 'auto')).toBe(true);
    broker.unbindQueue(null, 'q', 'auto', 'b', {});
    expect(exchangeExists(broker, 'auto')).toBe(false);
  });

  it('routing - auto-delete exchange goes when the queue of its last binding is deleted', async () => {
    const { broker } = await setup();
    broker.declareExchange('auto', 'fanout', exchangeOptions({ autoDelete: true }), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'auto', '', {});
    broker.deleteQueue(null, 'q', false, false);
    expect(exchangeExists(broker, 'auto')).toBe(false);
  });

  it('routing - auto-delete exchange goes when its last exchange binding goes', async () => {
    const { broker } = await setup();
    broker.declareExchange('auto', 'fanout', exchangeOptions({ autoDelete: true }), false);
    broker.declareExchange('dst', 'fanout', exchangeOptions(), false);
    broker.bindExchange('dst', 'auto', '', {});
    broker.deleteExchange('dst', false);
    expect(exchangeExists(broker, 'auto')).toBe(false);
  });

  it('routing - an exchange that is not auto-delete stays without bindings', async () => {
    const { broker } = await setup();
    broker.declareExchange('plain', 'fanout', exchangeOptions(), false);
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.bindQueue(null, 'q', 'plain', '', {});
    broker.unbindQueue(null, 'q', 'plain', '', {});
    expect(exchangeExists(broker, 'plain')).toBe(true);
  });
});
