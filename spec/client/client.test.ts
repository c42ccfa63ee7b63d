import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import type WsWebSocket from 'ws';
import {
  connect,
  WarrenError,
  type ConnectOptions,
  type Delivery,
  type HandlerErrorContext,
  type WarrenClient,
  type WebSocketConstructor,
} from '../../src/client/index.js';
import { fakeWebSocket, tick, type FakeSocket, type TestFrame } from './fake-websocket.js';


const URL = 'ws://broker.test/ws';

interface Opened {
  client: WarrenClient;
  socket: FakeSocket;
  sockets: FakeSocket[];
}

/** Connects over a fake socket, playing the broker's side of the handshake. */
async function open(options: Omit<ConnectOptions, 'WebSocket'> = {}): Promise<Opened> {
  const { WebSocket, sockets } = fakeWebSocket();
  const connecting = connect(URL, { ...options, WebSocket });
  await tick();
  const socket = sockets[0];
  socket.open();
  await tick();
  const [hello] = socket.takeFrames();
  expect(hello).toMatchObject({ op: 'connect', id: 1, version: 1 });
  socket.receive({ op: 'ok', id: 1, server: { name: 'warren', version: '0.1.0' }, connectionId: 'c-1' });
  const client = await connecting;
  return { client, socket, sockets };
}

/** Collects the arguments of every emission of `event`. */
function record<E extends 'return' | 'cancelled' | 'error' | 'blocked' | 'unblocked' | 'close' | 'reconnect' | 'disconnect'>(
  client: WarrenClient,
  event: E,
): unknown[][] {
  const calls: unknown[][] = [];
  client.on(event, ((...args: unknown[]) => calls.push(args)) as never);
  return calls;
}

function deliver(consumerTag: string, deliveryTag: number, payload: unknown = { n: deliveryTag }): TestFrame {
  return {
    op: 'deliver',
    consumerTag,
    deliveryTag,
    redelivered: false,
    exchange: 'ex',
    routingKey: 'rk',
    payload,
    headers: { h: 1 },
    properties: { persistent: true },
  };
}

async function rejection(promise: Promise<unknown>): Promise<WarrenError> {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(WarrenError);
  return error as WarrenError;
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('client - handshake', () => {
  it('client - the WebSocket option takes the browser class and the ws class (checked by tsc)', () => {
    expectTypeOf<typeof WebSocket>().toExtend<WebSocketConstructor>();
    expectTypeOf<typeof WsWebSocket>().toExtend<WebSocketConstructor>();
  });

  it('client - sends connect with id 1, version 1 and only the options given', async () => {
    const { WebSocket, sockets } = fakeWebSocket();
    const connecting = connect(URL, { WebSocket, username: 'ann', password: 's3cret', clientName: 'worker-1' });
    await tick();
    expect(sockets).toHaveLength(1);
    expect(sockets[0].url).toBe(URL);
    expect(sockets[0].sent).toEqual([]); // nothing before the socket opens
    sockets[0].open();
    await tick();
    expect(sockets[0].takeMessages()).toEqual([
      '{"op":"connect","id":1,"version":1,"username":"ann","password":"s3cret","clientName":"worker-1"}',
    ]);
    sockets[0].receive({ op: 'ok', id: 1, server: { name: 'warren', version: '1.2.3' }, connectionId: 'conn-7' });
    const client = await connecting;
    expect(client.state).toBe('open');
    expect(client.server).toEqual({ name: 'warren', version: '1.2.3' });
    expect(client.connectionId).toBe('conn-7');
  });

  it('client - a refused handshake rejects connect with the broker code and closes the socket', async () => {
    const { WebSocket, sockets } = fakeWebSocket();
    const connecting = connect(URL, { WebSocket, token: 'bad' });
    await tick();
    sockets[0].open();
    await tick();
    expect(sockets[0].takeFrames()).toEqual([{ op: 'connect', id: 1, version: 1, token: 'bad' }]);
    sockets[0].receive({ op: 'error', id: 1, code: 'ACCESS_REFUSED', message: 'bad token' });
    const error = await rejection(connecting);
    expect(error.code).toBe('ACCESS_REFUSED');
    expect(error.message).toBe('bad token');
    expect(sockets[0].closeCalls).toHaveLength(1);
  });

  it('client - a socket that closes before opening rejects connect with CONNECTION_CLOSED', async () => {
    const { WebSocket, sockets } = fakeWebSocket();
    const connecting = connect(URL, { WebSocket });
    await tick();
    sockets[0].drop(1006);
    const error = await rejection(connecting);
    expect(error.code).toBe('CONNECTION_CLOSED');
    expect(error.message).toContain(URL);
  });

  it('client - an invalid reconnect option fails before any socket opens', async () => {
    const { WebSocket, sockets } = fakeWebSocket();
    await expect(connect(URL, { WebSocket, reconnect: { initialDelayMs: 10, maxDelayMs: 5 } })).rejects.toThrow(RangeError);
    expect(sockets).toHaveLength(0);
  });
});

describe('client - requests', () => {
  it('client - ids increase from 2 after connect and replies are matched by id, in any order', async () => {
    const { client, socket } = await open();
    const declared = client.declareQueue('jobs', { durable: false });
    const purged = client.purgeQueue('jobs');
    const exchange = client.declareExchange('logs', 'fanout');
    await tick();
    expect(socket.takeFrames()).toEqual([
      { op: 'queue.declare', id: 2, queue: 'jobs', durable: false },
      { op: 'queue.purge', id: 3, queue: 'jobs' },
      { op: 'exchange.declare', id: 4, exchange: 'logs', type: 'fanout' },
    ]);
    socket.receive({ op: 'ok', id: 3, messageCount: 5 });
    socket.receive({ op: 'ok', id: 4 });
    socket.receive({ op: 'ok', id: 2, queue: 'jobs', messageCount: 1, consumerCount: 2 });
    await expect(declared).resolves.toEqual({ queue: 'jobs', messageCount: 1, consumerCount: 2 });
    await expect(purged).resolves.toEqual({ messageCount: 5 });
    await expect(exchange).resolves.toBeUndefined();
  });

  it('client - each method sends its op with defaults and only the options given', async () => {
    const { client, socket } = await open();
    void client.declareExchange('x', 'topic', { durable: true, autoDelete: undefined, arguments: { 'alternate-exchange': 'ae' } });
    void client.deleteExchange('x', { ifUnused: true });
    void client.bindExchange('dst', 'src');
    void client.unbindExchange('dst', 'src', 'a.*', { k: 1 });
    void client.declareQueue();
    void client.bindQueue('q', 'x', 'rk');
    void client.unbindQueue('q', 'amq.headers', undefined, { 'x-match': 'any', a: 1 });
    void client.deleteQueue('q', { ifEmpty: true });
    void client.cancel('tag-9');
    void client.get('q', { noAck: true });
    await tick();
    expect(socket.takeFrames()).toEqual([
      { op: 'exchange.declare', id: 2, exchange: 'x', type: 'topic', durable: true, arguments: { 'alternate-exchange': 'ae' } },
      { op: 'exchange.delete', id: 3, exchange: 'x', ifUnused: true },
      { op: 'exchange.bind', id: 4, destination: 'dst', source: 'src', routingKey: '' },
      { op: 'exchange.unbind', id: 5, destination: 'dst', source: 'src', routingKey: 'a.*', arguments: { k: 1 } },
      { op: 'queue.declare', id: 6, queue: '' },
      { op: 'queue.bind', id: 7, queue: 'q', exchange: 'x', routingKey: 'rk' },
      { op: 'queue.unbind', id: 8, queue: 'q', exchange: 'amq.headers', routingKey: '', arguments: { 'x-match': 'any', a: 1 } },
      { op: 'queue.delete', id: 9, queue: 'q', ifEmpty: true },
      { op: 'cancel', id: 10, consumerTag: 'tag-9' },
      { op: 'get', id: 11, queue: 'q', noAck: true },
    ]);
  });

  it('client - an error reply rejects with a WarrenError carrying the code and message, and nothing else', async () => {
    const { client, socket } = await open();
    const failing = client.declareQueue('amq.mine');
    const fine = client.declareQueue('mine');
    await tick();
    socket.receive([
      { op: 'error', id: 2, code: 'ACCESS_REFUSED', message: 'queue names starting with "amq." are reserved' },
      { op: 'ok', id: 3, queue: 'mine', messageCount: 0, consumerCount: 0 },
    ]);
    const error = await rejection(failing);
    expect(error.code).toBe('ACCESS_REFUSED');
    expect(error.message).toBe('queue names starting with "amq." are reserved');
    expect(error.name).toBe('WarrenError');
    await expect(fine).resolves.toEqual({ queue: 'mine', messageCount: 0, consumerCount: 0 });
  });

  it('client - a declareQueue with a server-chosen name returns that name', async () => {
    const { client, socket } = await open();
    const declared = client.declareQueue('', { exclusive: true });
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'queue.declare', id: 2, queue: '', exclusive: true }]);
    socket.receive({ op: 'ok', id: 2, queue: 'amq.gen-abc', messageCount: 0, consumerCount: 0 });
    expect((await declared).queue).toBe('amq.gen-abc');
  });
});

