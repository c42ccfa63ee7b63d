import { bindingKey, type StoredBinding, type StoredExchange, type StoredPolicy, type StoredQueue } from '../../broker/index.js';

/** Durable exchanges, queues, bindings and policies, as a checkpoint record holds them. */
export interface TopologySnapshot {
  exchanges: StoredExchange[];
  queues: StoredQueue[];
  bindings: StoredBinding[];
  /** Absent from the checkpoints of journals written before policies existed. */
  policies?: StoredPolicy[];
}

/** The durable topology as the journal has recorded it so far. */
export class Topology {
  readonly exchanges = new Map<string, StoredExchange>();
  readonly queues = new Map<string, StoredQueue>();
  readonly policies = new Map<string, StoredPolicy>();
  private readonly bindings = new Map<string, StoredBinding>();

  static from(snapshot: TopologySnapshot): Topology {
    const topology = new Topology();
    for (const exchange of snapshot.exchanges) topology.exchanges.set(exchange.name, exchange);
    for (const queue of snapshot.queues) topology.queues.set(queue.name, queue);
    for (const binding of snapshot.bindings) topology.putBinding(binding);
    for (const policy of snapshot.policies ?? []) topology.policies.set(policy.name, policy);
    return topology;
  }

  putBinding(binding: StoredBinding): void {
    this.bindings.set(bindingKey(binding), binding);
  }

  /** False when there was no such binding. */
  deleteBinding(binding: StoredBinding): boolean {
    return this.bindings.delete(bindingKey(binding));
  }

  snapshot(): Required<TopologySnapshot> {
    return { exchanges: [...this.exchanges.values()], queues: [...this.queues.values()], bindings: [...this.bindings.values()], policies: [...this.policies.values()] };
  }
}
