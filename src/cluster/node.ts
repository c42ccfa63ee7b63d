import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { hideRedisPassword, type ClusterConfig } from '../config/index.js';
import { Fetcher, type FetchTarget } from './fetcher.js';
import { ACCOUNTS_CHANNEL, ACCOUNTS_KEY, APPLIED_CHANNEL, controlChannel, GROUP, LEASES_CHANNEL, NODES_KEY, relayChannel, replyChannel, STREAMS_CHANNEL, TOPOLOGY_CHANNEL, TOPOLOGY_VERSION_KEY } from './keys.js';
import { redisOptions } from './redis-url.js';
import {
  ADD_MESSAGES,
  APPLY_WRITES,
  CHANGE_TOPOLOGY,
  CLAIM_LEASE,
  CLAIM_NAME,
  ENSURE_GROUP,
  EXPIRE_READY,
  GIVE_BACK,
  PURGE_READY,
  READY_COUNT,
  RELEASE_LEASE,
  RENEW_AND_REAP,
  RETURN_PENDING,
  STREAM_APPEND,
  STREAM_AT_TIME,
  STREAM_COMMIT,
  STREAM_ENSURE,
  STREAM_TRIM,
} from './scripts.js';

/** A change of the shared topology, as published to every node. */
export interface TopologyChange {
  /** The node that made it (it has applied it already). */
  node: string;
  /** Its place in the order of every change: what nodes say they have applied. */
  version: number;
  vhost: string;
  /** `x:`, `q:`, `b:` or `p:` and the name (a binding's key): the field of the vhost's topology hash; "" for the vhost itself. */
  field: string;
  /** The stored definition as JSON, or null when it was deleted. */
  value: string | null;
}

/** What another node asks of this one (docs/clustering.md): its state for the management API, or to close a connection. */
type ControlRequest = { op: 'state'; id: string; from: string } | { op: 'close'; name: string; reason: string };

/** What this node answers other nodes' requests with: its management API. */
export interface ControlHandlers {
  /** What this node has (connections, consumers, what it holds of each queue), as JSON can carry it. */
  state(): unknown;
  close(name: string, reason: string): boolean;
}

/** A stream queue's state as a node mirrors it (stream-log.ts): from announcements, and read again from Redis. */
export interface StreamMirror {
  readonly stateKey: string;
  /** An announcement on the streams channel, the state key taken off. */
  noted(words: string[]): void;
  /** The state hash as HGETALL gives it. */
  loadState(fields: Record<string, string>): void;
}

/** How long a request to the other nodes waits for their answers. */
const REQUEST_TIMEOUT_MS = 2000;

/** The commands this module adds to ioredis, one per Lua script. */
export interface ClusterCommands {
  renewAndReap(nodesKey: string, node: string, timeoutMs: number): Promise<[dead: string[], live: string[], added: number]>;
  changeTopology(versionKey: string, key: string, nodesKey: string, op: 'hset' | 'hdel' | 'sadd' | 'srem', field: string, value: string, channel: string, change: string): Promise<[version: number, live: string[]]>;
  returnPending(queueKey: string, group: string, consumer: string): Promise<number>;
  giveBack(queueKey: string, group: string, ...idMetaPayloadReturns: string[]): Promise<number>;
  /** Replies how many were added (-1: the stream is missing), then the fields of each entry the length limit deleted. */
  addMessages(queueKey: string, group: string, node: string, maxLength: string, ...metaPayload: string[]): Promise<[number, ...[id: string, fields: string[]][]]>;
  applyWrites(keyCount: number, ...keysThenGroupAndWrites: string[]): Promise<number>;
  readyCount(queueKey: string, group: string): Promise<number>;
  expireReady(queueKey: string, group: string, node: string, now: string): Promise<[id: string, fields: string[]][]>;
  purgeReady(queueKey: string, group: string): Promise<number>;
  ensureGroup(queueKey: string, topologyKey: string, group: string, field: string): Promise<number>;
  streamEnsure(stateKey: string, topologyKey: string, key: string, field: string, next: string): Promise<number>;
  /** Replies first, next, bytes, ts; first is -1 when the stream queue's state is missing. */
  streamAppend(key: string, stateKey: string, channel: string, now: string, maxBytes: string, ...metaPayload: string[]): Promise<[number, number, number, number]>;
  streamTrim(key: string, stateKey: string, channel: string, now: string, maxBytes: string, maxAgeMs: string): Promise<[number, number, number, number]>;
  streamCommit(stateKey: string, channel: string, group: string, offset: string): Promise<number>;
  streamAtTime(key: string, stateKey: string, ms: string): Promise<number>;
  claimLease(key: string, node: string, ms: string): Promise<number>;
  claimName(nodesKey: string, node: string, timeoutMs: string): Promise<[expiry: number, now: number]>;
  releaseLease(key: string, node: string, channel: string): Promise<number>;
}

