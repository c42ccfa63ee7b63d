import type { DeathReason } from './dead-letter.js';
import type { QueueEntry } from './entry-deque.js';
import { BrokerError, preconditionFailed } from './errors.js';
import { EnqueueResult, Queue, type Consumer, type QueueHost } from './queue.js';
import type { Lease } from './store-port.js';
import type { StreamEntry, StreamLog, StreamLogOptions } from './stream-port.js';
import type { ConsumeOptions, Message, QueueOptions, TimerHandle } from './types.js';

// docs/protocol.md, "Stream queues".

/** Where a consume starts reading: `arguments["x-stream-offset"]`. */
export type StreamOffsetSpec = 'first' | 'last' | 'next' | number | { timestamp: number };

/** How many entries a fetch gives at most, and by default. */
export const MAX_FETCH = 1000;
export const DEFAULT_FETCH = 100;
/** A read for one consumer stops past this many payload bytes (the log always returns at least one entry). */
const READ_BYTES = 1 << 20;
/** How often a stream with `x-max-age` looks for segments to drop, at most. */
const RETENTION_CHECK_MS = 60_000;
const MAX_GROUP_NAME = 255;

/** A consumer's place in the stream. */
interface Reader {
  /** The next offset to deliver. */
  next: number;
  /** Its consumer group (`x-stream-consumer`), if any. */
  readonly group: string | undefined;
  /** Waiting in its group while another consumer of the group is active. */
  waiting: boolean;
  /** Its start ({"timestamp": ms}) is still being looked up in a shared store. */
  starting: boolean;
  /** Offsets delivered and not yet acked, in delivery order (groups only: what the committed offset follows). */
  readonly given: number[];
  readonly acked: Set<number>;
}

/** A delivery of a stream entry, which knows its reader when it is acked. */
interface StreamDelivery extends QueueEntry {
  readonly reader: Reader;
}

/** A consumer group as the management API shows it. */
export interface GroupState {
  name: string;
  committed: number | null;
  /** Entries after the committed offset (all those kept, without one). */
  lag: number;
  /** Consumers of the group now: one active, the others waiting. */
  consumers: number;
}

/** An entry as a pull (`fetch`) gives it. */
export interface FetchedEntry {
  offset: number;
  message: Message;
}

/**
 * A stream queue: an append-only log in the store, read by offset. Publishing appends; each
 * consumer reads from its own offset with its prefetch as credit, so that a slow reader holds back
 * nobody; an ack only gives credit back (and moves its group's committed offset), nack and reject
 * change nothing. Nothing is removed by reading: retention drops whole segments.
 */
export class StreamQueue extends Queue {
  private logOrUndefined: StreamLog | undefined;
  private readonly readers = new Map<Consumer, Reader>();
  /** The consumers of each group, in arrival order: the first is the active one. */
  private readonly groups = new Map<string, Consumer[]>();
  /**
   * In a cluster: each group's turn, one node at a time (the lease's name), and whether this node
   * waited for it (its first consumer then takes over at the committed offset, not at its own start).
   */
  private readonly groupTurns = new Map<string, { lease: Lease; waited: boolean }>();
  private readingStream = false;
  /** A dispatch is promised for when the entries appended so far are on disk. */
  private dispatchOnFlush = false;
  private retentionTimer: TimerHandle | undefined;
  /** The entries this stream has added to its vhost's ready count (RabbitMQ counts a stream's entries as its messages). */
  private counted = 0;

  constructor(name: string, options: QueueOptions, host: QueueHost) {
    super(name, options, null, host);
    const maxAgeMs = this.declaredArgs.maxAgeMs;
    if (maxAgeMs !== undefined) this.scheduleRetention(Math.min(RETENTION_CHECK_MS, Math.max(1000, Math.floor(maxAgeMs / 10))));
  }

  /** Opened on first use: by then the broker has put the queue in the store. */
  private get log(): StreamLog {
    if (this.logOrUndefined === undefined) {
      this.logOrUndefined = this.host.store.openStream(this.name, this.retention(), () => {
        if (this.deleted) return;
        this.countEntries();
        this.dispatch();
      });
      this.countEntries();
    }
    return this.logOrUndefined;
  }

  /** Opens the log now (at recovery), so that the vhost's counts include the entries from the start. */
  openLog(): void {
    this.countEntries();
  }

