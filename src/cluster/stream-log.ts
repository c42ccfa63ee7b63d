import type { Message, StreamEntry, StreamLog, StreamLogOptions } from '../broker/index.js';
import { decodeEntry, entryMeta } from './entry-codec.js';
import { STREAMS_CHANNEL } from './keys.js';
import type { ClusterNode, StreamMirror } from './node.js';

/** Offsets per chunk of the cache: one XRANGE reads a chunk. */
const CHUNK = 512;
/** Bytes of entries a stream keeps in memory on a node, read or appended here, least recently read first out. */
const CACHE_BYTES = 16 * 1024 * 1024;

/** Entries `from` on, without a gap (a stream's offsets in Redis have none: only trims drop, from the oldest). */
interface Chunk {
  from: number;
  entries: StreamEntry[];
  bytes: number;
}

/**
 * A stream queue in Redis, seen from one node (docs/clustering.md, "Stream queues"): entries with
 * ids "1-OFFSET" and a state hash (first, next, bytes, group commits) that every node mirrors from
 * the scripts' announcements. Appends of a turn go out as one script call, which gives them their
 * offsets; reads come from a cache of recent chunks, and a read of an offset not in it starts
 * loading it and returns nothing: the queue is told (`changed`) when entries became readable,
 * here or on another node. `flushedNext` is `next`: what Redis holds is what a confirm promises.
 */
