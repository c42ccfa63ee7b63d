import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { MessageStore, RecoveredState } from '../../src/broker/index.js';
import { JournalStore, MemoryStore } from '../../src/store/index.js';
import { message, queue, storeContract } from './contract.js';
import { expectOneSyncedWrite, fileHandlePrototype } from './file-handles.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-journal-'));
  dirs.push(dir);
  return dir;
}

function journalFactory(segmentBytes?: number) {
  const dataDir = tempDir();
  const openStore = () => JournalStore.open({ dataDir, sync: 'always', segmentBytes });
  return {
    open: openStore,
    reopen: async (store: MessageStore) => {
      await store.close();
      return openStore();
    },
  };
}

storeContract('JournalStore', () => journalFactory());
storeContract('JournalStore with 1 KiB segments', () => journalFactory(1024));

/** A logger whose lines a test can read. */
function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const segmentFiles = (dataDir: string): string[] =>
  readdirSync(join(dataDir, 'journal'))
    .filter((name) => name.endsWith('.journal'))
    .sort()
    .map((name) => join(dataDir, 'journal', name));

const payloads = (state: RecoveredState): unknown[] => state.messages.map((stored) => JSON.parse(stored.message.payload) as unknown);

/** Opens a store on `dataDir` with `count` messages 1..count in queue "q", and closes it. */
async function seed(dataDir: string, count: number, segmentBytes?: number): Promise<void> {
  const store = await JournalStore.open({ dataDir, sync: 'always', segmentBytes });
  await store.recover();
  store.putQueue(queue('q'));
  for (let seq = 1; seq <= count; seq++) store.putMessage('q', seq, message(seq), null);
  await store.sync();
  await store.close();
}

describe('journal - recovery from damage', () => {
  it('journal - a torn tail of the last segment is dropped and logged; the rest recovers and writing goes on', async () => {
    const dataDir = tempDir();
    await seed(dataDir, 20);
    const last = segmentFiles(dataDir).at(-1) as string;
    truncateSync(last, statSync(last).size - 5);
    const { logger, lines } = captureLogger();
    const store = await JournalStore.open({ dataDir, sync: 'always', logger });
    expect(payloads(await store.recover())).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
    const dropped = lines.find((line) => line.level === 40 && /torn or corrupt tail/.test(String(line.msg)));
    expect(dropped).toMatchObject({ segment: last, reason: expect.stringMatching(/cut short/) });
    store.putMessage('q', 21, message(21), null);
    await store.sync();
    await store.close();

    const again = captureLogger();
    const reopened = await JournalStore.open({ dataDir, sync: 'always', logger: again.logger });
    expect(payloads(await reopened.recover())).toEqual([...Array.from({ length: 19 }, (_, i) => i + 1), 21]);
    expect(again.lines.filter((line) => (line.level as number) >= 40)).toEqual([]);
    await reopened.close();
  });

  it('journal - flipped bytes in the last segment: recovery keeps the records before them', async () => {
    const dataDir = tempDir();
    await seed(dataDir, 40);
    const last = segmentFiles(dataDir).at(-1) as string;
    const bytes = readFileSync(last);
    const at = Math.floor(bytes.length * 0.6);
    bytes[at] ^= 0xff;
    bytes[at + 1] ^= 0x5a;
    writeFileSync(last, bytes);
    const { logger, lines } = captureLogger();
    const store = await JournalStore.open({ dataDir, sync: 'always', logger });
    const recovered = payloads(await store.recover());
    expect(recovered.length).toBeGreaterThan(10);
    expect(recovered.length).toBeLessThan(40);
    expect(recovered).toEqual(Array.from({ length: recovered.length }, (_, i) => i + 1));
    expect(lines.find((line) => line.level === 40)).toMatchObject({ reason: expect.stringMatching(/CRC32|length|decode/) });
    await store.close();
  });

  it('journal - garbage appended after the last record is dropped', async () => {
    const dataDir = tempDir();
    await seed(dataDir, 5);
    appendFileSync(segmentFiles(dataDir).at(-1) as string, Buffer.from([0x00, 0x00, 0x00]));
    const { logger, lines } = captureLogger();
    const store = await JournalStore.open({ dataDir, sync: 'always', logger });
    expect(payloads(await store.recover())).toEqual([1, 2, 3, 4, 5]);
    expect(lines.find((line) => line.level === 40)).toMatchObject({ droppedBytes: 3 });
    await store.close();
  });

  it('journal - damage in an earlier segment: keeps what came before, sets the later segments aside, and goes on', async () => {
    const dataDir = tempDir();
    await seed(dataDir, 60, 1024);
    const files = segmentFiles(dataDir);
    expect(files.length).toBeGreaterThan(3);
    const bytes = readFileSync(files[1]);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(files[1], bytes);
    const { logger, lines } = captureLogger();
    const store = await JournalStore.open({ dataDir, sync: 'always', logger, segmentBytes: 1024 });
    const recovered = payloads(await store.recover());
    expect(recovered.length).toBeGreaterThan(0);
    expect(recovered.length).toBeLessThan(60);
    expect(recovered).toEqual(Array.from({ length: recovered.length }, (_, i) => i + 1));
    expect(lines.find((line) => line.level === 50)).toMatchObject({ segment: files[1] });
    for (const later of files.slice(2)) expect(existsSync(`${later}.damaged`)).toBe(true);
    store.putMessage('q', 100, message(100), null);
    await store.sync();
    await store.close();

    const again = captureLogger();
    const reopened = await JournalStore.open({ dataDir, sync: 'always', logger: again.logger });
    expect(payloads(await reopened.recover())).toEqual([...recovered, 100]);
    expect(again.lines.filter((line) => (line.level as number) >= 40)).toEqual([]);
    await reopened.close();
  });
});