/** A lease this node asked for: held or not, as Redis last answered. */
interface LeaseWish {
  readonly key: string;
  held: boolean;
  answered: boolean;
  readonly changed: (held: boolean) => void;
}

export type ClusterRedis = Redis & ClusterCommands;

/** Each command's script, and how many of its first arguments are keys (none given: the first argument says, as it varies). */
const COMMANDS: Record<keyof ClusterCommands, { numberOfKeys?: number; lua: string }> = {
  renewAndReap: { numberOfKeys: 1, lua: RENEW_AND_REAP },
  changeTopology: { numberOfKeys: 3, lua: CHANGE_TOPOLOGY },
  returnPending: { numberOfKeys: 1, lua: RETURN_PENDING },
  giveBack: { numberOfKeys: 1, lua: GIVE_BACK },
  addMessages: { numberOfKeys: 1, lua: ADD_MESSAGES },
  applyWrites: { lua: APPLY_WRITES },
  readyCount: { numberOfKeys: 1, lua: READY_COUNT },
  expireReady: { numberOfKeys: 1, lua: EXPIRE_READY },
  purgeReady: { numberOfKeys: 1, lua: PURGE_READY },
  ensureGroup: { numberOfKeys: 2, lua: ENSURE_GROUP },
  streamEnsure: { numberOfKeys: 3, lua: STREAM_ENSURE },
  streamAppend: { numberOfKeys: 2, lua: STREAM_APPEND },
  streamTrim: { numberOfKeys: 2, lua: STREAM_TRIM },
  streamCommit: { numberOfKeys: 1, lua: STREAM_COMMIT },
  streamAtTime: { numberOfKeys: 2, lua: STREAM_AT_TIME },
  claimLease: { numberOfKeys: 1, lua: CLAIM_LEASE },
  claimName: { numberOfKeys: 1, lua: CLAIM_NAME },
  releaseLease: { numberOfKeys: 1, lua: RELEASE_LEASE },
};

/** How long the start waits for Redis before it gives up with an error. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a shutdown waits for Redis. */
const CLOSE_TIMEOUT_MS = 5000;

/**
 * This node's part of the cluster: its connections to Redis (commands, the topology channel, and
 * the blocking reads of queues), the barrier that confirms wait for, and its liveness.
 */
export class ClusterNode {
  readonly fetcher: Fetcher;
  /** The shared queues this node has open, by stream key: where fetched entries go. */
  readonly queues = new Map<string, FetchTarget>();
  /** The leases this node asked for, by key. */
  private readonly leases = new Map<string, LeaseWish>();
  /** The stream queues this node knows, by state key: where their announcements go. */
  readonly streams = new Map<string, StreamMirror>();
  private writes = 0;
  private lastWrite: Promise<void> = Promise.resolve();
  private readonly failedWrites: { index: number; error: Error }[] = [];
  private syncedTo = 0;
  /** The version of this node's last topology change (0 before any). */
  private lastChange: Promise<number> = Promise.resolve(0);
  /** The last topology version this node applied, and whether saying so is scheduled. */
  private appliedVersion = 0;
  private reportScheduled = false;
  /** The nodes alive at the last renewal or topology change, and the version each said it applied. */
  private liveNodes: string[] = [];
  private readonly appliedBy = new Map<string, number>();
  private waiters: { version: number; resolve: () => void }[] = [];
  private livenessTimer: ReturnType<typeof setInterval> | undefined;
  private countTimer: ReturnType<typeof setInterval> | undefined;
  /** Changes announced before `start`: applied then, in order. */
  private early: TopologyChange[] = [];
  private onChange: (change: TopologyChange) => void = (change) => this.early.push(change);
  private onDeadNode: (node: string) => Promise<void> = async () => {};
  private onRelayed: (text: string) => void = () => {};
  private onAccountsSaved: () => void = () => {};
  private onRejoined: () => void = () => {};
  private onTopologyLost: () => Promise<void> = async () => {};
  /** Set when a shutdown could not return what this node held. */
  holdsDeliveries = false;
  /** Renewed at least once: being added to the live set again means another node took this one for dead. */
  private registered = false;
  private control: ControlHandlers = { state: () => undefined, close: () => false };
  /** Requests of this node waiting for answers, by id. */
  private readonly requests = new Map<string, { answers: unknown[]; waitingFor: Set<string>; done: () => void }>();

