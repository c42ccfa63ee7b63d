#!/usr/bin/env node
// @ts-check
// The broker's own CPU per message, without sockets: a publisher session and consumer sessions of
// the built broker (dist/) on fake sockets, in one process. Not part of `npm test`.
//
//   npm run build && node scripts/bench-inprocess.mjs [--fanout 1] [--seconds 3] [--runs 3] [--auth] [--topic]
//                                                    [--unbatched [--persistent]]
//
// The publisher sends S1's frames (arrays of 50 publishes of 256-byte payloads) while fewer than
// 1,000 messages per queue are undelivered; each consumer (prefetch 100) acks `multiple` once per
// flush it receives, one event-loop turn later. Prints µs per delivery (median of the runs): what
// the broker's JavaScript costs, which a socket bench mixes with the kernel and the clients.
//
// --unbatched is S3un's client: one confirmed publish per WebSocket message, at most 100 a turn,
// while fewer than 1,000 are unconfirmed and 10,000 undelivered. With --persistent (S3u) the
// queue and exchange are durable, the messages persistent, and the store a journal (sync always)
// in a temporary directory; the process's CPU per delivery then includes the thread pool's writes.
//
// Type-checked (npm run typecheck) against src/: the modules are the built ones, typed as their sources.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { summary } from './bench/stats.mjs';

const built = (/** @type {string} */ path) => import(new URL(`../dist/${path}`, import.meta.url).href);
/** @type {typeof import('../src/broker/index.js')} */
const { VirtualHosts } = await built('broker/index.js');
/** @type {typeof import('../src/store/index.js')} */
const { MemoryVhostStores, VhostJournals } = await built('store/index.js');
/** @type {typeof import('../src/auth/index.js')} */
const { Authenticator, regexAccess } = await built('auth/index.js');
/** @type {typeof import('../src/transport/index.js')} */
const { JSON_PROTOCOL, OPEN, Session } = await built('transport/index.js');

const { values } = parseArgs({
  options: {
    fanout: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    auth: { type: 'boolean', default: false },
    topic: { type: 'boolean', default: false },
    unbatched: { type: 'boolean', default: false },
    persistent: { type: 'boolean', default: false },
  },
});
if (values.persistent && !values.unbatched) {
  console.error('bench-inprocess: --persistent is S3u\'s shape and needs --unbatched (S3u: --unbatched --persistent; S3un: --unbatched)');
  process.exit(2);
}
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
  const dataDir = values.persistent ? mkdtempSync(join(tmpdir(), 'bench-inprocess-')) : undefined;
  const stores = dataDir ? await VhostJournals.open({ dataDir, sync: 'always' }) : new MemoryVhostStores();
  const vhosts = await VirtualHosts.open(stores);
  const durable = values.persistent;
  // --auth: the sessions log in as a user whose permissions are regexes, with a topic permission, so every operation is checked.
  const names = '^(x|q[0-9]+)$';
  // A topic permission too, on x: with --topic (x is then a topic exchange) every publish's key is checked against it.
  const access = regexAccess({ configure: names, write: names, read: names }, [{ exchange: 'x', write: '^k$', read: '^k$' }], { username: 'bench', vhost: '/' });
  /** @type {import('../src/auth/index.js').User[]} */
  const users = values.auth ? [{ name: 'bench', tags: [], credential: { kind: 'plain', password: 'bench' }, vhosts: new Map([['/', access]]) }] : [];
  const auth = new Authenticator({ users, vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
  const connect = { op: 'connect', id: 1, version: 1, ...(values.auth ? { username: 'bench', password: 'bench' } : {}) };
  const context = { vhosts, auth, highWaterBytes: 2 ** 30, drainTimeoutMs: 1e9, flow: { alarm: null }, counts: { confirmed: 0 }, serverVersion: 'bench', logger: pino({ level: 'silent' }) };
  let confirmed = 0;
  const countConfirms = (/** @type {string} */ data) => {
    for (let at = data.indexOf('"op":"ok"'); at >= 0; at = data.indexOf('"op":"ok"', at + 1)) confirmed++;
  };
  const publisher = new Session(fakeSocket(countConfirms), 'publisher', context, JSON_PROTOCOL, '127.0.0.1');
  publisher.onMessage(frame([connect, { op: 'exchange.declare', id: 2, exchange: 'x', type: values.topic ? 'topic' : fanout > 1 ? 'fanout' : 'direct', durable }]), false);
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
        { op: 'queue.declare', id: 2, queue: `q${i}`, durable },
        { op: 'queue.bind', id: 3, queue: `q${i}`, exchange: 'x', routingKey: 'k' },
        { op: 'consume', id: 4, queue: `q${i}`, prefetch: 100 },
      ]),
      false,
    );
    consumers.push(() => {
      for (const deliveryTag of acks.splice(0)) session.onMessage(frame({ op: 'ack', deliveryTag, multiple: true }), false);
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  delivered = 0;
  confirmed = 0;
  const pad = 'x'.repeat(200);
  let seq = 0;
  const batches = Array.from({ length: 20 }, () => frame(Array.from({ length: 50 }, () => ({ op: 'publish', exchange: 'x', routingKey: 'k', payload: { t: Date.now() * 1000, seq: seq++, pad } }))));
  const properties = values.persistent ? ',"properties":{"persistent":true}' : '';
  let published = 0;
  const cpuAtStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  for (let batch = 0; process.hrtime.bigint() < end; ) {
    if (values.unbatched) {
      const room = Math.min(100, 1000 - (published - confirmed), 10_000 - (published - delivered / fanout));
      for (let i = 0; i < room; i++, published++) {
        publisher.onMessage(Buffer.from(`{"op":"publish","id":${published + 10},"exchange":"x","routingKey":"k","payload":{"t":${Date.now() * 1000},"seq":${seq++},"pad":"${pad}"}${properties}}`), false);
      }
    } else if (published - delivered / fanout < 1000) {
      publisher.onMessage(batches[batch++ % batches.length], false);
      published += 50;
    }
    await nextTurn();
    for (const ack of consumers) ack();
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const { user, system } = process.cpuUsage(cpuAtStart);
  await vhosts.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  return { wall: (1e6 * elapsed) / delivered, cpu: (user + system) / delivered };
}

const runs = [];
await run(); // warm-up
for (let i = 0; i < Number(values.runs); i++) runs.push(await run());
const results = runs.map((r) => r.wall);
const median = summary(results)?.median ?? NaN;
const cpu = runs.map((r) => r.cpu);
const cpuMedian = summary(cpu)?.median ?? NaN;
console.log(
  `fanout ${fanout}: ${median.toFixed(3)} µs per delivery (median of ${results.length}: ${results.map((r) => r.toFixed(3)).join(', ')}), ${Math.round(1e6 / median).toLocaleString('en')} deliveries/s; ` +
    `process CPU ${cpuMedian.toFixed(3)} µs per delivery (with the thread pool and the collector's threads)`,
);
const { unbatched, persistent, topic, auth } = values;
console.log(JSON.stringify({ script: 'bench-inprocess', fanout, topic, auth, unbatched, persistent, seconds, usPerDelivery: results, median, cpuUsPerDelivery: cpu, cpuMedian }));
