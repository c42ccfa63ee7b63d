import type { Broker, MessageCounters } from '../broker/index.js';

/** RabbitMQ's `message_stats` names for Warren's counters; `deliver_get` is their sum of deliveries and gets. */
const FIELDS: [string, (counters: MessageCounters) => number][] = [
  ['publish', (c) => c.published],
  ['deliver', (c) => c.delivered],
  ['deliver_no_ack', (c) => c.deliveredNoAck],
  ['get', (c) => c.got],
  ['get_no_ack', (c) => c.gotNoAck],
  ['deliver_get', (c) => c.delivered + c.deliveredNoAck + c.got + c.gotNoAck],
  ['redeliver', (c) => c.redelivered],
  ['ack', (c) => c.acknowledged],
  ['drop_unroutable', (c) => c.unroutable],
];

/** The FIELDS' counts at one moment. */
interface Sample {
  at: number;
  counts: number[];
}

/**
 * Message rates as RabbitMQ's management plugin gives them: every `intervalMs` (RabbitMQ's
 * collect_statistics_interval, 5 s) each vhost's counters are copied; a rate is the change over
 * the last whole interval, per second. Nothing runs per message: the counters are plain
 * increments in the model, and sampling copies a few numbers per vhost.
 */
export class MessageStats {
  private readonly samples = new Map<Broker, { previous: Sample; latest: Sample }>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly brokers: () => Iterable<Broker>,
    intervalMs = 5000,
    private readonly now: () => number = Date.now,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const at = this.now();
    const seen = new Set<Broker>();
    for (const broker of this.brokers()) {
      seen.add(broker);
      const latest = { at, counts: FIELDS.map(([, count]) => count(broker.counters)) };
      const known = this.samples.get(broker);
      this.samples.set(broker, { previous: known?.latest ?? latest, latest });
    }
    // A deleted vhost's broker is gone: forget it.
    for (const broker of this.samples.keys()) if (!seen.has(broker)) this.samples.delete(broker);
  }

  /** RabbitMQ's `message_stats` over `brokers`: each count since start-up, with `<name>_details: {rate}`. */
  of(brokers: Iterable<Broker>): Record<string, number | { rate: number }> {
    const stats: Record<string, number | { rate: number }> = {};
    for (const [name] of FIELDS) {
      stats[name] = 0;
      stats[`${name}_details`] = { rate: 0 };
    }
    for (const broker of brokers) {
      const sample = this.samples.get(broker);
      const seconds = sample ? (sample.latest.at - sample.previous.at) / 1000 : 0;
      FIELDS.forEach(([name, count], i) => {
        (stats[name] as number) += count(broker.counters);
        if (sample && seconds > 0) (stats[`${name}_details`] as { rate: number }).rate += (sample.latest.counts[i] - sample.previous.counts[i]) / seconds;
      });
    }
    for (const [name] of FIELDS) {
      const details = stats[`${name}_details`] as { rate: number };
      details.rate = Math.round(details.rate * 10) / 10;
    }
    return stats;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