describe('client - batching', () => {
  it('client - frames of one tick go out as one array message; a lone frame as an object', async () => {
    const { client, socket } = await open();
    void client.declareQueue('a');
    void client.declareQueue('b');
    void client.publish('', 'a', 1, { confirm: false });
    await tick();
    expect(socket.takeMessages()).toEqual([
      '[{"op":"queue.declare","id":2,"queue":"a"},{"op":"queue.declare","id":3,"queue":"b"},{"op":"publish","exchange":"","routingKey":"a","payload":1}]',
    ]);
    void client.declareQueue('c');
    await tick();
    expect(socket.takeMessages()).toEqual(['{"op":"queue.declare","id":4,"queue":"c"}']);
  });

  it('client - a batch that would be too large for the broker is split', async () => {
    const { client, socket } = await open();
    const big = 'x'.repeat(150_000);
    void client.publish('', 'q', big, { confirm: false });
    void client.publish('', 'q', big, { confirm: false });
    void client.publish('', 'q', 'small', { confirm: false });
    await tick();
    const messages = socket.takeMessages();
    expect(messages).toHaveLength(2);
    expect(JSON.parse(messages[0])).toMatchObject({ op: 'publish', payload: big });
    expect(JSON.parse(messages[1])).toMatchObject([{ payload: big }, { payload: 'small' }]);
  });

  it('client - an incoming array is processed frame by frame, in order', async () => {
    const { client, socket } = await open();
    const order: string[] = [];
    const consumed = client.consume('q', (m) => void order.push(`deliver ${m.deliveryTag}`), { consumerTag: 'c1' });
    const declared = client.declareQueue('q').then(() => order.push('declared'));
    await tick();
    socket.receive([{ op: 'ok', id: 2, consumerTag: 'c1' }, deliver('c1', 1), { op: 'ok', id: 3, queue: 'q', messageCount: 0, consumerCount: 1 }, deliver('c1', 2)]);
    await consumed;
    await declared;
    expect(order).toEqual(['deliver 1', 'deliver 2', 'declared']);
  });

  it('client - an empty incoming array does nothing; malformed input is reported as an error event', async () => {
    const { client, socket } = await open();
    const errors = record(client, 'error');
    socket.receive([]);
    socket.receiveRaw('{not json');
    socket.receiveRaw(new Uint8Array([1, 2]));
    socket.receiveRaw('[1, {"op":"unblocked"}]');
    expect(errors.map(([e]) => (e as WarrenError).code)).toEqual(['PROTOCOL_ERROR', 'PROTOCOL_ERROR', 'PROTOCOL_ERROR']);
  });
});

