import { jsonEqual } from './json-equal.js';
import { preconditionFailed } from './errors.js';
import type { QueueOptions } from './types.js';

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

/**
 * `classic`; `quorum`: durable only, with a delivery limit by default (RabbitMQ 4's rules that
 * one node can honour); `stream`: an append-only log read by offset (docs/protocol.md, "Stream queues").
 */
export type QueueType = 'classic' | 'quorum' | 'stream';

/** A quorum queue's `x-delivery-limit` when neither an argument nor a policy sets one (RabbitMQ 4's default). */
export const QUORUM_DELIVERY_LIMIT = 20;

/** A queue's `x-` arguments, checked once at declare time (docs/protocol.md, "Queue arguments"). */
export interface QueueArguments {
  type: QueueType;
  messageTtl?: number;
  expires?: number;
  maxLength?: number;
  maxLengthBytes?: number;
  /** Undefined when the argument is absent (the policy's, or the default, then applies). */
  overflow?: Overflow;
  deadLetterExchange?: string;
  deadLetterRoutingKey?: string;
  deliveryLimit?: number;
  maxPriority?: number;
  singleActiveConsumer: boolean;
  /** Acknowledgement timeout for this queue's consumers, in ms. */
  consumerTimeout?: number;
  /** How long a returned message waits before it is ready again, by its earlier returns (docs/protocol.md, "Delayed redelivery and delayed messages"). */
  retryDelays?: readonly number[];
  /** A stream's retention by age (`x-max-age`), in ms. */
  maxAgeMs?: number;
  /** A stream's segment size (`x-stream-max-segment-size-bytes`). */
  streamSegmentBytes?: number;
}

/** What a queue works by: its arguments and its policy's, combined; `overflow` has its default. */
export type EffectiveArguments = QueueArguments & { overflow: Overflow };

/** The part of a queue's arguments a policy may set (docs/management.md, "Policies"), validated the same way. */
export type PolicyQueueArguments = Pick<QueueArguments, 'messageTtl' | 'expires' | 'maxLength' | 'maxLengthBytes' | 'overflow' | 'deadLetterExchange' | 'deadLetterRoutingKey' | 'deliveryLimit'>;

const OVERFLOWS: readonly string[] = ['drop-head', 'reject-publish', 'reject-publish-dlx'];

/** What a queue declared without arguments has; one object for all of them. */
const NO_ARGUMENTS: QueueArguments = Object.freeze({ type: 'classic', singleActiveConsumer: false });
/** The effective arguments of a queue declared without arguments and without a policy. */
const DEFAULT_ARGUMENTS: EffectiveArguments = Object.freeze({ ...NO_ARGUMENTS, overflow: 'drop-head', deliveryLimit: undefined });

/** Arguments a quorum queue refuses, as RabbitMQ's do. */
const NOT_FOR_QUORUM = ['x-max-priority', 'x-queue-mode', 'x-queue-version'];

/**
 * Validates a queue's properties and arguments; an invalid value is PRECONDITION_FAILED, unknown
 * keys are ignored as RabbitMQ does.
 */
export function parseQueueArguments(name: string, options: QueueOptions): QueueArguments {
  const args = options.arguments;
  if (Object.keys(args).length === 0) return NO_ARGUMENTS;
  const type = queueType(args['x-queue-type']);
  if (type === 'quorum') checkQuorum(name, options);
  if (type === 'stream') return streamArguments(name, options);
  const sac = args['x-single-active-consumer'] === undefined ? false : args['x-single-active-consumer'];
  if (typeof sac !== 'boolean') throw invalid('queue argument x-single-active-consumer', sac, 'true or false');
  const parsed: QueueArguments = {
    type,
    ...limitArguments(args, (key) => `queue argument ${key}`),
    maxPriority: integer(args, 'x-max-priority', 1, 255),
    singleActiveConsumer: sac,
    consumerTimeout: integer(args, 'x-consumer-timeout', 1),
    retryDelays: retryDelays(args['x-retry-delays']),
  };
  if (parsed.deadLetterRoutingKey !== undefined && parsed.deadLetterExchange === undefined) {
    throw preconditionFailed('queue argument x-dead-letter-routing-key needs x-dead-letter-exchange as well');
  }
  return parsed;
}