describe('journal - disk use', () => {
  it('journal - a long stream published and acked keeps the disk bounded: dead segments are deleted', async () => {
    const dataDir = tempDir();
    const segmentBytes = 64 * 1024;
    const store = await JournalStore.open({ dataDir, sync: 'always', segmentBytes });
    await store.recover();
    store.putQueue(queue('stream'));
    store.putQueue(queue('slow'));
    store.putMessage('slow', 1, message('kept forever'), null);
    const body = 'x'.repeat(256);
    let maxFiles = 0;
    let maxBytes = 0;
    let seq = 1;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 100; i++) store.putMessage('stream', ++seq, message({ seq, body }), null);
      // The consumer acks the previous round: about 100 to 200 messages are live at a time.
      if (round > 0) for (let i = seq - 199; i <= seq - 100; i++) store.removeMessage('stream', i);
      await store.sync();
      const files = segmentFiles(dataDir);
      maxFiles = Math.max(maxFiles, files.length);
      // Reclaiming runs after the write that a sync waits for: a file may go while it is counted.
      maxBytes = Math.max(maxBytes, files.reduce((sum, file) => sum + (statSync(file, { throwIfNoEntry: false })?.size ?? 0), 0));
    }
    for (let i = seq - 99; i <= seq; i++) store.removeMessage('stream', i);
    await store.sync();
    store.putMessage('stream', seq + 1, message('last'), null);
    await store.sync();
    // About 6 MB went through the journal; at most a few segments of 64 KiB were ever on disk.
    expect(maxFiles).toBeLessThanOrEqual(6);
    expect(maxBytes).toBeLessThanOrEqual(6 * segmentBytes);
    expect(segmentFiles(dataDir).length).toBeLessThanOrEqual(3);
    await store.close();
    const reopened = await JournalStore.open({ dataDir, sync: 'always', segmentBytes });
    expect(payloads(await reopened.recover())).toEqual(['kept forever', 'last']);
    await reopened.close();
  });

  it('journal - deleting a queue frees the segments that held its messages', async () => {
    const dataDir = tempDir();
    const store = await JournalStore.open({ dataDir, sync: 'always', segmentBytes: 4096 });
    await store.recover();
    store.putQueue(queue('q'));
    for (let seq = 1; seq <= 500; seq++) store.putMessage('q', seq, message({ seq, pad: 'y'.repeat(100) }), null);
    await store.sync();
    expect(segmentFiles(dataDir).length).toBeGreaterThan(10);
    store.deleteQueue('q');
    await store.sync();
    store.putQueue(queue('next'));
    await store.sync();
    expect(segmentFiles(dataDir).length).toBeLessThanOrEqual(2);
    await store.close();
    const reopened = await JournalStore.open({ dataDir, sync: 'always' });
    const state = await reopened.recover();
    expect(state.messages).toEqual([]);
    expect(state.queues.map((stored) => stored.name)).toEqual(['next']);
    await reopened.close();
  });
});

