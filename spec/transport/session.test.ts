import { SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Authenticator, regexAccess, TokenVerifier } from '../../src/auth/index.js';
import type { Message } from '../../src/broker/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { JSON_PROTOCOL, stompProtocol, type Session } from '../../src/transport/index.js';
import { nextTurn, sessionRig, type FakeServerSocket } from './fake-server-socket.js';

// The session core under both codecs, on fake sockets: what every protocol gets without writing
// it (login, reply order behind the store's sync, alarms, backpressure, error classes, close).

type Frame = { op: string } & Record<string, unknown>;

/** A store whose syncs resolve or fail only when the test says, and whose writes can be made to throw. */
class ControlledStore extends MemoryStore {
  private waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  failWrites = false;

  override sync(): Promise<void> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  override putMessage(queue: string, seq: number, message: Message, expiresAt: number | null): void {
    if (this.failWrites) throw new Error('the disk is on fire');
    super.putMessage(queue, seq, message, expiresAt);
  }

  syncNow(): void {
    for (const { resolve } of this.waiting.splice(0)) resolve();
  }

  failSync(): void {
    for (const { reject } of this.waiting.splice(0)) reject(new Error('fdatasync failed'));
  }
}

/** As the journal: every sync until the next write shares one promise (one group commit). */
class GroupCommitStore extends ControlledStore {
  private pending: Promise<void> | undefined;

  override sync(): Promise<void> {
    this.pending ??= super.sync();
    return this.pending;
  }

  override syncNow(): void {
    this.pending = undefined;
    super.syncNow();
  }

  override failSync(): void {
    this.pending = undefined;
    super.failSync();
  }
}

const send = (session: Session, message: unknown): void => session.onMessage(Buffer.from(typeof message === 'string' ? message : JSON.stringify(message)), false);

function jsonFrames(socket: FakeServerSocket): Frame[] {
  return socket.sent.flatMap((text) => {
    const parsed: unknown = JSON.parse(text);
    return (Array.isArray(parsed) ? parsed : [parsed]) as Frame[];
  });
}

/** STOMP frames sent, as command and headers. */
function stompFrames(socket: FakeServerSocket): { command: string; headers: Record<string, string> }[] {
  return socket.sent
    .join('')
    .split('\0')
    .map((frame) => frame.replace(/^\n+/, ''))
    .filter((frame) => frame !== '')
    .map((frame) => {
      const [command, ...lines] = frame.split('\n\n')[0].split('\n');
      return { command, headers: Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)])) };
    });
}

const STOMP = stompProtocol(1 << 20);

describe('session - login', () => {
  it('session - a wrong password gets the codec\'s refusal, then close 4401, and nothing after it is read (JSON)', async () => {
    const rig = await sessionRig({ users: [{ username: 'ann', password: 's3cret' }] });
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1, username: 'ann', password: 'nope' }, { op: 'queue.declare', id: 2, queue: 'q' }]);
    await nextTurn();
    expect(jsonFrames(socket)).toEqual([{ op: 'error', id: 1, code: 'ACCESS_REFUSED', message: expect.stringMatching(/access refused/) }]);
    expect(socket.closed).toEqual({ code: 4401, reason: 'access refused' });
    expect(session.ended).toBe(true);
    expect(rig.broker.getQueue('q')).toBeUndefined();
  });

  it('session - a wrong passcode gets an ERROR frame, then close 4401 (STOMP)', async () => {
    const rig = await sessionRig({ users: [{ username: 'ann', password: 's3cret' }] });
    const { session, socket } = rig.open(STOMP, 'v12.stomp');
    send(session, 'CONNECT\naccept-version:1.2\nlogin:ann\npasscode:nope\n\n\0SUBSCRIBE\nid:s\ndestination:/queue/q\n\n\0');
    await nextTurn();
    expect(stompFrames(socket)).toEqual([{ command: 'ERROR', headers: expect.objectContaining({ message: expect.stringMatching(/access refused/) }) }]);
    expect(socket.closed?.code).toBe(4401);
    expect(rig.broker.getQueue('q')).toBeUndefined();
  });

  it('session - the right credentials open a broker connection under either codec', async () => {
    const rig = await sessionRig({ users: [{ username: 'ann', password: 's3cret' }] });
    const json = rig.open(JSON_PROTOCOL);
    send(json.session, { op: 'connect', id: 1, version: 1, username: 'ann', password: 's3cret' });
    const stomp = rig.open(STOMP, 'v12.stomp');
    send(stomp.session, 'CONNECT\naccept-version:1.2\nlogin:ann\npasscode:s3cret\n\n\0');
    await nextTurn();
    expect(jsonFrames(json.socket)).toMatchObject([{ op: 'ok', id: 1, connectionId: json.session.id }]);
    expect(stompFrames(stomp.socket).map((frame) => frame.command)).toEqual(['CONNECTED']);
    expect(json.session.connection).toBeDefined();
    expect(stomp.session.connection).toBeDefined();
  });
});

