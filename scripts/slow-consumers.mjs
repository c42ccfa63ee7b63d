// Slow consumers: N WebSocket consumers, each on its own queue bound to one fanout exchange
// (prefetch 0 = unlimited, manual acks), while one publisher publishes 4 KiB messages with confirms.
// Scenarios, each with a fresh broker process:
//   paused  consumers never read (the socket is paused right after `consume`), server.drainTimeoutMs long
//   short   the same with a short server.drainTimeoutMs: the broker closes the sockets that do not drain
//   reading consumers read and ack everything
//   idle    the queues have no consumers at all: the cost of a queued message, without socket buffers
// Samples the broker's RSS (and the kernel's TCP buffer memory) every second. See docs/performance.md.
import { ackBatcher, Conn, MiB, mib, openFilesLimit, parseArgs, printJsonLine, readRss, readTcpKernelBytes, sampleRss, sleep, startBroker, waitFor } from './soak-common.mjs';
import { loadavg } from 'node:os';

const USAGE = `usage: node scripts/slow-consumers.mjs [--consumers 1000] [--seconds 20] [--scenarios paused,short,reading,idle]
       [--payload-bytes 4096] [--window 64] [--drain-timeout-ms 600000] [--short-drain-timeout-ms 5000]
       [--high-water-bytes 0 (broker default)] [--settle-seconds 3] [--report-every 2]
Needs \`npm run build\` first and about 2 x consumers open files in this process and in the broker
(this script checks its own limit; the broker is started through \`ulimit -n 65536\`).
`;

const DEFAULTS = {
  consumers: 1000,
  seconds: 20,
  scenarios: 'paused,short,reading,idle',
  payloadBytes: 4096,
  window: 64,
  drainTimeoutMs: 600_000,
  shortDrainTimeoutMs: 5000,
  highWaterBytes: 0,
  settleSeconds: 3,
  reportEvery: 2,
  connectConcurrency: 50,
};

const EXCHANGE = 'slow.fanout';
const queueName = (i) => `slow.q.${i}`;
const ID_BASE = 100;

