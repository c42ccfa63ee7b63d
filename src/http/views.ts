import { StreamQueue, type Binding, type Consumer, type Exchange, type Queue, type VhostTotals } from '../broker/index.js';
import { availableParallelism } from 'node:os';
import type { ConnectionDetails, Transport } from '../transport/index.js';
import { propertiesKey } from './body.js';
import type { MessageStatsView } from './message-stats.js';

// The JSON of each object as RabbitMQ's management API names its fields (docs/management.md).

export function queueView(queue: Queue, vhost: string, node: string, messageStats: MessageStatsView | undefined) {
  const ready = queue.messageCount;
  const unacknowledged = queue.unacknowledgedCount;
  const { durable, autoDelete, exclusive, arguments: args } = queue.options;
  return {
    name: queue.name,
    vhost,
    durable,
    auto_delete: autoDelete,
    exclusive,
    arguments: args,
    messages: ready + unacknowledged,
    messages_ready: ready,
    messages_unacknowledged: unacknowledged,
    // Warren's own: waiting for their x-delay or x-retry-delays (docs/protocol.md, "Delayed redelivery and delayed messages").
    messages_delayed: queue.waitingCount,
    consumers: queue.consumers.length,
    // Undefined (left out of the JSON) while nothing happened in the queue. Not a spread: a
    // spread in the literal makes building 10,000 views several times slower.
    message_stats: messageStats,
    // RabbitMQ's: null without a policy, {} for its definition then.
    policy: queue.policy?.name ?? null,
    effective_policy_definition: queue.policy?.definition.definition ?? {},
    state: 'running',
    type: queue.type,
    node,
    // Warren's own, for a stream (docs/management.md): the offsets it keeps and its size on disk.
    stream: queue instanceof StreamQueue ? streamView(queue) : undefined,
  };
}

/** A stream's offsets, size on disk and consumer groups with their lag (Warren's own). */
function streamView(queue: StreamQueue) {
  return { first_offset: queue.firstOffset, next_offset: queue.nextOffset, bytes: queue.bytes, groups: queue.groupStates() };
}

export function exchangeView(exchange: Exchange, vhost: string) {
  const { durable, autoDelete, internal, arguments: args } = exchange.options;
  const view = { name: exchange.name, vhost, type: exchange.type, durable, auto_delete: autoDelete, internal, arguments: args };
  // As RabbitMQ: the field is there only when a policy applies.
  return exchange.policy ? { ...view, policy: exchange.policy.name } : view;
}

export interface BindingView {
  source: string;
  vhost: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: Record<string, unknown>;
  properties_key: string;
}

export function bindingView(binding: Binding, vhost: string): BindingView {
  const { source, destination, routingKey, arguments: args } = binding;
  return bindingOf(vhost, source.name, destination.kind, destination.name, routingKey, args);
}

/** Every queue's binding from the default exchange, by its name: listed as RabbitMQ lists it. */
export function defaultBindingView(queue: Queue, vhost: string): BindingView {
  return bindingOf(vhost, '', 'queue', queue.name, queue.name, {});
}

function bindingOf(vhost: string, source: string, kind: 'queue' | 'exchange', destination: string, routingKey: string, args: Record<string, unknown>): BindingView {
  return { source, vhost, destination, destination_type: kind, routing_key: routingKey, arguments: args, properties_key: propertiesKey(routingKey, args) };
}

/** Bindings in a stable order: by vhost, source, destination type and name, routing key, properties key. */
export function byBinding(a: BindingView, b: BindingView): number {
  return (
    compare(a.vhost, b.vhost) ||
    compare(a.source, b.source) ||
    compare(a.destination_type, b.destination_type) ||
    compare(a.destination, b.destination) ||
    compare(a.routing_key, b.routing_key) ||
    compare(a.properties_key, b.properties_key)
  );
}

export function messageTotals(totals: Pick<VhostTotals, 'messagesReady' | 'messagesUnacknowledged'>) {
  return {
    messages: totals.messagesReady + totals.messagesUnacknowledged,
    messages_ready: totals.messagesReady,
    messages_unacknowledged: totals.messagesUnacknowledged,
  };
}

export function vhostView(name: string, totals: VhostTotals) {
  return { name, ...messageTotals(totals) };
}

/** RabbitMQ's list order: by vhost, then by name (code unit order). */
export function byVhostAndName(a: { vhost: string; name: string }, b: { vhost: string; name: string }): number {
  return compare(a.vhost, b.vhost) || compare(a.name, b.name);
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An address as RabbitMQ writes it: an IPv4-mapped IPv6 address as plain IPv4. */
function hostText(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

/** RabbitMQ's name for a connection: "peer_host:peer_port -> host:port". */
export function connectionName({ endpoints }: ConnectionDetails): string {
  return `${hostText(endpoints.peerHost)}:${endpoints.peerPort} -> ${hostText(endpoints.host)}:${endpoints.port}`;
}

/** This process as RabbitMQ describes a node; the fields Warren can fill truthfully. */
export function nodeView(node: string, transport: Transport) {
  const alarm = transport.alarm ?? '';
  return {
    name: node,
    type: 'disc',
    running: true,
    uptime: Math.round(process.uptime() * 1000),
    os_pid: String(process.pid),
    mem_used: process.memoryUsage().rss,
    mem_alarm: alarm.startsWith('memory'),
    disk_free_alarm: alarm.startsWith('disk'),
    sockets_used: transport.connections().length,
    processors: availableParallelism(),
    partitions: [],
    rates_mode: 'none',
  };
}

export type NodeView = ReturnType<typeof nodeView>;
export type ConnectionView = ReturnType<typeof connectionView>;
export type QueueView = ReturnType<typeof queueView>;
export type ConsumerView = ReturnType<typeof consumerView>;

export function connectionView(details: ConnectionDetails, node: string) {
  const { endpoints } = details;
  return {
    name: connectionName(details),
    node,
    type: 'network',
    state: 'running',
    user: details.username ?? 'anonymous',
    vhost: details.vhost,
    protocol: details.protocol,
    peer_host: hostText(endpoints.peerHost),
    peer_port: endpoints.peerPort,
    host: hostText(endpoints.host),
    port: endpoints.port,
    ssl: endpoints.ssl,
    connected_at: details.connectedAt,
    // Warren has no channels: a connection is its own single channel.
    channels: 0,
    client_properties: details.clientName === undefined ? {} : { connection_name: details.clientName },
  };
}

export function consumerView(consumer: Consumer, details: ConnectionDetails, node: string) {
  const { queue } = consumer;
  // With x-single-active-consumer only the first consumer is served (in a cluster, on one node); the others wait.
  const active = queue.isActive(consumer);
  return {
    consumer_tag: consumer.tag,
    queue: { name: queue.name, vhost: details.vhost },
    channel_details: {
      connection_name: connectionName(details),
      peer_host: hostText(details.endpoints.peerHost),
      peer_port: details.endpoints.peerPort,
      user: details.username ?? 'anonymous',
      node,
    },
    ack_required: !consumer.noAck,
    prefetch_count: consumer.prefetch,
    exclusive: consumer.exclusive,
    active,
    activity_status: active ? 'up' : 'waiting',
    arguments: consumer.consumeArguments,
  };
}
