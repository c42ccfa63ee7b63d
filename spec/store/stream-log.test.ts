import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Message } from '../../src/broker/index.js';
import { crc32 } from 'node:zlib';
import { crc32Of, EntryEncoder } from '../../src/store/stream/entry-format.js';
import { FileStreamLog, MemoryStreamLog, type StreamEntry, type StreamLog, type StreamLogOptions } from '../../src/store/stream/index.js';

/** How the contract opens a driver's stream, and finds it again as a restarted broker would. */
interface StreamFactory {
  open(options?: StreamLogOptions): Promise<StreamLog>;
  /** Closes `log` and opens the same stream again (with `options`, which may differ: a changed policy). */
  reopen(log: StreamLog, options?: StreamLogOptions): Promise<StreamLog>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const fileFactory = (): StreamFactory => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-stream-'));
  dirs.push(dir);
  const streamDir = join(dir, 'stream');
  return {
    open: (options) => FileStreamLog.open(streamDir, options),
    reopen: async (log, options) => {
      await log.close();
      return FileStreamLog.open(streamDir, options);
    },
  };
};

const memoryFactory = (): StreamFactory => ({
  open: async (options) => MemoryStreamLog.create(options),
  reopen: async (log, options) => {
    await log.close();
    return MemoryStreamLog.reopen(log as MemoryStreamLog, options);
  },
});

const message = (payload: unknown, extra: Partial<Message> = {}): Message => {
  const text = JSON.stringify(payload);
  return { exchange: 'events', routingKey: 'e.created', payload: text, size: Buffer.byteLength(text), headers: {}, properties: {}, ...extra };
};

const payloads = (entries: StreamEntry[]): unknown[] => entries.map((entry) => JSON.parse(entry.message.payload) as unknown);
const offsets = (entries: StreamEntry[]): number[] => entries.map((entry) => entry.offset);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** The size of one entry's record on disk, which both logs count. */
const recordBytes = (m: Message): number => new EntryEncoder().recordBytes(m);

/** Appends `count` messages {n} with timestamps 1000 + 10 n. */
function fill(log: StreamLog, count: number, from = 0, pad = ''): void {
  for (let n = from; n < from + count; n++) log.append(message({ n, pad }), 1000 + 10 * n);
}

/**
 * The StreamLog contract (src/store/stream/stream-log.ts): both drivers run it, so the memory
 * log that model tests use behaves as the file log does.
 */