describe('session - reply order', () => {
  it('session - the reply to a consume goes before the deliveries it starts (JSON)', async () => {
    const rig = await sessionRig();
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [
      { op: 'connect', id: 1, version: 1 },
      { op: 'queue.declare', id: 2, queue: 'q', durable: false },
      { op: 'publish', routingKey: 'q', payload: 'a' },
      { op: 'consume', id: 3, queue: 'q', consumerTag: 'c' },
    ]);
    await nextTurn();
    expect(jsonFrames(socket).map((frame) => frame.op)).toEqual(['ok', 'ok', 'ok', 'deliver']);
  });

  it('session - a SUBSCRIBE\'s RECEIPT goes before its first MESSAGE (STOMP)', async () => {
    const rig = await sessionRig();
    const { session, socket } = rig.open(STOMP, 'v12.stomp');
    send(session, 'CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/queue/q\n\nhello\0SUBSCRIBE\nid:s\ndestination:/queue/q\nreceipt:r\n\n\0');
    await nextTurn();
    expect(stompFrames(socket).map((frame) => frame.command)).toEqual(['CONNECTED', 'RECEIPT', 'MESSAGE']);
  });

  it('session - confirms of persisted messages, and every frame after them, wait for the sync, in order (JSON)', async () => {
    const store = new ControlledStore();
    const rig = await sessionRig({ store });
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q' }]);
    send(session, [
      { op: 'publish', id: 10, routingKey: 'q', payload: 1, properties: { persistent: true } },
      { op: 'queue.declare', id: 11, queue: 'q', passive: true },
      { op: 'publish', id: 12, routingKey: 'q', payload: 2, properties: { persistent: true } },
    ]);
    await nextTurn();
    expect(jsonFrames(socket).map((frame) => frame.id)).toEqual([1, 2]);
    store.syncNow();
    await nextTurn();
    await nextTurn();
    expect(jsonFrames(socket).map((frame) => [frame.op, frame.id])).toEqual([
      ['ok', 1],
      ['ok', 2],
      ['ok', 10],
      ['ok', 11],
      ['ok', 12],
    ]);
  });

  it('session - a failed sync turns the confirm into INTERNAL_ERROR and the connection stays (JSON)', async () => {
    const store = new ControlledStore();
    const rig = await sessionRig({ store });
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q' }]);
    send(session, { op: 'publish', id: 3, routingKey: 'q', payload: 1, properties: { persistent: true } });
    await nextTurn();
    store.failSync();
    await nextTurn();
    await nextTurn();
    expect(jsonFrames(socket).at(-1)).toEqual({ op: 'error', id: 3, code: 'INTERNAL_ERROR', message: expect.stringMatching(/could not store the message \(on disk/) });
    expect(socket.closed).toBeUndefined();
  });

  it('session - confirms sharing one sync go out together, in order with what came between them; a second sync waits on its own (JSON)', async () => {
    const store = new GroupCommitStore();
    const rig = await sessionRig({ store });
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q' }]);
    const publish = (id: number) => ({ op: 'publish', id, routingKey: 'q', payload: id, properties: { persistent: true } });
    send(session, [publish(10), { op: 'queue.declare', id: 11, queue: 'q', passive: true }, publish(12)]);
    send(session, publish(13));
    await nextTurn();
    store.syncNow();
    send(session, publish(14));
    await nextTurn();
    await nextTurn();
    expect(jsonFrames(socket).map((frame) => frame.id)).toEqual([1, 2, 10, 11, 12, 13]);
    store.syncNow();
    await nextTurn();
    await nextTurn();
    expect(jsonFrames(socket).map((frame) => frame.id)).toEqual([1, 2, 10, 11, 12, 13, 14]);
  });

  it('session - a failed sync fails every confirm that shared it, and only those (JSON)', async () => {
    const store = new GroupCommitStore();
    const rig = await sessionRig({ store });
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q' }]);
    const publish = (id: number) => ({ op: 'publish', id, routingKey: 'q', payload: id, properties: { persistent: true } });
    send(session, [publish(3), { op: 'queue.declare', id: 4, queue: 'q', passive: true }, publish(5)]);
    await nextTurn();
    store.failSync();
    await nextTurn();
    await nextTurn();
    expect(jsonFrames(socket).slice(2).map((frame) => [frame.op, frame.id])).toEqual([
      ['error', 3],
      ['ok', 4],
      ['error', 5],
    ]);
    send(session, publish(6));
    await nextTurn();
    store.syncNow();
    await nextTurn();
    await nextTurn();
    expect(jsonFrames(socket).at(-1)).toEqual({ op: 'ok', id: 6 });
  });

  it('session - a failed sync turns the RECEIPT into an ERROR and closes with 1011 (STOMP)', async () => {
    const store = new ControlledStore();
    const rig = await sessionRig({ store });
    const { session, socket } = rig.open(STOMP, 'v12.stomp');
    send(session, 'CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/queue/q\npersistent:true\nreceipt:r1\n\nhello\0');
    await nextTurn();
    store.failSync();
    await nextTurn();
    await nextTurn();
    const last = stompFrames(socket).at(-1);
    expect(last?.command).toBe('ERROR');
    expect(last?.headers['receipt-id']).toBe('r1');
    expect(socket.closed?.code).toBe(1011);
  });
});

