import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Authenticator } from '../auth/index.js';
import type { Broker, IoCounts, MessageCounters, Queue, VirtualHosts } from '../broker/index.js';
import type { Transport } from '../transport/index.js';

/** What the metrics read: nothing of it is touched per message; each scrape reads counters and totals. */
export interface MetricsSources {
  readonly vhosts: VirtualHosts;
  readonly transport: Transport;
  readonly auth: Authenticator;
  /** The stores' disk writes; absent for stores that write nothing (tests). */
  readonly io?: IoCounts;
}

const PREFIX = 'warren_';
const DEATH_REASONS = ['expired', 'maxlen', 'rejected', 'delivery_limit'] as const;

/**
 * Prometheus metrics with RabbitMQ's `rabbitmq_prometheus` names, prefix `warren_`
 * (docs/management.md, "Metrics"): `aggregated` for /metrics (the node's totals, Node.js's
 * process metrics), `perObject` for /metrics/per-object (a series per queue). Values are read from
 * the model's totals and counters when scraped, so a scrape costs the same at any message rate.
 */
export function metricsRegistries(sources: MetricsSources): { aggregated: Registry; perObject: Registry } {
  const { vhosts, transport, auth, io } = sources;
  const brokers = (): Broker[] => vhosts.names().map((name) => vhosts.get(name) as Broker);
  const sum = (read: (broker: Broker) => number) => brokers().reduce((total, broker) => total + read(broker), 0);

  const aggregated = new Registry();
  collectDefaultMetrics({ register: aggregated });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      registers: [aggregated],
      collect() {
        this.set(read());
      },
    });
  /** A running total kept elsewhere (the model, the transport, the stores): reset and set at each scrape. */
  const total = (name: string, help: string, read: () => number) =>
    new Counter({
      name: `${PREFIX}${name}`,
      help,
      registers: [aggregated],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  /** One of the model's counters, summed over the vhosts. */
  const counter = (name: string, help: string, read: (counters: MessageCounters) => number) => total(name, help, () => sum((broker) => read(broker.counters)));

  gauge('connections', 'Connections logged in, both protocols', () => sum((broker) => broker.totals.connections));
  gauge('consumers', 'Consumers', () => sum((broker) => broker.totals.consumers));
  gauge('queues', 'Queues', () => sum((broker) => broker.queueCount));
  gauge('queue_messages_ready', 'Messages ready to be delivered to consumers', () => sum((broker) => broker.totals.messagesReady));
  gauge('queue_messages_unacked', 'Messages delivered to consumers but not yet acknowledged', () => sum((broker) => broker.totals.messagesUnacknowledged));
  gauge('queue_messages', 'Sum of ready and unacknowledged messages', () => sum((broker) => broker.totals.messagesReady + broker.totals.messagesUnacknowledged));
  gauge('global_consumers', 'Consumers currently connected', () => sum((broker) => broker.totals.consumers));
  gauge('global_publishers', 'Connections that have published', () => transport.publishers());
  gauge('alarms_memory_used_watermark', 'Is the memory alarm in force? 1 yes, 0 no', () => (transport.alarm?.startsWith('memory') ? 1 : 0));
  gauge('alarms_free_disk_space_watermark', 'Is the disk alarm in force? 1 yes, 0 no', () => (transport.alarm?.startsWith('disk') ? 1 : 0));

  counter('global_messages_received_total', 'Messages published to an exchange', (c) => c.published);
  counter('global_messages_routed_total', 'Messages published that reached at least one queue', (c) => c.published - c.unroutable);
  counter('global_messages_unroutable_dropped_total', 'Messages published that reached no queue', (c) => c.unroutable);
  counter('global_messages_delivered_total', 'Messages delivered to consumers and gets', (c) => c.delivered + c.deliveredNoAck + c.got + c.gotNoAck);
  counter('global_messages_delivered_consume_manual_ack_total', 'Messages delivered to consumers that acknowledge', (c) => c.delivered);
  counter('global_messages_delivered_consume_auto_ack_total', 'Messages delivered to noAck consumers', (c) => c.deliveredNoAck);
  counter('global_messages_delivered_get_manual_ack_total', 'Messages taken with get, to acknowledge', (c) => c.got);
  counter('global_messages_delivered_get_auto_ack_total', 'Messages taken with get, noAck', (c) => c.gotNoAck);
  counter('global_messages_redelivered_total', 'Messages delivered again after being returned to their queue', (c) => c.redelivered);
  counter('global_messages_acknowledged_total', 'Messages acknowledged by consumers', (c) => c.acknowledged);
  for (const reason of DEATH_REASONS) {
    new Counter({
      name: `${PREFIX}global_messages_dead_lettered_${reason}_total`,
      help: `Messages that died (${reason}): dead_letter_strategy "at_most_once" when their queue had a dead-letter exchange, "disabled" when they were dropped`,
      labelNames: ['dead_letter_strategy'],
      registers: [aggregated],
      collect() {
        this.reset();
        this.inc({ dead_letter_strategy: 'at_most_once' }, sum((broker) => broker.counters.deadLettered[reason]));
        this.inc({ dead_letter_strategy: 'disabled' }, sum((broker) => broker.counters.deadDropped[reason]));
      },
    });
  }
  total('global_messages_confirmed_total', 'Publishes confirmed to their publishers', () => transport.confirmed);
  if (io) {
    total('io_write_bytes_total', 'Bytes the journals wrote to disk', () => io.writtenBytes);
    total('io_sync_ops_total', 'synced writes of the journals and streams (O_DSYNC writes or fdatasync calls)', () => io.syncs);
  }
  total('auth_attempts_failed_total', 'Logins and management API requests refused for their credentials', () => auth.failedLogins);

  const perObject = new Registry();
  const queueGauge = (name: string, help: string, read: (queue: Queue) => number) =>
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      labelNames: ['vhost', 'queue'],
      registers: [perObject],
      collect() {
        this.reset();
        for (const vhost of vhosts.names()) for (const queue of (vhosts.get(vhost) as Broker).allQueues()) this.set({ vhost, queue: queue.name }, read(queue));
      },
    });
  queueGauge('queue_messages_ready', 'Messages ready to be delivered to consumers', (queue) => queue.messageCount);
  queueGauge('queue_messages_unacked', 'Messages delivered to consumers but not yet acknowledged', (queue) => queue.unacknowledgedCount);
  queueGauge('queue_messages', 'Sum of ready and unacknowledged messages', (queue) => queue.messageCount + queue.unacknowledgedCount);
  queueGauge('queue_consumers', 'Consumers on a queue', (queue) => queue.consumers.length);
  queueGauge('queue_messages_delayed', "Messages waiting for their x-delay or the queue's x-retry-delays (Warren's own)", (queue) => queue.waitingCount);
  return { aggregated, perObject };
}
