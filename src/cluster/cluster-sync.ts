import type { Logger } from 'pino';
import type { Broker, StoredBinding, StoredExchange, StoredPolicy, StoredQueue, VirtualHosts } from '../broker/index.js';
import { GROUP } from './keys.js';
import type { ClusterNode, TopologyChange } from './node.js';
import { decodeRelayText } from './entry-codec.js';
import { relayBinding, type RedisVhostStores } from './redis-store.js';

export interface ClusterSyncOptions {
  node: ClusterNode;
  stores: RedisVhostStores;
  vhosts: VirtualHosts;
  logger: Logger;
  /** Closes this node's connections to a vhost that another node deleted. */
  closeVhostConnections(vhost: string): void;
  /** Loads the users and permissions another node saved. */
  reloadAccounts(): Promise<void>;
  /** Saves this node's users and permissions (Redis lost them). */
  saveAccounts(): Promise<void>;
}

/**
 * Keeps this node's model in step with the cluster: applies the topology changes other nodes
 * announce (in the order they arrive), and returns the deliveries of dead nodes (and this node's
 * own from before a restart) to their queues.
 */
export class ClusterSync {
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly options: ClusterSyncOptions) {}

  /**
   * Starts following the cluster: this node is registered alive, what it held before a restart
   * under its name goes back to the queues, then changes and liveness run.
   */
  async start(): Promise<void> {
    const { node } = this.options;
    // Handlers first: the first renewal may find dead nodes, whose deliveries this node then returns.
    node.handle({
      change: (change) => {
        this.applying = this.applying.then(() => this.apply(change));
      },
      relayed: (text) => this.relayed(text),
      accountsSaved: () => {
        this.applying = this.applying.then(() => this.options.reloadAccounts().catch((error: Error) => this.options.logger.error({ err: error.message }, 'the users and permissions another node saved cannot be loaded: this node keeps the ones it had')));
      },
      deadNode: async (dead) => {
        for (const store of this.options.stores.stores.values()) await store.forgetRelaysOf(dead);
        const count = await this.returnDeliveriesOf(dead);
        node.logger.warn({ node: dead, returned: count }, `node "${dead}" is dead: ${count} unacknowledged deliveries went back to their queues (redelivered)`);
      },
      rejoined: () => {
        for (const store of this.options.stores.stores.values()) store.announceRelays();
      },
      topologyLost: async () => {
        for (const store of this.options.stores.stores.values()) await store.restoreTopology();
        await this.options.saveAccounts();
      },
    });
    await node.renew();
    // Before this node reads anything: what is pending under its name is from before a restart.
    const returned = await this.returnDeliveriesOf(node.name);
    if (returned > 0) node.logger.info({ node: node.name, returned }, 'deliveries this node held before it restarted went back to their queues');
    node.start();
  }

  /** A message another node routed to this node's exclusive queues. */
  private relayed(text: string): void {
    let relayed;
    try {
      relayed = decodeRelayText(text);
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message, text: text.slice(0, 200) }, 'a relayed message that cannot be read: dropped');
      return;
    }
    this.options.vhosts.get(relayed.vhost)?.publishRelayed(relayed.message);
  }

  /** Returns every delivery `consumer` (a node) held, in every shared queue of every vhost. */
  private async returnDeliveriesOf(consumer: string): Promise<number> {
    const { node, stores } = this.options;
    let count = 0;
    for (const store of stores.stores.values()) {
      for (const key of store.sharedQueueKeys()) count += await node.redis.returnPending(key, GROUP, consumer);
    }
    return count;
  }

  private async apply(change: TopologyChange): Promise<void> {
    try {
      await this.applyChange(change);
    } finally {
      // Even when it could not be applied: the node that made it waits for every node's word.
      this.options.node.reportApplied(change.version);
    }
  }

  private async applyChange(change: TopologyChange): Promise<void> {
    const { vhosts, stores, logger } = this.options;
    try {
      if (change.field === '') {
        stores.applyingRemote = true;
        try {
          if (change.value === null) {
            this.options.closeVhostConnections(change.vhost);
            await vhosts.delete(change.vhost);
          } else await vhosts.add(change.vhost);
        } finally {
          stores.applyingRemote = false;
        }
        return;
      }
      const broker = vhosts.get(change.vhost);
      const store = stores.stores.get(change.vhost);
      if (!broker || !store) return;
      store.applyingRemote = true;
      try {
        applyTo(broker, change.field, change.value === null ? null : JSON.parse(change.value));
      } finally {
        store.applyingRemote = false;
      }
    } catch (error) {
      logger.warn({ vhost: change.vhost, field: change.field, by: change.node, err: (error as Error).message }, 'a topology change made on another node cannot be applied on this one');
    }
  }
}

/** Applies one change of a vhost's topology hash field to the model, as the node that made it did. */
function applyTo(broker: Broker, field: string, value: unknown): void {
  const name = field.slice(2);
  switch (field.slice(0, 2)) {
    case 'x:': {
      if (value === null) return broker.deleteExchange(name, false);
      const { type, options } = value as StoredExchange;
      const existing = broker.getExchange(name);
      if (existing && (existing.type !== type || JSON.stringify(existing.options) !== JSON.stringify(options))) broker.deleteExchange(name, false);
      return broker.declareExchange(name, type, options, false);
    }
    case 'q:': {
      if (value === null) {
        broker.deleteQueue(null, name, false, false);
        return;
      }
      if (!broker.getQueue(name)) broker.declareQueue(null, name, (value as StoredQueue).options, false);
      return;
    }
    case 'b:': {
      const binding = value === null ? bindingFromKey(name) : (value as StoredBinding);
      const { source, destination, destinationType, routingKey, arguments: args } = binding;
      if (destinationType === 'queue') {
        if (value === null) broker.unbindQueue(null, destination, source, routingKey, args);
        else broker.bindQueue(null, destination, source, routingKey, args);
      } else if (value === null) broker.unbindExchange(destination, source, routingKey, args);
      else broker.bindExchange(destination, source, routingKey, args);
      return;
    }
    case 'p:':
      if (value === null) broker.deletePolicy(name);
      else broker.setPolicy(value as StoredPolicy);
      return;
    case 'r:':
      broker.bindRelay(relayBinding(field), value !== null);
      return;
  }
}

/** A binding from its key (`bindingKey`): what a deletion names. */
function bindingFromKey(key: string): StoredBinding {
  const [source, destinationType, destination, routingKey, args] = JSON.parse(key) as [string, 'queue' | 'exchange', string, string, Record<string, unknown>];
  return { source, destinationType, destination, routingKey, arguments: args };
}