describe('client - consuming', () => {
  it('client - a delivery reaches the handler with all its fields', async () => {
    const { client, socket } = await open();
    const got: Delivery[] = [];
    const consuming = client.consume('jobs', (m) => void got.push(m), { prefetch: 10, priority: 2 });
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'consume', id: 2, queue: 'jobs', prefetch: 10, priority: 2 }]);
    socket.receive({ op: 'ok', id: 2, consumerTag: 'amq.ctag-1' });
    expect(await consuming).toBe('amq.ctag-1');
    socket.receive({ ...deliver('amq.ctag-1', 7, { job: 'x' }), redelivered: true });
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      consumerTag: 'amq.ctag-1',
      deliveryTag: 7,
      redelivered: true,
      exchange: 'ex',
      routingKey: 'rk',
      payload: { job: 'x' },
      headers: { h: 1 },
      properties: { persistent: true },
    });
  });

  it('client - ack, nack and reject send the exact frames, batched in one tick', async () => {
    const { client, socket } = await open();
    const got: Delivery[] = [];
    const consuming = client.consume('q', (m) => void got.push(m), { consumerTag: 'c' });
    await tick();
    socket.takeFrames();
    socket.receive({ op: 'ok', id: 2, consumerTag: 'c' });
    await consuming;
    socket.receive([1, 2, 3, 4, 5, 6].map((n) => deliver('c', n)));
    got[0].ack();
    got[1].ack({ multiple: true });
    got[2].nack();
    got[3].nack({ requeue: false, multiple: true });
    got[4].reject();
    got[5].reject({ requeue: false });
    got[0].ack(); // settled already: nothing sent
    got[5].nack();
    await tick();
    expect(socket.takeMessages()).toEqual([
      '[{"op":"ack","deliveryTag":1},{"op":"ack","deliveryTag":2,"multiple":true},{"op":"nack","deliveryTag":3},' +
        '{"op":"nack","deliveryTag":4,"multiple":true,"requeue":false},{"op":"reject","deliveryTag":5},{"op":"reject","deliveryTag":6,"requeue":false}]',
    ]);
  });

  it('client - a lone ack goes out as a single frame', async () => {
    const { client, socket } = await open();
    const consuming = client.consume('q', (m) => m.ack(), { consumerTag: 'c' });
    await tick();
    socket.takeFrames();
    socket.receive({ op: 'ok', id: 2, consumerTag: 'c' });
    await consuming;
    socket.receive(deliver('c', 42));
    await tick();
    expect(socket.takeMessages()).toEqual(['{"op":"ack","deliveryTag":42}']);
  });

  it('client - deliveries of a noAck consumer need no settling: ack sends nothing', async () => {
    const { client, socket } = await open();
    const consuming = client.consume('q', (m) => m.ack(), { noAck: true, consumerTag: 'c' });
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'consume', id: 2, queue: 'q', noAck: true, consumerTag: 'c' }]);
    socket.receive({ op: 'ok', id: 2, consumerTag: 'c' });
    await consuming;
    socket.receive(deliver('c', 1));
    await tick();
    expect(socket.takeMessages()).toEqual([]);
  });

  it('client - deliveries batched with the consume reply reach a consumer whose tag the broker chose', async () => {
    const { client, socket } = await open();
    const tags: number[] = [];
    const consuming = client.consume('q', (m) => void tags.push(m.deliveryTag));
    await tick();
    socket.receive([{ op: 'ok', id: 2, consumerTag: 'amq.ctag-9' }, deliver('amq.ctag-9', 1), deliver('amq.ctag-9', 2)]);
    socket.receive(deliver('amq.ctag-9', 3));
    expect(await consuming).toBe('amq.ctag-9');
    socket.receive(deliver('amq.ctag-9', 4));
    expect(tags).toEqual([1, 2, 3, 4]);
  });

  it('client - a handler that throws or rejects is reported as an error event and its message stays unacked', async () => {
    const { client, socket } = await open();
    const errors = record(client, 'error');
    const consuming = client.consume(
      'q',
      (m) => {
        if (m.deliveryTag === 1) throw new Error('sync boom');
        return Promise.reject(new Error('async boom'));
      },
      { consumerTag: 'c' },
    );
    await tick();
    socket.takeFrames();
    socket.receive({ op: 'ok', id: 2, consumerTag: 'c' });
    await consuming;
    socket.receive([deliver('c', 1), deliver('c', 2)]);
    await tick();
    expect(errors.map(([e]) => (e as Error).message)).toEqual(['sync boom', 'async boom']);
    const context = errors[1][1] as HandlerErrorContext;
    expect(context.consumerTag).toBe('c');
    expect(context.message.deliveryTag).toBe(2);
    expect(socket.takeMessages()).toEqual([]); // no ack, no nack
  });

  it('client - a consumer tag already in use is refused without asking the broker', async () => {
    const { client, socket } = await open();
    const first = client.consume('q', () => {}, { consumerTag: 'c' });
    const error = await rejection(client.consume('q2', () => {}, { consumerTag: 'c' }));
    expect(error.code).toBe('NOT_ALLOWED');
    await tick();
    expect(socket.takeFrames()).toHaveLength(1);
    socket.receive({ op: 'ok', id: 2, consumerTag: 'c' });
    await first;
  });

  it('client - a refused consume does not keep its handler', async () => {
    const { client, socket } = await open();
    const handler = vi.fn();
    const consuming = client.consume('missing', handler, { consumerTag: 'c' });
    await tick();
    socket.receive({ op: 'error', id: 2, code: 'NOT_FOUND', message: 'no queue "missing"' });
    expect((await rejection(consuming)).code).toBe('NOT_FOUND');
    socket.receive(deliver('c', 1));
    expect(handler).not.toHaveBeenCalled();
  });

  it('client - cancel keeps the handler until the broker confirms, then drops it', async () => {
    const { client, socket } = await open();
    const handler = vi.fn();
    const consuming = client.consume('q', handler, { consumerTag: 'c' });
    await tick();
    socket.receive({ op: 'ok', id: 2, consumerTag: 'c' });
    await consuming;
    const cancelling = client.cancel('c');
    await tick();
    expect(socket.takeFrames()).toEqual([
      { op: 'consume', id: 2, queue: 'q', consumerTag: 'c' },
      { op: 'cancel', id: 3, consumerTag: 'c' },
    ]);
    socket.receive([deliver('c', 1), { op: 'ok', id: 3 }]);
    await cancelling;
    socket.receive(deliver('c', 2));
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it('client - get returns a settleable message, or null', async () => {
    const { client, socket } = await open();
    const first = client.get('q');
    const second = client.get('q', { noAck: true });
    const third = client.get('q');
    await tick();
    socket.takeFrames();
    const { op: _op, consumerTag: _tag, ...message } = deliver('unused', 5);
    socket.receive([
      { op: 'ok', id: 2, message, messageCount: 3 },
      { op: 'ok', id: 3, message: { ...message, deliveryTag: 6 }, messageCount: 2 },
      { op: 'ok', id: 4, message: null, messageCount: 0 },
    ]);
    const a = await first;
    expect(a.messageCount).toBe(3);
    expect(a.message).toMatchObject({ deliveryTag: 5, payload: { n: 5 }, exchange: 'ex', routingKey: 'rk' });
    expect(a.message !== null && 'consumerTag' in a.message).toBe(false);
    const b = await second;
    expect(await third).toEqual({ message: null, messageCount: 0 });
    a.message?.nack({ requeue: false });
    b.message?.ack(); // fetched with noAck: nothing to settle
    await tick();
    expect(socket.takeMessages()).toEqual(['{"op":"nack","deliveryTag":5,"requeue":false}']);
  });
});

