#!/usr/bin/env node
/**
 * Management API at scale (not part of `npm test`). Runs the BUILT broker as a child process:
 *
 *   npm run build && node scripts/bench-management.mjs [--queues 10000] [--runs 11] [--warmups 2]
 *     [--setup ws|http] [--concurrency 8] [--durable] [--broker-prof DIR] [--json]
 *
 * Setup: a fresh broker (`serve --port 0`, anonymous loopback mode, no credentials), then N queues
 * `q-0` … `q-<N-1>` (`{"durable": false}` unless --durable), each bound to the direct exchange
 * `bench.direct` with its own name as routing key, and 3 messages published to every 100th
 * queue. --setup ws (the default, the fastest) declares, binds and publishes over one WebSocket
 * connection with the protocol's requests, pipelined; --setup http does it through the API
 * (PUT /api/queues/%2F/q-<i>, POST /api/bindings/..., POST .../publish) with --concurrency
 * requests in flight. The setup time and its rate are reported either way.
 *
 * Measured, per endpoint: the time from sending the request to the last byte of its body, on the
 * client (performance.now(), keep-alive socket), --warmups unmeasured requests then --runs
 * measured ones (median and max); the time to the first byte too, which is the broker's work
 * before it writes (handler, sort, serialisation); the body's size in bytes and how many items it
 * lists. Then, for each endpoint again, how long the broker's event loop is held by it, by proxy:
 *  - "whoami with it": GET /api/whoami sent on a second socket right after the list request (same
 *    tick), its response time; the median of --runs;
 *  - "stall": GET /api/whoami sent back to back on the second socket for as long as the list
 *    request lasts; the longest of those, median over --runs. With nothing else running a whoami
 *    takes well under 1 ms, so both are (nearly) the time the loop was busy with the list.
 * The broker's RSS (VmRSS of /proc/<pid>/status) after setup and at the end, and its peak (VmHWM).
 * Prints a table (or with --json one JSON object). The broker is killed at the end, on error too.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startServer, stop } from './bench/processes.mjs';
import { summary } from './bench/stats.mjs';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const EXCHANGE = 'bench.direct';
/** Every EVERY-th queue gets MESSAGES messages. */
const EVERY = 100;
const MESSAGES = 3;

const ENDPOINTS = [
  '/api/queues',
  '/api/queues/%2F',
  '/api/exchanges',
  '/api/bindings/%2F',
  '/api/overview',
  '/api/definitions',
  '/api/queues/%2F?page=1&page_size=100',
  '/metrics',
  '/metrics/per-object',
];

function parseArgs(argv) {
  const options = { queues: 10_000, runs: 11, warmups: 2, setup: 'ws', concurrency: 8, durable: false, brokerProf: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--json') options.json = true;
    else if (arg === '--durable') options.durable = true;
    else if (arg === '--queues') options.queues = Number(value());
    else if (arg === '--runs') options.runs = Number(value());
    else if (arg === '--warmups') options.warmups = Number(value());
    else if (arg === '--concurrency') options.concurrency = Number(value());
    else if (arg === '--setup') options.setup = value();
    else if (arg === '--broker-prof') options.brokerProf = value();
    else throw new Error(`unknown option ${arg}; options: --queues N, --runs N, --warmups N, --setup ws|http, --concurrency N, --durable, --broker-prof DIR, --json`);
  }
  for (const name of ['queues', 'runs', 'warmups', 'concurrency']) {
    if (!Number.isInteger(options[name]) || options[name] < (name === 'warmups' ? 0 : 1)) throw new Error(`--${name} must be a positive integer`);
  }
  if (!['ws', 'http'].includes(options.setup)) throw new Error('--setup is ws or http');
  return options;
}

// ---------------------------------------------------------------------------------------------
// The broker process

/**
 * Spawns `warren serve` on a free port with a fresh data dir. The port comes from its "listening"
 * log line, which is at level info: at --log-level warn the broker prints no line at all, so it
 * runs at info (the API logs no line per request) and only warnings and errors are echoed.
 */
