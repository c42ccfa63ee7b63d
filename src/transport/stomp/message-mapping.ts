import { MAX_DELAY_MS, type Headers, type Message, type MessageProperties, type QueueEntry } from '../../broker/index.js';
import { formatDestination } from './destination.js';
import { escapeHeader, StompError, type StompVersion } from './frame.js';
import { booleanHeader, integerHeader, QUEUE_ARGUMENTS } from './headers.js';

// How a STOMP frame becomes a Warren message and back (docs/stomp.md, "Bodies and headers").

/** Header names that map to message properties, both ways. */
const PROPERTY_HEADERS = ['content-type', 'persistent', 'priority', 'expiration', 'timestamp', 'correlation-id', 'reply-to', 'type', 'app-id', 'amqp-message-id'] as const;

/** SEND headers that steer the frame or a queue declare: never copied into the message's headers. */
const CONTROL_HEADERS: ReadonlySet<string> = new Set([
  'destination',
  'receipt',
  'transaction',
  'content-length',
  'durable',
  'auto-delete',
  'exclusive',
  'x-queue-name',
  ...PROPERTY_HEADERS,
  ...Object.keys(QUEUE_ARGUMENTS),
]);

/** MESSAGE headers the broker sets; a message header of the same name is not sent (it would be shadowed). */
const DELIVERY_HEADERS: ReadonlySet<string> = new Set(['subscription', 'destination', 'message-id', 'ack', 'redelivered', 'content-length', ...PROPERTY_HEADERS]);

const MAX_PROPERTY_BYTES = 255;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Whether a content type is JSON: `application/json`, with any parameters. */
const isJson = (contentType: string | undefined): boolean => contentType !== undefined && /^\s*application\/json\s*(;|$)/i.test(contentType);

/**
 * The message a SEND publishes. The body is UTF-8 text; with `content-type: application/json` and
 * a body that parses, the payload is that JSON value, otherwise it is the text (a JSON string).
 * `replyTo` is the already-resolved `reply-to` (a `/temp-queue/` is rewritten by the session).
 */
export function messageFromSend(exchange: string, routingKey: string, headers: Map<string, string>, body: Buffer, replyTo: string | undefined): Message {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new StompError('the SEND body is not valid UTF-8: Warren carries text and JSON bodies; encode binary data (base64, say) before sending it');
  }
  const contentType = headers.get('content-type');
  let payload: string | undefined;
  if (isJson(contentType)) {
    try {
      JSON.parse(text);
      payload = text;
    } catch {
      // Not JSON after all: carried as text.
    }
  }
  payload ??= JSON.stringify(text);
  const properties: MessageProperties = {};
  if (contentType !== undefined) properties.contentType = propertyString('content-type', contentType);
  const persistent = headers.get('persistent');
  if (persistent !== undefined) properties.persistent = booleanHeader('persistent', persistent);
  const priority = headers.get('priority');
  if (priority !== undefined) properties.priority = integerHeader('priority', priority, 0, 255);
  const expiration = headers.get('expiration');
  if (expiration !== undefined) properties.expiration = integerHeader('expiration', expiration, 0);
  const timestamp = headers.get('timestamp');
  if (timestamp !== undefined) properties.timestamp = integerHeader('timestamp', timestamp, -Number.MAX_SAFE_INTEGER);
  const strings: [string, 'correlationId' | 'type' | 'appId' | 'messageId'][] = [
    ['correlation-id', 'correlationId'],
    ['type', 'type'],
    ['app-id', 'appId'],
    ['amqp-message-id', 'messageId'],
  ];
  for (const [header, property] of strings) {
    const value = headers.get(header);
    if (value !== undefined) properties[property] = propertyString(header, value);
  }
  if (replyTo !== undefined) properties.replyTo = propertyString('reply-to', replyTo);
  // A null prototype: a header named __proto__ is a header like any other.
  const messageHeaders = Object.create(null) as Headers;
  for (const [name, value] of headers) if (!CONTROL_HEADERS.has(name)) messageHeaders[name] = value;
  // A number for the broker, as RabbitMQ's delayed-message exchange reads it (docs/stomp.md).
  const delay = headers.get('x-delay');
  if (delay !== undefined) messageHeaders['x-delay'] = integerHeader('x-delay', delay, 0, MAX_DELAY_MS);
  return { exchange, routingKey, payload, size: Buffer.byteLength(payload, 'utf8'), headers: messageHeaders, properties };
}