describe('client - publishing', () => {
  it('client - a confirmed publish (the default) carries an id and settles on the broker reply', async () => {
    const { client, socket } = await open();
    const ok = client.publish('orders', 'eu.new', { id: 1 }, { headers: { a: 1 }, properties: { persistent: true, messageId: 'm1' }, mandatory: true });
    const nope = client.publish('orders', 'full', null);
    await tick();
    expect(socket.takeFrames()).toEqual([
      { op: 'publish', id: 2, exchange: 'orders', routingKey: 'eu.new', payload: { id: 1 }, headers: { a: 1 }, properties: { persistent: true, messageId: 'm1' }, mandatory: true },
      { op: 'publish', id: 3, exchange: 'orders', routingKey: 'full', payload: null },
    ]);
    let settled = false;
    void ok.then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    socket.receive([{ op: 'ok', id: 2 }, { op: 'error', id: 3, code: 'REJECTED', message: 'queue "full" is full' }]);
    await expect(ok).resolves.toBeUndefined();
    expect((await rejection(nope)).code).toBe('REJECTED');
  });

  it('client - confirm: false sends without id and resolves at once; its failure arrives as an error event', async () => {
    const { client, socket } = await open();
    const errors = record(client, 'error');
    await client.publish('nowhere', 'k', 'hi', { confirm: false });
    await tick();
    expect(socket.takeMessages()).toEqual(['{"op":"publish","exchange":"nowhere","routingKey":"k","payload":"hi"}']);
    socket.receive({ op: 'error', code: 'NOT_FOUND', message: 'no exchange "nowhere"' });
    expect(errors).toHaveLength(1);
    expect(errors[0][0]).toBeInstanceOf(WarrenError);
    expect(errors[0][0]).toMatchObject({ code: 'NOT_FOUND', message: 'no exchange "nowhere"' });
  });

  it('client - an undefined or unencodable payload is refused before anything is sent', async () => {
    const { client, socket } = await open();
    await expect(client.publish('', 'q', undefined)).rejects.toThrow(TypeError);
    await expect(client.publish('', 'q', { n: 1n })).rejects.toThrow(TypeError);
    await expect(client.publish('', 'q', 1n, { confirm: false })).rejects.toThrow(TypeError);
    await tick();
    expect(socket.sent).toHaveLength(1); // the handshake only
    void client.declareQueue('next');
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'queue.declare', id: 2, queue: 'next' }]);
  });

  it('client - a return frame is emitted as a return event before the confirm settles', async () => {
    const { client, socket } = await open();
    const events: string[] = [];
    const returned = record(client, 'return');
    client.on('return', () => events.push('return'));
    const publishing = client.publish('ex', 'nowhere', { a: 1 }, { mandatory: true }).then(() => events.push('confirmed'));
    await tick();
    socket.receive([
      { op: 'return', id: 2, replyCode: 312, replyText: 'NO_ROUTE', exchange: 'ex', routingKey: 'nowhere', payload: { a: 1 }, headers: {}, properties: {} },
      { op: 'ok', id: 2 },
    ]);
    await publishing;
    expect(events).toEqual(['return', 'confirmed']);
    expect(returned[0][0]).toEqual({
      replyCode: 312,
      replyText: 'NO_ROUTE',
      exchange: 'ex',
      routingKey: 'nowhere',
      payload: { a: 1 },
      headers: {},
      properties: {},
    });
  });
});

describe('client - events', () => {
  it('client - a cancelled frame emits cancelled and drops the handler', async () => {
    const { client, socket } = await open();
    const cancelled = record(client, 'cancelled');
    const handler = vi.fn();
    const consuming = client.consume('q', handler, { consumerTag: 'c' });
    await tick();
    socket.receive({ op: 'ok', id: 2, consumerTag: 'c' });
    await consuming;
    socket.receive({ op: 'cancelled', consumerTag: 'c' });
    socket.receive(deliver('c', 1));
    expect(cancelled).toEqual([[{ consumerTag: 'c' }]]);
    expect(handler).not.toHaveBeenCalled();
  });

  it('client - blocked and unblocked frames are emitted; off removes a listener', async () => {
    const { client, socket } = await open();
    const blocked = record(client, 'blocked');
    const unblocked = vi.fn();
    client.on('unblocked', unblocked);
    socket.receive({ op: 'blocked', reason: 'memory' });
    socket.receive({ op: 'unblocked' });
    client.off('unblocked', unblocked);
    socket.receive({ op: 'unblocked' });
    expect(blocked).toEqual([[{ reason: 'memory' }]]);
    expect(unblocked).toHaveBeenCalledTimes(1);
  });

  it('client - publishes made while blocked are held, in order, until unblocked', async () => {
    const { client, socket } = await open();
    socket.receive({ op: 'blocked', reason: 'memory' });
    void client.publish('', 'q', 1, { confirm: false });
    void client.publish('', 'q', 2, { confirm: false });
    await tick();
    expect(socket.takeFrames()).toEqual([]);
    socket.receive({ op: 'unblocked' });
    await tick();
    expect(socket.takeFrames().map((frame) => (frame as Record<string, unknown>).payload)).toEqual([1, 2]);
  });

  it('client - a listener that throws becomes an error event and does not stop the batch', async () => {
    const { client, socket } = await open();
    const errors = record(client, 'error');
    client.on('blocked', () => {
      throw new Error('listener bug');
    });
    const unblocked = vi.fn();
    client.on('unblocked', unblocked);
    socket.receive([{ op: 'blocked', reason: 'disk' }, { op: 'unblocked' }]);
    expect(errors.map(([e]) => (e as Error).message)).toEqual(['listener bug']);
    expect(unblocked).toHaveBeenCalled();
  });

  it('client - without an error listener, errors are logged rather than lost', async () => {
    const { socket } = await open();
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    socket.receive({ op: 'error', code: 'PRECONDITION_FAILED', message: 'unknown delivery tag 9' });
    expect(log).toHaveBeenCalledTimes(1);
    log.mockRestore();
  });
});

describe('client - closing', () => {
  it('client - close sends what is queued, rejects every pending request with CONNECTION_CLOSED and emits close', async () => {
    const { client, socket } = await open();
    const closes = record(client, 'close');
    const got: Delivery[] = [];
    const consuming = client.consume('q', (m) => void got.push(m), { consumerTag: 'c' });
    await tick();
    socket.receive([{ op: 'ok', id: 2, consumerTag: 'c' }, deliver('c', 1)]);
    await consuming;
    const pending = [client.declareQueue('a'), client.purgeQueue('b'), client.publish('', 'a', 1)];
    got[0].ack();
    const closing = client.close();
    expect(client.close()).toBe(closing);
    for (const request of pending) expect((await rejection(request)).code).toBe('CONNECTION_CLOSED');
    await closing;
    expect(socket.takeFrames().map((f) => f.op)).toEqual(['consume', 'queue.declare', 'queue.purge', 'publish', 'ack']);
    expect(socket.closeCalls).toEqual([{ code: 1000, reason: undefined }]);
    expect(closes).toEqual([[{ code: 1000, reason: 'closed by the client', byClient: true }]]);
    expect(client.state).toBe('closed');
    expect((await rejection(client.declareQueue('late'))).code).toBe('CONNECTION_CLOSED');
    expect((await rejection(client.publish('', 'late', 1, { confirm: false }))).code).toBe('CONNECTION_CLOSED');
    got[0].nack(); // no-op, no throw
  });

  it('client - a dropped socket without reconnect rejects pending requests and emits close', async () => {
    const { client, socket } = await open();
    const closes = record(client, 'close');
    const pending = client.declareQueue('a');
    await tick();
    socket.drop(1001, 'going away');
    const error = await rejection(pending);
    expect(error.code).toBe('CONNECTION_CLOSED');
    expect(error.message).toContain('1001');
    expect(closes).toEqual([[{ code: 1001, reason: 'going away', byClient: false }]]);
    expect(client.state).toBe('closed');
    await client.close(); // nothing left to do
    expect(closes).toHaveLength(1);
  });
});

