// S5 inside the client process: opens many subscribers (each with its own exclusive queue on
// Warren, or a room member on the relay) in a worker thread, reads the broker's RSS before and
// after, then times single publishes until the last subscriber has each.
import { readFileSync } from 'node:fs';
import { clientFor } from './clients/index.mjs';
import { body, nowMicros } from './payload.mjs';
import { startWorker } from './threads.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident set size of a process in bytes (Linux), or null. */
export function rssOf(pid) {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export async function runWide({ target, url, prefix, scenario, profile, serverPid }) {
  const exchange = scenario.exchange(prefix);
  const client = await clientFor(target);
  let admin;
  if (target === 'warren') {
    const { WarrenConnection } = client;
    admin = await WarrenConnection.open(url, 'bench-admin');
    await admin.request({ op: 'exchange.declare', exchange, type: 'fanout', durable: false });
  }
  const publisher = await client.openPublisher(url, { exchange });
  await sleep(500);
  const rssBefore = rssOf(serverPid);
  const subscribers = startWorker({ target, url, prefix, scenarioId: scenario.id, role: 'subscribers', subscribers: profile.wideSubscribers });
  try {
    await subscribers.ready;
    const { setupMs, subscribers: count } = await subscribers.call('setup');
    await sleep(1500);
    const rssAfter = rssOf(serverPid);
    const runs = [];
    let warmup;
    for (let run = 0; run <= profile.runs; run++) {
      await subscribers.call('arm');
      const t = nowMicros();
      publisher.send([''], [body(run, 256, t)]);
      const { received, first, last } = await subscribers.call('wait', { timeoutMs: 30_000 });
      const result = { last: last ? (last - t) / 1000 : null, first: first ? (first - t) / 1000 : null, received, lost: count - received };
      if (run === 0) warmup = result;
      else runs.push(result);
      if (result.lost > 0) break;
      await sleep(200);
    }
    const perConnection = rssBefore && rssAfter ? (rssAfter - rssBefore) / count : null;
    return { warmup, runs, subscribers: count, setupMs, setupRate: count / (setupMs / 1000), rssBefore, rssAfter, rssPerConn: perConnection };
  } finally {
    await subscribers.call('close').catch(() => {});
    await subscribers.terminate();
    await publisher.close();
    await admin?.close();
  }
}