function propertyString(header: string, value: string): string {
  if (Buffer.byteLength(value, 'utf8') > MAX_PROPERTY_BYTES) throw new StompError(`header ${header} must be at most ${MAX_PROPERTY_BYTES} UTF-8 bytes`);
  return value;
}

// The part of a MESSAGE frame that depends only on the message, per escaping version: a fan-out to
// many STOMP subscribers encodes it once. Redeliveries (with x-delivery-count) are encoded each time.
const encodedByVersion: Record<StompVersion, WeakMap<Message, string>> = { '1.0': new WeakMap(), '1.1': new WeakMap(), '1.2': new WeakMap() };

/**
 * A MESSAGE frame's headers after `subscription`, `message-id`, `ack` and `redelivered`: the
 * destination, the properties and headers of the message, then its body.
 */
export function messageTail(entry: QueueEntry, version: StompVersion): string {
  const message = entry.message;
  if (entry.returns > 0) return encodeTail(message, { ...message.headers, 'x-delivery-count': entry.returns }, version);
  const cache = encodedByVersion[version];
  let tail = cache.get(message);
  if (tail === undefined) cache.set(message, (tail = encodeTail(message, message.headers, version)));
  return tail;
}

function encodeTail(message: Message, headers: Headers, version: StompVersion): string {
  const { body, contentType } = stompBody(message);
  const p = message.properties;
  let text = `\ndestination:${escapeHeader(formatDestination(message.exchange, message.routingKey), version)}`;
  const add = (name: string, value: string) => (text += `\n${name}:${escapeHeader(value, version)}`);
  if (contentType !== undefined) add('content-type', contentType);
  if (p.persistent === true) add('persistent', 'true');
  if (p.priority !== undefined) add('priority', String(p.priority));
  if (p.expiration !== undefined) add('expiration', String(p.expiration));
  if (p.timestamp !== undefined) add('timestamp', String(p.timestamp));
  if (p.correlationId !== undefined) add('correlation-id', p.correlationId);
  if (p.replyTo !== undefined) add('reply-to', p.replyTo);
  if (p.type !== undefined) add('type', p.type);
  if (p.appId !== undefined) add('app-id', p.appId);
  if (p.messageId !== undefined) add('amqp-message-id', p.messageId);
  for (const name of Object.keys(headers)) {
    if (DELIVERY_HEADERS.has(name) || (version === '1.0' && /[:\r\n]/.test(name)) || name === '') continue;
    const value = headers[name];
    text += `\n${escapeHeader(name, version)}:${escapeHeader(typeof value === 'string' ? value : JSON.stringify(value), version)}`;
  }
  return `${text}\ncontent-length:${Buffer.byteLength(body, 'utf8')}\n\n${body}\0`;
}

/**
 * A MESSAGE body: a string payload is sent as its text, unless the message says it is JSON; any
 * other payload is sent as JSON text with `content-type: application/json` (or the message's own).
 * So a MESSAGE labelled application/json always has a body that parses to the payload.
 */
export function stompBody(message: Message): { body: string; contentType: string | undefined } {
  const contentType = message.properties.contentType;
  if (message.payload.startsWith('"') && !isJson(contentType)) return { body: JSON.parse(message.payload) as string, contentType };
  return { body: message.payload, contentType: contentType ?? 'application/json' };
}