describe('client - reconnect', () => {
  async function handshake(socket: FakeSocket): Promise<void> {
    socket.open();
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'connect', id: 1, version: 1, username: 'u' }]);
    socket.receive({ op: 'ok', id: 1, server: { name: 'warren', version: '0.1.0' }, connectionId: 'c-2' });
    await tick();
  }

  it('client - after a drop it reconnects with backoff, re-consumes every consumer with the same options and tag, and emits reconnect', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { client, socket, sockets } = await open({ username: 'u', reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } });
    const events = { disconnect: record(client, 'disconnect'), reconnect: record(client, 'reconnect'), close: record(client, 'close') };
    const seen: string[] = [];
    const given = client.consume('q1', (m) => void seen.push(`c1:${m.deliveryTag}`), { consumerTag: 'c1', prefetch: 5, arguments: { x: 1 } });
    const chosen = client.consume('q2', (m) => void seen.push(`gen:${m.deliveryTag}`), { noAck: true });
    await tick();
    socket.takeFrames();
    socket.receive([{ op: 'ok', id: 2, consumerTag: 'c1' }, { op: 'ok', id: 3, consumerTag: 'amq.ctag-7' }]);
    await given;
    await chosen;
    socket.receive(deliver('c1', 1));
    expect(seen).toEqual(['c1:1']);
    // Keep a delivery from the old socket to ack later.
    const kept: Delivery[] = [];
    const keep = client.consume('q3', (m) => void kept.push(m), { consumerTag: 'c3' });
    await tick();
    socket.receive([{ op: 'ok', id: 4, consumerTag: 'c3' }, deliver('c3', 2)]);
    await keep;
    const inFlight = client.declareQueue('inflight');
    await tick();
    socket.takeFrames();

    socket.drop(1006);
    expect((await rejection(inFlight)).code).toBe('CONNECTION_CLOSED');
    expect(client.state).toBe('reconnecting');
    expect(events.disconnect).toEqual([[{ code: 1006, reason: '' }]]);
    const during = await rejection(client.declareQueue('during'));
    expect(during.code).toBe('CONNECTION_CLOSED');
    expect(during.message).toContain('reconnecting');

    // Backoff: no new socket before the first delay (at most initialDelayMs).
    await vi.advanceTimersByTimeAsync(49);
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(51);
    expect(sockets).toHaveLength(2);
    const fresh = sockets[1];
    await handshake(fresh);
    expect(fresh.takeFrames()).toEqual([
      { op: 'consume', id: 2, queue: 'q1', prefetch: 5, consumerTag: 'c1', arguments: { x: 1 } },
      { op: 'consume', id: 3, queue: 'q2', noAck: true, consumerTag: 'amq.ctag-7' },
      { op: 'consume', id: 4, queue: 'q3', consumerTag: 'c3' },
    ]);
    expect(client.state).toBe('reconnecting');
    fresh.receive([
      { op: 'ok', id: 2, consumerTag: 'c1' },
      { op: 'ok', id: 3, consumerTag: 'amq.ctag-7' },
      { op: 'ok', id: 4, consumerTag: 'c3' },
    ]);
    await tick();
    expect(client.state).toBe('open');
    expect(client.connectionId).toBe('c-2');
    expect(events.reconnect).toEqual([[{ attempts: 1, consumerTags: ['c1', 'amq.ctag-7', 'c3'] }]]);
    expect(events.close).toEqual([]);

    // The old delivery's tag died with its socket: acking it sends nothing anywhere.
    expect(kept).toHaveLength(1);
    kept[0].ack();
    fresh.receive([deliver('c1', 1), deliver('amq.ctag-7', 2)]);
    await tick();
    expect(fresh.takeMessages()).toEqual([]);
    expect(socket.takeMessages()).toEqual([]);
    expect(seen).toEqual(['c1:1', 'c1:1', 'gen:2']);

    // And the client works as before.
    const declared = client.declareQueue('after');
    await tick();
    expect(fresh.takeFrames()).toEqual([{ op: 'queue.declare', id: 5, queue: 'after' }]);
    fresh.receive({ op: 'ok', id: 5, queue: 'after', messageCount: 0, consumerCount: 0 });
    await declared;
    await client.close();
  });

  it('client - failed attempts back off exponentially and a consumer that cannot be restored is cancelled', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    vi.spyOn(Math, 'random').mockReturnValue(0); // no jitter: the full delay
    const { client, socket, sockets } = await open({ username: 'u', reconnect: { initialDelayMs: 100, maxDelayMs: 250 } });
    const cancelled = record(client, 'cancelled');
    const errors = record(client, 'error');
    const reconnects = record(client, 'reconnect');
    const consuming = client.consume('exclusive-q', () => {}, { consumerTag: 'gone' });
    const stays = client.consume('shared', () => {}, { consumerTag: 'stays' });
    await tick();
    socket.receive([{ op: 'ok', id: 2, consumerTag: 'gone' }, { op: 'ok', id: 3, consumerTag: 'stays' }]);
    await consuming;
    await stays;
    socket.drop();

    await vi.advanceTimersByTimeAsync(100); // attempt 1 after 100 ms
    expect(sockets).toHaveLength(2);
    sockets[1].drop(); // refused
    await tick();
    await vi.advanceTimersByTimeAsync(199);
    expect(sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1); // attempt 2 after 200 ms
    expect(sockets).toHaveLength(3);
    sockets[2].drop();
    await tick();
    await vi.advanceTimersByTimeAsync(250); // attempt 3 capped at 250 ms
    expect(sockets).toHaveLength(4);
    await handshake(sockets[3]);
    sockets[3].takeFrames();
    sockets[3].receive([
      { op: 'error', id: 2, code: 'NOT_FOUND', message: 'no queue "exclusive-q"' },
      { op: 'ok', id: 3, consumerTag: 'stays' },
    ]);
    await tick();
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0][0]).toMatchObject({ consumerTag: 'gone', error: { code: 'NOT_FOUND' } });
    expect(errors).toHaveLength(1);
    expect(reconnects).toEqual([[{ attempts: 3, consumerTags: ['stays'] }]]);
    await client.close();
  });

  it('client - it gives up after maxAttempts and emits close with the last error', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { client, socket, sockets } = await open({ reconnect: { initialDelayMs: 10, maxDelayMs: 10, maxAttempts: 2 } });
    const closes = record(client, 'close');
    socket.drop();
    await vi.advanceTimersByTimeAsync(10);
    sockets[1].drop();
    await tick();
    await vi.advanceTimersByTimeAsync(10);
    sockets[2].drop();
    await tick();
    expect(sockets).toHaveLength(3);
    expect(client.state).toBe('closed');
    expect(closes).toHaveLength(1);
    expect(closes[0][0]).toMatchObject({ code: 1006, byClient: false, error: { code: 'CONNECTION_CLOSED' } });
    expect((closes[0][0] as { reason: string }).reason).toMatch(/^gave up reconnecting/);
  });

  it('client - close while reconnecting stops the attempts', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { client, socket, sockets } = await open({ reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
    const closes = record(client, 'close');
    socket.drop();
    await vi.advanceTimersByTimeAsync(10);
    expect(sockets).toHaveLength(2); // connecting
    await client.close();
    expect(sockets[1].closeCalls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets).toHaveLength(2);
    expect(closes).toEqual([[{ code: 1000, reason: 'closed by the client', byClient: true }]]);
  });

  it('client - a consumer cancelled while reconnecting is not restored', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { client, socket, sockets } = await open({ username: 'u', reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
    const consuming = client.consume('q', () => {}, { consumerTag: 'c' });
    await tick();
    socket.receive({ op: 'ok', id: 2, consumerTag: 'c' });
    await consuming;
    socket.drop();
    await client.cancel('c');
    await vi.advanceTimersByTimeAsync(10);
    await handshake(sockets[1]);
    expect(sockets[1].takeFrames()).toEqual([]);
    expect(client.state).toBe('open');
    await client.close();
  });
});

