// Soak test: publishers with confirms -> direct exchange -> one shared work queue -> competing
// consumers that ack, while consumer connections are closed and reopened now and then (seeded).
// Checks at the end: every confirmed id received; duplicates only when the later copy is flagged
// `redelivered`; nothing received that was not published. Samples the broker's RSS every second.
// See docs/performance.md ("Soak and slow consumers").
import { ackBatcher, Conn, mib, parseArgs, printJsonLine, prng, sampleRss, sleep, startBroker, waitFor } from './soak-common.mjs';
import { loadavg } from 'node:os';

const USAGE = `usage: node scripts/soak.mjs [--publishers 4] [--consumers 4] [--seconds 60] [--persistent] [--payload-bytes 256]
       [--window 100] [--max-backlog 20000] [--prefetch 50] [--seed 1] [--restart-min-ms 2000] [--restart-max-ms 6000] [--max-restarts N]
       [--drain-seconds 60] [--report-every 5]
--max-backlog bounds published-but-not-yet-received messages, so the queue does not grow for as
long as publishers outrun consumers and the RSS shows leaks rather than backlog (0 turns it off).
Needs \`npm run build\` first. Starts the broker itself on 127.0.0.1 (port 0) with a temporary data dir.
`;

const DEFAULTS = {
  publishers: 4,
  consumers: 4,
  seconds: 60,
  persistent: false,
  payloadBytes: 256,
  window: 100, // outstanding confirms per publisher
  maxBacklog: 20000, // publishers wait while this many published messages are not yet received (0: no bound)
  prefetch: 50,
  seed: 1,
  restartMinMs: 2000, // a consumer connection is closed every restartMin..restartMax ms
  restartMaxMs: 6000,
  maxRestarts: -1, // -1: seconds / 2
  drainSeconds: 60, // bound on the wait for the last confirmed messages after publishing stops
  reportEvery: 5,
};

const EXCHANGE = 'soak.direct';
const QUEUE = 'soak.work';
const ROUTING_KEY = 'work';
const ID_BASE = 100; // publish ids are ID_BASE + counter; id 1 is `connect`

