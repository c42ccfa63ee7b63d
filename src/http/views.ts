import type { Exchange, Queue, VhostTotals } from '../broker/index.js';

// The JSON of each object as RabbitMQ's management API names its fields (docs/management.md).

export function queueView(queue: Queue, vhost: string, node: string) {
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
    consumers: queue.consumers.length,
    state: 'running',
    type: 'classic',
    node,
  };
}

export function exchangeView(exchange: Exchange, vhost: string) {
  const { durable, autoDelete, internal, arguments: args } = exchange.options;
  return { name: exchange.name, vhost, type: exchange.type, durable, auto_delete: autoDelete, internal, arguments: args };
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
