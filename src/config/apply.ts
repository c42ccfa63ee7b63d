import type { AccountBook } from '../auth/index.js';
import { BrokerError, checkPolicy, checkQueueArguments, type Broker, type VirtualHosts } from '../broker/index.js';
import type { Definitions } from './types.js';

/** Definitions that cannot be applied as they are; the message has one line per entry, naming it. */
export class DefinitionsError extends Error {
  override name = 'DefinitionsError';

  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

/** Where definitions go: the vhosts, and the users and permissions. */
export interface DefinitionsTarget {
  readonly vhosts: VirtualHosts;
  readonly accounts: AccountBook;
}

/**
 * Applies definitions as RabbitMQ imports them, merging into what exists: vhosts, users,
 * permissions, topic permissions, then in each vhost its policies, exchanges, queues and bindings.
 * Every entry is checked first against what exists and what the definitions hold before it, and
 * nothing is applied while any is refused (DefinitionsError, one line per entry). `at` is put
 * before each entry's path (`definitions.`, or "" for a bare export).
 */
export async function applyDefinitions(target: DefinitionsTarget, definitions: Definitions, at: string): Promise<void> {
  const problems = checkDefinitions(target.vhosts, definitions, at);
  if (problems.length > 0) throw new DefinitionsError(problems);
  const { vhosts, accounts } = target;
  for (const name of definitions.vhosts) await vhosts.add(name);
  for (const user of definitions.users) accounts.putUser(user);
  for (const permission of definitions.permissions) accounts.putPermission(permission);
  for (const topic of definitions.topicPermissions) accounts.putTopicPermission(topic);
  const brokerOf = (vhost: string) => vhosts.get(vhost) as Broker;
  for (const { vhost, ...policy } of definitions.policies) brokerOf(vhost).setPolicy(policy);
  for (const { vhost, name, type, ...options } of definitions.exchanges) brokerOf(vhost).declareExchange(name, type, options, false);
  for (const { vhost, name, durable, autoDelete, arguments: args } of definitions.queues) {
    brokerOf(vhost).declareQueue(null, name, { durable, exclusive: false, autoDelete, arguments: args }, false);
  }
  for (const binding of definitions.bindings) {
    const broker = brokerOf(binding.vhost);
    if (binding.destinationType === 'queue') broker.bindQueue(null, binding.destination, binding.source, binding.routingKey, binding.arguments);
    else broker.bindExchange(binding.destination, binding.source, binding.routingKey, binding.arguments);
  }
}

/** What applying would refuse, one sentence per entry; the users and permissions were checked when the definitions were validated. */
function checkDefinitions(vhosts: VirtualHosts, definitions: Definitions, at: string): string[] {
  const problems: string[] = [];
  const attempt = (path: string, check: () => void) => {
    try {
      check();
    } catch (error) {
      if (!(error instanceof BrokerError)) throw error;
      problems.push(`${path}: ${error.message}`);
    }
  };
  // What the definitions declare, by vhost and name, so that later entries can name earlier ones.
  const exchanges = new Map<string, string>();
  const queues = new Map<string, string>();
  const key = (vhost: string, name: string) => JSON.stringify([vhost, name]);
  const declaredTwice = (seen: Map<string, string>, vhost: string, name: string, what: string, properties: unknown) => {
    const json = JSON.stringify(properties);
    const earlier = seen.get(key(vhost, name));
    if (earlier !== undefined && earlier !== json) throw new BrokerError('PRECONDITION_FAILED', `${what} "${name}" is declared earlier in the definitions with other properties`);
    seen.set(key(vhost, name), json);
  };
  definitions.policies.forEach(({ vhost: _vhost, ...policy }, i) => attempt(`${at}policies[${i}] (${policy.name})`, () => checkPolicy(policy)));
  definitions.exchanges.forEach(({ vhost, name, type, ...options }, i) =>
    attempt(`${at}exchanges[${i}] (${name})`, () => {
      declaredTwice(exchanges, vhost, name, 'exchange', { type, ...options });
      vhosts.get(vhost)?.checkExchangeDeclare(name, type, options);
    }),
  );
  definitions.queues.forEach(({ vhost, name, durable, autoDelete, arguments: args }, i) =>
    attempt(`${at}queues[${i}] (${name})`, () => {
      const options = { durable, exclusive: false, autoDelete, arguments: args };
      declaredTwice(queues, vhost, name, 'queue', options);
      const broker = vhosts.get(vhost);
      if (broker) broker.checkQueueDeclare(null, name, options);
      else checkQueueArguments(name, options);
    }),
  );
  definitions.bindings.forEach((binding, i) =>
    attempt(`${at}bindings[${i}] (${binding.source} -> ${binding.destination})`, () => {
      const broker = vhosts.get(binding.vhost);
      const exchangeExists = (name: string) => exchanges.has(key(binding.vhost, name)) || broker?.getExchange(name) !== undefined;
      if (!exchangeExists(binding.source)) throw new BrokerError('NOT_FOUND', `exchange "${binding.source}" does not exist and the definitions do not declare it`);
      const destinationExists = binding.destinationType === 'queue' ? queues.has(key(binding.vhost, binding.destination)) || broker?.getQueue(binding.destination) !== undefined : exchangeExists(binding.destination);
      if (!destinationExists) throw new BrokerError('NOT_FOUND', `${binding.destinationType} "${binding.destination}" does not exist and the definitions do not declare it`);
    }),
  );
  return problems;
}