  /** Brings the vhost's ready count up to date with the entries kept (appends add, retention drops). */
  private countEntries(): void {
    const entries = this.messageCount;
    this.host.totals.messagesReady += entries - this.counted;
    this.counted = entries;
  }

  private retention(): StreamLogOptions {
    const { maxLengthBytes, maxAgeMs, streamSegmentBytes } = this.declaredArgs;
    return { maxBytes: maxLengthBytes, maxAgeMs, segmentBytes: streamSegmentBytes };
  }

  /** The entries kept. */
  override get messageCount(): number {
    return this.log.next - this.log.first;
  }

  get firstOffset(): number {
    return this.log.first;
  }

  get nextOffset(): number {
    return this.log.next;
  }

  /** Bytes of the stream's segments. */
  get bytes(): number {
    return this.log.bytes;
  }

  override refuses(): boolean {
    return false;
  }

  /** Appends; the confirm waits for the store's sync, as for a persistent message. Readers get the offset in the `x-stream-offset` header (withOffset). */
  override enqueue(message: Message, _seq: number): EnqueueResult {
    this.counters.published++;
    const log = this.log;
    // Built field by field: the published message's cached wire encoding is not kept.
    const { exchange, routingKey, payload, size, headers, properties } = message;
    log.append({ exchange, routingKey, payload, size, headers, properties }, this.host.clock.now());
    this.countEntries();
    this.dispatchWhenFlushed();
    return EnqueueResult.Persisted;
  }

  /** Consumers are pushed only what is on disk: an entry a crash could lose (and whose offset would be given again) is never seen. */
  private dispatchWhenFlushed(): void {
    if (this.dispatchOnFlush || this.consumers.length === 0) return;
    if (this.log.flushedNext === this.log.next) {
      this.dispatch();
      return;
    }
    this.dispatchOnFlush = true;
    this.log.flushed().then(
      () => {
        this.dispatchOnFlush = false;
        this.dispatch();
      },
      // A failed write fails the publishers' confirms; the entries go out with the next batch that succeeds.
      () => (this.dispatchOnFlush = false),
    );
  }

  override get(): QueueEntry | undefined {
    throw new BrokerError('NOT_ALLOWED', `queue "${this.name}" is a stream: read it with consume and x-stream-offset, or with fetch`);
  }

  override purge(): number {
    throw new BrokerError('NOT_ALLOWED', `queue "${this.name}" is a stream: it cannot be purged; its retention (x-max-age, x-max-length-bytes) drops old segments`);
  }

  override checkConsume(options: ConsumeOptions): void {
    if (options.noAck) throw preconditionFailed(`a consumer of stream "${this.name}" must ack (noAck false): acks are its credit`);
    if (options.prefetch < 1) throw preconditionFailed(`a consumer of stream "${this.name}" needs a prefetch of at least 1: it is the consumer's credit`);
    const args = options.arguments;
    if (args['x-stream-offset'] !== undefined) parseOffsetSpec(args['x-stream-offset']);
    if (args['x-stream-consumer'] !== undefined) groupName(args['x-stream-consumer']);
  }

  override addConsumer(consumer: Consumer): void {
    const args = consumer.consumeArguments;
    const group = args['x-stream-consumer'] === undefined ? undefined : groupName(args['x-stream-consumer']);
    const spec = args['x-stream-offset'] === undefined ? undefined : parseOffsetSpec(args['x-stream-offset']);
    const members = group === undefined ? undefined : this.groups.get(group);
    // The first of its group here waits in a cluster too, for the group's turn.
    const waiting = members !== undefined ? members.length > 0 : group !== undefined && this.host.store.lease !== undefined;
    const reader: Reader = { next: 0, group, waiting, starting: false, given: [], acked: new Set() };
    const start = this.startOffset(spec, group);
    if (typeof start === 'number') reader.next = start;
    else {
      reader.starting = true;
      // A store that cannot look it up says why, and the consumer starts at "next".
      // A takeover meanwhile (the reader was waiting in its group) has set its start already.
      start
        .then(
          (offset) => reader.starting && (reader.next = offset),
          () => reader.starting && (reader.next = this.log.next),
        )
        .finally(() => {
          reader.starting = false;
          this.dispatch();
        });
    }
    if (group !== undefined) {
      if (members) members.push(consumer);
      else {
        this.groups.set(group, [consumer]);
        const lease = this.host.store.lease?.(`g:${this.name}\n${group}`, (held) => this.groupTurnChanged(group, held));
        if (lease) this.groupTurns.set(group, { lease, waited: false });
      }
    }
    this.readers.set(consumer, reader);
    super.addConsumer(consumer);
  }

