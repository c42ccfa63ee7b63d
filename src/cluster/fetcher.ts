import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { GROUP } from './keys.js';

/** Most entries one read takes from one queue. */
const MAX_FETCH = 1000;
/** A read blocks at most this long, then starts again with the queues wanting messages then. */
const BLOCK_MS = 2000;

export type StreamEntries = readonly [id: string, fields: string[]][];

type ReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/** A queue as the fetcher reads it (a FetchTarget). */
export interface FetchTarget {
  readonly key: string;
  /** How many messages it wants now. */
  readonly wanted: number;
  /** Messages in Redis that no node holds, as last counted. */
  readyElsewhere: number;
  arrived(entries: StreamEntries): void;
  /** False when the queue is no longer declared in Redis. */
  ensureGroup(): Promise<boolean>;
  /** It may have expiring messages in Redis (x-message-ttl, or a publish with an expiration): the node deletes the expired ones at its head. */
  readonly expires: boolean;
  /** Expired entries read for this node to dead-letter. */
  expiredInRedis(entries: StreamEntries): void;
  /** The stream ids of the messages this node holds of the queue now. */
  heldIds(): Set<string>;
}

/**
 * The node's reads of its shared queues: one blocking XREADGROUP on a connection of its own, over
 * every queue whose local consumers have room, so that a message published on any node reaches a
 * waiting consumer here without polling. A queue that starts wanting while a read blocks
 * interrupts it (CLIENT UNBLOCK) to be read too.
 */
export class Fetcher {
  private readonly wanting = new Map<string, FetchTarget>();
  private running = false;
  private stopped: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private reading: Set<string> | undefined;
  private clientId: number | undefined;
  /** The reads' connection came back: a read whose answer the drop lost left entries pending under this node. */
  private reconnected = false;

  constructor(
    private readonly reader: Redis,
    private readonly control: Redis,
    /** This node's name: its consumer name in every queue's group. */
    private readonly consumer: string,
    /** Every shared queue open on this node, by key: where what is read goes. */
    private readonly queues: ReadonlyMap<string, FetchTarget>,
    private readonly logger: Logger,
  ) {
    let connectedBefore = reader.status === 'ready';
    reader.on('ready', () => {
      // A new connection (Redis restarted, a failover) has a new client id for CLIENT UNBLOCK.
      this.clientId = undefined;
      if (connectedBefore) this.reconnected = true;
      connectedBefore = true;
    });
  }

  /** `queue` wants `count` more messages (0: none, for now). */
  want(queue: FetchTarget, count: number): void {
    if (count <= 0) {
      this.wanting.delete(queue.key);
      return;
    }
    const known = this.wanting.has(queue.key);
    this.wanting.set(queue.key, queue);
    if (!known) this.kick(queue.key);
  }

  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let done: () => void = () => {};
    this.stopped = new Promise((resolve) => (done = resolve));
    try {
      while (this.running) {
        if (this.wanting.size === 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        try {
          await this.readOnce();
        } catch (error) {
          // One bad read (a failover's READONLY, an error delivering what it read) must not end
          // the loop: no consumer on this node would get a message again.
          if (!this.running) break;
          this.logger.error({ err: (error as Error).message }, 'reading the shared queues failed; trying again in 0.5 s');
          await new Promise((resolve) => setTimeout(resolve, 500).unref());
        }
      }
    } finally {
      done();
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    this.reader.disconnect();
    await this.stopped;
  }

  private async readOnce(): Promise<void> {
    if (this.reconnected) {
      this.reconnected = false;
      await this.takeLostReads();
    }
    const queues = [...this.wanting.values()];
    const keys = queues.map((queue) => queue.key);
    let count = 1;
    for (const queue of queues) count = Math.max(count, queue.wanted);
    this.reading = new Set(keys);
    let reply: ReadReply;
    try {
      this.clientId ??= (await this.reader.client('ID')) as number;
      reply = (await this.reader.call('XREADGROUP', 'GROUP', GROUP, this.consumer, 'COUNT', Math.min(count, MAX_FETCH), 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...keys.map(() => '>'))) as ReadReply;
    } catch (error) {
      this.reading = undefined;
      if (!this.running) return;
      await this.readFailed(error as Error, queues);
      return;
    }
    this.reading = undefined;
    for (const [key, entries] of reply ?? []) this.queues.get(key)?.arrived(entries);
  }

  /**
   * Takes again what a read lost in a dropped connection had taken: entries pending under this
   * node in Redis that it does not hold (ioredis sends the read again after the reconnect, and
   * that read takes new entries). Read on the command connection, after the acknowledgements,
   * give-backs and gets sent on it; an entry held when the read was sent or when it answered (an
   * acknowledgement not sent yet counts as held) is not taken for a lost one. One queue at a
   * time: one whose group is gone (deleted meanwhile) does not stop the others.
   */
  private async takeLostReads(): Promise<void> {
    let taken = 0;
    for (const queue of [...this.queues.values()]) {
      const heldBefore = queue.heldIds();
      let reply: [string, [string, string[] | null][]][] | null;
      try {
        reply = (await this.control.call('XREADGROUP', 'GROUP', GROUP, this.consumer, 'STREAMS', queue.key, '0')) as typeof reply;
      } catch (error) {
        if (/NOGROUP/.test((error as Error).message)) continue;
        throw error;
      }
      const entries = reply?.[0]?.[1] ?? [];
      const heldAfter = queue.heldIds();
      // An entry deleted while pending comes back without fields: only its pending record is left.
      const deleted = entries.filter((entry) => entry[1] === null).map(([id]) => id);
      if (deleted.length > 0) await this.control.xack(queue.key, GROUP, ...deleted);
      const lost = entries.filter((entry): entry is [string, string[]] => entry[1] !== null && !heldBefore.has(entry[0]) && !heldAfter.has(entry[0]));
      taken += lost.length;
      if (lost.length > 0 && this.queues.get(queue.key) === queue) queue.arrived(lost);
    }
    if (taken > 0) this.logger.warn({ taken }, 'reads of the shared queues whose answers a dropped connection to Redis lost: their messages are taken again');
  }

  /** A queue's stream or group is gone (deleted on another node): it is made again while the queue exists here. */
  private async readFailed(error: Error, queues: FetchTarget[]): Promise<void> {
    const missing = /NOGROUP.*key '([^']*)'/.exec(error.message)?.[1];
    const queue = missing === undefined ? undefined : queues.find((candidate) => candidate.key === missing);
    if (queue) {
      // Deleted on another node: not read again until the deletion reaches this node (or it wants again).
      if (!(await queue.ensureGroup())) this.wanting.delete(queue.key);
      return;
    }
    this.clientId = undefined;
    this.logger.warn({ err: error.message }, 'reading the shared queues from Redis failed; trying again in 0.5 s');
    await new Promise((resolve) => setTimeout(resolve, 500).unref());
  }

  /** A queue not in the blocked read wants messages: the read stops early and starts again with it. */
  private kick(key: string): void {
    if (this.wake) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
      return;
    }
    if (this.reading === undefined || this.reading.has(key) || this.clientId === undefined) return;
    // The read may not have reached Redis yet: try until it is unblocked or over.
    const reading = this.reading;
    const unblock = (tries: number): void => {
      void this.control.client('UNBLOCK', this.clientId as number).then((unblocked) => {
        if (unblocked === 0 && this.reading === reading && tries > 0) setTimeout(() => unblock(tries - 1), 2);
      }, () => {});
    };
    unblock(50);
  }
}
