import { crc32 } from 'node:zlib';
import { headersJson, propertiesJson, type Message, type StoredBinding, type StoredExchange, type StoredPolicy, type StoredQueue } from '../../broker/index.js';
import type { TopologySnapshot } from './topology.js';

/*
 * One journal record on disk:
 *
 *   u32 LE  body length (bytes)
 *   u32 LE  CRC32 of the body
 *   body    u8 record type, then the type's fields
 *
 * Message puts and removes are binary (numbers as f64 LE, strings length-prefixed) so the hot
 * path writes the payload's JSON text as it is; the rare topology records are JSON.
 */

export const HEADER_BYTES = 8;
/** A length above this cannot have been written by the journal: the length field is corrupt. */
const MAX_BODY_BYTES = 0x7fff_ffff;

const CHECKPOINT = 1;
const EXCHANGE_PUT = 2;
const EXCHANGE_DELETE = 3;
const QUEUE_PUT = 4;
const QUEUE_DELETE = 5;
const BINDING_PUT = 6;
const BINDING_DELETE = 7;
const MESSAGE_PUT = 8;
const MESSAGE_REMOVE = 9;
const POLICY_PUT = 10;
const POLICY_DELETE = 11;

/** A decoded record. */
export type JournalRecord =
  /** The whole topology when a segment was started: replaces what came before it. */
  | { kind: 'checkpoint'; topology: TopologySnapshot }
  | { kind: 'exchange.put'; exchange: StoredExchange }
  | { kind: 'exchange.delete'; name: string }
  | { kind: 'queue.put'; queue: StoredQueue }
  | { kind: 'queue.delete'; name: string }
  | { kind: 'binding.put'; binding: StoredBinding }
  | { kind: 'binding.delete'; binding: StoredBinding }
  | { kind: 'policy.put'; policy: StoredPolicy }
  | { kind: 'policy.delete'; name: string }
  /** One message in one or more queues (a fan-out is stored once), each with its own expiry. */
  | { kind: 'message.put'; seq: number; targets: MessageTargets; message: Message }
  | { kind: 'message.remove'; queue: string; seqs: number[] };

/** The queues a message is put in, each followed by its expiry: queue, expiresAt, queue, expiresAt, ... */
export type MessageTargets = readonly (string | number | null)[];

/** The last element, `readyAt`, only for a message delayed by `x-delay` (older records have none). */
type MessageMeta = [MessageTargets, string, string, Message['headers'], Message['properties'], number?];

/**
 * The last message metadata decoded, by its bytes. Messages in a row mostly have the same queues,
 * exchange, key, headers and properties: those are then parsed once and shared, as a fan-out
 * shares them (a Message is immutable).
 */
interface MetaCache {
  bytes: Buffer | null;
  meta: MessageMeta | null;
}

/** Fills in the header of a record whose body starts at HEADER_BYTES. */
function seal(record: Buffer): Buffer {
  record.writeUInt32LE(record.length - HEADER_BYTES, 0);
  record.writeUInt32LE(crc32(record.subarray(HEADER_BYTES)), 4);
  return record;
}

function jsonRecord(type: number, value: unknown): Buffer {
  const json = JSON.stringify(value);
  const record = Buffer.allocUnsafe(HEADER_BYTES + 1 + Buffer.byteLength(json));
  record[HEADER_BYTES] = type;
  record.write(json, HEADER_BYTES + 1, 'utf8');
  return seal(record);
}

export const encodeCheckpoint = (topology: TopologySnapshot): Buffer => jsonRecord(CHECKPOINT, topology);
export const encodeExchangePut = (exchange: StoredExchange): Buffer => jsonRecord(EXCHANGE_PUT, exchange);
export const encodeExchangeDelete = (name: string): Buffer => jsonRecord(EXCHANGE_DELETE, name);
export const encodeQueuePut = (queue: StoredQueue): Buffer => jsonRecord(QUEUE_PUT, queue);
export const encodeQueueDelete = (name: string): Buffer => jsonRecord(QUEUE_DELETE, name);
export const encodeBindingPut = (binding: StoredBinding): Buffer => jsonRecord(BINDING_PUT, binding);
export const encodeBindingDelete = (binding: StoredBinding): Buffer => jsonRecord(BINDING_DELETE, binding);
export const encodePolicyPut = (policy: StoredPolicy): Buffer => jsonRecord(POLICY_PUT, policy);
export const encodePolicyDelete = (name: string): Buffer => jsonRecord(POLICY_DELETE, name);