  private constructor(
    readonly config: ClusterConfig,
    readonly redis: ClusterRedis,
    private readonly subscriber: Redis,
    reader: Redis,
    readonly logger: Logger,
  ) {
    this.fetcher = new Fetcher(reader, redis, config.node, this.queues, logger);
  }

  get name(): string {
    return this.config.node;
  }

  /** Connects to Redis (three connections), checks its version, and subscribes to topology changes. */
  static async connect(config: ClusterConfig, logger: Logger): Promise<ClusterNode> {
    // RESP2: the replies keep the shapes Redis documents (RESP3 maps would arrive flattened).
    const options: RedisOptions = { ...redisOptions(config.redis), protocol: 2, enableAutoPipelining: true, lazyConnect: true, connectionName: `warren:${config.node}`, maxRetriesPerRequest: null };
    const connections = [new Redis(options), new Redis(options), new Redis(options)];
    let lastError = 'no answer';
    /**
     * The errors logged until a connection is ready again: the three connections retrying would
     * repeat them, and a different error between two of the same made a last-one-only memo log again.
     */
    const logged = new Set<string>();
    let connecting = true;
    let notRedis: (error: Error) => void = () => {};
    const answeredNotAsRedis = new Promise<never>((_, reject) => (notRedis = reject));
    for (const connection of connections) {
      connection.on('error', (error: Error) => {
        lastError = error.message;
        // What answered does not speak Redis's protocol (an HTTP server, another service's port):
        // waiting will not help, and the parser's own words ("Please report this") would mislead.
        if (connecting && /Unknown RESP type|Protocol error/i.test(error.message)) {
          notRedis(new Error(`the server at ${hideRedisPassword(config.redis)} (cluster.redis) answered, but not as Redis does (${error.message.replace(/\s*Please report this\.?/, '')}): is this another service's port? Point cluster.redis at redis-server's`));
          return;
        }
        if (logged.has(error.message)) return;
        logged.add(error.message);
        logger.warn({ err: error.message }, 'Redis connection error (cluster.redis); reconnecting (the same error again is not logged until Redis answers)');
      });
      connection.on('ready', () => logged.clear());
    }
    answeredNotAsRedis.catch(() => {});
    try {
      // Ready, not connected: ioredis goes on trying after a refused connection (a Redis that
      // starts after the node), which `connect()`'s promise does not wait for.
      const allReady = Promise.all(
        connections.map((connection) => {
          const ready = new Promise<void>((resolve) => connection.once('ready', () => resolve()));
          connection.connect().catch(() => {});
          return ready;
        }),
      );
      const unreachable = `cannot reach Redis at ${hideRedisPassword(config.redis)} (cluster.redis) within ${CONNECT_TIMEOUT_MS / 1000} s: start redis-server there, or fix the URL`;
      const readyInTime = withTimeout(allReady, CONNECT_TIMEOUT_MS, unreachable).catch((error: Error) => {
        throw new Error(`${error.message} (last error: ${lastError})`);
      });
      await Promise.race([answeredNotAsRedis, readyInTime]);
      connecting = false;
      const [redis, subscriber, reader] = connections;
      const version = /redis_version:(\d+)\.(\d+)/.exec(await redis.info('server'));
      if (!version || Number(version[1]) < 7) {
        throw new Error(`Redis at ${hideRedisPassword(config.redis)} is version ${version ? `${version[1]}.${version[2]}` : 'unknown'}: Warren's cluster needs Redis 7 or later (streams with NOMKSTREAM, consumer groups)`);
      }
      for (const [name, definition] of Object.entries(COMMANDS)) redis.defineCommand(name, definition);
      const node = new ClusterNode(config, redis as ClusterRedis, subscriber, reader, logger);
      // Before anything of this node's name is touched: a namesake's deliveries are its own.
      await node.checkNameFree();
      subscriber.on('message', (channel: string, text: string) => node.received(channel, text));
      await subscriber.subscribe(TOPOLOGY_CHANNEL, APPLIED_CHANNEL, ACCOUNTS_CHANNEL, STREAMS_CHANNEL, LEASES_CHANNEL, relayChannel(config.node), controlChannel(config.node), replyChannel(config.node));
      // After subscribing, before the topology is read: changes from here on arrive as messages.
      node.appliedVersion = Number((await redis.get(TOPOLOGY_VERSION_KEY)) ?? 0);
      return node;
    } catch (error) {
      for (const connection of connections) connection.disconnect();
      throw error;
    }
  }

