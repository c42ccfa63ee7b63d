import type { ErrorCode, Message, QueueEntry } from '../broker/index.js';

// Frames the broker sends (docs/protocol.md). Built as strings: a delivery splices in its
// message's encoding, made once per message however many consumers it reaches.

/** `"exchange":…,"routingKey":…,"payload":…,"headers":…,"properties":…}`, cached on the message. */
export function messageBody(message: Message): string {
  return (message.encoded ??= encodeBody(message, message.headers));
}

function encodeBody(message: Message, headers: Message['headers']): string {
  return `"exchange":${JSON.stringify(message.exchange)},"routingKey":${JSON.stringify(message.routingKey)},"payload":${message.payload},"headers":${JSON.stringify(headers)},"properties":${JSON.stringify(message.properties)}}`;
}

/** A redelivery carries `x-delivery-count`, so it cannot share the cached encoding. */
function entryBody(entry: QueueEntry): string {
  if (entry.returns === 0) return messageBody(entry.message);
  return encodeBody(entry.message, { ...entry.message.headers, 'x-delivery-count': entry.returns });
}

export function deliverFrame(encodedConsumerTag: string, deliveryTag: number, entry: QueueEntry): string {
  return `{"op":"deliver","consumerTag":${encodedConsumerTag},"deliveryTag":${deliveryTag},"redelivered":${entry.returns > 0},${entryBody(entry)}`;
}

export function getOkFrame(id: number, delivery: { deliveryTag: number; entry: QueueEntry } | null, messageCount: number): string {
  const message = delivery ? `{"deliveryTag":${delivery.deliveryTag},"redelivered":${delivery.entry.returns > 0},${entryBody(delivery.entry)}` : 'null';
  return `{"op":"ok","id":${id},"message":${message},"messageCount":${messageCount}}`;
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
