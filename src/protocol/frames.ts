import { headersJson, propertiesJson, type ErrorCode, type Message, type QueueEntry } from '../broker/index.js';

// Frames the broker sends (docs/protocol.md). Built as strings: a delivery splices in its
// message's encoding, made once per message however many consumers it reaches.

/** The headers or properties of a message that has none: shared, and never serialised. */
export const NO_FIELDS: Readonly<Record<string, never>> = Object.freeze({});

/** `"exchange":…,"routingKey":…,"payload":…,"headers":…,"properties":…}`, cached on the message. */
export function messageBody(message: Message): string {
  return (message.encoded ??= encodeBody(message.exchange, message.routingKey, message.payload, message.headers, message.properties));
}

/**
 * A message from a client's frame, encoded at once, its payload a slice of that encoding. Slicing
 * flattens the encoding, so the message holds one string rather than the pieces it was built
 * from, one of which kept the client's whole WebSocket message alive: queued messages then
 * survived into the old generation with it, and garbage collection took a third of the time.
 */
export function publishedMessage(exchange: string, routingKey: string, payload: string, headers: Message['headers'], properties: Message['properties']): Message {
  const encoded = encodeBody(exchange, routingKey, payload, headers, properties);
  // The prefix is the one just built (bodyPrefix keeps the last), so this is no second encoding.
  const start = bodyPrefix(exchange, routingKey).length;
  return {
    exchange,
    routingKey,
    payload: encoded.slice(start, start + payload.length),
    size: Buffer.byteLength(payload, 'utf8'),
    headers,
    properties,
    encoded,
  };
}

// Publishers mostly repeat the exchange and routing key of their previous message; on a topic
// exchange the key often changes while the exchange does not.
let lastExchange = '';
let lastExchangePrefix = '"exchange":"","routingKey":';
let lastRoutingKey = '';
let lastPrefix = '"exchange":"","routingKey":"","payload":';

function bodyPrefix(exchange: string, routingKey: string): string {
  if (exchange !== lastExchange) {
    lastExchange = exchange;
    lastExchangePrefix = `"exchange":${JSON.stringify(exchange)},"routingKey":`;
  } else if (routingKey === lastRoutingKey) {
    return lastPrefix;
  }
  lastRoutingKey = routingKey;
  lastPrefix = `${lastExchangePrefix}${JSON.stringify(routingKey)},"payload":`;
  return lastPrefix;
}

// Publishers mostly repeat their fields too: the same text is then used again, not built anew.
let lastHeadersJson = '{}';
let lastPropertiesJson = '{}';
let lastSuffix = ',"headers":{},"properties":{}}';

function bodySuffix(headers: Message['headers'], properties: Message['properties']): string {
  const headersText = headers === NO_FIELDS ? '{}' : headersJson.of(headers);
  const propertiesText = properties === NO_FIELDS ? '{}' : propertiesJson.of(properties);
  if (headersText !== lastHeadersJson || propertiesText !== lastPropertiesJson) {
    lastHeadersJson = headersText;
    lastPropertiesJson = propertiesText;
    lastSuffix = `,"headers":${headersText},"properties":${propertiesText}}`;
  }
  return lastSuffix;
}

function encodeBody(exchange: string, routingKey: string, payload: string, headers: Message['headers'], properties: Message['properties']): string {
  return `${bodyPrefix(exchange, routingKey)}${payload}${bodySuffix(headers, properties)}`;
}

/** A redelivery carries `x-delivery-count`, so it cannot share the cached encoding. */
function entryBody(entry: QueueEntry): string {
  if (entry.returns === 0) return messageBody(entry.message);
  const { exchange, routingKey, payload, headers, properties } = entry.message;
  return encodeBody(exchange, routingKey, payload, { ...headers, 'x-delivery-count': entry.returns }, properties);
}

/** The start of every deliver frame to one consumer, up to its delivery tag. */
export const deliverPrefix = (consumerTag: string): string => `{"op":"deliver","consumerTag":${JSON.stringify(consumerTag)},"deliveryTag":`;

// Joined with `+` from the consumer's prefix: a template literal of eight parts made a string of
// seven pieces per delivery, which a fan-out to 10,000 consumers allocated 10,000 times.
export function deliverFrame(prefix: string, deliveryTag: number, entry: QueueEntry): string {
  return prefix + deliveryTag + (entry.returns > 0 ? ',"redelivered":true,' : ',"redelivered":false,') + entryBody(entry);
}

export function getOkFrame(id: number, delivery: { deliveryTag: number; entry: QueueEntry } | null, messageCount: number): string {
  const message = delivery ? `{"deliveryTag":${delivery.deliveryTag},"redelivered":${delivery.entry.returns > 0},${entryBody(delivery.entry)}` : 'null';
  return `{"op":"ok","id":${id},"message":${message},"messageCount":${messageCount}}`;
}

/** A fetch's answer (docs/protocol.md, "Stream queues"): each message with its offset, the oldest offset kept, and the next. */
export function fetchOkFrame(id: number, messages: readonly { offset: number; message: Message }[], first: number, next: number): string {
  const listed = messages.map(({ offset, message }) => `{"offset":${offset},${messageBody(message)}`).join(',');
  return `{"op":"ok","id":${id},"messages":[${listed}],"first":${first},"next":${next}}`;
}

export function okFrame(id: number, result?: Record<string, unknown>): string {
  if (!result) return `{"op":"ok","id":${id}}`;
  return JSON.stringify({ op: 'ok', id, ...result });
}

export function errorFrame(code: ErrorCode, message: string, id?: number): string {
  return JSON.stringify(id === undefined ? { op: 'error', code, message } : { op: 'error', id, code, message });
}

/** A mandatory message that routed nowhere, sent before its confirm. */
export function returnFrame(message: Message, id: number | undefined): string {
  const idField = id === undefined ? '' : `"id":${id},`;
  return `{"op":"return",${idField}"replyCode":312,"replyText":"NO_ROUTE",${messageBody(message)}`;
}

/** The broker cancelled a consumer; `reason` says why when it was not its queue's deletion. */
export function cancelledFrame(consumerTag: string, reason?: string): string {
  return JSON.stringify(reason === undefined ? { op: 'cancelled', consumerTag } : { op: 'cancelled', consumerTag, reason });
}

export const blockedFrame = (reason: string): string => JSON.stringify({ op: 'blocked', reason });
export const UNBLOCKED_FRAME = '{"op":"unblocked"}';
