// Warren over its own JSON protocol, spoken raw with `ws` the way a tuned client would:
// publishes made together go out as one JSON array, acks are `multiple` once per received
// WebSocket message, and requests are matched to replies by id.
import { drained, HIGH_WATER, openSocket } from './ws-socket.mjs';

export class WarrenConnection {
  static async open(url, clientName = 'bench') {
    const connection = new WarrenConnection(await openSocket(url));
    // guest/guest as the STOMP client logs in: ignored by a broker without users, a restricted user under --auth.
    await connection.request({ op: 'connect', version: 1, clientName, username: 'guest', password: 'guest' });
    return connection;
  }

  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    this.pending = new Map();
    this.errors = 0;
    this.lastError = undefined;
    this.onDeliver = undefined; // (frame) => void
    this.onBatchEnd = undefined; // () => void, after each received WebSocket message
    this.onConfirm = undefined; // (ok: boolean) => void, for publishes with an id
    this.closing = false;
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('message', (data) => this.receive(data));
    ws.once('close', (code, reason) => {
      if (!this.closing) {
        this.errors++;
        this.lastError = `the broker closed the connection (code ${code}${reason.length ? `, ${reason}` : ''})`;
      }
      for (const { reject } of this.pending.values()) reject(new Error('Warren closed the connection'));
      this.pending.clear();
    });
  }

  receive(data) {
    const parsed = JSON.parse(data.toString());
    if (Array.isArray(parsed)) for (const frame of parsed) this.frame(frame);
    else this.frame(parsed);
    this.onBatchEnd?.();
  }

  frame(frame) {
    if (frame.op === 'deliver') return this.onDeliver?.(frame);
    if (frame.op === 'blocked') {
      // A memory or disk alarm during a bench distorts it: count it as a problem.
      this.errors++;
      this.lastError = `the broker blocked publishing (${frame.reason})`;
      return;
    }
    if (frame.op !== 'ok' && frame.op !== 'error') return;
    const waiter = frame.id === undefined ? undefined : this.pending.get(frame.id);
    if (waiter) {
      this.pending.delete(frame.id);
      if (frame.op === 'ok') waiter.resolve(frame);
      else waiter.reject(new Error(`Warren: ${frame.code}: ${frame.message}`));
      return;
    }
    if (frame.op === 'error') {
      this.errors++;
      this.lastError = `${frame.code}: ${frame.message}`;
    }
    if (frame.id !== undefined) this.onConfirm?.(frame.op === 'ok');
  }

  /** A request with an id of its own; resolves with the ok frame. */
  request(frame) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /** Many requests, sent as arrays of up to 500 frames; resolves when all are answered. */
  async requestAll(frames) {
    for (let i = 0; i < frames.length; i += 500) {
      const replies = [];
      const texts = [];
      for (const frame of frames.slice(i, i + 500)) {
        const id = this.nextId++;
        replies.push(new Promise((resolve, reject) => this.pending.set(id, { resolve, reject })));
        texts.push(JSON.stringify({ ...frame, id }));
      }
      this.ws.send(`[${texts.join(',')}]`);
      await Promise.all(replies);
    }
  }

  close() {
    this.closing = true;
    this.ws.close();
    return this.closed;
  }
}

/** Declares exchanges, queues and bindings: { exchanges: [[name, type, durable]], queues: [[name, durable]], bindings: [[queue, exchange, key]] }. */
export async function setupTopology(url, topology) {
  const admin = await WarrenConnection.open(url, 'bench-admin');
  await admin.requestAll(topology.exchanges.map(([exchange, type, durable]) => ({ op: 'exchange.declare', exchange, type, durable })));
  await admin.requestAll(topology.queues.map(([queue, durable]) => ({ op: 'queue.declare', queue, durable })));
  await admin.requestAll(topology.bindings.map(([queue, exchange, routingKey]) => ({ op: 'queue.bind', queue, exchange, routingKey })));
  await admin.close();
}

/** A publisher: `send(keys, bodies)` publishes bodies (JSON text) to one exchange. */
export async function openPublisher(url, { exchange, persistent = false, confirm = false, publishBatch = 50 }, onConfirm) {
  const connection = await WarrenConnection.open(url, 'bench-publisher');
  connection.onConfirm = onConfirm;
  const head = `{"op":"publish","exchange":${JSON.stringify(exchange)}`;
  const tail = persistent ? ',"properties":{"persistent":true}}' : '}';
  const ws = connection.ws;
  return {
    connection,
    send(keys, bodies) {
      for (let i = 0; i < bodies.length; i += publishBatch) {
        const frames = [];
        for (let j = i; j < Math.min(bodies.length, i + publishBatch); j++) {
          const id = confirm ? `,"id":${connection.nextId++}` : '';
          frames.push(`${head}${id},"routingKey":${JSON.stringify(keys[j])},"payload":${bodies[j]}${tail}`);
        }
        ws.send(frames.length === 1 ? frames[0] : `[${frames.join(',')}]`);
      }
    },
    backlogged: () => ws.bufferedAmount > HIGH_WATER,
    drain: () => drained(ws),
    errors: () => connection.errors,
    lastError: () => connection.lastError,
    close: () => connection.close(),
  };
}

/**
 * One consumer connection consuming `queues`; `sink.received(sendTimeMicros)` per delivery and
 * `sink.flush()` per WebSocket message. Manual acks: one `ack multiple` per WebSocket message.
 */
export async function openConsumer(url, queues, { prefetch = 100, noAck = false }, sink) {
  const connection = await WarrenConnection.open(url, 'bench-consumer');
  let lastTag = 0;
  let ackedTag = 0;
  connection.onDeliver = (frame) => {
    lastTag = frame.deliveryTag;
    sink.received(frame.payload.t);
  };
  connection.onBatchEnd = () => {
    if (!noAck && lastTag > ackedTag) {
      connection.ws.send(`{"op":"ack","deliveryTag":${lastTag},"multiple":true}`);
      ackedTag = lastTag;
    }
    sink.flush();
  };
  await connection.requestAll(queues.map((queue) => ({ op: 'consume', queue, prefetch, noAck })));
  return { errors: () => connection.errors, lastError: () => connection.lastError, close: () => connection.close() };
}

/** S5's subscriber: its own exclusive server-named queue bound to `exchange`, consumed without acks. */
export async function openSubscriber(url, exchange, onDeliver) {
  const connection = await WarrenConnection.open(url, 'bench-subscriber');
  const { queue } = await connection.request({ op: 'queue.declare', queue: '', exclusive: true, durable: false });
  await connection.request({ op: 'queue.bind', queue, exchange });
  connection.onDeliver = (frame) => onDeliver(frame.payload.t);
  await connection.request({ op: 'consume', queue, noAck: true });
  return { close: () => connection.close(), ws: connection.ws };
}