  /** What this node does with what the cluster tells it; changes announced before now are applied now. */
  handle(handlers: {
    change: (change: TopologyChange) => void;
    relayed: (text: string) => void;
    accountsSaved: () => void;
    deadNode: (node: string) => Promise<void>;
    rejoined: () => void;
    topologyLost: () => Promise<void>;
  }): void {
    this.onTopologyLost = handlers.topologyLost;
    // After a reconnect (Redis restarted, a failover): did Redis lose topology this node applied?
    this.redis.on('ready', () => void this.checkTopology());
    this.onRelayed = handlers.relayed;
    this.onAccountsSaved = handlers.accountsSaved;
    this.onChange = handlers.change;
    this.onDeadNode = handlers.deadNode;
    this.onRejoined = handlers.rejoined;
    for (const change of this.early.splice(0)) this.onChange(change);
    this.reportApplied(this.appliedVersion);
  }

  /**
   * Starts the node's loops: its liveness (renewed three times per timeout; whoever sees another
   * node dead first returns that node's deliveries), the reads of queues, and the ready counts.
   */
  start(): void {
    this.livenessTimer = setInterval(() => void this.renew(), this.renewalMs);
    this.livenessTimer.unref();
    this.countTimer = setInterval(() => void this.countReady(), COUNT_INTERVAL_MS);
    this.countTimer.unref();
    void this.fetcher.run();
  }