describe('journal - the data dir', () => {
  it('journal - a second open of the same data dir is refused, naming the dir; after close it opens', async () => {
    const dataDir = tempDir();
    const first = await JournalStore.open({ dataDir, sync: 'always' });
    await expect(JournalStore.open({ dataDir, sync: 'always' })).rejects.toThrow(`data dir "${dataDir}" is in use by another Warren broker (pid ${process.pid}`);
    await first.close();
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
    const second = await JournalStore.open({ dataDir, sync: 'always' });
    await second.close();
  });

  it('journal - a lock left by a process that is gone is taken over', async () => {
    const dataDir = tempDir();
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    writeFileSync(join(dataDir, 'LOCK'), gone.stdout);
    const { logger, lines } = captureLogger();
    const store = await JournalStore.open({ dataDir, sync: 'always', logger });
    expect(readFileSync(join(dataDir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
    expect(lines.find((line) => /no longer running/.test(String(line.msg)))).toMatchObject({ previousPid: Number(gone.stdout) });
    await store.close();
  });

  it('journal - a lock with our own pid that this process does not hold is stale (a container restarted as pid 1)', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'LOCK'), `${process.pid}\n`);
    const store = await JournalStore.open({ dataDir, sync: 'always' });
    await expect(JournalStore.open({ dataDir, sync: 'always' })).rejects.toThrow(/is in use by another Warren broker/);
    await store.close();
  });

  it('journal - a data dir that cannot be created or written is a clear error', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    await expect(JournalStore.open({ dataDir: join(file, 'data'), sync: 'always' })).rejects.toThrow(
      `cannot use data dir "${join(file, 'data')}": a part of the path is a file, not a directory`,
    );
  });

  it('journal - startup logs what it recovered and how long it took', async () => {
    const dataDir = tempDir();
    const store = await JournalStore.open({ dataDir, sync: 'always' });
    await store.recover();
    store.putExchange({ name: 'x', type: 'fanout', options: { durable: true, autoDelete: false, internal: false, arguments: {} } });
    store.putQueue(queue('q'));
    store.putBinding({ source: 'x', destination: 'q', destinationType: 'queue', routingKey: '', arguments: {} });
    store.putMessage('q', 1, message(1), null);
    store.putMessage('q', 2, message(2), null);
    await store.close();
    const { logger, lines } = captureLogger();
    const reopened = await JournalStore.open({ dataDir, sync: 'always', logger });
    expect(lines.find((line) => line.msg === 'journal recovered')).toMatchObject({ exchanges: 1, queues: 1, bindings: 1, messages: 2, ms: expect.any(Number) });
    await reopened.close();
  });
});

