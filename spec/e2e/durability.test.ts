import { describe, expect, it } from 'vitest';
import { RawClient, runCli, startBroker, type Frame, type RunningBroker } from './harness.js';

// docs/protocol.md, "Durability": durable topology and confirmed persistent messages in durable
// queues survive a restart and a kill -9; nothing else does; acked messages stay acked.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Publish ids start here so they never meet the ids RawClient.request hands out. */
const PUBLISH_ID_BASE = 1_000_000;

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function declareTopology(client: RawClient): Promise<void> {
  for (const frame of [
    { op: 'exchange.declare', exchange: 'orders', type: 'direct' },
    { op: 'queue.declare', queue: 'jobs' },
    { op: 'queue.bind', queue: 'jobs', exchange: 'orders', routingKey: 'job' },
    { op: 'queue.declare', queue: 'scratch', durable: false },
    { op: 'queue.bind', queue: 'scratch', exchange: 'orders', routingKey: 'job' },
  ]) {
    expect(await client.request(frame)).toMatchObject({ op: 'ok' });
  }
}

/** Every message in `queue`, taken without acks: the payloads, in delivery order. */
async function drain(url: string, queue: string): Promise<{ payloads: unknown[]; deliveries: Frame[] }> {
  const client = await RawClient.connected(url);
  const declared = await client.request({ op: 'queue.declare', queue, passive: true });
  expect(declared).toMatchObject({ op: 'ok' });
  const count = declared.messageCount as number;
  const deliveries = () => client.frames.filter((frame) => frame.op === 'deliver');
  const consumed = await client.request({ op: 'consume', queue, prefetch: 0, noAck: true });
  expect(consumed).toMatchObject({ op: 'ok' });
  await waitUntil(() => deliveries().length >= count, `${count} deliveries from ${queue}`);
  // Cancelled before closing, so that later publishes to the queue stay there.
  expect(await client.request({ op: 'cancel', consumerTag: consumed.consumerTag })).toMatchObject({ op: 'ok' });
  client.close();
  return { payloads: deliveries().map((frame) => frame.payload), deliveries: deliveries() };
}

/**
 * Publishes persistent messages {n} as fast as confirms allow until the broker dies, `killAfterMs`
 * after the first confirm (counted from then, not from the start: a busy machine's slow start must
 * not kill the broker before it confirmed anything); returns the confirmed n.
 */
async function publishUntilKilled(broker: RunningBroker, first: number, killAfterMs: number): Promise<{ sent: number; confirmed: number[] }> {
  const client = await RawClient.connected(broker.url);
  let n = first;
  let dead = false;
  let killing = false;
  broker.process.once('exit', () => (dead = true));
  while (!dead && client.closeCode === undefined) {
    if (!killing && client.frames.some((frame) => frame.op === 'ok' && (frame.id as number) >= PUBLISH_ID_BASE)) {
      killing = true;
      setTimeout(() => broker.process.kill('SIGKILL'), killAfterMs);
    }
    for (let i = 0; i < 50; i++, n++) {
      client.send({ op: 'publish', id: PUBLISH_ID_BASE + n, exchange: 'orders', routingKey: 'job', payload: { n }, properties: { persistent: true } });
    }
    // Also non-persistent ones: they must not come back.
    client.send({ op: 'publish', exchange: 'orders', routingKey: 'job', payload: { transient: n } });
    await sleep(2);
  }
  await broker.stop();
  const confirmed = client.frames.filter((frame) => frame.op === 'ok' && (frame.id as number) >= PUBLISH_ID_BASE).map((frame) => (frame.id as number) - PUBLISH_ID_BASE);
  return { sent: n - first, confirmed };
}

