import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, startBroker, type Frame, type RunningBroker } from './harness.js';
import { RawStomp, StompPeer, until } from './stomp-peer.js';

// STOMP 1.2 over WebSocket with the real @stomp/stompjs client against the real broker process
// (docs/stomp.md): destinations, ack modes, prefetch, receipts, transactions, and one broker
// shared with the native protocol.

let broker: RunningBroker;
const peers: StompPeer[] = [];
const natives: RawClient[] = [];

beforeAll(async () => {
  broker = await startBroker({ users: [{ username: 'guest', password: 'guest' }] });
});
afterAll(async () => {
  await Promise.all(peers.map((peer) => peer.close()));
  for (const client of natives) client.close();
  await broker.stop();
});

async function stomp(options: Parameters<typeof StompPeer.connect>[1] = {}): Promise<StompPeer> {
  const peer = await StompPeer.connect(broker.url, options);
  peers.push(peer);
  return peer;
}

async function native(): Promise<RawClient> {
  const client = await RawClient.open(broker.url);
  expect((await client.request({ op: 'connect', version: 1, username: 'guest', password: 'guest' })).op).toBe('ok');
  natives.push(client);
  return client;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `queue` has `count` ready messages: a closed connection's deliveries are requeued once the broker sees the close. */
async function readyCount(client: RawClient, queue: string, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const reply = await client.request({ op: 'queue.declare', queue, passive: true });
    if (reply.messageCount === count) return;
    if (Date.now() > deadline) throw new Error(`queue ${queue} has ${String(reply.messageCount)} ready messages, not ${count}`);
    await sleep(10);
  }
}

