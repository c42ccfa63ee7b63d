import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { IoCounts, StoredQueue, StreamLog, StreamLogOptions } from '../../broker/index.js';
import { FileStreamLog, type FileStreamLogContext } from '../stream/index.js';
import { describeFsError, syncDirectory, syncFile } from './file-sync.js';

/** The file in a stream's directory that holds its queue's name: the directory is named by a hash. */
const QUEUE_FILE = 'queue.json';
const STREAM_DIR_NAME = /^[0-9a-f]{64}$/;

/**
 * The stream queues' logs of one JournalStore (docs/stream-log.md, "Where streams live"): a
 * FileStreamLog per stream queue in `<streams dir>/<sha256 of the queue name>/`, beside a
 * `queue.json` holding the name. A directory is a stream exactly while its queue.json is there:
 * it is written first when a stream is made and removed first when one is deleted, so whatever a
 * crash interrupts, start-up finds whole streams and removes the rest.
 */
export class JournalStreams {
  /** The log of each stream queue opened or recovered, until the queue is deleted. */
  private readonly logs = new Map<string, FileStreamLog>();
  /** recover() has opened the streams kept on disk: open() may make new ones. */
  private recovered = false;
  /** Streams with appends not yet on disk: what withFlushes waits for. */
  private readonly unflushed = new Set<FileStreamLog>();
  /** Logs of deleted queues: a new stream still waiting to make its directory gives up. */
  private readonly deleted = new WeakSet<FileStreamLog>();
  /** The removal under way of a deleted stream's directory, the last one per directory. */
  private readonly removals = new Map<string, Promise<void>>();
  /** The promise withFlushes gave last and what it waits for: the same batches get the same promise. */
  private lastWait: { waits: Promise<void>[]; promise: Promise<void> } | null = null;

  constructor(
    private readonly dir: string,
    private readonly options: { sync: boolean; io?: IoCounts },
    private readonly logger: Logger,
    /** The journal's barrier: a new stream's first write waits for its queue's put. */
    private readonly journalBarrier: () => Promise<void>,
  ) {}

