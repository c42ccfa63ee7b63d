import type { QueueOptions } from '../../broker/index.js';
import { StompError } from './frame.js';

// Reading typed values out of a frame's headers; each bad value is a StompError naming the header.

/** Queue arguments a SEND or SUBSCRIBE may carry as headers, with the type each one's value has. */
export const QUEUE_ARGUMENTS: Readonly<Record<string, 'integer' | 'boolean' | 'string'>> = {
  'x-message-ttl': 'integer',
  'x-expires': 'integer',
  'x-max-length': 'integer',
  'x-max-length-bytes': 'integer',
  'x-delivery-limit': 'integer',
  'x-max-priority': 'integer',
  'x-consumer-timeout': 'integer',
  'x-single-active-consumer': 'boolean',
  'x-overflow': 'string',
  'x-dead-letter-exchange': 'string',
  'x-dead-letter-routing-key': 'string',
  'x-queue-type': 'string',
  'x-queue-mode': 'string',
};

/** A header the frame must have. */
export function required(headers: Map<string, string>, name: string, command: string): string {
  const value = headers.get(name);
  if (value !== undefined) return value;
  if (name === 'destination') {
    throw new StompError(`${command} needs a destination header, such as /queue/<name>, /topic/<routing key>, /exchange/<name>/<routing key> or /amq/queue/<name>`);
  }
  throw new StompError(`${command} needs a ${name} header`);
}

/** `true` or `false` (in any case), as STOMP headers write them. */
export function booleanHeader(name: string, value: string): boolean {
  const lower = value.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw new StompError(`header ${name} must be true or false (got ${JSON.stringify(value.slice(0, 40))})`);
}

export function optionalBoolean(headers: Map<string, string>, name: string): boolean | undefined {
  const value = headers.get(name);
  return value === undefined ? undefined : booleanHeader(name, value);
}

export function integerHeader(name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const number = /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new StompError(`header ${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(value.slice(0, 40))})`);
  }
  return number;
}

/** The id an ACK or NACK names: `id` (STOMP 1.2, the MESSAGE's ack header) or `message-id` (1.0, 1.1). */
export function ackId(headers: Map<string, string>, command: string): string {
  const id = headers.get('id') ?? headers.get('message-id');
  if (id === undefined) throw new StompError(`${command} needs an id header: the value of the ack header of the MESSAGE it settles`);
  return id;
}

/** The queue arguments among a frame's headers, typed as the broker expects them. */
export function queueArguments(headers: Map<string, string>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(QUEUE_ARGUMENTS)) {
    const value = headers.get(name);
    if (value === undefined) continue;
    if (type === 'integer') args[name] = integerHeader(name, value, -Number.MAX_SAFE_INTEGER);
    else if (type === 'boolean') args[name] = booleanHeader(name, value);
    else args[name] = value;
  }
  return args;
}

/**
 * Queue properties from a frame's durable, auto-delete, exclusive and x- headers over `defaults`;
 * with `persistentAlias` (SUBSCRIBE), `persistent` is read as durable's old name, as in RabbitMQ.
 */
export function queueOptions(
  headers: Map<string, string>,
  defaults: { durable: boolean; exclusive: boolean; autoDelete: boolean },
  persistentAlias: boolean,
): QueueOptions {
  const durable = optionalBoolean(headers, 'durable') ?? (persistentAlias ? optionalBoolean(headers, 'persistent') : undefined);
  return {
    durable: durable ?? defaults.durable,
    exclusive: optionalBoolean(headers, 'exclusive') ?? defaults.exclusive,
    autoDelete: optionalBoolean(headers, 'auto-delete') ?? defaults.autoDelete,
    arguments: queueArguments(headers),
  };
}