async function runScenario(scenario, opt) {
  const log = (line) => process.stdout.write(`[slow:${scenario}] ${line}\n`);
  const drainTimeoutMs = scenario === 'short' ? opt.shortDrainTimeoutMs : opt.drainTimeoutMs;
  const server = { drainTimeoutMs };
  if (opt.highWaterBytes > 0) server.highWaterBytes = opt.highWaterBytes;
  const loadAvgStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const closes = { count: 0, last: 0 };
  const broker = await startBroker({
    config: { server },
    fdLimit: 65536,
    onLog: (entry) => {
      // Consumer connections only (the publisher's close is not always seen: see the docs).
      if (entry.msg === 'connection closed' && String(entry.clientName).startsWith('slow-consumer-')) {
        closes.count++;
        closes.last = Date.now();
      }
    },
  });
  const brokerFiles = openFilesLimit(broker.pid);
  log(`broker pid ${broker.pid} on ${broker.url}; server ${JSON.stringify(server)}; broker open-files limit ${brokerFiles}`);

  const admin = await new Conn(broker.url, { name: 'slow-admin' }).open();
  await admin.request({ op: 'exchange.declare', exchange: EXCHANGE, type: 'fanout', durable: false });

  // Consumers. Queues are not exclusive (so that the admin connection can passive-declare them to
  // count what waits in them) but each is consumed by one exclusive consumer on its own connection.
  const consumers = [];
  const stats = { received: 0, closedByBroker: 0, closeCodes: {}, errors: [] };
  const openConsumer = async (i) => {
    const c = { i, stopping: false };
    const ack = ackBatcher((text) => c.conn.send(text));
    c.conn = new Conn(broker.url, {
      name: `slow-consumer-${i}`,
      onFrame: (frame) => {
        if (frame.op === 'deliver') {
          if (c.stopping) return; // ws hands over what it had buffered when the socket is terminated
          stats.received++;
          ack(frame.deliveryTag);
        } else if ((frame.op === 'error' || frame.op === 'cancelled') && stats.errors.length < 10) stats.errors.push(JSON.stringify(frame).slice(0, 300));
      },
      onClose: (code) => {
        if (c.stopping) return;
        stats.closedByBroker++;
        stats.closeCodes[code] = (stats.closeCodes[code] ?? 0) + 1;
      },
    });
    await c.conn.open();
    await c.conn.request({ op: 'queue.declare', queue: queueName(i), durable: false });
    await c.conn.request({ op: 'queue.bind', queue: queueName(i), exchange: EXCHANGE });
    if (scenario !== 'idle') {
      await c.conn.request({ op: 'consume', queue: queueName(i), prefetch: 0, noAck: false, exclusive: true });
      if (scenario === 'paused' || scenario === 'short') c.conn.ws.pause(); // never read again
    }
    consumers.push(c);
  };
  const connectStarted = Date.now();
  for (let next = 0; next < opt.consumers; next += opt.connectConcurrency) {
    const batch = [];
    for (let i = next; i < Math.min(opt.consumers, next + opt.connectConcurrency); i++) batch.push(openConsumer(i));
    await Promise.all(batch);
  }
  log(`${consumers.length} consumer connections ready in ${((Date.now() - connectStarted) / 1000).toFixed(1)} s`);
  await sleep(1000);

  // Publisher: fanout, 4 KiB payloads, confirms with a window; honours blocked/unblocked by just waiting.
  const pub = { sent: 0, confirmed: 0, nacks: 0, outstanding: 0, blocked: 0, unblocked: 0, blockedNow: false, firstBlockedAt: null, blockReason: null };
  const pad = 'x'.repeat(Math.max(0, opt.payloadBytes - `{"n":1000000,"pad":""}`.length));
  let running = true;
  const publisher = new Conn(broker.url, {
    name: 'slow-publisher',
    onFrame: (frame) => {
      if ((frame.op === 'ok' || frame.op === 'error') && frame.id >= ID_BASE) {
        pub.outstanding--;
        if (frame.op === 'ok') pub.confirmed++;
        else pub.nacks++;
        pump();
      } else if (frame.op === 'blocked') {
        pub.blocked++;
        pub.blockedNow = true;
        pub.blockReason ??= frame.reason;
        pub.firstBlockedAt ??= Math.round((Date.now() - started) / 100) / 10;
      } else if (frame.op === 'unblocked') {
        pub.unblocked++;
        pub.blockedNow = false;
      }
    },
  });
  await publisher.open();
  const pump = () => {
    while (running && pub.outstanding < opt.window && !publisher.closed) {
      const n = pub.sent++;
      pub.outstanding++;
      publisher.send(`{"op":"publish","id":${ID_BASE + n},"exchange":"${EXCHANGE}","payload":{"n":${n},"pad":"${pad}"}}`);
    }
  };

  // How long the broker takes to answer a request, every 250 ms on the admin connection (one at a time):
  // the longest wait is the longest time the broker's event loop was busy with something else.
  const latency = { max: 0, maxAt: null, samples: 0, timer: null, busy: false, phase: 'run', maxClose: 0 };
  latency.timer = setInterval(() => {
    if (latency.busy) return;
    latency.busy = true;
    const sent = Date.now();
    admin.request({ op: 'exchange.declare', exchange: EXCHANGE, passive: true }, 300_000).then(
      () => {
        const ms = Date.now() - sent;
        latency.samples++;
        if (latency.phase === 'run' && ms > latency.max) {
          latency.max = ms;
          latency.maxAt = Math.round((sent - started) / 100) / 10;
        }
        if (latency.phase === 'close') latency.maxClose = Math.max(latency.maxClose, ms);
        latency.busy = false;
      },
      () => (latency.busy = false),
    );
  }, 250);
  latency.stop = () => clearInterval(latency.timer);
  const tcpStart = readTcpKernelBytes();
  let tcpPeak = tcpStart;
  let lastReport = -Infinity;
  let started = Date.now();
  const rss = sampleRss(broker.pid, 1000, (t, bytes) => {
    const tcp = readTcpKernelBytes();
    tcpPeak = Math.max(tcpPeak ?? 0, tcp ?? 0);
    if (t - lastReport < opt.reportEvery - 0.5) return;
    lastReport = t;
    log(
      `t=${Math.round(t)}s rss=${mib(bytes)}MiB tcpKernel=${mib(tcp)}MiB published=${pub.sent} confirmed=${pub.confirmed} received=${stats.received} ` +
        `connectionsClosed=${closes.count}${pub.blockedNow ? ' BLOCKED' : ''}${running ? '' : ' (stopped)'}`,
    );
  });
  const rssStart = rss.start;
  log(`RSS after connections ${mib(rssStart)} MiB, kernel TCP buffers ${mib(tcpStart)} MiB; publishing for ${opt.seconds} s`);
  started = Date.now();
  pump();
  await sleep(opt.seconds * 1000);
  running = false;
  const publishSeconds = (Date.now() - started) / 1000;
  const settled = await waitFor(() => pub.outstanding === 0, 10_000);
  await sleep(opt.settleSeconds * 1000);

  // What waits in the queues: passive declare every queue (ready messages; NOT_FOUND when deleted).
  const countReady = async () => {
    const counts = await Promise.all(
      Array.from({ length: opt.consumers }, (_, i) =>
        admin.request({ op: 'queue.declare', queue: queueName(i), passive: true }, 60_000).then(
          (ok) => ok,
          (error) => ({ error: error.code ?? error.message }),
        ),
      ),
    );
    const total = { ready: 0, missing: 0, min: Infinity, max: 0, errors: {}, q0: counts[0].messageCount ?? null };
    for (const c of counts) {
      if (c.error) {
        total.missing++;
        total.errors[c.error] = (total.errors[c.error] ?? 0) + 1;
      } else {
        total.ready += c.messageCount;
        total.min = Math.min(total.min, c.messageCount);
        total.max = Math.max(total.max, c.messageCount);
      }
    }
    return total;
  };
  const closesDuringRun = closes.count;
  const confirmedAtCount = pub.confirmed;
  const counted = await countReady();
  const { ready, missing: missingQueues, min: minReady, max: maxReady, errors: queueErrors } = counted;
  const rssEnd = rss.last;
  const rssPeakRun = rss.peak;
  const tcpEnd = readTcpKernelBytes();

  // Then the consumers go away (the client closes them abruptly): their deliveries that were pushed
  // and never acked are requeued, flagged redelivered. How long the broker takes to process the closes,
  // and how many messages come back.
  const closeStarted = Date.now();
  latency.phase = 'close';
  for (const c of consumers) {
    c.stopping = true;
    c.conn.terminate();
  }
  const allClosed = await waitFor(() => closes.count >= opt.consumers, 180_000, 20);
  const closeMs = closes.last ? Math.max(0, closes.last - closeStarted) : 0;
  const afterClose = await countReady();
  const rssAfterClose = readRss(broker.pid);

  // Probe: read slow.q.0 back with a fresh consumer and count the copies flagged redelivered. Only
  // messages that were pushed to the old consumer's socket should be (at most the paused run's
  // pushedUnreadPerSocket); a larger count means messages never sent were counted as delivered.
  let probe = null;
  if (scenario === 'paused' || scenario === 'short') {
    const expected = afterClose.q0 ?? 0;
    probe = { queue: queueName(0), readyBeforeClose: counted.q0, readyAfterClose: afterClose.q0, readBack: 0, lateArrivals: 0, flaggedRedelivered: 0, flaggedMinN: null, flaggedMaxN: null, deliveryCounts: {} };
    const reader = new Conn(broker.url, {
      name: 'slow-probe',
      onFrame: (frame) => {
        if (frame.op !== 'deliver') return;
        probe.readBack++;
        // Published but not confirmed when the queues were counted: not read by the (blocked) broker then.
        if (frame.payload?.n >= confirmedAtCount) probe.lateArrivals++;
        if (frame.redelivered) {
          probe.flaggedRedelivered++;
          const n = frame.payload?.n;
          probe.flaggedMinN = Math.min(probe.flaggedMinN ?? n, n);
          probe.flaggedMaxN = Math.max(probe.flaggedMaxN ?? n, n);
          const count = String(frame.headers?.['x-delivery-count']);
          probe.deliveryCounts[count] = (probe.deliveryCounts[count] ?? 0) + 1;
        }
        reader.send(`{"op":"ack","deliveryTag":${frame.deliveryTag}}`);
      },
    });
    try {
      await reader.open();
      await reader.request({ op: 'consume', queue: queueName(0), prefetch: 1000 });
      probe.complete = await waitFor(() => probe.readBack >= expected, 60_000);
    } catch (error) {
      probe.error = error.message;
    }
    reader.terminate();
    // In the paused run the old consumer's socket held exactly readyAfterClose - readyBeforeClose.
    if (scenario === 'paused' && probe.readyBeforeClose !== null && probe.readyAfterClose !== null) probe.pushedBeforeClose = probe.readyAfterClose - probe.readyBeforeClose - probe.lateArrivals;
  }
  rss.stop();
  latency.stop();
  publisher.terminate();
  admin.terminate();
  await sleep(200);
  const exited = broker.exited();
  const stop = await broker.stop();

  const liveQueues = opt.consumers - missingQueues;
  const routed = pub.confirmed * opt.consumers; // every confirmed message went to every queue
  const frameBytes = opt.payloadBytes + 180; // a deliver frame: payload plus the envelope
  const result = {
    scenario,
    consumers: opt.consumers,
    seconds: opt.seconds,
    payloadBytes: opt.payloadBytes,
    drainTimeoutMs,
    highWaterBytes: opt.highWaterBytes || 262144,
    published: pub.sent,
    confirmed: pub.confirmed,
    nacks: pub.nacks,
    confirmsOutstandingAtEnd: pub.outstanding,
    confirmsSettled: settled,
    publishedPerSec: Math.round(pub.confirmed / publishSeconds),
    blockedFrames: pub.blocked,
    unblockedFrames: pub.unblocked,
    firstBlockedAtSec: pub.firstBlockedAt,
    blockReason: pub.blockReason,
    deliveriesRead: stats.received,
    readyInQueues: ready,
    readyPerQueueMin: Number.isFinite(minReady) ? minReady : null,
    readyPerQueueMax: maxReady,
    queuesGone: missingQueues,
    queueErrors,
    // Routed copies neither waiting in a queue nor read by a consumer: pushed to a socket and not acked.
    pushedUnreadEstimate: scenario === 'reading' || scenario === 'idle' ? null : routed - ready - stats.received,
    socketsClosedSeenByClient: stats.closedByBroker, // a paused socket does not notice its close
    connectionsClosedDuringRun: closesDuringRun,
    closeCodes: stats.closeCodes,
    brokerDrainCloses: broker.logs.byMsg['socket did not drain; closing it'] ?? 0,
    brokerAlarmLines: broker.logs.byMsg['alarm: blocking publishers'] ?? 0,
    rssStartMiB: mib(rssStart),
    rssPeakMiB: mib(rssPeakRun),
    rssEndMiB: mib(rssEnd),
    maxReplyMsDuringRun: latency.max,
    maxReplyAtSec: latency.maxAt,
    closeAllMs: closeMs,
    maxReplyMsWhileClosing: latency.maxClose,
    closeAllDone: allClosed,
    readyAfterConsumersClosed: afterClose.ready,
    requeuedOnClose: afterClose.ready - ready,
    rssAfterCloseMiB: mib(rssAfterClose),
    rssPeakInclClosingMiB: mib(Math.max(rss.peak, rssAfterClose ?? 0)),
    probe,
    rssGrowthMiB: mib(rssEnd - rssStart),
    rssBytesPerReadyMessage: ready > 0 ? Math.round((rssEnd - rssStart) / ready) : null,
    tcpKernelStartMiB: mib(tcpStart),
    tcpKernelPeakMiB: mib(tcpPeak),
    tcpKernelEndMiB: mib(tcpEnd),
    rssMiBOverTime: rss.samples.filter((_, k) => k % opt.reportEvery === 0).map(([t, b]) => [t, mib(b)]),
    loadAvgStart,
    loadAvgEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    brokerWarnings: broker.logs.warnings,
    brokerErrors: broker.logs.errors,
    brokerExitedDuringRun: exited,
    brokerExit: stop,
    consumerErrors: stats.errors,
  };
  if (result.pushedUnreadEstimate !== null && liveQueues > 0) {
    result.pushedUnreadPerSocket = Math.round(result.pushedUnreadEstimate / liveQueues);
    result.pushedUnreadMiBPerSocket = mib((result.pushedUnreadPerSocket * frameBytes));
  }
  log(
    `slowest reply to a request ${result.maxReplyMsDuringRun} ms during the run (at ${result.maxReplyAtSec} s), ${result.maxReplyMsWhileClosing} ms while the consumers closed; ` +
      `closing the ${opt.consumers} consumer connections took the broker ${(closeMs / 1000).toFixed(1)} s; ${result.requeuedOnClose} messages requeued; ` +
      `RSS after ${result.rssAfterCloseMiB} MiB (peak while closing ${result.rssPeakInclClosingMiB} MiB)`,
  );
  if (probe)
    log(
      `probe ${probe.queue}: ${probe.readBack} read back, ${probe.flaggedRedelivered} flagged redelivered (n ${probe.flaggedMinN}..${probe.flaggedMaxN}, x-delivery-count ${JSON.stringify(probe.deliveryCounts)})` +
        (probe.pushedBeforeClose !== undefined ? `; only ${probe.pushedBeforeClose} had been pushed to the socket` : ''),
    );
  log(
    `RSS start ${result.rssStartMiB} MiB, peak ${result.rssPeakMiB} MiB, end ${result.rssEndMiB} MiB; kernel TCP buffers peak ${result.tcpKernelPeakMiB} MiB; ` +
      `published ${result.published} (${result.confirmed} confirmed, ${result.publishedPerSec}/s), ${result.readyInQueues} ready in ${liveQueues} queues ` +
      `(${result.rssBytesPerReadyMessage ?? '-'} B of RSS growth per ready message), ${result.deliveriesRead} deliveries read, ` +
      `${result.connectionsClosedDuringRun} connections closed by the broker during the run${pub.blocked ? `, publisher blocked at ${pub.firstBlockedAt} s (${pub.blockReason})` : ''}`,
  );
  return result;
}

