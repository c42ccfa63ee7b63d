#!/usr/bin/env node
// What the broker adds to one message's trip, next to the bare ws relay, without S4's threads:
// one client process publishes batches of `--batch` messages and receives them, against the
// relay and the built broker in turn (relay, Warren, relay, Warren, …). Not part of `npm test`.
//
//   npm run build && node scripts/bench-latency.mjs [--mode pingpong|paced] [--batch 5] [--count 10000] [--rounds 2]
//
// pingpong: the next batch goes once the last one has arrived, so the client is awake when the
// delivery comes. paced: a batch every millisecond whatever arrives, as in S4, so the client is
// usually asleep. Prints p10/p50/p90/p99 in µs of each round, leaving out its first fifth.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as relayClient from './bench/clients/relay.mjs';
import * as warrenClient from './bench/clients/warren.mjs';
import { body, nowMicros } from './bench/payload.mjs';
import { killAll, startServer, stop } from './bench/processes.mjs';
import { percentile } from './bench/stats.mjs';

const usage = (problem) => {
  console.error(`${problem}\nusage: node scripts/bench-latency.mjs [--mode pingpong|paced] [--batch 5] [--count 10000] [--rounds 2]`);
  process.exit(2);
};
const options = { mode: { type: 'string', default: 'paced' }, batch: { type: 'string', default: '5' }, count: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '2' } };
let values;
try {
  ({ values } = parseArgs({ options }));
} catch (error) {
  usage(error.message);
}
if (!['pingpong', 'paced'].includes(values.mode)) usage(`--mode must be pingpong or paced (got ${values.mode})`);
for (const name of ['batch', 'count', 'rounds']) {
  if (!/^[1-9][0-9]*$/.test(values[name])) usage(`--${name} must be a whole number of at least 1 (got ${values[name]})`);
}
const batch = Number(values.batch);
const count = Number(values.count);
/** A batch that has not arrived after this long is lost: the round fails rather than hangs. */
const ARRIVAL_TIMEOUT_MS = 10_000;
const root = new URL('../', import.meta.url).pathname;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startTarget(target, work) {
  if (target === 'relay') {
    const server = await startServer([join(root, 'scripts/bench/relay-server.mjs')]);
    return { server, url: `ws://127.0.0.1:${server.port}`, client: relayClient, queue: 'x' };
  }
  writeFileSync(join(work, 'warren.json'), JSON.stringify({ log: { level: 'info' } }));
  const server = await startServer([join(root, 'dist/cli.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(work, 'data'), '--config', join(work, 'warren.json')]);
  const url = `ws://127.0.0.1:${server.port}/ws`;
  await warrenClient.setupTopology(url, { exchanges: [['x', 'direct', false]], queues: [['q', false]], bindings: [['q', 'x', 'k']] });
  return { server, url, client: warrenClient, queue: 'q' };
}

async function round(target) {
  const work = mkdtempSync(join(tmpdir(), 'wlatency-'));
  const { server, url, client, queue } = await startTarget(target, work);
  const latencies = [];
  let arrived = 0;
  let wake = () => {};
  const sink = {
    received(sentAt) {
      latencies.push(nowMicros() - sentAt);
      if (++arrived % batch === 0) wake();
    },
    flush() {},
  };
  const consumer = await client.openConsumer(url, [queue], { prefetch: 100 }, sink);
  const publisher = await client.openPublisher(url, { exchange: 'x', publishBatch: 50 });
  const keys = new Array(batch).fill('k');
  for (let sent = 0; sent < count; sent++) {
    const next = values.mode === 'paced' ? sleep(1) : Promise.race([new Promise((resolve) => (wake = resolve)), sleep(ARRIVAL_TIMEOUT_MS)]);
    publisher.send(keys, Array.from({ length: batch }, (_, i) => body(sent * batch + i)));
    await next;
  }
  const deadline = Date.now() + ARRIVAL_TIMEOUT_MS;
  while (arrived < count * batch && Date.now() < deadline) await sleep(5);
  if (arrived < count * batch) throw new Error(`${target}: ${count * batch - arrived} of ${count * batch} messages did not arrive`);
  await publisher.close();
  await consumer.close();
  await stop(server.child);
  rmSync(work, { recursive: true, force: true });
  const sorted = Float64Array.from(latencies.slice(Math.floor(latencies.length / 5))).sort();
  const at = (p) => percentile(sorted, p);
  console.log(`${target.padEnd(6)} p10 ${at(10)}  p50 ${at(50)}  p90 ${at(90)}  p99 ${at(99)} µs`);
}

console.log(`mode ${values.mode}, ${count} batches of ${batch} (256-byte payloads)`);
try {
  for (let i = 0; i < Number(values.rounds); i++) {
    await round('relay');
    await round('warren');
  }
} finally {
  killAll();
}