  /** Redis's topology version below what this node applied: Redis lost changes, which this node writes back. */
  private async checkTopology(): Promise<void> {
    try {
      const version = Number((await this.redis.get(TOPOLOGY_VERSION_KEY)) ?? 0);
      if (version >= this.appliedVersion) return;
      this.logger.warn({ redisVersion: version, applied: this.appliedVersion }, 'Redis lost topology changes (a failover or a restart without persistence): writing back what this node knows');
      // Versions go on from what the nodes applied: the replies' barrier counts on them growing.
      await this.redis.set(TOPOLOGY_VERSION_KEY, String(this.appliedVersion));
      await this.onTopologyLost();
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, 'writing the topology back to Redis failed');
    }
  }

  /**
   * Claims this node's name in the live set, or refuses to start as a node another live process
   * is: two processes under one name would return each other's deliveries. A live entry is waited
   * out: a node restarted after a crash finds its old one, which lapses; a running namesake
   * renews it first. Two processes starting at once: one claims, the other waits and sees it renewed.
   */
  private async checkNameFree(): Promise<void> {
    const claim = () => this.redis.claimName(NODES_KEY, this.name, String(this.config.nodeTimeoutMs));
    const [expiry, now] = await claim();
    if (expiry === 0) return;
    this.logger.info({ node: this.name, waitMs: expiry - now }, 'this node\'s name is in the live set (a crash before this start, or another process): waiting for it to lapse');
    await new Promise((resolve) => setTimeout(resolve, expiry - now + 200));
    if ((await claim())[0] !== 0) {
      throw new Error(`a node named "${this.name}" is already running in this cluster (it renews its liveness in Redis): give every node its own cluster.node`);
    }
  }

  private get renewalMs(): number {
    return Math.max(50, Math.floor(this.config.nodeTimeoutMs / 3));
  }

  /** Registers this node as alive now (before it serves anything). */
  async renew(): Promise<void> {
    let dead: string[];
    try {
      let added: number;
      [dead, this.liveNodes, added] = await this.redis.renewAndReap(NODES_KEY, this.name, this.config.nodeTimeoutMs);
      if (added === 1 && this.registered) {
        this.logger.warn({ node: this.name }, 'this node was not in the live set any more (taken for dead after not renewing its liveness in time, or Redis lost the set): what it held may have gone back to its queues; announcing its relay bindings again');
        this.onRejoined();
      }
      this.registered = true;
      this.resolveWaiters();
      // Renewed with the liveness: a node that stops renewing loses its leases as it is taken for dead.
      void this.claimLeases([...this.leases.values()]);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'cannot renew this node in Redis; other nodes take it for dead after cluster.nodeTimeoutMs');
      return;
    }
    for (const node of dead) {
      if (node === this.name) continue;
      this.logger.warn({ node }, `node "${node}" did not renew its liveness in ${this.config.nodeTimeoutMs} ms (cluster.nodeTimeoutMs): returning its unacknowledged deliveries to their queues`);
      await this.onDeadNode(node).catch((error: Error) => this.logger.error({ node, err: error.message }, 'returning a dead node\'s deliveries failed'));
    }
  }

  /** Writes a topology change (`op` of `field` on `key`) and announces it to the other nodes, in one step. */
  changeTopology(key: string, op: 'hset' | 'hdel' | 'sadd' | 'srem', field: string, change: Omit<TopologyChange, 'node' | 'version'>): void {
    const version = this.redis.changeTopology(TOPOLOGY_VERSION_KEY, key, NODES_KEY, op, field, change.value ?? '', TOPOLOGY_CHANNEL, JSON.stringify({ node: this.name, ...change })).then(([version, live]) => {
      // A node started since this node's last renewal must apply the change too. Replies on one
      // connection come in order, so a renewal read before this change cannot undo this.
      for (const node of live) if (!this.liveNodes.includes(node)) this.liveNodes.push(node);
      return version;
    });
    this.write(version);
    this.lastChange = version.catch(() => FAILED_CHANGE);
  }

  /**
   * Resolves once every node alive has applied this node's topology changes made before the
   * call, so that what a client declared here routes on any node it publishes to next; a node that
   * does not say so within cluster.nodeTimeoutMs is left behind (it is dead, or about to be).
   */
  async topologySettled(): Promise<void> {
    const version = await this.lastChange;
    if (version === FAILED_CHANGE) {
      // Told once, to whoever asks first; `sync()` tells the same to confirms.
      this.lastChange = Promise.resolve(0);
      throw new Error('a topology change was not written to Redis');
    }
    if (version === 0 || this.appliedEverywhere(version)) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        const behind = this.liveNodes.filter((node) => node !== this.name && (this.appliedBy.get(node) ?? 0) < version);
        if (behind.length > 0) this.logger.warn({ version, behind }, `node(s) ${behind.join(', ')} did not apply a topology change within cluster.nodeTimeoutMs: answered without them`);
        resolve();
      }, this.config.nodeTimeoutMs).unref();
      this.waiters.push({
        version,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** This node applied the topology up to `version`: said to the others once per turn. */
  reportApplied(version: number): void {
    this.appliedVersion = Math.max(this.appliedVersion, version);
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    setImmediate(() => {
      this.reportScheduled = false;
      this.background(this.redis.publish(APPLIED_CHANNEL, `${this.name} ${this.appliedVersion}`));
    });
  }

  private appliedEverywhere(version: number): boolean {
    return this.liveNodes.every((node) => node === this.name || (this.appliedBy.get(node) ?? 0) >= version);
  }

  private resolveWaiters(): void {
    if (this.waiters.length === 0) return;
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) {
      if (this.appliedEverywhere(waiter.version)) waiter.resolve();
      else this.waiters.push(waiter);
    }
  }

  /**
   * A write no confirm depends on (acknowledgements, relays, the nodes' own messages): a failure
   * is logged, not reported to the next publisher, who would publish again for nothing.
   */
  background(reply: Promise<unknown>): void {
    reply.catch((error: Error) => this.logger.warn({ err: error.message }, 'a Redis write failed (not a publish): logged only'));
  }

  /** A write whose failure the next `sync()` reports. Commands on one connection complete in order. */
  write(reply: Promise<unknown>): void {
    const index = ++this.writes;
    this.lastWrite = reply.then(
      () => {},
      (error: Error) => {
        this.failedWrites.push({ index, error });
      },
    );
  }

  /** While `atomically` runs: the shared queues' writes, gathered for one step. */
  gathered: { keys: string[]; writes: string[] } | undefined;

  /** The adds and removals of shared queues that `work` makes go to Redis as one step. */
  atomically(work: () => void): void {
    if (this.gathered) return work();
    const gathered = (this.gathered = { keys: [], writes: [] });
    try {
      work();
    } finally {
      this.gathered = undefined;
    }
    if (gathered.writes.length > 0) this.write(this.redis.applyWrites(gathered.keys.length, ...gathered.keys, GROUP, ...gathered.writes));
  }

  /** Adds a write to the step `atomically` gathers; `key`'s index among its keys is found or made. */
  gather(key: string, ...write: string[]): void {
    const gathered = this.gathered as { keys: string[]; writes: string[] };
    let index = gathered.keys.indexOf(key);
    if (index < 0) index = gathered.keys.push(key) - 1;
    gathered.writes.push(write[0], String(index + 1), ...write.slice(1));
  }

  /**
   * Writes held back to be sent together (a turn's messages for a queue) go out now: what a
   * sync or a later command of the same queue must come after.
   */
  readonly heldWrites = new Set<() => void>();

  flushHeldWrites(): void {
    for (const flush of this.heldWrites) flush();
    this.heldWrites.clear();
  }

  /** The sync asked for in this event-loop turn: every confirm of the turn waits for the same one. */
  private turnSync: Promise<void> | undefined;

  /**
   * Resolves once every write made before the call is in Redis; rejects when one of those since
   * the last sync failed. Starts at the end of the turn, once for the turn: its writes (a turn's
   * messages for a queue, one call) go out together, not one call per confirmed publish.
   */
  sync(): Promise<void> {
    this.turnSync ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.turnSync = undefined;
      return this.syncNow();
    });
    return this.turnSync;
  }

  private async syncNow(): Promise<void> {
    this.flushHeldWrites();
    const from = this.syncedTo;
    const upTo = (this.syncedTo = this.writes);
    await this.lastWrite;
    const failed = this.failedWrites.find(({ index }) => index > from && index <= upTo);
    while (this.failedWrites.length > 0 && this.failedWrites[0].index <= upTo) this.failedWrites.shift();
    // Without `cause`: the log would repeat the message (pino writes the causes after it).
    if (failed) throw new Error(`Redis refused a write: ${failed.error.message}`);
  }

  /**
   * Calls `changed` with a reason once the command connection to Redis drops (publishes cannot be
   * confirmed until it is back: the broker blocks publishers, and its alarms health check fails),
   * and with null once it is back.
   */
  watchReachable(changed: (reason: string | null) => void): void {
    let down = false;
    this.redis.on('close', () => {
      if (down || this.closing) return;
      down = true;
      this.logger.warn({ redis: hideRedisPassword(this.config.redis) }, 'the connection to Redis dropped: publishers are blocked until it is back');
      // The reason goes to clients too: where Redis is stays in the log.
      changed("cluster: the broker's Redis (cluster.redis) does not answer; publishes wait for it");
    });
    this.redis.on('ready', () => {
      if (!down) return;
      down = false;
      this.logger.info({ redis: hideRedisPassword(this.config.redis) }, 'Redis answers again: publishers are unblocked');
      changed(null);
    });
  }

  /** Set by `close`: a connection that drops then is not an alarm. */
  private closing = false;

  /**
   * Asks for lease `key`: held by one node at a time, for cluster.nodeTimeoutMs unless renewed
   * (with the liveness); a node waiting for it asks again when it is given up, or at its renewals.
   */
  lease(key: string, changed: (held: boolean) => void): { readonly held: boolean; release(): void } {
    const wish: LeaseWish = { key, held: false, answered: false, changed };
    this.leases.set(key, wish);
    void this.claimLeases([wish]);
    return {
      get held() {
        return wish.held;
      },
      release: () => this.releaseLease(wish),
    };
  }

  /** Through the command connection's pipeline, as releases go: a release and a claim made in one turn reach Redis in that order. */
  private async claimLeases(wishes: LeaseWish[]): Promise<void> {
    await Promise.all(
      wishes.map(async (wish) => {
        let held: boolean;
        try {
          held = (await this.redis.claimLease(wish.key, this.name, String(this.config.nodeTimeoutMs))) === 1;
        } catch {
          // What was known stays: a lease held is renewed at the next try, or lapses.
          return;
        }
        if (this.leases.get(wish.key) !== wish || (held === wish.held && wish.answered)) return;
        wish.held = held;
        wish.answered = true;
        wish.changed(held);
      }),
    );
  }

  private releaseLease(wish: LeaseWish): void {
    if (this.leases.get(wish.key) !== wish) return;
    this.leases.delete(wish.key);
    // Also when no answer came yet: the claim on its way may take it (the script gives up only this node's).
    if (wish.held || !wish.answered) this.background(this.redis.releaseLease(wish.key, this.name, LEASES_CHANNEL));
    wish.held = false;
  }

  /**
   * Leaves the cluster: out of the live set at once (the stores returned what this node held).
   * Bounded: a Redis that does not answer does not hold up the shutdown.
   */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.livenessTimer);
    clearInterval(this.countTimer);
    try {
      await withTimeout(
        (async () => {
          await this.fetcher.stop();
          await this.lastWrite;
          // Given up, so that another node's consumer takes its turn at once.
          for (const wish of [...this.leases.values()]) this.releaseLease(wish);
          // Left in the live set when it still holds deliveries: the others return them once it lapses.
          if (!this.holdsDeliveries) await this.redis.zrem(NODES_KEY, this.name);
          for (const connection of [this.redis, this.subscriber]) await connection.quit();
        })(),
        CLOSE_TIMEOUT_MS,
        `Redis did not answer within ${CLOSE_TIMEOUT_MS / 1000} s of the shutdown`,
      );
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'leaving the cluster uncleanly: the other nodes take this node for dead after cluster.nodeTimeoutMs and return what it held');
    }
    for (const connection of [this.redis, this.subscriber]) connection.disconnect();
  }

  /**
   * The users and permissions, where every node reads and saves them (the accounts file of one
   * node); a save is announced, and the other nodes load it.
   */
  readonly accountsFile = {
    read: async (): Promise<string | undefined> => (await this.redis.get(ACCOUNTS_KEY)) ?? undefined,
    write: async (text: string): Promise<void> => {
      await this.redis.set(ACCOUNTS_KEY, text);
      await this.redis.publish(ACCOUNTS_CHANNEL, this.name);
    },
  };

  /** Answers other nodes' requests with `handlers` from now on. */
  serveControl(handlers: ControlHandlers): void {
    this.control = handlers;
  }

  /** The state of every other live node that answers within two seconds, and the names of those that do not. */
  async otherStates(): Promise<{ answers: unknown[]; silent: string[] }> {
    const others = await this.otherNodesNow();
    if (others.length === 0) return { answers: [], silent: [] };
    const id = globalThis.crypto.randomUUID();
    const answers: unknown[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, REQUEST_TIMEOUT_MS).unref();
      this.requests.set(id, {
        answers,
        waitingFor: new Set(others),
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const node of others) this.background(this.redis.publish(controlChannel(node), JSON.stringify({ op: 'state', id, from: this.name })));
    });
    const silent = [...(this.requests.get(id)?.waitingFor ?? [])];
    if (silent.length > 0) this.logger.warn({ nodes: silent }, `node(s) ${silent.join(', ')} did not say what they have within ${REQUEST_TIMEOUT_MS} ms: the management API shows them as not running`);
    this.requests.delete(id);
    return { answers, silent };
  }

  /** Asks every other node to close its connection of that name (the one that has it does). */
  async closeElsewhere(name: string, reason: string): Promise<void> {
    for (const node of await this.otherNodesNow()) await this.redis.publish(controlChannel(node), JSON.stringify({ op: 'close', name, reason }));
  }

  /** The other nodes in the live set now, not as of the last renewal: one that has just joined too. */
  private async otherNodesNow(): Promise<string[]> {
    return (await this.redis.zrange(NODES_KEY, '0', '-1')).filter((node) => node !== this.name);
  }

  private answer(request: ControlRequest): void {
    if (request.op === 'close') {
      if (this.control.close(request.name, request.reason)) this.logger.info({ connection: request.name }, 'connection closed as another node asked (management API)');
      return;
    }
    this.background(this.redis.publish(replyChannel(request.from), JSON.stringify({ id: request.id, node: this.name, state: this.control.state() })));
  }

  private answered(reply: { id: string; node: string; state: unknown }): void {
    const request = this.requests.get(reply.id);
    if (!request) return;
    request.answers.push(reply.state);
    request.waitingFor.delete(reply.node);
    if (request.waitingFor.size === 0) request.done();
  }

  private received(channel: string, text: string): void {
    if (channel === controlChannel(this.name) || channel === replyChannel(this.name)) {
      try {
        if (channel === replyChannel(this.name)) this.answered(JSON.parse(text) as { id: string; node: string; state: unknown });
        else this.answer(JSON.parse(text) as ControlRequest);
      } catch (error) {
        this.logger.warn({ channel, err: (error as Error).message }, 'a request between nodes that cannot be read: ignored');
      }
      return;
    }
    if (channel === LEASES_CHANNEL) {
      const wish = this.leases.get(text);
      if (wish && !wish.held) void this.claimLeases([wish]);
      return;
    }
    if (channel === STREAMS_CHANNEL) {
      const words = text.split(' ');
      this.streams.get(words[0])?.noted(words.slice(1));
      return;
    }
    if (channel === ACCOUNTS_CHANNEL) {
      if (text !== this.name) this.onAccountsSaved();
      return;
    }
    if (channel !== TOPOLOGY_CHANNEL && channel !== APPLIED_CHANNEL) {
      this.onRelayed(text);
      return;
    }
    const space = text.indexOf(' ');
    if (channel === APPLIED_CHANNEL) {
      const node = text.slice(0, space);
      this.appliedBy.set(node, Math.max(this.appliedBy.get(node) ?? 0, Number(text.slice(space + 1))));
      this.resolveWaiters();
      return;
    }
    let change: TopologyChange;
    try {
      change = { ...(JSON.parse(text.slice(space + 1)) as TopologyChange), version: Number(text.slice(0, space)) };
    } catch {
      this.logger.warn({ channel, text: text.slice(0, 200) }, 'a topology change that is not "VERSION JSON": ignored');
      return;
    }
    if (change.node === this.name) this.reportApplied(change.version);
    else this.onChange(change);
  }

  /**
   * Deletes the expired heads of the shared queues with a TTL and reads their ready counts, and
   * the state of the stream queues (what an announcement lost in a reconnect would have said).
   */
  private async countReady(): Promise<void> {
    const queues = [...this.queues.values()];
    const expiring = queues.filter((queue) => queue.expires);
    const streams = [...this.streams.values()];
    if (queues.length + streams.length === 0) return;
    const pipeline = this.redis.pipeline();
    const now = String(Date.now());
    for (const queue of expiring) (pipeline as unknown as ClusterCommands).expireReady(queue.key, GROUP, this.name, now);
    for (const queue of queues) (pipeline as unknown as ClusterCommands).readyCount(queue.key, GROUP);
    for (const stream of streams) pipeline.hgetall(stream.stateKey);
    const replies = (await pipeline.exec().catch(() => null)) ?? [];
    replies.forEach(([error, reply], i) => {
      if (error) this.logger.warn({ err: error.message }, 'counting or expiring the messages of a queue in Redis failed');
      else if (i < expiring.length) expiring[i].expiredInRedis(reply as [string, string[]][]);
      else if (i < expiring.length + queues.length) queues[i - expiring.length].readyElsewhere = reply as number;
      else streams[i - expiring.length - queues.length].loadState(reply as Record<string, string>);
    });
  }
}

/** `lastChange` of a change Redis did not take. */
const FAILED_CHANGE = -1;

/** How often the ready counts of the open shared queues and the stream queues' states are read from Redis (for declare-ok and management). */
const COUNT_INTERVAL_MS = 1000;

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (error) {
    if ((error as Error).message === message) throw error;
    throw new Error(`${message} (${(error as Error).message})`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
