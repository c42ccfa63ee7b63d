import { appendFileSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../../src/broker/index.js';
import { FileStreamLog, type StreamEntry, type StreamLogOptions } from '../../src/store/stream/index.js';
import { expectOneSyncedWrite, fileHandlePrototype } from './file-handles.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-stream-'));
  dirs.push(dir);
  return join(dir, 'stream');
}

/** A copy of the stream's files as they are on disk this moment: what a kill -9 now would leave. */
function crashCopy(dir: string): string {
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  return copy;
}

/** A logger whose lines a test can read. */
function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}
const problems = (lines: Record<string, unknown>[]) => lines.filter((line) => (line.level as number) >= 40);

const message = (payload: unknown, extra: Partial<Message> = {}): Message => {
  const text = JSON.stringify(payload);
  return { exchange: 'events', routingKey: 'e', payload: text, size: Buffer.byteLength(text), headers: {}, properties: {}, ...extra };
};
const offsets = (entries: StreamEntry[]): number[] => entries.map((entry) => entry.offset);
const ns = (entries: StreamEntry[]): number[] => entries.map((entry) => (JSON.parse(entry.message.payload) as { n: number }).n);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

const segmentFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.stream'))
    .sort()
    .map((name) => join(dir, name));
const indexFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.index'))
    .sort()
    .map((name) => join(dir, name));

/** A stream in `dir` with entries {n: 0 .. count-1, pad} (timestamps 1000 + n), closed. */
async function seed(dir: string, count: number, options: StreamLogOptions = {}, pad = 'p'.repeat(40)): Promise<void> {
  const log = await FileStreamLog.open(dir, options);
  for (let n = 0; n < count; n++) log.append(message({ n, pad }), 1000 + n);
  await log.close();
}

const until = async (condition: () => boolean, ms = 2000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('stream file - group commit', () => {
  it('stream file - appends in one event-loop turn go out in one synced write; their flushed() is one promise', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir);
    const prototype = await fileHandlePrototype();
    const datasync = vi.spyOn(prototype, 'datasync');
    const write = vi.spyOn(prototype, 'write');
    const waits = new Set<Promise<void>>();
    for (let n = 0; n < 1000; n++) {
      log.append(message({ n }), n);
      waits.add(log.flushed());
    }
    expect(waits.size).toBe(1);
    expect(log.flushedNext).toBe(0);
    await Promise.all(waits);
    expectOneSyncedWrite(write, datasync);
    expect(log.flushedNext).toBe(1000);
    await log.close();
  });

  it('stream file - a reopened segment that has bytes is synced once when first written, then each batch is one synced write', async () => {
    const dir = tempDir();
    await seed(dir, 3);
    const log = await FileStreamLog.open(dir);
    const datasync = vi.spyOn(await fileHandlePrototype(), 'datasync');
    log.append(message({ n: 3 }), 3);
    await log.flushed();
    log.append(message({ n: 4 }), 4);
    await log.flushed();
    // With O_DSYNC (Linux) the syncs are the writes' own, after one fdatasync of what was there; elsewhere one per batch.
    expect(datasync).toHaveBeenCalledTimes(process.platform === 'linux' && constants.O_DSYNC !== undefined ? 1 : 2);
    expect(ns(log.read(0, 10, Infinity))).toEqual([0, 1, 2, 3, 4]);
    await log.close();
  });

  it("stream file - with sync 'none' flushed() waits for the write only; close still syncs", async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir, { sync: 'none' });
    const datasync = vi.spyOn(await fileHandlePrototype(), 'datasync');
    log.append(message({ n: 0 }), 1);
    await log.flushed();
    expect(datasync).not.toHaveBeenCalled();
    await log.close();
    expect(datasync).toHaveBeenCalledTimes(1);
  });

  it('stream file - a full disk fails flushed() without tearing the file; the entries stay readable and are written once there is room', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir);
    log.append(message({ n: 0 }), 1);
    await log.flushed();
    const prototype = await fileHandlePrototype();
    const realWrite = prototype.write as (this: FileHandle, buffer: Buffer, offset: number, length: number) => Promise<{ bytesWritten: number }>;
    vi.spyOn(prototype, 'write').mockImplementationOnce(async function (this: FileHandle, ...args: unknown[]) {
      const [buffer, offset, length] = args as [Buffer, number, number];
      await realWrite.call(this, buffer, offset, Math.floor(length / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    } as unknown as typeof prototype.write);
    log.append(message({ n: 1, pad: 'z'.repeat(500) }), 2);
    await expect(log.flushed()).rejects.toThrow(/the disk is full/);
    expect(ns(log.read(0, 10, Infinity))).toEqual([0, 1]);
    expect(log.flushedNext).toBe(1);

    const { logger, lines } = captureLogger();
    const crashed = await FileStreamLog.open(crashCopy(dir), {}, { logger });
    expect(ns(crashed.read(0, 10, Infinity))).toEqual([0]);
    expect(problems(lines)).toEqual([]);
    await crashed.close();

    log.append(message({ n: 2 }), 3);
    await log.flushed();
    await log.close();
    const reopened = await FileStreamLog.open(dir);
    expect(ns(reopened.read(0, 10, Infinity))).toEqual([0, 1, 2]);
    expect(offsets(reopened.read(0, 10, Infinity))).toEqual([0, 1, 2]);
    await reopened.close();
  });
});