/**
 * The limits, overflow and dead-lettering of `args`, keyed `x-<key>`; `describe` names a key in
 * an error (a queue argument, or a policy key).
 */
export function limitArguments(args: Record<string, unknown>, describe: (key: string) => string): PolicyQueueArguments {
  const overflow = args['x-overflow'];
  if (overflow !== undefined && (typeof overflow !== 'string' || !OVERFLOWS.includes(overflow))) {
    throw invalid(describe('x-overflow'), overflow, `one of ${OVERFLOWS.join(', ')}`);
  }
  return {
    messageTtl: integer(args, 'x-message-ttl', 0, Number.MAX_SAFE_INTEGER, describe),
    expires: integer(args, 'x-expires', 1, Number.MAX_SAFE_INTEGER, describe),
    maxLength: integer(args, 'x-max-length', 0, Number.MAX_SAFE_INTEGER, describe),
    maxLengthBytes: integer(args, 'x-max-length-bytes', 0, Number.MAX_SAFE_INTEGER, describe),
    overflow: overflow as Overflow | undefined,
    deadLetterExchange: string(args, 'x-dead-letter-exchange', describe),
    deadLetterRoutingKey: string(args, 'x-dead-letter-routing-key', describe),
    deliveryLimit: integer(args, 'x-delivery-limit', 0, Number.MAX_SAFE_INTEGER, describe),
  };
}

/**
 * A queue's arguments with its policy's applied, as RabbitMQ combines them: of two numeric limits
 * the lower wins; for the others the queue's own argument wins over the policy's.
 */
export function effectiveArguments(declared: QueueArguments, policy: PolicyQueueArguments | undefined): EffectiveArguments {
  // Most queues (every browser subscriber's) have neither: they share one object.
  if (declared === NO_ARGUMENTS && !policy) return DEFAULT_ARGUMENTS;
  const deliveryLimit = lower(declared.deliveryLimit, policy?.deliveryLimit) ?? (declared.type === 'quorum' ? QUORUM_DELIVERY_LIMIT : undefined);
  const overflow = declared.overflow ?? policy?.overflow ?? 'drop-head';
  if (!policy) return { ...declared, overflow, deliveryLimit };
  return {
    ...declared,
    messageTtl: lower(declared.messageTtl, policy.messageTtl),
    expires: lower(declared.expires, policy.expires),
    maxLength: lower(declared.maxLength, policy.maxLength),
    maxLengthBytes: lower(declared.maxLengthBytes, policy.maxLengthBytes),
    overflow,
    deadLetterExchange: declared.deadLetterExchange ?? policy.deadLetterExchange,
    deadLetterRoutingKey: declared.deadLetterRoutingKey ?? policy.deadLetterRoutingKey,
    deliveryLimit,
  };
}

/** A redeclare is equivalent when everything is the same, an absent `x-queue-type` meaning `classic` (as RabbitMQ treats it). */
export function sameQueueOptions(a: QueueOptions, b: QueueOptions): boolean {
  return jsonEqual(withoutClassicType(a), withoutClassicType(b));
}

function withoutClassicType(options: QueueOptions): QueueOptions {
  if (options.arguments['x-queue-type'] !== 'classic') return options;
  const { 'x-queue-type': _classic, ...rest } = options.arguments;
  return { ...options, arguments: rest };
}

function queueType(value: unknown): QueueType {
  if (value === undefined || value === 'classic' || value === 'quorum' || value === 'stream') return value ?? 'classic';
  throw invalid('queue argument x-queue-type', value, '"classic", "quorum" or "stream"');
}

