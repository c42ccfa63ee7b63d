#!/usr/bin/env node
/**
 * Durability benchmark (not part of `npm test`). Runs the BUILT broker as a child process:
 *
 *   npm run build && node scripts/bench-durability.mjs [--messages 100000] [--recovery 1000000] [--runs 3] [--sync always|none]
 *
 * Measures, each as the median of --runs runs on a fresh data dir:
 *  - throughput: 1 publisher with confirms (at most 1000 unconfirmed) and 1 consumer with acks
 *    (prefetch 1000, one `ack` with `multiple` per WebSocket message received) on a durable
 *    queue, 256-byte payloads, persistent and non-persistent, with confirm latency;
 *  - disk bytes per message: 256-byte persistent messages published with no consumer;
 *  - recovery: --recovery small persistent messages published, the broker stopped (SIGTERM), then
 *    the time from spawning it again until its "listening" log line (and the journal's own
 *    "journal recovered" time), over --runs restarts of that same data dir.
 * Prints a table, then one JSON line per measurement.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const WINDOW = 1000;
const PREFETCH = 1000;

function parseArgs(argv) {
  const options = { messages: 100_000, recovery: 1_000_000, runs: 3, sync: 'always' };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in options)) throw new Error(`unknown option ${argv[i]}; options: --messages, --recovery, --runs, --sync`);
    options[name] = name === 'sync' ? argv[i + 1] : Number(argv[i + 1]);
  }
  return options;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

const percentile = (values, p) => {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
};

function journalBytes(dataDir) {
  const dir = join(dataDir, 'journal');
  return readdirSync(dir).reduce((sum, name) => sum + (statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0), 0);
}

/** A config file with `storage.sync`; the data dir and port come as flags. */
function configFile(sync) {
  const file = join(mkdtempSync(join(tmpdir(), 'warren-bench-config-')), 'broker.json');
  writeFileSync(file, JSON.stringify({ storage: { sync } }));
  return file;
}

/** Spawns `warren serve` on a free port; resolves once it logs "listening". */
async function startBroker(dataDir, config) {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--config', config, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  let recovered = null;
  const port = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === 'journal recovered') recovered = entry;
      if (entry.msg === 'listening') resolve(entry.port);
      if (entry.level >= 50) process.stderr.write(`broker: ${line}\n`);
    });
    exited.then((code) => reject(new Error(`broker exited with ${code} before listening: ${stderr}`)));
  });
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    startMs: performance.now() - started,
    recovered,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`broker exited with ${code} on SIGTERM: ${stderr}`);
    },
  };
}

/** A bare protocol client: requests by id, and hooks for confirms and deliveries. */
class Peer {
  nextId = 1;
  pending = new Map();
  onConfirm = () => {};
  onDeliveries = () => {};

  static async open(url) {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const peer = new Peer(socket);
    await peer.request({ op: 'connect', version: 1, clientName: 'bench-durability' });
    return peer;
  }

  constructor(socket) {
    this.socket = socket;
    socket.on('message', (data) => {
      const parsed = JSON.parse(data.toString());
      const deliveries = [];
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
        if (frame.op === 'deliver') deliveries.push(frame);
        else if (frame.op === 'blocked') process.stderr.write(`bench: the broker blocked the publisher (${frame.reason})\n`);
        else if (frame.id !== undefined && this.pending.has(frame.id)) {
          this.pending.get(frame.id)(frame);
          this.pending.delete(frame.id);
        } else if (frame.id !== undefined) this.onConfirm(frame);
        else if (frame.op === 'error') throw new Error(`broker error: ${frame.message}`);
      }
      if (deliveries.length > 0) this.onDeliveries(deliveries);
    });
  }

  request(frame) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) => (reply.op === 'ok' ? resolve(reply) : reject(new Error(`${frame.op}: ${reply.message}`))));
      this.socket.send(JSON.stringify({ ...frame, id }));
    });
  }

  close() {
    this.socket.close();
  }
}

/**
 * Publishes `count` messages to `queue` with at most WINDOW unconfirmed, as arrays of frames;
 * resolves with the confirm latencies (ms).
 */
function publishAll(peer, queue, count, payloadFor, persistent) {
  const base = 1_000_000_000;
  const sentAt = new Float64Array(count);
  const latencies = new Float64Array(count);
  let sent = 0;
  let confirmed = 0;
  let failed = 0;
  return new Promise((resolve, reject) => {
    const pump = () => {
      const batch = [];
      while (sent < count && sent - confirmed < WINDOW) {
        sentAt[sent] = performance.now();
        batch.push({ op: 'publish', id: base + sent, exchange: '', routingKey: queue, payload: payloadFor(sent), properties: { persistent } });
        sent++;
      }
      if (batch.length > 0) peer.socket.send(JSON.stringify(batch));
    };
    peer.onConfirm = (frame) => {
      const index = frame.id - base;
      latencies[index] = performance.now() - sentAt[index];
      if (frame.op !== 'ok') failed++;
      if (++confirmed === count) {
        if (failed > 0) reject(new Error(`${failed} negative confirms`));
        else resolve(latencies);
      } else if (sent - confirmed <= WINDOW / 2) pump();
    };
    pump();
  });
}

const PAYLOAD_256 = 'x'.repeat(254); // its JSON text, with the quotes, is 256 bytes

