import { preconditionFailed } from './errors.js';

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

/** A queue's `x-` arguments, checked once at declare time (docs/protocol.md, "Queue arguments"). */
export interface QueueArguments {
  messageTtl?: number;
  expires?: number;
  maxLength?: number;
  maxLengthBytes?: number;
  overflow: Overflow;
  deadLetterExchange?: string;
  deadLetterRoutingKey?: string;
  deliveryLimit?: number;
  maxPriority?: number;
  singleActiveConsumer: boolean;
  /** Acknowledgement timeout for this queue's consumers, in ms. */
  consumerTimeout?: number;
}

const OVERFLOWS: readonly string[] = ['drop-head', 'reject-publish', 'reject-publish-dlx'];

/** What a queue declared without arguments has; one object for all of them. */
const NO_ARGUMENTS: QueueArguments = Object.freeze({ overflow: 'drop-head', singleActiveConsumer: false });

/** Validates a queue's arguments; an invalid value is PRECONDITION_FAILED, unknown keys are ignored as RabbitMQ does. */
export function parseQueueArguments(args: Record<string, unknown>): QueueArguments {
  if (Object.keys(args).length === 0) return NO_ARGUMENTS;
  // Only absent arguments take their defaults; `null` is an invalid value like any other.
  const overflow = args['x-overflow'] === undefined ? 'drop-head' : args['x-overflow'];
  if (typeof overflow !== 'string' || !OVERFLOWS.includes(overflow)) {
    throw invalid('x-overflow', overflow, `one of ${OVERFLOWS.join(', ')}`);
  }
  const sac = args['x-single-active-consumer'] === undefined ? false : args['x-single-active-consumer'];
  if (typeof sac !== 'boolean') throw invalid('x-single-active-consumer', sac, 'true or false');
  const parsed: QueueArguments = {
    messageTtl: integer(args, 'x-message-ttl', 0),
    expires: integer(args, 'x-expires', 1),
    maxLength: integer(args, 'x-max-length', 0),
    maxLengthBytes: integer(args, 'x-max-length-bytes', 0),
    overflow: overflow as Overflow,
    deadLetterExchange: string(args, 'x-dead-letter-exchange'),
    deadLetterRoutingKey: string(args, 'x-dead-letter-routing-key'),
    deliveryLimit: integer(args, 'x-delivery-limit', 0),
    maxPriority: integer(args, 'x-max-priority', 1, 255),
    singleActiveConsumer: sac,
    consumerTimeout: integer(args, 'x-consumer-timeout', 1),
  };
  if (parsed.deadLetterRoutingKey !== undefined && parsed.deadLetterExchange === undefined) {
    throw preconditionFailed('queue argument x-dead-letter-routing-key needs x-dead-letter-exchange as well');
  }
  return parsed;
}

function integer(args: Record<string, unknown>, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(key, value, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`);
  }
  return value;
}

function string(args: Record<string, unknown>, key: string): string | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(key, value, 'a string');
  return value;
}

const invalid = (key: string, value: unknown, expected: string) =>
  preconditionFailed(`queue argument ${key} must be ${expected} (got ${JSON.stringify(value)})`);