/** What a stream cannot have: it keeps every message until retention drops it, and is read by offset. */
const NOT_FOR_STREAMS = [
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-message-ttl',
  'x-max-length',
  'x-max-priority',
  'x-overflow',
  'x-delivery-limit',
  'x-retry-delays',
  'x-single-active-consumer',
  'x-expires',
];

/** A stream's arguments: retention (x-max-age, x-max-length-bytes) and its segment size; the rest is refused. */
function streamArguments(name: string, options: QueueOptions): QueueArguments {
  const refuse = (what: string) => preconditionFailed(`queue "${name}" cannot be a stream queue ${what}`);
  if (!options.durable) throw refuse('that is not durable: streams are always durable');
  if (options.exclusive) throw refuse('that is exclusive');
  if (options.autoDelete) throw refuse('that is auto-delete');
  const args = options.arguments;
  const refused = NOT_FOR_STREAMS.find((key) => args[key] !== undefined);
  if (refused) throw refuse(`with argument ${refused}: streams keep messages until retention (x-max-age, x-max-length-bytes) drops them`);
  return {
    type: 'stream',
    singleActiveConsumer: false,
    maxLengthBytes: integer(args, 'x-max-length-bytes', 1),
    maxAgeMs: maxAge(args['x-max-age']),
    streamSegmentBytes: integer(args, 'x-stream-max-segment-size-bytes', 1),
    consumerTimeout: integer(args, 'x-consumer-timeout', 1),
  };
}

/** RabbitMQ's units of `x-max-age`: Y, M, D, h, m, s (a year 365 days, a month 30). */
const AGE_UNITS_MS: Readonly<Record<string, number>> = { Y: 365 * 86_400_000, M: 30 * 86_400_000, D: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

function maxAge(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const match = typeof value === 'string' ? /^(\d{1,9})([YMDhms])$/.exec(value) : null;
  if (!match || Number(match[1]) === 0) throw invalid('queue argument x-max-age', value, 'a positive whole number and a unit: Y, M, D, h, m or s (e.g. "7D", "12h", "30m")');
  return Number(match[1]) * AGE_UNITS_MS[match[2]];
}

function checkQuorum(name: string, options: QueueOptions): void {
  const refuse = (what: string) => preconditionFailed(`queue "${name}" cannot be a quorum queue ${what}`);
  if (!options.durable) throw refuse('that is not durable: quorum queues are always durable');
  if (options.exclusive) throw refuse('that is exclusive');
  if (options.autoDelete) throw refuse('that is auto-delete');
  const refused = NOT_FOR_QUORUM.find((key) => options.arguments[key] !== undefined);
  if (refused) throw refuse(`with argument ${refused}: quorum queues do not support it`);
}

/** The longest a message may wait, in ms: the longest a timer can be set for. */
export const MAX_DELAY_MS = 2 ** 31 - 1;

function retryDelays(value: unknown): readonly number[] | undefined {
  if (value === undefined) return undefined;
  const isDelay = (delay: unknown) => typeof delay === 'number' && Number.isInteger(delay) && delay >= 0 && delay <= MAX_DELAY_MS;
  if (!Array.isArray(value) || value.length === 0 || !value.every(isDelay)) {
    throw invalid('queue argument x-retry-delays', value, `a non-empty array of delays in ms, each an integer from 0 to ${MAX_DELAY_MS}, e.g. [1000, 5000, 30000]`);
  }
  return value as number[];
}

const lower = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

const asArgument = (key: string) => `queue argument ${key}`;

function integer(args: Record<string, unknown>, key: string, min: number, max = Number.MAX_SAFE_INTEGER, describe = asArgument): number | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(describe(key), value, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`);
  }
  return value;
}

function string(args: Record<string, unknown>, key: string, describe = asArgument): string | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(describe(key), value, 'a string');
  return value;
}

const invalid = (what: string, value: unknown, expected: string) => preconditionFailed(`${what} must be ${expected} (got ${JSON.stringify(value)})`);
