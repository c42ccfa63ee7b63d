#!/usr/bin/env node
// @ts-check
// The broker's own CPU per message, without sockets: a publisher session and consumer sessions of
// the built broker (dist/) on fake sockets, in one process. Not part of `npm test`.
//
//   npm run build && node scripts/bench-inprocess.mjs [--fanout 1] [--seconds 3] [--runs 3] [--auth] [--topic]
//
// The publisher sends S1's frames (arrays of 50 publishes of 256-byte payloads) while fewer than
// 1,000 messages per queue are undelivered; each consumer (prefetch 100) acks `multiple` once per
// flush it receives, one event-loop turn later. Prints µs per delivery (median of the runs): what
// the broker's JavaScript costs, which a socket bench mixes with the kernel and the clients.
//
// Type-checked (npm run typecheck) against src/: the modules are the built ones, typed as their sources.
import { parseArgs } from 'node:util';
import { pino } from 'pino';

const built = (/** @type {string} */ path) => import(new URL(`../dist/${path}`, import.meta.url).href);
/** @type {typeof import('../src/broker/index.js')} */
const { VirtualHosts } = await built('broker/index.js');
/** @type {typeof import('../src/store/index.js')} */
const { MemoryVhostStores } = await built('store/index.js');
/** @type {typeof import('../src/auth/index.js')} */
const { Authenticator, regexAccess } = await built('auth/index.js');
/** @type {typeof import('../src/transport/index.js')} */
const { JSON_PROTOCOL, OPEN, Session } = await built('transport/index.js');

const { values } = parseArgs({
  options: { fanout: { type: 'string', default: '1' }, seconds: { type: 'string', default: '3' }, runs: { type: 'string', default: '3' }, auth: { type: 'boolean', default: false }, topic: { type: 'boolean', default: false } },
});
const fanout = Number(values.fanout);
const seconds = Number(values.seconds);
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const frame = (/** @type {unknown} */ value) => Buffer.from(JSON.stringify(value));

/**
 * A socket whose writes complete at once; `onSend` sees each WebSocket message.
 * @param {(data: string) => void} onSend
 * @returns {import('../src/transport/index.js').ServerSocket}
 */
const fakeSocket = (onSend) => ({
  protocol: '',
  readyState: OPEN,
  bufferedAmount: 0,
  send: (data, callback) => (onSend(data), callback?.()),
  close() {},
  terminate() {},
  pause() {},
  resume() {},
  ping() {},
});

async function run() {
  const vhosts = await VirtualHosts.open(new MemoryVhostStores());
  // --auth: the sessions log in as a user whose permissions are regexes, with a topic permission, so every operation is checked.
  const names = '^(x|q[0-9]+)$';
  // A topic permission too, on x: with --topic (x is then a topic exchange) every publish's key is checked against it.
  const access = regexAccess({ configure: names, write: names, read: names }, [{ exchange: 'x', write: '^k$', read: '^k$' }], { username: 'bench', vhost: '/' });
  /** @type {import('../src/auth/index.js').User[]} */
  const users = values.auth ? [{ name: 'bench', tags: [], credential: { kind: 'plain', password: 'bench' }, vhosts: new Map([['/', access]]) }] : [];
  const auth = new Authenticator({ users, vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
  const connect = { op: 'connect', id: 1, version: 1, ...(values.auth ? { username: 'bench', password: 'bench' } : {}) };
  const context = { vhosts, auth, highWaterBytes: 2 ** 30, drainTimeoutMs: 1e9, flow: { alarm: null }, counts: { confirmed: 0 }, serverVersion: 'bench', logger: pino({ level: 'silent' }) };
  const publisher = new Session(fakeSocket(() => {}), 'publisher', context, JSON_PROTOCOL, '127.0.0.1');
  publisher.onMessage(frame([connect, { op: 'exchange.declare', id: 2, exchange: 'x', type: values.topic ? 'topic' : fanout > 1 ? 'fanout' : 'direct', durable: false }]), false);
  let delivered = 0;
  const consumers = [];
  for (let i = 0; i < fanout; i++) {
    // Deliveries are counted as the session makes them, so the fake socket need not parse.
    let sinceFlush = 0;
    let lastTag = 0;
    /** @type {number[]} */
    const acks = [];
    const session = new Session(
      fakeSocket(() => {
        if (sinceFlush === 0) return;
        lastTag += sinceFlush;
        delivered += sinceFlush;
        sinceFlush = 0;
        acks.push(lastTag);
      }),
      `consumer-${i}`,
      context,
      JSON_PROTOCOL,
      '127.0.0.1',
    );
    const deliver = session.deliver.bind(session);
    session.deliver = (consumerTag, deliveryTag, entry) => {
      sinceFlush++;
      deliver(consumerTag, deliveryTag, entry);
    };
    session.onMessage(
      frame([
        connect,
        { op: 'queue.declare', id: 2, queue: `q${i}`, durable: false },
        { op: 'queue.bind', id: 3, queue: `q${i}`, exchange: 'x', routingKey: 'k' },
        { op: 'consume', id: 4, queue: `q${i}`, prefetch: 100 },
      ]),
      false,
    );
    consumers.push(() => {
      for (const deliveryTag of acks.splice(0)) session.onMessage(frame({ op: 'ack', deliveryTag, multiple: true }), false);
    });
  }
  await nextTurn();
  delivered = 0;
  const pad = 'x'.repeat(200);
  let seq = 0;
  const batches = Array.from({ length: 20 }, () => frame(Array.from({ length: 50 }, () => ({ op: 'publish', exchange: 'x', routingKey: 'k', payload: { t: Date.now() * 1000, seq: seq++, pad } }))));
  let published = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  for (let batch = 0; process.hrtime.bigint() < end; ) {
    if (published - delivered / fanout < 1000) {
      publisher.onMessage(batches[batch++ % batches.length], false);
      published += 50;
    }
    await nextTurn();
    for (const ack of consumers) ack();
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return (1e6 * elapsed) / delivered;
}

const results = [];
await run(); // warm-up
for (let i = 0; i < Number(values.runs); i++) results.push(await run());
results.sort((a, b) => a - b);
const median = results[Math.floor(results.length / 2)];
console.log(`fanout ${fanout}: ${median.toFixed(3)} µs per delivery (median of ${results.length}: ${results.map((r) => r.toFixed(3)).join(', ')}), ${Math.round(1e6 / median).toLocaleString('en')} deliveries/s`);
console.log(JSON.stringify({ script: 'bench-inprocess', fanout, topic: values.topic, auth: values.auth, seconds, usPerDelivery: results, median }));