describe('session - errors', () => {
  it('session - a failure inside the broker is INTERNAL_ERROR naming the op, and the connection stays (JSON)', async () => {
    const store = new ControlledStore();
    const rig = await sessionRig({ store });
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q' }]);
    store.failWrites = true;
    send(session, { op: 'publish', id: 3, routingKey: 'q', payload: 1, properties: { persistent: true } });
    await nextTurn();
    expect(jsonFrames(socket).at(-1)).toEqual({ op: 'error', id: 3, code: 'INTERNAL_ERROR', message: 'publish failed inside the broker; the failure is logged there' });
    expect(socket.closed).toBeUndefined();
  });

  it('session - a failure inside the broker is an ERROR naming the frame and close 1011 (STOMP)', async () => {
    const store = new ControlledStore();
    const rig = await sessionRig({ store });
    const { session, socket } = rig.open(STOMP, 'v12.stomp');
    send(session, 'CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/queue/q\n\nfirst\0');
    store.failWrites = true;
    send(session, 'SEND\ndestination:/queue/q\npersistent:true\n\nsecond\0');
    await nextTurn();
    expect(stompFrames(socket).at(-1)).toMatchObject({ command: 'ERROR', headers: { message: 'SEND failed inside the broker; the failure is logged there' } });
    expect(socket.closed?.code).toBe(1011);
  });

  it('session - a full reject-publish queue is REJECTED under either codec', async () => {
    const rig = await sessionRig();
    rig.broker.declareQueue(null, 'full', { durable: false, exclusive: false, autoDelete: false, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } }, false);
    const json = rig.open(JSON_PROTOCOL);
    send(json.session, [{ op: 'connect', id: 1, version: 1 }, { op: 'publish', id: 2, routingKey: 'full', payload: 1 }]);
    const stomp = rig.open(STOMP, 'v12.stomp');
    send(stomp.session, 'CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/amq/queue/full\n\nhello\0');
    await nextTurn();
    const jsonError = jsonFrames(json.socket).at(-1);
    expect(jsonError).toMatchObject({ op: 'error', id: 2, code: 'REJECTED' });
    expect(stompFrames(stomp.socket).at(-1)?.headers.message).toBe(jsonError?.message);
  });
});

