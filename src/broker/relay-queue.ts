import { EnqueueResult, Queue, type QueueHost } from './queue.js';
import type { Message } from './types.js';

const RELAY_OPTIONS = { durable: false, exclusive: false, autoDelete: false, arguments: {} };

/**
 * In a cluster, another node's exclusive queues as one destination (docs/clustering.md): bound
 * with the keys they are bound with, it takes each message that any of them would get, once per
 * node, and hands it to `relay` for that node, which routes it to its own exclusive queues. Never
 * declared, listed or stored: not in the vhost's queues.
 */
export class RelayQueue extends Queue {
  readonly relayTo: string;

  constructor(
    node: string,
    host: QueueHost,
    private readonly relay: (node: string, message: Message) => void,
  ) {
    super(`relay:${node}`, RELAY_OPTIONS, null, host);
    this.relayTo = node;
  }

  override get stored(): boolean {
    return false;
  }

  override enqueue(message: Message): EnqueueResult {
    this.relay(this.relayTo, message);
    return EnqueueResult.Enqueued;
  }
}