describe('client - tokens and vhosts', () => {
  const T0 = Date.UTC(2030, 0, 1);
  const MINUTE = 60_000;
  const SERVER = { name: 'warren', version: '0.1.0' };

  /** Fake timers and clock; setImmediate stays real for tick(). */
  function fakeTime(): void {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
  }

  /** A getToken that hands out tok-1, tok-2, ... and counts its calls. */
  function tokens(): { getToken: () => Promise<string>; calls: () => number } {
    let n = 0;
    return { getToken: () => Promise.resolve(`tok-${++n}`), calls: () => n };
  }

  /** Plays the broker's side of a token handshake on `socket`; returns the connect frame. */
  async function accept(socket: FakeSocket, expiresAt: number | undefined, extra: Record<string, unknown> = {}): Promise<TestFrame> {
    socket.open();
    await tick();
    const [hello] = socket.takeFrames();
    expect(hello).toMatchObject({ op: 'connect', id: 1 });
    socket.receive({ op: 'ok', id: 1, server: SERVER, connectionId: 'c', user: 'ann', vhost: '/', ...(expiresAt === undefined ? {} : { expiresAt }), ...extra });
    await tick();
    return hello;
  }

  async function openWith(options: Omit<ConnectOptions, 'WebSocket'>, expiresAt?: number): Promise<Opened & { hello: TestFrame }> {
    const { WebSocket, sockets } = fakeWebSocket();
    const connecting = connect(URL, { ...options, WebSocket });
    await tick();
    const hello = await accept(sockets[0], expiresAt);
    return { client: await connecting, socket: sockets[0], sockets, hello };
  }

  it('client - connect sends token and vhost in order; user, vhost and expiresAt come from the reply', async () => {
    const { WebSocket, sockets } = fakeWebSocket();
    const connecting = connect(URL, { WebSocket, token: 'eyJ.t', vhost: 'prod', clientName: 'app' });
    await tick();
    sockets[0].open();
    await tick();
    expect(sockets[0].takeMessages()).toEqual(['{"op":"connect","id":1,"version":1,"token":"eyJ.t","vhost":"prod","clientName":"app"}']);
    sockets[0].receive({ op: 'ok', id: 1, server: SERVER, connectionId: 'c', user: 'ann', vhost: 'prod', expiresAt: 1_900_000_000_000 });
    const client = await connecting;
    expect(client.user).toBe('ann');
    expect(client.vhost).toBe('prod');
    expect(client.expiresAt).toBe(1_900_000_000_000);
  });

  it('client - a password or anonymous login has no expiresAt; vhost defaults to the one asked for', async () => {
    const { client, hello } = await openWith({ username: 'u', password: 'p' });
    expect(hello).toEqual({ op: 'connect', id: 1, version: 1, username: 'u', password: 'p' });
    expect(client.expiresAt).toBeUndefined();
    const { client: anonymous } = await open();
    expect(anonymous.user).toBeUndefined();
    expect(anonymous.vhost).toBe('/'); // an older broker's reply without vhost
    expect(anonymous.expiresAt).toBeUndefined();
  });

  it('client - conflicting credentials are a RangeError naming them, before any socket opens', async () => {
    const { WebSocket, sockets } = fakeWebSocket();
    const getToken = () => 't';
    await expect(connect(URL, { WebSocket, token: 't', getToken })).rejects.toThrow(new RangeError('connect: give token or getToken, not both (getToken supplies every token, the first one included)'));
    await expect(connect(URL, { WebSocket, getToken, username: 'ann' })).rejects.toThrow(/give getToken or username, not both/);
    await expect(connect(URL, { WebSocket, token: 't', password: 'p' })).rejects.toThrow(/give token or password, not both/);
    await expect(connect(URL, { WebSocket, getToken, username: 'ann', password: 'p' })).rejects.toBeInstanceOf(RangeError);
    await expect(connect(URL, { WebSocket, getToken: 'nope' as never })).rejects.toThrow(TypeError);
    expect(sockets).toHaveLength(0);
  });

  it('client - getToken is awaited before the socket opens and its token is sent; a failing getToken fails connect without a socket', async () => {
    const { WebSocket, sockets } = fakeWebSocket();
    const source = tokens();
    const { client, hello } = await openWith({ getToken: source.getToken, vhost: 'v' }, T0 + MINUTE);
    expect(hello).toEqual({ op: 'connect', id: 1, version: 1, token: 'tok-1', vhost: 'v' });
    expect(source.calls()).toBe(1);
    await client.close();

    await expect(connect(URL, { WebSocket, getToken: () => Promise.reject(new Error('auth server down')) })).rejects.toThrow('auth server down');
    await expect(connect(URL, { WebSocket, getToken: () => '' })).rejects.toThrow(new TypeError('getToken must return a non-empty string, got an empty string'));
    expect(sockets).toHaveLength(0);
  });

  it('client - a token that lives longer than a timer can wait (24.8 days) is refreshed on time, not at once', async () => {
    fakeTime();
    const source = tokens();
    const DAY = 24 * 60 * MINUTE;
    const { client, socket } = await openWith({ getToken: source.getToken }, T0 + 30 * DAY);
    await vi.advanceTimersByTimeAsync(30 * DAY - MINUTE - 1);
    expect(socket.takeFrames()).toEqual([]);
    expect(source.calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 2, token: 'tok-2' }]);
    await client.close();
  });

  it('client - every reconnect attempt gets a fresh token; a getToken that throws fails that attempt only', async () => {
    fakeTime();
    vi.spyOn(Math, 'random').mockReturnValue(0);
    let n = 0;
    const getToken = vi.fn(() => {
      n++;
      if (n === 3) throw new Error('token service busy');
      return `tok-${n}`;
    });
    const { client, socket, sockets } = await openWith({ getToken, reconnect: { initialDelayMs: 100, maxDelayMs: 100 } }, T0 + 10 * MINUTE);
    const reconnects = record(client, 'reconnect');
    socket.drop();
    await vi.advanceTimersByTimeAsync(100); // attempt 1: tok-2, socket refused
    expect(sockets).toHaveLength(2);
    sockets[1].open();
    await tick();
    expect(sockets[1].takeFrames()).toEqual([{ op: 'connect', id: 1, version: 1, token: 'tok-2' }]);
    sockets[1].drop();
    await tick();
    await vi.advanceTimersByTimeAsync(100); // attempt 2: getToken throws, no socket
    expect(sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(100); // attempt 3: tok-4
    expect(sockets).toHaveLength(3);
    const hello = await accept(sockets[2], T0 + 20 * MINUTE);
    expect(hello.token).toBe('tok-4');
    expect(getToken).toHaveBeenCalledTimes(4);
    expect(reconnects).toEqual([[{ attempts: 3, consumerTags: [] }]]);
    expect(client.expiresAt).toBe(T0 + 20 * MINUTE);
    await client.close();
  });

  it('client - with getToken it refreshes 80% through the lifetime (60 s before expiry at most) and reschedules from the new expiry', async () => {
    fakeTime();
    const source = tokens();
    const { client, socket } = await openWith({ getToken: source.getToken }, T0 + 10 * MINUTE);
    // 10 minutes left: a fifth is 2 minutes, capped to 60 s before expiry.
    await vi.advanceTimersByTimeAsync(9 * MINUTE - 1);
    expect(socket.takeFrames()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 2, token: 'tok-2' }]);
    // The next token lives 100 s: refreshed 20 s before it expires.
    socket.receive({ op: 'ok', id: 2, expiresAt: T0 + 9 * MINUTE + 100_000 });
    await tick();
    expect(client.expiresAt).toBe(T0 + 9 * MINUTE + 100_000);
    await vi.advanceTimersByTimeAsync(80_000 - 1);
    expect(socket.takeFrames()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 3, token: 'tok-3' }]);
    // A 3-second token: refreshed 1 s before (the least lead).
    socket.receive({ op: 'ok', id: 3, expiresAt: Date.now() + 3_000 });
    await tick();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(socket.takeFrames()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 4, token: 'tok-4' }]);
    // A token about to expire is refreshed a second later, not in a loop.
    socket.receive({ op: 'ok', id: 4, expiresAt: Date.now() + 500 });
    await tick();
    await vi.advanceTimersByTimeAsync(999);
    expect(socket.takeFrames()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 5, token: 'tok-5' }]);
    await client.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('client - the refresh timer does not keep a Node process alive', async () => {
    fakeTime();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const { client } = await openWith({ getToken: tokens().getToken }, T0 + 10 * MINUTE);
    const call = spy.mock.calls.findIndex(([, delay]) => delay === 9 * MINUTE);
    expect(call).toBeGreaterThanOrEqual(0);
    expect((spy.mock.results[call].value as { hasRef(): boolean }).hasRef()).toBe(false);
    await client.close();
  });

  it('client - a refused refresh or a throwing getToken is an error event without the token, retried every 5 s or at half the time left', async () => {
    fakeTime();
    let n = 0;
    const getToken = vi.fn(() => {
      n++;
      if (n === 3) return Promise.reject(new Error('token service busy'));
      return `secret-${n}`;
    });
    const { client, socket } = await openWith({ getToken }, T0 + 20_000);
    const errors = record(client, 'error');
    // 20 s left: refresh 4 s before expiry.
    await vi.advanceTimersByTimeAsync(16_000);
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 2, token: 'secret-2' }]);
    socket.receive({ op: 'error', id: 2, code: 'ACCESS_REFUSED', message: 'access refused: the token has expired' });
    await tick();
    expect(errors).toHaveLength(1);
    const refused = errors[0][0] as WarrenError;
    expect(refused).toBeInstanceOf(WarrenError);
    expect(refused.code).toBe('ACCESS_REFUSED');
    expect(refused.message).toBe('token refresh failed: access refused: the token has expired');
    expect(client.expiresAt).toBe(T0 + 20_000); // the old token stays
    expect(client.state).toBe('open');
    // 4 s left: the retry comes after 2 s; getToken throws.
    await vi.advanceTimersByTimeAsync(1_999);
    expect(getToken).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    await tick();
    expect(getToken).toHaveBeenCalledTimes(3);
    expect(errors).toHaveLength(2);
    expect((errors[1][0] as Error).message).toBe('token refresh failed: getToken failed: token service busy');
    // 2 s left: retried after 1 s, and this one works.
    await vi.advanceTimersByTimeAsync(1_000);
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 3, token: 'secret-4' }]);
    socket.receive({ op: 'ok', id: 3, expiresAt: T0 + 10 * MINUTE });
    await tick();
    expect(client.expiresAt).toBe(T0 + 10 * MINUTE);
    expect(errors.some(([e]) => (e as Error).message.includes('secret'))).toBe(false);
    await client.close();
  });

  it('client - with less than a second left a failed refresh is not retried', async () => {
    fakeTime();
    const getToken = vi.fn(() => 't');
    const { client, socket } = await openWith({ getToken }, T0 + 1_500);
    const errors = record(client, 'error');
    await vi.advanceTimersByTimeAsync(500);
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 2, token: 't' }]);
    await vi.advanceTimersByTimeAsync(200); // a slow refusal: 800 ms left
    socket.receive({ op: 'error', id: 2, code: 'ACCESS_REFUSED', message: 'no' });
    await tick();
    expect(errors).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    await client.close();
  });

  it('client - a drop clears the refresh timer; the reconnect logs in with a fresh token and schedules anew', async () => {
    fakeTime();
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const source = tokens();
    const { client, socket, sockets } = await openWith({ getToken: source.getToken, reconnect: { initialDelayMs: 10, maxDelayMs: 10 } }, T0 + 10 * MINUTE);
    socket.drop();
    expect(vi.getTimerCount()).toBe(1); // the backoff wait only
    await vi.advanceTimersByTimeAsync(10);
    const hello = await accept(sockets[1], T0 + 30 * MINUTE);
    expect(hello.token).toBe('tok-2');
    expect(client.expiresAt).toBe(T0 + 30 * MINUTE);
    await vi.advanceTimersByTimeAsync(29 * MINUTE - 10);
    await tick();
    expect(sockets[1].takeFrames()).toEqual([{ op: 'auth.refresh', id: 2, token: 'tok-3' }]);
    expect(socket.takeFrames()).toEqual([]);
    await client.close();
  });

  it('client - refreshToken sends auth.refresh and resolves with the new expiry; a refusal rejects and keeps the old one', async () => {
    fakeTime();
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client, socket, sockets } = await openWith({ token: 'old', reconnect: { initialDelayMs: 10, maxDelayMs: 10 } }, T0 + MINUTE);
    const refreshed = client.refreshToken('new');
    await tick();
    expect(socket.takeFrames()).toEqual([{ op: 'auth.refresh', id: 2, token: 'new' }]);
    socket.receive({ op: 'ok', id: 2, expiresAt: T0 + 5 * MINUTE });
    await expect(refreshed).resolves.toBe(T0 + 5 * MINUTE);
    expect(client.expiresAt).toBe(T0 + 5 * MINUTE);
    expect(vi.getTimerCount()).toBe(0); // no getToken: nothing scheduled

    const refused = client.refreshToken('other-user');
    await tick();
    socket.receive({ op: 'error', id: 3, code: 'ACCESS_REFUSED', message: 'access refused: the token is for another user' });
    expect((await rejection(refused)).code).toBe('ACCESS_REFUSED');
    expect(client.expiresAt).toBe(T0 + 5 * MINUTE);

    // A reconnect after a plain drop logs in with the last token the broker took.
    socket.drop();
    await vi.advanceTimersByTimeAsync(10);
    expect((await accept(sockets[1], T0 + 5 * MINUTE)).token).toBe('new');
    await client.close();
    expect((await rejection(client.refreshToken('x'))).code).toBe('CONNECTION_CLOSED');
  });

  it('client - a consumer cancelled for permission emits cancelled with the reason and is not restored', async () => {
    fakeTime();
    const { client, socket, sockets } = await openWith({ getToken: tokens().getToken, reconnect: { initialDelayMs: 10, maxDelayMs: 10 } }, T0 + 10 * MINUTE);
    const cancelled = record(client, 'cancelled');
    const lost = client.consume('secret-q', () => {}, { consumerTag: 'lost' });
    const kept = client.consume('open-q', () => {}, { consumerTag: 'kept' });
    await tick();
    socket.takeFrames();
    socket.receive([{ op: 'ok', id: 2, consumerTag: 'lost' }, { op: 'ok', id: 3, consumerTag: 'kept' }]);
    await lost;
    await kept;
    socket.receive({ op: 'cancelled', consumerTag: 'lost', reason: 'permission' });
    expect(cancelled).toEqual([[{ consumerTag: 'lost', reason: 'permission' }]]);
    socket.drop();
    await vi.advanceTimersByTimeAsync(10);
    await accept(sockets[1], T0 + 10 * MINUTE);
    expect(sockets[1].takeFrames()).toEqual([{ op: 'consume', id: 2, queue: 'open-q', consumerTag: 'kept' }]);
    await client.close();
  });

  it('client - an expired fixed token (error, then close 4401) ends a reconnecting client at once', async () => {
    fakeTime();
    const { client, socket, sockets } = await openWith({ token: 'fixed', reconnect: true }, T0 + MINUTE);
    const events = { error: record(client, 'error'), close: record(client, 'close'), disconnect: record(client, 'disconnect') };
    socket.receive({ op: 'error', code: 'ACCESS_REFUSED', message: 'access refused: the token expired' });
    socket.drop(4401, 'token expired');
    expect(client.state).toBe('closed');
    expect(events.error).toHaveLength(1);
    expect(events.disconnect).toEqual([]);
    expect(events.close).toHaveLength(1);
    expect(events.close[0][0]).toMatchObject({
      code: 4401,
      reason: 'gave up reconnecting: access refused: the token expired',
      byClient: false,
      error: { code: 'ACCESS_REFUSED' },
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sockets).toHaveLength(1);
  });

  it('client - a close 4403 of a password login ends a reconnecting client at once; without reconnect the close carries the refusal', async () => {
    fakeTime();
    const { client, socket, sockets } = await openWith({ username: 'u', password: 'p', reconnect: true });
    const closes = record(client, 'close');
    socket.drop(4403, 'vhost gone');
    expect(closes[0][0]).toMatchObject({ code: 4403, byClient: false, error: { code: 'ACCESS_REFUSED', message: 'the broker closed the connection (code 4403, vhost gone)' } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sockets).toHaveLength(1);

    const { client: plain, socket: plainSocket } = await openWith({ token: 't' }, T0 + MINUTE);
    const plainCloses = record(plain, 'close');
    plain.on('error', () => {});
    plainSocket.receive({ op: 'error', code: 'ACCESS_REFUSED', message: 'expired' });
    plainSocket.drop(4401, 'token expired');
    expect(plainCloses[0][0]).toMatchObject({ code: 4401, reason: 'token expired', error: { code: 'ACCESS_REFUSED', message: 'expired' } });
  });

  it('client - with getToken a close 4401 reconnects with a fresh token', async () => {
    fakeTime();
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const source = tokens();
    const { client, socket, sockets } = await openWith({ getToken: source.getToken, reconnect: { initialDelayMs: 10, maxDelayMs: 10 } }, T0 + MINUTE);
    const events = { disconnect: record(client, 'disconnect'), reconnect: record(client, 'reconnect') };
    client.on('error', () => {});
    socket.receive({ op: 'error', code: 'ACCESS_REFUSED', message: 'access refused: the token expired' });
    socket.drop(4401, 'token expired');
    expect(client.state).toBe('reconnecting');
    expect(events.disconnect).toEqual([[{ code: 4401, reason: 'token expired' }]]);
    await vi.advanceTimersByTimeAsync(10);
    expect((await accept(sockets[1], T0 + 10 * MINUTE)).token).toBe('tok-2');
    expect(client.state).toBe('open');
    expect(events.reconnect).toHaveLength(1);
    await client.close();
  });

  it('client - ACCESS_REFUSED at a reconnect handshake gives up, with getToken too', async () => {
    fakeTime();
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client, socket, sockets } = await openWith({ getToken: tokens().getToken, reconnect: { initialDelayMs: 10, maxDelayMs: 10 } }, T0 + MINUTE);
    const closes = record(client, 'close');
    socket.drop();
    await vi.advanceTimersByTimeAsync(10);
    sockets[1].open();
    await tick();
    sockets[1].receive({ op: 'error', id: 1, code: 'ACCESS_REFUSED', message: 'access refused: no such user' });
    await tick();
    expect(client.state).toBe('closed');
    expect(closes[0][0]).toMatchObject({ reason: 'gave up reconnecting: access refused: no such user', error: { code: 'ACCESS_REFUSED' } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sockets).toHaveLength(2);
  });
});
