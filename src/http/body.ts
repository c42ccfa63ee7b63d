import { createHash } from 'node:crypto';
import { BrokerError, type MessageProperties } from '../broker/index.js';
import { ApiError, badRequest, notAuthorised, notFound } from './errors.js';

// Request bodies of the management API's writes, RabbitMQ's field names in, Warren's model out
// (docs/management.md, "Writes"). Unknown fields are ignored, as RabbitMQ ignores them; a known
// field of the wrong type is 400.

export type Body = Readonly<Record<string, unknown>>;

/** The request's JSON body as an object: no body is `{}`, anything else but an object is 400. */
export function bodyObject(body: unknown): Body {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  return body as Body;
}

/** A boolean field; "true" and "false" as strings too, as RabbitMQ parses them (rabbitmqadmin sends strings). */
export function flag(body: Body, field: string, fallback: boolean): boolean {
  const value = body[field];
  if (value === undefined) return fallback;
  if (value === 'true' || value === 'false') return value === 'true';
  if (typeof value !== 'boolean') throw badRequest(`${field} must be true or false (got ${JSON.stringify(value)})`);
  return value;
}

export function table(body: Body, field: string): Record<string, unknown> {
  const value = body[field];
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest(`${field} must be a JSON object (got ${JSON.stringify(value)})`);
  return value as Record<string, unknown>;
}

/** A string field; undefined when absent and there is no fallback. */
export function text(body: Body, field: string): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`${field} must be a string (got ${JSON.stringify(value)})`);
  return value;
}

/** RabbitMQ's `key_missing` refusal for a field its endpoint requires. */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw badRequest(`key_missing: ${field} is required`);
  return value;
}

/** Names and keys are at most 255 UTF-8 bytes, as in AMQP and Warren's protocol. */
export function shortString(value: string, what: string): string {
  if (Buffer.byteLength(value, 'utf8') > 255) throw badRequest(`${what} must be at most 255 UTF-8 bytes`);
  return value;
}

/** `payload` with `payload_encoding` as the JSON text of a Warren payload: always a JSON string. */
export function payloadJson(payload: string, encoding: string): string {
  if (encoding === 'string') return JSON.stringify(payload);
  if (encoding !== 'base64') throw badRequest(`payload_encoding must be "string" or "base64" (got ${JSON.stringify(encoding)})`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 === 1) throw badRequest('payload is not valid base64');
  try {
    return JSON.stringify(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(payload, 'base64')));
  } catch {
    throw badRequest('payload decodes to bytes that are not UTF-8 text: Warren payloads are JSON values, so binary payloads cannot be published');
  }
}

const PROPERTY_STRINGS: Record<string, keyof MessageProperties> = {
  message_id: 'messageId',
  correlation_id: 'correlationId',
  reply_to: 'replyTo',
  content_type: 'contentType',
  type: 'type',
  app_id: 'appId',
};

/** RabbitMQ's message `properties` as Warren's message properties and headers. */
export function messageProperties(properties: Body): { properties: MessageProperties; headers: Record<string, unknown> } {
  const out: MessageProperties = {};
  const mode = properties.delivery_mode;
  if (mode !== undefined) {
    if (mode !== 1 && mode !== 2) throw badRequest(`properties.delivery_mode must be 1 or 2 (got ${JSON.stringify(mode)})`);
    if (mode === 2) out.persistent = true;
  }
  const priority = properties.priority;
  if (priority !== undefined) {
    if (!Number.isInteger(priority) || (priority as number) < 0 || (priority as number) > 255) throw badRequest('properties.priority must be an integer from 0 to 255');
    out.priority = priority as number;
  }
  const expiration = properties.expiration;
  if (expiration !== undefined) {
    // AMQP's expiration is a string of milliseconds; a number is taken too.
    const ms = typeof expiration === 'string' && /^\d+$/.test(expiration) ? Number(expiration) : expiration;
    if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) throw badRequest('properties.expiration must be a number of milliseconds, as a string or a number');
    out.expiration = ms;
  }
  const timestamp = properties.timestamp;
  if (timestamp !== undefined) {
    if (!Number.isSafeInteger(timestamp)) throw badRequest('properties.timestamp must be an integer');
    out.timestamp = timestamp as number;
  }
  for (const [field, property] of Object.entries(PROPERTY_STRINGS)) {
    const value = text(properties, field);
    if (value !== undefined) (out as Record<string, unknown>)[property] = shortString(value, `properties.${field}`);
  }
  return { properties: out, headers: table(properties, 'headers') };
}