  /** A group's consumer is active when it is not waiting for its turn. */
  override isActive(consumer: Consumer): boolean {
    return this.readers.get(consumer)?.waiting !== true;
  }

  override removeConsumer(consumer: Consumer): void {
    const reader = this.readers.get(consumer);
    this.readers.delete(consumer);
    if (reader?.group !== undefined) {
      const members = this.groups.get(reader.group) ?? [];
      const wasActive = members[0] === consumer;
      members.splice(members.indexOf(consumer), 1);
      const turn = this.groupTurns.get(reader.group);
      if (members.length === 0) {
        this.groups.delete(reader.group);
        turn?.lease.release();
        this.groupTurns.delete(reader.group);
      }
      // A reader whose start was still being looked up was given nothing: no place to resume at.
      else if (wasActive && (turn === undefined || turn.lease.held)) this.takeOver(members[0], reader.group, reader.given[0] ?? (reader.starting ? undefined : reader.next));
    }
    super.removeConsumer(consumer);
  }

  /**
   * The next consumer of a group becomes active, at the group's committed offset + 1; before the
   * group's first commit, where the one that left stopped (`resumeAt`: its first offset not acked;
   * undefined when it was given nothing before its start was known: then at "next").
   */
  private takeOver(consumer: Consumer, group: string, resumeAt: number | undefined): void {
    const reader = this.readers.get(consumer);
    if (!reader) return;
    reader.waiting = false;
    reader.starting = false;
    reader.next = this.log.committed(group) === null && resumeAt !== undefined ? Math.max(resumeAt, this.log.first) : (this.startOffset(undefined, group) as number);
  }

  /**
   * The group's turn came to this node (or went): its first consumer here reads, from its own
   * start when no other node had the turn before, else from the group's committed offset + 1.
   */
  private groupTurnChanged(group: string, held: boolean): void {
    const turn = this.groupTurns.get(group);
    const first = this.groups.get(group)?.[0];
    const reader = first && this.readers.get(first);
    if (!turn || !first || !reader) return;
    if (!held) {
      turn.waited = true;
      reader.waiting = true;
      return;
    }
    if (turn.waited) this.takeOver(first, group, undefined);
    else reader.waiting = false;
    this.dispatch();
  }

  /** A number, but for a timestamp in a shared store, which looks it up. */
  private startOffset(spec: StreamOffsetSpec | undefined, group: string | undefined): number | Promise<number> {
    const log = this.log;
    if (spec === undefined) {
      const committed = group === undefined ? null : log.committed(group);
      return committed === null ? log.next : Math.max(committed + 1, log.first);
    }
    if (spec === 'first') return log.first;
    if (spec === 'next') return log.next;
    if (spec === 'last') return Math.max(log.first, log.next - 1);
    if (typeof spec === 'number') return Math.min(Math.max(spec, log.first), log.next);
    return log.offsetAtTimestamp(spec.timestamp);
  }

  override settle(entry: QueueEntry, reason?: DeathReason): void {
    if (reason !== undefined || this.deleted) return;
    const reader = (entry as StreamDelivery).reader;
    if (reader.group === undefined) return;
    reader.acked.add(entry.position);
    // The committed offset: the highest acked with every offset given before it acked too.
    let committed: number | undefined;
    while (reader.given.length > 0 && reader.acked.delete(reader.given[0])) committed = reader.given.shift();
    if (committed !== undefined) this.log.commit(reader.group, committed);
  }

  /** A nack, a reject or a consumer gone: nothing to put back; the credit is the connection's to return. */
  override requeue(): void {}

  override dispatch(): void {
    if (this.readingStream || this.deleted) return;
    this.readingStream = true;
    try {
      const log = this.log;
      const durable = log.flushedNext;
      for (const consumer of this.consumers) {
        const reader = this.readers.get(consumer);
        if (!reader || reader.waiting || reader.starting) continue;
        while (reader.next < durable && consumer.hasRoom()) {
          const room = consumer.prefetch - consumer.unacked;
          const entries = log.read(reader.next, Math.min(room, durable - reader.next), READ_BYTES);
          if (entries.length === 0) break;
          for (const entry of entries) {
            reader.next = entry.offset + 1;
            if (reader.group !== undefined) reader.given.push(entry.offset);
            consumer.owner.deliver(consumer, delivery(entry, reader));
            if (!consumer.hasRoom()) break;
          }
        }
      }
    } finally {
      this.readingStream = false;
    }
  }

