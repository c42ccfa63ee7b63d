import type { Headers, Message } from './types.js';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

/** One `x-death` entry (docs/protocol.md, "Dead-lettering"). */
export interface DeathRecord {
  queue: string;
  reason: DeathReason;
  count: number;
  exchange: string;
  'routing-keys': string[];
  time: number;
  'original-expiration'?: number;
}

/**
 * The copy of `message` that is republished to queue `queueName`'s dead-letter exchange: `x-death`
 * gains or bumps the (queue, reason) entry and moves it to the front, the first/last-death headers
 * are set, and `expiration` is dropped (kept as `original-expiration`).
 */
export function deadLetteredCopy(
  message: Message,
  queueName: string,
  reason: DeathReason,
  deadLetterExchange: string,
  deadLetterRoutingKey: string | undefined,
  now: number,
): Message {
  const deaths = deathRecords(message);
  const index = deaths.findIndex((death) => death.queue === queueName && death.reason === reason);
  let record: DeathRecord;
  if (index >= 0) {
    record = { ...deaths[index], count: (Number(deaths[index].count) || 0) + 1 };
    deaths.splice(index, 1);
  } else {
    record = { queue: queueName, reason, count: 1, exchange: message.exchange, 'routing-keys': [message.routingKey], time: now };
    if (message.properties.expiration !== undefined) record['original-expiration'] = message.properties.expiration;
  }
  deaths.unshift(record);

  const headers: Headers = { ...message.headers, 'x-death': deaths };
  if (headers['x-first-death-queue'] === undefined) {
    headers['x-first-death-queue'] = queueName;
    headers['x-first-death-reason'] = reason;
    headers['x-first-death-exchange'] = message.exchange;
  }
  headers['x-last-death-queue'] = queueName;
  headers['x-last-death-reason'] = reason;
  headers['x-last-death-exchange'] = message.exchange;

  const { expiration: _dropped, ...properties } = message.properties;
  return {
    exchange: deadLetterExchange,
    routingKey: deadLetterRoutingKey ?? message.routingKey,
    payload: message.payload,
    size: message.size,
    headers,
    properties,
  };
}

/**
 * Whether dead-lettering into `queueName` closes a cycle: the message already died there and no
 * death since was a client's rejection (then it would loop forever without anyone deciding).
 */
export function isDeathCycle(message: Message, queueName: string): boolean {
  for (const death of deathRecords(message)) {
    if (death.reason === 'rejected') return false;
    if (death.queue === queueName) return true;
  }
  return false;
}

/** The message's `x-death` entries; a publisher may have sent anything there, so keep only objects. */
function deathRecords(message: Message): DeathRecord[] {
  const deaths = message.headers['x-death'];
  if (!Array.isArray(deaths)) return [];
  return deaths.filter((death): death is DeathRecord => typeof death === 'object' && death !== null && !Array.isArray(death));
}