/**
 * body: type | f64 seq | u32 meta length | meta JSON | payload (the rest).
 * meta: [[queue, expiresAt, queue, expiresAt, ...], exchange, routingKey, headers, properties], then readyAt for a delayed message.
 * `message.encoded` (a cache of the wire form) and `size` (the payload's byte length) are not stored.
 */
export function encodeMessagePut(seq: number, targets: MessageTargets, message: Message): Buffer {
  const { meta, metaBytes } = encodeMeta(targets, message);
  const start = HEADER_BYTES + 13;
  const record = Buffer.allocUnsafe(start + metaBytes + Buffer.byteLength(message.payload));
  record[HEADER_BYTES] = MESSAGE_PUT;
  record.writeDoubleLE(seq, HEADER_BYTES + 1);
  record.writeUInt32LE(metaBytes, HEADER_BYTES + 9);
  record.write(meta, start, 'utf8');
  record.write(message.payload, start + metaBytes, 'utf8');
  return seal(record);
}


/**
 * The last metadata encoded: messages in a row mostly go to the same queue with the same exchange,
 * key and fields, and then the same JSON text (and its byte length) is used again.
 */
const lastMeta = { targets: '', exchange: '', routingKey: '', headers: '', properties: '', readyAt: undefined as number | undefined, meta: '[[],"","",{},{}]', metaBytes: 16 };
let lastTargets: MessageTargets = [];

const sameTargets = (a: MessageTargets, b: MessageTargets): boolean => a.length === b.length && a.every((target, i) => target === b[i]);

/** The meta JSON of encodeMessagePut, as JSON.stringify would make it. */
function encodeMeta(targets: MessageTargets, message: Message): { meta: string; metaBytes: number } {
  const targetsJson = sameTargets(targets, lastTargets) ? lastMeta.targets : JSON.stringify(targets);
  lastTargets = targets;
  const headers = headersJson.of(message.headers);
  const properties = propertiesJson.of(message.properties);
  const { exchange, routingKey, readyAt } = message;
  const last = lastMeta;
  if (targetsJson !== last.targets || exchange !== last.exchange || routingKey !== last.routingKey || headers !== last.headers || properties !== last.properties || readyAt !== last.readyAt) {
    last.meta = `[${targetsJson},${JSON.stringify(exchange)},${JSON.stringify(routingKey)},${headers},${properties}${readyAt === undefined ? '' : `,${JSON.stringify(readyAt)}`}]`;
    last.metaBytes = Buffer.byteLength(last.meta);
    Object.assign(last, { targets: targetsJson, exchange, routingKey, headers, properties, readyAt });
  }
  return last;
}

/** body: type | u32 queue name length | queue name | u32 count | count x f64 seq. */
export function encodeMessageRemove(queue: string, seqs: number[]): Buffer {
  const nameBytes = Buffer.byteLength(queue);
  const record = Buffer.allocUnsafe(HEADER_BYTES + 9 + nameBytes + 8 * seqs.length);
  let at = HEADER_BYTES;
  record[at++] = MESSAGE_REMOVE;
  record.writeUInt32LE(nameBytes, at);
  at += 4;
  at += record.write(queue, at, 'utf8');
  record.writeUInt32LE(seqs.length, at);
  at += 4;
  for (const seq of seqs) at = record.writeDoubleLE(seq, at);
  return seal(record);
}

/** The seq of a message put record's body, or null for any other record. */
export const messagePutSeq = (body: Buffer): number | null => (body[0] === MESSAGE_PUT && body.length >= 13 ? body.readDoubleLE(1) : null);