describe('session - flow control', () => {
  it('session - an alarm pauses a publisher\'s socket; the JSON codec says so, STOMP has no frame for it', async () => {
    const rig = await sessionRig();
    const json = rig.open(JSON_PROTOCOL);
    send(json.session, [{ op: 'connect', id: 1, version: 1 }, { op: 'publish', routingKey: 'nowhere', payload: 1 }]);
    const stomp = rig.open(STOMP, 'v12.stomp');
    send(stomp.session, 'CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/topic/nowhere\n\nhello\0');
    const reader = rig.open(JSON_PROTOCOL);
    send(reader.session, { op: 'connect', id: 1, version: 1 });
    rig.context.flow.alarm = 'memory: test';
    for (const { session } of [json, stomp, reader]) session.block('memory: test');
    await nextTurn();
    expect([json.socket.paused, stomp.socket.paused, reader.socket.paused]).toEqual([true, true, false]);
    expect(jsonFrames(json.socket).at(-1)).toEqual({ op: 'blocked', reason: 'memory: test' });
    const stompSent = stomp.socket.sent.length;
    rig.context.flow.alarm = null;
    for (const { session } of [json, stomp]) session.unblock();
    await nextTurn();
    expect([json.socket.paused, stomp.socket.paused]).toEqual([false, false]);
    expect(jsonFrames(json.socket).at(-1)).toEqual({ op: 'unblocked' });
    expect(stomp.socket.sent).toHaveLength(stompSent);
  });

  it('session - a socket above the high-water mark gets no pushes until it drains', async () => {
    const rig = await sessionRig({ highWaterBytes: 2000 });
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q', durable: false }, { op: 'consume', id: 3, queue: 'q', noAck: true }]);
    await nextTurn();
    socket.holdWrites = true;
    const pad = JSON.stringify('x'.repeat(500));
    const publish = (count: number) => {
      for (let i = 0; i < count; i++) rig.broker.publish('', { exchange: '', routingKey: 'q', payload: pad, size: pad.length, headers: {}, properties: {} });
    };
    publish(10);
    await nextTurn();
    expect(session.connection?.writable).toBe(false);
    publish(10);
    const waiting = rig.broker.getQueue('q')?.messageCount ?? 0;
    expect(waiting).toBeGreaterThan(0);
    socket.drain();
    await nextTurn();
    socket.drain();
    await nextTurn();
    expect(rig.broker.getQueue('q')?.messageCount).toBeLessThan(waiting);
  });
});

