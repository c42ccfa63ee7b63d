import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, RawClient, startBroker, type RunningBroker } from './harness.js';

// docs/management.md: reading messages with /get, moving them, lists with RabbitMQ's query
// parameters, nodes, the aliveness test and the overview's message_stats, through the real process.

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.stop();
});

type Json = Record<string, unknown>;

const declare = (name: string, body: unknown = { durable: false }) => api(broker, `/api/queues/%2F/${encodeURIComponent(name)}`, { method: 'PUT', body });
const publish = (queue: string, payload: string, properties: Json = {}, encoding = 'string') =>
  api(broker, '/api/exchanges/%2F/amq.default/publish', { method: 'POST', body: { routing_key: queue, payload, payload_encoding: encoding, properties } });
const get = (queue: string, body: Json) => api(broker, `/api/queues/%2F/${encodeURIComponent(queue)}/get`, { method: 'POST', body });
const ready = async (queue: string) => ((await api(broker, `/api/queues/%2F/${encodeURIComponent(queue)}`)).body as { messages_ready: number }).messages_ready;

describe('management - get', () => {
  it('management - get with ack_requeue_true shows the messages and leaves them, redelivered, in order', async () => {
    await declare('get.requeue');
    await publish('get.requeue', 'one', { headers: { k: 'v' }, message_id: 'm1', priority: 3 });
    await publish('get.requeue', 'two', { delivery_mode: 2 });
    const first = await get('get.requeue', { count: 5, ackmode: 'ack_requeue_true', encoding: 'auto' });
    expect(first).toMatchObject({ status: 200 });
    expect(first.body).toEqual([
      {
        payload_bytes: 3,
        redelivered: false,
        exchange: '',
        routing_key: 'get.requeue',
        message_count: 1,
        properties: { delivery_mode: 1, headers: { k: 'v' }, message_id: 'm1', priority: 3 },
        payload: 'one',
        payload_encoding: 'string',
      },
      { payload_bytes: 3, redelivered: false, exchange: '', routing_key: 'get.requeue', message_count: 0, properties: { delivery_mode: 2, headers: {} }, payload: 'two', payload_encoding: 'string' },
    ]);
    // delivery_mode 2 on a transient queue is not persisted, but the property is the message's own.
    const again = (await get('get.requeue', { count: '1', ackmode: 'reject_requeue_true', encoding: 'auto' })).body as Json[];
    expect(again.map((message) => [message.payload, message.redelivered])).toEqual([['one', true]]);
    expect(await ready('get.requeue')).toBe(2);
  });

  it('management - ack_requeue_false removes; reject_requeue_false dead-letters; a JSON payload comes back as its JSON', async () => {
    await api(broker, '/api/exchanges/%2F/get.dlx', { method: 'PUT', body: { type: 'fanout', durable: false } });
    await declare('get.dead');
    await api(broker, '/api/bindings/%2F/e/get.dlx/q/get.dead', { method: 'POST', body: {} });
    await declare('get.take', { durable: false, arguments: { 'x-dead-letter-exchange': 'get.dlx' } });
    const client = await RawClient.connected(broker.url);
    await client.request({ op: 'publish', exchange: '', routingKey: 'get.take', payload: { id: 1, text: 'é' } });
    await client.request({ op: 'publish', exchange: '', routingKey: 'get.take', payload: [1, 2] });
    client.socket.close();
    const taken = (await get('get.take', { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' })).body as Json[];
    expect(taken).toMatchObject([{ payload: '{"id":1,"text":"é"}', payload_bytes: 20, payload_encoding: 'string' }]);
    const rejected = (await get('get.take', { count: 1, ackmode: 'reject_requeue_false', encoding: 'base64', truncate: 3 })).body as Json[];
    expect(rejected).toMatchObject([{ payload: Buffer.from('[1,').toString('base64'), payload_bytes: 5, payload_encoding: 'base64' }]);
    expect(await ready('get.take')).toBe(0);
    const dead = (await get('get.dead', { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' })).body as Json[];
    expect(dead).toMatchObject([{ payload: '[1,2]', properties: { headers: { 'x-death': [{ queue: 'get.take', reason: 'rejected' }] } } }]);
    expect((await get('get.take', { count: 3, ackmode: 'ack_requeue_false', encoding: 'auto' })).body).toEqual([]);
  });

  it('management - get refuses what RabbitMQ refuses, with a reason', async () => {
    await declare('get.bad');
    const bad = async (body: Json, reason: RegExp) => expect(await get('get.bad', body)).toMatchObject({ status: 400, body: { error: 'bad_request', reason: expect.stringMatching(reason) } });
    await bad({ ackmode: 'ack_requeue_true', encoding: 'auto' }, /count is required/);
    await bad({ count: 0, ackmode: 'ack_requeue_true', encoding: 'auto' }, /count must be an integer >= 1/);
    await bad({ count: 1, ackmode: 'peek', encoding: 'auto' }, /ackmode must be one of/);
    await bad({ count: 1, ackmode: 'ack_requeue_true', encoding: 'hex' }, /encoding must be "auto" or "base64"/);
    expect((await get('get.none', { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto' })).status).toBe(404);
  });
});

describe('management - move', () => {
  it('management - move takes ready messages from the head, keeping their headers, and counts them', async () => {
    await declare('move.from');
    await declare('move.to');
    for (const text of ['a', 'b', 'c']) await publish('move.from', text, { headers: { 'x-death': [{ queue: 'orig', reason: 'rejected', count: 1 }] } });
    expect(await api(broker, '/api/queues/%2F/move.from/move', { method: 'POST', body: { destination: 'move.to', count: 2 } })).toMatchObject({ status: 200, body: { moved: 2 } });
    expect(await api(broker, '/api/queues/%2F/move.from/move', { method: 'POST', body: { destination: 'move.to' } })).toMatchObject({ body: { moved: 1 } });
    const moved = (await get('move.to', { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' })).body as Json[];
    expect(moved.map((message) => message.payload)).toEqual(['a', 'b', 'c']);
    expect(moved[0]).toMatchObject({ redelivered: false, properties: { headers: { 'x-death': [{ queue: 'orig' }] } } });
    expect(await ready('move.from')).toBe(0);
  });

  it('management - move stops at a full destination that refuses, leaving the rest at the source', async () => {
    await declare('move.src');
    await declare('move.full', { durable: false, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    for (const text of ['1', '2', '3']) await publish('move.src', text);
    expect((await api(broker, '/api/queues/%2F/move.src/move', { method: 'POST', body: { destination: 'move.full' } })).body).toEqual({ moved: 1 });
    expect(await ready('move.src')).toBe(2);
    const left = (await get('move.src', { count: 5, ackmode: 'ack_requeue_true', encoding: 'auto' })).body as Json[];
    expect(left.map((message) => [message.payload, message.redelivered])).toEqual([
      ['2', false],
      ['3', false],
    ]);
  });

  it('management - move to an unknown queue is 404, to itself 400, without a destination 400', async () => {
    await declare('move.self');
    expect((await api(broker, '/api/queues/%2F/move.self/move', { method: 'POST', body: { destination: 'nowhere' } })).status).toBe(404);
    expect(await api(broker, '/api/queues/%2F/move.self/move', { method: 'POST', body: { destination: 'move.self' } })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/to itself/) } });
    expect(await api(broker, '/api/queues/%2F/move.self/move', { method: 'POST', body: {} })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/destination is required/) } });
  });
});

describe('management - lists, nodes, aliveness, overview', () => {
  it('management - page, page_size, name and use_regex answer a page as RabbitMQ does', async () => {
    for (const name of ['page.a', 'page.b', 'page.c', 'PAGE.d', 'other']) await declare(name);
    const page = await api(broker, '/api/queues/%2F?page=1&page_size=2&name=page.&columns=name');
    expect(page.body).toMatchObject({ filtered_count: 4, item_count: 2, page: 1, page_count: 2, page_size: 2, items: [{ name: 'PAGE.d' }, { name: 'page.a' }] });
    expect((page.body as { items: Json[] }).items[0]).toEqual({ name: 'PAGE.d' });
    const regex = await api(broker, '/api/queues/%2F?page=1&name=%5Epage%5C.%5Bbc%5D&use_regex=true');
    expect((regex.body as { items: Json[] }).items.map((item) => item.name)).toEqual(['page.b', 'page.c']);
    expect(await api(broker, '/api/queues/%2F?page=9&name=page.')).toMatchObject({ status: 400, body: { error: 'page_out_of_range' } });
    expect(await api(broker, '/api/queues/%2F?page=1&page_size=501')).toMatchObject({ status: 400, body: { error: 'invalid_pagination_parameters' } });
    expect(await api(broker, '/api/queues/%2F?page=x')).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    // Without page, the plain list, whatever name says.
    expect(Array.isArray((await api(broker, '/api/queues/%2F?name=page.')).body)).toBe(true);
    const sorted = (await api(broker, '/api/exchanges/%2F?sort=name&sort_reverse=true&columns=name,type')).body as Json[];
    expect(sorted[0]).toEqual({ name: 'get.dlx', type: 'fanout' });
    expect(sorted.at(-1)).toEqual({ name: '', type: 'direct' });
  });

  it('management - nodes lists this process; aliveness-test publishes and gets back a message', async () => {
    const nodes = (await api(broker, '/api/nodes')).body as Json[];
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ type: 'disc', running: true, mem_alarm: false, disk_free_alarm: false, partitions: [] });
    expect((await api(broker, `/api/nodes/${encodeURIComponent(nodes[0].name as string)}`)).body).toMatchObject({ name: nodes[0].name });
    expect((await api(broker, '/api/nodes/rabbit%40elsewhere')).status).toBe(404);
    expect(await api(broker, '/api/aliveness-test/%2F')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await ready('aliveness-test')).toBe(0);
    expect((await api(broker, '/api/aliveness-test/nowhere')).status).toBe(404);
  });

  it('management - the overview counts publishes, deliveries, gets and acks, with rates, and lists the exchange types', async () => {
    const before = ((await api(broker, '/api/overview')).body as { message_stats: Record<string, number> }).message_stats;
    await declare('stats');
    await publish('stats', 'x');
    await publish('stats', 'y');
    await publish('nowhere-at-all', 'z');
    await get('stats', { count: 2, ackmode: 'ack_requeue_false', encoding: 'auto' });
    const overview = (await api(broker, '/api/overview')).body as { message_stats: Record<string, unknown>; exchange_types: Json[] };
    const after = overview.message_stats as Record<string, number>;
    expect(after.publish - before.publish).toBe(3);
    expect(after.drop_unroutable - before.drop_unroutable).toBe(1);
    expect(after.get - before.get).toBe(2);
    expect(after.deliver_get - before.deliver_get).toBe(2);
    expect(after.ack - before.ack).toBe(2);
    expect(overview.message_stats.publish_details).toEqual({ rate: expect.any(Number) });
    expect(overview.exchange_types.map((type) => type.name)).toEqual(['direct', 'fanout', 'topic', 'headers']);
  });
});

describe('management - a queue\'s message_stats', () => {
  it('management - a queue counts its own publishes, gets and acks, and the dead letters its missing dead-letter exchange dropped, told once in the log', async () => {
    await declare('orders.work', { durable: false, arguments: { 'x-dead-letter-exchange': 'orders.dlx' } });
    for (const payload of ['a', 'b', 'c']) await publish('orders.work', payload);
    expect(await get('orders.work', { count: 2, ackmode: 'reject_requeue_false', encoding: 'auto' })).toMatchObject({ status: 200 });
    expect(await get('orders.work', { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' })).toMatchObject({ status: 200 });
    const queue = (await api(broker, '/api/queues/%2F/orders.work')).body as { message_stats: Json };
    expect(queue.message_stats).toMatchObject({ publish: 3, get: 3, deliver_get: 3, ack: 1, dead_lettered: 2, dead_letter_dropped: 2, publish_details: { rate: expect.any(Number) } });
    expect(queue.message_stats).not.toHaveProperty('drop_unroutable');
    const told = () => broker.logs.filter((line) => line.queue === 'orders.work' && line.exchange === 'orders.dlx');
    // The broker's log arrives through a pipe, after the API's answer.
    await eventually(() => told().length > 0, 'the warning is logged');
    expect(told()).toHaveLength(1);
    expect(told()[0]).toMatchObject({ level: 40, vhost: '/' });
    expect(told()[0].msg).toMatch(/dead-letters into exchange "orders.dlx", which does not exist/);
    const listed = (await api(broker, '/api/queues/%2F?columns=name,message_stats.dead_letter_dropped')).body as Json[];
    expect(listed.find((entry) => entry.name === 'orders.work')).toEqual({ name: 'orders.work', message_stats: { dead_letter_dropped: 2 } });
  });
});