function decodeBody(body: Buffer, cache: MetaCache): JournalRecord {
  const type = body[0];
  const json = (): unknown => JSON.parse(body.toString('utf8', 1));
  switch (type) {
    case CHECKPOINT:
      return { kind: 'checkpoint', topology: json() as TopologySnapshot };
    case EXCHANGE_PUT:
      return { kind: 'exchange.put', exchange: json() as StoredExchange };
    case EXCHANGE_DELETE:
      return { kind: 'exchange.delete', name: json() as string };
    case QUEUE_PUT:
      return { kind: 'queue.put', queue: json() as StoredQueue };
    case QUEUE_DELETE:
      return { kind: 'queue.delete', name: json() as string };
    case BINDING_PUT:
      return { kind: 'binding.put', binding: json() as StoredBinding };
    case BINDING_DELETE:
      return { kind: 'binding.delete', binding: json() as StoredBinding };
    case POLICY_PUT:
      return { kind: 'policy.put', policy: json() as StoredPolicy };
    case POLICY_DELETE:
      return { kind: 'policy.delete', name: json() as string };
    case MESSAGE_PUT: {
      const seq = body.readDoubleLE(1);
      const metaEnd = 13 + body.readUInt32LE(9);
      if (metaEnd > body.length) throw new RangeError('message metadata runs past the record');
      const metaBytes = body.subarray(13, metaEnd);
      if (!cache.meta || !cache.bytes?.equals(metaBytes)) {
        cache.meta = JSON.parse(metaBytes.toString('utf8')) as MessageMeta;
        cache.bytes = Buffer.from(metaBytes);
      }
      const [targets, exchange, routingKey, headers, properties, readyAt] = cache.meta;
      const payload = body.toString('utf8', metaEnd);
      const message: Message = { exchange, routingKey, payload, size: body.length - metaEnd, headers, properties };
      return { kind: 'message.put', seq, targets, message: readyAt === undefined ? message : { ...message, readyAt } };
    }
    case MESSAGE_REMOVE: {
      const nameEnd = 5 + body.readUInt32LE(1);
      const queue = body.toString('utf8', 5, nameEnd);
      const count = body.readUInt32LE(nameEnd);
      if (nameEnd + 4 + 8 * count !== body.length) throw new RangeError('remove record length does not match its count');
      const seqs = new Array<number>(count);
      for (let i = 0; i < count; i++) seqs[i] = body.readDoubleLE(nameEnd + 4 + 8 * i);
      return { kind: 'message.remove', queue, seqs };
    }
    default:
      throw new RangeError(`unknown record type ${type}`);
  }
}

/** Where a scan stopped: `end` is the offset after the last good record; `problem` says why it stopped early. */
export interface ScanResult {
  end: number;
  records: number;
  problem: string | null;
}

/**
 * Decodes the records of one segment's bytes in order, handing each to `onRecord`, and stops at
 * the first one that is cut short, has an impossible length, fails its CRC or does not decode.
 * With `select` (for a segment already read back once), only the records whose body it accepts
 * are checked and decoded; the rest are stepped over by their length.
 */
export function scanRecords(data: Buffer, onRecord: (record: JournalRecord) => void, select?: (body: Buffer) => boolean): ScanResult {
  let at = 0;
  let records = 0;
  const cache: MetaCache = { bytes: null, meta: null };
  const stop = (problem: string): ScanResult => ({ end: at, records, problem });
  while (at < data.length) {
    const left = data.length - at;
    if (left < HEADER_BYTES) return stop(`a record header cut short (${left} of ${HEADER_BYTES} bytes)`);
    const length = data.readUInt32LE(at);
    if (length === 0 || length > MAX_BODY_BYTES) return stop(`an impossible record length (${length})`);
    if (length > left - HEADER_BYTES) return stop(`a record cut short (${left - HEADER_BYTES} of ${length} bytes)`);
    const body = data.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length);
    const selected = !select || select(body);
    if (selected && crc32(body) !== data.readUInt32LE(at + 4)) return stop('a record whose CRC32 does not match its bytes');
    if (selected) {
      let record: JournalRecord;
      try {
        record = decodeBody(body, cache);
      } catch (error) {
        return stop(`a record that does not decode (${(error as Error).message})`);
      }
      onRecord(record);
    }
    at += HEADER_BYTES + length;
    records++;
  }
  return { end: at, records, problem: null };
}