export class RedisStreamLog implements StreamLog, StreamMirror {
  first = 0;
  next = 0;
  bytes = 0;
  private readonly commits = new Map<string, number>();
  private readonly chunks = new Map<number, Chunk>();
  private cachedBytes = 0;
  private pending: string[] = [];
  private pendingMessages: Message[] = [];
  private pendingTimestamp = 0;
  private pendingDone: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } | undefined;
  private lastDone: Promise<void> = Promise.resolve();
  private closed = false;
  options: StreamLogOptions = {};
  /** Entries became readable that a read missed: appended on another node, or loaded. */
  changed: () => void = () => {};

  constructor(
    private readonly node: ClusterNode,
    /** The entries' stream. */
    readonly key: string,
    /** The state hash, which names the stream in announcements. */
    readonly stateKey: string,
    /** The state is not in Redis: the queue was deleted on another node, or Redis lost it. */
    private readonly stateMissing: (next: number) => void,
  ) {}

  get flushedNext(): number {
    return this.next;
  }

  /** The state as read from Redis (HGETALL): at recovery, and to catch up on announcements a reconnect lost. */
  loadState(fields: Record<string, string>): void {
    if (fields.next === undefined) return;
    for (const [field, value] of Object.entries(fields)) if (field.startsWith('g:')) this.commits.set(field.slice(2), Number(value));
    this.update(Number(fields.first), Number(fields.next), Number(fields.bytes));
  }

  /** An announcement on the streams channel, the state key taken off. */
  noted(words: string[]): void {
    if (words[0] === 'g') this.commits.set(words.slice(2).join(' '), Number(words[1]));
    else this.update(Number(words[0]), Number(words[1]), Number(words[2]));
  }

  /** First and next only move up (announcements and replies arrive in either order); bytes follow the newest. */
  private update(first: number, next: number, bytes: number): void {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(next)) return;
    const grew = next > this.next;
    if (next >= this.next) this.bytes = bytes;
    this.next = Math.max(this.next, next);
    if (first > this.first) {
      this.first = first;
      this.forgetBelow(first);
    }
    if (grew) this.changed();
  }

  append(message: Message, timestamp: number): number {
    if (this.closed) throw new Error(`stream ${this.key} is closed`);
    if (this.pendingMessages.length === 0) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      // Awaited by whoever asks for `flushed`; never left unhandled.
      promise.catch(() => {});
      this.pendingDone = { promise, resolve, reject };
      this.node.heldWrites.add(this.flushAppends);
      setImmediate(this.flushAppends);
    }
    this.pending.push(entryMeta(message, null), message.payload);
    this.pendingMessages.push(message);
    this.pendingTimestamp = timestamp;
    // Not known before Redis answers; the broker never uses it.
    return -1;
  }

  private readonly flushAppends = (): void => {
    const done = this.pendingDone;
    if (!done) return;
    const [args, messages, timestamp] = [this.pending, this.pendingMessages, this.pendingTimestamp];
    this.pending = [];
    this.pendingMessages = [];
    this.pendingDone = undefined;
    this.node.heldWrites.delete(this.flushAppends);
    const { maxBytes = 0 } = this.options;
    const reply = this.node.redis.streamAppend(this.key, this.stateKey, STREAMS_CHANNEL, String(timestamp), String(maxBytes), ...args).then(([first, next, bytes, ts]) => {
      if (first < 0) {
        this.stateMissing(this.next);
        throw new Error(`stream queue ${this.key} is not in Redis (deleted on another node, or lost in a failover): nothing appended`);
      }
      this.cacheAppended(next - messages.length, ts, messages);
      this.update(first, next, bytes);
    });
    this.node.write(reply);
    reply.then(done.resolve, done.reject);
    this.lastDone = reply.catch(() => {});
  };

  /** This node's own appends go into the cache as Redis numbered them, when they continue a chunk there. */
  private cacheAppended(offset: number, timestamp: number, messages: Message[]): void {
    for (const message of messages) {
      const index = Math.floor(offset / CHUNK);
      let chunk = this.chunks.get(index);
      if (!chunk && offset === index * CHUNK) this.chunks.set(index, (chunk = { from: offset, entries: [], bytes: 0 }));
      if (chunk && chunk.from + chunk.entries.length === offset) this.addTo(chunk, { offset, timestamp, message });
      offset++;
    }
    this.evict();
  }

  flushed(): Promise<void> {
    return this.pendingDone?.promise ?? this.lastDone;
  }

  read(offset: number, maxCount: number, maxBytes: number): StreamEntry[] {
    const out: StreamEntry[] = [];
    let bytes = 0;
    let at = Math.max(offset, this.first);
    while (out.length < maxCount && at < this.next && (out.length === 0 || bytes < maxBytes)) {
      const index = Math.floor(at / CHUNK);
      const chunk = this.chunks.get(index);
      if (!chunk || at < chunk.from || at - chunk.from >= chunk.entries.length) {
        this.load(index, at);
        break;
      }
      // Read last: the eviction keeps it.
      this.chunks.delete(index);
      this.chunks.set(index, chunk);
      for (let i = at - chunk.from; i < chunk.entries.length && out.length < maxCount && (out.length === 0 || bytes < maxBytes); i++) {
        out.push(chunk.entries[i]);
        bytes += chunk.entries[i].message.size;
      }
      at = out[out.length - 1].offset + 1;
    }
    return out;
  }

  /**
   * Resolves once the entries from `offset` (up to `count`, within a chunk) can be read, for a
   * pull that must answer with them; undefined when they can now.
   */
  readable(offset: number, count: number): Promise<void> | undefined {
    const at = Math.max(offset, this.first);
    if (count <= 0 || at >= this.next) return undefined;
    const index = Math.floor(at / CHUNK);
    const chunk = this.chunks.get(index);
    if (chunk && at >= chunk.from && at - chunk.from < chunk.entries.length) return undefined;
    // Again after the load: another read of the chunk may have been under way, from further on.
    return this.load(index, at).then((loaded) => (loaded ? this.readable(offset, count) : undefined));
  }

  /** Reads the rest of chunk `index` from `from`, once at a time per chunk; tells the queue when done. */
  private load(index: number, from: number): Promise<boolean> {
    const loading = this.loads.get(index);
    if (loading) return loading;
    // Out of `loads` before the entries are handed on: a read they wake that still misses (entries
    // appended after this XRANGE ran) must start a load of its own, not wait on this finished one.
    const loaded = this.node.redis.xrange(this.key, `1-${from}`, `1-${index * CHUNK + CHUNK - 1}`).then(
      (found) => {
        this.loads.delete(index);
        if (this.closed) return false;
        this.loaded(index, from, found.map(([id, fields]) => toEntry(id, fields)));
        return true;
      },
      (error: Error) => {
        this.loads.delete(index);
        this.node.logger.warn({ stream: this.key, err: error.message }, "reading a stream queue's entries from Redis failed: its consumers wait for the next entry, a pull answers without them");
        return false;
      },
    );
    this.loads.set(index, loaded);
    return loaded;
  }

  private loaded(index: number, from: number, entries: StreamEntry[]): void {
    if (entries.length === 0) {
      // Nothing kept up to the chunk's end: trimmed meanwhile.
      this.update(Math.min(this.next, index * CHUNK + CHUNK), this.next, this.bytes);
      return;
    }
    if (entries[0].offset > from) this.update(entries[0].offset, this.next, this.bytes);
    const old = this.chunks.get(index);
    let kept = entries;
    if (old) {
      this.cachedBytes -= old.bytes;
      // Without a gap, what the chunk held around the range read (appended here meanwhile, or read before) stays.
      const [low, high] = [entries[0].offset, entries[entries.length - 1].offset];
      if (low <= old.from + old.entries.length && old.from <= high + 1) kept = [...old.entries.filter((entry) => entry.offset < low), ...entries, ...old.entries.filter((entry) => entry.offset > high)];
    }
    const chunk: Chunk = { from: kept[0].offset, entries: [], bytes: 0 };
    for (const entry of kept) this.addTo(chunk, entry);
    // Last in the eviction order: just read.
    this.chunks.delete(index);
    this.chunks.set(index, chunk);
    this.evict(chunk);
    this.changed();
  }

  private readonly loads = new Map<number, Promise<boolean>>();

  private addTo(chunk: Chunk, entry: StreamEntry): void {
    const bytes = entry.message.size + 200;
    chunk.entries.push(entry);
    chunk.bytes += bytes;
    this.cachedBytes += bytes;
  }

  /** Drops the least recently read chunks while the cache is over its size (but `keep`). */
  private evict(keep?: Chunk): void {
    for (const [index, chunk] of this.chunks) {
      if (this.cachedBytes <= CACHE_BYTES) return;
      if (chunk === keep) continue;
      this.chunks.delete(index);
      this.cachedBytes -= chunk.bytes;
    }
  }

  private forgetBelow(first: number): void {
    for (const [index, chunk] of this.chunks) {
      if (index * CHUNK + CHUNK > first) continue;
      this.chunks.delete(index);
      this.cachedBytes -= chunk.bytes;
    }
  }

  offsetAtTimestamp(ms: number): Promise<number> {
    return this.node.redis.streamAtTime(this.key, this.stateKey, String(ms)).catch((error: Error) => {
      this.node.logger.warn({ stream: this.key, err: error.message }, 'x-stream-offset {"timestamp"} could not be looked up in Redis: the consumer starts at "next"');
      throw error;
    });
  }

  /** Retention by age, run by every node's timer (the same trim twice does nothing); bytes are limited as entries are appended. */
  applyRetention(now: number): number {
    const { maxBytes = 0, maxAgeMs = 0 } = this.options;
    if (this.closed || (maxBytes === 0 && maxAgeMs === 0)) return 0;
    this.node.background(
      this.node.redis.streamTrim(this.key, this.stateKey, STREAMS_CHANNEL, String(now), String(maxBytes), String(maxAgeMs)).then(([first, next, bytes]) => this.update(first, next, bytes)),
    );
    return 0;
  }

  commit(group: string, offset: number): void {
    this.commits.set(group, offset);
    this.node.background(this.node.redis.streamCommit(this.stateKey, STREAMS_CHANNEL, group, String(offset)));
  }

  committed(group: string): number | null {
    return this.commits.get(group) ?? null;
  }

  committedOffsets(): Map<string, number> {
    return new Map(this.commits);
  }

  async close(): Promise<void> {
    this.flushAppends();
    this.closed = true;
    await this.lastDone;
  }

  /** The store deletes the keys (only the node that deletes the queue does); here, only what this node keeps. */
  async delete(): Promise<void> {
    this.closed = true;
    this.chunks.clear();
    this.cachedBytes = 0;
  }
}

function toEntry(id: string, fields: string[]): StreamEntry {
  const { message } = decodeEntry(fields);
  return { offset: Number(id.slice(2)), timestamp: Number(fields[1]), message };
}
