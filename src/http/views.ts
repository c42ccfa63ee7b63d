import type { Binding, Exchange, Queue, VhostTotals } from '../broker/index.js';
import { propertiesKey } from './body.js';

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
