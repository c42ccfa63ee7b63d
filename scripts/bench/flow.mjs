// Runs a flow scenario (S1–S4, S6) against one target inside the client process: topology,
// a consumer thread, a publisher thread, then a warm-up and the measured runs. Each run
// publishes for a ramp plus the measured window, then stops and waits until every published
// message has been delivered (fanout times): a shortfall is reported as lost or stalled.
import { performance } from 'node:perf_hooks';
import { setupTopology } from './clients/index.mjs';
import { CONFIRMED, DELIVERED, ERRORS, IDLE, MEASURING, newShared, PHASE, PUBLISHED, read, RUNNING } from './shared.mjs';
import { startWorker } from './threads.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runFlow({ target, url, prefix, scenario, profile }) {
  const cleanup = target === 'relay' ? async () => {} : await setupTopology(target, url, scenario.topology(prefix));
  const shared = newShared();
  const base = { target, url, prefix, scenarioId: scenario.id, shared };
  const consumers = startWorker({ ...base, role: 'consumers' });
  const publisher = startWorker({ ...base, role: 'publisher' });
  try {
    await consumers.ready;
    await publisher.ready;
    const runs = [];
    let warmup;
    for (let run = 0; run <= profile.runs; run++) {
      const measureMs = run === 0 ? profile.warmupMs : scenario.rate ? profile.rateRunMs : profile.runMs;
      const result = await oneRun(shared, consumers, publisher, scenario, profile, measureMs);
      if (run === 0) warmup = result;
      else runs.push(result);
      if (result.lost > 0) break; // the counts no longer add up: later runs would mean nothing
    }
    await publisher.call('close');
    await consumers.call('close');
    return { warmup, runs };
  } finally {
    await publisher.terminate();
    await consumers.terminate();
    await cleanup().catch(() => {});
  }
}

async function oneRun(shared, consumers, publisher, scenario, profile, measureMs) {
  await consumers.call('reset');
  Atomics.store(shared, PHASE, RUNNING);
  const publishing = publisher.call('run');
  await sleep(profile.rampMs);
  const d0 = read(shared, DELIVERED);
  const p0 = read(shared, PUBLISHED);
  const t0 = performance.now();
  Atomics.store(shared, PHASE, MEASURING);
  await sleep(measureMs);
  const d1 = read(shared, DELIVERED);
  const p1 = read(shared, PUBLISHED);
  const t1 = performance.now();
  Atomics.store(shared, PHASE, IDLE);
  const { errors: publishErrors, lastError: publishError, waited } = await publishing;

  // Drain: everything published must arrive (and be confirmed, with confirms).
  const expected = read(shared, PUBLISHED) * scenario.fanout;
  const drainStart = performance.now();
  const complete = () => read(shared, DELIVERED) >= expected && (!scenario.confirm || read(shared, CONFIRMED) >= read(shared, PUBLISHED));
  while (!complete() && performance.now() - drainStart < profile.drainMs) await sleep(5);
  const delivered = read(shared, DELIVERED);
  const { latency, errors: consumeErrors, lastError: consumeError } = await consumers.call('report');
  const seconds = (t1 - t0) / 1000;
  return {
    rate: (d1 - d0) / seconds,
    publishRate: (p1 - p0) / seconds,
    latency,
    drainMs: Math.round(performance.now() - drainStart),
    lost: Math.max(0, expected - delivered),
    unconfirmed: scenario.confirm ? Math.max(0, read(shared, PUBLISHED) - read(shared, CONFIRMED)) : 0,
    duplicates: Math.max(0, delivered - expected),
    errors: read(shared, ERRORS) + publishErrors + consumeErrors,
    lastError: publishError ?? consumeError,
    // Shares of the publisher's run (ramp and window) spent waiting for confirms, and for the window of undelivered messages.
    publisherWaits: waited && { confirms: waited.confirmsMs / waited.runMs, window: waited.windowMs / waited.runMs },
  };
}