  /**
   * Opens the logs of the stored stream queues and removes every other directory: one whose
   * queue is no longer stored (a delete cut short by a crash), and one without a queue.json
   * naming its queue (its creation or its deletion was cut short; no entry of it was confirmed,
   * see create). A stream queue without a directory (never appended to) gets one at open().
   */
  async recover(queues: StoredQueue[]): Promise<void> {
    const started = performance.now();
    const stored = new Map<string, string>();
    for (const queue of queues) if (isStreamQueue(queue)) stored.set(dirName(queue.name), queue.name);
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the streams in "${this.dir}": ${describeFsError(error)}`, { cause: error });
      entries = [];
    }
    const kept: [queue: string, dir: string][] = [];
    let removed = 0;
    for (const entry of entries.sort()) {
      const dir = join(this.dir, entry);
      if (!STREAM_DIR_NAME.test(entry)) {
        this.logger.warn({ path: dir }, 'journal: something in the streams directory that is not a stream is left alone');
        continue;
      }
      const queue = stored.get(entry);
      const named = await readQueueFile(dir);
      if (queue !== undefined && named === queue) {
        kept.push([queue, dir]);
        continue;
      }
      await rm(dir, { recursive: true, force: true });
      removed++;
      if (queue === undefined) this.logger.info({ stream: dir, queue: named }, 'journal: removed the stream directory of a queue no longer stored (its delete was cut short)');
      else this.logger.warn({ stream: dir, queue }, 'journal: removed a stream directory without its queue.json (its creation or deletion was cut short); the stream starts empty');
    }
    if (removed > 0 && this.options.sync) await syncDirectory(this.dir);
    try {
      for (const [queue, dir] of kept) {
        const log = await FileStreamLog.open(dir, { sync: this.sync }, this.context(queue)).catch((error: unknown) => {
          throw new Error(`cannot recover the stream of queue "${queue}": ${(error as Error).message}`, { cause: error });
        });
        this.logs.set(queue, log);
      }
    } catch (error) {
      await Promise.allSettled([...this.logs.values()].map((log) => log.close()));
      this.logs.clear();
      throw error;
    }
    this.recovered = true;
    if (kept.length > 0 || removed > 0) this.logger.info({ streams: kept.length, removed, ms: Math.round(performance.now() - started) }, 'journal: streams recovered');
  }

  /**
   * The log of stream queue `queue` (`stored`: the queue as the journal holds it): the one
   * recovered or opened before, with `options` applied from now on, or a new empty one (see
   * create). The store's sync setting applies to every stream: a `sync` in `options` is not
   * used. Throws before recover(), and for a queue not stored as a stream (its directory would
   * be removed at the next start).
   */
  open(queue: string, stored: StoredQueue | undefined, options: StreamLogOptions): StreamLog {
    if (!this.recovered) throw new Error(`cannot open the stream of queue "${queue}" before recover(), which opens the streams kept on disk`);
    const withSync: StreamLogOptions = { ...options, sync: this.sync };
    const existing = this.logs.get(queue);
    if (existing) {
      existing.setOptions(withSync);
      return existing;
    }
    if (!stored || !isStreamQueue(stored)) throw new Error(`cannot open a stream for queue "${queue}": the store holds no stream queue of that name (putQueue it with x-queue-type "stream" first)`);
    const log = this.create(queue, withSync);
    this.logs.set(queue, log);
    return log;
  }

  /**
   * Deletes a stream queue's log, if it has one. Its queue.json goes at once (synchronously), so
   * that from here on a crash leaves a directory that recover() removes, and never the old
   * entries under a queue declared again with the name. The files go in the background, after
   * any earlier removal of the same directory; a failure is logged and the next start removes
   * what is left.
   */
  delete(queue: string): void {
    const log = this.logs.get(queue);
    if (!log) return;
    this.logs.delete(queue);
    this.unflushed.delete(log);
    this.deleted.add(log);
    const dir = join(this.dir, dirName(queue));
    try {
      unlinkSync(join(dir, QUEUE_FILE));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ queue, stream: dir, err: error }, 'journal: could not remove the queue.json of a deleted stream');
    }
    const before = this.removals.get(dir);
    // Closed now either way: later calls throw. A stream still waiting for an earlier removal has
    // written nothing (and now never will), so closing it writes nothing either.
    const closed = before ? log.close().catch(() => {}) : null;
    const removal: Promise<void> = (async () => {
      if (before) {
        await before;
        await closed;
      }
      await log.delete();
    })()
      .catch((error: unknown) => this.logger.error({ queue, stream: dir, err: error }, 'journal: could not delete the stream of a deleted queue; the next start removes what is left'))
      .finally(() => {
        if (this.removals.get(dir) === removal) this.removals.delete(dir);
      });
    this.removals.set(dir, removal);
  }

  /**
   * `journal` (the journal's barrier), and the flush of every stream with appends not yet on
   * disk: what a store's sync() waits for. Streams report their first unflushed append
   * (onUnflushed), so idle ones cost nothing here.
   */
  withFlushes(journal: Promise<void>): Promise<void> {
    if (this.unflushed.size === 0) return journal;
    const waits = [journal];
    for (const log of this.unflushed) {
      if (log.flushedNext === log.next) this.unflushed.delete(log);
      else waits.push(log.flushed());
    }
    if (waits.length === 1) return journal;
    // Each wait is one promise per batch: callers in the same batches share one promise here too.
    const last = this.lastWait;
    if (last && sameMembers(last.waits, waits)) return last.promise;
    const promise = Promise.all(waits).then(noop);
    this.lastWait = { waits, promise };
    return promise;
  }

  /** Closes every stream (writing and syncing what is left) and waits for the removals under way; rejects with the first failure. */
  async close(): Promise<void> {
    const closing = [...this.logs.values()].map((log) => log.close());
    this.logs.clear();
    this.unflushed.clear();
    const settled = await Promise.allSettled([...closing, ...this.removals.values()]);
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private get sync(): 'always' | 'none' {
    return this.options.sync ? 'always' : 'none';
  }

  /**
   * A new empty stream for `queue`. Its directory and queue.json are made now, with sync fs and
   * no fsync (a declare needs the log at once; these are two quick metadata writes, and the
   * segment file is made by the first write, as ever). Before that first write the stream syncs
   * them (with sync 'always') and waits for the journal to hold the queue's put, so no entry is
   * confirmed before a restart would find its stream.
   *
   * If the directory of a deleted earlier stream of the same name is still being removed, the
   * new stream makes its directory (the same path) only once that is done, before its first
   * write, and makes none if it has been deleted meanwhile.
   */
  private create(queue: string, options: StreamLogOptions): FileStreamLog {
    const dir = join(this.dir, dirName(queue));
    const queueFile = join(dir, QUEUE_FILE);
    const removing = this.removals.get(dir);
    let made = false;
    let madeStreamsDir = false;
    const make = (): void => {
      const first = mkdirSync(dir, { recursive: true });
      if (first === undefined) {
        // Only a removal that failed leaves a directory here: what it holds is not this stream's.
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir);
      } else if (first !== dir) {
        madeStreamsDir = true;
      }
      writeFileSync(queueFile, JSON.stringify(queue));
      made = true;
    };
    const prepare = async (): Promise<void> => {
      if (!made) {
        await removing;
        if (this.deleted.has(log)) throw new Error(`stream queue "${queue}" was deleted before its stream was made`);
        make();
      }
      if (this.options.sync) {
        await syncFile(queueFile);
        await syncDirectory(dir);
        await syncDirectory(this.dir);
        if (madeStreamsDir) await syncDirectory(dirname(this.dir));
      }
      await this.journalBarrier();
    };
    const log = FileStreamLog.create(dir, options, { ...this.context(queue), prepare });
    if (!removing) {
      try {
        make();
      } catch (error) {
        throw new Error(`cannot create the stream of queue "${queue}" in "${dir}": ${describeFsError(error)}`, { cause: error });
      }
    }
    return log;
  }

  private context(queue: string): FileStreamLogContext {
    return { logger: this.logger.child({ queue }), io: this.options.io, onUnflushed: this.onUnflushed };
  }

  private readonly onUnflushed = (log: FileStreamLog): void => {
    this.unflushed.add(log);
  };
}

const isStreamQueue = (queue: StoredQueue): boolean => queue.options.arguments['x-queue-type'] === 'stream';

const dirName = (queue: string): string => createHash('sha256').update(queue, 'utf8').digest('hex');

/** The queue name in a stream directory's queue.json, or null when it is missing or does not parse. */
async function readQueueFile(dir: string): Promise<string | null> {
  const file = join(dir, QUEUE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new Error(`cannot read "${file}": ${describeFsError(error)}`, { cause: error });
  }
  try {
    const name: unknown = JSON.parse(text);
    return typeof name === 'string' ? name : null;
  } catch {
    return null;
  }
}

function sameMembers(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const noop = (): void => {};
