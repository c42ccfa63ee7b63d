import type { Broker, Exchange, Queue } from '../broker/index.js';
import type { AccountBook } from '../auth/index.js';
import { accountsDocument } from '../config/index.js';
import { compare } from './views.js';

type Keep = (entry: { user: string; vhost: string }) => boolean;
const everyEntry: Keep = () => true;

// The users and permissions as RabbitMQ's API and exports give them, from the one AccountBook.
export const userList = (accounts: AccountBook) => accountsDocument(accounts.snapshot()).users.sort((a, b) => compare(a.name, b.name));
export const permissionList = (accounts: AccountBook, keep: Keep = everyEntry) => accountsDocument(accounts.snapshot()).permissions.filter(keep).sort(byVhostAndUser);
export const topicPermissionList = (accounts: AccountBook, keep: Keep = everyEntry) => accountsDocument(accounts.snapshot()).topic_permissions.filter(keep).sort(byVhostAndUser);

/** Permissions sorted by vhost, then user (then exchange), as RabbitMQ lists them. */
function byVhostAndUser(a: { vhost: string; user: string; exchange?: string }, b: { vhost: string; user: string; exchange?: string }): number {
  return compare(a.vhost, b.vhost) || compare(a.user, b.user) || compare(a.exchange ?? '', b.exchange ?? '');
}

/** What RabbitMQ exports: durable queues that are not exclusive (an exclusive queue cannot be restored). */
const exported = (queue: Queue): boolean => queue.options.durable && !queue.options.exclusive;
/** Durable exchanges other than the built-in ones ("" and amq.*), as RabbitMQ exports them. */
const exportedExchange = (exchange: Exchange): boolean => exchange.options.durable && exchange.name !== '' && !exchange.name.startsWith('amq.');

/**
 * A vhost's queues, exchanges and bindings as a definitions export has them: each with its
 * `vhost`, or without when `vhost` is undefined (RabbitMQ's per-vhost export). Bindings are those
 * between exported ends (so never the default exchange's).
 */
export function topology(broker: Broker, vhost: string, withVhost: boolean) {
  const at = withVhost ? { vhost } : {};
  const queues = Array.from(broker.allQueues())
    .filter(exported)
    .map((queue) => ({ name: queue.name, ...at, durable: true, auto_delete: queue.options.autoDelete, arguments: queue.options.arguments, type: queue.type }))
    .sort((a, b) => compare(a.name, b.name));
  const exchanges = Array.from(broker.allExchanges())
    .filter(exportedExchange)
    .map((exchange) => {
      const { durable, autoDelete, internal, arguments: args } = exchange.options;
      return { name: exchange.name, ...at, type: exchange.type, durable, auto_delete: autoDelete, internal, arguments: args };
    })
    .sort((a, b) => compare(a.name, b.name));
  const bindings = Array.from(broker.allExchanges())
    .filter(exportedExchange)
    .flatMap((exchange) => Array.from(exchange.bindings))
    .filter((binding) => (binding.destination.kind === 'queue' ? exported(binding.destination) : exportedExchange(binding.destination)))
    .map((binding) => ({
      source: binding.source.name,
      ...at,
      destination: binding.destination.name,
      destination_type: binding.destination.kind,
      routing_key: binding.routingKey,
      arguments: binding.arguments,
    }))
    .sort((a, b) => compare(a.source, b.source) || compare(a.destination_type, b.destination_type) || compare(a.destination, b.destination) || compare(a.routing_key, b.routing_key));
  const policies = Array.from(broker.allPolicies(), (policy) => {
    const { name, pattern, applyTo, definition, priority } = policy.definition;
    return { ...at, name, pattern, 'apply-to': applyTo, definition, priority };
  }).sort((a, b) => compare(a.name, b.name));
  return { policies, queues, exchanges, bindings };
}
