import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { IoCounts, StreamLog } from '../../src/broker/index.js';
import { JournalStore, VhostJournals } from '../../src/store/index.js';
import { FileStreamLog } from '../../src/store/stream/index.js';
import { message, queue, streamQueue } from './contract.js';

// The journal store's stream logs (issue 15): where they live, how start-up finds them again,
// and what a crash at any moment leaves. The store contract (contract.ts) covers the rest.

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-streams-'));
  dirs.push(dir);
  return dir;
}

/**
 * A copy of the data dir as it is on disk this moment: what a kill -9 now would leave (the
 * copy's LOCK names this process, which does not hold it: the copy opens as after a crash). A
 * file removed by a removal under way while it is being copied is copied again a moment later.
 */
function crashCopy(dataDir: string): string {
  for (;;) {
    const copy = tempDir();
    try {
      cpSync(dataDir, copy, { recursive: true });
      return copy;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const streamDir = (dataDir: string, name: string): string => join(dataDir, 'streams', sha256(name));
const payloads = (log: StreamLog): unknown[] => log.read(0, 10_000, Infinity).map((entry) => JSON.parse(entry.message.payload) as unknown);

async function openStore(dataDir: string, logger?: Logger, io?: IoCounts): Promise<JournalStore> {
  const store = await JournalStore.open({ dataDir, sync: 'always', logger, io });
  await store.recover();
  return store;
}

describe('journal streams - layout', () => {
  it('journal streams - a stream is made at once in streams/<sha256 of the queue name>/ with queue.json; its segment file comes with the first write', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    const name = 'events/é "x"';
    store.putQueue(streamQueue(name));
    const log = store.openStream(name, {});
    const dir = streamDir(dataDir, name);
    // No await since openStream: the directory and its name are there.
    expect(readdirSync(dir)).toEqual(['queue.json']);
    expect(JSON.parse(readFileSync(join(dir, 'queue.json'), 'utf8'))).toBe(name);
    log.append(message(1), 1);
    await store.sync();
    expect(readdirSync(dir).sort()).toEqual(['00000000000000000000.stream', 'queue.json']);
    await store.close();
  });

  it('journal streams - the streams of a vhost live inside its directory and go with it; those of "/" beside its journal', async () => {
    const dataDir = tempDir();
    const stores = await VhostJournals.open({ dataDir, sync: 'always' });
    for (const vhost of ['/', 'prod']) {
      const store = await stores.open(vhost);
      await store.recover();
      store.putQueue(streamQueue('s'));
      store.openStream('s', {}).append(message(vhost), 1);
      await store.sync();
      await store.close();
    }
    const prodDir = join(dataDir, 'vhosts', sha256('prod'));
    expect(existsSync(join(prodDir, 'streams', sha256('s'), 'queue.json'))).toBe(true);
    expect(existsSync(join(streamDir(dataDir, 's'), 'queue.json'))).toBe(true);
    await stores.remove('prod');
    expect(existsSync(prodDir)).toBe(false);
    await stores.remove('/');
    expect(existsSync(join(dataDir, 'streams'))).toBe(false);
    const again = await stores.open('/');
    expect((await again.recover()).queues).toEqual([]);
    await again.close();
    await stores.close();
  });

  it("journal streams - stream writes and fdatasyncs count in the store's io", async () => {
    const dataDir = tempDir();
    const io: IoCounts = { writtenBytes: 0, syncs: 0 };
    const store = await openStore(dataDir, undefined, io);
    store.putQueue(streamQueue('a'));
    store.putQueue(streamQueue('b'));
    const a = store.openStream('a', {});
    const b = store.openStream('b', {});
    await store.sync();
    const before = { ...io };
    for (let n = 0; n < 100; n++) a.append(message(n), n);
    b.append(message('b'), 1);
    const syncs = [store.sync(), store.sync()];
    // Callers in the same batches share one promise, as they do for the journal alone.
    expect(syncs[0]).toBe(syncs[1]);
    await Promise.all(syncs);
    expect([a.flushedNext, b.flushedNext]).toEqual([100, 1]);
    expect(io.writtenBytes - before.writtenBytes).toBe(a.bytes + b.bytes);
    expect(io.syncs - before.syncs).toBe(2);
    await store.close();
  });

  it('journal streams - openStream is refused before recover(), for a queue not stored or not a stream, and after close()', async () => {
    const dataDir = tempDir();
    const store = await JournalStore.open({ dataDir, sync: 'always' });
    store.putQueue(streamQueue('s'));
    expect(() => store.openStream('s', {})).toThrow(/before recover\(\)/);
    await store.recover();
    store.putQueue(queue('classic'));
    expect(() => store.openStream('nowhere', {})).toThrow(/holds no stream queue of that name/);
    expect(() => store.openStream('classic', {})).toThrow(/holds no stream queue of that name/);
    const log = store.openStream('s', {});
    await store.close();
    expect(() => store.openStream('s', {})).toThrow(/the store is closed/);
    // close() closed the stream too.
    expect(() => log.append(message(1), 1)).toThrow(/closed/);
    expect(existsSync(join(dataDir, 'streams', sha256('nowhere')))).toBe(false);
  });
});

describe('journal streams - start-up', () => {
  it('journal streams - a stream directory without a readable queue.json (its creation cut short) is removed, and its queue opens an empty stream', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    store.putQueue(streamQueue('torn'));
    store.putQueue(streamQueue('bare'));
    await store.close();
    // What a crash can leave: a queue.json written but not synced (empty) beside entries never
    // confirmed, a directory made and nothing more, a directory of a queue never stored.
    mkdirSync(streamDir(dataDir, 'torn'), { recursive: true });
    writeFileSync(join(streamDir(dataDir, 'torn'), 'queue.json'), '');
    writeFileSync(join(streamDir(dataDir, 'torn'), '00000000000000000000.stream'), Buffer.alloc(100, 7));
    mkdirSync(streamDir(dataDir, 'bare'));
    mkdirSync(streamDir(dataDir, 'stranger'));
    writeFileSync(join(dataDir, 'streams', 'notes.txt'), 'left here by hand');

    const { logger, lines } = captureLogger();
    const reopened = await JournalStore.open({ dataDir, sync: 'always', logger });
    expect((await reopened.recover()).queues.map((stored) => stored.name).sort()).toEqual(['bare', 'torn']);
    expect(readdirSync(join(dataDir, 'streams'))).toEqual(['notes.txt']);
    const warned = lines.filter((line) => line.level === 40 && /without its queue.json/.test(String(line.msg))).map((line) => line.queue);
    expect(warned.sort()).toEqual(['bare', 'torn']);
    expect(lines.find((line) => line.level === 40 && /not a stream is left alone/.test(String(line.msg)))).toBeDefined();
    for (const name of ['torn', 'bare']) {
      const log = reopened.openStream(name, {});
      expect([log.first, log.next]).toEqual([0, 0]);
      expect(log.append(message(name), 1)).toBe(0);
    }
    await reopened.sync();
    await reopened.close();
  });

  it('journal streams - the directory of a deleted stream queue, left whole by a crash, is removed at start-up', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    store.putQueue(streamQueue('doomed'));
    const log = store.openStream('doomed', {});
    for (let n = 0; n < 10; n++) log.append(message(n), n);
    await store.sync();
    // As a power cut would leave it if neither the removal nor the queue.json's unlink reached the disk.
    const leftover = crashCopy(streamDir(dataDir, 'doomed'));
    store.deleteQueue('doomed');
    await store.sync();
    await store.close();
    expect(existsSync(streamDir(dataDir, 'doomed'))).toBe(false);
    cpSync(leftover, streamDir(dataDir, 'doomed'), { recursive: true });

    const { logger, lines } = captureLogger();
    const reopened = await JournalStore.open({ dataDir, sync: 'always', logger });
    expect((await reopened.recover()).queues).toEqual([]);
    expect(existsSync(streamDir(dataDir, 'doomed'))).toBe(false);
    expect(lines.find((line) => /no longer stored/.test(String(line.msg)))).toMatchObject({ queue: 'doomed' });
    await reopened.close();
  });

  it('journal streams - a stream whose files cannot be deleted logs an error; the next start removes them', async () => {
    const dataDir = tempDir();
    const { logger, lines } = captureLogger();
    const store = await openStore(dataDir, logger);
    store.putQueue(streamQueue('stuck'));
    const log = store.openStream('stuck', {});
    log.append(message(1), 1);
    await store.sync();
    vi.spyOn(FileStreamLog.prototype, 'delete').mockImplementationOnce(async function (this: FileStreamLog) {
      await this.close();
      throw Object.assign(new Error('EIO: i/o error, rmdir'), { code: 'EIO' });
    });
    store.deleteQueue('stuck');
    // close() waits for the removals under way.
    await store.close();
    expect(lines.find((line) => line.level === 50)).toMatchObject({ queue: 'stuck', msg: expect.stringMatching(/could not delete the stream/) });
    expect(readdirSync(streamDir(dataDir, 'stuck'))).toEqual(['00000000000000000000.stream']);

    const reopened = await openStore(dataDir);
    expect(existsSync(streamDir(dataDir, 'stuck'))).toBe(false);
    await reopened.close();
  });

  it('journal streams - a failed delete leaves a directory that a stream declared again in the same run replaces', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    store.putQueue(streamQueue('s'));
    store.openStream('s', {}).append(message('old'), 1);
    await store.sync();
    vi.spyOn(FileStreamLog.prototype, 'delete').mockImplementationOnce(async function (this: FileStreamLog) {
      await this.close();
      throw new Error('could not remove');
    });
    store.deleteQueue('s');
    await new Promise((resolve) => setTimeout(resolve, 20));
    store.putQueue(streamQueue('s'));
    const fresh = store.openStream('s', {});
    expect(fresh.append(message('new'), 2)).toBe(0);
    await store.sync();
    expect(payloads(fresh)).toEqual(['new']);
    await store.close();
    const reopened = await openStore(dataDir);
    expect(payloads(reopened.openStream('s', {}))).toEqual(['new']);
    await reopened.close();
  });
});

