import { DEFINITIONS_KEYS, type RawDefinitions } from './schema.js';
import type { Definitions } from './types.js';

/**
 * Maps a validated RabbitMQ definitions export to Warren's camelCase definitions. Fields a
 * hand-written file leaves out take the protocol's declare defaults (durable true, autoDelete and
 * internal false, routing key "", destination type "queue", arguments {}). `x-queue-type` is dropped
 * from queue arguments: validation let only "classic" through, and Warren's queues are all classic,
 * so keeping it would only make a client's redeclare without it look like a different queue.
 */
export function toDefinitions(raw: RawDefinitions): Definitions {
  return {
    exchanges: (raw.exchanges ?? []).map((e) => ({
      name: e.name,
      type: e.type,
      durable: e.durable ?? true,
      autoDelete: e.auto_delete ?? false,
      internal: e.internal ?? false,
      arguments: table(e.arguments),
    })),
    queues: (raw.queues ?? []).map((q) => {
      const { 'x-queue-type': _queueType, ...args } = table(q.arguments);
      return { name: q.name, durable: q.durable ?? true, autoDelete: q.auto_delete ?? false, arguments: args };
    }),
    bindings: (raw.bindings ?? []).map((b) => ({
      source: b.source,
      destination: b.destination,
      destinationType: b.destination_type ?? 'queue',
      routingKey: b.routing_key ?? '',
      arguments: table(b.arguments),
    })),
  };
}

/**
 * What a definitions export holds that Warren accepts but does not apply, one sentence each.
 * `at` is the path of the definitions object followed by a dot (`definitions.`), or "" for a bare export.
 */
export function definitionsWarnings(raw: RawDefinitions, at: string): string[] {
  const warnings: string[] = [];
  const users = raw.users?.length ?? 0;
  if (users > 0) {
    warnings.push(
      `${at}users: ${count(users, 'user', 'users')} and their permissions ignored; Warren's users come from the config's "users" list (RabbitMQ password hashes cannot be used)`,
    );
  }
  const policies = raw.policies?.length ?? 0;
  if (policies > 0) {
    warnings.push(
      `${at}policies: ${count(policies, 'policy', 'policies')} ignored; Warren has no policies, so set the equivalent arguments (x-message-ttl, x-dead-letter-exchange, ...) on each queue instead`,
    );
  }
  const parameters = raw.parameters?.length ?? 0;
  if (parameters > 0) {
    warnings.push(
      `${at}parameters: ${count(parameters, 'runtime parameter', 'runtime parameters')} ignored; Warren has no shovels, federation or other plugins`,
    );
  }
  for (const key of Object.keys(raw)) {
    if (!DEFINITIONS_KEYS.includes(key)) warnings.push(`${at === '' ? '' : `${at.slice(0, -1)}: `}unknown field ${JSON.stringify(key)} ignored`);
  }
  return warnings;
}

function table(args: Record<string, unknown> | [] | undefined): Record<string, unknown> {
  return args === undefined || Array.isArray(args) ? {} : { ...args };
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