describe('stream file - recovery', () => {
  it('stream file - a record cut short at the end of the last segment is dropped and logged; offsets go on after the last good entry', async () => {
    const dir = tempDir();
    await seed(dir, 20);
    const last = segmentFiles(dir).at(-1) as string;
    truncateSync(last, statSync(last).size - 5);
    const { logger, lines } = captureLogger();
    const log = await FileStreamLog.open(dir, {}, { logger });
    expect(log.next).toBe(19);
    expect(ns(log.read(0, 100, Infinity))).toEqual(range(0, 19));
    expect(problems(lines)).toEqual([expect.objectContaining({ level: 40, segment: last, next: 19, keptEntries: 19, reason: expect.stringMatching(/cut short/) })]);
    expect(log.append(message({ n: 99 }), 5000)).toBe(19);
    await log.close();

    const again = captureLogger();
    const reopened = await FileStreamLog.open(dir, {}, { logger: again.logger });
    expect(ns(reopened.read(0, 100, Infinity))).toEqual([...range(0, 19), 99]);
    expect(problems(again.lines)).toEqual([]);
    await reopened.close();
  });

  it('stream file - garbage after the last record is dropped', async () => {
    const dir = tempDir();
    await seed(dir, 5);
    appendFileSync(segmentFiles(dir).at(-1) as string, Buffer.from([0x00, 0x00, 0x00]));
    const { logger, lines } = captureLogger();
    const log = await FileStreamLog.open(dir, {}, { logger });
    expect(log.next).toBe(5);
    expect(problems(lines)).toEqual([expect.objectContaining({ droppedBytes: 3, reason: expect.stringMatching(/header cut short/) })]);
    await log.close();
  });

  it('stream file - flipped bytes in the last segment: the entries before them are kept, offsets go on from there', async () => {
    const dir = tempDir();
    await seed(dir, 40);
    const last = segmentFiles(dir).at(-1) as string;
    const bytes = readFileSync(last);
    bytes[Math.floor(bytes.length * 0.6)] ^= 0xff;
    writeFileSync(last, bytes);
    const { logger, lines } = captureLogger();
    const log = await FileStreamLog.open(dir, {}, { logger });
    expect(log.next).toBeGreaterThan(10);
    expect(log.next).toBeLessThan(40);
    expect(ns(log.read(0, 100, Infinity))).toEqual(range(0, log.next));
    expect(problems(lines)[0]).toMatchObject({ reason: expect.stringMatching(/CRC32|length|offset/) });
    await log.close();
  });

  it('stream file - a kill -9 keeps every flushed entry with its offset; unflushed ones may go and their offsets are given again', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir, { segmentBytes: 2048 });
    for (let n = 0; n < 100; n++) log.append(message({ n }), n);
    await log.flushed();
    for (let n = 100; n < 110; n++) log.append(message({ n }), n);
    // The same turn: the batch of 100..109 is not written yet.
    const copy = crashCopy(dir);
    await log.close();
    const recovered = await FileStreamLog.open(copy, { segmentBytes: 2048 });
    expect([recovered.first, recovered.next]).toEqual([0, 100]);
    expect(ns(recovered.read(0, 1000, Infinity))).toEqual(range(0, 100));
    expect(recovered.append(message({ n: 'new' }), 200)).toBe(100);
    await recovered.close();
  });

  it('stream file - damage in a sealed segment (scanned for want of its index) cuts that segment; later segments keep their offsets and reads step over the gap', async () => {
    const dir = tempDir();
    await seed(dir, 60, { segmentBytes: 1024 });
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(3);
    for (const index of indexFiles(dir)) unlinkSync(index);
    const bytes = readFileSync(files[1]);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(files[1], bytes);
    const { logger, lines } = captureLogger();
    const log = await FileStreamLog.open(dir, { segmentBytes: 1024 }, { logger });
    expect(problems(lines)).toEqual([expect.objectContaining({ level: 50, segment: files[1] })]);
    const kept = ns(log.read(0, 1000, Infinity));
    const third = Number(/(\d+)\.stream$/.exec(files[2])?.[1]);
    const cut = problems(lines)[0].next as number;
    expect(kept).toEqual([...range(0, cut), ...range(third, 60)]);
    expect(offsets(log.read(0, 1000, Infinity))).toEqual(kept);
    expect(offsets(log.read(cut, 2, Infinity))).toEqual([third, third + 1]);
    expect(log.next).toBe(60);
    await log.close();
    const again = captureLogger();
    const reopened = await FileStreamLog.open(dir, { segmentBytes: 1024 }, { logger: again.logger });
    expect(ns(reopened.read(0, 1000, Infinity))).toEqual(kept);
    expect(problems(again.lines)).toEqual([]);
    await reopened.close();
  });

  it('stream file - an empty directory and a directory with only an empty segment open as an empty stream', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir);
    await log.close();
    writeFileSync(join(dir, `${'0'.repeat(17)}123.stream`), '');
    const reopened = await FileStreamLog.open(dir);
    expect([reopened.first, reopened.next]).toEqual([123, 123]);
    expect(reopened.append(message({ n: 0 }), 1)).toBe(123);
    await reopened.close();
  });

  it('stream file - a dir that cannot be used is a clear error', async () => {
    const file = `${tempDir()}-a-file`;
    writeFileSync(file, 'x');
    await expect(FileStreamLog.open(join(file, 'stream'))).rejects.toThrow(/cannot use stream dir ".*": a part of the path is a file/);
  });

  it('stream file - start-up logs what it recovered', async () => {
    const dir = tempDir();
    await seed(dir, 30, { segmentBytes: 1024 });
    const { logger, lines } = captureLogger();
    const log = await FileStreamLog.open(dir, { segmentBytes: 1024 }, { logger });
    expect(lines.find((line) => line.msg === 'stream recovered')).toMatchObject({ first: 0, next: 30, segments: segmentFiles(dir).length, bytes: log.bytes, ms: expect.any(Number) });
    await log.close();
  });
});

