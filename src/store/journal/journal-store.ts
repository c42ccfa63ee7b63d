import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import type {
  IoCounts,
  Message,
  MessageStore,
  RecoveredState,
  StreamLog,
  StreamLogOptions,
  StoredBinding,
  StoredExchange,
  StoredPolicy,
  StoredQueue,
} from '../../broker/index.js';
import { findLivePuts } from './compaction.js';
import { DataDirLock } from './data-dir-lock.js';
import { describeFsError, syncDirectory } from './file-sync.js';
import { JournalStreams } from './journal-streams.js';
import { JournalWriter } from './journal-writer.js';
import * as format from './record-format.js';
import { replayJournal, type MessageIndex } from './replay.js';
import { Segment, segmentPath } from './segment.js';
import { SeqIndex } from './seq-index.js';
import type { Topology } from './topology.js';

export interface JournalStoreOptions {
  /** The data dir: the journal goes in `<dataDir>/journal/`, the stream logs in `<dataDir>/streams/`, the lock in `<dataDir>/LOCK`. */
  dataDir: string;
  /** `always`: a sync (a confirm) waits for the write to be synced to disk. `none`: only for the write. */
  sync: 'always' | 'none';
  logger?: Logger;
  /** A segment is closed and a new one started past this size (32 MiB by default). */
  segmentBytes?: number;
  /** Where the writes and syncs are counted, the streams' included (the vhosts' journals share one). */
  io?: IoCounts;
}

const DEFAULT_SEGMENT_BYTES = 32 * 1024 * 1024;

/** Puts of one message to several queues in a row (a fan-out), stored as one record. */
interface PutRun {
  kind: 'put';
  seq: number;
  message: Message;
  /** queue, expiresAt, queue, expiresAt, ... */
  targets: (string | number | null)[];
}

/** Removes from one queue in a row (acks), stored as one record. */
interface RemoveRun {
  kind: 'remove';
  queue: string;
  seqs: number[];
}

/**
 * The MessageStore on disk: an append-only journal of segment files (see docs/design.md,
 * "Durability"). Writes are encoded as they come, group-committed by a JournalWriter, and a
 * segment is deleted once nothing in it is live. The stream queues' logs are kept beside the
 * journal, in `streams/` (JournalStreams).
 */
export class JournalStore implements MessageStore {
  private run: PutRun | RemoveRun | null = null;
  private readonly writer: JournalWriter;
  private closing: Promise<void> | null = null;
  private compacting: Promise<void> | null = null;
  private warnedClosed = false;
  private readonly streams: JournalStreams;

  private constructor(
    private readonly dir: string,
    private readonly options: { sync: boolean; segmentBytes: number; io?: IoCounts },
    private readonly logger: Logger,
    /** Called once the store is closed: releases the data dir's lock when the store holds it. */
    private readonly release: () => Promise<void>,
    private readonly topology: Topology,
    private readonly index: MessageIndex,
    private readonly segments: Segment[],
    private active: Segment,
    private recovered: RecoveredState | null,
  ) {
    this.writer = new JournalWriter(dir, options.sync, { beforeSeal: () => this.endRun(), afterWrite: (segment) => this.reclaim(segment) }, options.io);
    // `<journal dir>/../streams`: inside what VhostJournals removes with a vhost.
    this.streams = new JournalStreams(join(dirname(dir), 'streams'), options, logger, () => this.writer.barrier());
  }

  /**
   * Opens (creating if needed) the journal in `dataDir`, takes its lock and reads it back.
   * Throws an Error a person can act on when the dir cannot be used or another broker holds it.
   */
  static async open(options: JournalStoreOptions): Promise<JournalStore> {
    const lock = await lockDataDir(options.dataDir, options.logger ?? pino({ level: 'silent' }));
    try {
      return await JournalStore.openIn(join(options.dataDir, 'journal'), options, () => lock.release());
    } catch (error) {
      await lock.release().catch(() => {});
      throw error;
    }
  }