/** A message's properties and headers as RabbitMQ's `properties` (the inverse of messageProperties). */
export function propertiesView(properties: MessageProperties, headers: Record<string, unknown>): Record<string, unknown> {
  const view: Record<string, unknown> = { delivery_mode: properties.persistent ? 2 : 1, headers };
  if (properties.priority !== undefined) view.priority = properties.priority;
  // AMQP's expiration is a string of milliseconds.
  if (properties.expiration !== undefined) view.expiration = String(properties.expiration);
  if (properties.timestamp !== undefined) view.timestamp = properties.timestamp;
  for (const [field, property] of Object.entries(PROPERTY_STRINGS)) {
    const value = properties[property];
    if (value !== undefined) view[field] = value;
  }
  return view;
}

/**
 * A payload (JSON text) as the text RabbitMQ's `get` gives back: a string payload as its own text
 * (what a publish with `payload_encoding` "string" sent), any other as its JSON, as STOMP gives
 * them (docs/stomp.md); base64 of that text's UTF-8 when asked.
 */
export function payloadView(payload: string, encoding: 'auto' | 'base64', truncate: number | undefined) {
  const parsed: unknown = payload.startsWith('"') ? JSON.parse(payload) : undefined;
  const bytes = Buffer.from(typeof parsed === 'string' ? parsed : payload, 'utf8');
  const shown = truncate === undefined ? bytes : bytes.subarray(0, truncate);
  return encoding === 'base64'
    ? { payload_bytes: bytes.length, payload: shown.toString('base64'), payload_encoding: 'base64' }
    : { payload_bytes: bytes.length, payload: shown.toString('utf8'), payload_encoding: 'string' };
}

/**
 * A binding's `properties_key`, its name in a path: the routing key, percent-encoded as RabbitMQ
 * does (`quote_plus`, and `~` as `%7E`); `~` alone for the empty key; with arguments, `~` and a
 * hash of them. RabbitMQ hashes its internal term (erlang:phash2); Warren hashes the arguments'
 * JSON with sorted keys (4 bytes of SHA-256, base64url), so such keys differ from RabbitMQ's.
 */
export function propertiesKey(routingKey: string, args: Record<string, unknown>): string {
  const empty = Object.keys(args).length === 0;
  if (empty) return routingKey === '' ? '~' : quote(routingKey);
  const hash = createHash('sha256').update(canonicalJson(args)).digest().subarray(0, 4).toString('base64url');
  return `${quote(routingKey)}~${hash}`;
}

function quote(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** JSON with object keys sorted, so that equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/**
 * RabbitMQ's `inequivalent arg` reason for a redeclare that differs from what exists, naming the
 * first field that differs; undefined when they are the same.
 */
export function inequivalence(kind: 'queue' | 'exchange', name: string, vhost: string, current: Body, requested: Body): string | undefined {
  const fields = [...new Set([...Object.keys(current), ...Object.keys(requested)])];
  for (const field of fields) {
    if (field === 'arguments') {
      const now = current.arguments as Body;
      const wanted = requested.arguments as Body;
      for (const key of [...new Set([...Object.keys(now), ...Object.keys(wanted)])].sort()) {
        if (canonicalJson(now[key]) !== canonicalJson(wanted[key])) return inequivalentArg(key, kind, name, vhost, wanted[key], now[key]);
      }
    } else if (canonicalJson(current[field]) !== canonicalJson(requested[field])) {
      return inequivalentArg(field, kind, name, vhost, requested[field], current[field]);
    }
  }
  return undefined;
}

function inequivalentArg(field: string, kind: string, name: string, vhost: string, received: unknown, current: unknown): string {
  const shown = (value: unknown) => (value === undefined ? 'none' : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`);
  return `inequivalent arg '${field}' for ${kind} '${name}' in vhost '${vhost}': received ${shown(received)} but current is ${shown(current)}`;
}

/**
 * A refusal of the model as RabbitMQ's management API answers an AMQP error: NOT_FOUND is 404,
 * ACCESS_REFUSED 401 `not_authorised`, the other client errors 400 `bad_request`.
 */
export function fromBrokerError(error: BrokerError): ApiError | undefined {
  switch (error.code) {
    case 'NOT_FOUND':
      return notFound();
    case 'ACCESS_REFUSED':
      return notAuthorised(error.message);
    case 'PRECONDITION_FAILED':
    case 'RESOURCE_LOCKED':
    case 'SYNTAX_ERROR':
    case 'NOT_ALLOWED':
    case 'RESOURCE_ERROR':
    case 'REJECTED':
      return badRequest(error.message);
    default:
      return undefined;
  }
}