describe('stream file - segments, indexes and retention on disk', () => {
  it('stream file - each sealed segment gets an index file; sealed segments are not read at start-up when their index matches', async () => {
    const dir = tempDir();
    await seed(dir, 200, { segmentBytes: 2048 });
    const segments = segmentFiles(dir);
    expect(indexFiles(dir).map((file) => file.replace('.index', '.stream'))).toEqual(segments.slice(0, -1));
    // Damage the middle of a sealed segment: with a matching index, open does not read it...
    const bytes = readFileSync(segments[2]);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(segments[2], bytes);
    const { logger, lines } = captureLogger();
    const log = await FileStreamLog.open(dir, { segmentBytes: 2048 }, { logger });
    expect(problems(lines)).toEqual([]);
    expect(log.next).toBe(200);
    // ...and a read that meets it logs it and steps over the rest of that segment.
    const read = ns(log.read(0, 1000, Infinity));
    expect(read.length).toBeLessThan(200);
    expect(read).toEqual(offsets(log.read(0, 1000, Infinity)));
    expect(problems(lines)).toEqual([expect.objectContaining({ level: 50, segment: segments[2], reason: expect.stringMatching(/CRC32/) })]);
    await log.close();
  });

  it('stream file - missing or stale index files are rebuilt, at start-up and when a read needs one', async () => {
    const dir = tempDir();
    await seed(dir, 200, { segmentBytes: 2048 });
    const indexes = indexFiles(dir);
    unlinkSync(indexes[0]);
    writeFileSync(indexes[1], 'not an index');
    const log = await FileStreamLog.open(dir, { segmentBytes: 2048 });
    expect(indexFiles(dir)).toEqual(indexes);
    unlinkSync(indexes[3]);
    const { logger, lines } = captureLogger();
    const watched = await FileStreamLog.open(dir, { segmentBytes: 2048 }, { logger });
    unlinkSync(indexes[4]);
    expect(ns(watched.read(0, 1000, Infinity))).toEqual(range(0, 200));
    expect(lines.filter((line) => /index file is missing or stale/.test(String(line.msg)))).toHaveLength(1);
    await watched.close();
    await log.close();
    expect(indexFiles(dir)).toEqual(indexes);
  });

  it('stream file - reads from every offset across many segments agree, for readers interleaved at different offsets', async () => {
    const dir = tempDir();
    // Entries of varied sizes, some bigger than the read chunk and one bigger than a segment.
    const log = await FileStreamLog.open(dir, { segmentBytes: 16 * 1024 });
    const sizes: number[] = [];
    for (let n = 0; n < 2000; n++) {
      const pad = n === 700 ? 'L'.repeat(100_000) : n % 97 === 0 ? 'M'.repeat(70_000) : 'x'.repeat(n % 300);
      log.append(message({ n, pad }), 1000 + n);
      sizes.push(pad.length);
      if (n % 150 === 0) await log.flushed();
    }
    await log.flushed();
    expect(segmentFiles(dir).length).toBeGreaterThan(CACHED_INDEXES_PLUS);
    for (const from of [0, 1, 96, 97, 98, 699, 700, 701, 1234, 1999]) expect(ns(log.read(from, 50, Infinity))).toEqual(range(from, Math.min(from + 50, 2000)));
    // 25 readers, each reading 7 at a time from its own offset, round-robin until all are at the end.
    const readers = Array.from({ length: 25 }, (_, i) => i * 80);
    const seen = readers.map(() => [] as number[]);
    for (let active = true; active; ) {
      active = false;
      readers.forEach((at, i) => {
        const got = log.read(at, 7, Infinity);
        if (got.length === 0) return;
        active = true;
        seen[i].push(...ns(got));
        readers[i] = got[got.length - 1].offset + 1;
      });
    }
    seen.forEach((got, i) => expect(got).toEqual(range(i * 80, 2000)));
    expect(log.offsetAtTimestamp(1700)).toBe(700);
    await log.close();
    const reopened = await FileStreamLog.open(dir, { segmentBytes: 16 * 1024 });
    expect(reopened.read(700, 1, Infinity)[0].message.size).toBe(sizes[700] + '{"n":700,"pad":""}'.length);
    for (let ms = 900; ms < 3100; ms += 37) expect(reopened.offsetAtTimestamp(ms)).toBe(Math.min(2000, Math.max(0, ms - 1000)));
    await reopened.close();
  });

  it('stream file - retention deletes the dropped segments and their index files; bytes is what the files hold', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir, { segmentBytes: 2048, maxBytes: 8192 });
    for (let n = 0; n < 1000; n++) {
      log.append(message({ n, pad: 'q'.repeat(50) }), n);
      if (n % 100 === 99) await log.flushed();
    }
    await log.flushed();
    await until(() => segmentFiles(dir).length <= 5);
    const sizes = segmentFiles(dir).reduce((sum, file) => sum + statSync(file).size, 0);
    expect(log.bytes).toBe(sizes);
    expect(log.bytes).toBeLessThanOrEqual(8192 + 2048);
    expect(Number(/(\d+)\.stream$/.exec(segmentFiles(dir)[0])?.[1])).toBe(log.first);
    await log.close();
    expect(indexFiles(dir).length).toBe(segmentFiles(dir).length - 1);
    const reopened = await FileStreamLog.open(dir, { segmentBytes: 2048 });
    expect(ns(reopened.read(0, 1000, Infinity))).toEqual(range(reopened.first, 1000));
    await reopened.close();
  });

  it('stream file - delete removes the stream directory', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir, { segmentBytes: 1024 });
    for (let n = 0; n < 100; n++) log.append(message({ n }), n);
    log.commit('g', 50);
    await log.delete();
    expect(existsSync(dir)).toBe(false);
  });
});

