import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { EXCHANGE_TYPES, MAX_FETCH } from '../broker/index.js';

// docs/protocol.md, "Requests and replies": one JSON schema per op, unknown fields refused, compiled once at start-up.

const id = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER };
const name = { type: 'string', minLength: 1, maxBytes: 255 };
/** Exchange references may name the default exchange `""`; the broker decides what is allowed on it. */
const exchangeRef = { type: 'string', maxBytes: 255 };
const routingKey = { type: 'string', maxBytes: 255 };
const table = { type: 'object' };
const flag = { type: 'boolean' };
const deliveryTag = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER };
const streamOffset = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
/** A stream's consumer group (`x-stream-consumer`). */
const groupName = { type: 'string', minLength: 1, maxLength: 255 };
const shortString = { type: 'string', maxBytes: 255 };

const properties = {
  type: 'object',
  additionalProperties: false,
  properties: {
    persistent: flag,
    priority: { type: 'integer', minimum: 0, maximum: 255 },
    expiration: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    timestamp: { type: 'integer' },
    messageId: shortString,
    correlationId: shortString,
    replyTo: shortString,
    contentType: shortString,
    type: shortString,
    appId: shortString,
  },
};

function frame(op: string, fields: Record<string, object>, required: string[], withId: 'required' | 'optional' | 'none') {
  const all: Record<string, object> = { op: { const: op }, ...fields };
  if (withId !== 'none') all.id = id;
  return {
    type: 'object',
    additionalProperties: false,
    properties: all,
    required: ['op', ...(withId === 'required' ? ['id'] : []), ...required],
  };
}

const schemas = {
  connect: frame(
    'connect',
    {
      version: { const: 1 },
      username: { type: 'string' },
      password: { type: 'string' },
      token: { type: 'string' },
      vhost: { type: 'string', minLength: 1, maxBytes: 255 },
      clientName: { type: 'string', maxBytes: 255 },
    },
    ['version'],
    'required',
  ),
  'exchange.declare': frame(
    'exchange.declare',
    { exchange: exchangeRef, type: { enum: EXCHANGE_TYPES }, durable: flag, autoDelete: flag, internal: flag, passive: flag, arguments: table },
    ['exchange'],
    'required',
  ),
  'exchange.delete': frame('exchange.delete', { exchange: exchangeRef, ifUnused: flag }, ['exchange'], 'required'),
  'exchange.bind': frame('exchange.bind', { destination: exchangeRef, source: exchangeRef, routingKey, arguments: table }, ['destination', 'source'], 'required'),
  'exchange.unbind': frame('exchange.unbind', { destination: exchangeRef, source: exchangeRef, routingKey, arguments: table }, ['destination', 'source'], 'required'),
  'queue.declare': frame(
    'queue.declare',
    { queue: { type: 'string', maxBytes: 255 }, durable: flag, exclusive: flag, autoDelete: flag, passive: flag, arguments: table },
    [],
    'required',
  ),
  'queue.bind': frame('queue.bind', { queue: name, exchange: exchangeRef, routingKey, arguments: table }, ['queue', 'exchange'], 'required'),
  'queue.unbind': frame('queue.unbind', { queue: name, exchange: exchangeRef, routingKey, arguments: table }, ['queue', 'exchange'], 'required'),
  'queue.purge': frame('queue.purge', { queue: name }, ['queue'], 'required'),
  'queue.delete': frame('queue.delete', { queue: name, ifUnused: flag, ifEmpty: flag }, ['queue'], 'required'),
  publish: frame('publish', { exchange: exchangeRef, routingKey, payload: {}, headers: table, properties, mandatory: flag }, ['payload'], 'optional'),
  consume: frame(
    'consume',
    {
      queue: name,
      consumerTag: name,
      prefetch: { type: 'integer', minimum: 0, maximum: 65535 },
      noAck: flag,
      exclusive: flag,
      priority: { type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 },
      arguments: table,
    },
    ['queue'],
    'required',
  ),
  cancel: frame('cancel', { consumerTag: name }, ['consumerTag'], 'required'),
  get: frame('get', { queue: name, noAck: flag }, ['queue'], 'required'),
  'auth.refresh': frame('auth.refresh', { token: { type: 'string', minLength: 1 } }, ['token'], 'required'),
  fetch: frame('fetch', { queue: name, offset: streamOffset, max: { type: 'integer', minimum: 1, maximum: MAX_FETCH } }, ['queue', 'offset'], 'required'),
  commit: frame('commit', { queue: name, consumer: groupName, offset: streamOffset }, ['queue', 'consumer', 'offset'], 'required'),
  committed: frame('committed', { queue: name, consumer: groupName }, ['queue', 'consumer'], 'required'),
  ack: frame('ack', { deliveryTag, multiple: flag }, ['deliveryTag'], 'none'),
  nack: frame('nack', { deliveryTag, multiple: flag, requeue: flag }, ['deliveryTag'], 'none'),
  reject: frame('reject', { deliveryTag, requeue: flag }, ['deliveryTag'], 'none'),
} as const;

export type Op = keyof typeof schemas;

const ajv = new Ajv({ allErrors: false, strict: true });
ajv.addKeyword({
  keyword: 'maxBytes',
  type: 'string',
  schemaType: 'number',
  // Names and keys are limited in UTF-8 bytes, as in AMQP; ajv's maxLength counts characters.
  validate: (limit: number, data: string) => data.length <= limit / 3 || Buffer.byteLength(data, 'utf8') <= limit,
});

const validators = new Map<string, ValidateFunction>(Object.entries(schemas).map(([op, schema]) => [op, ajv.compile(schema)]));

/** The compiled validator for `op`, or undefined for an unknown op. */
export const validatorFor = (op: string): ValidateFunction | undefined => validators.get(op);

/** An ajv error as a sentence that names the field. */
export function describeSchemaError(op: string, error: ErrorObject | undefined): string {
  if (!error) return `${op}: the frame is invalid`;
  const field = error.instancePath === '' ? '' : error.instancePath.slice(1).replaceAll('/', '.');
  switch (error.keyword) {
    case 'additionalProperties':
      return `${op}: unknown field "${[field, (error.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join('.')}"`;
    case 'required':
      return `${op}: missing required field "${[field, (error.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.')}"`;
    case 'enum':
      return `${op}: ${field} must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'maxBytes':
      return `${op}: ${field} must be at most ${error.schema as number} UTF-8 bytes`;
    case 'const':
      return `${op}: ${field} must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return `${op}: ${field || 'frame'} ${error.message ?? 'is invalid'}`;
  }
}
