// Stream queues side by side with RabbitMQ's (issue 15's numbers), on the BUILT broker
// (`npm run build` first). Usage:
//
//   node scripts/bench-streams.mjs [--runs 3] [--messages 200000] [--replay 1000000] [--no-rabbit]
//        [--readers 10] [--many 1000] [--many-connections 10] [--many-prefetch 10] [--many-seconds 5]
//        [--size 100] [--window 1000] [--prefetch 1000] [--broker-prof DIR] [--targets warren,rabbitmq]
//
// Per run, Warren then RabbitMQ (in the order of --targets; RabbitMQ 3.10+ on localhost:5672,
// guest/guest, with the stream_queue feature flag; skipped with --no-rabbit or when it does not
// answer), so that the two alternate:
//
// 1. write: one publisher, `--messages` persistent payloads of `--size` bytes into a new stream,
//    at most `--window` unconfirmed (Warren: publishes with ids, 50 per WebSocket message, an `ok`
//    per publish; RabbitMQ: an amqplib confirm channel); msg/s from the first publish to the last
//    confirm. Then the same publisher fills the stream up to `--replay` entries ("write, the rest").
// 2. memory: the broker's RSS (VmRSS; RabbitMQ: beam.smp) with no reader; then `--many` push
//    readers at offsets spread over the stream (`--many-prefetch` each, on `--many-connections`
//    connections) are attached (the time it takes), first acking nothing, each holding its
//    prefetch (RSS after 1 s), then acking everything for `--many-seconds`: RSS at the end and the
//    highest seen (sampled every 100 ms), and the deliveries/s they got in total. For comparison
//    the table also gives the highest RSS seen while the `--readers` readers of step 3 read.
// 3. read: 1 reader from offset first reading `--messages` entries; then `--readers` readers at
//    once, reader i from i × (stream length ÷ readers), each reading stream length ÷ readers
//    entries (together the whole stream once); prefetch `--prefetch`, acks `multiple` once per
//    WebSocket message / event-loop turn; msg/s in total until the last reader has all of its own.
//    A warm-up reader (20,000 entries) runs first.
// 4. replay: one reader catching up on the whole stream (`--replay` entries) from offset 0: push
//    (consume, prefetch `--prefetch`) on both; on Warren also a fetch loop (pull, 1,000 a fetch).
//
// Warren runs on a fresh data dir (storage.sync always, as `npm run bench`), in two processes:
// one for the writes, then one (on the same data dir) for the reads, so that with
// `--broker-prof DIR` each gets its own V8 CPU profile (warren-streams-{write,read}-runN
// .cpuprofile; `node scripts/bench/profile-top.mjs FILE 25` lists its top functions).
// The client is this process. "broker CPU" is the broker's user+system time over wall time (1.00 =
// one core), "client CPU" this process's, "others CPU" what the rest of the machine used meanwhile
// (from /proc/stat): above ~0.3 another job shared the machine. Prints a table, then one JSON line
// per measurement; exits 1 when a Warren measurement had errors, stalls or error log lines, 2 when
// it cannot run. Every process it starts is killed on exit.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { killAll, startServer, stop } from './bench/processes.mjs';
import { probeRabbit } from './bench/rabbit.mjs';
import { summary } from './bench/stats.mjs';
import { amqpDriver } from './bench/streams-amqp.mjs';
import { beamPid, rssBytes, watch } from './bench/streams-proc.mjs';
import { warrenDriver } from './bench/streams-warren.mjs';
import { sleep } from './bench/streams-wait.mjs';