describe('stream file - consumer group offsets', () => {
  it('stream file - commits cost no sync of their own: many commits are one write of the offsets file', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir, { commitIntervalMs: 30 });
    for (let n = 0; n < 100; n++) log.append(message({ n }), n);
    await log.flushed();
    const datasync = vi.spyOn(await fileHandlePrototype(), 'datasync');
    for (let i = 0; i < 1000; i++) log.commit(`g${i % 10}`, i % 100);
    expect(datasync).not.toHaveBeenCalled();
    await until(() => existsSync(join(dir, 'offsets.json')));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(datasync).toHaveBeenCalledTimes(1);
    expect(JSON.parse(readFileSync(join(dir, 'offsets.json'), 'utf8'))).toEqual({ groups: range(0, 10).map((g) => [`g${g}`, 990 + g - 900]) });
    await log.close();
  });

  it('stream file - a crash after a commit gives the commit before it (older, never newer); a clean close keeps the last', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir, { commitIntervalMs: 10 });
    for (let n = 0; n < 10; n++) log.append(message({ n }), n);
    log.commit('g', 3);
    await until(() => existsSync(join(dir, 'offsets.json')));
    log.commit('g', 7);
    const crashed = await FileStreamLog.open(crashCopy(dir));
    expect(crashed.committed('g')).toBe(3);
    await crashed.close();
    await log.close();
    const reopened = await FileStreamLog.open(dir);
    expect(reopened.committed('g')).toBe(7);
    await reopened.close();
  });

  it('stream file - the offsets file never names an entry that is not on disk yet (a crash could give its offset to another message)', async () => {
    const dir = tempDir();
    const log = await FileStreamLog.open(dir, { commitIntervalMs: 0 });
    log.append(message({ n: 0 }), 0);
    await log.flushed();
    // Hold the next (synced) write of the entries until the test lets it go.
    const prototype = await fileHandlePrototype();
    const realWrite = prototype.write as (this: FileHandle, ...args: unknown[]) => Promise<{ bytesWritten: number }>;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    vi.spyOn(prototype, 'write').mockImplementationOnce(async function (this: FileHandle, ...args: unknown[]) {
      await held;
      return realWrite.call(this, ...args);
    } as unknown as typeof prototype.write);
    for (let n = 1; n < 10; n++) log.append(message({ n }), n);
    log.commit('g', 9);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The entries are not on disk yet, the commit waits for them: a crash now finds no commit.
    expect(existsSync(join(dir, 'offsets.json'))).toBe(false);
    release();
    await until(() => existsSync(join(dir, 'offsets.json')));
    const crashed = await FileStreamLog.open(crashCopy(dir));
    expect([crashed.next, crashed.committed('g')]).toEqual([10, 9]);
    await crashed.close();
    await log.close();
  });

  it('stream file - a damaged offsets file is set aside and logged; the groups start with none', async () => {
    const dir = tempDir();
    await seed(dir, 3);
    writeFileSync(join(dir, 'offsets.json'), '{"groups":[["g",');
    const { logger, lines } = captureLogger();
    const log = await FileStreamLog.open(dir, {}, { logger });
    expect(log.committed('g')).toBeNull();
    expect(existsSync(join(dir, 'offsets.json.damaged'))).toBe(true);
    expect(problems(lines)).toEqual([expect.objectContaining({ level: 50, msg: expect.stringMatching(/offsets file does not parse/) })]);
    log.commit('g', 2);
    await log.close();
    const reopened = await FileStreamLog.open(dir);
    expect(reopened.committed('g')).toBe(2);
    await reopened.close();
  });
});