async function startBroker(options) {
  const dir = mkdtempSync(join(tmpdir(), 'warren-bench-mgmt-'));
  const nodeOptions = options.brokerProf ? ['--cpu-prof', '--cpu-prof-dir', options.brokerProf, '--cpu-prof-name', 'warren-management.cpuprofile'] : [];
  const { child, pid, port, logs } = await startServer([CLI, 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--log-level', 'info'], { nodeOptions });
  return {
    port,
    pid,
    logs,
    /** SIGTERM (so a --cpu-prof profile is written), SIGKILL after 10 s; the data dir is removed. */
    stop: async () => {
      await stop(child, 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
    /** SIGKILL and the data dir removed, synchronously: for Ctrl-C. */
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** VmRSS and VmHWM of a process, in KiB. */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

// ---------------------------------------------------------------------------------------------
// HTTP: keep-alive sockets, timings to the first and the last byte

/**
 * One request; resolves with its status, body (a Buffer) and the times (ms, from sending) to the
 * response's headers (first byte) and to the end of its body.
 */
function request(agent, port, path, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {};
    const started = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers }, (res) => {
      const firstByteMs = performance.now() - started;
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), firstByteMs, totalMs: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A request that must answer with one of `statuses`. */
async function expectStatus(agent, port, path, options, statuses) {
  const answer = await request(agent, port, path, options);
  if (!statuses.includes(answer.status)) throw new Error(`${options.method ?? 'GET'} ${path}: ${answer.status} ${answer.body.toString().slice(0, 300)}`);
  return answer;
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
async function pool(count, concurrency, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

// ---------------------------------------------------------------------------------------------
// Setup

const queueName = (i) => `q-${i}`;
const withMessages = (queues) => Array.from({ length: Math.ceil(queues / EVERY) }, (_, k) => k * EVERY);

async function setupOverHttp(port, options) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  try {
    await expectStatus(agent, port, `/api/exchanges/%2F/${EXCHANGE}`, { method: 'PUT', body: { type: 'direct', durable: options.durable } }, [201, 204]);
    const phases = {};
    let mark = performance.now();
    await pool(options.queues, options.concurrency, (i) =>
      expectStatus(agent, port, `/api/queues/%2F/${queueName(i)}`, { method: 'PUT', body: { durable: options.durable } }, [201, 204]),
    );
    phases.declareMs = performance.now() - mark;
    mark = performance.now();
    await pool(options.queues, options.concurrency, (i) =>
      expectStatus(agent, port, `/api/bindings/%2F/e/${EXCHANGE}/q/${queueName(i)}`, { method: 'POST', body: { routing_key: queueName(i) } }, [201]),
    );
    phases.bindMs = performance.now() - mark;
    mark = performance.now();
    const targets = withMessages(options.queues).flatMap((i) => Array.from({ length: MESSAGES }, () => i));
    await pool(targets.length, options.concurrency, (k) =>
      expectStatus(
        agent,
        port,
        `/api/exchanges/%2F/${EXCHANGE}/publish`,
        { method: 'POST', body: { routing_key: queueName(targets[k]), payload: `m${k}`, payload_encoding: 'string', properties: {} } },
        [200],
      ),
    );
    phases.publishMs = performance.now() - mark;
    return phases;
  } finally {
    agent.destroy();
  }
}

/** The protocol's requests over one WebSocket, at most WINDOW unanswered, sent as arrays of frames. */
async function setupOverWebSocket(port, options) {
  const WINDOW = 1000;
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map();
  socket.on('message', (data) => {
    const parsed = JSON.parse(data.toString());
    for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
      const settle = pending.get(frame.id);
      if (!settle) continue;
      pending.delete(frame.id);
      settle(frame);
    }
  });
  const closed = new Promise((resolve) => socket.once('close', resolve));
  /** Sends every frame, WINDOW at a time; rejects on the first error reply. */
  const all = async (frames) => {
    for (let start = 0; start < frames.length; start += WINDOW) {
      const batch = frames.slice(start, start + WINDOW).map((frame) => ({ ...frame, id: nextId++ }));
      const replies = batch.map((frame) => new Promise((resolve) => pending.set(frame.id, resolve)));
      socket.send(JSON.stringify(batch));
      const answered = await Promise.race([Promise.all(replies), closed.then(() => null)]);
      if (answered === null) throw new Error('the setup socket closed');
      const failed = answered.find((reply) => reply.op !== 'ok');
      if (failed) throw new Error(`setup: ${JSON.stringify(failed)}`);
    }
  };
  try {
    await all([{ op: 'connect', version: 1, clientName: 'bench-management' }]);
    await all([{ op: 'exchange.declare', exchange: EXCHANGE, type: 'direct', durable: options.durable }]);
    const indices = Array.from({ length: options.queues }, (_, i) => i);
    const phases = {};
    let mark = performance.now();
    await all(indices.map((i) => ({ op: 'queue.declare', queue: queueName(i), durable: options.durable })));
    phases.declareMs = performance.now() - mark;
    mark = performance.now();
    await all(indices.map((i) => ({ op: 'queue.bind', queue: queueName(i), exchange: EXCHANGE, routingKey: queueName(i) })));
    phases.bindMs = performance.now() - mark;
    mark = performance.now();
    await all(withMessages(options.queues).flatMap((i) => Array.from({ length: MESSAGES }, (_, m) => ({ op: 'publish', exchange: EXCHANGE, routingKey: queueName(i), payload: `m${m}` }))));
    phases.publishMs = performance.now() - mark;
    return phases;
  } finally {
    socket.close();
    await closed;
  }
}

// ---------------------------------------------------------------------------------------------
// Measurements

/** What a list answer holds: its items, or RabbitMQ's paginated object. */
function describe(path, body) {
  // Prometheus text: a series per line that is not a comment.
  if (path.startsWith('/metrics')) return { items: `${body.toString().split('\n').filter((line) => line !== '' && !line.startsWith('#')).length} series`, paginated: false };
  const json = JSON.parse(body.toString());
  if (Array.isArray(json)) return { items: json.length, paginated: false };
  if (json && Array.isArray(json.items)) return { items: json.items.length, paginated: true, total: json.total_count, page: json.page, pageCount: json.page_count };
  if (path === '/api/definitions') return { items: ['queues', 'exchanges', 'bindings'].map((key) => `${key} ${json[key]?.length ?? '?'}`).join(', '), paginated: false };
  return { items: 1, paginated: false };
}

async function timeEndpoint(port, path, options) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    let last;
    for (let i = 0; i < options.warmups; i++) last = await expectStatus(agent, port, path, {}, [200]);
    const total = [];
    const firstByte = [];
    for (let i = 0; i < options.runs; i++) {
      last = await expectStatus(agent, port, path, {}, [200]);
      total.push(last.totalMs);
      firstByte.push(last.firstByteMs);
    }
    return { path, bytes: last.body.length, ...describe(path, last.body), totalMs: summary(total), firstByteMs: summary(firstByte) };
  } finally {
    agent.destroy();
  }
}

/**
 * The event loop held by `path`: GET /api/whoami on a second socket, sent in the same tick as the
 * list request ("with"), then back to back until the list has answered ("stall": the longest).
 */
async function timeBlocking(port, path, options) {
  const listAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const pingAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // Open both sockets first, so no run pays a connect.
    await expectStatus(listAgent, port, '/api/whoami', {}, [200]);
    await expectStatus(pingAgent, port, '/api/whoami', {}, [200]);
    const alone = [];
    for (let i = 0; i < options.runs; i++) alone.push((await expectStatus(pingAgent, port, '/api/whoami', {}, [200])).totalMs);
    const withIt = [];
    const stalls = [];
    const pings = [];
    for (let i = 0; i < options.warmups + options.runs; i++) {
      let done = false;
      const list = expectStatus(listAgent, port, path, {}, [200]).then((answer) => {
        done = true;
        return answer;
      });
      const first = await expectStatus(pingAgent, port, '/api/whoami', {}, [200]);
      let longest = first.totalMs;
      let count = 1;
      while (!done) {
        longest = Math.max(longest, (await expectStatus(pingAgent, port, '/api/whoami', {}, [200])).totalMs);
        count++;
      }
      await list;
      if (i < options.warmups) continue;
      withIt.push(first.totalMs);
      stalls.push(longest);
      pings.push(count);
    }
    return { path, whoamiAloneMs: summary(alone), whoamiWithMs: summary(withIt), stallMs: summary(stalls), pings: summary(pings) };
  } finally {
    listAgent.destroy();
    pingAgent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (value) => (value === undefined || value === null ? '–' : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
const bytes = (value) => (value >= 1024 * 1024 ? `${(value / 1024 / 1024).toFixed(2)} MiB` : value >= 1024 ? `${(value / 1024).toFixed(1)} KiB` : `${value} B`);
const mib = (kib) => `${(kib / 1024).toFixed(1)} MiB`;

function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  const line = (row) => `| ${row.map((cell, column) => String(cell).padEnd(widths[column])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

function printReport(result) {
  const { options, setup, memory, endpoints, blocking } = result;
  console.log(
    `Warren management API, ${options.queues.toLocaleString('en')} ${options.durable ? 'durable' : 'transient'} queues bound to ${EXCHANGE}, ` +
      `${setup.messages} messages in ${setup.queuesWithMessages} of them; ${options.runs} runs after ${options.warmups} warm-ups; Node ${process.version}`,
  );
  console.log(
    `setup over ${options.setup}: ${(setup.ms / 1000).toFixed(2)} s (declare ${(setup.phases.declareMs / 1000).toFixed(2)} s, ` +
      `${Math.round(options.queues / (setup.phases.declareMs / 1000)).toLocaleString('en')} queues/s; bind ${(setup.phases.bindMs / 1000).toFixed(2)} s; publish ${(setup.phases.publishMs / 1000).toFixed(2)} s); ` +
      `broker RSS after setup ${mib(memory.afterSetup.rssKiB)}, at the end ${mib(memory.atEnd.rssKiB)}, peak ${mib(memory.atEnd.hwmKiB)}\n`,
  );
  const blockingOf = new Map(blocking.map((entry) => [entry.path, entry]));
  const rows = [['GET', 'total ms median', 'max', 'first byte ms median', 'size', 'items', 'whoami with it ms', 'stall ms median [max]']];
  for (const entry of endpoints) {
    const held = blockingOf.get(entry.path);
    rows.push([
      entry.path,
      ms(entry.totalMs.median),
      ms(entry.totalMs.max),
      ms(entry.firstByteMs.median),
      bytes(entry.bytes),
      entry.paginated ? `${entry.items} (page ${entry.page}/${entry.pageCount} of ${entry.total})` : entry.path.includes('page=') ? `${entry.items} (not paginated)` : entry.items,
      held ? ms(held.whoamiWithMs.median) : '–',
      held ? `${ms(held.stallMs.median)} [${ms(held.stallMs.max)}]` : '–',
    ]);
  }
  console.log(table(rows));
  const alone = blocking[0]?.whoamiAloneMs;
  if (alone) console.log(`\nGET /api/whoami alone: median ${ms(alone.median)} ms, max ${ms(alone.max)} ms`);
  if (result.brokerLogs.warnings || result.brokerLogs.errors) console.log(`broker logged ${result.brokerLogs.warnings} warnings, ${result.brokerLogs.errors} errors`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const broker = await startBroker(options);
  const onSignal = () => {
    broker.kill();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const setupStarted = performance.now();
    const phases = options.setup === 'ws' ? await setupOverWebSocket(broker.port, options) : await setupOverHttp(broker.port, options);
    const setupMs = performance.now() - setupStarted;
    const agent = new http.Agent({ keepAlive: true });
    const check = JSON.parse((await expectStatus(agent, broker.port, '/api/overview', {}, [200])).body.toString());
    agent.destroy();
    const queuesWithMessages = withMessages(options.queues).length;
    if (check.object_totals.queues !== options.queues) throw new Error(`the overview counts ${check.object_totals.queues} queues, not ${options.queues}`);
    if (check.queue_totals.messages !== queuesWithMessages * MESSAGES) throw new Error(`the overview counts ${check.queue_totals.messages} messages, not ${queuesWithMessages * MESSAGES}`);
    const afterSetup = memoryOf(broker.pid);

    const endpoints = [];
    for (const path of ENDPOINTS) endpoints.push(await timeEndpoint(broker.port, path, options));
    const blocking = [];
    for (const path of ENDPOINTS) blocking.push(await timeBlocking(broker.port, path, options));
    const atEnd = memoryOf(broker.pid);

    const result = {
      options,
      setup: { ms: setupMs, phases, queuesWithMessages, messages: queuesWithMessages * MESSAGES },
      memory: { afterSetup, atEnd },
      endpoints,
      blocking,
      brokerLogs: broker.logs,
    };
    if (options.json) console.log(JSON.stringify(result));
    else printReport(result);
  } finally {
    await broker.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((error) => {
  console.error(`bench-management: ${error.stack ?? error}`);
  process.exitCode = 1;
});
