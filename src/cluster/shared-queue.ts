import type { Message, SharedEntry, SharedQueue, SharedQueueReceiver } from '../broker/index.js';
import { decodeEntry, entryMeta } from './entry-codec.js';
import type { FetchTarget, StreamEntries } from './fetcher.js';
import { GROUP } from './keys.js';
import type { ClusterNode } from './node.js';

/**
 * A queue's messages in a Redis stream read by the consumer group every node reads it in: an
 * entry is pending for the node that fetched it until that node acknowledges and deletes it (one
 * XACK and one XDEL per queue and event-loop turn), gives it back, or dies.
 */
export class RedisSharedQueue implements SharedQueue, FetchTarget {
  /** What this node's consumers last had room for beyond what it holds. */
  wanted = 0;
  maxLength: number | undefined;
  messageTtl: number | undefined;
  /** This node added a message with an expiration: its sweeps look at the queue's head from now on. */
  private addedExpiring = false;

  get expires(): boolean {
    return this.messageTtl !== undefined || this.addedExpiring;
  }
  readyElsewhere = 0;
  /** The stream entry of each message this node holds, by the seq the queue gave it. */
  private readonly ids = new Map<number, string>();
  private acks: string[] = [];
  /** Meta and payload of the messages added this turn, sent as one call. */
  private adds: string[] = [];
  private readonly flushAdds = (): void => {
    const adds = this.adds;
    if (adds.length === 0) return;
    this.adds = [];
    this.node.heldWrites.delete(this.flushAdds);
    const added = this.node.redis.addMessages(this.key, GROUP, this.node.name, String(this.maxLength ?? -1), ...adds).then(([count, ...dropped]) => {
      if (count < 0) {
        this.streamMissing();
        throw new Error(`the stream of ${this.key} is not in Redis (the queue was deleted, or Redis lost it in a failover)`);
      }
      this.arrived(dropped, 'maxlen');
    });
    this.node.write(added);
  };

  constructor(
    private readonly node: ClusterNode,
    readonly key: string,
    private readonly receiver: SharedQueueReceiver,
    /** The stream is not in Redis: the queue was deleted on another node, or Redis lost it (a failover). */
    private readonly streamMissing: () => void,
    /** Where the queue is declared: its field in the vhost's topology hash. */
    private readonly declaredIn: { hash: string; field: string },
  ) {}

  /**
   * Held until the end of the turn (or the next sync), then added with the turn's others in one
   * call: one command per queue and turn rather than one per message. A stream that is gone is not
   * made again, and its messages fail (their confirms are errors), never confirmed into nothing.
   */
  add(message: Message, expiresAt: number | null): void {
    if (expiresAt !== null) this.addedExpiring = true;
    const meta = entryMeta(message, expiresAt);
    this.readyElsewhere++;
    if (this.node.gathered) return this.node.gather(this.key, 'a', meta, message.payload);
    if (this.adds.length === 0) {
      this.node.heldWrites.add(this.flushAdds);
      setImmediate(this.flushAdds);
    }
    this.adds.push(meta, message.payload);
  }

  want(count: number): void {
    this.wanted = count;
    this.node.fetcher.want(this, count);
  }

  remove(seq: number): void {
    const id = this.ids.get(seq);
    if (id === undefined) return;
    this.ids.delete(seq);
    if (this.node.gathered) return this.node.gather(this.key, 'd', id);
    if (this.acks.length === 0) setImmediate(() => this.flushAcks());
    this.acks.push(id);
  }

  giveBack(entries: readonly SharedEntry[]): void {
    const args: string[] = [];
    for (const { seq, message, returns, expiresAt } of entries) {
      const id = this.ids.get(seq);
      if (id === undefined) continue;
      this.ids.delete(seq);
      args.push(id, entryMeta(message, expiresAt), message.payload, String(returns));
    }
    if (args.length === 0) return;
    this.node.background(this.node.redis.giveBack(this.key, GROUP, ...args));
    this.readyElsewhere += args.length / 4;
  }

  async fetchOne(): Promise<void> {
    this.flushAdds();
    const reply = (await this.node.redis.call('XREADGROUP', 'GROUP', GROUP, this.node.name, 'COUNT', 1, 'STREAMS', this.key, '>')) as [string, StreamEntries][] | null;
    if (reply) this.arrived(reply[0][1]);
  }

  purge(): void {
    this.flushAdds();
    // Not XTRIM: that would delete the entries nodes hold for their consumers too.
    this.node.write(this.node.redis.purgeReady(this.key, GROUP));
    this.readyElsewhere = 0;
  }

  /**
   * Entries read for this node: each becomes a ready message of the queue here, or, read because
   * it `died` in Redis (past the length limit, expired), is dead-lettered and removed in one step.
   */
  arrived(entries: StreamEntries, died?: 'maxlen' | 'expired'): void {
    for (const [id, fields] of entries) {
      let decoded;
      try {
        decoded = decodeEntry(fields);
      } catch (error) {
        // Not Warren's: leaving it pending would hold it here forever.
        this.node.logger.warn({ stream: this.key, id, err: (error as Error).message }, 'a stream entry that is not a message: deleted');
        this.node.background(this.node.redis.xack(this.key, GROUP, id));
        this.node.background(this.node.redis.xdel(this.key, id));
        continue;
      }
      if (this.readyElsewhere > 0) this.readyElsewhere--;
      if (died) this.receiver.diedInStore(decoded.message, decoded.returns, died, (seq) => this.ids.set(seq, id));
      else this.ids.set(this.receiver.receive(decoded.message, decoded.returns, decoded.expiresAt), id);
    }
    if (!died) this.receiver.dispatch();
  }

  /** Acknowledged ones not yet sent to Redis too: Redis still has them pending here. */
  heldIds(): Set<string> {
    return new Set([...this.ids.values(), ...this.acks]);
  }

  expiredInRedis(entries: StreamEntries): void {
    this.arrived(entries, 'expired');
  }

  /** Makes the stream and its group unless they exist (a new queue, or one whose stream was lost). */
  /** False when the queue is no longer declared in Redis (nothing was made). */
  async ensureGroup(): Promise<boolean> {
    return (await this.node.redis.ensureGroup(this.key, this.declaredIn.hash, GROUP, this.declaredIn.field)) === 1;
  }

  /** The queue is gone here: its reads stop (what it was adding goes first). */
  close(): void {
    this.flushAdds();
    this.want(0);
    this.node.queues.delete(this.key);
  }

  private flushAcks(): void {
    const ids = this.acks;
    this.acks = [];
    this.node.background(this.node.redis.xack(this.key, GROUP, ...ids));
    this.node.background(this.node.redis.xdel(this.key, ...ids));
  }
}