describe('stream file - a new stream made without waiting', () => {
  it('stream file - create makes the directory at once and reads nothing; the segment file comes with the first write, and open finds the stream again', async () => {
    const dir = tempDir();
    const log = FileStreamLog.create(dir, { segmentBytes: 1024 });
    expect(readdirSync(dir)).toEqual([]);
    expect([log.first, log.next, log.flushedNext, log.bytes]).toEqual([0, 0, 0, 0]);
    for (let n = 0; n < 30; n++) expect(log.append(message({ n }), 1000 + n)).toBe(n);
    expect(ns(log.read(0, 100, Infinity))).toEqual(range(0, 30));
    await log.flushed();
    expect(segmentFiles(dir).length).toBeGreaterThan(1);
    log.commit('g', 12);
    await log.close();
    const reopened = await FileStreamLog.open(dir, { segmentBytes: 1024 });
    expect([reopened.first, reopened.next, reopened.committed('g')]).toEqual([0, 30, 12]);
    expect(ns(reopened.read(0, 100, Infinity))).toEqual(range(0, 30));
    await reopened.close();
  });

  it('stream file - create refuses a directory that holds a stream, and one that cannot be made', async () => {
    const dir = tempDir();
    await seed(dir, 3);
    expect(() => FileStreamLog.create(dir)).toThrow(/holds one already; open it instead/);
    const file = `${tempDir()}-a-file`;
    writeFileSync(file, 'x');
    expect(() => FileStreamLog.create(join(file, 'stream'))).toThrow(/cannot use stream dir ".*": a part of the path is a file/);
    expect(() => FileStreamLog.create(tempDir(), { segmentBytes: 0 })).toThrow(RangeError);
  });

  it('stream file - with prepare, create touches no file and nothing is written until prepare resolves; a rejected prepare fails flushed() and runs again', async () => {
    const dir = tempDir();
    let attempts = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const log = FileStreamLog.create(dir, {}, {
      prepare: async () => {
        attempts++;
        if (attempts === 1) throw new Error('not yet');
        await gate;
        mkdirSync(dir, { recursive: true });
      },
    });
    expect(existsSync(dir)).toBe(false);
    log.append(message({ n: 0 }), 1);
    await expect(log.flushed()).rejects.toThrow(/not yet/);
    expect([log.next, log.flushedNext]).toEqual([1, 0]);
    // Readable all the while, as any entry not yet flushed.
    expect(ns(log.read(0, 10, Infinity))).toEqual([0]);
    log.append(message({ n: 1 }), 2);
    const flushed = log.flushed();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect([attempts, log.flushedNext, existsSync(dir)]).toEqual([2, 0, false]);
    release();
    await flushed;
    expect(log.flushedNext).toBe(2);
    await log.close();
    const reopened = await FileStreamLog.open(dir);
    expect(ns(reopened.read(0, 10, Infinity))).toEqual([0, 1]);
    await reopened.close();
  });

  it('stream file - onUnflushed is called by the first append after everything was flushed, once', async () => {
    const dir = tempDir();
    const calls: FileStreamLog[] = [];
    const log = FileStreamLog.create(dir, {}, { onUnflushed: (which) => calls.push(which) });
    log.append(message({ n: 0 }), 1);
    log.append(message({ n: 1 }), 1);
    expect(calls).toEqual([log]);
    await log.flushed();
    log.append(message({ n: 2 }), 1);
    expect(calls).toEqual([log, log]);
    await log.close();
  });

  it('stream file - writes and fdatasyncs are counted in the io given', async () => {
    const io = { writtenBytes: 0, syncs: 0 };
    const log = await FileStreamLog.open(tempDir(), {}, { io });
    for (let n = 0; n < 10; n++) log.append(message({ n }), n);
    await log.flushed();
    expect(io).toEqual({ writtenBytes: log.bytes, syncs: 1 });
    await log.close();
  });

  it('stream file - setOptions applies retention and segment size from now on, to a reopened log too; sync cannot change', async () => {
    const dir = tempDir();
    await seed(dir, 100, { segmentBytes: 1024 });
    const log = await FileStreamLog.open(dir);
    // Opened with the default options: no retention, 64 MiB segments.
    expect(log.applyRetention(10_000)).toBe(0);
    log.setOptions({ segmentBytes: 1024, maxBytes: 3000 });
    expect(log.applyRetention(10_000)).toBeGreaterThan(0);
    expect(log.bytes).toBeLessThanOrEqual(3000);
    const firstFile = () => segmentFiles(dir)[0] === join(dir, `${String(log.first).padStart(20, '0')}.stream`);
    await until(firstFile);
    const before = segmentFiles(dir).at(-1);
    for (let n = 100; n < 130; n++) log.append(message({ n, pad: 'p'.repeat(40) }), 1000 + n);
    await log.flushed();
    // The recovered last segment took the new size: it rolled.
    expect(segmentFiles(dir).at(-1)).not.toBe(before);
    // Retention ran at each roll: over maxBytes by at most the segment being filled.
    expect(log.bytes).toBeLessThanOrEqual(3000 + 1024);
    expect(() => log.setOptions({ sync: 'none' })).toThrow(/sync cannot change/);
    expect(() => log.setOptions({ maxAgeMs: -1 })).toThrow(RangeError);
    log.setOptions({ segmentBytes: 1024, maxAgeMs: 1 });
    expect(log.applyRetention(10_000)).toBeGreaterThan(0);
    await until(() => segmentFiles(dir).length === 1 && firstFile());
    await log.close();
  });
});

/** More sealed segments than the log keeps indexes of in memory (8). */
const CACHED_INDEXES_PLUS = 10;