  /** Resolves once `fetch(offset, max)` can answer; undefined when it can now (always, but in a shared store). */
  beforeFetch(offset: number, max: number): Promise<void> | undefined {
    return this.log.readable?.(offset, Math.min(max, this.log.flushedNext - offset));
  }

  /** Up to `max` entries from `offset` (clamped to what is kept), for a pull. */
  fetch(offset: number, max: number): FetchedEntry[] {
    const log = this.log;
    const from = Math.max(offset, log.first);
    const count = Math.min(max, log.flushedNext - from);
    return count <= 0 ? [] : log.read(from, count, READ_BYTES * 4).map((entry) => ({ offset: entry.offset, message: withOffset(entry) }));
  }

  /** Stores a group's committed offset (docs/protocol.md, "Stream queues"): an offset of the stream. */
  commit(group: string, offset: number): void {
    groupName(group);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.log.next) {
      throw preconditionFailed(`commit offset must be an offset of stream "${this.name}", an integer from 0 to ${this.log.next - 1} (got ${JSON.stringify(offset)})`);
    }
    this.log.commit(group, offset);
  }

  committed(group: string): number | null {
    return this.log.committed(groupName(group));
  }

  /** Every consumer group: with a committed offset, or with consumers; its lag is the entries after its committed offset. */
  groupStates(): GroupState[] {
    const log = this.log;
    const committed = log.committedOffsets();
    const names = new Set([...committed.keys(), ...this.groups.keys()]);
    return [...names].sort().map((name) => {
      const offset = committed.get(name) ?? null;
      return { name, committed: offset, lag: log.next - (offset === null ? log.first : Math.max(offset + 1, log.first)), consumers: this.groups.get(name)?.length ?? 0 };
    });
  }

  override destroy(): number {
    const entries = this.counted;
    this.host.totals.messagesReady -= entries;
    this.counted = 0;
    for (const turn of this.groupTurns.values()) turn.lease.release();
    this.groupTurns.clear();
    super.destroy();
    return entries;
  }

  override clearTimers(): void {
    super.clearTimers();
    if (this.retentionTimer !== undefined) this.host.clock.clearTimer(this.retentionTimer);
    this.retentionTimer = undefined;
  }

  private scheduleRetention(everyMs: number): void {
    this.retentionTimer = this.host.clock.setTimer(() => {
      this.log.applyRetention(this.host.clock.now());
      this.countEntries();
      this.scheduleRetention(everyMs);
    }, everyMs);
  }
}

function delivery(entry: StreamEntry, reader: Reader): StreamDelivery {
  return { seq: entry.offset, position: entry.offset, message: withOffset(entry), expiresAt: Infinity, priority: 0, returns: 0, readyAt: 0, persisted: false, reader };
}

/**
 * The entry's message with its offset in the `x-stream-offset` header. The header is added as the
 * entry is read, not stored: stored metadata then stays the same from entry to entry, and the log
 * decodes it once for a run of entries instead of once each (entries written before carry the
 * header already; it gets the same value). Built field by field, without a cached wire encoding,
 * which would lack the header.
 */
function withOffset({ offset, message }: StreamEntry): Message {
  const { exchange, routingKey, payload, size, headers, properties } = message;
  return { exchange, routingKey, payload, size, headers: { ...headers, 'x-stream-offset': offset }, properties };
}

/** `x-stream-offset`: "first", "last", "next", an offset, or {"timestamp": ms}. */
export function parseOffsetSpec(value: unknown): StreamOffsetSpec {
  if (value === 'first' || value === 'last' || value === 'next') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { timestamp } = value as { timestamp?: unknown };
    if (typeof timestamp === 'number' && Number.isFinite(timestamp) && Object.keys(value).length === 1) return { timestamp };
  }
  throw preconditionFailed(`consume argument x-stream-offset must be "first", "last", "next", an offset (an integer >= 0) or {"timestamp": <ms>} (got ${JSON.stringify(value)})`);
}

function groupName(value: unknown): string {
  if (typeof value === 'string' && value !== '' && value.length <= MAX_GROUP_NAME) return value;
  throw preconditionFailed(`x-stream-consumer must be a consumer group name, a string of 1 to ${MAX_GROUP_NAME} characters (got ${JSON.stringify(value)})`);
}
