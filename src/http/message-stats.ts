import type { DeathReason, MessageCounters } from '../broker/index.js';

const deaths = (byReason: Record<DeathReason, number>): number => byReason.expired + byReason.maxlen + byReason.rejected + byReason.delivery_limit;

/**
 * RabbitMQ's `message_stats` names, in the order of `countsOf`; `deliver_get` is the sum of
 * deliveries and gets. `dead_lettered` (sent to a dead-letter exchange, for any reason) and
 * `dead_letter_dropped` (of those, the ones no queue got) are Warren's own.
 */
const NAMES = ['publish', 'deliver', 'deliver_no_ack', 'get', 'get_no_ack', 'deliver_get', 'redeliver', 'ack', 'drop_unroutable', 'dead_lettered', 'dead_letter_dropped'];
const DETAILS = NAMES.map((name) => `${name}_details`);

/** The counts of NAMES. Plain reads, no closures: a list of 10,000 queues makes 10,000 of these. */
function countsOf({ counters: c }: Counted): number[] {
  const deliverGet = c.delivered + c.deliveredNoAck + c.got + c.gotNoAck;
  return [c.published, c.delivered, c.deliveredNoAck, c.got, c.gotNoAck, deliverGet, c.redelivered, c.acknowledged, c.unroutable, deaths(c.deadLettered), c.deadLetterDropped];
}

/** Whether anything happened to a queue's messages: an enqueue, a delivery or get, or a death (a restored message can expire untouched). */
const anythingHappened = ({ counters: c }: Counted): boolean =>
  c.published + c.delivered + c.deliveredNoAck + c.got + c.gotNoAck + deaths(c.deadLettered) + deaths(c.deadDropped) > 0;

/** Indexes into NAMES of what a view shows; a queue's leaves out `drop_unroutable`: routing happens before a queue. */
const ALL_FIELDS = NAMES.map((_, i) => i);
const QUEUE_FIELDS = ALL_FIELDS.filter((i) => NAMES[i] !== 'drop_unroutable');

function view(counts: number[], rates: number[], shown: number[]): MessageStatsView {
  const stats: MessageStatsView = {};
  for (const i of shown) {
    stats[NAMES[i]] = counts[i];
    stats[DETAILS[i]] = { rate: Math.round(rates[i] * 10) / 10 };
  }
  return stats;
}

/** A vhost's broker or a queue: something that counts what happens to its messages. */
export interface Counted {
  readonly counters: MessageCounters;
}

/** The counts of NAMES at one moment. */
interface Sample {
  at: number;
  counts: number[];
}

export type MessageStatsView = Record<string, number | { rate: number }>;

/** Two nodes' `message_stats` of one object as one: counts and rates added. */
export function addStats(a: MessageStatsView | undefined, b: MessageStatsView | undefined): MessageStatsView | undefined {
  if (!a || !b) return a ?? b;
  const sum: MessageStatsView = { ...a };
  for (const [name, value] of Object.entries(b)) {
    const mine = sum[name];
    if (typeof value === 'number') sum[name] = (typeof mine === 'number' ? mine : 0) + value;
    else sum[name] = { rate: Math.round(((typeof mine === 'object' ? mine.rate : 0) + value.rate) * 10) / 10 };
  }
  return sum;
}

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
  private lastAt: number | undefined;

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
    // What an object not sampled last time had then: nothing (it was idle, or did not exist).
    const idle = { at: this.lastAt ?? at, counts: NAMES.map(() => 0) };
    this.lastAt = at;
    const seen = new Set<Counted>();
    for (const object of this.counted()) {
      // An idle queue's rates are zero without a sample: most of 10,000 queues cost nothing here.
      if (!anythingHappened(object)) continue;
      seen.add(object);
      const latest = { at, counts: countsOf(object) };
      const known = this.samples.get(object);
      this.samples.set(object, { previous: known?.latest ?? idle, latest });
    }
    // A deleted vhost or queue is gone: forget it.
    for (const object of this.samples.keys()) if (!seen.has(object)) this.samples.delete(object);
  }

  /** RabbitMQ's `message_stats` summed over vhosts' brokers: each count since start-up, with `<name>_details: {rate}`. */
  of(objects: Iterable<Counted>): MessageStatsView {
    const totals = NAMES.map(() => 0);
    const rates = NAMES.map(() => 0);
    for (const object of objects) {
      const counts = countsOf(object);
      const objectRates = this.ratesOf(object);
      for (let i = 0; i < NAMES.length; i++) {
        totals[i] += counts[i];
        rates[i] += objectRates[i];
      }
    }
    return view(totals, rates, ALL_FIELDS);
  }

  /** One queue's `message_stats`; undefined (left out, as RabbitMQ does) while nothing happened in it. */
  ofQueue(queue: Counted): MessageStatsView | undefined {
    return anythingHappened(queue) ? view(countsOf(queue), this.ratesOf(queue), QUEUE_FIELDS) : undefined;
  }

  /** Per second, over the last whole interval; zeros before the second sample. */
  private ratesOf(object: Counted): number[] {
    const sample = this.samples.get(object);
    const seconds = sample ? (sample.latest.at - sample.previous.at) / 1000 : 0;
    if (!sample || seconds <= 0) return NAMES.map(() => 0);
    return sample.latest.counts.map((count, i) => (count - sample.previous.counts[i]) / seconds);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
