import { crc32 } from 'node:zlib';
import type { Headers, Message, MessageProperties } from '../../broker/index.js';
import { HEADER_BYTES } from '../journal/record-format.js';

/*
 * The records of a stream's files, in the journal's framing (src/store/journal/record-format.ts):
 *
 *   u32 LE  body length
 *   u32 LE  CRC32 (zlib.crc32) of the body
 *   body    u8 type, then the type's fields
 *
 * An entry (in a segment file `<first offset, 20 digits>.stream`):
 *
 *   u8 0x20 | f64 offset | f64 timestamp | u32 meta length | meta JSON | payload (the rest)
 *
 * meta is `[exchange, routingKey, headers, properties]`, then `readyAt` when the message has one,
 * as the journal's message puts; the payload is the message's JSON text as it came. The types
 * start at 0x20 so that a stream file is never taken for a journal segment or the other way round.
 */

export const ENTRY = 0x20;
const INDEX_SUMMARY = 0x21;
const INDEX_POINTS = 0x22;

/** Bytes of an entry record before its meta: header, type, offset, timestamp, meta length. */
export const ENTRY_FIXED_BYTES = HEADER_BYTES + 1 + 8 + 8 + 4;
/** Where the meta starts in an entry's body. */
const META_AT = ENTRY_FIXED_BYTES - HEADER_BYTES;
/** A length above this cannot have been written: the length field is corrupt. */
export const MAX_BODY_BYTES = 0x7fff_ffff;

type EntryMeta = [string, string, Headers, MessageProperties, number?];

/*
 * CRC32 (IEEE, as zlib.crc32) of small bodies in JavaScript, slicing by 16: a call into zlib
 * costs about 300 ns whatever the size, most of an entry's encoding, where this takes half that
 * for a typical entry. Bodies above SMALL_BODY_BYTES go to zlib, which is faster in bulk.
 */
const SMALL_BODY_BYTES = 256;
const CRC_TABLE = new Int32Array(16 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = CRC_TABLE[n];
  for (let t = 1; t < 16; t++) {
    c = CRC_TABLE[c & 0xff] ^ (c >>> 8);
    CRC_TABLE[t * 256 + n] = c;
  }
}

