// `node scripts/failover.mjs [--runs 3]` (after `npm run build`): the Redis primary dies under
// load. Redis with a replica and a Sentinel, two Warren nodes on redis+sentinel://, a publisher
// on one (persistent messages, confirmed, 100 in flight) and a consumer on the other (acking);
// the primary is killed (SIGKILL) after 2 s. Reports how long publishes went unconfirmed (the
// window), how many publishes failed, how many confirmed messages never arrived (lost), and the
// duplicates (docs/clustering.md, "Failures"). spec/e2e/cluster-failover.test.ts runs it once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connect } from '../dist/client/index.js';
import { startSentinelRedis } from './cluster-parts.mjs';
import { startServer, stop } from './bench/processes.mjs';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One failover under load; resolves with what happened. */
export async function failover({ beforeMs = 2000, afterMs = 3000, inFlight = 100, log = () => {} } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'wfailover-'));
  const redis = await startSentinelRedis();
  const nodes = [];
  let publisher;
  let consumer;
  try {
    for (const name of ['node1', 'node2']) {
      const file = join(work, `${name}.json`);
      writeFileSync(file, JSON.stringify({ log: { level: 'warn' }, cluster: { redis: redis.url, node: name, nodeTimeoutMs: 10_000 } }));
      nodes.push(await startServer([CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(work, `data-${name}`), '--config', file, '--log-level', 'info']));
    }
    publisher = await connect(`ws://127.0.0.1:${nodes[0].port}/ws`, { reconnect: false });
    consumer = await connect(`ws://127.0.0.1:${nodes[1].port}/ws`, { reconnect: false });
    await publisher.declareQueue('failover', { durable: true });
    const delivered = new Map();
    await consumer.consume(
      'failover',
      (delivery) => {
        delivered.set(delivery.payload, (delivered.get(delivery.payload) ?? 0) + 1);
        delivery.ack();
      },
      { prefetch: 200 },
    );
    /** When each confirmed message was confirmed. */
    const confirmed = new Map();
    const failures = [];
    const confirmTimes = [];
    let next = 0;
    let publishing = true;
    const one = async () => {
      while (publishing) {
        const n = next++;
        try {
          await publisher.publish('', 'failover', n, { properties: { persistent: true } });
          confirmed.set(n, performance.now());
          confirmTimes.push(performance.now());
        } catch (error) {
          failures.push(error.message);
        }
      }
    };
    const workers = Array.from({ length: inFlight }, one);
    await sleep(beforeMs);
    const killedAt = performance.now();
    log('killing the Redis primary');
    const switched = redis.switched();
    await redis.primary.stop('SIGKILL');
    const newPrimary = await Promise.race([switched, sleep(30_000).then(() => null)]);
    const switchedAt = performance.now();
    log(`Sentinel switched to ${newPrimary ?? 'nothing within 30 s'}`);
    // Until publishes confirm again, then `afterMs` more.
    for (const started = performance.now(); confirmTimes.at(-1) < switchedAt && performance.now() - started < 30_000; ) await sleep(10);
    await sleep(afterMs);
    publishing = false;
    await Promise.all(workers);
    // Everything confirmed should arrive; give the consumer time.
    for (const started = performance.now(); [...confirmed.keys()].some((n) => !delivered.has(n)) && performance.now() - started < 10_000; ) await sleep(20);
    // The window: the longest time without a confirm from the kill on.
    let windowMs = null;
    for (let i = 1; i < confirmTimes.length; i++) {
      if (confirmTimes[i] > killedAt) windowMs = Math.max(windowMs ?? 0, confirmTimes[i] - Math.max(killedAt, confirmTimes[i - 1]));
    }
    const lost = [...confirmed.keys()].filter((n) => !delivered.has(n));
    return {
      switchedToPort: newPrimary,
      sentinelMs: Math.round(switchedAt - killedAt),
      windowMs: windowMs === null ? null : Math.round(windowMs),
      confirmed: confirmed.size,
      failed: failures.length,
      failure: failures[0],
      lost: lost.length,
      /** Of those lost, the ones confirmed after the Sentinel switched: none, unless Warren lost them. */
      lostAfterSwitch: lost.filter((n) => confirmed.get(n) > switchedAt).length,
      duplicates: [...delivered.values()].filter((count) => count > 1).length,
    };
  } finally {
    await publisher?.close().catch(() => {});
    await consumer?.close().catch(() => {});
    for (const node of nodes) await stop(node.child, 10_000);
    await redis.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  const runs = Number(values.runs ?? 3);
  const results = [];
  for (let run = 1; run <= runs; run++) {
    const result = await failover({ log: (text) => process.stderr.write(`[failover run ${run}] ${text}\n`) });
    process.stderr.write(`[failover run ${run}] ${JSON.stringify(result)}\n`);
    results.push(result);
  }
  const median = (key) => {
    const values = results.map((r) => r[key]).filter((v) => typeof v === 'number').sort((a, b) => a - b);
    return values.length ? values[values.length >> 1] : null;
  };
  console.log(`Redis primary killed under load, ${runs} runs: Sentinel switch median ${median('sentinelMs')} ms; publishes unconfirmed for median ${median('windowMs')} ms; failed publishes ${results.map((r) => r.failed).join('/')}; confirmed but lost ${results.map((r) => r.lost).join('/')}; duplicates ${results.map((r) => r.duplicates).join('/')}`);
  console.log(JSON.stringify({ runs: results }));
  process.exit(0);
}