describe('journal - writing', () => {
  it('journal - writes in one event-loop turn share one synced write', async () => {
    const dataDir = tempDir();
    const store = await JournalStore.open({ dataDir, sync: 'always' });
    await store.recover();
    store.putQueue(queue('q'));
    await store.sync();
    const prototype = await fileHandlePrototype();
    const datasync = vi.spyOn(prototype, 'datasync');
    const write = vi.spyOn(prototype, 'write');
    const syncs: Promise<void>[] = [];
    for (let seq = 1; seq <= 1000; seq++) {
      store.putMessage('q', seq, message(seq), null);
      syncs.push(store.sync());
    }
    expect(new Set(syncs).size).toBe(1);
    await Promise.all(syncs);
    expectOneSyncedWrite(write, datasync);
    await store.close();
  });

  it("journal - with sync 'none' a sync waits for the write only; close still syncs", async () => {
    const dataDir = tempDir();
    const store = await JournalStore.open({ dataDir, sync: 'none' });
    await store.recover();
    const datasync = vi.spyOn(await fileHandlePrototype(), 'datasync');
    store.putQueue(queue('q'));
    store.putMessage('q', 1, message(1), null);
    await store.sync();
    expect(datasync).not.toHaveBeenCalled();
    await store.close();
    expect(datasync).toHaveBeenCalledTimes(1);
    const reopened = await JournalStore.open({ dataDir, sync: 'none' });
    expect(payloads(await reopened.recover())).toEqual([1]);
    await reopened.close();
  });

  it('journal - a full disk fails sync without tearing the file, and the writes go out once there is room', async () => {
    const dataDir = tempDir();
    const store = await JournalStore.open({ dataDir, sync: 'always' });
    await store.recover();
    store.putQueue(queue('q'));
    store.putMessage('q', 1, message(1), null);
    await store.sync();

    const prototype = await fileHandlePrototype();
    const realWrite = prototype.write as (this: FileHandle, buffer: Buffer, offset: number, length: number) => Promise<{ bytesWritten: number }>;
    // Half the batch reaches the file, then the disk is full.
    vi.spyOn(prototype, 'write').mockImplementationOnce(async function (this: FileHandle, ...args: unknown[]) {
      const [buffer, offset, length] = args as [Buffer, number, number];
      await realWrite.call(this, buffer, offset, Math.floor(length / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    } as unknown as typeof prototype.write);
    store.putMessage('q', 2, message({ n: 2, pad: 'z'.repeat(500) }), null);
    await expect(store.sync()).rejects.toThrow(/could not write the journal in .*: the disk is full/);

    // What is on disk now is whole: a crash here recovers message 1 without dropping anything.
    const snapshot = tempDir();
    cpSync(join(dataDir, 'journal'), join(snapshot, 'journal'), { recursive: true });
    const crashed = captureLogger();
    const fromSnapshot = await JournalStore.open({ dataDir: snapshot, sync: 'always', logger: crashed.logger });
    expect(payloads(await fromSnapshot.recover())).toEqual([1]);
    expect(crashed.lines.filter((line) => (line.level as number) >= 40)).toEqual([]);
    await fromSnapshot.close();

    store.putMessage('q', 3, message(3), null);
    await store.sync();
    await store.close();
    const { logger, lines } = captureLogger();
    const reopened = await JournalStore.open({ dataDir, sync: 'always', logger });
    expect(payloads(await reopened.recover())).toEqual([1, { n: 2, pad: 'z'.repeat(500) }, 3]);
    expect(lines.filter((line) => (line.level as number) >= 40)).toEqual([]);
    await reopened.close();
  });
});

describe('journal - reopen after many operations', () => {
  type Op =
    | { op: 'putQueue'; queue: number }
    | { op: 'deleteQueue'; queue: number }
    | { op: 'put'; queues: number[]; ttl: boolean }
    | { op: 'remove'; pick: number }
    | { op: 'sync' }
    | { op: 'reopen' };
  const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
    { weight: 1, arbitrary: fc.record({ op: fc.constant('putQueue' as const), queue: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteQueue' as const), queue: fc.nat(3) }) },
    { weight: 8, arbitrary: fc.record({ op: fc.constant('put' as const), queues: fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 3 }), ttl: fc.boolean() }) },
    { weight: 6, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.constant({ op: 'sync' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
  );

  const normalise = (state: RecoveredState) => ({
    queues: state.queues.map((stored) => stored.name).sort(),
    // Seq order; the order of one seq's queues is not specified.
    messages: state.messages.map(({ queue, seq, message, expiresAt }) => [seq, queue, message.payload, expiresAt]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  });

  it('journal - recovers what the memory store holds, across rolls, reclaims and reopens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArbitrary, { minLength: 1, maxLength: 120 }), async (ops) => {
        const dataDir = tempDir();
        const model = new MemoryStore();
        const openJournal = () => JournalStore.open({ dataDir, sync: 'none', segmentBytes: 600 });
        let journal = await openJournal();
        await journal.recover();
        const live: [string, number][] = [];
        let seq = 0;
        for (const step of ops) {
          const both = (act: (store: MessageStore) => void) => {
            act(model);
            act(journal);
          };
          switch (step.op) {
            case 'putQueue':
              both((store) => store.putQueue(queue(`q${step.queue}`)));
              break;
            case 'deleteQueue': {
              both((store) => store.deleteQueue(`q${step.queue}`));
              for (let i = live.length - 1; i >= 0; i--) if (live[i][0] === `q${step.queue}`) live.splice(i, 1);
              break;
            }
            case 'put': {
              const shared = message({ seq: ++seq });
              for (const index of step.queues) {
                both((store) => store.putMessage(`q${index}`, seq, shared, step.ttl ? 1_000_000 + seq : null));
                live.push([`q${index}`, seq]);
              }
              break;
            }
            case 'remove': {
              if (live.length === 0) break;
              const [name, which] = live.splice(step.pick % live.length, 1)[0];
              both((store) => store.removeMessage(name, which));
              break;
            }
            case 'sync':
              await journal.sync();
              break;
            case 'reopen':
              await journal.close();
              journal = await openJournal();
              await journal.recover();
              break;
          }
        }
        await journal.close();
        const reopened = await openJournal();
        expect(normalise(await reopened.recover())).toEqual(normalise(await model.recover()));
        await reopened.close();
      }),
      { numRuns: 40 },
    );
  });
});