describe('session - output', () => {
  it('session - a turn\'s output goes in WebSocket messages of about 64 KiB, each a JSON array, frames in order', async () => {
    const rig = await sessionRig({});
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q', durable: false }, { op: 'consume', id: 3, queue: 'q', noAck: true }]);
    await nextTurn();
    const before = socket.sent.length;
    const pad = JSON.stringify('x'.repeat(1000));
    for (let i = 0; i < 300; i++) rig.broker.publish('', { exchange: '', routingKey: 'q', payload: pad, size: pad.length, headers: { i }, properties: {} });
    await nextTurn();
    const messages = socket.sent.slice(before);
    expect(messages.length).toBeGreaterThanOrEqual(4);
    for (const text of messages) {
      expect(Array.isArray(JSON.parse(text))).toBe(true);
      expect(text.length).toBeLessThan(64 * 1024 + 2000);
    }
    const delivered = messages.flatMap((text) => JSON.parse(text) as Frame[]);
    expect(delivered.map((frame) => (frame.headers as { i: number }).i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
  it('session - a lone delivery goes out as its frame, exactly this text; two in a turn as one array', async () => {
    const rig = await sessionRig({});
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q', durable: false }, { op: 'consume', id: 3, queue: 'q', consumerTag: 'c"1' }]);
    await nextTurn();
    const before = socket.sent.length;
    const publish = () => rig.broker.publish('', { exchange: '', routingKey: 'q', payload: '{"a":1}', size: 7, headers: {}, properties: {} });
    publish();
    await nextTurn();
    expect(socket.sent.slice(before)).toEqual([
      '{"op":"deliver","consumerTag":"c\\"1","deliveryTag":1,"redelivered":false,"exchange":"","routingKey":"q","payload":{"a":1},"headers":{},"properties":{}}',
    ]);
    publish();
    publish();
    await nextTurn();
    expect(socket.sent.slice(before + 1).map((text) => JSON.parse(text) as unknown)).toEqual([
      [expect.objectContaining({ op: 'deliver', deliveryTag: 2 }), expect.objectContaining({ op: 'deliver', deliveryTag: 3 })],
    ]);
  });

  it('session - frames queued after a flush within the turn go out after what it sent, once each', async () => {
    const rig = await sessionRig({});
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, { op: 'connect', id: 1, version: 1 });
    await nextTurn();
    const before = socket.sent.length;
    session.emit('{"op":"one"}');
    session.flush();
    session.emit('{"op":"two"}');
    session.emit('{"op":"three"}');
    await nextTurn();
    expect(socket.sent.slice(before)).toEqual(['{"op":"one"}', '[{"op":"two"},{"op":"three"}]']);
  });

  it('session - deliveries resumed by a write that completes inside the flush go out in the next turn', async () => {
    const rig = await sessionRig({ highWaterBytes: 2000 });
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [{ op: 'connect', id: 1, version: 1 }, { op: 'queue.declare', id: 2, queue: 'q', durable: false }, { op: 'consume', id: 3, queue: 'q', noAck: true }]);
    await nextTurn();
    const pad = JSON.stringify('x'.repeat(500));
    const publish = (count: number) => {
      for (let i = 0; i < count; i++) rig.broker.publish('', { exchange: '', routingKey: 'q', payload: pad, size: pad.length, headers: {}, properties: {} });
    };
    socket.holdWrites = true;
    publish(10);
    await nextTurn();
    expect(session.connection?.writable).toBe(false);
    publish(5);
    // The client read it all, but the held writes never report: the next write's callback, which
    // the socket makes at once inside the flush, is what resumes the pushes.
    socket.holdWrites = false;
    socket.bufferedAmount = 0;
    session.emit('{"op":"nudge"}');
    await nextTurn();
    expect(session.connection?.writable).toBe(true);
    await nextTurn();
    expect(rig.broker.getQueue('q')?.messageCount).toBe(0);
    expect(jsonFrames(socket).filter((frame) => frame.op === 'deliver')).toHaveLength(15);
  });
});

describe('session - close', () => {
  it('session - a closed socket requeues its unacknowledged deliveries under either codec', async () => {
    const rig = await sessionRig();
    rig.broker.declareQueue(null, 'q', { durable: false, exclusive: false, autoDelete: false, arguments: {} }, false);
    for (const payload of ['"a"', '"b"']) rig.broker.publish('', { exchange: '', routingKey: 'q', payload, size: 3, headers: {}, properties: {} });
    const json = rig.open(JSON_PROTOCOL);
    send(json.session, [{ op: 'connect', id: 1, version: 1 }, { op: 'consume', id: 2, queue: 'q', prefetch: 1 }]);
    const stomp = rig.open(STOMP, 'v12.stomp');
    send(stomp.session, 'CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:s\ndestination:/amq/queue/q\nack:client\nprefetch-count:1\n\n\0');
    await nextTurn();
    expect(rig.broker.getQueue('q')?.messageCount).toBe(0);
    json.session.onClose(1000);
    stomp.session.onClose(1000);
    expect(rig.broker.getQueue('q')?.messageCount).toBe(2);
    expect(rig.broker.getQueue('q')?.consumers).toHaveLength(0);
  });
});

describe('session - permissions under both codecs', () => {
  /** User "ann" may use names starting "ann." only; "other.q" exists with a message. */
  async function restricted() {
    const ann = regexAccess({ configure: '^ann\\.', write: '^ann\\.', read: '^ann\\.' }, [], { username: 'ann', vhost: '/' });
    const auth = new Authenticator({
      users: [{ name: 'ann', tags: [], credential: { kind: 'plain', password: 'pw' }, vhosts: new Map([['/', ann]]) }],
      vhosts: new Set(['/']),
      tokens: undefined,
      anonymous: undefined,
    });
    const rig = await sessionRig({ auth });
    rig.broker.declareQueue(null, 'other.q', { durable: false, exclusive: false, autoDelete: false, arguments: {} }, false);
    rig.broker.publish('', { exchange: '', routingKey: 'other.q', payload: '"theirs"', size: 8, headers: {}, properties: {} });
    return rig;
  }

  it('session - JSON: each refused operation is ACCESS_REFUSED with its id, nothing changes, and the connection stays', async () => {
    const rig = await restricted();
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, [
      { op: 'connect', id: 1, version: 1, username: 'ann', password: 'pw' },
      { op: 'consume', id: 2, queue: 'other.q' },
      { op: 'get', id: 3, queue: 'other.q', noAck: true },
      { op: 'queue.purge', id: 4, queue: 'other.q' },
      { op: 'queue.delete', id: 5, queue: 'other.q' },
      { op: 'queue.declare', id: 6, queue: 'other.new' },
      { op: 'exchange.declare', id: 7, exchange: 'other.x', type: 'direct' },
      { op: 'queue.bind', id: 8, queue: 'other.q', exchange: 'amq.direct' },
      { op: 'publish', id: 9, routingKey: 'other.q', payload: 'spoof' },
      { op: 'queue.declare', id: 10, queue: 'ann.q' },
    ]);
    await nextTurn();
    const replies = jsonFrames(socket);
    expect(replies.slice(1, 9).map((frame) => [frame.id, frame.code])).toEqual([2, 3, 4, 5, 6, 7, 8, 9].map((id) => [id, 'ACCESS_REFUSED']));
    expect(replies[9]).toMatchObject({ op: 'ok', id: 10, queue: 'ann.q' });
    expect(rig.broker.getQueue('other.q')?.messageCount).toBe(1);
    expect(socket.closed).toBeUndefined();
  });

  it('session - STOMP: a refused SEND or SUBSCRIBE is an ERROR that names the permission, and ends the connection', async () => {
    for (const frame of ['SEND\ndestination:/amq/queue/other.q\n\nspoof\0', 'SUBSCRIBE\nid:s\ndestination:/amq/queue/other.q\n\n\0', 'SEND\ndestination:/queue/other.new\n\nx\0']) {
      const rig = await restricted();
      const { session, socket } = rig.open(STOMP, 'v12.stomp');
      send(session, `CONNECT\naccept-version:1.2\nlogin:ann\npasscode:pw\n\n\0${frame}`);
      await nextTurn();
      expect(stompFrames(socket).map((f) => f.command)).toEqual(['CONNECTED', 'ERROR']);
      expect(stompFrames(socket)[1].headers.message).toMatch(/user "ann" may not (write|read|configure)/);
      expect(socket.closed?.code).toBe(1000);
      expect(rig.broker.getQueue('other.q')?.messageCount).toBe(1);
    }
  });
});

describe('session - token expiry on a fake clock', () => {
  const SECRET = 'a-session-test-secret-of-32-bytes!!';
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A token for "ann" that may read and write everything, expiring `seconds` after the (fake) now. */
  const token = (seconds: number, sub = 'ann') =>
    new SignJWT({ sub, aud: 'warren', exp: Math.floor(Date.now() / 1000) + seconds, scope: 'warren.read:%2F/* warren.write:%2F/* warren.configure:%2F/*' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));

  async function tokenRig() {
    const tokens = await TokenVerifier.create({ secret: SECRET, audience: 'warren', scopePrefix: 'warren.', clockToleranceSec: 0 });
    return sessionRig({ auth: new Authenticator({ users: [], vhosts: new Set(['/']), tokens, anonymous: undefined }) });
  }

  /**
   * Token checks run on libuv's pool: wait, turn by turn, until the socket has had `count` messages,
   * for up to 10 s of real time (performance.now is not faked; a count of turns ran out on a busy CI).
   */
  async function sent(socket: FakeServerSocket, count: number): Promise<void> {
    const deadline = performance.now() + 10_000;
    while (socket.sent.length < count) {
      if (performance.now() > deadline) throw new Error(`only ${socket.sent.length} of ${count} messages were sent`);
      await nextTurn();
    }
  }

  // Only timers and Date are faked: promises and setImmediate (the flush) run for real.
  const fakeClock = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: Date.parse('2026-12-01T12:00:00Z') });

  it('session - at exp the connection gets ACCESS_REFUSED and close 4401, not a moment before (JSON)', async () => {
    fakeClock();
    const rig = await tokenRig();
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, { op: 'connect', id: 1, version: 1, token: await token(60) });
    await sent(socket, 1);
    expect(jsonFrames(socket)[0]).toMatchObject({ op: 'ok', user: 'ann', expiresAt: Date.parse('2026-12-01T12:01:00Z') });
    vi.advanceTimersByTime(59_999);
    await nextTurn();
    expect(socket.closed).toBeUndefined();
    vi.advanceTimersByTime(1);
    await nextTurn();
    expect(jsonFrames(socket).at(-1)).toMatchObject({ op: 'error', code: 'ACCESS_REFUSED', message: expect.stringMatching(/expired at 2026-12-01T12:01:00.000Z/) });
    expect(socket.closed?.code).toBe(4401);
  });

  it('session - auth.refresh moves the expiry; a refused refresh keeps the old one', async () => {
    fakeClock();
    const rig = await tokenRig();
    const { session, socket } = rig.open(JSON_PROTOCOL);
    send(session, { op: 'connect', id: 1, version: 1, token: await token(60) });
    await sent(socket, 1);
    vi.advanceTimersByTime(50_000);
    send(session, { op: 'auth.refresh', id: 2, token: await token(120, 'bob') });
    await sent(socket, 2);
    expect(jsonFrames(socket).at(-1)).toMatchObject({ id: 2, code: 'ACCESS_REFUSED' });
    send(session, { op: 'auth.refresh', id: 3, token: await token(120) });
    await sent(socket, 3);
    expect(jsonFrames(socket).at(-1)).toEqual({ op: 'ok', id: 3, expiresAt: Date.parse('2026-12-01T12:02:50Z') });
    vi.advanceTimersByTime(110_000);
    await nextTurn();
    expect(socket.closed).toBeUndefined();
    vi.advanceTimersByTime(10_000);
    await nextTurn();
    expect(socket.closed?.code).toBe(4401);
  });

  it('session - a STOMP token login ends with an ERROR and 4401 at exp', async () => {
    fakeClock();
    const rig = await tokenRig();
    const { session, socket } = rig.open(STOMP, 'v12.stomp');
    send(session, `CONNECT\naccept-version:1.2\nlogin:\npasscode:${await token(30)}\n\n\0`);
    await sent(socket, 1);
    expect(stompFrames(socket).map((frame) => frame.command)).toEqual(['CONNECTED']);
    vi.advanceTimersByTime(30_000);
    await nextTurn();
    expect(stompFrames(socket).map((frame) => frame.command)).toEqual(['CONNECTED', 'ERROR']);
    expect(socket.closed?.code).toBe(4401);
  });
});
