import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { RawClient, startBroker, type RunningBroker } from './harness.js';

// Hostile input through the real process: random and mutated frames, seeded so a failure replays.
const SEED = 20261127;
const FRAMES = 3000;

const names = fc.constantFrom('', 'q', 'fuzz', 'amq.x', 'amq.direct', 'amq.topic', '__proto__', 'constructor', 'é'.repeat(200));
const scalar = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.string(), names);
const ops = fc.constantFrom(
  'connect', 'exchange.declare', 'exchange.delete', 'exchange.bind', 'exchange.unbind', 'queue.declare', 'queue.bind', 'queue.unbind',
  'queue.purge', 'queue.delete', 'publish', 'consume', 'cancel', 'get', 'ack', 'nack', 'reject', 'deliver', 'ok', 'nope',
);
const fields = fc.dictionary(
  fc.constantFrom(
    'id', 'exchange', 'queue', 'type', 'routingKey', 'payload', 'headers', 'properties', 'arguments', 'deliveryTag', 'multiple', 'requeue',
    'consumerTag', 'prefetch', 'passive', 'durable', 'exclusive', 'autoDelete', 'version', 'source', 'destination', '__proto__', 'constructor',
  ),
  fc.oneof(scalar, fc.dictionary(fc.constantFrom('x-message-ttl', 'x-max-length', 'x-overflow', 'x-match', 'persistent', 'priority', '__proto__'), scalar)),
);
/** Frames that look like requests: an op and a random mix of real and unknown fields. */
const requestLike = fc.tuple(ops, fields).map(([op, rest]) => ({ ...rest, op }));
const deep = fc.integer({ min: 1, max: 20000 }).map((depth) => `{"op":"publish","id":1,"payload":${'['.repeat(depth)}${']'.repeat(depth)}}`);
const frame = fc.oneof(
  { weight: 6, arbitrary: requestLike.map((f) => JSON.stringify(f)) },
  { weight: 2, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.array(requestLike, { maxLength: 5 }).map((batch) => JSON.stringify(batch)) },
  { weight: 1, arbitrary: fc.string().map((text) => `{"op":"publish",${text}`) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.constant(`{"op":"publish","id":7,"payload":"${'x'.repeat(70 * 1024)}"}`) },
  { weight: 1, arbitrary: fc.constant('INVALID_UTF8') },
  { weight: 1, arbitrary: fc.constant('BINARY') },
);

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ server: { maxMessageBytes: 64 * 1024 } });
});
afterAll(async () => {
  await broker.stop();
});

describe('fuzz - hostile frames', () => {
  it('fuzz - thousands of random and mutated frames never crash the broker, and a bystander loses nothing', { timeout: 120_000 }, async () => {
    const bystander = await connect(broker.url, { clientName: 'bystander' });
    await bystander.declareQueue('bystander', { durable: false });
    const received: number[] = [];
    await bystander.consume('bystander', (message) => {
      received.push(message.payload as number);
      message.ack();
    });

    const samples = fc.sample(frame, { seed: SEED, numRuns: FRAMES });
    let attacker = await RawClient.open(broker.url);
    let closes = 0;
    let published = 0;
    for (const [index, text] of samples.entries()) {
      if (attacker.closeCode !== undefined) {
        closes++;
        attacker = await RawClient.open(broker.url);
      }
      if (text === 'BINARY') attacker.socket.send(Buffer.from([0xde, 0xad]), { binary: true });
      else if (text === 'INVALID_UTF8') attacker.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      else attacker.send(text);
      if (index % 100 === 0) {
        await bystander.publish('', 'bystander', published++);
        // A request with a fresh id must still be answered: the connection is alive and in order.
        if (attacker.closeCode === undefined) {
          const reply = await attacker.request({ op: 'queue.declare', queue: '', exclusive: true }).catch(() => undefined);
          if (reply && attacker.closeCode === undefined) expect(['ok', 'error']).toContain(reply.op);
        }
      }
    }
    attacker.close();
    await bystander.publish('', 'bystander', published++);
    const deadline = Date.now() + 5000;
    while (received.length < published && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toEqual(Array.from({ length: published }, (_, i) => i));
    expect(broker.process.exitCode).toBeNull();
    // Every close was a clean one the protocol names: too big (1009) or not UTF-8 (1007).
    expect(closes).toBeGreaterThan(0);
    const errors = broker.logs.filter((line) => line.msg === 'internal error');
    expect(errors).toEqual([]);
    await bystander.close();
  });
});