const ROOT = new URL('../', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli.js');
const WARMUP_READ = 20_000;
const PULL_MAX = 1000;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '200000' },
    replay: { type: 'string', default: '1000000' },
    readers: { type: 'string', default: '10' },
    many: { type: 'string', default: '1000' },
    'many-connections': { type: 'string', default: '10' },
    'many-prefetch': { type: 'string', default: '10' },
    'many-seconds': { type: 'string', default: '5' },
    size: { type: 'string', default: '100' },
    window: { type: 'string', default: '1000' },
    prefetch: { type: 'string', default: '1000' },
    'no-rabbit': { type: 'boolean' },
    targets: { type: 'string', default: 'warren,rabbitmq' },
    'broker-prof': { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  const text = (await import('node:fs')).readFileSync(new URL(import.meta.url), 'utf8');
  console.log(text.split('\nimport ')[0].replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}
const int = (key, min = 1) => {
  const n = Number(values[key]);
  if (!Number.isSafeInteger(n) || n < min) {
    process.stderr.write(`bench-streams: --${key} must be a whole number >= ${min}\n`);
    process.exit(2);
  }
  return n;
};
const RUNS = int('runs');
const MESSAGES = int('messages');
const REPLAY = Math.max(int('replay'), MESSAGES);
const READERS = int('readers');
const MANY = int('many');
const MANY_CONNECTIONS = Math.min(int('many-connections'), MANY);
const MANY_PREFETCH = int('many-prefetch');
const MANY_SECONDS = int('many-seconds');
const SIZE = int('size', 60);
const WINDOW = int('window');
const PREFETCH = Math.min(int('prefetch'), 65535);

const log = (text) => process.stderr.write(`[bench-streams ${(performance.now() / 1000).toFixed(0).padStart(4)}s] ${text}\n`);

if (!existsSync(CLI)) {
  process.stderr.write(`bench-streams: ${CLI} is missing: run \`npm run build\` first\n`);
  process.exit(2);
}

// Not /tmp/warren-*: test clean-ups elsewhere may sweep that pattern.
const work = mkdtempSync(join(tmpdir(), 'wbench-streams-'));
process.once('exit', () => {
  killAll();
  rmSync(work, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

/** What each measurement reports: its unit, which way is better, and whether RabbitMQ has it. */
const MEASURES = [
  { key: 'write', title: `write, 1 publisher, confirms, window ${WINDOW}`, metric: 'msg/s', better: 'higher' },
  { key: 'fill', title: `write, the rest to ${REPLAY.toLocaleString('en-US')}`, metric: 'msg/s', better: 'higher' },
  { key: 'read1', title: `read, 1 reader from first (${MESSAGES.toLocaleString('en-US')})`, metric: 'msg/s', better: 'higher' },
  { key: 'readN', title: `read, ${READERS} readers at spread offsets`, metric: 'msg/s total', better: 'higher' },
  { key: 'replayPush', title: `replay ${REPLAY.toLocaleString('en-US')} from 0, push`, metric: 's', better: 'lower' },
  { key: 'replayPull', title: `replay ${REPLAY.toLocaleString('en-US')} from 0, fetch ${PULL_MAX}`, metric: 's', better: 'lower', warrenOnly: true },
  { key: 'attach', title: `${MANY} readers: time to attach them`, metric: 's', better: 'lower' },
  { key: 'rssNone', title: 'broker RSS, no reader', metric: 'MiB', better: 'lower' },
  { key: 'rssIdle', title: `broker RSS, ${MANY} readers holding prefetch ${MANY_PREFETCH}`, metric: 'MiB', better: 'lower' },
  { key: 'rssMany', title: `broker RSS, ${MANY} readers reading (end)`, metric: 'MiB', better: 'lower' },
  { key: 'rssPeak', title: `broker RSS, ${MANY} readers reading (peak)`, metric: 'MiB', better: 'lower' },
  { key: 'rssReadN', title: `broker RSS, ${READERS} readers of step 3 (peak)`, metric: 'MiB', better: 'lower' },
  { key: 'idlePerReader', title: 'RSS per reader holding prefetch (− none)', metric: 'KiB', better: 'lower' },
  { key: 'perReader', title: 'RSS per reader reading (peak − none)', metric: 'KiB', better: 'lower' },
  { key: 'manyRate', title: `${MANY} readers reading, deliveries`, metric: 'msg/s total', better: 'higher' },
  { key: 'manyMin', title: `${MANY} readers reading, the fewest one got`, metric: 'messages', better: 'higher' },
];
const TARGETS = values.targets.split(',').map((t) => t.trim());
if (TARGETS.length === 0 || TARGETS.some((t) => t !== 'warren' && t !== 'rabbitmq')) {
  process.stderr.write('bench-streams: --targets is a list of warren and rabbitmq\n');
  process.exit(2);
}
/** results[measure][target]: one entry per run: { value, cpu, problems } */
const results = Object.fromEntries(MEASURES.map((m) => [m.key, { warren: [], rabbitmq: [] }]));
const runInfo = [];
const record = (key, target, value, extra = {}) => results[key][target].push({ value, ...extra });

/** Problems of a write or read result, as words (empty when none). */
function problemsOf(result) {
  const problems = [];
  if (result.sent !== undefined && result.confirmed < result.sent) problems.push(`unconfirmed ${result.sent - result.confirmed}`);
  if (result.sent !== undefined && result.sent < result.expected) problems.push(`sent only ${result.sent} of ${result.expected}`);
  if (result.delivered !== undefined && result.delivered < result.expected) problems.push(`read only ${result.delivered} of ${result.expected}`);
  if (result.stalled) problems.push(`${result.stalled} reader(s) stalled`);
  if (result.errors) problems.push(`${result.errors} errors${result.lastError ? ` (${result.lastError})` : ''}`);
  return problems;
}

/** Runs one timed step with its broker watched; records `value(result)` under `key`. */
async function step(key, target, pid, label, run, value) {
  log(`${target} ${label}…`);
  const watcher = watch(pid, 100);
  const result = await run();
  const cpu = watcher.stop();
  const problems = problemsOf(result);
  const v = value(result);
  record(key, target, v, { cpu, problems });
  log(`${target} ${label}: ${format(v)} ${MEASURES.find((m) => m.key === key).metric}; broker CPU ${cpu.brokerCpu}, client ${cpu.clientCpu}, others ${cpu.othersCpu}${problems.length ? `; ${problems.join(', ')}` : ''}`);
  return result;
}

/** Entries read per second. */
const readRate = (r) => r.delivered / (r.ms / 1000);

async function writes(driver, target, pid, queue) {
  await driver.declare(queue);
  await step('write', target, pid, `write ${MESSAGES}`, () => driver.write(queue, { count: MESSAGES, size: SIZE, window: WINDOW }).then((r) => ({ ...r, expected: MESSAGES })), (r) => r.confirmed / (r.ms / 1000));
  if (REPLAY > MESSAGES) {
    const count = REPLAY - MESSAGES;
    await step('fill', target, pid, `write the rest (${count})`, () => driver.write(queue, { count, size: SIZE, window: WINDOW, firstSeq: MESSAGES }).then((r) => ({ ...r, expected: count })), (r) => r.confirmed / (r.ms / 1000));
  }
}

async function readsAndMemory(driver, target, pid, queue) {
  // Memory first, on a broker that has not read yet (Warren's is fresh).
  await sleep(1000);
  const none = rssBytes(pid);
  log(`${target} memory: RSS ${format(none / 2 ** 20)} MiB with no reader; attaching ${MANY} readers…`);
  const spacing = Math.floor(REPLAY / MANY);
  const starts = Array.from({ length: MANY }, (_, i) => i * spacing);
  const t0 = performance.now();
  const attached = await driver.attach(queue, { starts, prefetch: MANY_PREFETCH, perConnection: Math.ceil(MANY / MANY_CONNECTIONS) });
  const attachSeconds = (performance.now() - t0) / 1000;
  // Each reader holds its prefetch, unacked: what the broker keeps per reader at rest.
  await sleep(1000);
  const idle = rssBytes(pid);
  const unfilled = attached.counts.filter((n) => n < MANY_PREFETCH).length;
  attached.startAcking();
  const watcher = watch(pid, 100);
  const before = attached.counts.reduce((a, b) => a + b, 0);
  await sleep(MANY_SECONDS * 1000);
  const end = rssBytes(pid);
  const delivered = attached.counts.reduce((a, b) => a + b, 0) - before;
  const cpu = watcher.stop();
  const problems = [];
  if (unfilled) problems.push(`${unfilled} reader(s) had less than their prefetch after attaching`);
  const silent = attached.counts.filter((n) => n <= MANY_PREFETCH).length;
  if (silent) problems.push(`${silent} reader(s) got nothing after their first prefetch`);
  if (attached.errors()) problems.push(`${attached.errors()} errors (${attached.lastError()})`);
  const minCount = Math.min(...attached.counts);
  await attached.close();
  const peak = Math.max(cpu.peakRss, end ?? 0);
  record('attach', target, attachSeconds, { problems });
  record('rssNone', target, none / 2 ** 20);
  record('rssIdle', target, idle / 2 ** 20);
  record('rssMany', target, end / 2 ** 20, { problems });
  record('rssPeak', target, peak / 2 ** 20);
  record('idlePerReader', target, (idle - none) / 1024 / MANY);
  record('perReader', target, (peak - none) / 1024 / MANY);
  record('manyRate', target, delivered / cpu.seconds, { cpu, problems });
  record('manyMin', target, minCount);
  log(
    `${target} memory: ${MANY} readers attached in ${format(attachSeconds)} s; RSS ${format(idle / 2 ** 20)} MiB holding their prefetch, ` +
      `${format(end / 2 ** 20)} MiB reading (end), ${format(peak / 2 ** 20)} MiB peak (${format((peak - none) / 1024 / MANY)} KiB per reader); ` +
      `${format(delivered / cpu.seconds)} deliveries/s, the least a reader got ${minCount}; broker CPU ${cpu.brokerCpu}, client ${cpu.clientCpu}, others ${cpu.othersCpu}${problems.length ? `; ${problems.join(', ')}` : ''}`,
  );

  log(`${target} warm-up read (${WARMUP_READ})…`);
  await driver.read(queue, { starts: [0], count: Math.min(WARMUP_READ, REPLAY), prefetch: PREFETCH });
  await step('read1', target, pid, `read 1 reader from first (${MESSAGES})`, () => driver.read(queue, { starts: [0], count: MESSAGES, prefetch: PREFETCH }), readRate);
  const each = Math.floor(REPLAY / READERS);
  const spread = Array.from({ length: READERS }, (_, i) => i * each);
  await step('readN', target, pid, `read ${READERS} readers × ${each}`, () => driver.read(queue, { starts: spread, count: each, prefetch: PREFETCH }), readRate);
  // The same broker's highest RSS while a few readers read fast: what reading costs without many readers.
  record('rssReadN', target, results.readN[target].at(-1).cpu.peakRss / 2 ** 20);
  await step('replayPush', target, pid, `replay ${REPLAY} push`, () => driver.read(queue, { starts: [0], count: REPLAY, prefetch: PREFETCH }), (r) => r.ms / 1000);
  if (driver.pull) await step('replayPull', target, pid, `replay ${REPLAY} fetch loop`, () => driver.pull(queue, { start: 0, count: REPLAY, max: PULL_MAX }), (r) => r.ms / 1000);
}

async function warrenRun(run) {
  const dataDir = join(work, `data-run${run}`);
  const configFile = join(work, 'warren.json');
  writeFileSync(configFile, JSON.stringify({ storage: { sync: 'always' }, log: { level: 'info' } }));
  const logs = [];
  const broker = async (phase) => {
    const dir = values['broker-prof'];
    const prof = dir ? ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `warren-streams-${phase}-run${run}.cpuprofile`] : [];
    const server = await startServer([CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--config', configFile, '--log-level', 'info'], { nodeOptions: prof });
    logs.push({ phase, logs: server.logs, child: server.child });
    return server;
  };
  const finish = async (server) => {
    const { exitCode, signalCode } = server.child;
    if (exitCode !== null || signalCode !== null) server.logs.exited = `exited during the run (code ${exitCode}, signal ${signalCode})`;
    await stop(server.child, 20_000);
  };
  const queue = 'bench.stream';
  const writer = await broker('write');
  try {
    await writes(warrenDriver(`ws://127.0.0.1:${writer.port}/ws`), 'warren', writer.pid, queue);
  } finally {
    await finish(writer);
  }
  const reader = await broker('read');
  try {
    await readsAndMemory(warrenDriver(`ws://127.0.0.1:${reader.port}/ws`), 'warren', reader.pid, queue);
  } finally {
    await finish(reader);
    rmSync(dataDir, { recursive: true, force: true });
  }
  // The broker's error and warning lines go with every Warren measurement of the run.
  const serverProblems = logs.flatMap(({ phase, logs: l }) => [
    ...(l.errors ? [`${l.errors} error log lines in the ${phase} broker: ${l.tail.slice(-2).join(' | ')}`] : []),
    ...(l.exited ? [`${phase} broker ${l.exited}`] : []),
  ]);
  const warnings = logs.reduce((n, { logs: l }) => n + l.warnings, 0);
  if (warnings) log(`warren: ${warnings} warning log lines: ${logs.flatMap(({ logs: l }) => l.tail).slice(-3).join(' | ')}`);
  for (const measure of MEASURES) {
    const entry = results[measure.key].warren[run - 1];
    if (entry) entry.problems = [...(entry.problems ?? []), ...serverProblems];
  }
}

async function rabbitRun(run) {
  const pid = beamPid();
  if (!pid) throw new Error('RabbitMQ answers but no beam.smp process is visible in /proc');
  const driver = amqpDriver();
  const queue = `bench.stream.${process.pid}.${run}`;
  try {
    await writes(driver, 'rabbitmq', pid, queue);
    await readsAndMemory(driver, 'rabbitmq', pid, queue);
  } finally {
    await driver.remove(queue).catch((error) => log(`rabbitmq: could not delete ${queue}: ${error.message}`));
  }
}

const format = (v) => {
  if (v == null || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
};

const rabbit = values['no-rabbit'] ? { amqp: false, note: 'RabbitMQ comparison skipped (--no-rabbit)' } : await probeRabbit();
if (!rabbit.amqp && !rabbit.note) rabbit.note = 'RabbitMQ not reachable on 127.0.0.1:5672: its columns are skipped';
const meta = { date: new Date().toISOString(), node: process.version, cores: availableParallelism(), rabbitmq: rabbit.amqp ? (rabbit.version ?? null) : null };
log(`runs ${RUNS}, ${MESSAGES} messages of ${SIZE} B, stream of ${REPLAY}, ${READERS} readers, ${MANY} readers for memory; node ${meta.node}, ${meta.cores} cores, load ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
log(rabbit.amqp ? `RabbitMQ ${rabbit.version} on 5672` : rabbit.note);

let failed = false;
for (let run = 1; run <= RUNS; run++) {
  for (const target of TARGETS.filter((t) => t === 'warren' || rabbit.amqp)) {
    const load = loadavg().map((v) => Number(v.toFixed(2)));
    runInfo.push({ run, target, load, at: new Date().toISOString() });
    log(`run ${run} of ${RUNS}: ${target}, load ${load.join(' ')}`);
    try {
      await (target === 'warren' ? warrenRun(run) : rabbitRun(run));
    } catch (error) {
      failed = true;
      log(`run ${run} ${target} FAILED: ${error.stack ?? error}`);
      for (const measure of MEASURES) {
        const list = results[measure.key][target];
        if (list.length < run) list.push({ value: null, problems: [`FAILED: ${String(error.message).split('\n')[0]}`] });
      }
    }
  }
}

// The table and the JSON lines.
const sum = (list) => summary(list.map((e) => e.value));
const cpuOf = (list, field) => summary(list.map((e) => e.cpu?.[field]).filter((v) => v != null))?.median;
const cellOf = (s) => (s ? `${format(s.median)} [${format(s.min)}–${format(s.max)}]` : '–');
const head = ['measurement', 'metric', 'Warren median [min–max]', 'RabbitMQ median [min–max]', 'W/R', 'W broker CPU', 'R broker CPU', 'client CPU W/R', 'others CPU W/R', 'Warren check', 'RabbitMQ check'];
const lines = [head];
const jsonLines = [];
for (const measure of MEASURES) {
  const w = results[measure.key].warren;
  const r = results[measure.key].rabbitmq;
  const ws = sum(w);
  const rs = measure.warrenOnly ? null : sum(r);
  const ratio = ws && rs?.median ? ws.median / rs.median : null;
  const perRun = measure.warrenOnly ? [] : w.map((e, i) => (e.value != null && r[i]?.value ? Number((e.value / r[i].value).toFixed(3)) : null));
  const problems = w.flatMap((e) => e.problems ?? []);
  const rabbitProblems = [...new Set(r.flatMap((e) => e.problems ?? []))];
  if (problems.length) failed = true;
  const cpu = (field, list) => (cpuOf(list, field) == null ? '–' : format(cpuOf(list, field)));
  lines.push([
    measure.title,
    measure.metric,
    cellOf(ws),
    measure.warrenOnly ? '–' : cellOf(rs),
    ratio == null ? '–' : `${ratio.toFixed(2)}×`,
    cpu('brokerCpu', w),
    cpu('brokerCpu', r),
    w.some((e) => e.cpu) ? `${cpu('clientCpu', w)} / ${cpu('clientCpu', r)}` : '',
    w.some((e) => e.cpu) ? `${cpu('othersCpu', w)} / ${cpu('othersCpu', r)}` : '',
    problems.length ? [...new Set(problems)].join('; ').slice(0, 200) : 'ok',
    measure.warrenOnly || !r.length ? '–' : rabbitProblems.length ? rabbitProblems.join('; ').slice(0, 200) : 'ok',
  ]);
  jsonLines.push(
    JSON.stringify({
      bench: 'streams',
      measurement: measure.key,
      title: measure.title,
      metric: measure.metric,
      better: measure.better,
      ...meta,
      params: { runs: RUNS, messages: MESSAGES, replay: REPLAY, size: SIZE, window: WINDOW, prefetch: PREFETCH, readers: READERS, many: MANY, manyConnections: MANY_CONNECTIONS, manyPrefetch: MANY_PREFETCH, manySeconds: MANY_SECONDS },
      warren: ws,
      rabbitmq: rs,
      ratio: ratio == null ? null : Number(ratio.toFixed(3)),
      ratioPerRun: perRun,
      cpu: { warren: w.map((e) => e.cpu ?? null), rabbitmq: r.map((e) => e.cpu ?? null) },
      checks: { warren: problems.length ? [...new Set(problems)] : 'ok', rabbitmq: r.length ? (rabbitProblems.length ? rabbitProblems : 'ok') : null },
      runs: runInfo,
    }),
  );
}
const widths = head.map((_, c) => Math.max(...lines.map((line) => line[c].length)));
const render = (line) => `| ${line.map((text, c) => text.padEnd(widths[c])).join(' | ')} |`;
console.log(`Warren streams bench, ${meta.date}, node ${meta.node}, ${meta.cores} cores${meta.rabbitmq ? `, RabbitMQ ${meta.rabbitmq}` : ''}; ${RUNS} runs, ${SIZE}-byte payloads`);
console.log(`load (1, 5, 15 min) at the start of each run: ${runInfo.map((i) => `${i.run}${i.target === 'warren' ? 'W' : 'R'} ${i.load.join('/')}`).join(', ')}`);
console.log('W/R = Warren ÷ RabbitMQ (medians): for msg/s above 1 is better, for s, MiB and KiB below 1 is better. CPU: 1.00 = one core.');
if (!rabbit.amqp) console.log(rabbit.note);
console.log([render(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(render)].join('\n'));
for (const line of jsonLines) console.log(line);
if (values['broker-prof']) console.log(`CPU profiles in ${values['broker-prof']}: node scripts/bench/profile-top.mjs ${values['broker-prof']}/warren-streams-write-run1.cpuprofile 25`);
process.exit(failed ? 1 : 0);