/** A growable byte array per publisher, indexed by the publisher's counter. */
class Bytes {
  constructor() {
    this.a = new Uint8Array(1024);
  }
  get(i) {
    return i < this.a.length ? this.a[i] : 0;
  }
  set(i, v) {
    if (i >= this.a.length) {
      const b = new Uint8Array(Math.max(this.a.length * 2, i + 1));
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}

async function main() {
  const opt = parseArgs(process.argv.slice(2), DEFAULTS, USAGE);
  if (opt.publishers < 1 || opt.consumers < 1 || opt.seconds <= 0 || opt.window < 1) throw new Error('publishers, consumers, window >= 1 and seconds > 0');
  const maxRestarts = opt.maxRestarts < 0 ? Math.ceil(opt.seconds / 2) : opt.maxRestarts;
  const random = prng(opt.seed);
  const log = (line) => process.stdout.write(`[soak] ${line}\n`);

  const loadAvgStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const broker = await startBroker({ config: { server: { heartbeatMs: 30_000 } } });
  log(`broker pid ${broker.pid} listening on ${broker.url}; ${opt.publishers} publishers (window ${opt.window}, backlog bound ${opt.maxBacklog || 'none'}), ${opt.consumers} consumers (prefetch ${opt.prefetch}), ${opt.seconds} s, payload ${opt.payloadBytes} B, persistent ${opt.persistent}, seed ${opt.seed}, at most ${maxRestarts} consumer restarts`);

  // State shared by publishers and consumers.
  const sent = new Array(opt.publishers).fill(0);
  const confirmed = Array.from({ length: opt.publishers }, () => new Bytes());
  const received = Array.from({ length: opt.publishers }, () => new Bytes());
  const stats = {
    confirmed: 0,
    nacks: 0,
    nackCodes: {},
    received: 0, // every delivery, copies included
    unique: 0,
    duplicates: 0,
    flaggedDuplicates: 0,
    unflaggedDuplicates: 0,
    redeliveredFlagged: 0, // deliveries with redelivered: true (first copies included)
    redeliveredWithoutCount: 0, // redelivered: true but no x-delivery-count header
    bogus: 0, // received but never published
    missing: 0, // confirmed, not yet received
    blocked: 0,
    restarts: 0,
    unexpectedCloses: [],
    consumerErrors: [],
    examples: { unflagged: [], bogus: [], missing: [] },
  };
  const note = (list, item) => list.length < 10 && list.push(item);

  let running = true;
  const failures = [];

  // Setup: durable topology only with --persistent (the journal is then on the path of every confirm).
  const admin = await new Conn(broker.url, { name: 'soak-admin' }).open();
  await admin.request({ op: 'exchange.declare', exchange: EXCHANGE, type: 'direct', durable: opt.persistent });
  await admin.request({ op: 'queue.declare', queue: QUEUE, durable: opt.persistent });
  await admin.request({ op: 'queue.bind', queue: QUEUE, exchange: EXCHANGE, routingKey: ROUTING_KEY });

  // Consumers: one connection each, one consumer each; ack every message (batched per tick).
  const slots = Array.from({ length: opt.consumers }, (_, index) => ({ index, conn: null, generation: 0, closing: false }));

  const onDeliver = (frame, ack) => {
    stats.received++;
    if (frame.redelivered === true) {
      stats.redeliveredFlagged++;
      if (!(Number(frame.headers?.['x-delivery-count']) >= 1)) stats.redeliveredWithoutCount++;
    }
    const { p, n } = frame.payload ?? {};
    if (!Number.isInteger(p) || p < 0 || p >= opt.publishers || !Number.isInteger(n) || n < 0 || n >= sent[p]) {
      stats.bogus++;
      note(stats.examples.bogus, JSON.stringify(frame).slice(0, 200));
    } else {
      const copies = received[p].get(n);
      if (copies === 0) {
        stats.unique++;
        if (confirmed[p].get(n)) stats.missing--;
      } else {
        stats.duplicates++;
        if (frame.redelivered === true) stats.flaggedDuplicates++;
        else {
          stats.unflaggedDuplicates++;
          note(stats.examples.unflagged, `${p}:${n}`);
        }
      }
      received[p].set(n, Math.min(copies + 1, 255));
    }
    ack(frame.deliveryTag);
  };

  const openConsumer = async (slot) => {
    const generation = ++slot.generation;
    // Acks go out on this connection only while it is the slot's; then the backlog may have room again.
    const ack = ackBatcher(
      (text) => {
        if (slot.conn === conn) conn.send(text);
      },
      () => {
        for (const pub of publishers) pump(pub);
      },
    );
    const conn = new Conn(broker.url, {
      name: `soak-consumer-${slot.index}`,
      onFrame: (frame) => {
        if (frame.op === 'deliver') onDeliver(frame, ack);
        else if (frame.op === 'error' || frame.op === 'cancelled') note(stats.consumerErrors, JSON.stringify(frame).slice(0, 300));
      },
      onClose: (code) => {
        if (slot.generation !== generation || slot.closing) return;
        note(stats.unexpectedCloses, `consumer ${slot.index} closed by the broker (code ${code})`);
        slot.conn = null;
        if (running) setTimeout(() => void openConsumer(slot).catch((e) => note(stats.consumerErrors, e.message)), 500);
      },
    });
    slot.conn = conn;
    await conn.open();
    await conn.request({ op: 'consume', queue: QUEUE, prefetch: opt.prefetch, noAck: false });
  };

  // Publishers: publish with confirms, at most `window` outstanding each.
  const pad = 'x'.repeat(Math.max(0, opt.payloadBytes - `{"p":0,"n":1000000,"pad":""}`.length));
  const properties = opt.persistent ? ',"properties":{"persistent":true}' : '';
  const publishers = Array.from({ length: opt.publishers }, (_, p) => ({ p, conn: null, outstanding: 0 }));
  let totalSent = 0;
  const pump = (pub) => {
    if (!pub.conn || pub.conn.closed) return;
    while (running && pub.outstanding < opt.window && (opt.maxBacklog === 0 || totalSent - stats.unique < opt.maxBacklog)) {
      totalSent++;
      const n = sent[pub.p]++;
      pub.outstanding++;
      pub.conn.send(`{"op":"publish","id":${ID_BASE + n},"exchange":"${EXCHANGE}","routingKey":"${ROUTING_KEY}","payload":{"p":${pub.p},"n":${n},"pad":"${pad}"}${properties}}`);
    }
  };
  const onConfirm = (pub, frame) => {
    const n = frame.id - ID_BASE;
    pub.outstanding--;
    if (frame.op === 'ok') {
      confirmed[pub.p].set(n, 1);
      stats.confirmed++;
      if (received[pub.p].get(n) === 0) {
        stats.missing++;
      }
    } else {
      stats.nacks++;
      stats.nackCodes[frame.code] = (stats.nackCodes[frame.code] ?? 0) + 1;
    }
    pump(pub);
  };
  for (const pub of publishers) {
    pub.conn = new Conn(broker.url, {
      name: `soak-publisher-${pub.p}`,
      onFrame: (frame) => {
        if ((frame.op === 'ok' || frame.op === 'error') && Number.isInteger(frame.id) && frame.id >= ID_BASE) onConfirm(pub, frame);
        else if (frame.op === 'blocked') stats.blocked++;
        else if (frame.op === 'error') note(stats.consumerErrors, `publisher ${pub.p}: ${JSON.stringify(frame).slice(0, 300)}`);
      },
      onClose: (code) => {
        if (running || pub.outstanding > 0) failures.push(`publisher ${pub.p} connection closed (code ${code}) with ${pub.outstanding} confirms outstanding`);
      },
    });
    await pub.conn.open();
  }
  await Promise.all(slots.map(openConsumer));

  // RSS every second; a compact line every `reportEvery` seconds.
  const started = Date.now();
  let lastReport = { t: 0, confirmed: 0, received: 0 };
  const rssSeries = [];
  const rss = sampleRss(broker.pid, 1000, (t, bytes) => {
    const sec = Math.round(t);
    if (sec - lastReport.t < opt.reportEvery) return;
    const dt = t - lastReport.t;
    rssSeries.push([sec, mib(bytes)]);
    log(
      `t=${sec}s rss=${mib(bytes)}MiB confirmed=${stats.confirmed} received=${stats.received} dup=${stats.duplicates} restarts=${stats.restarts} ` +
        `pub/s=${Math.round((stats.confirmed - lastReport.confirmed) / dt)} recv/s=${Math.round((stats.received - lastReport.received) / dt)}${running ? '' : ' (draining)'}`,
    );
    lastReport = { t: sec, confirmed: stats.confirmed, received: stats.received };
  });
  rssSeries.push([0, mib(rss.start)]);

  for (const pub of publishers) pump(pub);

  // Chaos: close a random consumer connection now and then (gracefully or abruptly), reopen it shortly after.
  const deadline = started + opt.seconds * 1000;
  const chaos = (async () => {
    while (stats.restarts < maxRestarts) {
      const wait = opt.restartMinMs + random() * (opt.restartMaxMs - opt.restartMinMs);
      if (Date.now() + wait >= deadline) break;
      await sleep(wait);
      const slot = slots[Math.floor(random() * slots.length)];
      const abrupt = random() < 0.5;
      const downMs = 100 + Math.floor(random() * 900);
      if (!slot.conn) continue;
      stats.restarts++;
      slot.closing = true;
      if (abrupt) slot.conn.terminate();
      else await slot.conn.close();
      slot.conn = null;
      await sleep(downMs);
      slot.closing = false;
      await openConsumer(slot).catch((e) => note(stats.consumerErrors, `reopen consumer ${slot.index}: ${e.message}`));
    }
  })();

  await sleep(Math.max(0, deadline - Date.now()));
  running = false;
  const publishSeconds = (Date.now() - started) / 1000;
  await chaos;
  log(`publishing stopped after ${publishSeconds.toFixed(1)} s; waiting for outstanding confirms, then draining (at most ${opt.drainSeconds} s)`);
  const confirmsSettled = await waitFor(() => publishers.every((pub) => pub.outstanding === 0 || pub.conn.closed), 30_000);
  if (!confirmsSettled) failures.push(`confirms still outstanding 30 s after publishing stopped: ${publishers.map((pub) => pub.outstanding).join(',')}`);
  for (const slot of slots) if (!slot.conn) await openConsumer(slot).catch((e) => note(stats.consumerErrors, e.message));
  const drainStarted = Date.now();
  const drained = await waitFor(() => stats.missing === 0, opt.drainSeconds * 1000);
  const drainSeconds = (Date.now() - drainStarted) / 1000;
  await sleep(500); // late copies (redeliveries) still in flight get counted too
  const totalSeconds = (Date.now() - started) / 1000;
  rss.stop();

  let queueLeft = null;
  try {
    queueLeft = (await admin.request({ op: 'queue.declare', queue: QUEUE, passive: true }, 5000)).messageCount;
  } catch (error) {
    failures.push(`passive declare of ${QUEUE} failed: ${error.message}`);
  }

  // Checks.
  if (!drained) {
    for (let p = 0; p < opt.publishers && stats.examples.missing.length < 10; p++)
      for (let n = 0; n < sent[p] && stats.examples.missing.length < 10; n++) if (confirmed[p].get(n) && !received[p].get(n)) stats.examples.missing.push(`${p}:${n}`);
    failures.push(`${stats.missing} confirmed messages never received within ${opt.drainSeconds} s (e.g. ${stats.examples.missing.join(' ')})`);
  }
  if (stats.unflaggedDuplicates > 0) failures.push(`${stats.unflaggedDuplicates} duplicates without redelivered: true (e.g. ${stats.examples.unflagged.join(' ')})`);
  if (stats.bogus > 0) failures.push(`${stats.bogus} deliveries that were never published (e.g. ${stats.examples.bogus.join(' | ')})`);
  if (stats.redeliveredWithoutCount > 0) failures.push(`${stats.redeliveredWithoutCount} redelivered deliveries without an x-delivery-count header`);
  if (stats.nacks > 0) failures.push(`${stats.nacks} negative confirms ${JSON.stringify(stats.nackCodes)}`);
  if (stats.unexpectedCloses.length > 0) failures.push(`consumer connections closed by the broker: ${stats.unexpectedCloses.join('; ')}`);
  if (stats.consumerErrors.length > 0) failures.push(`error/cancelled frames: ${stats.consumerErrors.join('; ')}`);
  const exited = broker.exited();
  if (exited) failures.push(`broker exited during the run (code ${exited.code}, signal ${exited.signal})`);
  if (broker.logs.errors > 0) failures.push(`${broker.logs.errors} error lines in the broker log:\n${broker.logs.tail.join('\n')}`);

  for (const pub of publishers) await pub.conn.close();
  for (const slot of slots) {
    slot.closing = true;
    await slot.conn?.close();
  }
  await admin.close();
  const stop = await broker.stop();

  const summary = {
    script: 'soak',
    publishers: opt.publishers,
    consumers: opt.consumers,
    seconds: opt.seconds,
    persistent: opt.persistent,
    payloadBytes: opt.payloadBytes,
    maxBacklog: opt.maxBacklog,
    seed: opt.seed,
    published: sent.reduce((a, b) => a + b, 0),
    confirmed: stats.confirmed,
    nacks: stats.nacks,
    received: stats.received,
    unique: stats.unique,
    duplicates: stats.duplicates,
    duplicatesFlagged: stats.flaggedDuplicates,
    duplicatesUnflagged: stats.unflaggedDuplicates,
    redeliveredDeliveries: stats.redeliveredFlagged,
    missing: stats.missing,
    neverPublished: stats.bogus,
    consumerRestarts: stats.restarts,
    blockedFrames: stats.blocked,
    queueLeftAtEnd: queueLeft,
    publishSeconds: Math.round(publishSeconds * 10) / 10,
    drainSeconds: Math.round(drainSeconds * 10) / 10,
    confirmedPerSec: Math.round(stats.confirmed / publishSeconds),
    receivedPerSec: Math.round(stats.received / totalSeconds),
    rssStartMiB: mib(rss.start),
    rssPeakMiB: mib(rss.peak),
    rssEndMiB: mib(rss.last),
    rssMiBOverTime: rssSeries,
    loadAvgStart,
    loadAvgEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    brokerWarnings: broker.logs.warnings,
    brokerErrors: broker.logs.errors,
    brokerExit: stop,
    ok: failures.length === 0,
    failures,
  };
  log(`RSS start ${summary.rssStartMiB} MiB, peak ${summary.rssPeakMiB} MiB, end ${summary.rssEndMiB} MiB`);
  log(`confirmed ${summary.confirmed}, received ${summary.received} (${summary.unique} unique), duplicates ${summary.duplicates} (${summary.duplicatesFlagged} flagged redelivered), ${summary.consumerRestarts} consumer restarts`);
  log(`${summary.confirmedPerSec} confirmed msgs/s over ${summary.publishSeconds} s; drained in ${summary.drainSeconds} s; ${queueLeft} left in the queue`);
  for (const failure of failures) log(`FAIL: ${failure}`);
  log(failures.length === 0 ? 'all checks passed' : `${failures.length} check(s) failed`);
  printJsonLine(summary);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`soak: ${error.stack ?? error.message}\n`);
    process.exit(2);
  },
);
