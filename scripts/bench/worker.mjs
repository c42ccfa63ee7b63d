// A worker thread of the client process: the publisher, the consumers, or S5's subscribers,
// each on its own event loop so that clients do not slow each other down. Commands arrive as
// messages { id, cmd }; each is answered with { id, ... } (or { id, error }).
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { clientFor } from './clients/index.mjs';
import { body, nowMicros } from './payload.mjs';
import { PUBLISH_BATCH, SCENARIOS } from './scenarios.mjs';
import { bump, changed, CONFIRMED, DELIVERED, ERRORS, IDLE, MEASURING, PHASE, PUBLISHED, read } from './shared.mjs';
import { Latencies } from './stats.mjs';

const { role, target, url, prefix, scenarioId, shared, subscribers } = workerData;
const scenario = SCENARIOS[scenarioId];
const client = await clientFor(target);
const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const roles = { publisher, consumers, subscribers: subscriberSet };
const handlers = await roles[role]();
parentPort.on('message', async ({ id, cmd, ...args }) => {
  try {
    parentPort.postMessage({ id, ...(await handlers[cmd](args)) });
  } catch (error) {
    parentPort.postMessage({ id, error: error.stack ?? String(error) });
  }
});
parentPort.postMessage({ ready: true });

async function publisher() {
  const options = { exchange: scenario.exchange(prefix), persistent: scenario.persistent, confirm: scenario.confirm, publishBatch: scenario.publishBatch ?? PUBLISH_BATCH };
  let confirmed = 0;
  let wakeOnConfirm;
  const pub = await client.openPublisher(url, options, (ok) => {
    confirmed++;
    bump(shared, CONFIRMED, 1);
    if (!ok) bump(shared, ERRORS, 1);
    if (wakeOnConfirm) wakeOnConfirm();
  });
  let seq = 0;
  let published = 0;
  const makeBatch = (n) => {
    const keys = new Array(n);
    const bodies = new Array(n);
    const t = nowMicros();
    for (let i = 0; i < n; i++, seq++) {
      keys[i] = scenario.key(seq);
      bodies[i] = body(seq, 256, t);
    }
    return [keys, bodies];
  };
  const send = (n) => {
    const [keys, bodies] = makeBatch(n);
    pub.send(keys, bodies);
    published += n;
    bump(shared, PUBLISHED, n);
  };

  // As fast as the windows allow: `window` messages not yet delivered, `confirmWindow` unconfirmed.
  // What the publisher waited for, in ms over the run, tells a broker-bound run (the undelivered
  // window full) from one held by confirms' latency.
  async function flatOut(waited) {
    const { fanout, window, confirmWindow } = scenario;
    while (read(shared, PHASE) !== IDLE) {
      const delivered = read(shared, DELIVERED);
      const inFlight = Math.ceil((published * fanout - delivered) / fanout);
      const confirmRoom = scenario.confirm ? confirmWindow - (published - confirmed) : Infinity;
      const room = Math.min(window - inFlight, confirmRoom);
      if (room <= 0) {
        const since = performance.now();
        if (confirmRoom <= 0) {
          await new Promise((resolve) => {
            wakeOnConfirm = resolve;
            setTimeout(resolve, 50);
          });
          waited.confirmsMs += performance.now() - since;
        } else {
          await changed(shared, DELIVERED, delivered, 50);
          waited.windowMs += performance.now() - since;
        }
        wakeOnConfirm = undefined;
        continue;
      }
      if (pub.backlogged()) {
        await pub.drain();
        continue;
      }
      send(Math.min(room, 100));
      await tick();
    }
  }

  // A fixed rate, paced by a 1 ms timer: each tick sends what is due since the start.
  async function paced() {
    const start = performance.now();
    let sent = 0;
    while (read(shared, PHASE) !== IDLE) {
      const due = Math.floor(((performance.now() - start) * scenario.rate) / 1000) - sent;
      if (due > 0 && !pub.backlogged()) {
        send(Math.min(due, 1000));
        sent += Math.min(due, 1000);
      }
      await sleep(1);
    }
  }

  return {
    run: async () => {
      const waited = scenario.rate ? undefined : { confirmsMs: 0, windowMs: 0, runMs: 0 };
      const start = performance.now();
      await (waited ? flatOut(waited) : paced());
      if (waited) waited.runMs = performance.now() - start;
      return { published, confirmed, errors: pub.errors(), lastError: pub.lastError?.(), waited };
    },
    close: async () => {
      await pub.close();
      return {};
    },
  };
}

async function consumers() {
  const latencies = new Latencies();
  let pending = 0;
  const sink = {
    received(t) {
      pending++;
      if (Atomics.load(shared, PHASE) === MEASURING) latencies.add(nowMicros() - t);
    },
    flush() {
      if (pending > 0) bump(shared, DELIVERED, pending);
      pending = 0;
    },
  };
  const groups = target === 'relay' ? scenario.consumers(prefix).map(() => [scenario.exchange(prefix)]) : scenario.consumers(prefix);
  const opened = [];
  for (const queues of groups) opened.push(await client.openConsumer(url, queues, { prefetch: Number(process.env.BENCH_PREFETCH ?? 100) }, sink));
  return {
    reset: async () => {
      latencies.reset();
      return {};
    },
    report: async () => ({
      latency: latencies.report(),
      errors: opened.reduce((sum, c) => sum + c.errors(), 0),
      lastError: opened.map((c) => c.lastError?.()).find(Boolean),
    }),
    close: async () => {
      await Promise.all(opened.map((c) => c.close()));
      return {};
    },
  };
}

// S5: many subscribers, each its own connection; reports when the last one has the message.
async function subscriberSet() {
  const exchange = scenario.exchange(prefix);
  let expected = 0;
  let received = 0;
  let first = 0;
  let last = 0;
  let done;
  const onDeliver = () => {
    const now = nowMicros();
    if (received++ === 0) first = now;
    if (received === expected) {
      last = now;
      done?.();
    }
  };
  const started = performance.now();
  const opened = [];
  const CONCURRENCY = 200;
  for (let i = 0; i < subscribers; i += CONCURRENCY) {
    const batch = [];
    for (let j = i; j < Math.min(subscribers, i + CONCURRENCY); j++) batch.push(client.openSubscriber(url, exchange, onDeliver));
    opened.push(...(await Promise.all(batch)));
  }
  const setupMs = performance.now() - started;
  return {
    setup: async () => ({ setupMs, subscribers: opened.length }),
    arm: async () => {
      expected = opened.length;
      received = 0;
      first = 0;
      last = 0;
      done = undefined;
      return {};
    },
    wait: async ({ timeoutMs }) => {
      if (received < expected) await Promise.race([new Promise((resolve) => (done = resolve)), sleep(timeoutMs)]);
      return { received, first, last };
    },
    close: async () => {
      for (const s of opened) s.ws.terminate();
      return {};
    },
  };
}
