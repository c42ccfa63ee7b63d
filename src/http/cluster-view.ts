import type { Broker, VhostTotals, VirtualHosts } from '../broker/index.js';
import type { Transport } from '../transport/index.js';
import { addStats, type MessageStats, type MessageStatsView } from './message-stats.js';
import { connectionView, consumerView, nodeView, queueView, type ConnectionView, type ConsumerView, type NodeView, type QueueView } from './views.js';

// docs/clustering.md, "Where the semantics differ from one node": any node shows the whole cluster, from what each
// other node says it has when a request asks.

/** What a shared queue has on one node: [vhost, name, ready messages it holds, unacknowledged, consumers, what happened to its messages there]. */
export type QueuePart = [vhost: string, name: string, ready: number, unacknowledged: number, consumers: number, stats: MessageStatsView | undefined];

/** What one node of a cluster has, as the other nodes' management APIs show it. */
export interface NodeState {
  /** The node as /api/nodes shows it. */
  node: NodeView;
  connections: ConnectionView[];
  consumers: ConsumerView[];
  /** The shared queues this node has something of (every node has them all, most with nothing). */
  queues: QueuePart[];
  /** Its exclusive queues, whole: they are on no other node. */
  exclusiveQueues: QueueView[];
  /** What happened to each vhost's messages on this node (the overview's `message_stats`). */
  vhostStats: Record<string, MessageStatsView>;
}

/** This node's state, for the other nodes' management APIs. */
export function nodeState(vhosts: VirtualHosts, transport: Transport, node: string, messageStats: MessageStats): NodeState {
  const connections = transport.connections();
  const state: NodeState = {
    node: nodeView(node, transport),
    connections: connections.map((details) => connectionView(details, node)),
    consumers: connections.flatMap((details) => Array.from(details.connection.consumers.values(), (consumer) => consumerView(consumer, details, node))),
    queues: [],
    exclusiveQueues: [],
    vhostStats: {},
  };
  for (const vhost of vhosts.names()) {
    const broker = vhosts.get(vhost) as Broker;
    state.vhostStats[vhost] = messageStats.of([broker]);
    for (const queue of broker.allQueues()) {
      const stats = messageStats.ofQueue(queue);
      if (queue.options.exclusive) state.exclusiveQueues.push(queueView(queue, vhost, node, stats));
      else if (stats || queue.heldReadyCount + queue.unacknowledgedCount + queue.consumers.length > 0) state.queues.push([vhost, queue.name, queue.heldReadyCount, queue.unacknowledgedCount, queue.consumers.length, stats]);
    }
  }
  return state;
}

/**
 * A node in the live set that did not answer in time (dead, not yet taken for dead; or stalled):
 * as RabbitMQ lists a cluster node that is down.
 */
export function silentNode(name: string): NodeState {
  const node: NodeView = { name, type: 'disc', running: false, uptime: 0, os_pid: '', mem_used: 0, mem_alarm: false, disk_free_alarm: false, sockets_used: 0, processors: 0, partitions: [], rates_mode: 'none' };
  return { node, connections: [], consumers: [], queues: [], exclusiveQueues: [], vhostStats: {} };
}

/** The other nodes' states gathered for one request; without a cluster, none. */
export class OtherNodesView {
  private readonly parts = new Map<string, QueuePart[]>();

  constructor(readonly states: readonly NodeState[]) {
    for (const state of states) {
      for (const part of state.queues) {
        const key = queueKey(part[0], part[1]);
        const parts = this.parts.get(key);
        if (parts) parts.push(part);
        else this.parts.set(key, [part]);
      }
    }
  }

  /** A shared queue's view with what the other nodes hold of it and their consumers. */
  withOthers(view: QueueView): QueueView {
    if (this.parts.size === 0) return view;
    const parts = this.parts.get(queueKey(view.vhost, view.name));
    if (!parts) return view;
    const sum = (index: 2 | 3 | 4) => parts.reduce((total, part) => total + part[index], 0);
    const [ready, unacknowledged] = [view.messages_ready + sum(2), view.messages_unacknowledged + sum(3)];
    const stats = parts.reduce((total, part) => addStats(total, part[5]), view.message_stats);
    return { ...view, messages: ready + unacknowledged, messages_ready: ready, messages_unacknowledged: unacknowledged, consumers: view.consumers + sum(4), message_stats: stats };
  }

  /** The overview's `message_stats` of these vhosts with what happened on the other nodes. */
  withOthersStats(stats: MessageStatsView, vhosts: readonly string[]): MessageStatsView {
    let sum = stats;
    for (const state of this.states) for (const vhost of vhosts) sum = addStats(sum, state.vhostStats[vhost]) ?? sum;
    return sum;
  }

  /** The other nodes' exclusive queues (in `vhost`, or all). */
  exclusiveQueues(vhost?: string): QueueView[] {
    return this.states.flatMap((state) => state.exclusiveQueues).filter((view) => vhost === undefined || view.vhost === vhost);
  }

  connections(): ConnectionView[] {
    return this.states.flatMap((state) => state.connections);
  }

  consumers(): ConsumerView[] {
    return this.states.flatMap((state) => state.consumers);
  }

  /**
   * A vhost's totals over the cluster: its queues' counts as their views give them (what Redis
   * holds that no node has, once; each node's own), and the other nodes' connections and consumers.
   */
  totals(vhost: string, broker: Broker): VhostTotals {
    if (this.states.length === 0 && !broker.store.shared) return broker.totals;
    const totals: VhostTotals = { messagesReady: 0, messagesUnacknowledged: 0, consumers: 0, connections: broker.totals.connections };
    const views = [...Array.from(broker.allQueues(), (queue) => this.withOthers(queueView(queue, vhost, '', undefined))), ...this.exclusiveQueues(vhost)];
    for (const view of views) {
      totals.messagesReady += view.messages_ready;
      totals.messagesUnacknowledged += view.messages_unacknowledged;
      totals.consumers += view.consumers;
    }
    totals.connections += this.connections().filter((connection) => connection.vhost === vhost).length;
    return totals;
  }
}

const queueKey = (vhost: string, name: string): string => `${vhost}\n${name}`;

/** No other nodes: a single broker. */
export const NO_OTHER_NODES = new OtherNodesView([]);