describe('durability - kill -9', () => {
  it('durability - every confirmed persistent message survives kill -9 during publishing, once; transient queues and messages do not', async () => {
    let broker = await startBroker();
    const dataDir = broker.dataDir;
    const confirmed: number[] = [];
    let next = 1;
    for (let round = 0; round < 3; round++) {
      const client = await RawClient.connected(broker.url);
      await declareTopology(client);
      client.close();
      const killAfterMs = 150 + Math.floor(Math.random() * 350);
      const killedPid = broker.process.pid;
      const result = await publishUntilKilled(broker, next, killAfterMs);
      next += result.sent;
      expect(result.confirmed.length, `round ${round}, killed after ${killAfterMs} ms`).toBeGreaterThan(0);
      confirmed.push(...result.confirmed);
      broker = await startBroker({}, [], 0, { dataDir });
      // The killed broker's pid under its own key: `pid` is the new broker's, in every line.
      expect(broker.logs.find((line) => line.msg === 'took over the lock of a broker that is no longer running')).toMatchObject({ previousPid: killedPid, pid: broker.process.pid });
      const check = await RawClient.connected(broker.url);
      expect(await check.request({ op: 'queue.declare', queue: 'scratch', passive: true })).toMatchObject({ op: 'error', code: 'NOT_FOUND' });
      expect(await check.request({ op: 'exchange.declare', exchange: 'orders', passive: true })).toMatchObject({ op: 'ok' });
      check.close();
    }
    const { payloads, deliveries } = await drain(broker.url, 'jobs');
    const recovered = payloads.map((payload) => (payload as { n?: number }).n);
    expect(recovered.every((n) => typeof n === 'number'), 'no non-persistent message came back').toBe(true);
    const numbers = recovered as number[];
    expect(new Set(numbers).size, 'no message twice').toBe(numbers.length);
    const present = new Set(numbers);
    expect(confirmed.filter((n) => !present.has(n)), 'confirmed but missing').toEqual([]);
    expect(numbers, 'in publish order').toEqual([...numbers].sort((a, b) => a - b));
    expect(deliveries.length).toBeGreaterThanOrEqual(confirmed.length);
    // The recovered binding still routes.
    const client = await RawClient.connected(broker.url);
    expect(await client.request({ op: 'publish', exchange: 'orders', routingKey: 'job', payload: 'after', properties: { persistent: true } })).toMatchObject({ op: 'ok' });
    expect(await client.request({ op: 'queue.declare', queue: 'jobs', passive: true })).toMatchObject({ messageCount: 1 });
    client.close();
    await broker.stop();
  });

  it('durability - kill -9 while acking: every confirmed message is still there unless it was acked, none twice', async () => {
    let broker = await startBroker();
    const total = 2000;
    const publisher = await RawClient.connected(broker.url);
    expect(await publisher.request({ op: 'queue.declare', queue: 'work' })).toMatchObject({ op: 'ok' });
    for (let n = 1; n <= total; n++) {
      publisher.send({ op: 'publish', id: PUBLISH_ID_BASE + n, exchange: '', routingKey: 'work', payload: n, properties: { persistent: true } });
    }
    await waitUntil(() => publisher.frames.filter((frame) => frame.op === 'ok' && (frame.id as number) > PUBLISH_ID_BASE).length === total, 'all confirms');
    publisher.close();

    const consumer = await RawClient.connected(broker.url);
    expect(await consumer.request({ op: 'consume', queue: 'work', prefetch: 50 })).toMatchObject({ op: 'ok' });
    const acked = new Set<number>();
    let dead = false;
    broker.process.once('exit', () => (dead = true));
    // Killed at a random point of the acking, with acks in flight.
    const killAtAcks = 200 + Math.floor(Math.random() * (total - 400));
    let seen = 0;
    while (!dead) {
      const frames = consumer.frames;
      for (; seen < frames.length; seen++) {
        const frame = frames[seen];
        if (frame.op !== 'deliver') continue;
        consumer.send({ op: 'ack', deliveryTag: frame.deliveryTag });
        acked.add(frame.payload as number);
        if (acked.size === killAtAcks) broker.process.kill('SIGKILL');
      }
      await sleep(1);
    }
    await broker.stop();

    broker = await startBroker({}, [], 0, { dataDir: broker.dataDir });
    const remaining = (await drain(broker.url, 'work')).payloads as number[];
    expect(new Set(remaining).size, 'none twice').toBe(remaining.length);
    const present = new Set(remaining);
    const lost = Array.from({ length: total }, (_, i) => i + 1).filter((n) => !present.has(n) && !acked.has(n));
    expect(lost, `killed after ${killAtAcks} acks`).toEqual([]);
    expect(remaining.length, 'the messages not acked are back').toBeGreaterThanOrEqual(total - acked.size);
    await broker.stop();
  });
});