async function throughputRun(options, persistent) {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
  const broker = await startBroker(dataDir, options.config);
  try {
    const publisher = await Peer.open(broker.url);
    const consumer = await Peer.open(broker.url);
    await publisher.request({ op: 'queue.declare', queue: 'bench', durable: true });
    let received = 0;
    const consumed = new Promise((resolve) => {
      consumer.onDeliveries = (deliveries) => {
        received += deliveries.length;
        consumer.socket.send(JSON.stringify({ op: 'ack', deliveryTag: deliveries.at(-1).deliveryTag, multiple: true }));
        if (received >= options.messages) resolve();
      };
    });
    await consumer.request({ op: 'consume', queue: 'bench', prefetch: PREFETCH });
    const started = performance.now();
    const latencies = await publishAll(publisher, 'bench', options.messages, () => PAYLOAD_256, persistent);
    await consumed;
    const seconds = (performance.now() - started) / 1000;
    publisher.close();
    consumer.close();
    return { msgsPerSec: options.messages / seconds, confirmP50Ms: percentile(latencies, 0.5), confirmP99Ms: percentile(latencies, 0.99) };
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function diskRun(options) {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
  const broker = await startBroker(dataDir, options.config);
  try {
    const publisher = await Peer.open(broker.url);
    await publisher.request({ op: 'queue.declare', queue: 'stored', durable: true });
    const before = journalBytes(dataDir);
    await publishAll(publisher, 'stored', options.messages, () => PAYLOAD_256, true);
    publisher.close();
    return { bytesPerMessage: (journalBytes(dataDir) - before) / options.messages };
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function recoveryRuns(options) {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
  try {
    const broker = await startBroker(dataDir, options.config);
    const publisher = await Peer.open(broker.url);
    await publisher.request({ op: 'queue.declare', queue: 'recovery', durable: true });
    const started = performance.now();
    await publishAll(publisher, 'recovery', options.recovery, (i) => `m${i}`, true);
    const publishSeconds = (performance.now() - started) / 1000;
    publisher.close();
    await broker.stop();
    const bytes = journalBytes(dataDir);
    const runs = [];
    for (let run = 0; run < options.runs; run++) {
      const restarted = await startBroker(dataDir, options.config);
      if (restarted.recovered?.messages !== options.recovery) {
        throw new Error(`recovered ${restarted.recovered?.messages} messages, expected ${options.recovery}`);
      }
      runs.push({ untilListeningMs: restarted.startMs, journalMs: restarted.recovered.ms });
      await restarted.stop();
    }
    return { runs, bytes, publishPerSec: options.recovery / publishSeconds };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.sync !== 'always' && options.sync !== 'none') throw new Error('--sync takes always or none');
  options.config = configFile(options.sync);
  try {
    await measure(options);
  } finally {
    rmSync(dirname(options.config), { recursive: true, force: true });
  }
}

async function measure(options) {
  const results = [];
  for (const persistent of [true, false]) {
    const runs = [];
    for (let run = 0; run < options.runs; run++) runs.push(await throughputRun(options, persistent));
    results.push({
      measurement: 'throughput',
      mode: persistent ? 'persistent' : 'non-persistent',
      messages: options.messages,
      payloadBytes: 256,
      msgsPerSec: Math.round(median(runs.map((r) => r.msgsPerSec))),
      confirmP50Ms: +median(runs.map((r) => r.confirmP50Ms)).toFixed(2),
      confirmP99Ms: +median(runs.map((r) => r.confirmP99Ms)).toFixed(2),
      runs: runs.map((r) => Math.round(r.msgsPerSec)),
    });
  }
  const disk = [];
  for (let run = 0; run < options.runs; run++) disk.push(await diskRun(options));
  results.push({ measurement: 'disk', mode: 'persistent', messages: options.messages, payloadBytes: 256, bytesPerMessage: +median(disk.map((r) => r.bytesPerMessage)).toFixed(1) });
  const recovery = await recoveryRuns(options);
  results.push({
    measurement: 'recovery',
    mode: 'persistent',
    messages: options.recovery,
    untilListeningMs: Math.round(median(recovery.runs.map((r) => r.untilListeningMs))),
    journalMs: Math.round(median(recovery.runs.map((r) => r.journalMs))),
    bytesPerMessage: +(recovery.bytes / options.recovery).toFixed(1),
    publishMsgsPerSec: Math.round(recovery.publishPerSec),
    runs: recovery.runs.map((r) => Math.round(r.untilListeningMs)),
  });

  const rows = results.map((r) => {
    if (r.measurement === 'throughput') return [`throughput ${r.mode}, 256 B`, `${r.msgsPerSec} msg/s`, `confirm p50 ${r.confirmP50Ms} ms, p99 ${r.confirmP99Ms} ms`];
    if (r.measurement === 'disk') return ['disk per message, 256 B persistent', `${r.bytesPerMessage} B`, ''];
    return [`recovery of ${r.messages} small persistent`, `${r.untilListeningMs} ms to listening`, `journal ${r.journalMs} ms, ${r.bytesPerMessage} B/msg on disk`];
  });
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length)));
  console.log(`warren durability benchmark: sync ${options.sync}, medians of ${options.runs} runs, node ${process.version}`);
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  |  '));
  for (const result of results) console.log(JSON.stringify({ bench: 'durability', sync: options.sync, ...result }));
}

await main();
