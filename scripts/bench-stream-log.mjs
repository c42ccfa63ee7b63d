// Micro benchmark of the stream log (src/store/stream), on the BUILT code: `npm run build` first, then
//   node --expose-gc scripts/bench-stream-log.mjs [--messages 1000000] [--runs 3] [--segmentBytes N] [--dir /path/on/the/disk/to/test]
// Medians of the runs. Every run writes a new stream in a temp dir (removed after).
//
// - append: `messages` appends of ~100-byte payloads, `perTurn` per event-loop turn (as a broker gets
//   them from its sockets), each turn asking flushed() as a confirm would, with sync 'always'
//   (one synced write per batch); timed until the last entry is on disk.
// - append (meta per message): the same, but each message has its own properties object (a client
//   that sends properties), so the entry meta JSON is made for every message.
// - reopen: close, then open again (recovery reads the last segment whole and the index files' heads).
// - read 1 reader: from offset 0 to the end, 1000 entries a read.
// - catch-up: from offset 0 to the end, 100 entries a read (a consumer with prefetch 100).
// - 10 readers: at offsets 0, n/10, 2n/10, ..., reads of 100 in turn, until each has read n/10.
// - 1000 readers: at offsets spread over the stream, reads of 100 in turn, 10 rounds (1M entries
//   read); RSS before and the highest seen during, against 1 reader doing the same reads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    perTurn: { type: 'string', default: '1000' },
    dir: { type: 'string', default: tmpdir() },
    segmentBytes: { type: 'string', default: String(64 * 1024 * 1024) },
  },
});
const MESSAGES = Number(values.messages);
const RUNS = Number(values.runs);
const PER_TURN = Number(values.perTurn);
const OPTIONS = { sync: 'always', segmentBytes: Number(values.segmentBytes) };

const { FileStreamLog } = await import('../dist/store/stream/index.js').catch(() => {
  throw new Error('dist/store/stream is missing: run `npm run build` first');
});

// Synced writes (one per batch), as the store's metrics count them.
const io = { writtenBytes: 0, syncs: 0 };

const NO_FIELDS = Object.freeze({});
const BODY = 'x'.repeat(80);
/** A message as the broker makes one: ~100 bytes of payload, the shared empty headers and properties. */
const makeMessage = (i, properties = NO_FIELDS) => {
  const payload = `{"id":${i},"body":"${BODY}"}`;
  return { exchange: 'events', routingKey: 'sensor.reading', payload, size: payload.length, headers: NO_FIELDS, properties };
};

const turn = () => new Promise((resolve) => setImmediate(resolve));
const gc = () => globalThis.gc?.();
const mb = (bytes) => Math.round(bytes / 1024 / 1024);
const rate = (count, ms) => Math.round(count / (ms / 1000));

async function append(log, ownProperties) {
  const before = io.syncs;
  const started = performance.now();
  const confirms = [];
  let last = null;
  for (let i = 0; i < MESSAGES; ) {
    const end = Math.min(MESSAGES, i + PER_TURN);
    for (; i < end; i++) log.append(makeMessage(i, ownProperties ? { persistent: true, messageId: `m${i}` } : NO_FIELDS), Date.now());
    const confirm = log.flushed();
    if (confirm !== last) confirms.push(confirm);
    last = confirm;
    // Keep the confirms of the batches in flight only (a broker holds one per batch).
    if (confirms.length > 64) await confirms.shift();
    await turn();
  }
  await Promise.all(confirms);
  await log.flushed();
  const ms = performance.now() - started;
  return { ms, syncs: io.syncs - before };
}

function readAll(log, batch) {
  const started = performance.now();
  let count = 0;
  let bytes = 0;
  for (let at = 0; ; ) {
    const entries = log.read(at, batch, Infinity);
    if (entries.length === 0) break;
    count += entries.length;
    for (const entry of entries) bytes += entry.message.size;
    at = entries[entries.length - 1].offset + 1;
  }
  if (count !== log.next) throw new Error(`read ${count} of ${log.next}`);
  return { ms: performance.now() - started, count, bytes };
}