async function main() {
  const opt = parseArgs(process.argv.slice(2), DEFAULTS, USAGE);
  const scenarios = opt.scenarios.split(',').filter(Boolean);
  for (const s of scenarios) if (!['paused', 'short', 'reading', 'idle'].includes(s)) throw new Error(`unknown scenario ${s}`);
  const files = openFilesLimit();
  process.stdout.write(`[slow] ${opt.consumers} consumers, ${opt.seconds} s per scenario (${scenarios.join(', ')}); this process may open ${files} files\n`);
  if (files !== null && files < opt.consumers + 100) throw new Error(`ulimit -n is ${files}; ${opt.consumers} consumers need more: run \`ulimit -n 65536\` (or as high as \`ulimit -Hn\`) in this shell first`);

  const results = {};
  for (const scenario of scenarios) results[scenario] = await runScenario(scenario, opt);

  // Splitting the paused run's RSS growth: queued messages (priced by the idle run) vs socket buffering.
  const comparison = {};
  const { paused, idle, reading, short } = results;
  if (idle?.rssBytesPerReadyMessage) comparison.idleBytesPerQueuedMessage = idle.rssBytesPerReadyMessage;
  if (paused && idle?.rssBytesPerReadyMessage) {
    const queued = (paused.readyInQueues * idle.rssBytesPerReadyMessage) / MiB;
    comparison.pausedGrowthMiB = paused.rssGrowthMiB;
    comparison.pausedQueuedMessagesMiB = Math.round(queued * 10) / 10;
    comparison.pausedSocketBufferingMiB = Math.round((paused.rssGrowthMiB - queued) * 10) / 10;
    comparison.pausedSocketBufferingKiBPerSocket = Math.round(((paused.rssGrowthMiB - queued) * 1024) / paused.consumers);
  }
  if (reading) comparison.readingGrowthMiB = reading.rssGrowthMiB;
  if (short) comparison.shortGrowthMiB = short.rssGrowthMiB;
  if (Object.keys(comparison).length > 0) process.stdout.write(`[slow] comparison ${JSON.stringify(comparison)}\n`);

  const failures = [];
  for (const r of Object.values(results)) {
    if (r.brokerExitedDuringRun) failures.push(`${r.scenario}: broker exited during the run ${JSON.stringify(r.brokerExitedDuringRun)}`);
    if (r.brokerErrors > 0) failures.push(`${r.scenario}: ${r.brokerErrors} error lines in the broker log`);
    if (r.nacks > 0) failures.push(`${r.scenario}: ${r.nacks} negative confirms`);
    if (!r.closeAllDone) failures.push(`${r.scenario}: the broker had not processed the consumers' closes within 180 s`);
    if (r.probe?.error || r.probe?.complete === false) failures.push(`${r.scenario}: probe could not read ${r.probe.queue} back: ${r.probe.error ?? 'timed out'}`);
    // Redelivered flags on more messages than were ever pushed to the closed socket: in the paused run that
    // number is exact; in the short run it is bounded by what the paused run's sockets held.
    const pushed = r.probe?.pushedBeforeClose ?? paused?.probe?.pushedBeforeClose;
    if (r.probe && pushed !== undefined && r.probe.flaggedRedelivered > pushed * 1.5 + 100)
      failures.push(
        `${r.scenario}: ${r.probe.flaggedRedelivered} messages of ${r.probe.queue} came back flagged redelivered (x-delivery-count ${JSON.stringify(r.probe.deliveryCounts)}) ` +
          `though about ${pushed} had been pushed to the consumer's socket: messages never sent were counted as delivered`,
      );
  }
  for (const f of failures) process.stdout.write(`[slow] FAIL: ${f}\n`);
  printJsonLine({ script: 'slow-consumers', consumers: opt.consumers, seconds: opt.seconds, payloadBytes: opt.payloadBytes, results, comparison, ok: failures.length === 0, failures });
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`slow-consumers: ${error.stack ?? error.message}\n`);
    process.exit(2);
  },
);