describe('durability - clean restart', () => {
  it('durability - after SIGTERM nothing acked comes back, the durable topology is intact, transient state is gone', async () => {
    let broker = await startBroker();
    const client = await RawClient.connected(broker.url);
    expect(await client.request({ op: 'queue.declare', queue: 'short' })).toMatchObject({ op: 'ok' });
    const shortPublishedAt = Date.now();
    expect(await client.request({ op: 'publish', exchange: '', routingKey: 'short', payload: 'expires', properties: { persistent: true, expiration: 1000 } })).toMatchObject({
      op: 'ok',
    });
    for (const frame of [
      { op: 'exchange.declare', exchange: 'events', type: 'topic' },
      { op: 'exchange.declare', exchange: 'events.copy', type: 'fanout' },
      { op: 'exchange.bind', destination: 'events.copy', source: 'events', routingKey: 'a.#' },
      { op: 'exchange.declare', exchange: 'events.temp', type: 'fanout', durable: false },
      { op: 'queue.declare', queue: 'keep' },
      { op: 'queue.bind', queue: 'keep', exchange: 'events', routingKey: 'a.#' },
      { op: 'queue.declare', queue: 'copies', arguments: { 'x-message-ttl': 60_000 } },
      { op: 'queue.bind', queue: 'copies', exchange: 'events.copy' },
      { op: 'queue.declare', queue: 'temp', durable: false },
      { op: 'queue.bind', queue: 'temp', exchange: 'events', routingKey: 'a.#' },
    ]) {
      expect(await client.request(frame), JSON.stringify(frame)).toMatchObject({ op: 'ok' });
    }
    for (let n = 1; n <= 10; n++) {
      expect(await client.request({ op: 'publish', exchange: 'events', routingKey: 'a.b', payload: n, properties: { persistent: true } })).toMatchObject({ op: 'ok' });
    }
    for (let n = 1; n <= 10; n++) {
      expect(await client.request({ op: 'publish', exchange: 'events', routingKey: 'a.b', payload: `transient ${n}` })).toMatchObject({ op: 'ok' });
    }
    for (let n = 1; n <= 4; n++) {
      const got = await client.request({ op: 'get', queue: 'keep' });
      const message = got.message as { deliveryTag: number; payload: unknown };
      expect(message.payload).toBe(n);
      client.send({ op: 'ack', deliveryTag: message.deliveryTag });
    }
    // One more delivered and left unacked: the shutdown requeues it, and it survives.
    expect(await client.request({ op: 'get', queue: 'keep' })).toMatchObject({ message: { payload: 5 } });
    // A round trip, so the acks above have been handled before the signal.
    expect(await client.request({ op: 'queue.declare', queue: 'keep', passive: true })).toMatchObject({ messageCount: 15 });
    // Leave a gap between publishing "short" and the restart, so a reset expiry would show.
    await sleep(Math.max(0, shortPublishedAt + 600 - Date.now()));
    expect(await broker.stop('SIGTERM')).toBe(0);

    broker = await startBroker({}, [], 0, { dataDir: broker.dataDir });
    const restartedAt = Date.now();
    const recovered = broker.logs.find((line) => line.msg === 'journal recovered');
    expect(recovered).toMatchObject({ exchanges: 2, queues: 3, bindings: 3, messages: 17 });
    const after = await RawClient.connected(broker.url);
    expect(await after.request({ op: 'queue.declare', queue: 'temp', passive: true })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await after.request({ op: 'exchange.declare', exchange: 'events.temp', passive: true })).toMatchObject({ code: 'NOT_FOUND' });
    expect((await drain(broker.url, 'keep')).payloads).toEqual([5, 6, 7, 8, 9, 10]);
    expect((await drain(broker.url, 'copies')).payloads).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // The bindings, exchange to exchange included, still route.
    expect(await after.request({ op: 'publish', exchange: 'events', routingKey: 'a.c', payload: 'new' })).toMatchObject({ op: 'ok' });
    expect(await after.request({ op: 'queue.declare', queue: 'copies', passive: true })).toMatchObject({ messageCount: 1 });
    // The message's expiry survived the restart: it goes when its time is up, 1 s after it was
    // published, not 1 s after the restart.
    await sleep(shortPublishedAt + 1000 - Date.now());
    for (;;) {
      const short = await after.request({ op: 'queue.declare', queue: 'short', passive: true });
      if (short.messageCount === 0) break;
      expect(Date.now(), 'the expiry was reset by the restart').toBeLessThan(restartedAt + 1000);
      await sleep(20);
    }
    after.close();
    await broker.stop();
  });

  it('durability - a second broker on the same data dir refuses to start, naming the dir', async () => {
    const broker = await startBroker();
    const second = await runCli(['serve', '--port', '0', '--data-dir', broker.dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`data dir "${broker.dataDir}" is in use by another Warren broker (pid ${broker.process.pid}`);
    await broker.stop();
  });
});