function streamContract(driver: string, makeFactory: () => StreamFactory): void {
  describe(`stream log contract - ${driver}`, () => {
    it('stream log - a new stream is empty: first = next = 0, reads return nothing', async () => {
      const log = await makeFactory().open();
      expect([log.first, log.next, log.bytes]).toEqual([0, 0, 0]);
      expect(log.read(0, 10, Infinity)).toEqual([]);
      expect(log.offsetAtTimestamp(0)).toBe(0);
      expect(log.committed('g')).toBeNull();
      await expect(log.flushed()).resolves.toBeUndefined();
      await log.close();
    });

    it('stream log - appends get offsets 0, 1, 2, ... and reads give them back in order', async () => {
      const log = await makeFactory().open();
      for (let n = 0; n < 5; n++) expect(log.append(message({ n }), 1000 + n)).toBe(n);
      expect([log.first, log.next]).toEqual([0, 5]);
      const entries = log.read(0, 100, Infinity);
      expect(offsets(entries)).toEqual([0, 1, 2, 3, 4]);
      expect(payloads(entries)).toEqual(range(0, 5).map((n) => ({ n })));
      expect(entries.map((entry) => entry.timestamp)).toEqual([1000, 1001, 1002, 1003, 1004]);
      await log.close();
    });

    it('stream log - a message comes back with every field: exchange, key, headers, properties, readyAt, non-ASCII payload, size', async () => {
      const log = await makeFactory().open();
      const full = message(
        { text: 'ünïcødé ✓ 𝄞', list: [1, null, true] },
        { exchange: 'amq.topic', routingKey: 'a.b.c', headers: { 'x-n': 1, nested: { k: ['v'] } }, properties: { persistent: true, messageId: 'm-1', priority: 3 }, readyAt: 12345 },
      );
      log.append(full, 1);
      log.append(message('plain'), 2);
      await log.flushed();
      const [first, second] = log.read(0, 2, Infinity).map((entry) => entry.message);
      expect(first).toEqual({ exchange: 'amq.topic', routingKey: 'a.b.c', payload: full.payload, size: full.size, headers: full.headers, properties: full.properties, readyAt: 12345 });
      expect(second).toEqual(message('plain'));
      await log.close();
    });

    it('stream log - read from any offset, clamped below first, nothing at or past next; maxCount and maxBytes limit it', async () => {
      const log = await makeFactory().open();
      fill(log, 50);
      await log.flushed();
      expect(offsets(log.read(17, 5, Infinity))).toEqual([17, 18, 19, 20, 21]);
      expect(offsets(log.read(-3, 2, Infinity))).toEqual([0, 1]);
      expect(log.read(50, 10, Infinity)).toEqual([]);
      expect(log.read(1000, 10, Infinity)).toEqual([]);
      expect(offsets(log.read(45, 100, Infinity))).toEqual([45, 46, 47, 48, 49]);
      expect(log.read(3, 0, Infinity)).toEqual([]);
      const size = message({ n: 10, pad: '' }).size;
      // Stops once the payloads reach maxBytes: three of them reach 3 x size.
      expect(offsets(log.read(10, 100, 3 * size))).toEqual([10, 11, 12]);
      expect(offsets(log.read(10, 100, 3 * size - 1))).toEqual([10, 11, 12]);
      expect(offsets(log.read(10, 100, 2 * size + 1))).toEqual([10, 11, 12]);
      expect(offsets(log.read(10, 100, 2 * size))).toEqual([10, 11]);
      // The first entry always comes, however small maxBytes is.
      expect(offsets(log.read(10, 100, 1))).toEqual([10]);
      expect(offsets(log.read(10, 100, 0))).toEqual([10]);
      await log.close();
    });

    it('stream log - entries are readable as soon as they are appended, before and after they are flushed', async () => {
      const log = await makeFactory().open();
      fill(log, 10);
      await log.flushed();
      fill(log, 10, 10);
      expect(offsets(log.read(5, 100, Infinity))).toEqual(range(5, 20));
      expect(payloads(log.read(15, 1, Infinity))).toEqual([{ n: 15, pad: '' }]);
      const flushed = log.flushed();
      fill(log, 5, 20);
      expect(offsets(log.read(18, 100, Infinity))).toEqual(range(18, 25));
      await flushed;
      await log.flushed();
      expect(log.flushedNext).toBe(25);
      expect(offsets(log.read(0, 100, Infinity))).toEqual(range(0, 25));
      await log.close();
    });

    it('stream log - offsetAtTimestamp finds the first entry at or after a time; timestamps never go back', async () => {
      const log = await makeFactory().open({ segmentBytes: 400 });
      fill(log, 40);
      expect(log.offsetAtTimestamp(0)).toBe(0);
      expect(log.offsetAtTimestamp(1000)).toBe(0);
      expect(log.offsetAtTimestamp(1001)).toBe(1);
      expect(log.offsetAtTimestamp(1250)).toBe(25);
      expect(log.offsetAtTimestamp(1255)).toBe(26);
      expect(log.offsetAtTimestamp(1390)).toBe(39);
      expect(log.offsetAtTimestamp(1391)).toBe(40);
      await log.flushed();
      for (let ms = 990; ms <= 1400; ms += 7) expect(log.offsetAtTimestamp(ms)).toBe(Math.min(40, Math.max(0, Math.ceil((ms - 1000) / 10))));
      // A clock that steps back: the entry keeps the last time.
      log.append(message('late'), 500);
      expect(log.read(40, 1, Infinity)[0].timestamp).toBe(1390);
      expect(log.offsetAtTimestamp(1390)).toBe(39);
      await log.close();
    });

    it('stream log - segments roll at segmentBytes; bytes counts every record', async () => {
      const one = recordBytes(message({ n: 10, pad: '' }));
      const log = await makeFactory().open({ segmentBytes: 4 * one });
      fill(log, 10, 10);
      expect(log.bytes).toBe(10 * one);
      await log.flushed();
      expect(log.bytes).toBe(10 * one);
      await log.close();
    });

    it('stream log - retention by bytes drops whole segments, oldest first, never the active one; first moves', async () => {
      const one = recordBytes(message({ n: 10, pad: '' }));
      const factory = makeFactory();
      // Segments of 4 entries: offsets [0..3] [4..7] [8..11] [12..15] [16..19].
      let log = await factory.open({ segmentBytes: 4 * one });
      fill(log, 20, 10);
      await log.flushed();
      log = await factory.reopen(log, { segmentBytes: 4 * one, maxBytes: 12 * one });
      expect(log.first).toBe(0);
      expect(log.applyRetention(0)).toBe(8);
      expect([log.first, log.next, log.bytes]).toEqual([8, 20, 12 * one]);
      expect(offsets(log.read(0, 3, Infinity))).toEqual([8, 9, 10]);
      expect(log.offsetAtTimestamp(0)).toBe(8);
      expect(log.applyRetention(0)).toBe(0);
      // Never the active segment, however small the limit.
      log = await factory.reopen(log, { segmentBytes: 4 * one, maxBytes: 1 });
      expect(log.applyRetention(0)).toBe(8);
      expect([log.first, log.next, log.bytes]).toEqual([16, 20, 4 * one]);
      expect(offsets(log.read(0, 100, Infinity))).toEqual([16, 17, 18, 19]);
      // Appends that roll a segment apply retention themselves.
      fill(log, 1, 30);
      expect([log.first, log.next]).toEqual([20, 21]);
      await log.close();
    });

    it('stream log - retention by age drops segments whose newest entry is older than now - maxAge', async () => {
      const one = recordBytes(message({ n: 10, pad: '' }));
      // Segments of 5 entries at 1000 + 10 n: the first segment's newest is 1040, the second's 1090, ...
      // (n from 0 to 9 has one digit fewer than the rest: sizes differ, but 5 of either fit.)
      const log = await makeFactory().open({ segmentBytes: 5 * one, maxAgeMs: 200 });
      fill(log, 20, 0);
      // (The rolls applied retention with the append's time: nothing was old enough.)
      expect(log.first).toBe(0);
      expect(log.applyRetention(1240)).toBe(0);
      expect(log.applyRetention(1241)).toBe(5);
      expect(log.first).toBe(5);
      expect(log.applyRetention(1341)).toBe(10);
      expect(log.first).toBe(15);
      expect(log.applyRetention(1_000_000)).toBe(0);
      expect(offsets(log.read(0, 100, Infinity))).toEqual([15, 16, 17, 18, 19]);
      await log.close();
    });

    it('stream log - a restart keeps offsets, entries, timestamps and committed offsets; next goes on', async () => {
      const one = recordBytes(message({ n: 10, pad: '' }));
      const factory = makeFactory();
      let log = await factory.open({ segmentBytes: 3 * one });
      fill(log, 10);
      log.commit('billing', 4);
      log.commit('audit', 9);
      log = await factory.reopen(log, { segmentBytes: 3 * one });
      expect([log.first, log.next, log.bytes]).toEqual([0, 10, range(0, 10).reduce((sum, n) => sum + recordBytes(message({ n, pad: '' })), 0)]);
      expect(log.read(0, 100, Infinity)).toEqual(range(0, 10).map((n) => ({ offset: n, timestamp: 1000 + 10 * n, message: message({ n, pad: '' }) })));
      expect([log.committed('billing'), log.committed('audit'), log.committed('other')]).toEqual([4, 9, null]);
      expect(log.append(message('after'), 5000)).toBe(10);
      expect(log.offsetAtTimestamp(1095)).toBe(10);
      log.append(message('old clock'), 0);
      expect(log.read(11, 1, Infinity)[0].timestamp).toBe(5000);
      log = await factory.reopen(log, { segmentBytes: 3 * one, maxBytes: 4 * one });
      expect(log.applyRetention(0)).toBe(9);
      log = await factory.reopen(log, { segmentBytes: 3 * one });
      expect([log.first, log.next]).toEqual([9, 12]);
      expect(payloads(log.read(0, 100, Infinity))).toEqual([{ n: 9, pad: '' }, 'after', 'old clock']);
      await log.close();
    });

    it('stream log - commits overwrite (a lower one too) and must name an offset of the stream', async () => {
      const log = await makeFactory().open();
      expect(() => log.commit('g', 0)).toThrow(RangeError);
      fill(log, 5);
      log.commit('g', 3);
      log.commit('g', 1);
      expect(log.committed('g')).toBe(1);
      log.commit('g', 4);
      expect(log.committed('g')).toBe(4);
      expect(() => log.commit('g', 5)).toThrow(/integer from 0 to 4/);
      expect(() => log.commit('g', -1)).toThrow(RangeError);
      expect(() => log.commit('g', 1.5)).toThrow(RangeError);
      expect(log.committed('g')).toBe(4);
      log.commit('__proto__', 2);
      expect(log.committed('__proto__')).toBe(2);
      expect(log.committed('toString')).toBeNull();
      await log.close();
    });

    it('stream log - bad arguments are refused', async () => {
      await expect(makeFactory().open({ segmentBytes: 0 })).rejects.toThrow(/segmentBytes/);
      await expect(makeFactory().open({ maxAgeMs: -1 })).rejects.toThrow(/maxAgeMs/);
      const log = await makeFactory().open();
      expect(() => log.append(message(1), Number.NaN)).toThrow(/timestamp/);
      expect(() => log.read(Number.NaN, 1, 1)).toThrow(RangeError);
      await log.close();
    });

    it('stream log - after close, appends and reads throw; delete removes everything', async () => {
      const factory = makeFactory();
      let log = await factory.open();
      fill(log, 3);
      log = await factory.reopen(log);
      expect(log.next).toBe(3);
      await log.close();
      expect(() => log.append(message(1), 1)).toThrow(/closed/);
      expect(() => log.read(0, 1, 1)).toThrow(/closed/);
      log = await factory.reopen(log);
      log.commit('g', 1);
      await log.delete();
      log = await factory.open();
      expect([log.first, log.next, log.committed('g')]).toEqual([0, 0, null]);
      await log.close();
    });
  });
}

describe('stream log - record format', () => {
  it('stream log - the CRC32 of small bodies (JavaScript) and large ones (zlib) is zlib.crc32 of the same bytes', () => {
    const data = Buffer.alloc(5000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 3)) & 0xff;
    for (let length = 0; length <= 600; length++) for (const start of [0, 3]) expect(crc32Of(data, start, start + length)).toBe(crc32(data.subarray(start, start + length)));
    expect(crc32Of(data, 1, 4999)).toBe(crc32(data.subarray(1, 4999)));
  });
});

streamContract('MemoryStreamLog', memoryFactory);
streamContract('FileStreamLog', fileFactory);