describe('journal streams - crashes', () => {
  it('journal streams - a kill -9 keeps every entry sync() confirmed at its offset; unconfirmed ones may go and their offsets are given again', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    store.putQueue(streamQueue('s'));
    const log = store.openStream('s', { segmentBytes: 2048 });
    await store.sync();
    // Before any write: the stream is a directory with its queue.json and no segment.
    const beforeWrites = crashCopy(dataDir);
    for (let n = 0; n < 50; n++) log.append(message({ n, pad: 'p'.repeat(40) }), n);
    await store.sync();
    for (let n = 50; n < 60; n++) log.append(message({ n }), n);
    // The same turn: the batch of 50..59 is not written yet.
    const afterSync = crashCopy(dataDir);
    await store.close();

    const empty = await openStore(beforeWrites);
    expect(empty.openStream('s', {}).next).toBe(0);
    await empty.close();
    const crashed = await openStore(afterSync);
    const again = crashed.openStream('s', { segmentBytes: 2048 });
    expect([again.first, again.next]).toEqual([0, 50]);
    expect(payloads(again)).toEqual(Array.from({ length: 50 }, (_, n) => ({ n, pad: 'p'.repeat(40) })));
    expect(again.append(message('after'), 100)).toBe(50);
    await crashed.sync();
    await crashed.close();
  });

  it('journal streams - a stream made at run time: a crash at any moment leaves it whole (every confirmed entry) or not yet made, never a stream that fails start-up', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    const copies: { copy: string; confirmed: number }[] = [];
    let confirmed = 0;
    const snapshot = () => copies.push({ copy: crashCopy(dataDir), confirmed });
    store.putQueue(streamQueue('s'));
    snapshot();
    const log = store.openStream('s', {});
    snapshot();
    for (let n = 0; n < 5; n++) {
      log.append(message(n), n);
      snapshot();
      // A few moments in the middle of the stream's first writes (its directory being synced, the journal waited for).
      for (let tick = 0; tick < 3; tick++) {
        await new Promise((resolve) => setImmediate(resolve));
        snapshot();
      }
      await store.sync();
      confirmed = n + 1;
      snapshot();
    }
    await store.close();
    for (const { copy, confirmed: atLeast } of copies) {
      const { logger, lines } = captureLogger();
      const reopened = await JournalStore.open({ dataDir: copy, sync: 'always', logger });
      const state = await reopened.recover();
      expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
      if (atLeast > 0) expect(state.queues.map((stored) => stored.name)).toEqual(['s']);
      if (state.queues.length > 0) {
        const got = payloads(reopened.openStream('s', {}));
        expect(got.length).toBeGreaterThanOrEqual(atLeast);
        expect(got).toEqual(Array.from({ length: got.length }, (_, n) => n));
      }
      await reopened.close();
    }
  });

  it('journal streams - deleted and declared again at once: the new stream waits for the old files to go, and a crash at any moment never brings old entries back', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    store.putQueue(streamQueue('s'));
    const old = store.openStream('s', { segmentBytes: 1024 });
    for (let n = 0; n < 200; n++) old.append(message(`old ${n}`), n);
    await store.sync();
    const copies: { copy: string; newConfirmed: boolean }[] = [];
    let newConfirmed = false;
    const snapshot = () => copies.push({ copy: crashCopy(dataDir), newConfirmed });
    store.deleteQueue('s');
    snapshot();
    store.putQueue(streamQueue('s'));
    const fresh = store.openStream('s', {});
    // The old directory is still being removed: the new stream makes its own (the same path) once that is done.
    expect(readdirSync(streamDir(dataDir, 's'))).not.toContain('queue.json');
    snapshot();
    fresh.append(message('new'), 1000);
    snapshot();
    const synced = store.sync().then(() => (newConfirmed = true));
    while (!newConfirmed) {
      snapshot();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await synced;
    snapshot();
    expect(fresh.flushedNext).toBe(1);
    await store.close();
    copies.push({ copy: dataDir, newConfirmed: true });
    for (const { copy, newConfirmed: mustHaveNew } of copies) {
      const reopened = await openStore(copy);
      const got = reopened.openStream('s', {});
      // Either the delete and the declare reached the disk, or only the queue did (its stream then starts empty).
      expect(mustHaveNew ? [['new']] : [[], ['new']]).toContainEqual(payloads(got));
      await reopened.close();
    }
  });

  it('journal streams - a stream deleted just before a crash stays deleted, or comes back empty if the delete had not reached the journal', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    store.putQueue(streamQueue('s'));
    const log = store.openStream('s', {});
    for (let n = 0; n < 10; n++) log.append(message(n), n);
    await store.sync();
    store.deleteQueue('s');
    // The journal's record of the delete is not written yet; the stream's queue.json is gone.
    const before = crashCopy(dataDir);
    await store.sync();
    const after = crashCopy(dataDir);
    await store.close();

    const early = await JournalStore.open({ dataDir: before, sync: 'always' });
    expect((await early.recover()).queues).toEqual([streamQueue('s')]);
    const back = early.openStream('s', {});
    expect([back.first, back.next]).toEqual([0, 0]);
    await early.close();
    const late = await JournalStore.open({ dataDir: after, sync: 'always' });
    expect((await late.recover()).queues).toEqual([]);
    expect(existsSync(streamDir(after, 's'))).toBe(false);
    await late.close();
  });
});