describe('stomp - connecting', () => {
  it('stomp - CONNECTED gives version, server, session and heart-beat for each subprotocol', async () => {
    const peer = await stomp();
    expect(peer.connected.headers).toMatchObject({ version: '1.2', server: expect.stringMatching(/^Warren\//), session: expect.any(String), 'heart-beat': '0,0' });

    const v11 = await RawStomp.open(broker.url, ['v11.stomp']);
    expect(v11.socket.protocol).toBe('v11.stomp');
    v11.send('CONNECT\naccept-version:1.0,1.1\nlogin:guest\npasscode:guest\n\n\0');
    expect((await v11.waitFor('CONNECTED')).headers).toMatchObject({ version: '1.1' });
    v11.socket.close();

    const v10 = await RawStomp.open(broker.url, ['v10.stomp']);
    v10.send('CONNECT\nlogin:guest\npasscode:guest\n\n\0');
    const connected = await v10.waitFor('CONNECTED');
    expect(connected.headers.version).toBe('1.0');
    expect(connected.headers['heart-beat']).toBeUndefined();
    v10.socket.close();
  });

  it('stomp - stompjs with brokerURL and a global WebSocket (its documented Node set-up) connects too', async () => {
    const { Client } = await import('@stomp/stompjs');
    const WebSocket = (await import('ws')).default;
    Object.assign(globalThis, { WebSocket });
    try {
      const client = new Client({ brokerURL: broker.url, connectHeaders: { login: 'guest', passcode: 'guest' }, reconnectDelay: 0 });
      const connected = new Promise<string | undefined>((resolve) => (client.onConnect = (frame) => resolve(frame.headers.version)));
      client.activate();
      expect(await connected).toBe('1.2');
      await client.deactivate();
    } finally {
      delete (globalThis as { WebSocket?: unknown }).WebSocket;
    }
  });

  it('stomp - a STOMP 1.1 client acknowledges with message-id and subscription', async () => {
    const peer = await RawStomp.open(broker.url, ['v11.stomp']);
    peer.send('CONNECT\naccept-version:1.1\nlogin:guest\npasscode:guest\n\n\0');
    await peer.waitFor('CONNECTED');
    peer.send('SUBSCRIBE\nid:s1\ndestination:/queue/stomp.v11\nack:client\n\n\0');
    peer.send('SEND\ndestination:/queue/stomp.v11\n\nhello 1.1\0');
    const message = await peer.waitFor('MESSAGE');
    expect(message.body).toBe('hello 1.1');
    peer.send(`ACK\nsubscription:s1\nmessage-id:${message.headers['message-id']}\nreceipt:acked\n\n\0`);
    expect((await peer.waitFor('RECEIPT')).headers['receipt-id']).toBe('acked');
    peer.socket.close();
    await peer.waitForClose();
    const client = await native();
    expect(await client.request({ op: 'queue.declare', queue: 'stomp.v11', passive: true })).toMatchObject({ messageCount: 0 });
  });

  it('stomp - login and passcode are checked against the same users as the native protocol', async () => {
    const refused = await RawStomp.open(broker.url);
    refused.send('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:wrong\n\n\0');
    expect((await refused.waitFor('ERROR')).headers.message).toMatch(/access refused/);
    expect(await refused.waitForClose()).toBe(4401);
  });
});

describe('stomp - destinations', () => {
  it('stomp - /queue/<name>: SEND declares a durable queue, subscribers share it', async () => {
    const producer = await stomp();
    await producer.send('/queue/stomp.shared', 'first');
    const client = await native();
    expect(await client.request({ op: 'queue.declare', queue: 'stomp.shared', passive: true })).toMatchObject({ op: 'ok', messageCount: 1 });
    // Durable: a non-durable redeclare is refused.
    expect(await client.request({ op: 'queue.declare', queue: 'stomp.shared', durable: false })).toMatchObject({ code: 'PRECONDITION_FAILED' });

    const a = await (await stomp()).subscribe('/queue/stomp.shared');
    const b = await (await stomp()).subscribe('/queue/stomp.shared');
    for (const body of ['2', '3', '4']) await producer.send('/queue/stomp.shared', body);
    await until(() => a.messages.length + b.messages.length === 4, 'four deliveries');
    expect(a.messages.length).toBeGreaterThan(0);
    expect(b.messages.length).toBeGreaterThan(0);
    expect([...a.messages, ...b.messages].map((m) => m.body).sort()).toEqual(['2', '3', '4', 'first']);
    expect(a.messages[0].headers.destination).toBe('/queue/stomp.shared');
  });

  it('stomp - /amq/queue/<name> uses an existing queue as it is, declaring nothing', async () => {
    const client = await native();
    await client.request({ op: 'queue.declare', queue: 'stomp.existing', durable: false, arguments: { 'x-max-length': 10 } });
    const peer = await stomp();
    const inbox = await peer.subscribe('/amq/queue/stomp.existing');
    await peer.send('/amq/queue/stomp.existing', 'hello');
    expect((await inbox.take(1))[0].body).toBe('hello');
  });

  it('stomp - a stream is read from x-stream-offset (first, offset=N, timestamp=T), each MESSAGE with its x-stream-offset, as Web-STOMP', async () => {
    const client = await native();
    await client.request({ op: 'queue.declare', queue: 'stomp.stream', arguments: { 'x-queue-type': 'stream' } });
    const before = Math.floor(Date.now() / 1000) - 1;
    for (let n = 0; n < 5; n++) await client.request({ op: 'publish', exchange: '', routingKey: 'stomp.stream', payload: `m${n}` });
    const peer = await stomp();
    const fromTwo = await peer.subscribe('/amq/queue/stomp.stream', { ack: 'client-individual', 'prefetch-count': '10', 'x-stream-offset': 'offset=2' });
    const got = await fromTwo.take(3);
    expect(got.map((message) => [message.body, message.headers['x-stream-offset']])).toEqual([
      ['m2', '2'],
      ['m3', '3'],
      ['m4', '4'],
    ]);
    const byTime = await peer.subscribe('/amq/queue/stomp.stream', { ack: 'client', 'prefetch-count': '10', 'x-stream-offset': `timestamp=${before}` });
    expect((await byTime.take(5)).map((message) => message.body)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    const raw = await RawStomp.connected(broker.url);
    raw.send('SUBSCRIBE\ndestination:/amq/queue/stomp.stream\nid:bad\nack:client\nprefetch-count:1\nx-stream-offset:middle\n\n\0');
    expect((await raw.waitFor('ERROR')).headers.message).toMatch(/x-stream-offset must be first, last, next, offset=<n> or timestamp=<seconds>/);
  });

  it('stomp - /topic/<key> gives every subscriber a copy, with topic wildcards', async () => {
    const one = await (await stomp()).subscribe('/topic/news.*');
    const all = await (await stomp()).subscribe('/topic/news.#');
    const producer = await stomp();
    await producer.send('/topic/news.sport', 'goal');
    await producer.send('/topic/news.sport.late', 'late goal');
    expect((await all.take(2)).map((m) => m.body)).toEqual(['goal', 'late goal']);
    const [first] = await one.take(1);
    expect(first.body).toBe('goal');
    expect(first.headers.destination).toBe('/topic/news.sport');
    await producer.sync();
    expect(one.messages).toHaveLength(1);
  });

  it('stomp - /exchange/<name>/<pattern>: SEND publishes with the key, SUBSCRIBE binds a queue of its own', async () => {
    const client = await native();
    await client.request({ op: 'exchange.declare', exchange: 'stomp.colours', type: 'direct', durable: false });
    const peer = await stomp();
    const blue = await peer.subscribe('/exchange/stomp.colours/blue');
    await peer.send('/exchange/stomp.colours/red', 'red');
    await peer.send('/exchange/stomp.colours/blue', 'blue');
    const [message] = await blue.take(1);
    expect(message.body).toBe('blue');
    expect(message.headers.destination).toBe('/exchange/stomp.colours/blue');
    await peer.sync();
    expect(blue.messages).toHaveLength(1);
    // The queue is exclusive to the subscribing connection and goes when the subscription ends.
    const fanout = await (await stomp()).subscribe('/exchange/amq.fanout');
    await peer.send('/exchange/amq.fanout', 'to all');
    expect((await fanout.take(1))[0].headers.destination).toBe('/exchange/amq.fanout');
  });

  it('stomp - a /temp-queue/ in reply-to gets the replies of an RPC, with subscription set to it', async () => {
    const server = await stomp();
    const requests = await server.subscribe('/queue/stomp.rpc');
    const requester = await stomp();
    await requester.send('/queue/stomp.rpc', 'ping', { 'reply-to': '/temp-queue/answers', 'correlation-id': 'c1' });
    const [request] = await requests.take(1);
    expect(request.headers['reply-to']).toMatch(/^\/reply-queue\/amq\.gen-/);
    await server.send(request.headers['reply-to'], 'pong', { 'correlation-id': request.headers['correlation-id'] });
    const reply = await until(() => requester.unhandled[0], 'the reply');
    expect(reply.body).toBe('pong');
    expect(reply.headers).toMatchObject({ subscription: '/temp-queue/answers', 'correlation-id': 'c1' });
    // The same temp queue is reused by the session.
    await requester.send('/queue/stomp.rpc', 'again', { 'reply-to': '/temp-queue/answers' });
    expect((await requests.take(2))[1].headers['reply-to']).toBe(request.headers['reply-to']);
  });
});

describe('stomp - acknowledgements', () => {
  it('stomp - ack auto: no ack header, and the messages are settled on delivery', async () => {
    const peer = await stomp();
    const inbox = await peer.subscribe('/queue/stomp.auto');
    await peer.send('/queue/stomp.auto', 'a');
    const [message] = await inbox.take(1);
    expect(message.headers.ack).toBeUndefined();
    expect(message.headers['message-id']).toMatch(/^T_/);
    await peer.close();
    const client = await native();
    expect(await client.request({ op: 'queue.declare', queue: 'stomp.auto', passive: true })).toMatchObject({ messageCount: 0 });
  });

  it('stomp - ack client is cumulative: an ACK settles every earlier message of the subscription', async () => {
    const producer = await stomp();
    for (const body of ['1', '2', '3']) await producer.send('/queue/stomp.client', body);
    const consumer = await stomp();
    const inbox = await consumer.subscribe('/queue/stomp.client', { ack: 'client' });
    const messages = await inbox.take(3);
    messages[1].ack();
    await consumer.sync();
    await consumer.close();
    const client = await native();
    await readyCount(client, 'stomp.client', 1);
    const left = await client.request({ op: 'get', queue: 'stomp.client', noAck: true });
    expect(left).toMatchObject({ message: { payload: '3', redelivered: true }, messageCount: 0 });
  });

  it('stomp - ack client-individual settles only the message named', async () => {
    const producer = await stomp();
    for (const body of ['1', '2', '3']) await producer.send('/queue/stomp.individual', body);
    const consumer = await stomp();
    const inbox = await consumer.subscribe('/queue/stomp.individual', { ack: 'client-individual' });
    const messages = await inbox.take(3);
    expect(messages[0].headers.ack).toBe(messages[0].headers['message-id']);
    messages[1].ack();
    await consumer.sync();
    await consumer.close();
    const client = await native();
    await readyCount(client, 'stomp.individual', 2);
    const first = await client.request({ op: 'get', queue: 'stomp.individual', noAck: true });
    const second = await client.request({ op: 'get', queue: 'stomp.individual', noAck: true });
    expect([(first.message as Frame).payload, (second.message as Frame).payload]).toEqual(['1', '3']);
    expect(second.messageCount).toBe(0);
  });

  it('stomp - prefetch-count caps unacknowledged messages per subscription', async () => {
    const consumer = await stomp();
    const inbox = await consumer.subscribe('/queue/stomp.prefetch', { ack: 'client-individual', 'prefetch-count': '2' });
    const producer = await stomp();
    for (let i = 1; i <= 5; i++) await producer.send('/queue/stomp.prefetch', String(i));
    await inbox.take(2);
    await sleep(100);
    expect(inbox.messages.map((m) => m.body)).toEqual(['1', '2']);
    inbox.messages[0].ack();
    expect((await inbox.take(3))[2].body).toBe('3');
    await sleep(50);
    expect(inbox.messages).toHaveLength(3);
  });

  it('stomp - NACK requeues by default (redelivered, x-delivery-count) and dead-letters with requeue:false', async () => {
    const client = await native();
    await client.request({ op: 'exchange.declare', exchange: 'stomp.dlx', type: 'fanout', durable: false });
    await client.request({ op: 'queue.declare', queue: 'stomp.dead', durable: false });
    await client.request({ op: 'queue.bind', queue: 'stomp.dead', exchange: 'stomp.dlx' });
    const consumer = await stomp();
    const inbox = await consumer.subscribe('/queue/stomp.nack', { ack: 'client-individual', 'x-dead-letter-exchange': 'stomp.dlx' });
    // /amq/queue/: a SEND to /queue/stomp.nack without the same x- headers would be a conflicting redeclare.
    await consumer.send('/amq/queue/stomp.nack', 'job');
    const [first] = await inbox.take(1);
    expect(first.headers.redelivered).toBe('false');
    first.nack();
    const [, second] = await inbox.take(2);
    expect(second.headers).toMatchObject({ redelivered: 'true', 'x-delivery-count': '1' });
    second.nack({ requeue: 'false' });
    const dead = await (await stomp()).subscribe('/amq/queue/stomp.dead');
    const [deadLettered] = await dead.take(1);
    expect(deadLettered.body).toBe('job');
    expect(deadLettered.headers['x-first-death-reason']).toBe('rejected');
    expect(JSON.parse(deadLettered.headers['x-death'])).toMatchObject([{ queue: 'stomp.nack', reason: 'rejected', count: 1 }]);
  });
});

describe('stomp - receipts', () => {
  it('stomp - RECEIPTs of persistent SENDs come after the confirm, in order, also when windowed', async () => {
    const peer = await stomp();
    const arrived: string[] = [];
    const receipts = Array.from({ length: 30 }, (_, i) => {
      const id = `w-${i}`;
      const done = peer.receiptFor(id).then(() => arrived.push(id));
      peer.client.publish({ destination: '/queue/stomp.window', body: String(i), headers: { persistent: 'true', receipt: id } });
      return done;
    });
    await Promise.all(receipts);
    expect(arrived).toEqual(Array.from({ length: 30 }, (_, i) => `w-${i}`));
    // Every confirmed message is in the queue.
    const client = await native();
    expect(await client.request({ op: 'queue.declare', queue: 'stomp.window', passive: true })).toMatchObject({ messageCount: 30 });
    const got = await client.request({ op: 'get', queue: 'stomp.window', noAck: true });
    expect(got.message).toMatchObject({ payload: '0', properties: { persistent: true } });
  });
});

describe('stomp - transactions', () => {
  it('stomp - SENDs in a transaction are delivered at COMMIT and dropped by ABORT', async () => {
    const consumer = await stomp();
    const inbox = await consumer.subscribe('/queue/stomp.tx');
    const producer = await stomp();
    const tx = producer.client.begin();
    producer.client.publish({ destination: '/queue/stomp.tx', body: 'a', headers: { transaction: tx.id } });
    producer.client.publish({ destination: '/queue/stomp.tx', body: 'b', headers: { transaction: tx.id } });
    await producer.sync();
    await sleep(50);
    expect(inbox.messages).toHaveLength(0);
    tx.commit();
    expect((await inbox.take(2)).map((m) => m.body)).toEqual(['a', 'b']);
    const aborted = producer.client.begin();
    producer.client.publish({ destination: '/queue/stomp.tx', body: 'never', headers: { transaction: aborted.id } });
    aborted.abort();
    await producer.send('/queue/stomp.tx', 'after');
    expect((await inbox.take(3))[2].body).toBe('after');
    expect(inbox.messages).toHaveLength(3);
  });

  it('stomp - an ACK in a transaction takes effect at COMMIT, not at ABORT', async () => {
    const peer = await stomp();
    const inbox = await peer.subscribe('/queue/stomp.txack', { ack: 'client-individual' });
    await peer.send('/queue/stomp.txack', 'kept');
    await peer.send('/queue/stomp.txack', 'acked');
    const [kept, acked] = await inbox.take(2);
    const aborted = peer.client.begin();
    kept.ack({ transaction: aborted.id });
    aborted.abort();
    const committed = peer.client.begin();
    acked.ack({ transaction: committed.id });
    committed.commit();
    await peer.sync();
    await peer.close();
    const client = await native();
    await readyCount(client, 'stomp.txack', 1);
    const left = await client.request({ op: 'get', queue: 'stomp.txack', noAck: true });
    expect(left).toMatchObject({ message: { payload: 'kept', redelivered: true }, messageCount: 0 });
  });
});

describe('stomp - one broker, two protocols', () => {
  it('stomp - a STOMP SEND reaches a native consumer: JSON bodies as JSON, text as a string, headers and properties mapped', async () => {
    const client = await native();
    await client.request({ op: 'queue.declare', queue: 'stomp.to-native', durable: false });
    await client.request({ op: 'consume', queue: 'stomp.to-native' });
    const peer = await stomp();
    await peer.send('/amq/queue/stomp.to-native', '{"order":42,"items":["a"]}', {
      'content-type': 'application/json',
      'correlation-id': 'c-1',
      'amqp-message-id': 'm-1',
      priority: '3',
      persistent: 'true',
      'x-tenant': 'acme',
    });
    await peer.send('/amq/queue/stomp.to-native', 'plain text', { 'content-type': 'text/plain' });
    await peer.send('/amq/queue/stomp.to-native', 'not json', { 'content-type': 'application/json' });
    await client.waitFor(() => client.frames.filter((f) => f.op === 'deliver').length === 3);
    const [json, text, notJson] = client.frames.filter((f) => f.op === 'deliver');
    expect(json).toMatchObject({
      exchange: '',
      routingKey: 'stomp.to-native',
      payload: { order: 42, items: ['a'] },
      headers: { 'x-tenant': 'acme' },
      properties: { contentType: 'application/json', correlationId: 'c-1', messageId: 'm-1', priority: 3, persistent: true },
    });
    expect(json.headers).not.toHaveProperty('destination');
    expect(json.headers).not.toHaveProperty('receipt');
    expect(text).toMatchObject({ payload: 'plain text', properties: { contentType: 'text/plain' } });
    expect(notJson.payload).toBe('not json');
  });

  it('stomp - a native publish reaches a STOMP subscriber: JSON payloads as application/json, strings as text', async () => {
    const peer = await stomp();
    const inbox = await peer.subscribe('/queue/stomp.from-native');
    const client = await native();
    await client.request({
      op: 'publish',
      routingKey: 'stomp.from-native',
      payload: { text: 'hi', n: [1, 2] },
      headers: { attempt: 5, nested: { a: true }, 'x-note': 'x:y\nz' },
      properties: { correlationId: 'c-2', replyTo: 'replies', messageId: 'm-2', expiration: 60000, timestamp: 1700000000000, type: 't', appId: 'app' },
    });
    await client.request({ op: 'publish', routingKey: 'stomp.from-native', payload: 'just text' });
    await client.request({ op: 'publish', routingKey: 'stomp.from-native', payload: '"quoted"', properties: { contentType: 'application/json' } });
    const [json, text, quoted] = await inbox.take(3);
    expect(JSON.parse(json.body)).toEqual({ text: 'hi', n: [1, 2] });
    expect(json.headers).toMatchObject({
      'content-type': 'application/json',
      'correlation-id': 'c-2',
      'reply-to': 'replies',
      'amqp-message-id': 'm-2',
      expiration: '60000',
      timestamp: '1700000000000',
      type: 't',
      'app-id': 'app',
      attempt: '5',
      nested: '{"a":true}',
      'x-note': 'x:y\nz',
    });
    expect(text.body).toBe('just text');
    expect(text.headers['content-type']).toBeUndefined();
    expect(JSON.parse(quoted.body)).toBe('"quoted"');
  });

  it('stomp - acks, redelivery, TTL and dead-lettering behave the same across protocols', async () => {
    const client = await native();
    await client.request({ op: 'exchange.declare', exchange: 'stomp.expired', type: 'fanout', durable: false });
    await client.request({ op: 'queue.declare', queue: 'stomp.graveyard', durable: false });
    await client.request({ op: 'queue.bind', queue: 'stomp.graveyard', exchange: 'stomp.expired' });
    await client.request({ op: 'queue.declare', queue: 'stomp.ttl', durable: false, arguments: { 'x-dead-letter-exchange': 'stomp.expired' } });
    const peer = await stomp();
    // A STOMP message with an expiration dies in a queue nobody reads, and a native consumer gets it from the dead-letter queue.
    await peer.send('/amq/queue/stomp.ttl', 'short-lived', { expiration: '20' });
    await client.request({ op: 'consume', queue: 'stomp.graveyard' });
    const dead = await client.waitFor((f) => f.op === 'deliver' && f.routingKey === 'stomp.ttl');
    expect(dead).toMatchObject({ payload: 'short-lived', headers: { 'x-first-death-reason': 'expired', 'x-first-death-queue': 'stomp.ttl' } });

    // A consumer that goes away hands its unacknowledged message back, and a consumer of the other protocol gets it redelivered.
    await client.request({ op: 'queue.declare', queue: 'stomp.work', durable: false });
    const worker = await native();
    const consumed = await worker.request({ op: 'consume', queue: 'stomp.work' });
    await peer.send('/amq/queue/stomp.work', '{"job":1}', { 'content-type': 'application/json' });
    await worker.waitFor((f) => f.op === 'deliver');
    await worker.request({ op: 'cancel', consumerTag: consumed.consumerTag });
    const inbox = await peer.subscribe('/amq/queue/stomp.work', { ack: 'client' });
    const [job] = await inbox.take(1);
    expect(job.headers).toMatchObject({ redelivered: 'true', 'x-delivery-count': '1' });
    expect(JSON.parse(job.body)).toEqual({ job: 1 });
    await peer.close();
    const other = await native();
    await other.request({ op: 'consume', queue: 'stomp.work' });
    expect(await other.waitFor((f) => f.op === 'deliver')).toMatchObject({ payload: { job: 1 }, redelivered: true, headers: { 'x-delivery-count': 2 } });
  });
});