/** The CRC32 of `data[start, end)`, equal to `zlib.crc32(data.subarray(start, end))`. */
export function crc32Of(data: Buffer, start: number, end: number): number {
  if (end - start > SMALL_BODY_BYTES) return crc32(data.subarray(start, end));
  const t = CRC_TABLE;
  let c = -1;
  let i = start;
  for (; i + 16 <= end; i += 16) {
    const a = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) ^ c;
    c =
      t[3840 + (a & 0xff)] ^ t[3584 + ((a >>> 8) & 0xff)] ^ t[3328 + ((a >>> 16) & 0xff)] ^ t[3072 + (a >>> 24)] ^
      t[2816 + data[i + 4]] ^ t[2560 + data[i + 5]] ^ t[2304 + data[i + 6]] ^ t[2048 + data[i + 7]] ^
      t[1792 + data[i + 8]] ^ t[1536 + data[i + 9]] ^ t[1280 + data[i + 10]] ^ t[1024 + data[i + 11]] ^
      t[768 + data[i + 12]] ^ t[512 + data[i + 13]] ^ t[256 + data[i + 14]] ^ t[data[i + 15]];
  }
  for (; i < end; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Whether `data[at, at + length)` and `bytes` hold the same bytes (a loop: cheaper than a native call for a short meta). */
function sameBytes(data: Buffer, at: number, length: number, bytes: Buffer): boolean {
  if (bytes.length !== length) return false;
  if (length > 64) return data.compare(bytes, 0, length, at, at + length) === 0;
  for (let i = 0; i < length; i++) if (data[at + i] !== bytes[i]) return false;
  return true;
}

/**
 * Encodes entries. The meta JSON is made once for a run of messages with the same exchange,
 * routing key, headers and properties objects (one publisher's messages mostly are: a message
 * without headers or properties shares the protocol's empty ones), and written straight into
 * the caller's buffer, so the common append is two UTF-8 writes and a CRC32.
 */
export class EntryEncoder {
  private exchange: string | undefined;
  private routingKey: string | undefined;
  private headers: Headers | undefined;
  private properties: MessageProperties | undefined;
  private readyAt: number | undefined;
  private meta = '';
  private metaBytes = -1;

  /** The meta JSON of `message`. */
  metaOf(message: Message): string {
    if (
      message.headers !== this.headers ||
      message.properties !== this.properties ||
      message.exchange !== this.exchange ||
      message.routingKey !== this.routingKey ||
      message.readyAt !== this.readyAt
    ) {
      const fields: EntryMeta = [message.exchange, message.routingKey, message.headers, message.properties];
      if (message.readyAt !== undefined) fields.push(message.readyAt);
      this.meta = JSON.stringify(fields);
      this.metaBytes = -1;
      this.exchange = message.exchange;
      this.routingKey = message.routingKey;
      this.headers = message.headers;
      this.properties = message.properties;
      this.readyAt = message.readyAt;
    }
    return this.meta;
  }

  /** The exact size of `message`'s record (what the memory log counts, so that both logs roll and drop alike). */
  recordBytes(message: Message): number {
    const meta = this.metaOf(message);
    if (this.metaBytes < 0) this.metaBytes = Buffer.byteLength(meta, 'utf8');
    return ENTRY_FIXED_BYTES + this.metaBytes + Buffer.byteLength(message.payload, 'utf8');
  }

  /** An upper bound of the record's size: what `encodeInto` needs free in `target`. */
  maxRecordBytes(message: Message): number {
    return ENTRY_FIXED_BYTES + 3 * (this.metaOf(message).length + message.payload.length);
  }

  /** Writes the record at `at` (which has `maxRecordBytes` free) and returns its length. */
  encodeInto(target: Buffer, at: number, offset: number, timestamp: number, message: Message): number {
    const body = at + HEADER_BYTES;
    target[body] = ENTRY;
    target.writeDoubleLE(offset, body + 1);
    target.writeDoubleLE(timestamp, body + 9);
    const metaBytes = target.write(this.metaOf(message), body + META_AT, 'utf8');
    target.writeUInt32LE(metaBytes, body + 17);
    const payloadAt = body + META_AT + metaBytes;
    const end = payloadAt + target.write(message.payload, payloadAt, 'utf8');
    target.writeUInt32LE(end - body, at);
    target.writeUInt32LE(crc32Of(target, body, end), at + 4);
    return end - at;
  }
}

/**
 * Decodes entry bodies. Consecutive entries mostly share their meta: it is then parsed once and
 * its objects shared by the messages (a Message is immutable), as a fan-out shares them.
 */
export class EntryDecoder {
  private metaBytes: Buffer | null = null;
  private meta: EntryMeta | null = null;

  /** The message in the entry whose body is `data[body, body + length)` (its framing and CRC already checked). */
  message(data: Buffer, body: number, length: number): Message {
    const metaStart = body + META_AT;
    const metaEnd = metaStart + data.readUInt32LE(body + 17);
    const end = body + length;
    if (metaEnd > end) throw new RangeError('entry meta runs past the record');
    const cached = this.metaBytes;
    let meta = this.meta;
    if (!meta || !cached || !sameBytes(data, metaStart, metaEnd - metaStart, cached)) {
      meta = JSON.parse(data.toString('utf8', metaStart, metaEnd)) as EntryMeta;
      this.meta = meta;
      this.metaBytes = Buffer.from(data.subarray(metaStart, metaEnd));
    }
    const payload = data.toString('utf8', metaEnd, end);
    const [exchange, routingKey, headers, properties, readyAt] = meta;
    const message: Message = { exchange, routingKey, payload, size: end - metaEnd, headers, properties };
    return readyAt === undefined ? message : { ...message, readyAt };
  }
}

/** The fields of the entry whose record starts at `at`, read without decoding it. */
export const entryOffset = (data: Buffer, at: number): number => data.readDoubleLE(at + HEADER_BYTES + 1);
export const entryTimestamp = (data: Buffer, at: number): number => data.readDoubleLE(at + HEADER_BYTES + 9);

/**
 * What is wrong with the record at `data[at, at + available)` if it is damaged, 'short' when it
 * does not fit in `available` bytes (read more; at the end of the file it is torn), or null when
 * it is whole. `expected` is the offset it must carry. The CRC is checked too when `crc` is set.
 */
export function checkEntry(data: Buffer, at: number, available: number, expected: number, crc: boolean): string | 'short' | null {
  if (available < HEADER_BYTES) return 'short';
  const length = data.readUInt32LE(at);
  if (length < META_AT || length > MAX_BODY_BYTES) return `an impossible record length (${length})`;
  if (available < HEADER_BYTES + length) return 'short';
  const body = at + HEADER_BYTES;
  if (crc && crc32Of(data, body, body + length) !== data.readUInt32LE(at + 4)) return 'a record whose CRC32 does not match its bytes';
  if (data[body] !== ENTRY) return `a record of unknown type ${data[body]}`;
  const offset = data.readDoubleLE(body + 1);
  if (offset !== expected) return `an entry with offset ${offset} where ${expected} was due`;
  if (!Number.isFinite(data.readDoubleLE(body + 9))) return 'an entry without a valid timestamp';
  if (META_AT + data.readUInt32LE(body + 17) > length) return 'an entry whose meta runs past the record';
  return null;
}

/** The first and last timestamps, the offset after the last entry, and the size a segment had when its index was made. */
export interface SegmentSummary {
  /** The segment file's size the index describes: an index for another size is stale. */
  bytes: number;
  base: number;
  next: number;
  firstTimestamp: number;
  lastTimestamp: number;
}

/**
 * A segment's index file (`<first offset>.index`), two framed records: the summary
 * (u8 0x21 | f64 bytes | f64 base | f64 next | f64 firstTimestamp | f64 lastTimestamp) and the
 * sparse index (u8 0x22 | n x (f64 offset, f64 timestamp, f64 position)). It is only a cache of
 * what a scan of the segment finds: a missing, stale or damaged one is rebuilt from the segment.
 */
export function encodeIndexFile(summary: SegmentSummary, points: Float64Array): Buffer {
  const summaryBody = 1 + 5 * 8;
  const pointsBody = 1 + points.byteLength;
  const file = Buffer.allocUnsafe(2 * HEADER_BYTES + summaryBody + pointsBody);
  let at = HEADER_BYTES;
  file[at++] = INDEX_SUMMARY;
  for (const value of [summary.bytes, summary.base, summary.next, summary.firstTimestamp, summary.lastTimestamp]) at = file.writeDoubleLE(value, at);
  sealRecord(file, 0, summaryBody);
  const second = at;
  at += HEADER_BYTES;
  file[at++] = INDEX_POINTS;
  Buffer.from(points.buffer, points.byteOffset, points.byteLength).copy(file, at);
  sealRecord(file, second, pointsBody);
  return file;
}

/** The summary at the start of an index file, or null when it is not a whole, valid one. */
export function decodeIndexSummary(file: Buffer): SegmentSummary | null {
  const body = recordBody(file, 0, INDEX_SUMMARY);
  if (!body || body.length !== 41) return null;
  const read = (i: number) => body.readDoubleLE(1 + 8 * i);
  return { bytes: read(0), base: read(1), next: read(2), firstTimestamp: read(3), lastTimestamp: read(4) };
}

/** The index points of an index file, or null when they are not whole. */
export function decodeIndexPoints(file: Buffer): Float64Array | null {
  const first = recordBody(file, 0, INDEX_SUMMARY);
  if (!first) return null;
  const body = recordBody(file, HEADER_BYTES + first.length, INDEX_POINTS);
  if (!body || (body.length - 1) % 24 !== 0) return null;
  const points = new Float64Array((body.length - 1) / 8);
  Buffer.from(points.buffer).set(body.subarray(1));
  return points;
}

function sealRecord(file: Buffer, at: number, length: number): void {
  file.writeUInt32LE(length, at);
  file.writeUInt32LE(crc32(file.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length)), at + 4);
}

function recordBody(file: Buffer, at: number, type: number): Buffer | null {
  if (file.length < at + HEADER_BYTES) return null;
  const length = file.readUInt32LE(at);
  if (length === 0 || file.length < at + HEADER_BYTES + length) return null;
  const body = file.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length);
  if (body[0] !== type || crc32(body) !== file.readUInt32LE(at + 4)) return null;
  return body;
}