  /**
   * Opens (creating if needed) the journal in `dir`, whose data dir the caller has locked;
   * `release` runs when the store closes.
   */
  static async openIn(dir: string, options: JournalStoreOptions, release: () => Promise<void>): Promise<JournalStore> {
    const { dataDir } = options;
    const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'journal' });
    const started = performance.now();
    try {
      await mkdir(dir, { recursive: true });
      if (options.sync === 'always') await syncDirectory(dirname(dir));
    } catch (error) {
      throw new Error(`cannot use data dir "${dataDir}": ${describeFsError(error)}; give a writable directory (--data-dir or storage.dataDir)`, { cause: error });
    }
    let store: JournalStore | undefined;
    try {
      const replayed = await replayJournal(dir, logger).catch((error: unknown) => {
        throw new Error(`cannot read the journal in "${dir}": ${describeFsError(error)}`, { cause: error });
      });
      const { topology, index, segments, messages, nextSegmentId } = replayed;
      const active = new Segment(nextSegmentId, segmentPath(dir, nextSegmentId));
      segments.push(active);
      const snapshot = topology.snapshot();
      store = new JournalStore(
        dir,
        { sync: options.sync === 'always', segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, io: options.io },
        logger,
        release,
        topology,
        index,
        segments,
        active,
        { ...snapshot, messages },
      );
      // Each open starts a segment with the topology it recovered; writing it proves the dir
      // takes writes (a full disk fails here rather than at the first confirm).
      store.appendTo(active, format.encodeCheckpoint(snapshot));
      await store.writer.barrier().catch((error: unknown) => {
        throw new Error(`cannot write to data dir "${dataDir}": ${(error as Error).message}`, { cause: error });
      });
      logger.info(
        {
          dataDir,
          journal: dir,
          exchanges: snapshot.exchanges.length,
          queues: snapshot.queues.length,
          bindings: snapshot.bindings.length,
          policies: snapshot.policies.length,
          messages: messages.length,
          segments: store.segments.length,
          ms: Math.round(performance.now() - started),
        },
        'journal recovered',
      );
      return store;
    } catch (error) {
      await store?.writer.close().catch(() => {});
      throw error;
    }
  }

  /**
   * The state read at open(), handed over once: the broker keeps it from then on. Also opens the
   * logs of the stored stream queues (JournalStreams.recover).
   */
  async recover(): Promise<RecoveredState> {
    const state = this.recovered;
    if (!state) throw new Error('JournalStore.recover() hands over the state read at open() once; open the store again to read it again');
    await this.streams.recover(state.queues);
    this.recovered = null;
    return state;
  }

  putExchange(exchange: StoredExchange): void {
    if (!this.writable()) return;
    this.topology.exchanges.set(exchange.name, exchange);
    this.append(format.encodeExchangePut(exchange));
  }

  deleteExchange(name: string): void {
    if (!this.writable() || !this.topology.exchanges.delete(name)) return;
    this.append(format.encodeExchangeDelete(name));
  }

  putQueue(queue: StoredQueue): void {
    if (!this.writable()) return;
    this.topology.queues.set(queue.name, queue);
    this.append(format.encodeQueuePut(queue));
  }

  deleteQueue(name: string): void {
    if (!this.writable() || !this.topology.queues.delete(name)) return;
    const segment = this.append(format.encodeQueueDelete(name));
    for (const [, older] of this.index.get(name) ?? []) segment.cancel(older);
    this.index.delete(name);
    this.streams.delete(name);
  }

  /** See JournalStreams.open; refused after close(). */
  openStream(queue: string, options: StreamLogOptions): StreamLog {
    if (this.closing) throw new Error(`cannot open the stream of queue "${queue}": the store is closed`);
    return this.streams.open(queue, this.topology.queues.get(queue), options);
  }

  putBinding(binding: StoredBinding): void {
    if (!this.writable()) return;
    this.topology.putBinding(binding);
    this.append(format.encodeBindingPut(binding));
  }

  deleteBinding(binding: StoredBinding): void {
    if (!this.writable() || !this.topology.deleteBinding(binding)) return;
    this.append(format.encodeBindingDelete(binding));
  }

  putPolicy(policy: StoredPolicy): void {
    if (!this.writable()) return;
    this.topology.policies.set(policy.name, policy);
    this.append(format.encodePolicyPut(policy));
  }

  deletePolicy(name: string): void {
    if (!this.writable() || !this.topology.policies.delete(name)) return;
    this.append(format.encodePolicyDelete(name));
  }

  putMessage(queue: string, seq: number, message: Message, expiresAt: number | null): void {
    // As the memory store: a message for a queue the store does not hold is not kept.
    if (this.closing) return this.warnClosed();
    if (!this.topology.queues.has(queue)) return;
    const run = this.run;
    if (run?.kind === 'put' && run.seq === seq && run.message === message) {
      run.targets.push(queue, expiresAt);
      return;
    }
    this.endRun();
    this.run = { kind: 'put', seq, message, targets: [queue, expiresAt] };
    this.writer.schedule();
  }

  removeMessage(queue: string, seq: number): void {
    if (this.closing) return this.warnClosed();
    const run = this.run;
    if (run?.kind === 'remove' && run.queue === queue) {
      run.seqs.push(seq);
      return;
    }
    this.endRun();
    this.run = { kind: 'remove', queue, seqs: [seq] };
    this.writer.schedule();
  }

  /** The journal's barrier, and the flush of every stream with appends not yet on disk. */
  sync(): Promise<void> {
    this.endRun();
    return this.streams.withFlushes(this.writer.barrier());
  }

  /**
   * Closes every stream (writing and syncing what is left), waits for the removals of deleted
   * streams under way, then writes and syncs the journal, closes its files and releases the lock.
   */
  close(): Promise<void> {
    this.endRun();
    this.closing ??= (async () => {
      // Before the journal: a new stream's first write waits for the journal's barrier.
      const streamsFailure = await this.streams.close().then(noFailure, (error: unknown) => error);
      await this.compacting;
      await this.writer.close();
      if (streamsFailure !== null) throw streamsFailure;
    })().finally(() => this.release());
    return this.closing;
  }

  /** Writes after close() are dropped with a warning: the broker should not make them. */
  private writable(): boolean {
    this.endRun();
    if (!this.closing) return true;
    this.warnClosed();
    return false;
  }

  private warnClosed(): void {
    if (!this.warnedClosed) this.logger.warn('a write reached the journal after it was closed; it is not stored');
    this.warnedClosed = true;
  }

  /** Encodes the put or remove run being gathered, if any. */
  private endRun(): void {
    const run = this.run;
    if (!run) return;
    this.run = null;
    if (run.kind === 'put') {
      this.storePut(run.seq, run.targets, run.message);
      return;
    }
    const where = this.index.get(run.queue);
    if (!where) return;
    // Only what is stored needs a record (a queue deleted since, or a double remove, does not).
    const seqs: number[] = [];
    const olders: Segment[] = [];
    for (const seq of run.seqs) {
      const older = where.take(seq);
      if (!older) continue;
      seqs.push(seq);
      olders.push(older);
    }
    if (seqs.length === 0) return;
    const segment = this.append(format.encodeMessageRemove(run.queue, seqs));
    for (const older of olders) segment.cancel(older);
  }

  /** Appends a put record and indexes the message in each of its queues. */
  private storePut(seq: number, targets: (string | number | null)[], message: Message): void {
    const segment = this.append(format.encodeMessagePut(seq, targets, message));
    for (let i = 0; i < targets.length; i += 2) {
      const queue = targets[i] as string;
      let where = this.index.get(queue);
      if (!where) this.index.set(queue, (where = new SeqIndex()));
      segment.put(where.put(seq, segment));
    }
  }

  /** Appends a record to the active segment, first starting a new one when it is full; returns where it went. */
  private append(record: Buffer): Segment {
    if (this.active.size > 0 && this.active.size + record.length > this.options.segmentBytes) {
      const next = new Segment(this.active.id + 1, segmentPath(this.dir, this.active.id + 1));
      this.segments.push(next);
      this.active = next;
      // The topology so far heads every segment, so older segments can go without taking it along.
      this.appendTo(next, format.encodeCheckpoint(this.topology.snapshot()));
    }
    this.appendTo(this.active, record);
    return this.active;
  }

  private appendTo(segment: Segment, record: Buffer): void {
    segment.size += record.length;
    this.writer.append(segment, record);
  }

  /**
   * Deletes the segments that hold nothing live, once a batch in a newer segment (whose
   * checkpoint carries the topology) is on disk. A segment that cancels puts in an older one
   * goes only after it, and deletions are made durable before the next ones depend on them.
   */
  private async reclaim(written: Segment): Promise<void> {
    try {
      for (;;) {
        const writtenBytes = this.writer.writtenBytes;
        const dead = this.segments.filter((segment) => segment.id < written.id && segment.keepUntilWritten <= writtenBytes && segment.isReclaimable());
        if (dead.length === 0) break;
        for (const segment of dead) await unlink(segment.path).catch(ignoreMissing);
        if (this.options.sync) await syncDirectory(this.dir);
        for (const segment of dead) {
          segment.deleted = true;
          this.segments.splice(this.segments.indexOf(segment), 1);
        }
        this.logger.debug({ segments: dead.map((segment) => segment.id) }, 'journal: deleted segments with nothing live');
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'journal: could not delete a segment with nothing live; it stays on disk');
    }
    this.startCompaction();
  }

  /**
   * A few long-lived messages would keep an old segment, and through the removes that cancel its
   * puts every later one, on disk for ever. So an old segment with at most a quarter of its
   * messages live has those copied forward into the active segment, after which it is deleted
   * like any other. One at a time, off the write path.
   */
  private startCompaction(): void {
    if (this.compacting || this.closing) return;
    const segment = this.segments.find(
      (candidate) => candidate.id < this.active.id - 2 && !candidate.compacted && candidate.pending === 0 && candidate.live > 0 && candidate.live * 4 <= candidate.puts,
    );
    if (!segment) return;
    segment.compacted = true;
    this.compacting = this.compact(segment)
      .catch((error: unknown) => this.logger.warn({ err: error, segment: segment.path }, 'journal: could not compact a segment; it stays on disk'))
      .finally(() => (this.compacting = null));
  }

  private async compact(segment: Segment): Promise<void> {
    const data = await readFile(segment.path);
    if (this.closing || segment.deleted) return;
    // From here on synchronous: the index cannot change under the copy.
    const live = new Map<number, Set<string>>();
    for (const [queue, where] of this.index) {
      for (const [seq, holder] of where) {
        if (holder !== segment) continue;
        let queues = live.get(seq);
        if (!queues) live.set(seq, (queues = new Set()));
        queues.add(queue);
      }
    }
    const { puts, problem } = findLivePuts(data.subarray(0, segment.written), live);
    if (problem) this.logger.warn({ segment: segment.path, reason: problem }, 'journal: a segment being compacted is damaged; the messages after the damage keep it on disk');
    this.endRun();
    for (const put of puts) this.storePut(put.seq, put.targets, put.message);
    // The copies must be on disk before the segment goes.
    segment.keepUntilWritten = this.writer.appendedBytes;
    this.logger.debug({ segment: segment.id, copied: puts.length }, 'journal: compacted a segment');
  }
}

const noFailure = (): null => null;

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}

/**
 * Creates the data dir if needed and takes its lock. Throws an Error a person can act on when the
 * dir cannot be used or another broker holds it.
 */
export async function lockDataDir(dataDir: string, logger: Logger): Promise<DataDirLock> {
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (error) {
    throw new Error(`cannot use data dir "${dataDir}": ${describeFsError(error)}; give a writable directory (--data-dir or storage.dataDir)`, { cause: error });
  }
  const { lock, staleHolder } = await DataDirLock.acquire(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === undefined) throw error;
    throw new Error(`cannot use data dir "${dataDir}": ${describeFsError(error)}; give a writable directory (--data-dir or storage.dataDir)`, { cause: error });
  });
  if (staleHolder !== null) logger.child({ component: 'journal' }).info({ dataDir, previousPid: staleHolder }, 'took over the lock of a broker that is no longer running');
  return lock;
}
