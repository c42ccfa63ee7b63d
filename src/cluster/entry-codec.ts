import { headersJson, propertiesJson, type Message } from '../broker/index.js';

/**
 * A shared queue's message as a Redis stream entry (written by the Lua scripts): field `m` holds
 * this meta, `[exchange, routingKey, headers, properties, expiresAt, readyAt]` as JSON, `p` the
 * payload's JSON text as the client sent it, `r` how often it went back to the queue (absent for
 * 0). The wire cache `encoded` is not kept; `size` is the payload's byte length, counted again when read.
 */
export function entryMeta(message: Message, expiresAt: number | null): string {
  return `[${JSON.stringify(message.exchange)},${JSON.stringify(message.routingKey)},${headersJson.of(message.headers)},${propertiesJson.of(message.properties)},${expiresAt ?? null},${message.readyAt ?? null}]`;
}

/** A message relayed to another node's exclusive queues: its vhost and fields as JSON, a newline, the payload. */
export function relayText(vhost: string, message: Message): string {
  return `[${JSON.stringify(vhost)},${JSON.stringify(message.exchange)},${JSON.stringify(message.routingKey)},${headersJson.of(message.headers)},${propertiesJson.of(message.properties)},${message.readyAt ?? null}]\n${message.payload}`;
}

export function decodeRelayText(text: string): { vhost: string; message: Message } {
  const newline = text.indexOf('\n');
  const [vhost, exchange, routingKey, headers, properties, readyAt] = JSON.parse(text.slice(0, newline)) as [string, string, string, Message['headers'], Message['properties'], number | null];
  const payload = text.slice(newline + 1);
  return { vhost, message: { exchange, routingKey, payload, size: Buffer.byteLength(payload), headers, properties, ...(readyAt === null ? {} : { readyAt }) } };
}

export interface DecodedEntry {
  message: Message;
  expiresAt: number | null;
  returns: number;
}

/** The fields of a stream entry back into a message; throws on fields that Warren did not write. */
export function decodeEntry(fields: readonly string[]): DecodedEntry {
  let meta: string | undefined;
  let payload: string | undefined;
  let returns = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1];
    if (fields[i] === 'm') meta = value;
    else if (fields[i] === 'p') payload = value;
    else if (fields[i] === 'r') returns = Number(value);
  }
  if (meta === undefined || payload === undefined) throw new Error(`a stream entry without the fields "m" and "p" (fields ${JSON.stringify(fields.filter((_, i) => i % 2 === 0))})`);
  const [exchange, routingKey, headers, properties, expiresAt, readyAt] = JSON.parse(meta) as [string, string, Message['headers'], Message['properties'], number | null, number | null];
  const message: Message = { exchange, routingKey, payload, size: Buffer.byteLength(payload), headers, properties, ...(readyAt === null ? {} : { readyAt }) };
  return { message, expiresAt, returns: Number.isInteger(returns) && returns > 0 ? returns : 0 };
}
