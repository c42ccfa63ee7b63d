import type { MessageCounters } from '../broker/index.js';

const sumOf = (byReason: Record<string, number>): number => Object.values(byReason).reduce((sum, count) => sum + count, 0);

/**
 * RabbitMQ's `message_stats` names for Warren's counters; `deliver_get` is their sum of deliveries
 * and gets. `dead_lettered` (sent to a dead-letter exchange, for any reason) and
 * `dead_letter_dropped` (of those, the ones no queue got) are Warren's own.
 */
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
  ['dead_lettered', (c) => sumOf(c.deadLettered)],
  ['dead_letter_dropped', (c) => c.deadLetterDropped],
];

/** Indexes into FIELDS of what a view shows; a queue's leaves out `drop_unroutable`: routing happens before a queue. */
const ALL_FIELDS = FIELDS.map((_, i) => i);
const QUEUE_FIELDS = ALL_FIELDS.filter((i) => FIELDS[i][0] !== 'drop_unroutable');

const DETAILS = FIELDS.map(([name]) => `${name}_details`);

const countsOf = (object: Counted): number[] => FIELDS.map(([, count]) => count(object.counters));

function view(counts: number[], rates: number[], shown: number[]): MessageStatsView {
  const stats: MessageStatsView = {};
  for (const i of shown) {
    stats[FIELDS[i][0]] = counts[i];
    stats[DETAILS[i]] = { rate: Math.round(rates[i] * 10) / 10 };
  }
  return stats;
}

/** A vhost's broker or a queue: something that counts what happens to its messages. */
export interface Counted {
  readonly counters: MessageCounters;
}

/** The FIELDS' counts at one moment. */
interface Sample {
  at: number;
  counts: number[];
}

export type MessageStatsView = Record<string, number | { rate: number }>;

/**
 * Message rates as RabbitMQ's management plugin gives them: every `intervalMs` (RabbitMQ's
 * collect_statistics_interval, 5 s) the counters of each vhost and each queue are copied; a rate
 * is the change over the last whole interval, per second. Nothing runs per message: the counters
 * are plain increments in the model, and sampling copies a few numbers per object (about 2 ms
 * for 10,000 queues).
 */
export class MessageStats {
  private readonly samples = new Map<Counted, { previous: Sample; latest: Sample }>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly counted: () => Iterable<Counted>,
    intervalMs = 5000,
    private readonly now: () => number = Date.now,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const at = this.now();
    const seen = new Set<Counted>();
    for (const object of this.counted()) {
      seen.add(object);
      const latest = { at, counts: countsOf(object) };
      const known = this.samples.get(object);
      this.samples.set(object, { previous: known?.latest ?? latest, latest });
    }
    // A deleted vhost or queue is gone: forget it.
    for (const object of this.samples.keys()) if (!seen.has(object)) this.samples.delete(object);
  }

  /** RabbitMQ's `message_stats` summed over vhosts' brokers: each count since start-up, with `<name>_details: {rate}`. */
  of(objects: Iterable<Counted>): MessageStatsView {
    const totals = FIELDS.map(() => 0);
    const rates = FIELDS.map(() => 0);
    for (const object of objects) {
      const counts = countsOf(object);
      const objectRates = this.ratesOf(object);
      for (let i = 0; i < FIELDS.length; i++) {
        totals[i] += counts[i];
        rates[i] += objectRates[i];
      }
    }
    return view(totals, rates, ALL_FIELDS);
  }

  /** One queue's `message_stats`; undefined (left out, as RabbitMQ does) while nothing happened in it. */
  ofQueue(queue: Counted): MessageStatsView | undefined {
    const counts = countsOf(queue);
    return counts.some((count) => count > 0) ? view(counts, this.ratesOf(queue), QUEUE_FIELDS) : undefined;
  }

  /** Per second, over the last whole interval; zeros before the second sample. */
  private ratesOf(object: Counted): number[] {
    const sample = this.samples.get(object);
    const seconds = sample ? (sample.latest.at - sample.previous.at) / 1000 : 0;
    if (!sample || seconds <= 0) return FIELDS.map(() => 0);
    return sample.latest.counts.map((count, i) => (count - sample.previous.counts[i]) / seconds);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