/** `readers` readers at offsets spread over the stream, reading `batch` each in turn for `rounds` rounds. */
function readInterleaved(log, readers, batch, rounds) {
  const spacing = Math.floor(log.next / readers);
  const at = Array.from({ length: readers }, (_, i) => i * spacing);
  gc();
  const rssBefore = process.memoryUsage.rss();
  let rssMax = rssBefore;
  const started = performance.now();
  let count = 0;
  for (let round = 0; round < rounds; round++) {
    for (let r = 0; r < readers; r++) {
      const entries = log.read(at[r], batch, Infinity);
      count += entries.length;
      if (entries.length > 0) at[r] = entries[entries.length - 1].offset + 1;
    }
    if (round % 2 === 1) rssMax = Math.max(rssMax, process.memoryUsage.rss());
  }
  const ms = performance.now() - started;
  rssMax = Math.max(rssMax, process.memoryUsage.rss());
  return { ms, count, rssBefore, rssMax };
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

const results = [];
for (let run = 1; run <= RUNS; run++) {
  const base = mkdtempSync(join(values.dir, 'warren-bench-stream-'));
  try {
    const dir = join(base, 'stream');
    const result = {};
    let log = await FileStreamLog.open(dir, OPTIONS, { io });
    const appended = await append(log, false);
    result.appendRate = rate(MESSAGES, appended.ms);
    result.appendMBs = Math.round(log.bytes / 1024 / 1024 / (appended.ms / 1000));
    result.syncs = appended.syncs;
    result.bytes = log.bytes;
    await log.close();

    const other = await FileStreamLog.open(join(base, 'own-properties'), OPTIONS);
    result.appendOwnMetaRate = rate(MESSAGES, (await append(other, true)).ms);
    await other.delete();

    let started = performance.now();
    log = await FileStreamLog.open(dir, OPTIONS);
    result.reopenMs = Math.round(performance.now() - started);

    const one = readAll(log, 1000);
    result.readRate = rate(one.count, one.ms);
    result.readMBs = Math.round(one.bytes / 1024 / 1024 / (one.ms / 1000));
    const catchUp = readAll(log, 100);
    result.catchUpMs = Math.round(catchUp.ms);
    // A fresh log: no reader hints, no cached indexes.
    await log.close();
    log = await FileStreamLog.open(dir, OPTIONS);
    const ten = readInterleaved(log, 10, 100, Math.ceil(MESSAGES / 10 / 100));
    result.tenRate = rate(ten.count, ten.ms);
    const single = readInterleaved(log, 1, 100, 10_000);
    const thousand = readInterleaved(log, 1000, 100, 10);
    result.thousandRate = rate(thousand.count, thousand.ms);
    result.rss1 = [mb(single.rssBefore), mb(single.rssMax)];
    result.rss1000 = [mb(thousand.rssBefore), mb(thousand.rssMax)];
    await log.close();
    results.push(result);
    process.stdout.write(`run ${run}: ${JSON.stringify(result)}\n`);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  gc();
}

const pick = (key) => median(results.map((result) => result[key]));
const pickPair = (key) => [median(results.map((result) => result[key][0])), median(results.map((result) => result[key][1]))];
console.log(`
stream log, ${MESSAGES.toLocaleString('en')} messages of ~100-byte payloads (${mb(pick('bytes'))} MiB on disk, segments of ${mb(OPTIONS.segmentBytes)} MiB), median of ${RUNS} runs, Node ${process.version}
  append + sync, ${PER_TURN}/turn:               ${pick('appendRate').toLocaleString('en')} msg/s (${pick('appendMBs')} MiB/s, ${pick('syncs')} synced writes)
  append, own properties per message:  ${pick('appendOwnMetaRate').toLocaleString('en')} msg/s
  reopen (recovery):                   ${pick('reopenMs')} ms
  read, 1 reader, 1000 a read:         ${pick('readRate').toLocaleString('en')} msg/s (${pick('readMBs')} MiB/s of payload)
  catch up from 0, 100 a read:         ${pick('catchUpMs')} ms
  10 readers interleaved, 100 a read:  ${pick('tenRate').toLocaleString('en')} msg/s in all
  1000 readers interleaved, 100 a read: ${pick('thousandRate').toLocaleString('en')} msg/s in all
  RSS (MiB, before -> highest): 1 reader ${pickPair('rss1').join(' -> ')}, 1000 readers ${pickPair('rss1000').join(' -> ')}
`);
